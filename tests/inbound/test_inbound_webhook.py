"""POST /api/inbound/mime: raw messages from a mail provider, guarded by a shared secret."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import status_code_conformance
from sqlalchemy import select

from cctest.dovecot import MailUser, make_message, workspace_with_mailbox
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session, workspace_session
from commandcentre.inbound.models import InboundMessage
from commandcentre.inbound.poller import poll_once
from commandcentre.intel.models import Contact
from commandcentre.outreach.models import OutreachDraft, Send
from commandcentre.web.api.inbound import MAX_BODY_BYTES
from commandcentre.web.app import create_app

TOKEN = "inbound-secret-" + "x" * 24
URL = "/api/inbound/mime"
RFC822 = {"Content-Type": "message/rfc822"}
REPLY = make_message(message_id="<hook-1@customer.example>", body="Happy to chat.")


def _context(ctx: AppContext, **updates: object) -> AppContext:
    return AppContext(
        settings=ctx.settings.model_copy(update=updates),
        engine=ctx.engine,
        session_factory=ctx.session_factory,
        clock=ctx.clock,
    )


@pytest.fixture
def hook_ctx(ctx: AppContext) -> AppContext:
    return _context(ctx, inbound_webhook_token=SecretStr(TOKEN))


@pytest.fixture
def hook(hook_ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(hook_ctx)) as client:
        yield client


def _rows(ctx: AppContext) -> list[InboundMessage]:
    with system_session(ctx.session_factory) as session:
        return list(session.scalars(select(InboundMessage)))


def test_the_right_token_stores_a_message_once(hook: TestClient, hook_ctx: AppContext) -> None:
    workspace_id, mailbox_id = workspace_with_mailbox(hook_ctx.session_factory, "acme")
    first = hook.post(URL, content=REPLY, headers=RFC822 | {"Authorization": f"Bearer {TOKEN}"})
    assert first.status_code == 202, first.text
    assert first.json()["duplicate"] is False
    again = hook.post(
        URL,
        content=REPLY,
        headers={"Content-Type": "application/octet-stream", "X-Inbound-Token": TOKEN},
    )
    assert again.status_code == 202, again.text
    assert again.json() == {"id": first.json()["id"], "duplicate": True}
    [row] = _rows(hook_ctx)
    assert str(row.id) == first.json()["id"]
    assert (row.workspace_id, row.mailbox_id, row.source) == (workspace_id, mailbox_id, "webhook")
    assert row.body_text == "Happy to chat."
    # Acted on at once: a reply, but to nothing this workspace sent, so it waits for a person.
    assert (row.classification, row.status) == ("reply", "quarantined")
    assert "no outreach of ours matches it" in (row.reason or "")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"X-Inbound-Token": TOKEN[:-1]},
        {"X-Inbound-Token": TOKEN + "x"},
        {"Authorization": "Bearer ", "X-Inbound-Token": ""},
    ],
)
def test_a_missing_or_wrong_token_is_refused(
    hook: TestClient, hook_ctx: AppContext, headers: dict[str, str]
) -> None:
    workspace_with_mailbox(hook_ctx.session_factory, "acme")
    response = hook.post(URL, content=REPLY, headers=RFC822 | headers)
    assert response.status_code == 401
    assert _rows(hook_ctx) == []


def test_the_route_is_off_without_a_configured_token(client: TestClient, ctx: AppContext) -> None:
    workspace_with_mailbox(ctx.session_factory, "acme")
    for headers in ({}, {"Authorization": "Bearer "}, {"X-Inbound-Token": ""}):
        response = client.post(URL, content=REPLY, headers=RFC822 | headers)
        assert response.status_code == 404
    assert _rows(ctx) == []


def test_oversize_and_wrong_types_are_refused(hook: TestClient, hook_ctx: AppContext) -> None:
    workspace_with_mailbox(hook_ctx.session_factory, "acme")
    auth = {"X-Inbound-Token": TOKEN}
    big = REPLY + b"x" * (MAX_BODY_BYTES - len(REPLY) + 1)
    assert hook.post(URL, content=big, headers=RFC822 | auth).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams in
        yield REPLY
        for _ in range(MAX_BODY_BYTES // 1_000_000 + 1):
            yield b"y" * 1_000_000

    assert hook.post(URL, content=chunks(), headers=RFC822 | auth).status_code == 413
    exactly = REPLY + b"z" * (MAX_BODY_BYTES - len(REPLY))
    assert hook.post(URL, content=exactly, headers=RFC822 | auth).status_code == 202
    assert (
        hook.post(URL, content=REPLY, headers={"Content-Type": "text/plain"} | auth).status_code
        == 415
    )
    assert hook.post(URL, content=b"  \r\n", headers=RFC822 | auth).status_code == 422
    assert len(_rows(hook_ctx)) == 1


def _send(ctx: AppContext, workspace_id: uuid.UUID, message_id: str) -> None:
    now = ctx.clock.now()
    with workspace_session(ctx.session_factory, workspace_id) as session:
        contact = Contact(full_name="Pat Reply", name_key=f"pat|{uuid.uuid4().hex}")
        session.add(contact)
        session.flush()
        draft = OutreachDraft(
            contact_id=contact.id, recipient="pat@c.example", message_body="Hi", status="sent"
        )
        session.add(draft)
        session.flush()
        session.add(
            Send(
                draft_id=draft.id,
                recipient="pat@c.example",
                message_id=message_id,
                approval_hash="0" * 64,
                status="sent",
                not_before=now - timedelta(days=1),
            )
        )


def test_the_workspace_comes_from_the_thread_then_the_slug(
    hook: TestClient, hook_ctx: AppContext
) -> None:
    acme, _ = workspace_with_mailbox(hook_ctx.session_factory, "acme")
    rival, _ = workspace_with_mailbox(hook_ctx.session_factory, "rival")
    _send(hook_ctx, acme, "<acme-out@example.com>")
    auth = RFC822 | {"X-Inbound-Token": TOKEN}

    # A reply to acme's message goes to acme, whatever workspace the caller names.
    reply = make_message(message_id="<a@c.example>", in_reply_to="<acme-out@example.com>")
    assert hook.post(f"{URL}?workspace=rival", content=reply, headers=auth).status_code == 202
    # A message answering nothing, to an address both share: the slug decides...
    loose = make_message(message_id="<b@c.example>")
    assert hook.post(f"{URL}?workspace=rival", content=loose, headers=auth).status_code == 202
    # ...and without one nobody can tell.
    orphan = make_message(message_id="<c@c.example>")
    refused = hook.post(URL, content=orphan, headers=auth)
    assert refused.status_code == 422
    assert refused.json()["field"] == "workspace"
    unknown = hook.post(f"{URL}?workspace=nobody-here", content=orphan, headers=auth)
    assert unknown.status_code == 422

    placed = {row.message_id_header: row.workspace_id for row in _rows(hook_ctx)}
    assert placed == {"<a@c.example>": acme, "<b@c.example>": rival}


def test_a_message_polled_and_posted_is_stored_once(
    hook: TestClient, hook_ctx: AppContext, mail_user: MailUser
) -> None:
    workspace_with_mailbox(hook_ctx.session_factory, "acme")
    mail_user.append(REPLY)
    imap = _context(hook_ctx, **mail_user.settings())
    assert poll_once(imap) == 1
    response = hook.post(URL, content=REPLY, headers=RFC822 | {"X-Inbound-Token": TOKEN})
    assert response.status_code == 202
    assert response.json()["duplicate"] is True
    [row] = _rows(hook_ctx)
    assert row.source == "imap"


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_generated_requests_with_the_token_never_fail_with_a_server_error(
    hook_ctx: AppContext,
) -> None:
    """Schemathesis on this one operation, signed in with the token (the API-wide fuzz test
    runs without it and only ever sees the 404 of a route that is off)."""
    workspace_with_mailbox(hook_ctx.session_factory, "acme")
    app = create_app(hook_ctx)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    [result] = list(schema.include(path=URL).get_all_operations())
    if isinstance(result, Err):
        pytest.fail(f"the schema of {URL} is invalid: {result.err()}")
    operation = result.ok()
    statuses: set[int] = set()

    @settings(
        max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=operation.as_strategy())
    def exercise(case: schemathesis.Case[Any]) -> None:
        response = case.call_and_validate(
            headers={"X-Inbound-Token": TOKEN},
            checks=[not_a_server_error, status_code_conformance],
        )
        statuses.add(response.status_code)

    exercise()
    assert 202 in statuses, statuses  # generated bodies did reach the store
