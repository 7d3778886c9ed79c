"""Build outreach emails as ``EmailMessage`` objects, and fingerprint what was approved.

Every header value is checked for line breaks before it goes near the message: the stdlib
would refuse some of them anyway, but only deep inside serialisation, after a send attempt
has already started. Failing here gives a clear error at compose time instead.

Cost: the send pump composes every message, and the stdlib's header registry parses each
value on ``message[name] = value`` (and once more inside ``set_content``), which made
composing ~0.6 ms. Values whose wire form is provably their own text (plain printable
ASCII, see ``_verbatim``) are stored as raw header lines, the way the stdlib parser stores
headers it reads: they serialise unchanged and are only parsed if someone reads them. Every
other value still goes through the header registry, and headers shared by many messages
(sender, MIME headers) are built by the stdlib once and reused, so the bytes on the wire are
the same as before. tests/outreach/test_compose.py pins this against a snapshot of the
straightforward implementation.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from datetime import UTC, datetime
from email import policy, quoprimime
from email.errors import HeaderParseError
from email.headerregistry import Address, BaseHeader
from email.message import EmailMessage
from email.utils import format_datetime
from typing import cast
from urllib.parse import urlsplit

# Long one-click URLs must not be folded: the default 78-column folding turns an unbreakable
# URL into RFC 2047 encoded words, which mail clients do not decode inside List-Unsubscribe.
# 998 is the hard line limit of RFC 5322.
_MAX_LINE = 998
OUTREACH_POLICY = policy.SMTP.clone(max_line_length=_MAX_LINE)

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

# A value the stdlib would write out exactly as given and parse back to the same text:
# printable ASCII without leading/trailing blanks (the folder drops the space after an empty
# value's colon) and without "=?" (which the parser would take for an RFC 2047 encoded word).
_PLAIN = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")
# addr-specs of dot-atoms only: ``Address`` accepts each of them and writes it back as given.
# "=" and "?" are left out so that no encoded word can hide in them; anything else takes the
# full ``Address`` path.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]+"
_SIMPLE_ADDR_SPEC = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


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


def _verbatim(name: str, value: str) -> bool:
    """Whether ``value`` may be stored as a raw line: one the stdlib writes out unchanged."""
    return (
        len(name) + 2 + len(value) <= _MAX_LINE
        and _PLAIN.fullmatch(value) is not None
        and "=?" not in value
    )


def _put(message: EmailMessage, name: str, value: str | BaseHeader | Address) -> None:
    # set_raw stores a header without parsing it, as the stdlib's own parser does for every
    # header it reads (public, though meant for parsers). It is used instead of
    # ``message[name] = value`` because that also checks the header's max count, and the
    # registry builds a new class for each such lookup (~15 µs); every header here is added
    # once to a fresh message, so the check could never fire.
    if isinstance(value, str) and not isinstance(value, BaseHeader) and _verbatim(name, value):
        # A raw line is written out unchanged when it fits on a line, which _verbatim
        # guarantees, and reading it back (message[name]) builds the same header object
        # assignment would have. Pinned by test_raw_headers_match_assigned_headers.
        message.set_raw(name, value)
    else:
        # Exactly what ``message[name] = value`` stores (and the same ValueError for values
        # the stdlib refuses), minus the count check.
        # (typeshed says str, but the registry takes Address objects too, as assignment does.)
        message.set_raw(*message.policy.header_store_parse(name, cast(str, value)))


@functools.lru_cache(maxsize=256)
def _sender(addr_spec: str, display_name: str) -> str | BaseHeader:
    """The From value to store (a raw line or the header object), built once per sender.

    The header object comes from the stdlib as before; it is stored raw only where that
    provably changes nothing: its fold, under both the ASCII and the SMTPUTF8 wire policy,
    and its decoded value are the same when re-read from the raw line. Errors are not
    cached, so a bad sender fails on every call with the same message.
    """
    header: BaseHeader = OUTREACH_POLICY.header_factory(
        "From", _address("from_address", addr_spec, display_name)
    )
    folded = header.fold(policy=OUTREACH_POLICY)
    raw = folded[len("From: ") : -len(OUTREACH_POLICY.linesep)]
    if _verbatim("From", raw) and folded == f"From: {raw}{OUTREACH_POLICY.linesep}":
        reread: BaseHeader = OUTREACH_POLICY.header_factory("From", raw)
        utf8 = OUTREACH_POLICY.clone(utf8=True)
        if (
            str(reread) == str(header)
            and reread.fold(policy=OUTREACH_POLICY) == folded
            and header.fold(policy=utf8) == folded
        ):
            return raw
    return header


def _recipient(addr_spec: str) -> str | Address:
    """The To value (validated as ``_address`` does); dot-atom addresses skip the parser.

    Only those come back as text to store raw; any other address keeps the stdlib path.
    """
    if _SIMPLE_ADDR_SPEC.fullmatch(addr_spec):
        return addr_spec
    return _address("to_address", addr_spec)


def _mime_headers(cte: str | None) -> tuple[tuple[str, BaseHeader], ...]:
    # What set_content adds for a text/plain utf-8 part, built by set_content itself once.
    # The header objects are immutable, so every message can share them; they stay objects
    # (not raw lines) because the generator reads Content-Type and the transfer encoding
    # on every serialisation, and parsing them costs more than folding them.
    template = EmailMessage(policy=OUTREACH_POLICY)
    template.set_content("\n", charset="utf-8", cte=cte)
    headers: list[tuple[str, BaseHeader]] = []
    for name, value in template.items():
        assert isinstance(value, BaseHeader)
        headers.append((name, value))
    return tuple(headers)


_MIME_7BIT = _mime_headers(None)
_MIME_QP = _mime_headers("quoted-printable")


def _set_body(message: EmailMessage, text: str) -> None:
    """``message.set_content(text, charset="utf-8", cte=...)`` without re-parsing headers.

    ``text`` has "\n" line ends only (compose_email normalises them), so the payload is the
    text itself for 7bit, and the same quoted-printable encoding set_content applies
    otherwise. ASCII with a line over the limit takes set_content's own heuristics.
    """
    # Quoted-printable for non-ASCII keeps the message 7-bit clean, so it is accepted by
    # relays that do not offer 8BITMIME.
    if not text.isascii():
        data = text.encode("utf-8")
        payload = quoprimime.body_encode(data.decode("latin-1"), _MAX_LINE)
        headers = _MIME_QP
    elif max(map(len, text.split("\n"))) <= _MAX_LINE:
        payload = text
        headers = _MIME_7BIT
    else:
        message.set_content(text, charset="utf-8")
        return
    for name, value in headers:
        # Nothing reads MIME-Version while serialising, so a raw line saves folding it.
        _put(message, name, str(value) if name == "MIME-Version" else value)
    message.set_payload(payload)


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
    message_id: str | None = None,
) -> EmailMessage:
    """A plain-text outreach email with our Message-ID, one-click unsubscribe and a footer.

    ``in_reply_to``/``references`` make it a follow-up in the same thread: the parent's
    Message-ID is appended to References and the subject gets one "Re: " prefix.
    ``now`` (aware) fixes the Date header; it defaults to the current time.
    ``message_id`` is the one recorded for the send (sending it under any other would hide
    it from reconciliation); without it the message gets a fresh one.
    Raises ``ValueError`` on any header value with a line break or a malformed address.
    """
    sender = _sender(from_address, from_name)
    recipient = _recipient(to_address)
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

    if message_id is None:
        message_id = make_message_id(message_id_domain)
    else:
        message_id = _message_ids("message_id", [message_id])[0]

    message = EmailMessage(policy=OUTREACH_POLICY)
    _put(message, "Message-ID", message_id)
    moment = now.astimezone(UTC)
    date = format_datetime(moment)
    if moment.year >= 1970:
        _put(message, "Date", date)
    else:
        # The stdlib reads two-digit years as 19xx/20xx and rewrites the date it stores;
        # only the registry reproduces that, for years no real send has.
        message.set_raw(*message.policy.header_store_parse("Date", date))
    _put(message, "From", sender)
    _put(message, "To", recipient)
    _put(message, "Subject", subject)
    if parent is not None:
        _put(message, "In-Reply-To", parent)
    if thread:
        _put(message, "References", " ".join(thread))
    _put(message, "List-Unsubscribe", ", ".join(f"<{uri}>" for uri in unsubscribe_targets))
    _put(message, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click")

    text = re.sub(r"\r\n?", "\n", body).rstrip("\n") + "\n" + _footer(postal_address, https_uri)
    _set_body(message, text + "\n")
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
