"""API routes: imports (upload a file, list past imports)."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import PurePath, PureWindowsPath
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from commandcentre.context import AppContext
from commandcentre.errors import DomainError, InvalidInput
from commandcentre.intel import imports as svc
from commandcentre.intel.schemas import ErrorDetail, ValidationErrorDetail
from commandcentre.pagination import MAX_LIMIT, PaginationOut
from commandcentre.web.deps import ApiCaller, ApiSession, Ctx

router = APIRouter(tags=["imports"])


class PayloadTooLarge(DomainError):
    status_code = 413


class RowErrorOut(BaseModel):
    row: int = Field(description="1-based row (or entry) number as the file shows it.")
    field: str | None = Field(default=None, description="The field at fault, when known.")
    message: str


class EntityCountsOut(BaseModel):
    created: int
    updated: int
    unchanged: int


class ImportSummaryOut(BaseModel):
    run_id: uuid.UUID | None = Field(description="The ImportRun that records this import.")
    kind: str
    format: str = Field(description="The format the file was read as.")
    file: str
    created: int = Field(description="Rows that created a new record.")
    updated: int = Field(description="Rows that changed an existing record or added to it.")
    skipped: int = Field(description="Rows that brought nothing new, or were not data.")
    errors: list[RowErrorOut] = Field(description="Rows (or fields) not imported, and why.")
    counts: dict[str, EntityCountsOut] = Field(
        description="Per kind of record: events, sessions, contacts, appearances, accounts."
    )


class ImportRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    format: str
    filename: str
    status: str = Field(description="completed, or failed (nothing was imported).")
    created_count: int
    updated_count: int
    skipped_count: int
    error_count: int
    errors: list[RowErrorOut] = Field(description="The first row errors (at most 1,000).")
    message: str | None = Field(description="Why a failed import could not run.")
    user_id: uuid.UUID | None
    created_at: datetime


class ImportRunList(BaseModel):
    items: list[ImportRunOut]
    pagination: PaginationOut


UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorDetail, "description": "Not signed in: send 'Authorization: Bearer'"},
    403: {"model": ErrorDetail, "description": "A cookie-authenticated call without X-CSRF-Token"},
    413: {"model": ErrorDetail, "description": "The file is over the import size limit"},
    422: {
        "model": ValidationErrorDetail,
        "description": "The file cannot be imported at all (unknown format, not valid "
        "JSON/CSV/iCalendar/XML, no header row, bad mapping, speakers without an event); "
        "nothing was imported and a failed import is recorded",
    },
}
LIST_ERRORS: dict[int | str, dict[str, Any]] = {
    401: UPLOAD_ERRORS[401],
    422: {"model": ValidationErrorDetail, "description": "Invalid page or limit"},
}

KindPath = Annotated[svc.ImportKind, Path(description="What the file holds.")]


def safe_filename(name: str | None) -> str:
    """The file's own name: browsers may send a whole path, never store where it lived."""
    text = (name or "").replace("\x00", "").strip()
    base = PureWindowsPath(PurePath(text).name).name if text else ""
    return base[:500] or "upload"


def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    """The uploaded bytes; `FileTooLarge` without reading past the limit."""
    if upload.size is not None:
        svc.check_file_size(upload.size, max_bytes)
    data = upload.file.read(max_bytes + 1)
    svc.check_file_size(upload.size or len(data), max_bytes)
    return data


def as_http_error(error: svc.ImportFileError) -> DomainError:
    if isinstance(error, svc.FileTooLarge):
        return PayloadTooLarge(str(error), field="file")
    return InvalidInput(str(error), field="file")


def upload_import(
    *,
    ctx: AppContext,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    kind: svc.ImportKind,
    upload: UploadFile,
    fmt: str,
    event: str | None,
    mapping_text: str | None,
) -> svc.ImportSummary:
    """Run an uploaded import; a fatal problem is recorded as a failed run and re-raised."""
    filename = safe_filename(upload.filename)
    fmt = (fmt or svc.AUTO).strip() or svc.AUTO
    settings = ctx.settings
    try:
        mapping = svc.parse_mapping((mapping_text or "").splitlines())
        data = read_upload(upload, settings.import_max_bytes)
    except svc.ImportFileError as exc:
        svc.record_failure(
            factory=ctx.session_factory,
            workspace_id=workspace_id,
            clock=ctx.clock,
            kind=kind,
            filename=filename,
            fmt=fmt,
            error=exc,
            user_id=user_id,
        )
        raise
    return svc.import_into_workspace(
        factory=ctx.session_factory,
        workspace_id=workspace_id,
        clock=ctx.clock,
        kind=kind,
        filename=filename,
        data=data,
        fmt=fmt,
        event_name=(event or "").strip() or None,
        mapping=mapping or None,
        user_id=user_id,
        max_bytes=settings.import_max_bytes,
        max_field_chars=settings.import_max_field_chars,
    )


def summary_out(summary: svc.ImportSummary) -> ImportSummaryOut:
    return ImportSummaryOut(run_id=summary.run_id, **summary.to_json())


@router.post(
    "/imports/{kind}",
    response_model=ImportSummaryOut,
    status_code=201,
    responses=UPLOAD_ERRORS,
)
def create_import(
    kind: KindPath,
    caller: ApiCaller,
    ctx: Ctx,
    file: Annotated[UploadFile, File(description="The file to import.")],
    format: Annotated[
        str,
        Form(
            max_length=32,
            description="auto (detect), or events: conferences-json, ics, frab-xml; "
            "speakers/contacts: csv, json, linkedin, hubspot; accounts: csv.",
        ),
    ] = svc.AUTO,
    event: Annotated[
        str | None,
        Form(
            max_length=300,
            description="Speakers: the event they speak at (required; created if missing). "
            "Events: names the one event of an .ics schedule. Contacts: an event they attend.",
        ),
    ] = None,
    mapping: Annotated[
        str | None,
        Form(
            max_length=10_000,
            description="Speakers/contacts: 'field=column' lines naming which column holds a "
            "field (e.g. email=E-Mail).",
        ),
    ] = None,
) -> ImportSummaryOut:
    """Import a file into the caller's workspace, all or nothing.

    Rows that cannot be imported are listed in `errors` with their row numbers while the
    other rows import; importing the same file again creates nothing new.
    """
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
        raise as_http_error(exc) from None
    return summary_out(summary)


@router.get("/imports", response_model=ImportRunList, responses=LIST_ERRORS)
def list_imports(
    session: ApiSession,
    page: Annotated[int, Query(ge=1, le=100_000, description="1-based page number.")] = 1,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page.")] = 25,
) -> ImportRunList:
    """The workspace's imports, newest first, failed ones included."""
    found = svc.list_runs(session=session, page=page, limit=limit)
    return ImportRunList(
        items=[ImportRunOut.model_validate(run) for run in found.items],
        pagination=PaginationOut(page=found.page, limit=found.limit, total=found.total),
    )
