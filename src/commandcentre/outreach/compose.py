"""Build outreach emails as ``EmailMessage`` objects, and fingerprint what was approved.

Every header value is checked for line breaks before it goes near the message: the stdlib
would refuse some of them anyway, but only deep inside serialisation, after a send attempt
has already started. Failing here gives a clear error at compose time instead.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import urlsplit

# Long one-click URLs must not be folded: the default 78-column folding turns an unbreakable
# URL into RFC 2047 encoded words, which mail clients do not decode inside List-Unsubscribe.
# 998 is the hard line limit of RFC 5322.
OUTREACH_POLICY = policy.SMTP.clone(max_line_length=998)

_MAX_URL_LENGTH = 800
_LINE_BREAKS = re.compile(r"[\r\n\x00]")
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_MESSAGE_ID = re.compile(r"^<[^<>\s@]+@[^<>\s@]+>$")
_REPLY_PREFIX = re.compile(r"^\s*re\s*:", re.IGNORECASE)
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_APPROVAL_TAG = b"commandcentre.outreach.approval.v1"


def _single_line(field: str, value: str) -> str:
    if _LINE_BREAKS.search(value):
        raise ValueError(f"{field} must not contain line breaks or NUL (header injection)")
    return value


def make_message_id(domain: str) -> str:
    """A fresh ``<random@domain>`` Message-ID; 128 random bits make collisions moot."""
    _single_line("message_id_domain", domain)
    if not _DOMAIN.match(domain):
        raise ValueError(f"message_id_domain is not a valid domain name: {domain!r}")
    return f"<{secrets.token_hex(16)}@{domain}>"


def _address(field: str, addr_spec: str, display_name: str = "") -> Address:
    _single_line(field, addr_spec)
    _single_line(f"{field} display name", display_name)
    if addr_spec.count("@") != 1:
        raise ValueError(f"{field} must be a single email address: {addr_spec!r}")
    try:
        address = Address(display_name=display_name, addr_spec=addr_spec)
    except (ValueError, HeaderParseError) as exc:
        raise ValueError(f"{field} is not a valid email address: {addr_spec!r}") from exc
    if not address.username or not address.domain:
        raise ValueError(f"{field} is not a valid email address: {addr_spec!r}")
    return address


def _unsubscribe_https(url: str) -> str:
    _single_line("unsubscribe_url", url)
    if len(url) > _MAX_URL_LENGTH or re.search(r"[\s<>]", url):
        raise ValueError("unsubscribe_url must be a short URL without spaces or angle brackets")
    parts = urlsplit(url)
    # RFC 8058 one-click needs HTTPS; plain HTTP is tolerated only for a local demo.
    local_http = parts.scheme == "http" and parts.hostname in _LOCAL_HOSTS
    if not parts.netloc or (parts.scheme != "https" and not local_http):
        raise ValueError(f"unsubscribe_url must be an https:// URL: {url!r}")
    return url


def _unsubscribe_mailto(value: str) -> str:
    _single_line("unsubscribe_mailto", value)
    uri = value if value.lower().startswith("mailto:") else f"mailto:{value}"
    if len(uri) > _MAX_URL_LENGTH or re.search(r"[\s<>]", uri) or "@" not in uri:
        raise ValueError(f"unsubscribe_mailto must be an address or mailto: URI: {value!r}")
    return uri


def _message_ids(field: str, values: list[str]) -> list[str]:
    seen: list[str] = []
    for value in values:
        _single_line(field, value)
        value = value.strip()
        if not _MESSAGE_ID.match(value):
            raise ValueError(f"{field} must hold Message-IDs like <id@domain>: {value!r}")
        if value not in seen:
            seen.append(value)
    return seen


def reply_subject(subject: str) -> str:
    """``subject`` with a single leading "Re: ", however it was written before."""
    return subject if _REPLY_PREFIX.match(subject) else f"Re: {subject}"


def _footer(postal_address: str | None, unsubscribe_url: str) -> str:
    lines = ["", "-- "]
    if postal_address:
        lines.extend(line.strip() for line in postal_address.splitlines() if line.strip())
    lines.append(f"To stop receiving these emails, unsubscribe here: {unsubscribe_url}")
    return "\n".join(lines)


def compose_email(
    *,
    from_address: str,
    from_name: str,
    to_address: str,
    subject: str,
    body: str,
    message_id_domain: str,
    unsubscribe_url: str,
    unsubscribe_mailto: str | None,
    postal_address: str | None,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    now: datetime | None = None,
) -> EmailMessage:
    """A plain-text outreach email with our Message-ID, one-click unsubscribe and a footer.

    ``in_reply_to``/``references`` make it a follow-up in the same thread: the parent's
    Message-ID is appended to References and the subject gets one "Re: " prefix.
    ``now`` (aware) fixes the Date header; it defaults to the current time.
    Raises ``ValueError`` on any header value with a line break or a malformed address.
    """
    sender = _address("from_address", from_address, from_name)
    recipient = _address("to_address", to_address)
    _single_line("subject", subject)
    https_uri = _unsubscribe_https(unsubscribe_url)
    unsubscribe_targets = [https_uri]
    if unsubscribe_mailto:
        unsubscribe_targets.append(_unsubscribe_mailto(unsubscribe_mailto))

    thread = _message_ids("references", list(references or []))
    parent = _message_ids("in_reply_to", [in_reply_to])[0] if in_reply_to else None
    if parent is not None:
        if parent in thread:
            thread.remove(parent)
        # References lists ancestors oldest first, so the direct parent goes last.
        thread.append(parent)
        subject = reply_subject(subject)

    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ValueError("now must be timezone-aware")

    message = EmailMessage(policy=OUTREACH_POLICY)
    message["Message-ID"] = make_message_id(message_id_domain)
    message["Date"] = format_datetime(now.astimezone(UTC))
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    if parent is not None:
        message["In-Reply-To"] = parent
    if thread:
        message["References"] = " ".join(thread)
    message["List-Unsubscribe"] = ", ".join(f"<{uri}>" for uri in unsubscribe_targets)
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"

    text = re.sub(r"\r\n?", "\n", body).rstrip("\n") + "\n" + _footer(postal_address, https_uri)
    # Quoted-printable for non-ASCII keeps the message 7-bit clean, so it is accepted by
    # relays that do not offer 8BITMIME.
    cte = None if text.isascii() else "quoted-printable"
    message.set_content(text + "\n", charset="utf-8", cte=cte)
    return message


def approval_hash(recipient: str, subject: str, body: str) -> str:
    """SHA-256 (hex) of exactly what a person approved, to refuse sending anything else.

    Each part is length-prefixed, so no two different triples share an encoding (a plain
    join would let "a|b" + "c" collide with "a" + "b|c"). Nothing is normalised except the
    body's line endings, which transports rewrite freely.
    """
    digest = hashlib.sha256(_APPROVAL_TAG)
    for part in (recipient, subject, re.sub(r"\r\n?", "\n", body)):
        encoded = part.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return digest.hexdigest()
