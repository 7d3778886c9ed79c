"""A provider's shared rate limit and circuit breaker, kept in ``llm_limit_state``.

One row per provider endpoint (``key``), shared by every worker thread and process, changed
only by conditional UPDATEs so no lock service is needed:

* **Rate limit** — a token bucket holding at most ``burst`` tokens, refilled at
  ``rate`` per second. A caller *reserves* a token: it computes the refilled level from the row
  it read, subtracts one and writes that back only if the row is still as it read it
  (compare-and-set on ``tokens`` and ``refilled_at``; a lost race re-reads). The level may go
  negative: that is a queue of reservations, and the caller sleeps ``-level / rate`` seconds
  before sending. One write per call, and no caller ever spins. With a generous rate a
  process takes a *block* of free tokens in one write (``LimitConfig.block``) and spends them
  without another round trip within ``BLOCK_LIFETIME``; tokens leave the shared bucket before
  they are spent, so the rate still holds across workers, and an unspent one is only lost.
* **Circuit breaker** — ``failures`` counts consecutive failed requests (HTTP 5xx, timeouts,
  connection errors; not 4xx, which show the provider is up). The UPDATE that makes it reach
  ``threshold`` also sets ``open_until = now + cooldown``; until then every call is refused
  with ``CircuitOpen`` before anything is sent. After the cool-down one caller wins a
  compare-and-set that pushes ``open_until`` forward again and sends a probe (half-open); a
  success closes the breaker (``failures = 0``, ``open_until = NULL``), a failure re-opens it.
* **Concurrency** — at most ``concurrency`` requests of this process in flight per key, with a
  process-local semaphore (the setting is per worker).

Where the UPDATEs run matters. On PostgreSQL each one is its own short transaction on its own
connection, so other workers see it at once and no row lock is held across a model call. On
SQLite the calling task's transaction already holds the database's single write lock, so a
second connection would wait for it until the busy timeout: there the updates run inside the
caller's session (under the caller's lock), which is still shared correctly
because SQLite lets only one writer through at a time. Drafting that holds no transaction
open (``apart``) gets its own short transactions on SQLite too.

Time comes from the injected clock; waiting goes through the injected ``sleep``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import Connection, case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from commandcentre.clock import Clock
from commandcentre.db.engine import writer_turn
from commandcentre.db.scoping import SYSTEM_KEY
from commandcentre.llm.models import LlmLimitState
from commandcentre.llm.retry import NotSent

T = TypeVar("T")

KEY_LEN = 200
BREAKER_THRESHOLD = 5
BREAKER_COOLDOWN = timedelta(seconds=30)
# A lost compare-and-set means another worker just wrote the row; a handful of re-reads is
# plenty even with every thread of a worker racing.
_CAS_ATTEMPTS = 50

Transaction = Callable[[Callable[[Session], T]], T]


class CircuitOpen(NotSent):
    """The provider failed repeatedly; calls are refused until ``until``."""

    def __init__(self, key: str, until: datetime) -> None:
        super().__init__(f"{key}: circuit open until {until.isoformat()} after repeated failures")
        self.key = key
        self.until = until


@dataclass(frozen=True)
class LimitRow:
    """The row's values as read (plain values: another worker may change the row any time)."""

    tokens: float
    refilled_at: datetime
    failures: int
    open_until: datetime | None


@dataclass(frozen=True)
class LimitConfig:
    rate: float  # tokens (requests) per second
    burst: float  # bucket size; a full second's worth lets a batch start at once
    concurrency: int
    threshold: int = BREAKER_THRESHOLD
    cooldown: timedelta = BREAKER_COOLDOWN

    @property
    def block(self) -> int:
        """Free tokens one write may take for this process: a twentieth of a second's worth,
        at most a token per concurrent call, so a modest rate is shared token by token."""
        return max(1, min(self.concurrency, int(self.rate * BLOCK_SHARE)))


# A block is a small share of the rate, held briefly: the shared bucket stays the authority.
BLOCK_SHARE = 0.05
BLOCK_LIFETIME = timedelta(milliseconds=250)


@dataclass
class _Block:
    """Tokens this process took from the bucket and has not spent yet."""

    left: int = 0
    until: datetime | None = None


_BLOCKS: dict[tuple[str, str], _Block] = {}
_BLOCKS_LOCK = threading.Lock()


def forget_blocks() -> None:
    """Drop every unspent block (a fresh start, as a new process has)."""
    with _BLOCKS_LOCK:
        for block in _BLOCKS.values():
            block.left = 0


def limit_key(provider: str, base_url: str | None) -> str:
    """One bucket and breaker per provider endpoint (a local server is not the public API)."""
    return f"{provider}|{base_url or 'default'}"[:KEY_LEN]


# --- where the UPDATEs run ------------------------------------------------------------------


def own_transactions(factory: sessionmaker[Session]) -> Transaction[T]:
    """Each operation in its own short, committed transaction (PostgreSQL, scripts)."""

    def run(fn: Callable[[Session], T]) -> T:
        with writer_turn(factory.kw.get("bind")), factory() as session:
            # The limit table belongs to no workspace; a system session may touch it.
            session.info[SYSTEM_KEY] = True
            with session.begin():
                return fn(session)

    return run


def inside(session: Session, lock: AbstractContextManager[object] | None = None) -> Transaction[T]:
    """Each operation in ``session``'s own transaction, serialised by ``lock`` (SQLite).

    No savepoint of its own: the operations are single conditional UPDATEs (the one insert
    that may race has its savepoint), and an error fails the caller's work as a whole.
    """
    guard: AbstractContextManager[object] = lock if lock is not None else nullcontext()

    def run(fn: Callable[[Session], T]) -> T:
        with guard:
            return fn(session)

    return run


def transaction_for(
    session: Session, lock: AbstractContextManager[object], *, apart: bool = False
) -> Transaction[T]:
    """The right place for limit updates made on behalf of work running in ``session``;
    ``apart``: always their own transactions, for work that holds no transaction open."""
    bind = session.get_bind()
    if bind.dialect.name == "sqlite" and not apart:
        return inside(session, lock)
    engine = bind.engine if isinstance(bind, Connection) else bind
    return own_transactions(sessionmaker(bind=engine, expire_on_commit=False))


# --- the shared state ------------------------------------------------------------------------


_SEMAPHORES: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_SEMAPHORES_LOCK = threading.Lock()


def _semaphore(key: str, size: int) -> threading.BoundedSemaphore:
    with _SEMAPHORES_LOCK:
        found = _SEMAPHORES.get((key, size))
        if found is None:
            found = _SEMAPHORES[(key, size)] = threading.BoundedSemaphore(size)
        return found


class ProviderLimits:
    """Rate limit, breaker and concurrency cap for one provider endpoint (module docstring)."""

    def __init__(
        self,
        key: str,
        config: LimitConfig,
        *,
        transaction: Transaction[object],
        clock: Clock,
        sleep: Callable[[float], None] = time.sleep,
        database: str = "",
    ) -> None:
        """``database`` names where the row lives: a block of tokens belongs to one bucket."""
        self.key = key[:KEY_LEN]
        self.config = config
        self._tx = transaction
        self.clock = clock
        self._sleep = sleep
        self._slots = _semaphore(self.key, config.concurrency)
        with _BLOCKS_LOCK:
            self._block = _BLOCKS.setdefault((self.key, database), _Block())
        # Per thread: whether its last take() saw a closed breaker with no failures counted.
        self._seen = threading.local()

    def _run(self, fn: Callable[[Session], T]) -> T:
        return self._tx(fn)  # type: ignore[return-value]

    # ------------------------------------------------------------------ one request

    @contextmanager
    def request(self) -> Iterator[None]:
        """Wrap one HTTP request: refuse when open, pace, cap concurrency."""
        wait = self.take()
        if wait > 0:
            self._sleep(wait)
        with self._slots:
            yield

    def take(self) -> float:
        """``admit`` and ``reserve`` in one transaction (one round trip fewer per request),
        or a token of this process's block when one is left."""
        if self._spend_block():
            return 0.0
        for _ in range(_CAS_ATTEMPTS):
            verdict = self._run(self._take_once)
            if isinstance(verdict, CircuitOpen):
                raise verdict
            if verdict is not None:
                return verdict
        raise CircuitOpen(self.key, self.clock.now())

    def _take_once(self, session: Session) -> CircuitOpen | float | None:
        row = self._row(session)
        admitted = self._admit_once(session, row)
        if admitted is not None:
            # Open (refused), or another caller won the half-open probe: look again.
            return admitted if isinstance(admitted, CircuitOpen) else None
        # Admitted (possibly as the probe, which must not be lost to a retry): a lost token
        # race is retried inside this transaction, which sees the winner's commit. The row
        # read for admission serves the first try unless the probe just changed it.
        first: LimitRow | None = row if row.open_until is None else None
        healthy = row.failures == 0 and row.open_until is None
        for _ in range(_CAS_ATTEMPTS):
            # Only a healthy provider's tokens are taken by the block: while failures are
            # counted, every request looks at the breaker again.
            wait = self._reserve_once(session, first, block=self.config.block if healthy else 1)
            first = None
            if wait is not None:
                self._seen.healthy = healthy
                return wait
        return 1.0 / self.config.rate

    def _spend_block(self) -> bool:
        block = self._block
        with _BLOCKS_LOCK:
            if block.left <= 0 or block.until is None or self.clock.now() >= block.until:
                block.left = 0
                return False
            block.left -= 1
            # Admitted by the take that fetched the block: healthy as far as anyone knows.
            self._seen.healthy = True
            return True

    def _keep_block(self, tokens: int, now: datetime) -> None:
        with _BLOCKS_LOCK:
            self._block.left = tokens
            self._block.until = now + BLOCK_LIFETIME

    def _drop_block(self) -> None:
        with _BLOCKS_LOCK:
            self._block.left = 0

    def admit(self) -> None:
        """Raise ``CircuitOpen`` unless calls are allowed (closed, or this caller's probe)."""
        for _ in range(_CAS_ATTEMPTS):
            verdict = self._run(self._admit_once)
            if verdict is None:
                return
            if isinstance(verdict, CircuitOpen):
                raise verdict
        raise CircuitOpen(self.key, self.clock.now())

    def _admit_once(
        self, session: Session, row: LimitRow | None = None
    ) -> CircuitOpen | bool | None:
        row = row or self._row(session)
        now = self.clock.now()
        if row.open_until is None:
            return None
        if now < row.open_until:
            return CircuitOpen(self.key, row.open_until)
        # Half-open: only the caller whose update lands sends the probe.
        won = session.execute(
            update(LlmLimitState)
            .where(LlmLimitState.key == self.key, LlmLimitState.open_until == row.open_until)
            .values(open_until=now + self.config.cooldown, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        return None if won else True

    def reserve(self) -> float:
        """Take a token; returns how long to wait before sending (0 when one was free)."""
        for _ in range(_CAS_ATTEMPTS):
            wait = self._run(self._reserve_once)
            if wait is not None:
                return wait
        # Pathological contention: behave as if the bucket were empty rather than fail.
        return 1.0 / self.config.rate

    def _reserve_once(
        self, session: Session, row: LimitRow | None = None, *, block: int = 1
    ) -> float | None:
        """One token, or up to ``block`` when that many are free (the rest kept locally)."""
        row = row or self._row(session)
        now = self.clock.now()
        elapsed = max(0.0, (now - row.refilled_at).total_seconds())
        available = min(self.config.burst, row.tokens + elapsed * self.config.rate)
        taken = max(1, min(block, int(available)))
        level = available - taken
        won = session.execute(
            update(LlmLimitState)
            .where(
                LlmLimitState.key == self.key,
                LlmLimitState.tokens == row.tokens,
                LlmLimitState.refilled_at == row.refilled_at,
            )
            .values(tokens=level, refilled_at=max(now, row.refilled_at), updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if not won:
            return None
        if taken > 1:
            # Kept even if the caller's transaction later rolls back: at worst a block's
            # worth of requests goes out unaccounted, which a provider's 429 would correct.
            self._keep_block(taken - 1, now)
        return max(0.0, -level / self.config.rate)

    # ------------------------------------------------------------------ outcomes

    def succeeded(self) -> None:
        if getattr(self._seen, "healthy", False):
            # The breaker was closed with no failures counted when this request was admitted:
            # nothing to reset, so no write (a failure recorded meanwhile by another caller
            # stays counted, which errs towards opening the breaker).
            return
        now = self.clock.now()
        # No row yet means nothing to reset; the usual case changes no row at all.
        self._run(
            lambda session: session.execute(
                update(LlmLimitState)
                .where(
                    LlmLimitState.key == self.key,
                    (LlmLimitState.failures != 0) | LlmLimitState.open_until.is_not(None),
                )
                .values(failures=0, open_until=None, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        )

    def failed(self) -> None:
        """Count a failure; the update reaching the threshold opens the breaker."""
        # A failing provider gets no more requests on tokens taken while it looked healthy.
        self._drop_block()
        now = self.clock.now()
        reached = LlmLimitState.failures + 1 >= self.config.threshold

        def count(session: Session) -> None:
            self._row(session)  # a first-ever request may fail before the row exists
            session.execute(
                update(LlmLimitState)
                .where(LlmLimitState.key == self.key)
                .values(
                    failures=LlmLimitState.failures + 1,
                    open_until=case(
                        (reached, now + self.config.cooldown), else_=LlmLimitState.open_until
                    ),
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )

        self._run(count)

    # ------------------------------------------------------------------ the row

    def _row(self, session: Session) -> LimitRow:
        found = self._read(session)
        if found is not None:
            return found
        now = self.clock.now()
        try:
            # Another worker may create it first; the savepoint keeps our transaction usable.
            with session.begin_nested():
                session.add(
                    LlmLimitState(
                        key=self.key,
                        tokens=self.config.burst,
                        refilled_at=now,
                        failures=0,
                        open_until=None,
                        updated_at=now,
                    )
                )
                session.flush()
        except IntegrityError:
            pass
        found = self._read(session)
        assert found is not None
        return found

    def _read(self, session: Session) -> LimitRow | None:
        # Plain columns, not an identity-mapped object, which could be stale.
        row = session.execute(
            select(
                LlmLimitState.tokens,
                LlmLimitState.refilled_at,
                LlmLimitState.failures,
                LlmLimitState.open_until,
            ).where(LlmLimitState.key == self.key)
        ).first()
        if row is None:
            return None
        return LimitRow(
            tokens=float(row.tokens),
            refilled_at=row.refilled_at,
            failures=int(row.failures),
            open_until=row.open_until,
        )

    def state(self) -> LimitRow:
        """The row as it is now (for display and tests)."""
        return self._run(self._row)
