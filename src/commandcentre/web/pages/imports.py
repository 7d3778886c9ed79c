"""Pages: imports (one upload form, the result, and the history of past imports)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse

from commandcentre.db.scoping import workspace_session
from commandcentre.intel import imports as svc
from commandcentre.intel.importers import detect
from commandcentre.web.api.imports import upload_import
from commandcentre.web.deps import CsrfChecked, Ctx, PageCaller
from commandcentre.web.templating import render

router = APIRouter(include_in_schema=False)

HISTORY_PAGE_SIZE = 20
KIND_LABELS = {
    "events": "Events (conference lists, schedules)",
    "speakers": "Speakers of an event",
    "contacts": "Contacts",
    "accounts": "Target accounts",
}


@dataclass(frozen=True, slots=True)
class FormValues:
    """What the user chose, shown again after an import or a refusal."""

    kind: str = "speakers"
    format: str = svc.AUTO
    event: str = ""
    mapping: str = ""


def _page(
    request: Request,
    caller: PageCaller,
    ctx: Ctx,
    *,
    page: int = 1,
    status_code: int = 200,
    form: FormValues | None = None,
    result: svc.ImportSummary | None = None,
    error: str | None = None,
) -> HTMLResponse:
    with workspace_session(ctx.session_factory, caller.principal.workspace.id) as session:
        history = svc.list_runs(session=session, page=page, limit=HISTORY_PAGE_SIZE)
        return render(
            request,
            "imports/index.html",
            caller,
            status_code=status_code,
            history=history,
            form=form or FormValues(),
            result=result,
            error=error,
            kinds=KIND_LABELS,
            formats=_format_choices(),
            max_mb=ctx.settings.import_max_bytes / 1_000_000,
        )


def _format_choices() -> list[tuple[str, str]]:
    names = dict.fromkeys((*detect.EVENT_FORMATS, *detect.PEOPLE_FORMATS, *detect.ACCOUNT_FORMATS))
    return [(name, detect.FORMAT_LABELS.get(name, name)) for name in names]


@router.get("/imports", response_class=HTMLResponse)
def imports_page(
    request: Request,
    caller: PageCaller,
    ctx: Ctx,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    return _page(request, caller, ctx, page=page)


@router.post("/imports", dependencies=[CsrfChecked], response_class=HTMLResponse)
def upload(
    request: Request,
    caller: PageCaller,
    ctx: Ctx,
    kind: Annotated[svc.ImportKind, Form()],
    file: Annotated[UploadFile, File()],
    format: Annotated[str, Form(max_length=32)] = svc.AUTO,
    event: Annotated[str, Form(max_length=300)] = "",
    mapping: Annotated[str, Form(max_length=10_000)] = "",
) -> HTMLResponse:
    form = FormValues(kind=kind, format=format, event=event, mapping=mapping)
    try:
        summary = upload_import(
            ctx=ctx,
            workspace_id=caller.principal.workspace.id,
            user_id=caller.principal.user.id,
            kind=kind,
            upload=file,
            fmt=format,
            event=event,
            mapping_text=mapping,
        )
    except svc.ImportFileError as exc:
        status = 413 if isinstance(exc, svc.FileTooLarge) else 422
        message = f"Nothing was imported: {exc}"
        return _page(request, caller, ctx, status_code=status, form=form, error=message)
    return _page(request, caller, ctx, form=form, result=summary)
