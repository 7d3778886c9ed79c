"""Unsubscribe tokens: round trip, URL safety and rejection of anything not ours."""

from __future__ import annotations

import base64
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commandcentre.outreach.unsubscribe import UnsubscribeClaim, make_token, read_token

SECRET = "s3cret-for-tests"
WS = uuid.UUID("0190d9a8-0000-7000-8000-000000000001")
CONTACT = uuid.UUID("0190d9a8-0000-7000-8000-000000000002")


def _token(**overrides: object) -> str:
    fields: dict[str, object] = {"workspace_id": WS, "contact_id": CONTACT, "email": "b@x.example"}
    fields.update(overrides)
    return make_token(SECRET, **fields)  # type: ignore[arg-type]


def test_round_trip() -> None:
    token = _token()
    assert read_token(SECRET, token) == UnsubscribeClaim(str(WS), str(CONTACT), "b@x.example")
    assert read_token(SECRET.encode(), f"  {token}\n") is not None


@given(
    workspace=st.text(min_size=1, max_size=50),
    contact=st.text(min_size=1, max_size=50),
    email=st.text(min_size=1, max_size=80),
)
def test_round_trip_any_text(workspace: str, contact: str, email: str) -> None:
    # Lone surrogates cannot be encoded; they never occur in real ids or addresses.
    for value in (workspace, contact, email):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return
    token = make_token(SECRET, workspace_id=workspace, contact_id=contact, email=email)
    assert token.isascii()
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert read_token(SECRET, token) == UnsubscribeClaim(workspace, contact, email)


def test_wrong_secret_is_rejected() -> None:
    assert read_token("other-secret", _token()) is None


@given(position=st.integers(min_value=0), replacement=st.sampled_from("AQgw-_9z"))
def test_any_tampered_character_is_rejected(position: int, replacement: str) -> None:
    token = _token()
    index = position % len(token)
    if token[index] == replacement:
        return
    tampered = token[:index] + replacement + token[index + 1 :]
    # The last character may carry only padding bits; decoding ignores those, so a change
    # there can yield identical bytes. Anything else must fail.
    if base64.urlsafe_b64decode(tampered + "=" * (-len(tampered) % 4)) == (
        base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    ):
        return
    assert read_token(SECRET, tampered) is None


@pytest.mark.parametrize(
    "garbage",
    ["", "x", "!!!!", "abc=", "a b c", "a+b/c", "A" * 5, "A" * 200, "é", "abcd\x00"],
)
def test_garbage_is_rejected(garbage: str) -> None:
    assert read_token(SECRET, garbage) is None


def test_truncated_and_extended_tokens_are_rejected() -> None:
    token = _token()
    assert read_token(SECRET, token[:-4]) is None
    assert read_token(SECRET, token + "AAAA") is None


def test_other_version_is_rejected_even_if_correctly_signed() -> None:
    # Re-sign a payload with a different version byte, using the module's own key scheme.
    import hashlib
    import hmac

    from commandcentre.outreach import unsubscribe

    raw = base64.urlsafe_b64decode(_token() + "==")
    payload = bytes([2]) + raw[1:-32]
    key = unsubscribe._key(SECRET)
    tag = hmac.new(key, payload, hashlib.sha256).digest()
    forged = base64.urlsafe_b64encode(payload + tag).rstrip(b"=").decode()
    assert read_token(SECRET, forged) is None


def test_empty_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="secret"):
        make_token("", workspace_id=WS, contact_id=CONTACT, email="b@x.example")
    with pytest.raises(ValueError, match="secret"):
        read_token(b"", _token())


def test_empty_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="email"):
        _token(email="")
