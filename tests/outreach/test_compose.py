"""Composing outreach emails: headers, threading, footer, injection and approval hashes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
