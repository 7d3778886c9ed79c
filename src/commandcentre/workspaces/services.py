"""Users, workspaces, memberships, sign-in sessions, API tokens and login throttling.

These tables are looked up across workspaces (an email or a token decides the
workspace), so the functions filter by workspace explicitly where it matters.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from commandcentre.clock import Clock
from commandcentre.errors import Conflict, InvalidInput, NotFound, TooManyAttempts, Unauthorized
from commandcentre.workspaces import passwords, tokens
from commandcentre.workspaces.models import (
    ApiToken,
    LoginFailure,
    Membership,
    User,
    UserSession,
    Workspace,
)

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting, and in which workspace."""

    user: User
    workspace: Workspace
    role: str


def normalise_email(email: str) -> str:
    value = email.strip().lower()
    if not EMAIL_RE.match(value) or len(value) > 320:
        raise InvalidInput(f"'{email}' is not a valid email address", field="email")
    return value


def get_workspace_by_slug(*, session: Session, slug: str) -> Workspace | None:
    return session.scalar(select(Workspace).where(Workspace.slug == slug))


def get_user_by_email(*, session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def create_workspace(*, session: Session, slug: str, name: str | None = None) -> Workspace:
    if not SLUG_RE.match(slug):
        raise InvalidInput(
            "workspace slug must be 2-63 lower-case letters, digits or hyphens", field="slug"
        )
    if get_workspace_by_slug(session=session, slug=slug):
        raise Conflict(f"workspace '{slug}' already exists", field="slug")
    workspace = Workspace(slug=slug, name=name or slug.replace("-", " ").title())
    session.add(workspace)
    session.flush()
    return workspace


def create_user(*, session: Session, email: str, password: str, display_name: str = "") -> User:
    email = normalise_email(email)
    if len(password) < passwords.MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password must be at least {passwords.MIN_PASSWORD_LENGTH} characters",
            field="password",
        )
    if get_user_by_email(session=session, email=email):
        raise Conflict(f"a user with email {email} already exists", field="email")
    user = User(
        email=email,
        password_hash=passwords.hash_password(password),
        display_name=display_name or email.split("@")[0],
    )
    session.add(user)
    session.flush()
    return user


def add_member(
    *, session: Session, workspace: Workspace, user: User, role: str = "member"
) -> Membership:
    if role not in ("owner", "member"):
        raise InvalidInput("role must be owner or member", field="role")
    existing = get_membership(session=session, workspace_id=workspace.id, user_id=user.id)
    if existing:
        existing.role = role
        return existing
    membership = Membership(workspace_id=workspace.id, user_id=user.id, role=role)
    session.add(membership)
    session.flush()
    return membership


def get_membership(
    *, session: Session, workspace_id: uuid.UUID, user_id: uuid.UUID
) -> Membership | None:
    return session.scalar(
        select(Membership).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user_id
        )
    )


def list_workspaces_for_user(*, session: Session, user_id: uuid.UUID) -> list[Workspace]:
    return list(
        session.scalars(
            select(Workspace)
            .join(Membership, Membership.workspace_id == Workspace.id)
            .where(Membership.user_id == user_id)
            .order_by(Workspace.name)
        )
    )


def list_members(*, session: Session, workspace_id: uuid.UUID) -> list[tuple[User, str]]:
    rows = session.execute(
        select(User, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == workspace_id)
        .order_by(User.email)
    )
    return [(user, role) for user, role in rows]


# --- sign-in -----------------------------------------------------------------------------


def _check_throttle(
    *,
    session: Session,
    email: str,
    remote_addr: str,
    now: datetime,
    max_failures: int,
    window: timedelta,
) -> None:
    since = now - window
    by_email = session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.email == email, LoginFailure.failed_at > since)
    )
    by_addr = session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.remote_addr == remote_addr, LoginFailure.failed_at > since)
    )
    # An address gets more room than one email so a shared office IP is not locked out
    # by a single person's typos, while spraying many emails from one place still stops.
    if (by_email or 0) >= max_failures or (by_addr or 0) >= max_failures * 4:
        minutes = int(window.total_seconds() // 60)
        raise TooManyAttempts(
            f"Too many failed sign-in attempts. Try again in {minutes} minutes.",
        )


def authenticate(
    *,
    session: Session,
    clock: Clock,
    email: str,
    password: str,
    remote_addr: str,
    max_failures: int = 5,
    window: timedelta = timedelta(minutes=15),
) -> User:
    now = clock.now()
    email_key = email.strip().lower()
    _check_throttle(
        session=session,
        email=email_key,
        remote_addr=remote_addr,
        now=now,
        max_failures=max_failures,
        window=window,
    )
    user = get_user_by_email(session=session, email=email_key)
    if user is None:
        passwords.burn_verification(password)
    if (
        user is None
        or not user.is_active
        or not passwords.verify_password(user.password_hash, password)
    ):
        session.add(LoginFailure(email=email_key, remote_addr=remote_addr, failed_at=now))
        raise Unauthorized("Email or password is not right.")
    session.execute(delete(LoginFailure).where(LoginFailure.email == email_key))
    user.last_login_at = now
    return user


def default_workspace(*, session: Session, user: User) -> Workspace:
    workspaces = list_workspaces_for_user(session=session, user_id=user.id)
    if not workspaces:
        raise Unauthorized("This account is not a member of any workspace.")
    return workspaces[0]


def start_session(
    *, session: Session, clock: Clock, user: User, workspace: Workspace, days: int
) -> tuple[str, UserSession]:
    raw = tokens.new_secret()
    now = clock.now()
    row = UserSession(
        user_id=user.id,
        workspace_id=workspace.id,
        token_hash=tokens.digest(raw),
        csrf_token=tokens.new_secret(24),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(row)
    session.flush()
    return raw, row


def resolve_session(
    *, session: Session, clock: Clock, raw_token: str
) -> tuple[UserSession, Principal] | None:
    row = session.scalar(
        select(UserSession).where(UserSession.token_hash == tokens.digest(raw_token))
    )
    if row is None or row.expires_at <= clock.now():
        return None
    principal = _principal(session=session, user_id=row.user_id, workspace_id=row.workspace_id)
    if principal is None:
        return None
    return row, principal


def end_session(*, session: Session, raw_token: str) -> None:
    session.execute(delete(UserSession).where(UserSession.token_hash == tokens.digest(raw_token)))


def switch_workspace(*, session: Session, user_session: UserSession, slug: str) -> Workspace:
    workspace = get_workspace_by_slug(session=session, slug=slug)
    if workspace is None or not get_membership(
        session=session, workspace_id=workspace.id, user_id=user_session.user_id
    ):
        raise NotFound(f"workspace '{slug}' not found")
    user_session.workspace_id = workspace.id
    return workspace


def _principal(
    *, session: Session, user_id: uuid.UUID, workspace_id: uuid.UUID
) -> Principal | None:
    row = session.execute(
        select(User, Workspace, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .join(Workspace, Workspace.id == Membership.workspace_id)
        .where(User.id == user_id, Workspace.id == workspace_id, User.is_active.is_(True))
    ).first()
    if row is None:
        return None
    user, workspace, role = row
    return Principal(user=user, workspace=workspace, role=role)


# --- API tokens --------------------------------------------------------------------------


def create_api_token(
    *, session: Session, user: User, workspace: Workspace, name: str
) -> tuple[str, ApiToken]:
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("token name must be 1-100 characters", field="name")
    if not get_membership(session=session, workspace_id=workspace.id, user_id=user.id):
        raise NotFound(f"{user.email} is not a member of workspace '{workspace.slug}'")
    raw = tokens.new_api_token()
    row = ApiToken(
        workspace_id=workspace.id,
        user_id=user.id,
        name=name,
        token_hash=tokens.digest(raw),
        prefix=raw[:10],
    )
    session.add(row)
    session.flush()
    return raw, row


def resolve_api_token(*, session: Session, clock: Clock, raw_token: str) -> Principal | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == tokens.digest(raw_token)))
    if row is None or row.revoked_at is not None:
        return None
    principal = _principal(session=session, user_id=row.user_id, workspace_id=row.workspace_id)
    if principal is not None:
        row.last_used_at = clock.now()
    return principal


def list_api_tokens(*, session: Session, workspace_id: uuid.UUID) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.workspace_id == workspace_id)
            .order_by(ApiToken.created_at.desc())
        )
    )


def revoke_api_token(
    *, session: Session, clock: Clock, workspace_id: uuid.UUID, token_id: uuid.UUID
) -> ApiToken:
    row = session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.workspace_id == workspace_id)
    )
    if row is None:
        raise NotFound("API token not found")
    if row.revoked_at is None:
        row.revoked_at = clock.now()
    return row
