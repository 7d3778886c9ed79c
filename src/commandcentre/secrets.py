"""The application secret: from settings, or generated once into the data directory."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from commandcentre.settings import Settings

SECRET_FILE = "secret.key"


def _read(path: Path) -> str | None:
    try:
        value = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    return value or None


def secret_key(settings: Settings) -> str:
    """`settings.secret_key`, else `<data_dir>/secret.key`, created on first use."""
    if settings.secret_key:
        return settings.secret_key
    data_dir = Path(settings.data_dir)
    path = data_dir / SECRET_FILE
    found = _read(path)
    if found is not None:
        return found
    data_dir.mkdir(parents=True, exist_ok=True)
    candidate = secrets.token_urlsafe(32)
    # Written to a private temporary file, then hard-linked into place: link() fails if the
    # key already exists, so racing processes all end up reading the one winner's key, and
    # no reader ever sees a half-written file.
    tmp = data_dir / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(8)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(candidate)
            handle.flush()
            os.fsync(handle.fileno())
        # Losing the race is fine: the winner's key is read back below.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    winner = _read(path)
    if winner is None:
        raise RuntimeError(f"could not read the generated secret key at {path}")
    return winner
