"""Fuzzing inbound parsing and classification: garbage never crashes, every message ends
classified or quarantined with a reason.

Two sources: hypothesis-generated MIME trees (random headers, charsets, encodings, nesting,
report parts) and seeded mutations of the realistic fixtures (byte flips, truncation,
duplicated and huge headers, wrong charsets, deep nesting, broken boundaries).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commandcentre.inbound.classify import Classification, classify, classify_raw
from commandcentre.inbound.models import CLASSIFICATIONS
from commandcentre.inbound.parse import (
    MAX_BODY_CHARS,
    MAX_ID_CHARS,
    MAX_RAW_BYTES,
    ParsedMessage,
    UnparseableMessage,
    parse_message,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "inbound"
SEEDS = [p.read_bytes() for p in sorted(FIXTURES.glob("*.eml"))]


def check(raw: bytes) -> Classification:
    """The invariants every input must satisfy (parsing once: it dominates the run time)."""
    parsed: ParsedMessage | None = None
    reason = ""
    try:
        parsed = parse_message(raw)
    except UnparseableMessage as exc:
        reason = exc.reason
    if parsed is None:
        assert reason, "unparseable without a reason"
        result = classify_raw(raw)
        assert result.quarantine
        assert reason in result.reason
    else:
        check_parsed(parsed)
        result = classify(parsed)
    assert result.kind in CLASSIFICATIONS
    assert result.reason.strip(), "classified without a reason"
    if result.kind == "reply":
        assert result.sentiment in ("positive", "neutral", "negative")
    return result


def check_parsed(parsed: ParsedMessage) -> None:
    assert len(parsed.body_text) <= MAX_BODY_CHARS
    assert parsed.body_source in ("plain", "html", "none")
    for ident in (parsed.message_id, parsed.in_reply_to, parsed.original_message_id):
        assert ident is None or (ident.startswith("<") and len(ident) <= MAX_ID_CHARS)
    assert all(ref.startswith("<") for ref in parsed.references)
    assert parsed.date is None or parsed.date.tzinfo is UTC
    assert parsed.from_address is None or "@" in parsed.from_address
    assert isinstance(parsed.subject, str)
    assert all(isinstance(p, str) and p for p in parsed.problems)


# --- generated messages ---------------------------------------------------------------------

HEADER_NAMES = [
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Auto-Submitted",
    "Precedence",
    "X-Autoreply",
    "X-Autorespond",
    "X-Auto-Response-Suppress",
    "X-Failed-Recipients",
    "Content-Disposition",
    "Content-Transfer-Encoding",
]
CHARSETS = ["utf-8", "iso-8859-1", "windows-1252", "koi8-r", "shift_jis", "bogus-42", "", "utf-7"]
CONTENT_TYPES = [
    "text/plain",
    "text/html",
    "message/delivery-status",
    "text/rfc822-headers",
    "application/octet-stream",
    "text/x-weird",
    "",
]
ENCODINGS = ["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "bogus"]
PHRASES = [
    "Out of office until 12 March",
    "Ich bin bis zum 15.03. nicht im Büro",
    "Status: 5.1.1",
    "Action: failed",
    "Status: 4.4.1\r\nAction: delayed",
    "Final-Recipient: rfc822; x@example.com",
    "Please unsubscribe me",
    "Yes, interested!",
    "not interested",
    "back on Monday 4th",
    "returning 03/12/2026",
    "=?utf-8?q?broken",
    "=?bogus?b?AAAA?=",
    "<a@b>",
    "\u202e\u0000\ufeff",
]

header_value = st.one_of(
    st.text(max_size=80),
    st.sampled_from(PHRASES),
    st.sampled_from(
        [
            "Jane <jane@example.com>",
            "<@>",
            '"unterminated <x@y',
            "a@b, c@d, <e@f>",
            "=?utf-8?b?SmFuZQ==?= <j@example.com>",
            "Mon, 32 Foo 99999 25:61:61 +9999",
            "Tue, 3 Mar 2026 10:12:20 +0100",
            "auto-replied",
            "auto-generated",
            "bulk",
            "<x@y> <z@w>",
        ]
    ),
)
header = st.tuples(st.sampled_from(HEADER_NAMES), header_value)


def _content_type(ctype: str, charset: str) -> str:
    return f"{ctype}; charset={charset}" if charset else ctype


def _leaf(ctype: str, charset: str, cte: str, body: bytes) -> bytes:
    head = f"Content-Type: {_content_type(ctype, charset)}\r\nContent-Transfer-Encoding: {cte}\r\n"
    return head.encode() + b"\r\n" + body


leaf = st.builds(
    _leaf,
    st.sampled_from(CONTENT_TYPES),
    st.sampled_from(CHARSETS),
    st.sampled_from(ENCODINGS),
    st.one_of(
        st.binary(max_size=200),
        st.sampled_from(PHRASES).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.text(max_size=100).map(lambda s: s.encode("utf-8", "surrogatepass")),
    ),
)


def _multipart(subtype: str, boundary: str, report: bool, parts: list[bytes]) -> bytes:
    params = f'; boundary="{boundary}"' + ("; report-type=delivery-status" if report else "")
    out = [f"Content-Type: multipart/{subtype}{params}\r\n\r\npreamble\r\n".encode()]
    for part in parts:
        out.append(f"--{boundary}\r\n".encode() + part + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def _rfc822(inner: bytes) -> bytes:
    return b"Content-Type: message/rfc822\r\n\r\n" + inner


mime_tree = st.recursive(
    leaf,
    lambda children: st.one_of(
        st.builds(
            _multipart,
            st.sampled_from(["mixed", "alternative", "report", "related", "x"]),
            st.sampled_from(["b1", "b2", "=_x", "", "a" * 80]),
            st.booleans(),
            st.lists(children, max_size=4),
        ),
        children.map(_rfc822),
    ),
    max_leaves=8,
)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    headers = draw(st.lists(header, max_size=12))
    lines = []
    for name, value in headers:
        text = f"{name}: {value}".replace("\n", " ").replace("\r", " ")
        lines.append(text.encode("utf-8", "surrogatepass"))
    sep = draw(st.sampled_from([b"\r\n", b"\n"]))
    return sep.join(lines) + sep + draw(mime_tree)


@settings(
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(raw=messages())
def test_generated_messages_never_crash(raw: bytes) -> None:
    check(raw)


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=600))
def test_random_bytes_never_crash(raw: bytes) -> None:
    check(raw)


# --- mutated fixtures -----------------------------------------------------------------------


def flip_bytes(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 20)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def truncate(raw: bytes, rng: random.Random) -> bytes:
    return raw[: rng.randrange(len(raw))]


def duplicate_headers(raw: bytes, rng: random.Random) -> bytes:
    head, _, body = raw.partition(b"\n\n")
    lines = head.split(b"\n")
    extra = [rng.choice(lines) for _ in range(rng.randint(1, 30))]
    return b"\n".join(lines + extra) + b"\n\n" + body


def huge_header(raw: bytes, rng: random.Random) -> bytes:
    name = rng.choice([b"Subject", b"To", b"References", b"Content-Type", b"X-Junk", b"From"])
    filler = rng.choice([b"a", b"<x@y> ", b"=?utf-8?q?x?= ", b'"', b";", b"(", b"\t\r\n "])
    return name + b": " + filler * rng.randint(1_000, 40_000) + b"\n" + raw


def wrong_charset(raw: bytes, rng: random.Random) -> bytes:
    charset = rng.choice([b"bogus", b"utf-16", b"shift_jis", b"", b"utf-8\x00", b"x" * 300])
    return raw.replace(b"charset=", b"charset=" + charset + b";x=")


def nest_deep(raw: bytes, rng: random.Random) -> bytes:
    depth = rng.randint(5, 60)
    body = raw
    for level in range(depth):
        boundary = f"n{level}".encode()
        kind = rng.choice([b"mixed", b"report; report-type=delivery-status"])
        body = (
            b"Content-Type: multipart/"
            + kind
            + b'; boundary="'
            + boundary
            + b'"\n\n--'
            + boundary
            + b"\n"
            + body
            + b"\n--"
            + boundary
            + b"--\n"
        )
    return b"From: a@example.com\n" + body


def break_boundaries(raw: bytes, rng: random.Random) -> bytes:
    return raw.replace(b"--\n", b"\n").replace(b'boundary="', b'boundary="zz', rng.randint(0, 1))


def many_parts(raw: bytes, rng: random.Random) -> bytes:
    parts = b"".join(b"--p\ncontent-type: text/plain\n\nx\n" for _ in range(rng.randint(100, 600)))
    return (
        b'From: a@b.example\nContent-Type: multipart/mixed; boundary="p"\n\n' + parts + b"--p--\n"
    )


def html_bomb(raw: bytes, rng: random.Random) -> bytes:
    unit = rng.choice([b"<a ", b"<!--", b'<a b="', b"<blockquote>", b"<script", b"&#", b"<p>"])
    return (
        b"From: a@b.example\nContent-Type: text/html; charset=utf-8\n\n"
        + unit * rng.randint(1_000, 30_000)
        + raw[:200]
    )


def line_endings(raw: bytes, rng: random.Random) -> bytes:
    return raw.replace(b"\n", rng.choice([b"\r\n", b"\r", b"\n\r", b"\x00\n"]))


MUTATIONS: list[Callable[[bytes, random.Random], bytes]] = [
    flip_bytes,
    truncate,
    duplicate_headers,
    huge_header,
    wrong_charset,
    nest_deep,
    break_boundaries,
    many_parts,
    html_bomb,
    line_endings,
]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.__name__)
def test_mutated_fixtures_never_crash(mutation: Callable[[bytes, random.Random], bytes]) -> None:
    rng = random.Random(f"inbound-fuzz-{mutation.__name__}")  # reproducible
    rounds = 60 if mutation in (huge_header, many_parts, nest_deep, html_bomb) else 300
    for _ in range(rounds):
        raw = rng.choice(SEEDS)
        for _ in range(rng.randint(1, 3)):
            raw = mutation(raw, rng) if raw else raw
        check(raw)


def test_stacked_mutations_never_crash() -> None:
    rng = random.Random("inbound-fuzz-stacked")
    cheap = [m for m in MUTATIONS if m not in (huge_header, many_parts, html_bomb)]
    for _ in range(600):
        raw = rng.choice(SEEDS)
        for mutation in rng.sample(cheap, rng.randint(2, 4)):
            raw = mutation(raw, rng) if raw else raw
        check(raw)


def test_size_limits() -> None:
    big_body = b"From: a@b.example\nSubject: big\n\n" + b"0123456789\n" * 400_000  # ~4.4 MB
    parsed = parse_message(big_body)
    assert parsed.body_truncated
    assert check(big_body).kind in CLASSIFICATIONS
    too_big = b"From: a@b.example\n\n" + b"x" * MAX_RAW_BYTES
    assert check(too_big).quarantine
