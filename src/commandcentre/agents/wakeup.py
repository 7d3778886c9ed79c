"""Wake-ups after commit: the queue only shortens the wait, the rows are the record.

The web process and workers install a waker (the job queue); with none installed (tests,
the CLI) nothing is sent and the periodic sweep or a test's pump call does the work.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

Waker = Callable[[str], None]
_waker: Waker | None = None

PENDING_KEY = "pending_wakeups"


def install(waker: Waker | None) -> None:
    global _waker
    _waker = waker


def after_commit(session: Session, kind: str) -> None:
    """Ask for a wake-up of `kind` ("tasks", "messages") once this transaction commits."""
    session.info.setdefault(PENDING_KEY, set()).add(kind)


@event.listens_for(Session, "after_commit")
def _send_wakeups(session: Session) -> None:
    kinds = session.info.pop(PENDING_KEY, set())
    if _waker is None:
        return
    for kind in sorted(kinds):
        # A lost wake-up costs latency only: the sweep finds the work.
        with contextlib.suppress(Exception):
            _waker(kind)


@event.listens_for(Session, "after_rollback")
def _drop_wakeups(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)
