"""Which real services the tests can reach, and what to do when one is missing.

Under CI=true a missing service fails the run (a skipped suite would hide it);
elsewhere the test skips with a message saying how to enable it.
"""

from __future__ import annotations

import os
import shutil
import socket

import pytest

PG_ADMIN_URL = os.environ.get(
    "COMMANDCENTRE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
CHROMIUM = os.environ.get("COMMANDCENTRE_TEST_CHROMIUM", "/usr/bin/chromium")

HOW_TO = {
    "postgres": "start PostgreSQL on 127.0.0.1:5432 (trust auth, database 'test') or set "
    "COMMANDCENTRE_TEST_PG_URL",
    "redis": "start Redis on 127.0.0.1:6379",
    "chromium": "apt-get install chromium (or set COMMANDCENTRE_TEST_CHROMIUM)",
    "dovecot": "apt-get install dovecot-imapd (or set COMMANDCENTRE_TEST_DOVECOT to the binary)",
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(service: str, available: bool) -> None:
    if available:
        return
    message = f"{service} is not available: {HOW_TO[service]}"
    if in_ci():
        pytest.fail(message + " (required under CI=true)", pytrace=False)
    pytest.skip(message)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=2):
            return True
    except Exception:
        return False


def chromium_available() -> bool:
    return shutil.which(CHROMIUM) is not None or os.path.exists(CHROMIUM)
