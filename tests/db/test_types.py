"""UTCDateTime: aware UTC datetimes in, the same instants out, on every database."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    Table,
    create_engine,
    insert,
    select,
)

from commandcentre.db.types import UTCDateTime


def _instants() -> list[datetime]:
    rng = random.Random(7)
    zones = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
    values = [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 12, 8, 1, 54, 41, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    for _ in range(200):
        base = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(0, 40 * 365 * 86400), microseconds=rng.randrange(0, 1_000_000)
        )
        values.append(base.astimezone(rng.choice(zones)))
    return values


def test_sqlite_stores_the_text_its_own_datetime_type_writes() -> None:
    """The stored text is what SQLAlchemy's SQLite DATETIME writes for the UTC instant, so
    comparisons and ordering in SQL agree with rows written any other way."""
    engine = create_engine("sqlite://")
    ours = UTCDateTime().dialect_impl(engine.dialect).bind_processor(engine.dialect)
    theirs = DateTime().dialect_impl(engine.dialect).bind_processor(engine.dialect)
    assert ours is not None
    assert theirs is not None
    for value in _instants():
        naive_utc = value.astimezone(UTC).replace(tzinfo=None)
        assert ours(value) == theirs(naive_utc)
    assert ours(None) is None


def test_instants_round_trip_and_naive_ones_are_refused() -> None:
    engine = create_engine("sqlite://")
    table = Table(
        "t", MetaData(), Column("id", Integer, primary_key=True), Column("at", UTCDateTime)
    )
    table.metadata.create_all(engine)
    values = _instants()
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": i, "at": v} for i, v in enumerate(values)])
        stored = conn.execute(select(table.c.at).order_by(table.c.id)).scalars().all()
        assert stored == values
        assert all(v.tzinfo is UTC for v in stored)
        ordered = conn.execute(select(table.c.at).order_by(table.c.at)).scalars().all()
        assert ordered == sorted(values)
        with pytest.raises(Exception, match="naive datetime"):
            conn.execute(insert(table), [{"id": -1, "at": datetime(2026, 1, 1)}])
