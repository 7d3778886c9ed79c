"""What every page form action shares: the change runs in a savepoint, and a refusal the
user can act on comes back as a value for the page to show, not as an error page."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from commandcentre.errors import Conflict, InvalidInput

# The refusals a page shows next to the row they concern; anything else (not found, not
# allowed) goes to the error handlers as usual.
Refusal = Conflict | InvalidInput


def attempt(session: Session, action: Callable[[], object]) -> Refusal | None:
    """Run ``action`` in a savepoint; its refusal, or None if it went through.

    The savepoint is rolled back on a refusal, so a refused action leaves nothing
    half-written while the request's session stays usable to render the page again.
    """
    try:
        with session.begin_nested():
            action()
    except (Conflict, InvalidInput) as exc:
        return exc
    return None
