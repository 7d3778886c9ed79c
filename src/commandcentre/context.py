"""The long-lived parts a process needs: settings, database engine, sessions, clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from commandcentre.clock import Clock, SystemClock
from commandcentre.db import models as _models  # noqa: F401 - every mapper known before use
from commandcentre.db.engine import make_engine, make_session_factory
from commandcentre.settings import SETTINGS_KEY, Settings


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    clock: Clock = field(default_factory=SystemClock)

    def __post_init__(self) -> None:
        # Every session knows the settings it was made under (see settings.settings_of), so
        # services deep in a worker need not have them passed down through every call.
        self.session_factory.kw.setdefault("info", {})[SETTINGS_KEY] = self.settings

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> AppContext:
        engine = make_engine(settings.database_url)
        return cls(
            settings=settings,
            engine=engine,
            session_factory=make_session_factory(engine),
            clock=clock or SystemClock(),
        )

    def settings_lockout_window(self) -> timedelta:
        return timedelta(minutes=self.settings.login_lockout_minutes)

    def close(self) -> None:
        self.engine.dispose()
