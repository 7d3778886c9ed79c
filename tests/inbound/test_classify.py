"""Inbound parsing and classification on realistic messages (``tests/fixtures/inbound``)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from commandcentre.inbound.classify import (
    Classification,
    classify,
    classify_raw,
    find_return_date,
    own_text,
    sentiment,
)
from commandcentre.inbound.models import CLASSIFICATIONS
from commandcentre.inbound.parse import (
    MAX_BODY_CHARS,
    MAX_RAW_BYTES,
    UnparseableMessage,
    html_to_text,
    parse_message,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "inbound"


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.eml").read_bytes()


def classified(name: str) -> Classification:
    return classify_raw(fixture(name))


# --- classification of every fixture ------------------------------------------------------

EXPECTED: dict[str, tuple[str, str | None]] = {
    "gmail_reply_positive": ("reply", "positive"),
    "outlook_reply_negative": ("reply", "negative"),
    "french_cp1252_positive": ("reply", "positive"),
    "mislabeled_charset": ("reply", "positive"),
    "unknown_charset": ("reply", "negative"),
    "html_only_reply": ("reply", "positive"),
    "forwarded_inline": ("reply", "neutral"),
    "forwarded_attachment": ("reply", "positive"),
    "exchange_ooo": ("out_of_office", None),
    "gmail_vacation": ("out_of_office", None),
    "german_ooo": ("out_of_office", None),
    "french_ooo_no_header": ("out_of_office", None),
    "postfix_dsn_hard": ("bounce_hard", None),
    "exchange_ndr_hard": ("bounce_hard", None),
    "exim_bounce_hard": ("bounce_hard", None),
    "gmail_dsn_soft": ("bounce_soft", None),
    "exim_delay_soft": ("bounce_soft", None),
    "unsubscribe_reply": ("unsubscribe", "negative"),
    "list_unsubscribe_mailto": ("unsubscribe", "negative"),
    "spanish_unsubscribe": ("unsubscribe", "negative"),
}


def test_every_fixture_has_an_expectation() -> None:
    names = {p.stem for p in FIXTURES.glob("*.eml")} - {"garbage"}
    assert names == set(EXPECTED)


@pytest.mark.parametrize(("name", "expected"), sorted(EXPECTED.items()))
def test_fixture_classification(name: str, expected: tuple[str, str | None]) -> None:
    result = classified(name)
    assert (result.kind, result.sentiment) == expected, result.reason
    assert result.kind in CLASSIFICATIONS
    assert not result.quarantine
    assert result.reason


@pytest.mark.parametrize(
    ("name", "returning"),
    [
        ("exchange_ooo", date(2026, 3, 12)),  # "will be back on 12 March"
        ("gmail_vacation", date(2026, 3, 16)),  # "returning 03/16/2026" beats "until Monday"
        ("german_ooo", date(2026, 3, 20)),  # "bis zum 20.03.2026"
        ("french_ooo_no_header", date(2026, 3, 16)),  # "De retour le 16 mars"
    ],
)
def test_out_of_office_return_dates(name: str, returning: date) -> None:
    assert classified(name).return_date == returning


def test_garbage_is_quarantined_with_a_reason() -> None:
    result = classified("garbage")
    assert result.quarantine
    assert result.kind == "unknown"
    assert "header" in result.reason


# --- parsing --------------------------------------------------------------------------------


def test_reply_headers_are_parsed() -> None:
    parsed = parse_message(fixture("gmail_reply_positive"))
    assert parsed.message_id == "<CAF=abc+xyz123@mail.gmail.com>"
    assert parsed.in_reply_to == "<20260302090000.abc123@ourco.example>"
    assert parsed.references == ("<20260302090000.abc123@ourco.example>",)
    assert parsed.from_address == "jane.doe@example.com"
    assert parsed.from_name == "Jane Doe"
    assert parsed.to == ("alex@ourco.example",)
    assert parsed.date == datetime(2026, 3, 3, 9, 12, 20, tzinfo=UTC)
    assert parsed.body_source == "plain"
    assert "I'd love to meet" in parsed.body_text
    assert parsed.problems == ()


def test_encoded_word_subjects_and_names_are_decoded() -> None:
    german = parse_message(fixture("german_ooo"))
    assert german.subject == "Abwesenheitsnotiz: Ihr Vortrag auf der DataConf"
    assert german.from_name == "Jürgen Weiß"
    assert "nicht im Büro" in german.body_text  # iso-8859-1 body
    assert parse_message(fixture("spanish_unsubscribe")).subject == "Re: Su charla en DataConf"
    assert parse_message(fixture("unknown_charset")).subject.startswith("Привет")


def test_wrong_or_unknown_charsets_decode_with_a_problem_noted() -> None:
    unknown = parse_message(fixture("unknown_charset"))
    assert "No thanks" in unknown.body_text
    assert any("charset" in p for p in unknown.problems)
    mislabeled = parse_message(fixture("mislabeled_charset"))
    assert "Grüße" in mislabeled.body_text  # latin-1 bytes in a "utf-8" part


def test_html_only_body_is_stripped_with_quotes_marked() -> None:
    parsed = parse_message(fixture("html_only_reply"))
    assert parsed.body_source == "html"
    assert "Sounds great \u2013 let's meet on Tuesday." in parsed.body_text
    assert "alert" not in parsed.body_text
    assert "ignored title" not in parsed.body_text
    assert "> Not interested?" in parsed.body_text
    assert "Not interested" not in own_text(parsed.body_text)


@pytest.mark.parametrize(
    ("name", "action", "status", "recipient", "original"),
    [
        (
            "postfix_dsn_hard",
            "failed",
            "5.1.1",
            "nobody@example.com",
            "<20260302090000.abc999@ourco.example>",
        ),
        (
            "exchange_ndr_hard",
            "failed",
            "5.1.10",
            "gone@contoso.example",
            "<20260303105950.zzz111@ourco.example>",
        ),
        (
            "gmail_dsn_soft",
            "delayed",
            "4.2.2",
            "full@example.net",
            "<20260304110000.qqq222@ourco.example>",
        ),
    ],
)
def test_delivery_status_reports(
    name: str, action: str, status: str, recipient: str, original: str
) -> None:
    parsed = parse_message(fixture(name))
    assert parsed.report_type == "delivery-status"
    [report] = parsed.delivery_status
    assert (report.action, report.status, report.final_recipient) == (action, status, recipient)
    assert parsed.original_message_id == original


def test_plain_text_bounce_finds_the_original_message_id() -> None:
    parsed = parse_message(fixture("exim_bounce_hard"))
    assert parsed.original_message_id == "<20260305095900.exm333@ourco.example>"
    assert parsed.auto_header("x-failed-recipients") == "left@hoster.example"


def test_a_forwarded_message_is_not_a_returned_one() -> None:
    parsed = parse_message(fixture("forwarded_attachment"))
    assert parsed.original_message_id is None
    assert "Automatic reply" not in parsed.body_text  # the attached message is not the body


def test_unsubscribe_request_flag() -> None:
    assert parse_message(fixture("list_unsubscribe_mailto")).unsubscribe_request
    assert not parse_message(fixture("unsubscribe_reply")).unsubscribe_request


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(b"", "empty"), (b"   \r\n  ", "empty"), (b"x" * (MAX_RAW_BYTES + 1), "larger")],
)
def test_unparseable_input_raises_one_specific_error(raw: bytes, reason: str) -> None:
    with pytest.raises(UnparseableMessage, match=reason):
        parse_message(raw)
    result = classify_raw(raw)
    assert result.quarantine
    assert reason in result.reason


def test_long_bodies_are_truncated() -> None:
    raw = b"From: a@b.example\r\nSubject: long\r\n\r\n" + b"word " * (MAX_BODY_CHARS // 2)
    parsed = parse_message(raw)
    assert parsed.body_truncated
    assert len(parsed.body_text) == MAX_BODY_CHARS


def test_message_without_sender_is_quarantined() -> None:
    result = classify_raw(b"Subject: hello\r\nMessage-ID: <x@y>\r\n\r\nHi there, interested!\r\n")
    assert result.quarantine
    assert result.reason == "no sender address"


def test_precedence_bulk_newsletter_is_unknown_not_a_reply() -> None:
    raw = (
        b"From: news@vendor.example\r\nSubject: March newsletter\r\nPrecedence: bulk\r\n"
        b"\r\nOur product news. Interested? Book a demo.\r\n"
    )
    result = classify_raw(raw)
    assert (result.kind, result.quarantine) == ("unknown", False)
    assert "Precedence" in result.reason


def test_human_mentioning_an_absence_with_intent_stays_a_reply() -> None:
    raw = (
        b"From: jane@example.com\r\nSubject: Re: DataConf\r\n\r\n"
        b"I'm on vacation until Friday but I'm interested - let's meet at the event.\r\n"
    )
    result = classify_raw(raw)
    assert (result.kind, result.sentiment) == ("reply", "positive")


def test_out_of_office_subject_on_a_human_answer_stays_a_reply() -> None:
    raw = (
        b"From: jane@example.com\r\nSubject: Out of office next week?\r\n\r\n"
        b"No thanks, not interested.\r\n"
    )
    result = classify_raw(raw)
    assert (result.kind, result.sentiment) == ("reply", "negative")


def test_long_reply_mentioning_unsubscribe_is_a_negative_reply() -> None:
    text = (
        "Thanks Alex. Honestly, we are not interested right now because our budget is "
        "committed for the year, and I think the unsubscribe link in your footer is broken. "
    ) * 4
    raw = b"From: jane@example.com\r\nSubject: Re: DataConf\r\n\r\n" + text.encode()
    result = classify_raw(raw)
    assert (result.kind, result.sentiment) == ("reply", "negative")


def test_delivery_report_for_a_successful_delivery_is_unknown() -> None:
    raw = (
        b"From: postmaster@example.com\r\nSubject: Delivered: hi\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nDelivered.\r\n"
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
        b"Final-Recipient: rfc822; a@example.com\r\nAction: delivered\r\nStatus: 2.0.0\r\n"
        b"--b--\r\n"
    )
    assert classify_raw(raw).kind == "unknown"


def _report(status: str, action: str) -> bytes:
    return (
        b"From: MAILER-DAEMON@mx.example\r\nSubject: Delivery Status Notification\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
        + f"Final-Recipient: rfc822; a@example.com\r\nAction: {action}\r\n".encode()
        + (f"Status: {status}\r\n".encode() if status else b"")
        + b"--b--\r\n"
    )


@pytest.mark.parametrize(
    ("status", "action", "kind"),
    [
        ("5.2.2", "failed", "bounce_hard"),
        ("4.4.7", "failed", "bounce_soft"),  # gave up on a temporary problem
        ("", "failed", "bounce_hard"),
        ("", "delayed", "bounce_soft"),
        ("5.7.1", "delayed", "bounce_hard"),
    ],
)
def test_status_code_decides_hard_or_soft(status: str, action: str, kind: str) -> None:
    assert classify_raw(_report(status, action)).kind == kind


def test_received_at_is_the_reference_when_there_is_no_date_header() -> None:
    raw = b"From: a@example.com\r\nAuto-Submitted: auto-replied\r\n\r\nI am back on 5 May.\r\n"
    parsed = parse_message(raw)
    result = classify(parsed, received_at=datetime(2026, 4, 20, tzinfo=UTC))
    assert result.return_date == date(2026, 5, 5)
    assert classify(parsed).return_date is None  # no year, no reference: not guessed


# --- helpers --------------------------------------------------------------------------------

REFERENCE = date(2026, 3, 5)  # a Thursday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I will be back on 12 March.", date(2026, 3, 12)),
        ("Back on March 12th, 2026", date(2026, 3, 12)),
        ("returning 03/12/2026", date(2026, 3, 12)),
        ("returning 12/03/2026", date(2026, 3, 12)),  # nearer reading wins
        ("out until 2026-03-20", date(2026, 3, 20)),
        ("Ich bin bis zum 15.03. nicht im Büro", date(2026, 3, 15)),
        ("de retour le 16 mars", date(2026, 3, 16)),
        ("estaré fuera hasta el 18 de marzo", date(2026, 3, 18)),
        ("back on Monday", date(2026, 3, 9)),
        ("away from 2 March until 12 March", date(2026, 3, 12)),
        ("back on the 5th of January", date(2027, 1, 5)),
        ("until Monday 4th", date(2026, 5, 4)),  # the next 4th that is a Monday
        ("call me on +49 30 1234567", None),
        ("back in 1999-01-01", None),  # implausible
        ("", None),
    ],
)
def test_find_return_date(text: str, expected: date | None) -> None:
    assert find_return_date(text, REFERENCE) == expected


def test_find_return_date_without_reference_needs_a_year() -> None:
    assert find_return_date("back on 12 March", None) is None
    assert find_return_date("back 2026-03-12", None) == date(2026, 3, 12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes, sounds good, let's meet", "positive"),
        ("Not interested, thanks", "negative"),
        ("No thanks.", "negative"),
        ("Kein Interesse.", "negative"),
        ("Gerne, klingt gut!", "positive"),
        ("Non merci.", "negative"),
        ("Avec plaisir.", "positive"),
        ("No me interesa.", "negative"),
        ("Con gusto, hablemos.", "positive"),
        ("Who is this?", "neutral"),
    ],
)
def test_sentiment(text: str, expected: str) -> None:
    assert sentiment(text) == expected


def test_own_text_drops_quotes_and_signatures() -> None:
    body = "Sure!\n\n-- \nJane\nCEO\n> quoted\n"
    assert own_text(body) == "Sure!"
    assert own_text("Ja.\nAm 2. März 2026 um 10:00 schrieb Alex:\n> hi") == "Ja."
    assert own_text("Oui.\nLe lun. 2 mars 2026, Alex a écrit :\n> hi") == "Oui."


def test_html_to_text_survives_broken_markup() -> None:
    assert html_to_text("<p>Hi <b>there</p><div") == "Hi there"
