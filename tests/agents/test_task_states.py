"""Every allowed and every forbidden task transition, one test each."""

from __future__ import annotations

import itertools

import pytest

from commandcentre.agents.models import TASK_STATUSES
from commandcentre.agents.states import (
    TASK_TRANSITIONS,
    TERMINAL,
    can_transition,
    check_transition,
    sources_of,
)
from commandcentre.errors import Conflict

ALLOWED = [
    ("pending", "in_progress"),
    ("pending", "cancelled"),
    ("in_progress", "completed"),
    ("in_progress", "failed"),
    ("in_progress", "cancelled"),
    ("in_progress", "waiting_approval"),
    ("in_progress", "pending"),
    ("in_progress", "dead"),
    ("waiting_approval", "pending"),
    ("waiting_approval", "cancelled"),
]
FORBIDDEN = [
    pair for pair in itertools.product(TASK_STATUSES, TASK_STATUSES) if pair not in ALLOWED
]


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_allowed_transition(current: str, target: str) -> None:
    assert can_transition(current, target)
    check_transition(current, target)


@pytest.mark.parametrize(("current", "target"), FORBIDDEN)
def test_forbidden_transition(current: str, target: str) -> None:
    assert not can_transition(current, target)
    with pytest.raises(Conflict):
        check_transition(current, target)


def test_the_machine_covers_every_status_and_terminal_states_are_final() -> None:
    assert set(TASK_TRANSITIONS) == set(TASK_STATUSES)
    for status in TERMINAL:
        assert TASK_TRANSITIONS[status] == frozenset()


def test_sources_of_lists_where_a_state_can_be_reached_from() -> None:
    assert sources_of("cancelled") == ("in_progress", "pending", "waiting_approval")
    assert sources_of("completed") == ("in_progress",)
