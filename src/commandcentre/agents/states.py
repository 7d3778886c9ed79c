"""The task state machine, enforced in one place.

pending → in_progress → completed | failed | cancelled, with waiting_approval between for
tasks that need a human decision; in_progress → pending is a retry (or an expired lease),
in_progress → dead is the end of retries.
"""

from __future__ import annotations

from commandcentre.errors import Conflict

TERMINAL = frozenset({"completed", "failed", "cancelled", "dead"})

TASK_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"in_progress", "cancelled"}),
    "in_progress": frozenset(
        {"completed", "failed", "cancelled", "waiting_approval", "pending", "dead"}
    ),
    "waiting_approval": frozenset({"pending", "cancelled"}),
    "completed": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset(),
    "dead": frozenset(),
}


def can_transition(current: str, target: str) -> bool:
    return target in TASK_TRANSITIONS.get(current, frozenset())


def check_transition(current: str, target: str) -> None:
    if not can_transition(current, target):
        raise Conflict(f"a task that is {current} cannot become {target}", field="status")


def sources_of(target: str) -> tuple[str, ...]:
    """States from which `target` is reachable: the WHERE clause of a conditional UPDATE."""
    return tuple(sorted(s for s, targets in TASK_TRANSITIONS.items() if target in targets))
