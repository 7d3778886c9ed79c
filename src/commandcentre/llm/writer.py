"""Run a writer with the grounding check around it.

A draft that fails the check (unsupported claim, uncited personal detail, an address or link
the writer added) is regenerated once by the same writer, then replaced by the fallback's draft.
Injection-like untrusted input is only flagged here; approval code must refuse to auto-approve
any draft carrying ``possible_injection``.

A ``StopWork`` error (a spent budget) is not a writer failure: it propagates, so the caller
stops instead of quietly drafting everything offline.
"""

from __future__ import annotations

import logging
import threading

from commandcentre.llm.grounding import GroundingReport, check_claims, looks_like_instructions
from commandcentre.llm.retry import StopWork
from commandcentre.llm.types import DraftRequest, DraftResult, Writer

log = logging.getLogger(__name__)

FLAG_REGENERATED = "regenerated"
FLAG_FELL_BACK = "fell_back_to_offline"
FLAG_POSSIBLE_INJECTION = "possible_injection"
FLAG_WRITER_ERROR = "writer_error"
FLAG_UNGROUNDED = "grounding_failed"


def code_supplied_text(request: DraftRequest) -> list[str]:
    """Text code put in the request itself; names and numbers from it need no citation."""
    return [
        request.recipient_name,
        request.recipient_first_name,
        request.sender_name,
        request.sender_company,
        request.ask,
    ]


def injected_fields(request: DraftRequest) -> list[str]:
    return [
        f.field
        for f in request.facts
        if request.is_untrusted(f.field) and looks_like_instructions(f.value)
    ]


def _attempt(writer: Writer, request: DraftRequest) -> tuple[DraftResult | None, bool]:
    """One draft and whether it passed grounding; ``None`` when the writer failed outright."""
    try:
        result = writer.draft(request)
    except StopWork:
        raise
    except Exception:
        # Any provider or parsing failure must degrade to the fallback, not lose the draft.
        log.exception("writer %s failed", getattr(writer, "name", "?"))
        return None, False
    report = check(result, request)
    if not report.ok:
        log.info(
            "writer %s draft rejected: unsupported=%d uncited=%s foreign=%s",
            result.writer,
            len(report.unsupported),
            report.missing_citations,
            report.foreign_contacts,
        )
    return result, report.ok


_last_check = threading.local()


def check(result: DraftResult, request: DraftRequest) -> GroundingReport:
    """The grounding report of ``result`` for ``request``.

    The guard checks each answer (to cache only grounded ones) just before the grounding
    loop checks the same text again, on the same thread: the last report is reused when the
    request and the checked text are the very same.
    """
    last = getattr(_last_check, "seen", None)
    if last is not None:
        request_seen, subject, body, claims, report = last
        if (
            request_seen is request
            and subject == result.subject
            and body == result.body
            and claims == result.claims
        ):
            return report  # type: ignore[no-any-return]
    report = check_claims(result, request.facts, allowed_text=code_supplied_text(request))
    _last_check.seen = (request, result.subject, result.body, list(result.claims), report)
    return report


def draft_with_grounding(writer: Writer, request: DraftRequest, *, fallback: Writer) -> DraftResult:
    flags: list[str] = []
    result, ok = _attempt(writer, request)
    if result is None:
        flags.append(FLAG_WRITER_ERROR)
    if not ok:
        flags.append(FLAG_REGENERATED)
        result, ok = _attempt(writer, request)
        if result is None and FLAG_WRITER_ERROR not in flags:
            flags.append(FLAG_WRITER_ERROR)
    if not ok or result is None:
        flags.append(FLAG_FELL_BACK)
        result = fallback.draft(request)
        if not check(result, request).ok:
            # Should not happen with the offline writer; surfaced so review catches it.
            flags.append(FLAG_UNGROUNDED)
    if injected_fields(request):
        flags.append(FLAG_POSSIBLE_INJECTION)
    merged = [*result.flags, *(f for f in flags if f not in result.flags)]
    return result.model_copy(update={"flags": merged})
