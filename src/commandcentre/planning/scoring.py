"""The signal score of an opportunity: how much an event is worth the user's attention.

Pure: no database, no clock. Discovery gathers the facts (which target accounts, which
people, in what role, how many days away) and this module turns them into a 0..100 score
with an explanation a person can check.

The score is a sum of five factors, each with a ceiling (see `WEIGHTS`):

* accounts   — how many target accounts are there (saturating table);
* tiers      — how important those accounts are (noisy-OR over per-tier weights);
* seniority  — how senior their people are (noisy-OR over per-level weights);
* engagement — speaking beats organising beats sponsoring beats attending (noisy-OR);
* timing     — 2-8 weeks out is the sweet spot; past events get nothing.

Noisy-OR (`1 - Π(1 - w)`) grows with every extra account or person and with every
upgrade of one, but never passes 1, so the first four factors are monotonic by
construction. They are computed from counts per category in a fixed order, so the result
does not depend on the order the accounts or people arrive in.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias, get_args

__all__ = [
    "ROLES",
    "SENIORITIES",
    "WEIGHTS",
    "AccountSignal",
    "PersonSignal",
    "Role",
    "ScoreResult",
    "Seniority",
    "seniority_of",
    "signal_score",
]

Seniority: TypeAlias = Literal[
    "executive", "vp", "director", "manager", "senior_ic", "ic", "unknown"
]
Role: TypeAlias = Literal["speaker", "organiser", "sponsor", "attendee"]

# Most senior first; the order the seniority rules are ranked in.
SENIORITIES: Final[tuple[Seniority, ...]] = get_args(Seniority)
# Strongest presence first.
ROLES: Final[tuple[Role, ...]] = get_args(Role)


# --------------------------------------------------------------------------- weights


@dataclass(frozen=True, slots=True)
class Weights:
    """Every number the score uses, in one place.

    `*_points` are the ceilings of the factors and add up to 100. The per-category
    weights are noisy-OR probabilities: one tier-1 account alone earns 70 % of the tier
    ceiling, two earn 91 %.
    """

    account_points: float = 30.0
    tier_points: float = 20.0
    seniority_points: float = 20.0
    engagement_points: float = 15.0
    timing_points: float = 15.0
    # Share of `account_points` for 0, 1, 2, ... accounts; the last entry holds beyond.
    account_curve: tuple[float, ...] = (0.0, 0.4, 0.65, 0.8, 0.9, 0.95, 1.0)
    tier: Mapping[int, float] = field(default_factory=lambda: {1: 0.7, 2: 0.4, 3: 0.15})
    seniority: Mapping[Seniority, float] = field(
        default_factory=lambda: {
            "executive": 0.6,
            "vp": 0.5,
            "director": 0.4,
            "manager": 0.25,
            "senior_ic": 0.15,
            "ic": 0.08,
            "unknown": 0.05,
        }
    )
    role: Mapping[Role, float] = field(
        default_factory=lambda: {
            "speaker": 0.6,
            "organiser": 0.45,
            "sponsor": 0.35,
            "attendee": 0.2,
        }
    )
    # Timing: full points from `sweet_from` to `sweet_to` days out. Closer than that there
    # is little time to arrange a meeting; further out plans and speakers still change.
    sweet_from: int = 14
    sweet_to: int = 56
    today_share: float = 0.4  # share of timing points for an event today or running now
    far_days: int = 180  # from sweet_to to here the share falls to far_share
    far_share: float = 0.4
    horizon_days: int = 365  # and from far_days to here down to horizon_share, then flat
    horizon_share: float = 0.2
    unknown_share: float = 0.3  # events without a date


WEIGHTS: Final = Weights()


# --------------------------------------------------------------------------- inputs, result


@dataclass(frozen=True, slots=True)
class PersonSignal:
    """One person of a target account at the event, in their strongest role there."""

    seniority: Seniority
    role: Role


@dataclass(frozen=True, slots=True)
class AccountSignal:
    """One target account at the event and its people."""

    tier: int
    people: tuple[PersonSignal, ...] = ()


@dataclass(frozen=True, slots=True)
class ScoreResult:
    score: float
    explanation: dict[str, Any]


# --------------------------------------------------------------------------- seniority

# Ranked most senior first; a title gets the first level any of its parts matches.
_RULE_PATTERNS: Final[tuple[tuple[Seniority, str], ...]] = (
    (
        "executive",
        r"\b(?:c[a-z]o|ciso|chief(?! of staff)|(?:co ?)?founder|fondat(?:eur|rice)"
        r"|fundador[a]?|oprichter|grunder(?:in)?|(?<!vice )president[ea]?|prasident(?:in)?"
        r"|prezes|chair(?:man|woman|person)|managing director|executive director"
        r"|director[a]? general|directeur general|directrice generale|algemeen directeur"
        r"|pdg|amministratore delegato|gesch(?:a|ae)ftsf(?:u|ue)hrer(?:in)?|vorstand\w*"
        r"|inhaber(?:in)?|^(?:co ?)?owner)\b"
        # "Partner" ends its part of the title: "Managing Partner", not "Partner Manager".
        r"|\bpartner(?:in)?$",
    ),
    (
        "vp",
        r"\b(?:[saef]?vp|vice president[ea]?|vizeprasident(?:in)?|vicepresident[ea]?)\b",
    ),
    (
        "director",
        r"\b(?:director[a]?|directeur|directrice|direttore|direktor(?:in)?|dyrektor"
        r"|head|chief of staff|jef[ea] de)\b"
        r"|(?<!team)(?<!team )(?<!gruppen)(?<!projekt)(?<!projekt )leiter(?:in)?\b",
    ),
    (
        "manager",
        r"\b(?:manager(?:in)?|lead|leader|supervisor|gerente|responsable|responsabile"
        r"|kierownik|teamleider|chef de?)\b"
        r"|(?:team|gruppen|projekt) ?leiter(?:in)?\b",
    ),
    (
        "senior_ic",
        r"\b(?:senior|sr|staff|principal|architect|distinguished|fellow|expert)\b",
    ),
)
_RULES: Final = tuple((level, re.compile(pattern)) for level, pattern in _RULE_PATTERNS)
# Where one part of a title ends and the next (or the employer) begins:
# "Partner, Sequoia", "VP Sales | Acme", "Staff Engineer @ Acme", "Founder - Acme".
_PARTS: Final = re.compile(r"[,;|/@()\[\]]|\s[-\u2013\u2014]\s|\sat\s", re.IGNORECASE)
_NON_WORD: Final = re.compile(r"[\W_]+")


def _fold(text: str) -> str:
    """Lower case, no accents, words separated by single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(char for char in decomposed if unicodedata.category(char) != "Mn")
    return _NON_WORD.sub(" ", plain).strip()


def seniority_of(title: str | None) -> Seniority:
    """Seniority level of a job title: the most senior level any part of it names.

    "Co-founder & VP Engineering" is an executive, "Senior Director" a director,
    "Partner Manager" a manager. An empty title is "unknown"; a title that names no level
    ("Software Engineer") is an individual contributor.
    """
    parts = [folded for part in _PARTS.split(title or "") if (folded := _fold(part))]
    if not parts:
        return "unknown"
    for level, pattern in _RULES:
        if any(pattern.search(part) for part in parts):
            return level
    return "ic"


# --------------------------------------------------------------------------- score


def _noisy_or(counts: Mapping[Any, int], weights: Mapping[Any, float]) -> float:
    """1 - Π(1 - w)^n over categories in the weights' (fixed) order."""
    remaining = 1.0
    for category, weight in weights.items():
        remaining *= (1.0 - weight) ** counts.get(category, 0)
    return 1.0 - remaining


def _account_share(count: int, w: Weights) -> float:
    curve = w.account_curve
    return curve[min(count, len(curve) - 1)]


def _linear(x: float, x0: float, x1: float, y0: float, y1: float) -> float:
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def _timing_share(days_until: int | None, w: Weights) -> float:
    if days_until is None:
        return w.unknown_share
    if days_until < 0:
        return 0.0
    if days_until < w.sweet_from:
        return _linear(days_until, 0, w.sweet_from, w.today_share, 1.0)
    if days_until <= w.sweet_to:
        return 1.0
    if days_until <= w.far_days:
        return _linear(days_until, w.sweet_to, w.far_days, 1.0, w.far_share)
    if days_until <= w.horizon_days:
        return _linear(days_until, w.far_days, w.horizon_days, w.far_share, w.horizon_share)
    return w.horizon_share


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"


def _when(days_until: int | None) -> str:
    if days_until is None:
        return "event date unknown"
    if days_until < 0:
        return f"event was {_plural(-days_until, 'day')} ago"
    if days_until == 0:
        return "event is today"
    return f"event in {_plural(days_until, 'day')}"


def _timing_detail(days_until: int | None, w: Weights) -> str:
    when = _when(days_until)
    if days_until is None:
        return f"{when}: partial credit"
    if days_until < 0:
        return f"{when}: too late to plan for"
    if days_until < w.sweet_from:
        return f"{when}: little time to arrange meetings"
    if days_until <= w.sweet_to:
        return f"{when}: inside the {w.sweet_from // 7}-{w.sweet_to // 7} week sweet spot"
    return f"{when}: far out, plans may change"


def _breakdown(counts: Mapping[Any, int], order: Iterable[str], labels: Mapping[str, str]) -> str:
    parts = [f"{counts[key]} {labels.get(key, key)}" for key in order if counts.get(key)]
    return ", ".join(parts) or "none"


_SENIORITY_LABELS: Final = {
    "executive": "executive",
    "vp": "VP",
    "director": "director",
    "manager": "manager",
    "senior_ic": "senior IC",
    "ic": "IC",
    "unknown": "unknown",
}
_ROLE_LABELS: Final = {
    "speaker": "speaking",
    "organiser": "organising",
    "sponsor": "sponsoring",
    "attendee": "attending",
}


def _factor(name: str, points: float, detail: str) -> dict[str, Any]:
    return {"name": name, "points": round(points, 1), "detail": detail}


def signal_score(
    *, accounts: Sequence[AccountSignal], days_until: int | None, weights: Weights = WEIGHTS
) -> ScoreResult:
    """Score an event from its target accounts and its distance in days (negative = past).

    Without target accounts there is no opportunity, so the score is 0 whatever the date.
    """
    w = weights
    tiers = Counter(account.tier for account in accounts)
    people = [person for account in accounts for person in account.people]
    levels = Counter(person.seniority for person in people)
    roles = Counter(person.role for person in people)
    has_accounts = bool(accounts)

    tier_1 = tiers.get(1, 0)
    directors_plus = sum(levels.get(level, 0) for level in ("executive", "vp", "director"))
    factors = [
        _factor(
            "accounts",
            w.account_points * _account_share(len(accounts), w),
            _plural(len(accounts), "target account"),
        ),
        _factor(
            "tiers",
            w.tier_points * _noisy_or(tiers, w.tier),
            _breakdown(
                {str(k): v for k, v in tiers.items()},
                ("1", "2", "3"),
                {"1": "tier 1", "2": "tier 2", "3": "tier 3"},
            ),
        ),
        _factor(
            "seniority",
            w.seniority_points * _noisy_or(levels, w.seniority),
            _breakdown(levels, SENIORITIES, _SENIORITY_LABELS),
        ),
        _factor(
            "engagement",
            w.engagement_points * _noisy_or(roles, w.role),
            _breakdown(roles, ROLES, _ROLE_LABELS),
        ),
        _factor(
            "timing",
            w.timing_points * _timing_share(days_until, w) if has_accounts else 0.0,
            _timing_detail(days_until, w),
        ),
    ]
    total = sum(factor["points"] for factor in factors) if has_accounts else 0.0
    summary = (
        f"{_plural(len(accounts), 'target account')} ({tier_1} tier 1), "
        f"{_plural(len(people), 'person', 'people')} incl. "
        f"{_plural(directors_plus, 'director')}+, {_when(days_until)}"
    )
    return ScoreResult(
        score=round(min(100.0, max(0.0, total)), 1),
        explanation={"summary": summary, "factors": factors},
    )
