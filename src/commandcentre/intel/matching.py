"""Company-name normalisation and matching of organisations to watchlist accounts.

Contacts type their employer however they like ("Red Hat Czech s.r.o.", "Bloomberg LP",
"Ansible Core Team at Red Hat"), while a watchlist holds the name a sales person typed
("Red Hat, Inc."). This module is pure: no database, no I/O, so the rules can be tested
and benchmarked on their own.

Evidence is tried strongest first:

1. domain: the contact's email (or a URL/bare domain inside the organisation text) is an
   account's domain or a subdomain of it;
2. alias, then name: the normalised organisation equals an account alias or name. Spaces
   do not count ("Open Mined" is "OpenMined"), and one side may carry extra *generic* trailing
   words that the other lacks (see `_GENERIC_WORDS`): "Oracle Labs" is Oracle, "Red Hat
   Czech s.r.o." is Red Hat, "Oxford Nanopore" is "Oxford Nanopore Technologies plc";
3. fuzzy: `fuzz.ratio`/`token_sort_ratio` on normalised names above a cutoff, or one swap
   of neighbouring letters ("instiro" for "insitro"), provided both names have the same
   number of words with the same initials and the same numbers. Blocking keeps this cheap:
   an organisation is only compared with accounts that share a distinctive word with it or
   have a word one typo away from one of its unknown words, never with the whole watchlist.

The whole organisation is tried before its parts ("Ordina/Sopra Steria", "Engineer at
Acme", "Charles University and DNAnexus"); among parts the first-named organisation wins.

Rule for "account name plus extra words": an organisation that is an account name followed
by extra words matches only when every extra word is generic (technologies, labs, software,
services, a country, "R&D", ...). "Acme Labs" and "Acme Poland" are Acme; "Acme Widgets",
"Acme Health" and "Bloomberg Philanthropies" are different organisations and never match,
not even fuzzily. Generic words are removed from one side only: "Acme Software" and
"Acme Solutions" may be unrelated firms, so they do not match each other.

Ambiguity is never guessed: if equally good evidence points at two accounts, there is no match.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal, TypeAlias
from urllib.parse import urlsplit

from cleanco import prepare_default_terms
from cleanco.non_nfkd_map import NON_NFKD_MAP
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

__all__ = [
    "AccountKey",
    "AccountMatch",
    "AccountMatcher",
    "domain_of",
    "normalise_company",
]

MatchMethod = Literal["domain", "alias", "name", "fuzzy"]

# --------------------------------------------------------------------------- normalisation

# cleanco's lists miss words that sales people and contacts add or drop at will.
_EXTRA_SUFFIXES: Final = (
    "group",
    "holding",
    "holdings",
    "and co",
    "and company",
    "gmbh and co kg",
    "gmbh and co",
    "co kg",
    "pty",
    "corp",
    "inc",
)


def _build_suffix_terms() -> dict[int, frozenset[tuple[str, ...]]]:
    terms: set[tuple[str, ...]] = set()
    for _size, parts in prepare_default_terms():
        terms.add(tuple(str(part) for part in parts))
        # The second pass runs after "&" became "and", so it needs those spellings too.
        terms.add(tuple("and" if part == "&" else str(part) for part in parts))
    terms.update(tuple(term.split()) for term in _EXTRA_SUFFIXES)
    by_size: dict[int, set[tuple[str, ...]]] = {}
    for term in terms:
        by_size.setdefault(len(term), set()).add(term)
    # Longest first so "gmbh & co kg" goes in one step rather than leaving "gmbh & co".
    return {size: frozenset(by_size[size]) for size in sorted(by_size, reverse=True)}


_SUFFIX_TERMS: Final = _build_suffix_terms()
# Every term ends in one of these; most names end in none, which settles them at once.
_SUFFIX_LAST_WORDS: Final = frozenset(
    term[-1] for terms in _SUFFIX_TERMS.values() for term in terms
)
_BRACKETED: Final = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}")
_DROP_APOSTROPHES: Final = str.maketrans("", "", "'\u2019\u2018`\u00b4")
_NON_WORD: Final = re.compile(r"[\W_]+")
_HAS_WORD: Final = re.compile(r"[^\W_]")
_TERM_PUNCT: Final = str.maketrans("", "", ".,-")


class _FoldTable(dict[int, str]):
    """`str.translate` table dropping combining marks and mapping letters NFKD leaves alone
    (ø, ł, đ); filled on first sight of each character."""

    def __missing__(self, codepoint: int) -> str:
        char = chr(codepoint)
        folded: str = "" if unicodedata.category(char) == "Mn" else NON_NFKD_MAP.get(char, char)
        self[codepoint] = folded
        return folded


_FOLD_TABLE: Final = _FoldTable()


def _fold(text: str) -> str:
    """Caseless, accent-free form; repeated because casefolding can expose new accents."""
    if text.isascii():
        return text.lower()
    previous = None
    while text != previous:
        previous = text
        text = unicodedata.normalize("NFKD", text.casefold()).translate(_FOLD_TABLE).casefold()
    return text


def _strip_suffixes(tokens: list[str], keys: list[str]) -> None:
    """Remove trailing legal-form terms in place; `keys` are the tokens as terms are spelt.

    Never removes the last remaining token: "AG" alone stays "ag" rather than vanishing.
    """
    changed = True
    while changed and keys and keys[-1] in _SUFFIX_LAST_WORDS:
        changed = False
        for size, terms in _SUFFIX_TERMS.items():
            if size < len(keys) and tuple(keys[-size:]) in terms:
                del tokens[-size:]
                del keys[-size:]
                changed = True
                break


def _collapse_initials(tokens: list[str]) -> list[str]:
    """Join runs of single characters so "S. A." / "S.A." / "SA" and "J P" / "JP" agree."""
    if not tokens or min(map(len, tokens)) > 1:
        return tokens
    out: list[str] = []
    run: list[str] = []
    for token in [*tokens, ""]:
        if len(token) == 1:
            run.append(token)
            continue
        if len(run) > 1:
            out.append("".join(run))
        else:
            out.extend(run)
        run = []
        if token:
            out.append(token)
    return out


def _strip_words(tokens: list[str]) -> list[str]:
    """Drop a leading "the" and trailing legal forms until nothing changes, keeping >= 1 token."""
    while True:
        before = len(tokens)
        tokens = _collapse_initials(tokens)
        if len(tokens) > 1 and tokens[0] == "the":
            tokens = tokens[1:]
        _strip_suffixes(tokens, list(tokens))
        if len(tokens) == before:
            return tokens


@lru_cache(maxsize=65536)
def normalise_company(name: str) -> str:
    """Comparable form of a company name: "The Acme Widgets GmbH & Co. KG" -> "acme widgets".

    Lower case, no accents, "&" as "and", punctuation as spaces, no bracketed remarks,
    no leading "the" and no legal-form suffixes (any language cleanco knows, plus Group and
    Holdings). Stripping never empties a name: "The Company" stays "the" rather than "".
    """
    folded = _fold(name)
    if "(" in folded or "[" in folded or "{" in folded:
        unbracketed = _BRACKETED.sub(" ", folded)
        folded = unbracketed if _HAS_WORD.search(unbracketed) else folded

    # First pass on the raw tokens: cleanco's terms keep their "&", "/" and dots.
    raw_tokens = folded.split()
    if raw_tokens and raw_tokens[-1].translate(_TERM_PUNCT) in _SUFFIX_LAST_WORDS:
        _strip_suffixes(raw_tokens, [token.translate(_TERM_PUNCT) for token in raw_tokens])
    text = " ".join(raw_tokens)
    if "&" in text:
        text = text.replace("&", " and ")
    text = text.translate(_DROP_APOSTROPHES)
    tokens = _NON_WORD.sub(" ", text).split()
    if not tokens:
        # Only punctuation was left: fall back to whatever word characters the input had.
        tokens = _NON_WORD.sub(" ", _fold(name)).split()
    return " ".join(_strip_words(tokens))


# --------------------------------------------------------------------------- domains

_FREE_MAIL_DOMAINS: Final = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "proton.me",
        "pm.me",
        "protonmail.com",
        "protonmail.ch",
        "web.de",
        "t-online.de",
        "freenet.de",
        "posteo.de",
        "mailbox.org",
        "msn.com",
        "fastmail.com",
        "fastmail.fm",
        "tutanota.com",
        "tutanota.de",
        "tuta.io",
        "hey.com",
        "qq.com",
        "163.com",
        "126.com",
        "naver.com",
        "hanmail.net",
        "orange.fr",
        "wanadoo.fr",
        "free.fr",
        "laposte.net",
        "sfr.fr",
        "libero.it",
        "virgilio.it",
        "seznam.cz",
        "centrum.cz",
        "wp.pl",
        "o2.pl",
        "onet.pl",
        "interia.pl",
        "btinternet.com",
        "sky.com",
        "virginmedia.com",
        "comcast.net",
        "verizon.net",
        "att.net",
        "rediffmail.com",
        "rocketmail.com",
        "zohomail.com",
        "inbox.lv",
    }
)
# Providers that run the same service under many country domains (yahoo.co.uk, gmx.at, ...).
_FREE_MAIL_FAMILIES: Final = frozenset(
    {"yahoo", "ymail", "gmx", "hotmail", "outlook", "live", "aol", "yandex", "mail", "bluewin"}
)
_HOST: Final = re.compile(
    r"(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})"
)
_ANGLE_ADDRESS: Final = re.compile(r"<([^<>]+)>")


def _is_free_mail(host: str) -> bool:
    labels = host.split(".")
    for start in range(len(labels) - 1):
        suffix = labels[start:]
        if ".".join(suffix) in _FREE_MAIL_DOMAINS:
            return True
        # family + country suffix: gmx.de, yahoo.co.uk, outlook.com.br; not mail.google.com.
        if suffix[0] in _FREE_MAIL_FAMILIES and (
            len(suffix) == 2 or (len(suffix) == 3 and len(suffix[1]) <= 3)
        ):
            return True
    return False


def _host_of(value: str | None) -> str | None:
    """Lower-case host of an email address, URL or bare domain, without "www."; None if none."""
    if not value:
        return None
    text = value.strip().lower()
    angle = _ANGLE_ADDRESS.search(text)
    if angle:
        text = angle.group(1).strip()
    text = text.removeprefix("mailto:")
    if "://" not in text and "@" in text:
        host = text.rsplit("@", 1)[1].split("?", 1)[0]
    else:
        try:
            host = urlsplit(text if "://" in text else "//" + text).hostname or ""
        except ValueError:
            return None
    host = host.strip().strip("<>,;").rstrip(".")
    if host.startswith("www.") and "." in host[4:]:
        host = host[4:]
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host if _HOST.fullmatch(host) else None


def domain_of(value: str | None) -> str | None:
    """Company domain behind an email address, URL or bare domain.

    None for free-mail providers (a gmail address says nothing about the employer) and for
    anything that is not a plausible host name.
    """
    host = _host_of(value)
    if host is None or _is_free_mail(host):
        return None
    return host


# --------------------------------------------------------------------------- public records


@dataclass(frozen=True, slots=True)
class AccountKey:
    """What the matcher needs to know about one watchlist account."""

    id: str
    name: str
    domain: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountMatch:
    """Why an organisation was attributed to an account.

    `matched` is the account-side evidence: the domain, or the alias/name as typed on the
    account. `score` is 100 for domain and exact matches, 95 when the names differ only by
    generic words, and the rapidfuzz score for fuzzy matches.
    """

    account_id: str
    method: MatchMethod
    score: float
    matched: str


# --------------------------------------------------------------------------- matcher rules

# Variants people use interchangeably; mapped before keys are built so either spelling hits.
_CANONICAL: Final = {
    "tech": "technologies",
    "technology": "technologies",
    "lab": "labs",
    "intl": "international",
    "svcs": "services",
    "univ": "university",
    "uni": "university",
    "centre": "center",
    "organisation": "organization",
}

# Trailing words that qualify rather than name an organisation: units, generic business
# descriptors and places. A name differing from an account only by these is that account.
_GENERIC_WORDS: Final = frozenset(
    {
        "technologies",
        "software",
        "solutions",
        "services",
        "systems",
        "consulting",
        "consultancy",
        "labs",
        "research",
        "development",
        "international",
        "global",
        "worldwide",
        "hq",
        "europe",
        "emea",
        "apac",
        "americas",
        "germany",
        "deutschland",
        "austria",
        "osterreich",
        "switzerland",
        "schweiz",
        "suisse",
        "france",
        "spain",
        "espana",
        "italy",
        "italia",
        "portugal",
        "poland",
        "polska",
        "czech",
        "czechia",
        "slovakia",
        "hungary",
        "romania",
        "bulgaria",
        "greece",
        "netherlands",
        "nederland",
        "belgium",
        "luxembourg",
        "ireland",
        "uk",
        "britain",
        "england",
        "scotland",
        "usa",
        "us",
        "canada",
        "mexico",
        "brazil",
        "brasil",
        "argentina",
        "denmark",
        "danmark",
        "sweden",
        "sverige",
        "norway",
        "norge",
        "finland",
        "suomi",
        "estonia",
        "latvia",
        "lithuania",
        "israel",
        "india",
        "china",
        "japan",
        "korea",
        "singapore",
        "australia",
        "nigeria",
        "kenya",
    }
)
_GENERIC_PHRASES: Final = frozenset(
    {
        ("r", "and", "d"),
        ("research", "and", "development"),
        ("czech", "republic"),
        ("united", "kingdom"),
        ("great", "britain"),
        ("united", "states"),
        ("north", "america"),
        ("new", "zealand"),
        ("south", "africa"),
    }
)
_GENERIC_LAST_WORDS: Final = _GENERIC_WORDS | {phrase[-1] for phrase in _GENERIC_PHRASES}
# "Bank of America" must not shrink to "bank of": a qualifier after these words is the name.
_CONNECTORS: Final = frozenset(
    {"of", "for", "and", "the", "de", "del", "der", "des", "du", "di", "la", "le", "von", "van"}
)
# Tokens too common to block on: they would put every "University of ..." in one bucket.
_BLOCK_STOPWORDS: Final = _CONNECTORS | {"university", "institute", "foundation", "company"}

# Where a second organisation or a remark starts: "Ordina/Sopra Steria", "PyPA | Red Hat",
# "Recife - Brazil". These always separate.
_STRONG_SPLIT: Final = re.compile(r"\s*(?:[/|;]|\s[-\u2013\u2014]\s)\s*")
# "Engineer at Acme", "Ansible Core Team @ Red Hat": the employer follows; the rest is a role.
_AT_SPLIT: Final = re.compile(r"\s(?:at|@)\s", re.IGNORECASE)
# Commas and "and" list organisations ("Charles University and DNAnexus") but also build
# partnership names ("Lewis, Miller and Barnes", "Procter & Gamble"); see `_weak_parts`.
_WEAK_SPLIT: Final = re.compile(r"\s*(?:,|\s(?:and|&)\s)\s*", re.IGNORECASE)
_ANY_SPLIT: Final = re.compile(
    f"{_STRONG_SPLIT.pattern}|{_AT_SPLIT.pattern}|{_WEAK_SPLIT.pattern}", re.IGNORECASE
)
# Anything `_segments` would act on: separators, brackets, addresses.
_NEEDS_SEGMENTS: Final = re.compile(
    r"[,/|;(\[{@.&\u2013\u2014]|\s-\s|\s(?:at|and)\s", re.IGNORECASE
)
# "Nordcloud, an IBM Company" names the parent explicitly.
_PARENT_PHRASE: Final = re.compile(
    r",\s*(?:an?\s+)?([^,&]+?)(?<!\sand)\s+company\s*$", re.IGNORECASE
)
_EMBEDDED_ADDRESS: Final = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|(?:https?://|www\.)[^\s()<>\[\]]+", re.IGNORECASE
)
_DOMAIN_LIKE: Final = re.compile(r"[\w-]+(?:\.[\w-]+)*\.[a-z]{2,63}", re.IGNORECASE | re.ASCII)
_DIGITS: Final = re.compile(r"\d+")
_CACHE_LIMIT: Final = 200_000
_COMMON_MIN: Final = 20
_MIN_SWAP_LENGTH: Final = 6
# Single words are short, so one typo costs them more of their score than it costs a name.
_WORD_CUTOFF_SLACK: Final = 5.0
_CORE_SCORE: Final = 95.0


@lru_cache(maxsize=65536)
def _key_tokens(text: str) -> tuple[str, ...]:
    return tuple(_CANONICAL.get(token, token) for token in normalise_company(text).split())


def _compact(tokens: Sequence[str]) -> str:
    return "".join(tokens)


def _without_generic_tail(tokens: tuple[str, ...]) -> tuple[str, ...] | None:
    if not tokens or tokens[-1] not in _GENERIC_LAST_WORDS:
        return None
    for phrase in _GENERIC_PHRASES:
        size = len(phrase)
        if len(tokens) > size and tokens[-size:] == phrase:
            rest = tokens[:-size]
            return None if rest[-1] in _CONNECTORS else rest
    if len(tokens) > 1 and tokens[-1] in _GENERIC_WORDS and tokens[-2] not in _CONNECTORS:
        return tokens[:-1]
    return None


def _reductions(tokens: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Shorter forms of a name with generic trailing words removed, longest first.

    A legal form uncovered by the removal goes too: "Acme Corporation Germany" -> "acme".
    """
    forms: list[tuple[str, ...]] = []
    current: tuple[str, ...] | None = tokens
    while current is not None:
        current = _without_generic_tail(current)
        if current is not None:
            words = list(current)
            _strip_suffixes(words, list(words))
            current = tuple(words)
            forms.append(current)
    return forms


@lru_cache(maxsize=65536)
def _one_deletion_keys(word: str) -> frozenset[str]:
    """The word and every way of deleting one letter from it.

    Two words within one insertion, deletion, substitution or swap of neighbouring letters
    share a key ("bloombreg" and "bloomberg" both give "bloombrg"), which makes this a tight
    block for typos. Short words get no variants: one letter off "ibm" is noise.
    """
    if len(word) < 4:
        return frozenset((word,))
    return frozenset((word, *(word[:i] + word[i + 1 :] for i in range(len(word)))))


def _one_swap_apart(left: str, right: str, minimum: int = _MIN_SWAP_LENGTH) -> bool:
    """True if swapping two neighbouring letters turns one name into the other.

    Such a swap is a typing slip ("instiro" for "insitro", "Micorsoft"), yet `fuzz.ratio`
    counts it as two edits, which puts names under ten letters below any useful cutoff.
    A substituted letter is not forgiven the same way: "Schmidt" and "Schmitt" are two
    families. Names shorter than `minimum` letters are left alone.
    """
    if len(left) != len(right) or len(left) < minimum or left == right:
        return False
    diff = [i for i, (a, b) in enumerate(zip(left, right, strict=True)) if a != b]
    return (
        len(diff) == 2
        and diff[1] == diff[0] + 1
        and left[diff[0]] == right[diff[1]]
        and left[diff[1]] == right[diff[0]]
    )


def _words_agree(left: tuple[str, ...], right: tuple[str, ...], cutoff: float) -> bool:
    """Every word nearly equals its counterpart, paired in order (or alphabetically).

    A whole-name score hides one short word changing completely: "Deutsche Bank" and
    "Deutsche Bahn" score 92, "Pure Storage" and "Pure Store" 91.
    """
    if [word[0] for word in left] != [word[0] for word in right]:
        left, right = tuple(sorted(left)), tuple(sorted(right))
    return all(
        a == b or fuzz.ratio(a, b) >= cutoff or _one_swap_apart(a, b, minimum=2)
        for a, b in zip(left, right, strict=True)
    )


def _initials(tokens: Sequence[str]) -> str:
    """First letters of the words, in sorted order.

    Fuzzy matching forgives typos inside words, not different words: names must agree on
    how many words they have and how each starts. That keeps "Acme" from "Acme Widgets"
    (an extra word is a different firm unless it is generic, see `_GENERIC_WORDS`) and
    "Stowarzyszenie Araszkiewicz" from "Stowarzyszenie Kraszkiewicz", while letting
    "Oxford Nanopore Technolgies" through.
    """
    return "".join(sorted(token[0] for token in tokens))


def _pieces(text: str) -> Iterator[str]:
    """The whole text, then the organisations it names, in the order written."""
    yield text
    if not _ANY_SPLIT.search(text):
        return
    parts = _STRONG_SPLIT.split(text)
    for part in parts:
        roles = _AT_SPLIT.split(part)
        employer = roles[-1]
        if len(parts) > 1 or len(roles) > 1:
            yield employer
        yield from _weak_parts(employer)


def _weak_parts(text: str) -> list[str]:
    """Parts of a comma/"and" list, unless it reads as one partnership name.

    When every part is a single word ("Lewis, Miller and Barnes", "Marks and Spencer") the
    whole is one firm's name, and matching "Miller" on its own would be a false positive.
    """
    parts = [part for part in _WEAK_SPLIT.split(text) if _HAS_WORD.search(part)]
    if len(parts) < 2 or all(" " not in part.strip() for part in parts):
        return []
    # Legal forms do not count as words: "Lewis, Miller and Barnes LLP" is still one firm.
    if all(len(_key_tokens(part)) <= 1 for part in parts):
        return []
    return parts


@dataclass(frozen=True, slots=True)
class _Entry:
    """One way an account can be named: its name or one of its aliases."""

    account_id: str
    method: Literal["alias", "name"]
    text: str
    tokens: tuple[str, ...]
    spaced: str
    initials: str
    digits: tuple[str, ...]


_Ambiguous: TypeAlias = Literal["ambiguous"]
_AMBIGUOUS: Final[_Ambiguous] = "ambiguous"
# A lookup's outcome: a match, "two accounts fit equally well", or nothing.
_Found: TypeAlias = AccountMatch | _Ambiguous | None
_Lookup: TypeAlias = Callable[[tuple[str, ...]], _Found]


def _decide(entries: Sequence[_Entry], score: float) -> _Found:
    """One account among entries -> match (aliases first); several -> ambiguous."""
    if not entries:
        return None
    aliases = [entry for entry in entries if entry.method == "alias"]
    preferred = aliases or list(entries)
    if len({entry.account_id for entry in preferred}) > 1:
        return _AMBIGUOUS
    entry = preferred[0]
    return AccountMatch(entry.account_id, entry.method, score, entry.text)


class AccountMatcher:
    """Attributes organisations (and email domains) to watchlist accounts.

    Build once per watchlist; `match` is cached per organisation string and per normalised
    segment, because many contacts share an employer.
    """

    def __init__(self, accounts: Iterable[AccountKey], *, fuzzy_cutoff: float = 90.0) -> None:
        if not 0.0 < fuzzy_cutoff <= 100.0:
            raise ValueError(f"fuzzy_cutoff must be in (0, 100], not {fuzzy_cutoff}")
        self._cutoff = fuzzy_cutoff
        self._word_cutoff = fuzzy_cutoff - _WORD_CUTOFF_SLACK
        self._domains: dict[str, set[str]] = {}
        self._exact: dict[str, list[_Entry]] = {}
        self._reduced: dict[str, list[_Entry]] = {}
        self._entries: list[_Entry] = []
        self._by_token: dict[str, list[int]] = {}
        self._by_typo_key: dict[str, list[int]] = {}
        self._org_cache: dict[str, AccountMatch | None] = {}
        self._segment_cache: dict[tuple[str, ...], _Found] = {}
        self._fuzzy_cache: dict[tuple[str, ...], _Found] = {}
        self._typo_cache: dict[str, frozenset[int]] = {}
        for account in accounts:
            self._add(account)
        # A word used by this many names ("systems", "group" in another language) says
        # little about which account is meant, so it does not make a block on its own.
        self._common = max(_COMMON_MIN, len(self._entries) // 20)

    # ----------------------------------------------------------------- index building

    def _add(self, account: AccountKey) -> None:
        host = _host_of(account.domain)
        if host is not None:
            self._domains.setdefault(host, set()).add(account.id)
        self._add_entry(account.id, "name", account.name)
        for alias in account.aliases:
            self._add_entry(account.id, "alias", alias)

    def _add_entry(self, account_id: str, method: Literal["alias", "name"], text: str) -> None:
        tokens = _key_tokens(text)
        if not tokens:
            return
        spaced = " ".join(tokens)
        digits = tuple(_DIGITS.findall(spaced))
        entry = _Entry(account_id, method, text, tokens, spaced, _initials(tokens), digits)
        self._exact.setdefault(_compact(tokens), []).append(entry)
        for reduced in _reductions(tokens):
            self._reduced.setdefault(_compact(reduced), []).append(entry)
        index = len(self._entries)
        self._entries.append(entry)
        for token in set(tokens) - _BLOCK_STOPWORDS:
            self._by_token.setdefault(token, []).append(index)
            for key in _one_deletion_keys(token):
                postings = self._by_typo_key.setdefault(key, [])
                if not postings or postings[-1] != index:
                    postings.append(index)

    # ----------------------------------------------------------------- matching

    def match(self, organisation: str | None, email: str | None = None) -> AccountMatch | None:
        """Best account for a contact's organisation and email, or None.

        A matching email domain wins over the organisation text: people type their
        employer loosely but rarely use another company's mailbox.
        """
        by_email = self._match_host(domain_of(email))
        if by_email is not None:
            return by_email
        if not organisation or not organisation.strip():
            return None
        key = organisation.strip()
        if key in self._org_cache:
            return self._org_cache[key]
        found = self._match_organisation(key)
        if len(self._org_cache) >= _CACHE_LIMIT:
            self._org_cache.clear()
        self._org_cache[key] = found
        return found

    def _match_host(self, host: str | None) -> AccountMatch | None:
        if host is None:
            return None
        labels = host.split(".")
        for start in range(len(labels) - 1):
            candidate = ".".join(labels[start:])
            ids = self._domains.get(candidate)
            if ids:
                # Two accounts sharing a domain: the domain cannot tell them apart.
                if len(ids) > 1:
                    return None
                return AccountMatch(next(iter(ids)), "domain", 100.0, candidate)
        return None

    def _match_organisation(self, organisation: str) -> AccountMatch | None:
        for host in self._hosts_in(organisation):
            by_domain = self._match_host(host)
            if by_domain is not None:
                return by_domain
        if not _NEEDS_SEGMENTS.search(organisation):
            # A plain name (the usual case): no parts, remarks or addresses to look for.
            tokens = _key_tokens(organisation)
            found = self._first([tokens]) if tokens else None
            return None if found == _AMBIGUOUS else found
        # Evidence about the whole organisation beats evidence about one of its parts, so
        # "Clark, Campbell nad Fox" is the typo'd partnership rather than a firm named Clark.
        segments = self._segments(organisation)
        whole = next(segments, None)
        if whole is None:
            return None
        found = self._first([whole])
        if found is None:
            found = self._first(list(segments))
        return None if found == _AMBIGUOUS else found

    def _first(self, segments: list[tuple[str, ...]]) -> _Found:
        """Exact or generic-word evidence for any segment, else fuzzy, in segment order."""
        for cache, lookup in (
            (self._segment_cache, self._exact_or_core),
            (self._fuzzy_cache, self._fuzzy),
        ):
            for segment in segments:
                found = self._cached(cache, segment, lookup)
                if found is not None:
                    return found
        return None

    @staticmethod
    def _hosts_in(organisation: str) -> list[str]:
        """Domains written into the organisation: "Aiven (https://aiven.io)", "Kiwi.com"."""
        if "." not in organisation and "@" not in organisation:
            return []
        hosts = [_host_of(found) for found in _EMBEDDED_ADDRESS.findall(organisation)]
        hosts += [
            domain_of(word)
            for word in organisation.split()
            if "." in word and _DOMAIN_LIKE.fullmatch(word.strip("()[],;"))
        ]
        return [host for host in hosts if host is not None and not _is_free_mail(host)]

    @staticmethod
    def _segments(organisation: str) -> Iterator[tuple[str, ...]]:
        """Key tokens of the whole organisation, then of each part it names, in order.

        Bracketed remarks ("Acme (Berlin office)") and addresses are dropped: they are
        locations, teams or former employers more often than a second company.
        """
        text = organisation
        if "@" in text or "." in text:
            text = _EMBEDDED_ADDRESS.sub(" ", text)
        if "(" in text or "[" in text or "{" in text:
            unbracketed = _BRACKETED.sub(" ", text)
            text = unbracketed if _HAS_WORD.search(unbracketed) else text
        parent = _PARENT_PHRASE.search(text) if "," in text else None
        pieces = _pieces(text) if parent is None else [*_pieces(text), parent.group(1)]
        seen: set[tuple[str, ...]] = set()
        for piece in pieces:
            tokens = _key_tokens(piece) if _HAS_WORD.search(piece) else ()
            if tokens and tokens not in seen:
                seen.add(tokens)
                yield tokens

    def _cached(
        self,
        cache: dict[tuple[str, ...], _Found],
        tokens: tuple[str, ...],
        compute: _Lookup,
    ) -> _Found:
        if tokens in cache:
            return cache[tokens]
        found = compute(tokens)
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[tokens] = found
        return found

    def _exact_or_core(self, tokens: tuple[str, ...]) -> _Found:
        compact = _compact(tokens)
        found = _decide(self._exact.get(compact, ()), 100.0)
        if found is not None:
            return found
        # The account name carries generic words the organisation lacks ("Oxford Nanopore").
        found = _decide(self._reduced.get(compact, ()), _CORE_SCORE)
        if found is not None:
            return found
        # The organisation carries generic words the account lacks ("Oracle Labs").
        for reduced in _reductions(tokens):
            found = _decide(self._exact.get(_compact(reduced), ()), _CORE_SCORE)
            if found is not None:
                return found
        return None

    def _candidates(self, tokens: tuple[str, ...]) -> set[int]:
        """Entries sharing a distinctive word with the organisation, or one typo away from it.

        Words used by many names are skipped unless the organisation has nothing else: a
        fuzzy match needs near-identical names, so the distinctive words must agree too.
        """
        found: set[int] = set()
        common: list[set[int]] = []
        unknown: list[str] = []
        for token in tokens:
            if token in _BLOCK_STOPWORDS:
                continue
            postings = self._by_token.get(token)
            if postings is None:
                unknown.append(token)
            elif len(postings) > self._common:
                common.append(set(postings))
            else:
                found.update(postings)
        for token in unknown:
            found.update(self._typo_neighbours(token))
        if not found and not unknown and common:
            # Only common words ("Global Systems"): names containing all of them.
            found = set.intersection(*common)
        return found

    def _typo_neighbours(self, word: str) -> frozenset[int]:
        """Entries with a distinctive word one typo away from `word` (cached per word)."""
        cached = self._typo_cache.get(word)
        if cached is None:
            found: set[int] = set()
            for key in _one_deletion_keys(word):
                postings = self._by_typo_key.get(key)
                if postings and len(postings) <= self._common:
                    found.update(postings)
            cached = frozenset(found)
            if len(self._typo_cache) >= _CACHE_LIMIT:
                self._typo_cache.clear()
            self._typo_cache[word] = cached
        return cached

    def _fuzzy(self, tokens: tuple[str, ...]) -> _Found:
        query = " ".join(tokens)
        initials = _initials(tokens)
        digits = tuple(_DIGITS.findall(query))
        # Same word count and initials, same numbers ("Shift4" is not "Shift5"): cheap tests
        # that rule out most candidates before any scoring.
        entries = [
            self._entries[index]
            for index in sorted(self._candidates(tokens))
            if self._entries[index].initials == initials and self._entries[index].digits == digits
        ]
        if not entries:
            return None
        choices = [entry.spaced for entry in entries]
        scores = self._scores(query, choices, fuzz.ratio)
        if len(tokens) > 1:
            # token_sort_ratio forgives word order ("Foundation, Python Software").
            for position, score in self._scores(query, choices, fuzz.token_sort_ratio).items():
                scores[position] = max(score, scores.get(position, 0.0))
        size = len(query)
        for position, choice in enumerate(choices):
            if len(choice) == size and position not in scores and _one_swap_apart(query, choice):
                scores[position] = round(100.0 * OSA.normalized_similarity(query, choice), 1)
        ranked = sorted(
            (
                (score, position)
                for position, score in scores.items()
                if _words_agree(tokens, entries[position].tokens, self._word_cutoff)
            ),
            key=lambda pair: (-pair[0], pair[1]),
        )
        if not ranked:
            return None
        best_score, best_position = ranked[0]
        best = entries[best_position]
        if any(s == best_score and entries[p].account_id != best.account_id for s, p in ranked):
            return _AMBIGUOUS
        return AccountMatch(best.account_id, "fuzzy", round(best_score, 1), best.text)

    def _scores(
        self, query: str, choices: list[str], scorer: Callable[..., float]
    ) -> dict[int, float]:
        found = process.extract(
            query, choices, scorer=scorer, score_cutoff=self._cutoff, limit=None
        )
        return {position: score for _choice, score, position in found}
