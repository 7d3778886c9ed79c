"""Sending under failure: killed workers, servers that hang up after the body, and caps
shared by two worker processes. Real SMTP (aiosmtpd) and real IMAP (Dovecot) throughout.

The SMTP sink files every accepted message in the account's Sent folder before it
answers, as hosted providers do, so reconciliation can settle unknown outcomes.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, func, select

from cctest.dovecot import SENT_FOLDER, MailUser
from cctest.outreach import OPEN_WINDOW, drain, seed_drafts
from cctest.smtp import MailSink, smtp_server
from cctest.workers import WorkerProcess, wait_for
from commandcentre.clock import ManualClock, SystemClock
from commandcentre.context import AppContext
from commandcentre.db.engine import make_engine, make_session_factory
from commandcentre.outreach.dispatch import Sender
from commandcentre.outreach.models import Send
from commandcentre.outreach.transport import transport_from_settings
from commandcentre.settings import Settings

KILLS = 20
CRASH_SENDS = 200


def _context(url: str, tmp_path: Path, **settings: object) -> AppContext:
    values: dict[str, object] = {
        "database_url": url,
        "data_dir": tmp_path / "var",
        "secret_key": "test-secret",
        **settings,
    }
    config = Settings(_env_file=None, **values)  # type: ignore[arg-type]
    engine = make_engine(url)
    return AppContext(
        settings=config,
        engine=engine,
        session_factory=make_session_factory(engine),
        clock=SystemClock(),
    )


def _statuses(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(Send.status, func.count()).group_by(Send.status)).all()
    return {str(status): int(count) for status, count in rows}


def _message_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {m for (m,) in conn.execute(select(Send.message_id)) if m}


def _filing_sink(user: MailUser, **options: Callable[[str], bool]) -> MailSink:
    def file_in_sent(raw: bytes) -> None:
        user.append(raw, folder=SENT_FOLDER)

    return MailSink(on_accept=file_in_sent, **options)


def _plain(value: object) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def _worker_env(smtp_port: int, user: MailUser | None, **extra: str) -> dict[str, str]:
    env = {
        "COMMANDCENTRE_SMTP_HOST": "127.0.0.1",
        "COMMANDCENTRE_SMTP_PORT": str(smtp_port),
        "COMMANDCENTRE_SMTP_SECURITY": "none",
        "COMMANDCENTRE_SMTP_TIMEOUT_SECONDS": "5",
        "COMMANDCENTRE_MAIL_DAILY_CAP": "100000",
        "COMMANDCENTRE_MAIL_RECONCILE_DELAY_SECONDS": "0.2",
        "COMMANDCENTRE_TICK_SECONDS": "0.2",
    }
    if user is not None:
        env.update({f"COMMANDCENTRE_{k.upper()}": _plain(v) for k, v in user.settings().items()})
        env["COMMANDCENTRE_IMAP_SENT_COPIES_AUTOMATIC"] = "true"
    env.update(extra)
    return env


def _progress(
    worker: WorkerProcess, delivered: Callable[[], int], target: int
) -> Callable[[], bool]:
    return lambda: delivered() >= target or worker.proc.poll() is not None


@pytest.mark.slow
@pytest.mark.parametrize(
    "scratch_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_sigkill_during_200_sends_neither_loses_nor_doubles(
    scratch_url: str, tmp_path: Path, spawned: list[WorkerProcess], mail_user: MailUser
) -> None:
    ctx = _context(scratch_url, tmp_path)
    seed_drafts(ctx, CRASH_SENDS, config={**OPEN_WINDOW, "maxDailyOutreach": 1000}, approve=True)
    sink = _filing_sink(mail_user)
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    with smtp_server(sink) as server:
        env = _worker_env(server.port, mail_user)

        def delivered() -> int:
            return len(sink.message_ids)

        for kill in range(KILLS):
            worker = WorkerProcess(scratch_url, tmp_path / "worker", threads=1, extra_env=env)
            spawned.append(worker)
            target = delivered() + rng.randint(1, 6)
            progressed = wait_for(_progress(worker, delivered, target), timeout=60, interval=0.002)
            assert progressed, f"kill {kill}: no progress\n{worker.log()}"
            assert worker.proc.poll() is None, f"the worker exited by itself\n{worker.log()}"
            time.sleep(rng.uniform(0.0, 0.01))
            worker.kill()

        assert delivered() < CRASH_SENDS, "the kills came too late to interrupt anything"
        survivor = WorkerProcess(scratch_url, tmp_path / "worker", extra_env=env)
        spawned.append(survivor)
        settled = wait_for(
            lambda: _statuses(ctx.engine) == {"sent": CRASH_SENDS}, timeout=120, interval=0.1
        )
        code, _ = survivor.terminate()
    assert settled, f"{_statuses(ctx.engine)} (seed {seed})\n{survivor.log()}"
    assert code == 0
    assert sink.duplicates() == {}, f"seed {seed}"
    assert set(sink.message_ids) == _message_ids(ctx.engine)
    assert len(sink.message_ids) == CRASH_SENDS
    ctx.close()


def _in_process_sender(ctx: AppContext, settings: Settings) -> Sender:
    return Sender(
        factory=ctx.session_factory,
        clock=ctx.clock,
        settings=settings,
        transport=transport_from_settings(settings),
        worker=f"sender-{uuid.uuid4().hex[:6]}",
    )


@pytest.mark.parametrize("imap", ["with_sent_folder", "without_imap"])
def test_hang_ups_after_the_body_are_never_resent(
    imap: str, ctx: AppContext, clock: ManualClock, mail_user: MailUser
) -> None:
    total = 60
    rng = random.Random(7)
    # 5% of messages, chosen up front so the test always has some.
    doomed_positions = set(rng.sample(range(total), 3))
    seen: list[str] = []

    def drop(message_id: str) -> bool:
        seen.append(message_id)
        return len(seen) - 1 in doomed_positions

    user = mail_user if imap == "with_sent_folder" else None
    sink = _filing_sink(mail_user, drop_after_body=drop)
    seed_drafts(ctx, total, config={**OPEN_WINDOW, "maxDailyOutreach": 1000}, approve=True)
    with smtp_server(sink) as server:
        extra: dict[str, object] = {
            "smtp_host": "127.0.0.1",
            "smtp_port": server.port,
            "smtp_security": "none",
            "smtp_timeout_seconds": 2.0,
            "mail_daily_cap": 1000,
        }
        if user is not None:
            extra.update(user.settings())
            extra["imap_sent_copies_automatic"] = True
        settings = ctx.settings.model_copy(update=extra)
        sender = _in_process_sender(ctx, settings)
        drain(sender)
        clock.advance(timedelta(seconds=settings.mail_reconcile_delay_seconds + 1))
        drain(sender)
    statuses = _statuses(ctx.engine)
    assert sink.duplicates() == {}
    assert len(sink.message_ids) == total
    assert len(sink.dropped) == 3
    if user is not None:
        assert statuses == {"sent": total}
    else:
        assert statuses == {"sent": total - 3, "needs_review": 3}


@pytest.mark.slow
@pytest.mark.postgres
def test_two_worker_processes_on_postgres_respect_a_cap_of_50_exactly(
    pg_scratch: str, tmp_path: Path, spawned: list[WorkerProcess]
) -> None:
    ctx = _context(pg_scratch, tmp_path)
    seed_drafts(ctx, 100, config={**OPEN_WINDOW, "maxDailyOutreach": 1000}, approve=True)
    sink = MailSink()
    with smtp_server(sink) as server:
        env = _worker_env(server.port, None, COMMANDCENTRE_MAIL_DAILY_CAP="50")
        workers = [
            WorkerProcess(pg_scratch, tmp_path / f"worker-{i}", threads=4, extra_env=env)
            for i in range(2)
        ]
        spawned.extend(workers)

        def settled() -> bool:
            statuses = _statuses(ctx.engine)
            return statuses.get("sent", 0) >= 50 and set(statuses) <= {"sent", "queued"}

        assert wait_for(settled, timeout=60, interval=0.1), _statuses(ctx.engine)
        # Give both workers a few more ticks to overshoot, if they could.
        time.sleep(1.0)
        for worker in workers:
            worker.terminate()
    assert _statuses(ctx.engine) == {"sent": 50, "queued": 50}
    assert len(sink.message_ids) == 50
    assert sink.duplicates() == {}
    ctx.close()
