"""Random secrets that are shown once and stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets

API_TOKEN_PREFIX = "cc_"


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def new_api_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
