"""The offline writer: deterministic, template-based first messages that need no model.

It is the default (the product works with no key) and the last link of every fallback chain, so
it must always produce something send-ready and fully grounded:

* only facts from the request are used; each use is recorded as a ``Claim`` whose text is the
  literal fragment of the fact that appears in the message (dates in their spelled-out form);
* untrusted text is never copied wholesale: the bio is not used at all, the abstract only as a
  short phrase (at most 12 words) from its first sentence, and any fact that reads like
  instructions is skipped;
* exactly one ask, phrased as the only question outside quoted titles;
* phrasing varies by tone and, within a tone, by a stable hash of the recipient, so the same
  request always gives the same message;
* a user's instruction (when a draft is written again) is honoured when it asks for something
  simple: shorter or longer, more casual, formal or friendly, leaving out the talk, mentioning
  the account. Anything else is noted in the reasoning as not understood.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from commandcentre.llm.grounding import (
    STOPWORDS,
    looks_like_instructions,
    normalise,
    render_date,
)
from commandcentre.llm.types import Claim, DraftRequest, DraftResult, Tone

EMAIL_WORD_LIMIT = 150
LINKEDIN_WORD_LIMIT = 100
ABSTRACT_PHRASE_WORDS = 12

# Values that would read as a template bug if they reached a recipient.
_PLACEHOLDER = re.compile(r"[{}]|\b(None|null|undefined|NaN)\b")
_TRAILING_DASHES = ",;:-\u2013\u2014"
_TRAILING_PUNCT = ".!?" + _TRAILING_DASHES
_INTEL_TITLE = re.compile(r"^intel\.[^.]+\.title$")
_LEAD_IN = re.compile(
    r"^(in this (talk|session|presentation|keynote|workshop|panel)[,:]?\s+)?"
    r"((we|i|you)('ll| will| can)?|this (talk|session|presentation|keynote|workshop|panel)"
    r"( will)?|the (speaker|speakers|panel)( will)?)\s+"
    r"(explores?|discuss(es)?|shows?|looks? at|shares?|covers?|examines?|learn|presents?|"
    r"dives? into|walks? through)\s+",
    re.IGNORECASE,
)
_LEAD_IN_SHORT = re.compile(
    r"^in this (talk|session|presentation|keynote|workshop|panel)[,:]?\s+", re.IGNORECASE
)

_GREETINGS: dict[Tone, tuple[str, ...]] = {
    "professional": ("Dear", "Hello"),
    "friendly": ("Hi", "Hello"),
    "casual": ("Hey", "Hi"),
}
_NAMELESS_GREETING: dict[Tone, str] = {
    "professional": "Hello,",
    "friendly": "Hi there,",
    "casual": "Hey there,",
}
_CLOSINGS: dict[Tone, tuple[str, ...]] = {
    "professional": ("Kind regards,", "Best regards,"),
    "friendly": ("Best wishes,", "Warm regards,"),
    "casual": ("Cheers,", "Thanks,"),
}
_ASKS: dict[Tone, tuple[str, ...]] = {
    "professional": ("Would you be open to {}?", "Would you have time for {}?"),
    "friendly": ("Would you be up for {}?", "Would you fancy {}?"),
    "casual": ("Up for {}?", "Fancy {}?"),
}


_WANTS_SHORTER = re.compile(
    r"\b(shorter|short|brief(er)?|concise|tighter|trim( it)?|cut( it)? down|fewer words)\b", re.I
)
_WANTS_LONGER = re.compile(
    r"\b(longer|more detail(ed)?|expand|elaborate|more context|fuller)\b", re.I
)
_TONES: tuple[tuple[Tone, re.Pattern[str]], ...] = (
    ("casual", re.compile(r"\b(casual|informal|relaxed|laid[- ]back|chatty)\b", re.I)),
    ("professional", re.compile(r"\b(formal|professional|businesslike)\b", re.I)),
    ("friendly", re.compile(r"\b(friendl(y|ier)|warm(er)?)\b", re.I)),
)
_SKIP_TALK = re.compile(
    r"\b(leave out|leave off|drop|remove|skip|without|omit|don'?t mention|do not mention|no "
    r"mention of|not mention)\b.{0,25}\b(talk|session|abstract|presentation|keynote)\b",
    re.I,
)
_MENTION_ACCOUNT = re.compile(
    r"\b(mention|include|reference|name|refer to|talk about)\b.{0,25}"
    r"\b(account|company|organi[sz]ation|employer|firm)\b",
    re.I,
)


@dataclass(frozen=True)
class Adjustments:
    """What a user's instruction asks of the offline writer."""

    tone: Tone | None = None
    shorter: bool = False
    longer: bool = False
    skip_talk: bool = False
    mention_account: bool = False

    @property
    def understood(self) -> bool:
        return bool(
            self.tone or self.shorter or self.longer or self.skip_talk or self.mention_account
        )

    def describe(self) -> str:
        parts = [f"{self.tone} tone"] if self.tone else []
        parts += [
            text
            for flag, text in (
                (self.shorter, "shorter"),
                (self.longer, "longer"),
                (self.skip_talk, "without the talk"),
                (self.mention_account, "mentioning the account"),
            )
            if flag
        ]
        return ", ".join(parts)


def parse_instruction(text: str) -> Adjustments:
    """Read the simple requests the offline writer can follow; the rest is ignored."""
    if not text.strip():
        return Adjustments()
    skip_talk = bool(_SKIP_TALK.search(text))
    tone = next((tone for tone, pattern in _TONES if pattern.search(text)), None)
    shorter = bool(_WANTS_SHORTER.search(text))
    return Adjustments(
        tone=tone,
        shorter=shorter,
        longer=bool(_WANTS_LONGER.search(text)) and not shorter,
        skip_talk=skip_talk,
        mention_account=bool(_MENTION_ACCOUNT.search(text)),
    )


@dataclass
class _Draft:
    claims: list[Claim] = field(default_factory=list)
    used: list[str] = field(default_factory=list)

    def cite(self, text: str, source_field: str) -> str:
        if not any(c.text == text and c.source_field == source_field for c in self.claims):
            self.claims.append(Claim(text=text, source_field=source_field))
        if source_field not in self.used:
            self.used.append(source_field)
        return text


def _clean(text: str) -> str:
    return " ".join(text.split())


def _clip(text: str, max_words: int) -> str:
    words = text.split()
    if len(words) <= max_words:
        return text
    return " ".join(words[:max_words]).rstrip(_TRAILING_DASHES) + "…"


def _quote(text: str) -> str:
    # Curly quotes avoid clashing with straight quotes inside titles; punctuation does not
    # matter to grounding, which ignores it.
    return "“" + text.replace("“", "'").replace("”", "'").replace('"', "'") + "”"


def _code_text(text: str, default: str) -> str:
    """Text supplied by code or settings, stripped of anything that looks like a placeholder."""
    cleaned = _clean(text)
    if not cleaned or _PLACEHOLDER.search(cleaned):
        return default
    return cleaned


def _variant(seed: str, slot: str, options: tuple[str, ...]) -> str:
    digest = hashlib.sha256(f"{slot}|{seed}".encode()).digest()
    return options[digest[0] % len(options)]


def abstract_phrase(abstract: str) -> str | None:
    """A short phrase (at most 12 words) from the first sentence of an abstract, or ``None``."""
    first = re.split(r"(?<=[.!?])\s+", _clean(abstract), maxsplit=1)[0]
    stripped = _LEAD_IN.sub("", first, count=1)
    if stripped == first:
        stripped = _LEAD_IN_SHORT.sub("", first, count=1)
    words = stripped.split()[:ABSTRACT_PHRASE_WORDS]
    while words and (words[-1].strip(_TRAILING_PUNCT).casefold() in STOPWORDS or not words[-1]):
        words.pop()
    if words:
        words[-1] = words[-1].rstrip(_TRAILING_PUNCT)
    if len(words) < 3 or not words[-1]:
        return None
    if words[0].casefold() in STOPWORDS and words[0][1:].islower():
        words[0] = words[0].lower()
    return " ".join(words)


class OfflineWriter:
    """Deterministic template writer; see the module docstring for its rules."""

    name: str = "offline"

    def draft(self, request: DraftRequest) -> DraftResult:
        wanted = parse_instruction(request.instruction)
        tone = wanted.tone or request.tone
        seed = " ".join(request.recipient_name.casefold().split())
        skipped: list[str] = []

        def fact(name: str) -> str | None:
            raw = request.get(name)
            if raw is None:
                return None
            value = _clean(raw)
            if not normalise(value) or _PLACEHOLDER.search(value) or looks_like_instructions(value):
                skipped.append(name)
                return None
            return value

        d = _Draft()
        event = fact("event.name")
        city = fact("event.city")
        start = fact("event.start_date")
        talk = None if wanted.skip_talk else fact("session.title")
        abstract = None if wanted.skip_talk else fact("session.abstract")
        role = fact("contact.title")
        org_field = "contact.organisation"
        org = fact(org_field)
        if org is None:
            org_field, org = "account.name", fact("account.name")
        intel_field = next((f.field for f in request.facts if _INTEL_TITLE.match(f.field)), None)
        intel = fact(intel_field) if intel_field else None
        if request.get("contact.bio") is not None:
            skipped.append("contact.bio")

        sender = _code_text(request.sender_name, "our team")
        sender_first = sender.split()[0]
        company = _code_text(request.sender_company, "")
        ask = _code_text(request.ask, "").rstrip(".?! ") or "a short conversation"
        lead_word = ask.split()[0]
        # Lower-case "A quick call" but leave acronyms such as "AI demo" alone.
        if lead_word[0].isupper() and (len(lead_word) == 1 or lead_word[1:].islower()):
            ask = ask[0].lower() + ask[1:]

        # Sentences, each built only when its facts exist; optional ones can be dropped to fit.
        e = d.cite(_clip(event, 12), "event.name") if event else None
        where = ""
        if e and city:
            where += " in " + d.cite(_clip(city, 5), "event.city")
        spelled = render_date(start) if (e and start) else None
        if spelled:
            where += " on " + d.cite(spelled, "event.start_date")
        t = _quote(d.cite(_clip(talk, 12), "session.title")) if talk else None

        opener = self._opener(tone, seed, e, where, t)
        phrase = abstract_phrase(abstract) if (abstract and t) else None
        abstract_line = ""
        if phrase:
            q = _quote(d.cite(phrase, "session.abstract"))
            abstract_line = {
                "professional": f"The focus on {q} is especially relevant to our work.",
                "friendly": f"I especially liked the focus on {q}.",
                "casual": f"Really like the angle on {q}.",
            }[tone]

        role_line = self._role_line(
            tone,
            d.cite(_clip(role, 8), "contact.title") if role else None,
            d.cite(_clip(org, 8), org_field) if org else None,
        )
        intel_line = ""
        if intel and intel_field:
            q = _quote(d.cite(_clip(intel, 12), intel_field))
            intel_line = {
                "professional": f"I also noted the recent news, {q}.",
                "friendly": f"I also saw the recent news, {q}.",
                "casual": f"Also saw the news: {q}.",
            }[tone]

        account = fact("account.name") if (wanted.mention_account or wanted.longer) else None
        account_line = ""
        if account:
            a = d.cite(_clip(account, 8), "account.name")
            account_line = {
                "professional": f"I have been following the work at {a} with interest.",
                "friendly": f"I've been following what {a} is up to.",
                "casual": f"Been keeping an eye on {a}.",
            }[tone]
        extra_line = ""
        if wanted.longer:
            extra_line = {
                "professional": "I would be glad to work around your schedule, before or "
                "during the event, and to keep it brief.",
                "friendly": "Happy to work around your schedule, whenever suits you best, and "
                "I promise to keep it short.",
                "casual": "Totally flexible on timing, whatever works for you.",
            }[tone]

        intro = {
            "professional": f"My name is {sender}"
            + (f" and I work at {company}." if company else "."),
            "friendly": f"I'm {sender_first}" + (f" from {company}." if company else "."),
            "casual": f"{sender_first} here" + (f" from {company}." if company else "."),
        }[tone]
        ask_line = _variant(seed, "ask", _ASKS[tone]).format(ask)

        first = _code_text(request.recipient_first_name, "") or _code_text(
            request.recipient_name, ""
        )
        greeting = (
            f"{_variant(seed, 'greeting', _GREETINGS[tone])} {first},"
            if first
            else _NAMELESS_GREETING[tone]
        )
        signoff = [_variant(seed, "closing", _CLOSINGS[tone]), sender]
        if company and request.channel == "email":
            signoff.append(company)

        limit = EMAIL_WORD_LIMIT if request.channel == "email" else LINKEDIN_WORD_LIMIT
        optional = {
            "abstract": abstract_line,
            "intel": intel_line,
            "intro": intro,
            "extra": extra_line,
        }
        if request.channel == "linkedin":
            optional["abstract"] = ""
        drops: list[str | None] = [None, "extra", "abstract", "intel", "intro"]
        if wanted.shorter:
            drops = ["extra", "abstract", "intel", "intro"]
            optional.update(abstract="", intel="", intro="")
        for drop in drops:
            if drop:
                optional[drop] = ""
            paragraphs = [
                greeting,
                " ".join(p for p in (optional["intro"], opener, optional["abstract"]) if p),
                " ".join(p for p in (role_line, account_line, optional["intel"]) if p),
                " ".join(p for p in (ask_line, optional["extra"]) if p),
                "\n".join(signoff),
            ]
            body = "\n\n".join(p for p in paragraphs if p)
            body = re.sub(r"[ \t]{2,}", " ", body)
            if len(body.split()) < limit:
                break

        # Claims whose sentence was dropped no longer describe the message.
        kept = [c for c in d.claims if c.text in body]
        subject = self._subject(tone, e, talk, company, sender_first)
        used = [f for f in d.used if any(c.source_field == f for c in kept)]
        reasoning = f"Offline template, {tone} tone, {request.channel}."
        if request.instruction.strip():
            reasoning += (
                f" Followed the instruction ({wanted.describe()})."
                if wanted.understood
                else " Could not follow the instruction with templates; a model writer can."
            )
        if used:
            reasoning += " Used " + ", ".join(used) + "."
        if skipped:
            reasoning += " Left out " + ", ".join(skipped) + " (untrusted or unusable)."
        return DraftResult(
            subject=subject,
            body=body,
            claims=kept,
            reasoning=reasoning,
            writer=self.name,
            flags=[],
        )

    @staticmethod
    def _opener(tone: Tone, seed: str, event: str | None, where: str, talk: str | None) -> str:
        options: tuple[str, ...]
        if event and talk:
            options = {
                "professional": (
                    f"I saw that you are speaking at {event}{where}, and your talk {talk} "
                    "stood out to me.",
                    f"I noticed your talk {talk} at {event}{where}.",
                ),
                "friendly": (
                    f"I noticed you're speaking at {event}{where}, and your talk {talk} "
                    "caught my eye.",
                    f"Your talk {talk} at {event}{where} caught my eye.",
                ),
                "casual": (
                    f"Saw you're speaking at {event}{where}, and {talk} sounds like a great "
                    "session.",
                    f"Spotted your talk {talk} at {event}{where}, looks like a great one.",
                ),
            }[tone]
        elif event:
            options = {
                "professional": (f"I understand you will be at {event}{where}.",),
                "friendly": (f"I noticed you'll be at {event}{where}.",),
                "casual": (f"Looks like you'll be at {event}{where}.",),
            }[tone]
        elif talk:
            options = {
                "professional": (f"I came across your talk {talk}.",),
                "friendly": (f"Your talk {talk} caught my eye.",),
                "casual": (f"Spotted your talk {talk}, looks like a great one.",),
            }[tone]
        else:
            options = {
                "professional": ("I am reaching out to introduce myself.",),
                "friendly": ("I wanted to reach out and say hello.",),
                "casual": ("Wanted to drop you a quick hello.",),
            }[tone]
        return _variant(seed, "opener", options)

    @staticmethod
    def _role_line(tone: Tone, role: str | None, org: str | None) -> str:
        if role and org:
            who = f"{role} at {org}"
            lead = {"professional": "your role as ", "friendly": "your role as ", "casual": ""}
            who = lead[tone] + who
        elif role:
            who = ("" if tone == "casual" else "your role as ") + role
        elif org:
            who = ("someone at " if tone == "casual" else "your work at ") + org
        else:
            return ""
        return {
            "professional": f"Given {who}, I thought it would be worth connecting.",
            "friendly": f"With {who}, I think we would have plenty to talk about.",
            "casual": f"As {who}, I reckon we'd have a lot to chat about.",
        }[tone]

    @staticmethod
    def _subject(
        tone: Tone, event: str | None, talk: str | None, company: str, sender_first: str
    ) -> str:
        if event:
            short = _clip(event, 8)
            if talk and tone == "professional":
                return f"Your session at {short}"
            return {
                "professional": f"Meeting at {short}",
                "friendly": f"Hello ahead of {short}",
                "casual": f"Quick hello before {short}",
            }[tone]
        if talk:
            return f"Your talk {_quote(_clip(talk, 8))}"
        if company:
            return f"Introduction from {company}"
        return f"A quick hello from {sender_first}"
