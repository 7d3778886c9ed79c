"""Migrations are the only way the schema changes: they must round-trip on both backends."""

from __future__ import annotations

from sqlalchemy import inspect

from cctest.databases import Database
from commandcentre.db import migrate
from commandcentre.db.models import Base


def test_migrations_downgrade_upgrade_and_match_the_models(database: Database) -> None:
    database.engine.dispose()
    migrate.check(database.url)  # head matches the models

    migrate.downgrade(database.url, "base")
    database.engine.dispose()
    assert set(inspect(database.engine).get_table_names()) <= {"alembic_version"}

    migrate.upgrade(database.url)
    database.engine.dispose()
    tables = set(inspect(database.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    migrate.check(database.url)


def test_every_seed_table_exists(database: Database) -> None:
    tables = set(inspect(database.engine).get_table_names())
    seed = {
        "ai_agents",
        "agent_tasks",
        "agent_messages",
        "agent_outreach_drafts",
        "agent_followup_schedule",
        "agent_activity_log",
        "agent_performance_metrics",
        "agent_planning_recommendations",
        "agent_campaigns",
        "collected_events",
        "saved_speaker_profiles",
        "watchlists",
        "account_intelligence",
        "user_opportunities",
    }
    assert seed <= tables
