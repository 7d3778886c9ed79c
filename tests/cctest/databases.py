"""Migrated databases for tests: a copied SQLite file, or a PostgreSQL database reset per test."""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from commandcentre.db import migrate
from commandcentre.db.engine import make_engine, make_session_factory
from commandcentre.db.models import Base


@dataclass
class Database:
    backend: str
    url: str
    engine: Engine
    session_factory: sessionmaker[Session]

    def dispose(self) -> None:
        self.engine.dispose()


def make_sqlite_template(directory: Path) -> Path:
    path = directory / "template.sqlite"
    migrate.upgrade(f"sqlite:///{path}")
    return path


def sqlite_database(template: Path, directory: Path) -> Database:
    path = directory / f"db-{uuid.uuid4().hex[:8]}.sqlite"
    shutil.copyfile(template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    return Database("sqlite", url, engine, make_session_factory(engine))


def create_pg_database(admin_url: str) -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"cc_test_{worker}_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    return url


def drop_pg_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_database(url: str) -> Database:
    engine = make_engine(url)
    truncate_all(engine)
    return Database("postgres", url, engine, make_session_factory(engine))


def truncate_all(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
