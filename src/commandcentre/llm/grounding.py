"""Checks that a draft says nothing personal that the stored facts do not support.

Rules (deliberately simple so a reviewer can predict them):

* A claim is supported when its ``source_field`` is one of the request's facts and its text,
  normalised (case, whitespace, punctuation), is a word-aligned substring of that fact's value
  — or at least 80% of the claim's significant words (4+ letters, not stopwords) occur in it.
  ISO dates also match their spelled-out forms ("2026-05-12" supports "12 May 2026").
* Uncited personal statements: a capitalised word that does not start a sentence (a likely
  proper noun) or any number, found in the subject or body, that also occurs in some fact value
  but in no claim and in no code-supplied text (names, sender, the ask) is reported. Words that
  merely start a sentence are skipped because capitalisation there says nothing.
* Contact points (email addresses, URLs, ``mailto:``) in a draft are reported unless code
  supplied them: recipients and links are chosen by code, never by the writer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from commandcentre.llm.types import Claim, DraftResult, Fact

SIGNIFICANT_WORD_SHARE = 0.8

_STOPWORD_TEXT = """
    a about above after again all also am an and any are as at be been before being below
    between both but by can could did do does doing down during each few for from further had
    has have having he her here hers him his how i i'm i'd i'll i've if in into is it its itself
    just me more most my no nor not now of off on once only or other our ours out over own same
    she should so some such than that the their theirs them then there these they this those
    through to too under until up very was we were what when where which while who whom why will
    with would you your yours yourself
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"']+|mailto:[^\s<>\"']*", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")
# Whole numbers only: digits inside an identifier ("model-3f9a") are not a personal detail.
_NUMBER = re.compile(r"\b\d+(?:[.,:]\d+)*\b")
_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")
_MONTH_TEXT = "January February March April May June July August September October November "
_MONTH_TEXT += "December"
_MONTHS = _MONTH_TEXT.split()


class GroundingReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ok: bool
    unsupported: list[Claim] = Field(default_factory=list)
    missing_citations: list[str] = Field(default_factory=list)
    foreign_contacts: list[str] = Field(default_factory=list)


class _Separators(dict[int, str]):
    """``str.translate`` table: punctuation, symbols, separators and control characters
    become spaces, everything else stays. Filled in as characters are first seen, so the
    translation runs in C instead of a Python test per character."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        value = " " if unicodedata.category(char)[0] in "PSZC" else char
        self[code] = value
        return value


_SEPARATORS = _Separators()


def normalise(text: str) -> str:
    """Casefold, drop punctuation and symbols, collapse whitespace."""
    if not text.isascii():  # NFKC leaves ASCII as it is
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.casefold().translate(_SEPARATORS).split())


def render_date(value: str) -> str | None:
    """Spell out an ISO date as "12 May 2026"; ``None`` when the value is not an ISO date."""
    m = _ISO_DATE.match(value)
    if not m:
        return None
    try:
        d = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None
    return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"


def value_forms(fact: Fact) -> list[str]:
    """The fact's value plus derived forms a writer may legitimately use (dates only)."""
    forms = [fact.value]
    m = _ISO_DATE.match(fact.value)
    spelled = render_date(fact.value)
    if m and spelled:
        day, month = int(m.group(3)), _MONTHS[int(m.group(2)) - 1]
        forms += [spelled, f"{month} {day}, {m.group(1)}", f"{day} {month}", f"{month} {day}"]
    return forms


def _contains_words(haystack: str, needle: str) -> bool:
    """Word-aligned substring test on normalised text."""
    return bool(needle) and f" {needle} " in f" {haystack} "


def significant_words(text: str) -> list[str]:
    return [w for w in normalise(text).split() if len(w) >= 4 and w not in STOPWORDS]


def claim_supported(claim: Claim, fact: Fact) -> bool:
    needle = normalise(claim.text)
    if not needle:
        return False
    forms = [normalise(f) for f in value_forms(fact)]
    if any(_contains_words(form, needle) for form in forms):
        return True
    words = significant_words(claim.text)
    if not words:
        # Nothing substantive to verify and not a literal quote: not evidence of anything.
        return False
    pool = set(" ".join(forms).split())
    present = sum(1 for w in words if w in pool)
    return present / len(words) >= SIGNIFICANT_WORD_SHARE


def _candidate_terms(text: str) -> list[str]:
    """Likely proper nouns (capitalised, not sentence-initial) and numbers, in order."""
    terms: list[str] = []
    for m in _WORD.finditer(text):
        word = m.group(0)
        if not word[0].isupper() or len(word) < 2 or word.casefold() in STOPWORDS:
            continue
        before = text[: m.start()].rstrip(" \t")
        if not before or before[-1] in ".!?\n":
            continue
        terms.append(word)
    terms.extend(m.group(0) for m in _NUMBER.finditer(text))
    return terms


def contact_points(text: str) -> list[str]:
    found = [m.group(0).rstrip(".,;:)") for m in _EMAIL.finditer(text)]
    found += [m.group(0).rstrip(".,;:)") for m in _URL.finditer(text)]
    return found


def check_claims(
    result: DraftResult, facts: Sequence[Fact], *, allowed_text: Iterable[str] = ()
) -> GroundingReport:
    """Verify every claim against its cited fact and look for uncited personal details.

    ``allowed_text`` is text code put there itself (recipient and sender names, the ask); names
    and numbers from it are never reported.
    """
    by_field = {f.field: f for f in facts}
    unsupported = [
        c
        for c in result.claims
        if c.source_field not in by_field or not claim_supported(c, by_field[c.source_field])
    ]

    allowed = list(allowed_text)
    allowed_norm = " ".join(normalise(t) for t in allowed)
    covered = " | ".join(normalise(c.text) for c in result.claims) + " | " + allowed_norm
    fact_text = " | ".join(normalise(form) for f in facts for form in value_forms(f))
    text = f"{result.subject}\n{result.body}"

    missing: list[str] = []
    for term in _candidate_terms(text):
        key = normalise(term)
        if (
            key
            and _contains_words(fact_text, key)
            and not _contains_words(covered, key)
            and term not in missing
        ):
            missing.append(term)

    allowed_lower = " ".join(allowed).casefold()
    foreign = [p for p in contact_points(text) if p.casefold() not in allowed_lower]

    return GroundingReport(
        ok=not unsupported and not missing and not foreign,
        unsupported=unsupported,
        missing_citations=missing,
        foreign_contacts=foreign,
    )


# Curated prompt-injection patterns. Trade-off: phrases are anchored on an imperative plus an
# object ("ignore previous instructions", "forward this email") rather than on single words, so
# ordinary bios that mention instructions, forwarding or approvals in passing do not trip it.
# A false positive only sends a draft to human review, so borderline phrases lean positive.
_INJECTION_PATTERNS: tuple[str, ...] = (
    # Overriding the rules.
    r"\b(ignore|disregard|forget|override)\s+(all\s+|any\s+|of\s+)?(the\s+|your\s+|my\s+)?"
    r"(previous|prior|above|earlier|preceding|original|system|all)\s+"
    r"(instructions?|prompts?|rules|directions|guidelines|messages|context)\b",
    r"\b(ignore|disregard)\s+(all\s+|any\s+)?(the\s+|your\s+|these\s+)?(instructions?|prompts?)\b",
    r"\bnew instructions?\s*:",
    r"\b(begin|end)[ _-](instructions?|prompt|system[ _-]prompt)\b",
    r"\bsystem[ _-]?prompt\b",
    r"\b(reveal|print|repeat|output)\s+(your|the)\s+(system\s+)?(prompt|instructions)\b",
    # Role play and chat-template markers.
    r"\byou are now\b",
    r"\bfrom now on,? you\b",
    r"\bpretend (to be|you are|that you)\b",
    r"\b(act|behave) as (if you|though you)\b",
    r"^\s*(system|assistant|user|developer)\s*:",
    r"\[/?(inst|system|sys)\]",
    r"<\|?/?(im_start|im_end|system|assistant|user)\|?>",
    r"<<\s*/?sys\s*>>",
    r"#{2,}\s*(system|instructions?)\b",
    # Actions the writer must never take.
    r"\bsend (this|it|the (email|message|draft|reply|details|list)|a copy)\b.{0,40}\bto\b",
    r"\bforward (this|it|the (email|message|draft|thread)|(all|every|your) (emails?|messages|"
    r"contacts|replies|drafts))\b",
    r"\b(auto-?)?approve (this|it|the (draft|message|email|request))\b",
    r"\bmark (this|it|the draft) as (approved|sent|safe)\b",
    r"\b(cc|bcc)\s*:",
    r"mailto:",
    r"\breply (only )?to\s+\S+@\S+",
    r"\bdo not (tell|mention|reveal|inform)\b",
    r"\binclude (this|the following) (link|url|text|phrase)\b",
    # A few multilingual basics.
    r"\bignorier(e|en)?\b.{0,30}\b(anweisungen|instruktionen|regeln)\b",
    r"\bdu bist (jetzt|nun)\b",
    r"\bignore[rz]?\b.{0,30}\b(les|toutes les) (instructions|consignes|règles)\b",
    r"\btu es maintenant\b",
    r"\bignora\b.{0,30}\b(las|todas las|le|tutte le) (instrucciones|istruzioni|reglas|regole)\b",
    r"\bahora eres\b",
    r"\bignore\b.{0,30}\bas instruções\b",
    r"忽略.{0,10}(指令|指示|说明)",
    r"以前の指示を無視",
)
_INJECTION = re.compile("|".join(f"(?:{p})" for p in _INJECTION_PATTERNS), re.I | re.M | re.S)


def looks_like_instructions(text: str) -> bool:
    """True when untrusted text reads like instructions aimed at the writer."""
    return bool(_INJECTION.search(unicodedata.normalize("NFKC", text)))
