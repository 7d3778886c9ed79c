"""Pages: the watchlist of target accounts, and their intelligence notes.

These forms are how a user builds a watchlist by hand, so a bad entry re-renders the form
with what was typed and a message under the field at fault (status 422).
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from commandcentre.errors import DomainError, NotFound
from commandcentre.intel import accounts as svc
from commandcentre.intel.models import INTEL_CATEGORIES
from commandcentre.intel.schemas import AccountCreate, IntelCreate
from commandcentre.web.deps import CsrfChecked, Ctx, PageCaller, PageSession
from commandcentre.web.pages.events import page_number, parse_date, require_uuid, text
from commandcentre.web.templating import render

router = APIRouter(include_in_schema=False)

TIERS = [(1, "Tier 1"), (2, "Tier 2"), (3, "Tier 3")]
CATEGORIES = [(c, c.capitalize()) for c in INTEL_CATEGORIES]
_LIST_SPLIT = re.compile(r"[,;\n]")

Text = Annotated[str, Form()]


def form_errors(exc: ValidationError) -> dict[str, str]:
    """Field name -> one readable message, from pydantic's errors."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        loc = err.get("loc") or ("form",)
        field = str(loc[0])
        if err.get("type") == "string_pattern_mismatch":
            message = "Contains characters that are not allowed."
        else:
            message = str(err.get("msg", "Invalid value.")).removeprefix("Value error, ")
        errors.setdefault(field, message)
    return errors


def _optional(value: str) -> str | None:
    stripped = value.replace("\x00", "").strip()
    return stripped or None


def _list_page(
    request: Request,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    *,
    q: str = "",
    tier: str = "",
    page: str = "1",
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    wanted_tier = int(tier) if tier in ("1", "2", "3") else None
    found = svc.list_(
        session=session,
        q=text(q),
        tier=wanted_tier,
        page=page_number(page),
        limit=ctx.settings.page_size,
    )
    return render(
        request,
        "accounts/list.html",
        caller,
        status_code=status_code,
        page=found,
        counts=svc.contact_counts(session=session, account_ids=[a.id for a in found.items]),
        q=text(q),
        tier=wanted_tier or "",
        tiers=TIERS,
        form=form or {"tier": 2},
        errors=errors or {},
    )


@router.get("/accounts", response_class=HTMLResponse)
def accounts_page(
    request: Request,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    q: str = "",
    tier: str = "",
    page: str = "1",
) -> HTMLResponse:
    return _list_page(request, caller, session, ctx, q=q, tier=tier, page=page)


@router.post("/accounts", dependencies=[CsrfChecked], response_class=HTMLResponse)
def add_account(
    request: Request,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    name: Text = "",
    domain: Text = "",
    tier: Text = "2",
    industry: Text = "",
    aliases: Text = "",
    notes: Text = "",
) -> Response:
    form: dict[str, Any] = {
        "name": name,
        "domain": domain,
        "tier": tier,
        "industry": industry,
        "aliases": aliases,
        "notes": notes,
    }
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = "Enter the company name."
    if tier.strip() not in ("1", "2", "3"):
        errors["tier"] = "Choose tier 1, 2 or 3."
    host = None
    try:
        host = svc.normalise_domain(_optional(domain))
    except DomainError as exc:
        errors["domain"] = exc.message
    account = None
    if not errors:
        try:
            data = AccountCreate(
                name=name.strip(),
                domain=host,
                tier=int(tier),
                industry=_optional(industry),
                aliases=[a.strip() for a in _LIST_SPLIT.split(aliases) if a.strip()],
                notes=_optional(notes),
            )
            account = svc.create(session=session, data=data)
        except ValidationError as exc:
            errors = form_errors(exc)
        except DomainError as exc:
            errors[exc.field or "name"] = exc.message
    if account is None:
        return _list_page(request, caller, session, ctx, form=form, errors=errors, status_code=422)
    # 303: the browser follows with a GET, so a reload does not post the form again.
    return RedirectResponse(f"/accounts/{account.id}?created=1", status_code=303)


def _detail_page(
    request: Request,
    caller: PageCaller,
    session: PageSession,
    account_id: uuid.UUID,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    flash: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    detail = svc.get_detail(session=session, account_id=account_id)
    if detail is None:
        raise NotFound("There is no such account.")
    return render(
        request,
        "accounts/detail.html",
        caller,
        status_code=status_code,
        detail=detail,
        account=detail.account,
        categories=CATEGORIES,
        form=form or {"category": "note"},
        errors=errors or {},
        flashes=[flash] if flash else [],
    )


_FLASHES = {
    "created": "Added to the watchlist.",
    "noted": "Note added.",
    "removed": "Note deleted.",
}


@router.get("/accounts/{account_id}", response_class=HTMLResponse)
def account_page(
    request: Request,
    account_id: str,
    caller: PageCaller,
    session: PageSession,
    created: str = "",
    noted: str = "",
    removed: str = "",
) -> HTMLResponse:
    said = {"created": created, "noted": noted, "removed": removed}
    flash = next((_FLASHES[k] for k, v in said.items() if v), "")
    return _detail_page(request, caller, session, require_uuid(account_id, "account"), flash=flash)


@router.post(
    "/accounts/{account_id}/intel", dependencies=[CsrfChecked], response_class=HTMLResponse
)
def add_intel(
    request: Request,
    account_id: str,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    category: Text = "note",
    title: Text = "",
    noted_on: Text = "",
    source_name: Text = "",
    source_url: Text = "",
    body: Text = "",
) -> Response:
    wanted = require_uuid(account_id, "account")
    form = {
        "category": category,
        "title": title,
        "noted_on": noted_on,
        "source_name": source_name,
        "source_url": source_url,
        "body": body,
    }
    errors: dict[str, str] = {}
    if not title.strip():
        errors["title"] = "Enter a title for the note."
    if category not in INTEL_CATEGORIES:
        errors["category"] = "Choose a category from the list."
    day = parse_date(noted_on)
    if noted_on.strip() and day is None:
        errors["noted_on"] = "Enter a date such as 2026-03-12."
    created = None
    if not errors:
        try:
            data = IntelCreate.model_validate(
                {
                    "category": category,
                    "title": title.strip(),
                    "noted_on": day,
                    "source_name": _optional(source_name),
                    "source_url": _optional(source_url),
                    "body": _optional(body),
                }
            )
            created = svc.create_intel(
                session=session, account_id=wanted, data=data, today=ctx.clock.now().date()
            )
        except ValidationError as exc:
            errors = form_errors(exc)
        except NotFound:
            raise
        except DomainError as exc:
            errors[exc.field or "title"] = exc.message
    if created is None:
        return _detail_page(
            request, caller, session, wanted, form=form, errors=errors, status_code=422
        )
    return RedirectResponse(f"/accounts/{wanted}?noted=1#intel", status_code=303)


@router.post("/accounts/{account_id}/intel/{intel_id}/delete", dependencies=[CsrfChecked])
def delete_intel(
    account_id: str, intel_id: str, caller: PageCaller, session: PageSession
) -> Response:
    wanted = require_uuid(account_id, "account")
    svc.delete_intel(session=session, account_id=wanted, intel_id=require_uuid(intel_id, "note"))
    return RedirectResponse(f"/accounts/{wanted}?removed=1#intel", status_code=303)
