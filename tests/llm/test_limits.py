"""The shared rate limit and circuit breaker in ``llm_limit_state``, on both databases.

Two ``ProviderLimits`` objects with their own transactions stand for two worker processes:
whatever one writes, the other must see. Time is a ManualClock; waits are returned, not slept.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from cctest.databases import Database
from commandcentre.clock import ManualClock
from commandcentre.db.scoping import SYSTEM_KEY, system_session
from commandcentre.llm.limits import (
    CircuitOpen,
    LimitConfig,
    ProviderLimits,
    inside,
    limit_key,
    own_transactions,
    transaction_for,
)
from commandcentre.llm.models import LlmLimitState

KEY = limit_key("openai", "http://127.0.0.1:9/v1")
CONFIG = LimitConfig(
    rate=2.0, burst=2.0, concurrency=2, threshold=3, cooldown=timedelta(seconds=30)
)


def _worker(database: Database, clock: ManualClock, config: LimitConfig = CONFIG) -> ProviderLimits:
    return ProviderLimits(
        KEY, config, transaction=own_transactions(database.session_factory), clock=clock
    )


def test_token_bucket_is_shared_and_refills(database: Database, clock: ManualClock) -> None:
    a, b = _worker(database, clock), _worker(database, clock)
    # A full bucket lets a burst start at once, whoever asks.
    assert a.reserve() == 0.0
    assert b.reserve() == 0.0
    # Then reservations queue up at the rate: 0.5 s apart, across both workers.
    assert b.reserve() == pytest.approx(0.5)
    assert a.reserve() == pytest.approx(1.0)
    clock.advance(timedelta(seconds=1))
    assert a.reserve() == pytest.approx(0.5)
    clock.advance(timedelta(minutes=5))
    # Refill stops at the burst size.
    assert a.state().tokens == pytest.approx(-1.0)  # stored as of the last reservation
    assert [a.reserve(), b.reserve(), a.reserve()] == pytest.approx([0.0, 0.0, 0.5])
    with system_session(database.session_factory) as s:
        assert s.scalar(select(func.count(LlmLimitState.id))) == 1


def test_concurrent_reservations_never_hand_out_the_same_token(
    database: Database, clock: ManualClock
) -> None:
    config = LimitConfig(rate=1.0, burst=1.0, concurrency=8)
    workers = [_worker(database, clock, config) for _ in range(4)]
    waits: list[float] = []
    lock = threading.Lock()

    def take(limits: ProviderLimits) -> None:
        for _ in range(5):
            wait = limits.reserve()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=take, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 20 reservations at 1/s with a burst of 1 and a frozen clock: each got its own slot.
    assert sorted(waits) == pytest.approx([float(i) for i in range(20)])


def test_breaker_opens_after_consecutive_failures_and_is_seen_by_everyone(
    database: Database, clock: ManualClock
) -> None:
    a, b = _worker(database, clock), _worker(database, clock)
    a.admit()
    a.failed()
    b.failed()
    a.succeeded()  # a success resets the count: failures must be consecutive
    assert a.state().failures == 0
    for _ in range(3):
        b.admit()
        b.failed()
    state = a.state()
    assert state.failures == 3
    assert state.open_until == clock.now() + CONFIG.cooldown
    with pytest.raises(CircuitOpen):
        a.admit()
    with pytest.raises(CircuitOpen), b.request():
        pytest.fail("an open breaker must refuse before the request is made")


def test_breaker_half_opens_for_exactly_one_probe_then_closes(
    database: Database, clock: ManualClock
) -> None:
    a, b = _worker(database, clock), _worker(database, clock)
    for _ in range(3):
        a.failed()
    clock.advance(CONFIG.cooldown - timedelta(seconds=1))
    with pytest.raises(CircuitOpen):
        b.admit()
    clock.advance(timedelta(seconds=1))
    a.admit()  # the probe
    with pytest.raises(CircuitOpen):
        b.admit()  # everyone else waits for the probe's outcome
    a.succeeded()
    state = b.state()
    assert (state.failures, state.open_until) == (0, None)
    b.admit()


def test_a_failed_probe_opens_the_breaker_again(database: Database, clock: ManualClock) -> None:
    a = _worker(database, clock)
    for _ in range(3):
        a.failed()
    clock.advance(CONFIG.cooldown)
    a.admit()
    a.failed()
    assert a.state().open_until == clock.now() + CONFIG.cooldown
    with pytest.raises(CircuitOpen):
        a.admit()


def test_updates_inside_the_callers_transaction_roll_back_with_it(
    database: Database, clock: ManualClock
) -> None:
    """SQLite mode: limit updates ride in the task's own transaction."""
    with database.session_factory() as s:
        s.info[SYSTEM_KEY] = True
        _start_writing(s)
        limits = ProviderLimits(KEY, CONFIG, transaction=inside(s), clock=clock)
        limits.failed()
        limits.reserve()
        assert limits.state().failures == 1
        s.rollback()
    assert _stored_failures(database) is None


def test_the_right_transaction_mode_is_chosen_per_database(
    database: Database, clock: ManualClock
) -> None:
    with system_session(database.session_factory) as s:
        _start_writing(s)
        limits = ProviderLimits(
            KEY, CONFIG, transaction=transaction_for(s, threading.RLock()), clock=clock
        )
        limits.failed()
        seen_elsewhere = _stored_failures(database)
    assert _stored_failures(database) == 1
    # PostgreSQL commits at once so other workers see it; SQLite waits for the task's commit
    # (which holds the only write lock anyway).
    assert seen_elsewhere == (1 if database.backend == "postgres" else None)


def _start_writing(session: Session) -> None:
    """Like a worker's task transaction, which has written its claim before any model call.
    (SQLite's driver opens the transaction at the first write; a savepoint before that would
    commit on release.)"""
    session.execute(text("DELETE FROM llm_limit_state WHERE 1 = 0"))


def _stored_failures(database: Database) -> int | None:
    """What another connection sees committed (a plain read: it must not wait for a lock)."""
    with system_session(database.session_factory) as s:
        return s.scalar(select(LlmLimitState.failures).where(LlmLimitState.key == KEY))


def test_concurrency_slots_are_bounded(database: Database, clock: ManualClock) -> None:
    config = LimitConfig(rate=1000.0, burst=1000.0, concurrency=2)
    limits = _worker(database, clock, config)
    inside_now = 0
    peak = 0
    lock = threading.Lock()
    release = threading.Event()

    def call() -> None:
        nonlocal inside_now, peak
        with limits.request():
            with lock:
                inside_now += 1
                peak = max(peak, inside_now)
            release.wait(0.05)
            with lock:
                inside_now -= 1

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == 2


class _Counted:
    """A worker's own transactions, counted: how many round trips the limits cost."""

    def __init__(self, database: Database) -> None:
        self.inner: Any = own_transactions(database.session_factory)
        self.count = 0

    def __call__(self, fn: Any) -> Any:
        self.count += 1
        return self.inner(fn)


def test_a_generous_rate_is_taken_a_block_at_a_time(database: Database, clock: ManualClock) -> None:
    config = LimitConfig(rate=200.0, burst=200.0, concurrency=8)
    assert config.block == 8  # a twentieth of a second's worth would be 10; capped by slots
    counted = _Counted(database)
    a = ProviderLimits(KEY, config, transaction=counted, clock=clock, database="a")
    waits = [a.take() for _ in range(24)]
    assert waits == [0.0] * 24
    assert counted.count == 3  # one write per block of 8
    assert _worker(database, clock, config).state().tokens == pytest.approx(200.0 - 24)
    # Tokens of a block not spent in time are given up, never spent late.
    a.take()
    clock.advance(timedelta(seconds=1))
    a.take()
    assert counted.count == 5


def test_blocks_never_hand_out_more_than_the_bucket_holds(
    database: Database, clock: ManualClock
) -> None:
    """Two processes with a frozen clock: every token is spent once, blocks or not."""
    config = LimitConfig(rate=100.0, burst=20.0, concurrency=4)
    a, b = (_process(database, clock, config, name) for name in ("process a", "process b"))
    free = sum(1 for i in range(40) if (a if i % 3 else b).take() == 0.0)
    assert free == 20  # the burst, and not one more


def _process(
    database: Database, clock: ManualClock, config: LimitConfig, name: str = ""
) -> ProviderLimits:
    """A worker process of its own: its own transactions and its own token blocks."""
    return ProviderLimits(
        KEY,
        config,
        transaction=own_transactions(database.session_factory),
        clock=clock,
        database=name,
    )


def test_a_failure_drops_the_block(database: Database, clock: ManualClock) -> None:
    a = _process(database, clock, LimitConfig(rate=200.0, burst=200.0, concurrency=8, threshold=1))
    a.take()  # a block of 8: 7 left
    a.failed()  # opens the breaker (threshold 1)
    with pytest.raises(CircuitOpen):
        a.take()
