"""Composing outreach emails: headers, threading, footer, injection and approval hashes."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import random
import re
import secrets
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import Policy
from email.utils import format_datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commandcentre.outreach import compose as compose_module
from commandcentre.outreach.channels.email import _wire_policy
from commandcentre.outreach.compose import (
    approval_hash,
    compose_email,
    make_message_id,
    reply_subject,
)

LONG_URL = "https://cc.example/unsubscribe/" + "Ab-_9" * 40


def _compose(**overrides: Any) -> EmailMessage:
    fields: dict[str, Any] = {
        "from_address": "ana@agency.example",
        "from_name": "Ana Müller",
        "to_address": "bob@conf.example",
        "subject": "Your talk at PyCon",
        "body": "Hi Bob,\r\nloved the talk.\n.\nAna",
        "message_id_domain": "mail.agency.example",
        "unsubscribe_url": LONG_URL,
        "unsubscribe_mailto": "unsubscribe@agency.example",
        "postal_address": "Agency Ltd\n1 Main Street\nSpringfield",
        "now": datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
    }
    fields.update(overrides)
    return compose_email(**fields)


def _reparse(message: EmailMessage) -> EmailMessage:
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _body(message: EmailMessage) -> str:
    # On the wire (policy SMTP) lines end in CRLF; compare text with plain newlines.
    content = _reparse(message).get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def test_headers_survive_a_round_trip() -> None:
    parsed = _reparse(_compose())

    assert re.fullmatch(r"<[0-9a-f]{32}@mail\.agency\.example>", parsed["Message-ID"])
    assert parsed["Date"] == "Mon, 02 Mar 2026 09:30:00 +0000"
    assert parsed["From"] == "Ana Müller <ana@agency.example>"
    assert parsed["To"] == "bob@conf.example"
    assert parsed["Subject"] == "Your talk at PyCon"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["In-Reply-To"] is None
    assert parsed["References"] is None


def test_list_unsubscribe_is_never_folded_or_encoded() -> None:
    raw = _compose().as_bytes()
    expected = f"List-Unsubscribe: <{LONG_URL}>, <mailto:unsubscribe@agency.example>\r\n"
    assert expected.encode() in raw


def test_mailto_is_optional_and_accepts_a_uri() -> None:
    assert _compose(unsubscribe_mailto=None)["List-Unsubscribe"] == f"<{LONG_URL}>"
    message = _compose(unsubscribe_mailto="mailto:u@agency.example?subject=unsubscribe")
    assert message["List-Unsubscribe"].endswith(", <mailto:u@agency.example?subject=unsubscribe>")


def test_body_has_footer_with_postal_address_and_unsubscribe_line() -> None:
    body = _body(_compose())

    assert body.startswith("Hi Bob,\nloved the talk.\n.\nAna\n\n-- \n")
    assert "Agency Ltd\n1 Main Street\nSpringfield\n" in body
    assert f"unsubscribe here: {LONG_URL}" in body
    assert "\r" not in _compose().get_content()


def test_non_ascii_body_stays_seven_bit() -> None:
    message = _compose(body="Grüße aus München")
    assert message["Content-Transfer-Encoding"] == "quoted-printable"
    assert message.as_bytes().isascii()
    assert _body(message).startswith("Grüße aus München\n")


def test_message_ids_are_unique() -> None:
    assert len({make_message_id("example.com") for _ in range(200)}) == 200
    with pytest.raises(ValueError, match="valid domain"):
        make_message_id("bad domain")


def test_follow_up_threads_under_the_parent() -> None:
    parsed = _reparse(
        _compose(in_reply_to="<second@agency.example>", references=["<first@agency.example>"])
    )

    assert parsed["Subject"] == "Re: Your talk at PyCon"
    assert parsed["In-Reply-To"] == "<second@agency.example>"
    assert parsed["References"] == "<first@agency.example> <second@agency.example>"


def test_re_prefix_is_added_once() -> None:
    message = _compose(subject="RE: Your talk", in_reply_to="<p@agency.example>")
    assert message["Subject"] == "RE: Your talk"
    assert message["References"] == "<p@agency.example>"
    assert reply_subject("re : hi") == "re : hi"
    assert reply_subject("Regarding") == "Re: Regarding"


def test_parent_already_in_references_is_not_duplicated() -> None:
    message = _compose(
        in_reply_to="<b@x.example>", references=["<b@x.example>", "<a@x.example>", "<a@x.example>"]
    )
    assert message["References"] == "<a@x.example> <b@x.example>"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Hello\r\nBcc: victim@example.com"),
        ("subject", "Hello\nBcc: victim@example.com"),
        ("to_address", "bob@conf.example\r\nBcc: victim@example.com"),
        ("from_address", "ana@agency.example\nX: y"),
        ("from_name", "Ana\rBcc: victim@example.com"),
        ("in_reply_to", "<a@b>\r\nBcc: victim@example.com"),
        ("unsubscribe_url", "https://cc.example/u\r\nBcc: v@example.com"),
        ("unsubscribe_mailto", "u@agency.example\nBcc: v@example.com"),
        ("message_id_domain", "example.com\r\nBcc: v@example.com"),
    ],
)
def test_header_injection_is_refused(field: str, value: str) -> None:
    with pytest.raises(ValueError, match="line breaks"):
        _compose(**{field: value})


def test_references_with_line_breaks_are_refused() -> None:
    with pytest.raises(ValueError, match="line breaks"):
        _compose(references=["<a@b>\nBcc: v@example.com"])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("to_address", "bob@a@b", "single email address"),
        ("to_address", "not-an-address", "single email address"),
        ("to_address", "a, b@c.example", "valid email address"),
        ("unsubscribe_url", "ftp://cc.example/u", "https://"),
        ("unsubscribe_url", "http://cc.example/u", "https://"),
        ("unsubscribe_url", "https://cc.example/u>x", "angle brackets"),
        ("in_reply_to", "no-brackets@x", "Message-IDs"),
    ],
)
def test_malformed_values_are_refused(field: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _compose(**{field: value})


def test_plain_http_is_allowed_for_localhost_demo() -> None:
    assert _compose(unsubscribe_url="http://localhost:8000/u/t")["List-Unsubscribe"].startswith(
        "<http://localhost:8000/u/t>"
    )


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _compose(now=datetime(2026, 3, 2, 9, 30))


def test_approval_hash_is_stable_and_sensitive() -> None:
    base = approval_hash("bob@conf.example", "Hi", "Body\nline")
    assert base == approval_hash("bob@conf.example", "Hi", "Body\r\nline")
    assert len(base) == 64
    assert base != approval_hash("bob@conf.example", "Hi", "Body\nline.")
    assert base != approval_hash("eve@conf.example", "Hi", "Body\nline")
    assert base != approval_hash("bob@conf.example", "Hi!", "Body\nline")


@given(a=st.tuples(st.text(), st.text(), st.text()), b=st.tuples(st.text(), st.text(), st.text()))
def test_approval_hash_is_unambiguous(a: tuple[str, str, str], b: tuple[str, str, str]) -> None:
    def canon(t: tuple[str, str, str]) -> tuple[str, str, str]:
        return t[0], t[1], re.sub(r"\r\n?", "\n", t[2])

    if canon(a) != canon(b):
        assert approval_hash(*a) != approval_hash(*b)


def test_approval_hash_does_not_collide_on_shifted_boundaries() -> None:
    assert approval_hash("a|b", "c", "") != approval_hash("a", "b|c", "")
    assert approval_hash("ab", "", "c") != approval_hash("a", "b", "c")


# ---------------------------------------------------------------------------------------
# Differential check against a snapshot of the reference (pre-optimisation) implementation.
#
# tests/fixtures/compose/golden.json MUST be generated from the reference implementation:
# the straightforward stdlib version of compose_email (every header set with
# ``message[name] = value`` and the body with ``set_content``), i.e. compose.py as of commit
# b3ebdc001ef8efc1884d792e65adb837c8aea996, never from the optimised module under test:
#
#   git show b3ebdc0:src/commandcentre/outreach/compose.py > /tmp/compose_reference.py
#   git show b3ebdc0:src/commandcentre/outreach/channels/email.py > /tmp/email_reference.py
#   .venv/bin/python tests/outreach/test_compose.py /tmp/compose_reference.py \
#       /tmp/email_reference.py
#
# (Only the caching of _wire_policy changed in email.py since then, not what it returns; the
# second file is optional and defaults to the current _wire_policy.)
#
# The fixture stores no inputs (they come from _corpus(); one digest of them detects drift).
# Per case it keeps, as text, the exact wire bytes (and the SMTPUTF8 ones where they differ),
# which are compared on the Python minor version the snapshot was taken with, and a SHA-256
# of the canonical JSON of each decoded view: the parsed message (headers in order with their
# decoded values, Content-Type, charset, transfer encoding, decoded body and defects), the
# same for the SMTPUTF8 bytes, and the in-memory message. Those views are compared on every
# Python version, where folding details and so the bytes may differ. Errors stay as text.

GOLDEN = Path(__file__).parent.parent / "fixtures" / "compose" / "golden.json"
FIXED_TOKEN = "0123456789abcdef0123456789abcdef"

_NAMES = [
    "",
    "Ana",
    "Ana Smith",
    "Ana Müller",
    "Dr. Ana Smith",
    "Smith, Ana",
    'Ana "The Voice" Smith',
    "José",
    "山田 太郎",
    "Ana  Smith",
    " Ana ",
    "=?utf-8?q?Ana?=",
    "Ana (Events)",
    "Ana\tSmith",
    "Ana 🎤 Smith",
    "Ánä Öst-Müller, Events & Partnerships Team at Agentur für Vorträge GmbH",
    "A" * 90,
    "O'Neil",
    "ana@agency",
    "Ana <x>",
    "Ana\\Smith",
]
_SENDERS = ["ana@agency.example", "Ana.Smith+out@Agency.Example", "a@b"]
_RECIPIENTS = [
    "bob@conf.example",
    "Bob.Smith+tag@Conf.Example",
    '"bob smith"@conf.example',
    "o'neil@conf.example",
    "bob@xn--mnchen-3ya.example",
    "bob@münchen.example",
    "x@y",
    "bob=?x?=@conf.example",
    "{bob}|~@conf-1.example",
]
_SUBJECT_WORDS = [
    "Your",
    "talk",
    "at",
    "PyCon",
    "Grüße",
    "aus",
    "München",
    "—",
    "🎤",
    "façade",
    "naïve",
    "東京",
    "re:",
    "=?utf-8?q?x?=",
    "(note)",
    "<x>",
    '"quoted"',
    "a,b;c",
]
_FIXED_SUBJECTS = [
    "",
    " ",
    "Your talk at PyCon",
    "  leading and trailing  ",
    "tab\tinside",
    "form\x0cfeed",
    "vertical\x0btab",
    "group\x1dsep",
    "next\x85line",
    "line\u2028sep",
    "=?utf-8?q?caf=C3=A9?=",
    "x=?y",
    "Re: already a reply",
    "RE: shouting reply",
    "ascii " * 200,
    "ü" * 700,
    "Grüße " * 60,
    "a" * 989,
    "a" * 990,
    "ö" + "a" * 400,
]
_BODIES = [
    "Hi Bob,\r\nloved the talk.\n.\nAna",
    "",
    "\n\n\n",
    "One line, no newline",
    "CR only\rline two\r\rline four",
    "Grüße aus München\r\n\r\nAna",
    "From the start\nFrom here\n>From there",
    "trailing spaces   \nand tabs\t\n",
    "x" * 1200,
    "ä" * 1200,
    "=3D equals and soft=\nbreaks =",
    "emoji 🎤 and CJK 東京\n" * 20,
    "a" * 998 + "\n" + "b" * 999,
    ".\n..\n.",
    "\x0cform feed\x0b and vt \x1c",
    "tab\tseparated\tvalues\n" * 15,
]
_POSTAL = [None, "", "Agency Ltd\n1 Main Street\nSpringfield", "Agentur GmbH, Straße 1, München"]
_URLS = [
    "https://cc.example/u/t",
    LONG_URL,
    "https://cc.example/unsubscribe/" + "x" * 760,
    "http://localhost:8000/u/t",
    "https://cc.example/u?t=a%20b&x=1#frag",
    "https://cc.example/u/=?utf-8?q?x?=",
]
_MAILTOS = [
    None,
    "",
    "unsubscribe@agency.example",
    "mailto:u@agency.example?subject=unsubscribe",
    "MAILTO:U@AGENCY.EXAMPLE",
]
_IDS = ["<first@agency.example>", "<second@agency.example>", "<a.b-c_d@x.example>", "<=?x?=@y>"]
_NOWS = [
    datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 7, 1, 8, 0, tzinfo=timezone(timedelta(hours=-7))),
    datetime(1999, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
]
_BAD_INPUTS: list[dict[str, Any]] = [
    {"subject": "Hello\r\nBcc: victim@example.com"},
    {"to_address": "bob@a@b"},
    {"to_address": "not-an-address"},
    {"to_address": "a, b@c.example"},
    {"to_address": "@conf.example"},
    {"to_address": "bob@"},
    {"to_address": "jürgen@conf.example"},
    {"to_address": "bob..x@conf.example"},
    {"to_address": "bob @conf.example"},
    {"to_address": "bob@conf..example"},
    {"to_address": "<bob@conf.example>"},
    {"from_address": "Ana <ana@agency.example>"},
    {"from_name": "Ana\x00"},
    {"unsubscribe_url": "ftp://cc.example/u"},
    {"unsubscribe_url": "http://cc.example/u"},
    {"unsubscribe_url": "https://cc.example/u>x"},
    {"unsubscribe_url": "https:///no-host"},
    {"unsubscribe_url": "https://cc.example/" + "x" * 800},
    {"unsubscribe_mailto": "no-at-sign"},
    {"unsubscribe_mailto": "a b@c"},
    {"in_reply_to": "no-brackets@x"},
    {"references": ["<ok@x>", "<bad>"]},
    {"message_id_domain": "bad domain"},
    {"message_id_domain": "-bad.example"},
    {"now": datetime(2026, 3, 2, 9, 30)},
]


@functools.cache
def _corpus() -> list[dict[str, Any]]:
    """Deterministic inputs: every listed value at least once, plus seeded combinations."""
    rng = random.Random(20260302)
    cases: list[dict[str, Any]] = []

    def subject() -> str:
        words = [rng.choice(_SUBJECT_WORDS) for _ in range(rng.randint(2, 45))]
        return " ".join(words)[: rng.randint(10, 300)]

    def case(**overrides: Any) -> None:
        fields: dict[str, Any] = {
            "from_address": rng.choice(_SENDERS),
            "from_name": rng.choice(_NAMES),
            "to_address": rng.choice(_RECIPIENTS),
            "subject": subject(),
            "body": rng.choice(_BODIES),
            "message_id_domain": rng.choice(["mail.agency.example", "x", "a-b.c-d.example"]),
            "unsubscribe_url": rng.choice(_URLS),
            "unsubscribe_mailto": rng.choice(_MAILTOS),
            "postal_address": rng.choice(_POSTAL),
            "now": rng.choice(_NOWS),
        }
        if rng.random() < 0.5:
            fields["in_reply_to"] = rng.choice(_IDS)
            fields["references"] = rng.sample(_IDS, rng.randint(0, len(_IDS)))
        fields.update(overrides)
        cases.append(fields)

    for name in _NAMES:
        case(from_name=name)
    for sender in _SENDERS:
        case(from_address=sender)
    for recipient in _RECIPIENTS:
        case(to_address=recipient)
    for fixed in _FIXED_SUBJECTS:
        case(subject=fixed)
        case(subject=fixed, in_reply_to="<p@agency.example>")
    for body in _BODIES:
        case(body=body)
    for postal in _POSTAL:
        case(postal_address=postal)
    for url in _URLS:
        case(unsubscribe_url=url)
    for mailto in _MAILTOS:
        case(unsubscribe_mailto=mailto)
    for now in _NOWS:
        case(now=now)
    case(in_reply_to=None, references=["<a@x>", "<b@x>", "<a@x>"])
    case(in_reply_to="<b@x>", references=["<b@x>", "<a@x>"])
    case(in_reply_to=" <b@x> ", references=[" <a@x>"])
    case(in_reply_to="<p@x>", references=[f"<ref{i}@mail.agency.example>" for i in range(60)])
    case(in_reply_to="", references=[])
    for _ in range(100):
        case()
    for bad in _BAD_INPUTS:
        case(**bad)
    return cases


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in fields.items()
    }


def _parsed_view(raw: bytes) -> dict[str, Any]:
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    content = parsed.get_content()
    return {
        "headers": [[name, str(value)] for name, value in parsed.items()],
        "content_type": parsed.get_content_type(),
        "charset": parsed.get_content_charset(),
        "cte": parsed.get("Content-Transfer-Encoding"),
        "body": content,
        "defects": sorted(type(defect).__name__ for defect in parsed.defects),
    }


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(",", ":"))


def _digest(value: Any) -> str:
    return hashlib.sha256(_canonical(value).encode("ascii")).hexdigest()


def _inputs_digest() -> str:
    return _digest([_jsonable(fields) for fields in _corpus()])


def _text(raw: bytes) -> str:
    # Lossless: surrogateescape keeps any byte that is not UTF-8, and maps back exactly.
    return raw.decode("utf-8", "surrogateescape")


def _utf8_delta(wire: str, wire_utf8: str) -> dict[str, Any] | None:
    """The SMTPUTF8 wire text as an edit of ``wire``: None when equal, else the changed lines.

    They differ only in a few header lines (those with non-ASCII text), so only those are
    stored: the first ``keep_first`` and last ``keep_last`` lines are wire's.
    """
    if wire_utf8 == wire:
        return None
    old, new = wire.split("\r\n"), wire_utf8.split("\r\n")
    first = 0
    while first < min(len(old), len(new)) and old[first] == new[first]:
        first += 1
    last = 0
    while last < min(len(old), len(new)) - first and old[-1 - last] == new[-1 - last]:
        last += 1
    delta = {"keep_first": first, "lines": new[first : len(new) - last], "keep_last": last}
    assert _apply_utf8_delta(wire, delta) == wire_utf8
    return delta


def _apply_utf8_delta(wire: str, delta: dict[str, Any] | None) -> str:
    if delta is None:
        return wire
    lines = wire.split("\r\n")
    kept_last = lines[len(lines) - delta["keep_last"] :] if delta["keep_last"] else []
    return "\r\n".join([*lines[: delta["keep_first"]], *delta["lines"], *kept_last])


def _outcome(
    fields: dict[str, Any],
    compose: Callable[..., EmailMessage] = compose_email,
    wire_policy: Callable[[EmailMessage, bool], Policy] = _wire_policy,
) -> dict[str, Any]:
    with mock.patch.object(secrets, "token_hex", return_value=FIXED_TOKEN):
        try:
            message = compose(**fields)
        except Exception as exc:  # the exact exception is part of the snapshot
            return {"error": f"{type(exc).__name__}: {exc}"}
    content = message.get_content()
    wire = message.as_bytes(policy=wire_policy(message, False))
    wire_utf8 = message.as_bytes(policy=wire_policy(message, True))
    parsed = _parsed_view(wire)
    parsed_utf8 = _parsed_view(wire_utf8)
    in_memory = {
        "headers": [[name, str(value)] for name, value in message.items()],
        "content_type": message.get_content_type(),
        "charset": message.get_content_charset(),
        "content": content,
    }
    return {
        "wire": _text(wire),
        "wire_utf8": _utf8_delta(_text(wire), _text(wire_utf8)),
        "default_bytes_equal_wire": message.as_bytes() == wire,
        "parsed": _digest(parsed),
        "parsed_utf8": None if parsed_utf8 == parsed else _digest(parsed_utf8),
        "in_memory": _digest(in_memory),
    }


# Version-dependent: compared only on the Python minor version of the snapshot.
_WIRE_KEYS = ("wire", "wire_utf8")


@functools.cache
def _golden() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert data["cases"], "empty golden corpus"
    return data


def _golden_cases() -> list[dict[str, Any]]:
    return list(_golden()["cases"])


def test_golden_corpus_matches_the_current_inputs() -> None:
    # Guards against the corpus code drifting away from the stored snapshot.
    assert len(_golden_cases()) == len(_corpus())
    assert _golden()["inputs_sha256"] == _inputs_digest()


@pytest.mark.parametrize("index", range(len(_corpus())))
def test_output_matches_reference_implementation(index: int) -> None:
    fields = dict(_corpus()[index])
    expected = _golden_cases()[index]
    actual = _outcome(fields)
    if "error" in expected:
        assert actual == expected
        return
    if tuple(_golden()["python"]) == sys.version_info[:2]:
        # Folding details differ between Python versions; bytes are compared on the one the
        # snapshot was taken with. First, so that a failure shows a readable diff.
        assert actual["wire"] == expected["wire"]
        assert _apply_utf8_delta(actual["wire"], actual["wire_utf8"]) == _apply_utf8_delta(
            expected["wire"], expected["wire_utf8"]
        )
        assert actual == expected
    else:
        views = {key: value for key, value in actual.items() if key not in _WIRE_KEYS}
        assert views == {key: value for key, value in expected.items() if key not in _WIRE_KEYS}


# The fast path stores some headers as raw lines (EmailMessage.set_raw) instead of header
# objects; these pin that doing so never changes the bytes or what a reader sees.

_PRINTABLE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=120)
# The unstructured headers whose values come from callers; To, Message-ID, Date and
# MIME-Version are raw only in the narrow shapes checked below or by the golden corpus.
_RAW_HEADERS = ["Subject", "In-Reply-To", "References", "List-Unsubscribe"]


def _same_on_the_wire(raw: EmailMessage, assigned: EmailMessage, name: str) -> None:
    for utf8 in (False, True):
        assert raw.as_bytes(policy=_wire_policy(raw, utf8)) == assigned.as_bytes(
            policy=_wire_policy(assigned, utf8)
        )
    assert str(raw[name]) == str(assigned[name])


@given(name=st.sampled_from(_RAW_HEADERS), value=_PRINTABLE)
def test_raw_headers_match_assigned_headers(name: str, value: str) -> None:
    if not compose_module._verbatim(name, value):
        return
    assigned = EmailMessage(policy=compose_module.OUTREACH_POLICY)
    raw = EmailMessage(policy=compose_module.OUTREACH_POLICY)
    try:
        assigned[name] = value
    except (ValueError, IndexError, HeaderParseError):
        return  # the stdlib refuses it; composing never produces such a value here
    compose_module._put(raw, name, value)
    _same_on_the_wire(raw, assigned, name)


@given(st.from_regex(compose_module._SIMPLE_ADDR_SPEC, fullmatch=True))
def test_simple_recipients_skip_the_parser_without_changing_anything(addr_spec: str) -> None:
    address = Address(addr_spec=addr_spec)
    assert address.username
    assert address.domain
    assert str(address) == addr_spec
    assert compose_module._recipient(addr_spec) == addr_spec
    raw = EmailMessage(policy=compose_module.OUTREACH_POLICY)
    compose_module._put(raw, "To", addr_spec)
    assigned = EmailMessage(policy=compose_module.OUTREACH_POLICY)
    assigned["To"] = address
    _same_on_the_wire(raw, assigned, "To")


@given(
    st.from_regex(
        r"[A-Za-z0-9]([A-Za-z0-9-]{0,8}[A-Za-z0-9])?(\.[a-z0-9]{1,5}){0,3}", fullmatch=True
    )
)
def test_message_ids_are_stored_exactly_as_assigned(domain: str) -> None:
    message_id = make_message_id(domain)
    raw = EmailMessage(policy=compose_module.OUTREACH_POLICY)
    compose_module._put(raw, "Message-ID", message_id)
    assigned = EmailMessage(policy=compose_module.OUTREACH_POLICY)
    assigned["Message-ID"] = message_id
    _same_on_the_wire(raw, assigned, "Message-ID")


@given(st.datetimes(min_value=datetime(1970, 1, 1), timezones=st.just(UTC)))
def test_dates_are_stored_exactly_as_assigned(moment: datetime) -> None:
    value = format_datetime(moment)
    raw = EmailMessage(policy=compose_module.OUTREACH_POLICY)
    compose_module._put(raw, "Date", value)
    assigned = EmailMessage(policy=compose_module.OUTREACH_POLICY)
    assigned["Date"] = value
    _same_on_the_wire(raw, assigned, "Date")


@given(name=st.sampled_from(_NAMES), addr=st.sampled_from(_SENDERS))
def test_cached_sender_matches_a_freshly_assigned_one(name: str, addr: str) -> None:
    stored = EmailMessage(policy=compose_module.OUTREACH_POLICY)
    compose_module._put(stored, "From", compose_module._sender(addr, name))
    fresh = EmailMessage(policy=compose_module.OUTREACH_POLICY)
    fresh["From"] = Address(display_name=name, addr_spec=addr)
    _same_on_the_wire(stored, fresh, "From")


def test_ancient_dates_keep_the_stdlib_reading() -> None:
    message = _compose(now=datetime(50, 3, 2, 9, 30, tzinfo=UTC))
    assert message["Date"] == format_datetime(datetime(2050, 3, 2, 9, 30, tzinfo=UTC))


def test_shared_mime_headers_are_not_changed_through_one_message() -> None:
    first, second = _compose(), _compose()
    first.set_param("format", "flowed")
    first.replace_header("Content-Transfer-Encoding", "8bit")
    assert second["Content-Type"] == 'text/plain; charset="utf-8"'
    assert second["Content-Transfer-Encoding"] == "7bit"
    assert _compose()["Content-Type"] == 'text/plain; charset="utf-8"'


def test_callers_can_still_edit_and_read_the_message() -> None:
    message = _compose(from_name="Ana Smith")
    message.replace_header("Message-ID", "<fixed@mail.agency.example>")
    assert message["Message-ID"] == "<fixed@mail.agency.example>"
    assert message.get_all("Message-ID") == ["<fixed@mail.agency.example>"]
    assert [str(v) for v in message.get_all("From", [])] == ["Ana Smith <ana@agency.example>"]
    assert message["To"].addresses[0].domain == "conf.example"
    assert message["Date"].datetime == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert b"Message-ID: <fixed@mail.agency.example>\r\n" in message.as_bytes()
    with pytest.raises(ValueError, match="at most 1"):
        message["Subject"] = "a second subject"


def _load_reference(path: str) -> ModuleType:
    """Import a reference source file under a private name, apart from the package."""
    name = f"_compose_reference_{Path(path).stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _write_golden(
    reference: ModuleType, wire_policy: Callable[[EmailMessage, bool], Policy] = _wire_policy
) -> None:
    """Snapshot ``reference.compose_email`` (the reference module, never the one under test)."""
    assert reference is not compose_module, "the snapshot must come from the reference"
    cases = [_outcome(fields, reference.compose_email, wire_policy) for fields in _corpus()]
    payload = {
        "python": list(sys.version_info[:2]),
        "inputs_sha256": _inputs_digest(),
        "cases": cases,
    }
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(payload, indent=1, ensure_ascii=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(f"usage: {sys.argv[0]} REFERENCE_COMPOSE_PY [REFERENCE_EMAIL_PY]")
    _write_golden(
        _load_reference(sys.argv[1]),
        _load_reference(sys.argv[2])._wire_policy if len(sys.argv) == 3 else _wire_policy,
    )
