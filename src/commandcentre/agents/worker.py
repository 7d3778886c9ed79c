"""Workers: Huey delivers wake-ups and ticks to threads that run the pumps.

Huey does not acknowledge tasks (a killed worker loses what it held), so it is only a
doorbell: every wake-up runs a pump that claims rows from the database, and a ticker
enqueues the periodic sweep that also finds work whose wake-up was lost.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from huey import Huey, PostgresHuey, RedisHuey, SqliteHuey
from huey.consumer import Consumer

from commandcentre.agents import tasks, wakeup
from commandcentre.agents.pumps import Pumps
from commandcentre.context import AppContext
from commandcentre.inbound import process
from commandcentre.inbound.poller import poll_once
from commandcentre.outreach.dispatch import Sender
from commandcentre.outreach.transport import transport_from_settings

log = logging.getLogger(__name__)

QUEUE_NAME = "commandcentre"


@dataclass
class JobQueue:
    """The Huey instance and the enqueue functions of the runtime's jobs."""

    huey: Huey
    worker_id: str
    jobs: dict[str, Callable[[], Any]]
    stop: threading.Event

    def wake(self, kind: str) -> None:
        self.jobs[kind]()


def make_queue(ctx: AppContext) -> JobQueue:
    """The Huey instance for the configured storage, with the runtime's tasks registered."""
    url = ctx.settings.queue_url
    common: dict[str, Any] = {
        "results": False,
        "store_none": False,
        "store_intermediate_errors": False,
    }
    if not url:
        path = Path(ctx.settings.data_dir) / "queue.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        # The queue pickles its messages: nobody else may write to it.
        os.chmod(path, 0o600)
        queue: Huey = SqliteHuey(QUEUE_NAME, filename=str(path), **common)
    elif url.startswith(("redis://", "rediss://", "unix://")):
        queue = RedisHuey(QUEUE_NAME, url=url, blocking=True, read_timeout=1, **common)
    elif url.startswith(("postgresql://", "postgres://")):
        queue = _postgres_queue(url.replace("postgresql+psycopg", "postgresql"), common)
    else:
        raise ValueError(f"COMMANDCENTRE_QUEUE_URL: unsupported queue storage '{url}'")
    return _register(queue, ctx)


def _postgres_queue(dsn: str, options: dict[str, Any]) -> Huey:
    """Workers starting together race to create the queue's tables; the loser retries."""
    for attempt in range(5):
        try:
            return PostgresHuey(QUEUE_NAME, dsn=dsn, **options)
        except psycopg.errors.UniqueViolation:
            time.sleep(0.1 * (attempt + 1))
    return PostgresHuey(QUEUE_NAME, dsn=dsn, **options)


def _register(queue: Huey, ctx: AppContext) -> JobQueue:
    lease = timedelta(seconds=ctx.settings.lease_seconds)
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    stop = threading.Event()
    sends = Sender(
        factory=ctx.session_factory,
        clock=ctx.clock,
        settings=ctx.settings,
        transport=transport_from_settings(ctx.settings),
        worker=worker_id,
        lease=lease,
    )
    pumps = Pumps(
        factory=ctx.session_factory,
        clock=ctx.clock,
        worker=worker_id,
        lease=lease,
        stop=stop,
        sends=sends,
        task_batch=ctx.settings.task_batch,
        message_batch=ctx.settings.message_batch,
    )

    def pump_tasks() -> int:
        return pumps.process_tasks()

    def pump_messages() -> int:
        return pumps.process_messages()

    def pump_sends() -> int:
        return pumps.drain(pumps.process_sends)

    def pump_due() -> int:
        # Time-triggered rows (follow-ups, sends after their undo delay) have no wake-up of
        # their own; a frequent, index-only look keeps their lag near this interval. (Sends
        # due the moment they are approved ring "sends" instead.)
        return pumps.drain(pumps.process_followups) + pumps.drain(pumps.process_sends)

    inbox = InboxPoller(ctx)

    def tick() -> dict[str, int]:
        result = pumps.tick()
        if not stop.is_set():
            result["inbound"] = inbox.poll_if_due()
        return result

    jobs = {
        "tasks": queue.task(name="pump_tasks")(pump_tasks),
        "messages": queue.task(name="pump_messages")(pump_messages),
        "sends": queue.task(name="pump_sends")(pump_sends),
        "due": queue.task(name="pump_due")(pump_due),
        "tick": queue.task(name="tick")(tick),
    }
    return JobQueue(huey=queue, worker_id=worker_id, jobs=jobs, stop=stop)


class InboxPoller:
    """Replies over IMAP, on its own slower interval: each poll is a login and network
    round trips, and providers throttle frequent logins."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.interval = ctx.settings.imap_poll_seconds
        self.next_poll = 0.0
        self.lock = threading.Lock()

    def poll_if_due(self) -> int:
        if not self.ctx.settings.imap_host:
            return 0
        # Ticks may overlap on several consumer threads; one poll at a time is enough.
        if not self.lock.acquire(blocking=False):
            return 0
        try:
            if time.monotonic() < self.next_poll:
                return 0
            self.next_poll = time.monotonic() + self.interval
            return poll_once(self.ctx, ingest=process.ingest_raw)
        finally:
            self.lock.release()


class _QuietConsumer(Consumer):  # type: ignore[misc]
    """Huey's consumer without its own signal handling: the owner decides when to stop."""

    def _set_signal_handlers(self) -> None:
        return None


class Worker:
    """Consumer threads plus a ticker, started and stopped together."""

    def __init__(self, ctx: AppContext, *, threads: int | None = None) -> None:
        self.ctx = ctx
        self.queue = make_queue(ctx)
        self.consumer = _QuietConsumer(
            self.queue.huey,
            workers=threads or ctx.settings.worker_threads,
            worker_type="thread",
            periodic=False,
            initial_delay=0.02,
            backoff=1.3,
            max_delay=0.25,
            check_worker_health=True,
        )
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick_loop, name="cc-ticker", daemon=True)

    @property
    def worker_id(self) -> str:
        return self.queue.worker_id

    def start(self) -> None:
        wakeup.install(self.queue.wake)
        self.consumer.start()
        self._ticker.start()
        log.info("worker %s started", self.worker_id)

    def _tick_loop(self) -> None:
        settings = self.ctx.settings
        step = min(settings.tick_seconds, settings.due_seconds)
        next_tick = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            kind = "tick" if now >= next_tick else "due"
            if kind == "tick":
                next_tick = now + settings.tick_seconds
            try:
                self.queue.wake(kind)
            except Exception:
                log.exception("could not enqueue the %s wake-up", kind)
            self._stop.wait(step)

    def stop(self, *, graceful: bool = True) -> None:
        self._stop.set()
        self.queue.stop.set()  # jobs already running finish their row, then claim no more
        wakeup.install(None)
        self.consumer.stop(graceful=graceful)
        released = tasks.release_claims(
            factory=self.ctx.session_factory, clock=self.ctx.clock, worker=self.worker_id
        )
        if released:
            log.info("gave back %d claimed tasks", released)
        log.info("worker %s stopped", self.worker_id)

    def run_until_signalled(self) -> None:
        """Run until SIGTERM or SIGINT, then finish in-flight work and stop."""
        stop = threading.Event()

        def handler(signum: int, _frame: object) -> None:
            log.info("received %s, stopping gracefully", signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        self.start()
        stop.wait()
        self.stop(graceful=True)
