"""What an inbound message is: reply, out-of-office, bounce (hard/soft), unsubscribe, unknown.

Rules only, in this order (the first that matches wins; ``docs/followups.md`` lists them):

1. Quarantine what cannot be trusted or attributed: no headers at all, or no sender address
   on anything that is not a delivery report.
2. Bounce: a delivery-status report (``multipart/report; report-type=delivery-status``),
   5.x.x is hard, 4.x.x soft (without a code: ``Action: failed`` hard, ``delayed`` soft); a
   failure notice from mailer-daemon/postmaster (or an automated message with a bounce
   subject), hard or soft by the status codes and wording in its text.
3. Out of office: auto-reply headers (``Auto-Submitted: auto-replied``, ``X-Autoreply``...),
   an auto-reply subject, or absence wording in an automated message; absence wording in a
   plain message only when it reads like a notice (with "currently" or a return cue) and
   carries no reply intent. The return date is read from the text.
4. Unsubscribe: a List-Unsubscribe mailto request, or a short reply whose main intent is to
   stop (en/de/fr/es wording).
5. Other automated mail (``Precedence: bulk``, ``Auto-Submitted: auto-generated``): unknown.
6. Everything else is a human reply, with a rule-based sentiment.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from commandcentre.inbound.parse import (
    ParsedMessage,
    UnparseableMessage,
    is_mail_system,
    parse_message,
)

Kind = Literal["reply", "out_of_office", "bounce_hard", "bounce_soft", "unsubscribe", "unknown"]
Sentiment = Literal["positive", "neutral", "negative"]

# A reply whose own words are longer than this has more to say than "stop".
SHORT_REPLY_CHARS = 400
# How far ahead a return date may lie; anything later is a misread (a year, a phone number).
MAX_RETURN_DAYS = 366


@dataclass(frozen=True)
class Classification:
    kind: Kind
    reason: str
    sentiment: Sentiment | None = None
    return_date: date | None = None
    quarantine: bool = False


# --- text helpers ---------------------------------------------------------------------------

# Lines that start the quoted original in the common clients (en/de/fr/es).
_QUOTE_HEADER = re.compile(
    r"^\s*(?:"
    r"on\b.{0,200}\bwrote:?"
    r"|am\b.{0,200}\bschrieb.{0,60}:?"
    r"|le\b.{0,200}\ba écrit\s*:?"
    r"|el\b.{0,200}\bescribió\s*:?"
    r"|-{2,}\s*(?:original message|ursprüngliche nachricht|message d'origine|mensaje original)"
    r"|-{2,}\s*forwarded message"
    r"|_{10,}"
    r"|(?:from|von|de):\s.{0,200}$"
    r")",
    re.IGNORECASE,
)
_SIGNATURE = re.compile(r"^\s*(?:--\s*|sent from my \w+.*|von meinem .* gesendet.*)$", re.I)


def own_text(body: str) -> str:
    """The sender's own words: the body without quoted lines, the quoted original or the
    signature, so cues in our own quoted email never count as theirs."""
    kept: list[str] = []
    for line in body.splitlines():
        if _QUOTE_HEADER.match(line) or _SIGNATURE.match(line):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("\u2019", "'").split())


def _any(text: str, phrases: tuple[str, ...]) -> str | None:
    return next((p for p in phrases if p in text), None)


# --- bounces --------------------------------------------------------------------------------

_BOUNCE_SUBJECTS = (
    "undelivered mail returned to sender",
    "undeliverable",
    "mail delivery failed",
    "delivery status notification",
    "returned mail",
    "failure notice",
    "delivery failure",
    "mail delivery failure",
    "message not delivered",
    "delivery has failed",
    "warning: message",
    "delayed mail",
    "mail delivery delayed",
    "unzustellbar",
    "nicht zustellbar",
    "non remis",
    "no se puede entregar",
)
_SOFT_WORDS = (
    "delayed",
    "delay",
    "will retry",
    "will be retried",
    "temporar",
    "mailbox full",
    "over quota",
    "try again later",
    "still trying",
)
_SMTP_CODE = re.compile(r"\b([45])[0-5]\d[\s-]")
_ENHANCED = re.compile(r"\b([45])\.\d{1,3}\.\d{1,3}\b")


def _bounce_from_report(parsed: ParsedMessage) -> Classification | None:
    if not parsed.is_delivery_report:
        return None
    statuses = parsed.delivery_status
    codes = {(s.status or "")[:1] for s in statuses}
    actions = {s.action for s in statuses}
    # The status code decides; the action only when there is no code. "failed" with 4.4.7
    # (gave up retrying a temporary problem) is soft: the address itself may be fine.
    if "5" in codes:
        return Classification("bounce_hard", "delivery report: permanent failure (5.x.x)")
    if "4" in codes:
        return Classification("bounce_soft", "delivery report: temporary failure (4.x.x)")
    if "failed" in actions:
        return Classification("bounce_hard", "delivery report: Action failed, no status code")
    if "delayed" in actions:
        return Classification("bounce_soft", "delivery report: Action delayed, no status code")
    if statuses:
        return Classification("unknown", "delivery report without a failure (delivered/relayed)")
    return _bounce_from_text(parsed, "delivery report without status fields")


def _bounce_from_text(parsed: ParsedMessage, why: str) -> Classification:
    text = _norm(parsed.subject + " " + parsed.body_text[:20_000])
    codes = [m.group(1) for m in _ENHANCED.finditer(text)] or [
        m.group(1) for m in _SMTP_CODE.finditer(text)
    ]
    if "5" in codes:
        return Classification("bounce_hard", f"{why}: permanent status code")
    if "4" in codes:
        return Classification("bounce_soft", f"{why}: temporary status code")
    if _any(text, _SOFT_WORDS):
        return Classification("bounce_soft", f"{why}: delay wording")
    return Classification("bounce_hard", f"{why}: failure notice without a temporary code")


def _bounce(parsed: ParsedMessage, automated: bool) -> Classification | None:
    report = _bounce_from_report(parsed)
    if report is not None:
        return report
    subject_hit = _any(_norm(parsed.subject), _BOUNCE_SUBJECTS)
    if is_mail_system(parsed.from_address) and (subject_hit or parsed.original_message_id):
        return _bounce_from_text(parsed, "failure notice from the mail system")
    if subject_hit and (automated or is_mail_system(parsed.from_address)):
        return _bounce_from_text(parsed, f"automated message with bounce subject ({subject_hit})")
    if parsed.auto_header("X-Failed-Recipients"):
        return _bounce_from_text(parsed, "X-Failed-Recipients header")
    return None


# --- out of office --------------------------------------------------------------------------

_OOO_SUBJECTS = (
    "automatic reply",
    "auto reply",
    "autoreply",
    "auto-reply",
    "auto:",
    "out of office",
    "out of the office",
    "ooo",
    "away from the office",
    "on vacation",
    "abwesenheit",
    "automatische antwort",
    "nicht im büro",
    "réponse automatique",
    "absence",
    "absent",
    "respuesta automática",
    "fuera de la oficina",
    "ausente",
)
_OOO_PHRASES = (
    "out of the office",
    "out of office",
    "out-of-office",
    "on vacation",
    "on holiday",
    "on annual leave",
    "on leave",
    "on parental leave",
    "on maternity leave",
    "away from the office",
    "away from my desk",
    "limited access to email",
    "limited access to my email",
    "no access to email",
    "travelling with limited",
    "nicht im büro",
    "abwesend",
    "im urlaub",
    "außer haus",
    "ausser haus",
    "nicht erreichbar",
    "absent du bureau",
    "absente du bureau",
    "en congé",
    "en vacances",
    "hors du bureau",
    "fuera de la oficina",
    "de vacaciones",
    "ausente",
)
# A notice says "currently" or when the sender is back; a person mentioning a trip does not.
_NOTICE_CUES = (
    "currently",
    "i am away",
    "i'm away",
    "until",
    "return",
    "back on",
    "back in the office",
    "zurzeit",
    "derzeit",
    "bis zum",
    "bis einschließlich",
    "zurück",
    "actuellement",
    "jusqu'au",
    "de retour",
    "actualmente",
    "hasta el",
    "regreso",
    "automatic",
    "automatisch",
)
_AUTO_REPLY_VALUES = ("auto-replied", "auto-notified")


def _has_auto_reply_header(parsed: ParsedMessage) -> str | None:
    submitted = (parsed.auto_header("Auto-Submitted") or "").lower()
    if submitted.startswith(_AUTO_REPLY_VALUES):
        return f"Auto-Submitted: {submitted.split(';')[0]}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Vacation"):
        value = (parsed.auto_header(name) or "").lower()
        if value and value not in ("no", "false", "0"):
            return f"{name} header"
    return None


def _is_automated(parsed: ParsedMessage) -> str | None:
    submitted = (parsed.auto_header("Auto-Submitted") or "").lower().strip()
    if submitted and not submitted.startswith("no"):
        return f"Auto-Submitted: {submitted.split(';')[0]}"
    precedence = parsed.auto_header("Precedence") or parsed.auto_header("X-Precedence") or ""
    if precedence.lower().strip() in ("bulk", "list", "junk", "auto_reply"):
        return f"Precedence: {precedence.lower().strip()}"
    for name in ("X-Autogenerated", "X-MS-Exchange-Generated-Message-Source"):
        if parsed.auto_header(name):
            return f"{name} header"
    return None


def _out_of_office(parsed: ParsedMessage, text: str, automated: str | None) -> str | None:
    """The reason it is an out-of-office notice, or None."""
    header = _has_auto_reply_header(parsed)
    subject = _norm(parsed.subject)
    subject_hit = _any(subject, _OOO_SUBJECTS)
    if subject_hit == "ooo" and not re.search(r"\booo\b", subject):
        subject_hit = None
    phrase = _any(text[:3000], _OOO_PHRASES)
    if header:
        return f"auto-reply ({header})"
    if subject_hit and (
        automated or ((phrase or subject.startswith(subject_hit)) and not _reply_intent(text))
    ):
        return f"out-of-office subject ({subject_hit})"
    # Exchange marks its own notices X-Auto-Response-Suppress; some people's clients do too,
    # so it supports absence wording rather than making a message automated on its own.
    suppress = parsed.auto_header("X-Auto-Response-Suppress")
    if phrase and (automated or suppress):
        return f"absence wording in an automated message ({phrase})"
    if phrase and _any(text[:600], _NOTICE_CUES) and not _reply_intent(text):
        return f"absence notice ({phrase})"
    return None


# --- return dates ---------------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan", "januar", "jänner", "janvier", "enero", "ene"),
            ("february", "feb", "februar", "février", "fevrier", "febrero", "fév"),
            ("march", "mar", "märz", "maerz", "mars", "marzo", "mär"),
            ("april", "apr", "avril", "abril", "abr", "avr"),
            ("may", "mai", "mayo"),
            ("june", "jun", "juni", "juin", "junio"),
            ("july", "jul", "juli", "juillet", "julio", "juil"),
            ("august", "aug", "août", "aout", "agosto", "ago"),
            ("september", "sep", "sept", "septembre", "septiembre", "set"),
            ("october", "oct", "oktober", "okt", "octobre", "octubre"),
            ("november", "nov", "novembre", "noviembre"),
            ("december", "dec", "dezember", "dez", "décembre", "decembre", "diciembre", "dic"),
        ],
        start=1,
    )
    for name in names
}
_WEEKDAYS = {
    name: number
    for number, names in enumerate(
        [
            ("monday", "mon", "montag", "lundi", "lunes"),
            ("tuesday", "tue", "tues", "dienstag", "mardi", "martes"),
            ("wednesday", "wed", "mittwoch", "mercredi", "miércoles", "miercoles"),
            ("thursday", "thu", "thurs", "donnerstag", "jeudi", "jueves"),
            ("friday", "fri", "freitag", "vendredi", "viernes"),
            ("saturday", "sat", "samstag", "samedi", "sábado", "sabado"),
            ("sunday", "sun", "sonntag", "dimanche", "domingo"),
        ]
    )
    for name in names
}
_MONTH_RE = "|".join(sorted((re.escape(m) for m in _MONTHS), key=len, reverse=True))
_WEEKDAY_RE = "|".join(sorted((re.escape(w) for w in _WEEKDAYS), key=len, reverse=True))
_ORD = r"(?:st|nd|rd|th|er|e|º|\.)?"
_DATE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("iso", re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")),
    ("numeric", re.compile(r"\b(\d{1,2})([./-])(\d{1,2})\2(\d{4}|\d{2})\b")),
    ("day_month_dot", re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(?!\d)")),
    (
        "day_month",
        re.compile(
            rf"\b(\d{{1,2}}){_ORD}\s*(?:of\s+|de\s+)?({_MONTH_RE})\.?(?:\s*,?\s*(?:de\s+)?(\d{{4}}))?\b"
        ),
    ),
    (
        "month_day",
        re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}}){_ORD}(?:\s*,?\s*(\d{{4}}))?\b"),
    ),
    (
        "weekday_day",
        re.compile(rf"\b({_WEEKDAY_RE}),?\s+(?:the\s+)?(\d{{1,2}}){_ORD}(?!\s*[./-]?\d)"),
    ),
    ("weekday", re.compile(rf"\b(?:on\s+|am\s+|le\s+|el\s+)?({_WEEKDAY_RE})\b")),
)
_RETURN_CUES = re.compile(
    r"\b(?:back|return|returning|until|till|til|through|thru|zurück|bis|ab dem|wieder|"
    r"retour|jusqu|hasta|regreso|vuelvo|regresaré|volveré)",
    re.IGNORECASE,
)


def _safe_date(year: int, month: int, day: int) -> date | None:
    if not (
        1 <= month <= 12 and 1 <= day <= calendar.monthrange(max(1, min(year, 9999)), month)[1]
    ):
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _with_year(month: int, day: int, reference: date) -> date | None:
    """A day without a year means its next occurrence (from a week ago: "back on the 3rd"
    read a few days late still means that 3rd)."""
    for year in (reference.year, reference.year + 1):
        found = _safe_date(year, month, day)
        if found is not None and found >= reference - timedelta(days=7):
            return found
    return None


def _year(text: str | None) -> int | None:
    if not text:
        return None
    value = int(text)
    return value + 2000 if value < 100 else value


def _candidates(kind: str, match: re.Match[str], reference: date) -> list[date]:
    groups = match.groups()
    if kind == "iso":
        found = _safe_date(int(groups[0]), int(groups[1]), int(groups[2]))
        return [found] if found else []
    if kind == "numeric":
        first, sep, second, year_text = groups
        year = _year(year_text) or reference.year
        a, b = int(first), int(second)
        day_first = _safe_date(year, b, a)
        month_first = _safe_date(year, a, b)
        # Dots are day-first everywhere; with slashes both orders are in use, so take
        # whichever reading is the nearer future date (an absence is short).
        if sep == ".":
            return [day_first] if day_first else []
        return sorted((d for d in (month_first, day_first) if d), key=lambda d: abs(d - reference))
    if kind == "day_month_dot":
        found = _with_year(int(groups[1]), int(groups[0]), reference)
        return [found] if found else []
    if kind in ("day_month", "month_day"):
        day_text, month_text, year_text = (
            (groups[0], groups[1], groups[2])
            if kind == "day_month"
            else (groups[1], groups[0], groups[2])
        )
        month = _MONTHS[month_text.lower()]
        explicit = _year(year_text)
        found = (
            _safe_date(explicit, month, int(day_text))
            if explicit is not None
            else _with_year(month, int(day_text), reference)
        )
        return [found] if found else []
    if kind == "weekday_day":
        return _next_day_of_month(int(groups[1]), _WEEKDAYS[groups[0].lower()], reference)
    weekday = _WEEKDAYS[groups[0].lower()]
    ahead = (weekday - reference.weekday()) % 7 or 7
    return [reference + timedelta(days=ahead)]


def _next_day_of_month(day: int, weekday: int, reference: date) -> list[date]:
    """'Monday 4th': the next 4th, preferring one that is a Monday."""
    options = []
    year, month = reference.year, reference.month
    for _ in range(13):
        found = _safe_date(year, month, day)
        if found is not None and found >= reference:
            options.append(found)
        month += 1
        if month > 12:
            year, month = year + 1, 1
    matching = [d for d in options if d.weekday() == weekday]
    return (matching or options)[:1]


def find_return_date(text: str, reference: date | None) -> date | None:
    """The date an absence notice says the sender is back (or away until), if any.

    A date with a day and month beats a bare weekday ("back on Monday"); among equals, the
    first one right after a return cue ("back on", "until", "bis", "jusqu'au", "hasta")
    wins, else the latest. Without a reference date (no Date header) only dates with a year
    are read. Plausible: from a week before the reference to a year after it.
    """
    lowered = text[:5000].lower()
    # (explicit, cued, rank within its group, found): the maximum wins.
    scored: list[tuple[bool, bool, int, date]] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _DATE_PATTERNS:
        for match in pattern.finditer(lowered):
            start, end = match.span()
            if any(s < end and start < e for s, e in taken):
                continue  # a more specific pattern already read this text
            if reference is None and kind not in ("iso", "numeric"):
                continue
            base = reference or date(1, 1, 1)
            found = [d for d in _candidates(kind, match, base) if _plausible(d, reference)]
            if not found:
                continue
            taken.append((start, end))
            cued = bool(_RETURN_CUES.search(lowered[max(0, start - 40) : start]))
            # Cued: the first mention counts; uncued: the latest date.
            rank = -start if cued else found[0].toordinal()
            scored.append((kind != "weekday", cued, rank, found[0]))
    return max(scored)[3] if scored else None


def _plausible(found: date, reference: date | None) -> bool:
    if reference is None:
        return True
    return reference - timedelta(days=7) <= found <= reference + timedelta(days=MAX_RETURN_DAYS)


# --- unsubscribe and sentiment -----------------------------------------------------------------

_UNSUBSCRIBE = (
    "unsubscribe",
    "remove me",
    "take me off",
    "stop emailing",
    "stop e-mailing",
    "stop sending",
    "stop contacting",
    "do not contact",
    "don't contact",
    "do not email",
    "don't email",
    "no more emails",
    "opt out",
    "opt-out",
    "abmelden",
    "austragen",
    "keine weiteren e-mails",
    "keine e-mails mehr",
    "bitte entfernen",
    "nicht mehr kontaktieren",
    "désabonner",
    "désinscrire",
    "désinscription",
    "ne plus recevoir",
    "retirez-moi",
    "dar de baja",
    "darme de baja",
    "no me envíe",
    "no me envíen",
    "no me contacten",
    "elimíname",
    "borrarme",
)
_NEGATIVE = (
    "not interested",
    "no interest",
    "no thanks",
    "no thank you",
    "not a fit",
    "not a good fit",
    "not relevant",
    "not for us",
    "please stop",
    "we'll pass",
    "we will pass",
    "not at this time",
    "not right now",
    "no budget",
    "kein interesse",
    "nicht interessiert",
    "nein danke",
    "passt nicht",
    "pas intéressé",
    "pas intéressée",
    "non merci",
    "pas pour nous",
    "no estamos interesados",
    "no me interesa",
    "no gracias",
    "no nos interesa",
    *_UNSUBSCRIBE,
)
_POSITIVE = (
    "interested",
    "sounds good",
    "sounds great",
    "let's talk",
    "let's meet",
    "let's chat",
    "happy to",
    "would love",
    "i'd love",
    "love to",
    "glad to",
    "keen to",
    "would like to",
    "book a",
    "schedule a",
    "set up a call",
    "set up a meeting",
    "great to hear",
    "see you at",
    "yes",
    "gerne",
    "interessiert",
    "interesse",
    "klingt gut",
    "treffen",
    "avec plaisir",
    "intéressé",
    "volontiers",
    "rencontrer",
    "me interesa",
    "con gusto",
    "encantado",
    "encantada",
    "reunirnos",
)


_POSITIVE_RE = re.compile(r"\b(?:" + "|".join(re.escape(p) for p in _POSITIVE) + r")\b")


def _reply_intent(text: str) -> bool:
    """Wording a person uses to answer (yes, no, interested), not an absence notice."""
    return sentiment(text) != "neutral"


def sentiment(text: str) -> Sentiment:
    """Negative wording wins (it often contains positive words: "not interested")."""
    lowered = _norm(text)
    if _any(lowered, _NEGATIVE):
        return "negative"
    if _POSITIVE_RE.search(lowered):
        return "positive"
    return "neutral"


def _unsubscribe(parsed: ParsedMessage, text: str) -> str | None:
    if parsed.unsubscribe_request:
        return "unsubscribe request (List-Unsubscribe address or subject)"
    lowered = _norm(text)
    phrase = _any(lowered, _UNSUBSCRIBE)
    if phrase and len(lowered) <= SHORT_REPLY_CHARS:
        return f"short reply asking to stop ({phrase})"
    return None


# --- the classifier ---------------------------------------------------------------------------


def classify(parsed: ParsedMessage, *, received_at: datetime | None = None) -> Classification:
    """Classify one parsed message; see the module docstring for the rules and their order."""
    if not parsed.has_headers:
        return Classification("unknown", "no usable headers", quarantine=True)
    if parsed.from_address is None and not parsed.is_delivery_report:
        return Classification("unknown", "no sender address", quarantine=True)
    automated = _is_automated(parsed)
    bounce = _bounce(parsed, automated is not None)
    if bounce is not None:
        return bounce
    text = own_text(parsed.body_text)
    normalised = _norm(text)
    ooo = _out_of_office(parsed, normalised, automated)
    if ooo is not None:
        moment = parsed.date or received_at
        reference = moment.date() if moment is not None else None
        return Classification(
            "out_of_office",
            ooo,
            return_date=find_return_date(parsed.subject + "\n" + text, reference),
        )
    if automated is not None:
        return Classification("unknown", f"automated message ({automated})")
    unsubscribe = _unsubscribe(parsed, text)
    if unsubscribe is not None:
        return Classification("unsubscribe", unsubscribe, sentiment="negative")
    if not normalised and not _norm(parsed.subject):
        return Classification("unknown", "empty message")
    return Classification("reply", "human reply", sentiment=sentiment(text or parsed.subject))


def classify_raw(raw: bytes, *, received_at: datetime | None = None) -> Classification:
    """Parse and classify; input that is not a message is quarantined with the reason."""
    try:
        parsed = parse_message(raw)
    except UnparseableMessage as exc:
        return Classification("unknown", f"unparseable: {exc.reason}", quarantine=True)
    return classify(parsed, received_at=received_at)
