"""Signed, URL-safe unsubscribe tokens (stdlib HMAC-SHA256, no expiry).

Layout before base64url (no padding)::

    version (1 byte) | for each of workspace_id, contact_id, email:
                       length (2 bytes, big-endian) + UTF-8 bytes
    | HMAC-SHA256 tag (32 bytes) over everything before it

Tokens never expire on purpose: an unsubscribe link in a year-old email must still work.
The version byte lets a future format (or a rotated key scheme) coexist with old links.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass

TOKEN_VERSION = 1
_TAG_SIZE = 32
_MAX_FIELD = 0xFFFF
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9_-]+$")
# Domain separation: the same application secret signs other things, and a signature
# made for one purpose must never validate as an unsubscribe token.
_KEY_LABEL = b"commandcentre.outreach.unsubscribe"


@dataclass(frozen=True, slots=True)
class UnsubscribeClaim:
    workspace_id: str
    contact_id: str
    email: str


def _key(secret: str | bytes) -> bytes:
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    if not raw:
        # A missing secret is a configuration error, not an invalid token: fail loudly.
        raise ValueError("unsubscribe secret must not be empty")
    return hmac.new(raw, _KEY_LABEL, hashlib.sha256).digest()


def _tag(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()


def make_token(
    secret: str | bytes,
    *,
    workspace_id: uuid.UUID | str,
    contact_id: uuid.UUID | str,
    email: str,
) -> str:
    """A URL-safe token naming the contact (and address) to unsubscribe."""
    key = _key(secret)
    payload = bytearray([TOKEN_VERSION])
    for name, value in (
        ("workspace_id", workspace_id),
        ("contact_id", contact_id),
        ("email", email),
    ):
        encoded = str(value).encode("utf-8")
        if not encoded or len(encoded) > _MAX_FIELD:
            raise ValueError(f"{name} must be non-empty and shorter than {_MAX_FIELD} bytes")
        payload += len(encoded).to_bytes(2, "big") + encoded
    signed = bytes(payload) + _tag(key, bytes(payload))
    return base64.urlsafe_b64encode(signed).rstrip(b"=").decode("ascii")


def read_token(secret: str | bytes, token: str) -> UnsubscribeClaim | None:
    """The claim in a valid token; ``None`` for anything tampered, garbled or foreign."""
    key = _key(secret)
    token = token.strip()
    # Checked up front because the base64 decoder silently skips characters it dislikes.
    if not _TOKEN_CHARS.match(token) or len(token) % 4 == 1:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) <= _TAG_SIZE:
        return None
    payload, tag = raw[:-_TAG_SIZE], raw[-_TAG_SIZE:]
    # Verify before parsing so nothing about an unauthenticated payload is trusted.
    if not hmac.compare_digest(tag, _tag(key, payload)):
        return None
    if payload[0] != TOKEN_VERSION:
        return None
    fields: list[str] = []
    offset = 1
    for _ in range(3):
        if offset + 2 > len(payload):
            return None
        size = int.from_bytes(payload[offset : offset + 2], "big")
        offset += 2
        chunk = payload[offset : offset + size]
        if len(chunk) != size or size == 0:
            return None
        offset += size
        try:
            fields.append(chunk.decode("utf-8"))
        except UnicodeDecodeError:
            return None
    if offset != len(payload):
        return None
    return UnsubscribeClaim(workspace_id=fields[0], contact_id=fields[1], email=fields[2])
