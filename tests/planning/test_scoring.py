"""The signal score: seniority of titles, factors, bounds and monotonicity."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commandcentre.planning.scoring import (
    ROLES,
    SENIORITIES,
    WEIGHTS,
    AccountSignal,
    PersonSignal,
    Role,
    Seniority,
    seniority_of,
    signal_score,
)

# --- seniority ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("CEO", "executive"),
        ("Co-Founder & CTO", "executive"),
        ("Chief Revenue Officer", "executive"),
        ("Founder - Acme", "executive"),
        ("President", "executive"),
        ("Managing Partner, Sequoia", "executive"),
        ("Partner at Accel", "executive"),
        ("Managing Director", "executive"),
        ("Geschäftsführer", "executive"),
        ("Geschaeftsfuehrer", "executive"),
        ("Président-directeur général", "executive"),
        ("Directora General", "executive"),
        ("VP Engineering", "vp"),
        ("Vice President, Sales", "vp"),
        ("Vice-président Marketing", "vp"),
        ("SVP Product", "vp"),
        ("EVP & General Counsel", "vp"),
        ("Vizepräsidentin", "vp"),
        ("Director of Engineering", "director"),
        ("Senior Director, Platform", "director"),
        ("Head of Data", "director"),
        ("Directeur technique", "director"),
        ("Leiter Vertrieb", "director"),
        ("Abteilungsleiterin", "director"),
        ("Chief of Staff", "director"),
        ("Engineering Manager", "manager"),
        ("Senior Manager", "manager"),
        ("Partner Manager", "manager"),
        ("Tech Lead", "manager"),
        ("Teamleiter", "manager"),
        ("Chef de projet", "manager"),
        ("Responsable marketing", "manager"),
        ("Senior Software Engineer", "senior_ic"),
        ("Sr. Data Scientist", "senior_ic"),
        ("Staff Engineer @ Acme", "senior_ic"),
        ("Principal Architect", "senior_ic"),
        ("Software Engineer", "ic"),
        ("Developer Advocate", "ic"),
        ("Account Executive", "ic"),
        ("Product Owner", "ic"),
        ("Leadership coach", "ic"),
        ("", "unknown"),
        ("   ", "unknown"),
        (None, "unknown"),
    ],
)
def test_seniority_of_titles(title: str | None, expected: Seniority) -> None:
    assert seniority_of(title) == expected


@given(st.text(max_size=80))
def test_seniority_of_any_text_is_a_known_level(title: str) -> None:
    assert seniority_of(title) in SENIORITIES


# --- factors and explanation -------------------------------------------------------------


def person(seniority: Seniority = "ic", role: Role = "speaker") -> PersonSignal:
    return PersonSignal(seniority=seniority, role=role)


def test_explanation_summary_and_factors() -> None:
    result = signal_score(
        accounts=[
            AccountSignal(1, (person("director"), person("vp", "attendee"))),
            AccountSignal(2, (person("ic"),)),
            AccountSignal(3, (person("manager", "attendee"), person("unknown"))),
        ],
        days_until=24,
    )
    explanation = result.explanation
    assert explanation["summary"] == (
        "3 target accounts (1 tier 1), 5 people incl. 2 directors+, event in 24 days"
    )
    factors = {f["name"]: f for f in explanation["factors"]}
    assert list(factors) == ["accounts", "tiers", "seniority", "engagement", "timing"]
    assert set(factors["timing"]) == {"name", "points", "detail"}
    assert factors["timing"]["points"] == WEIGHTS.timing_points
    assert "sweet spot" in factors["timing"]["detail"]
    assert factors["engagement"]["detail"] == "3 speaking, 2 attending"
    assert factors["tiers"]["detail"] == "1 tier 1, 1 tier 2, 1 tier 3"
    assert result.score == round(sum(f["points"] for f in factors.values()), 1)
    assert 0 < result.score < 100


def test_singular_summary() -> None:
    result = signal_score(accounts=[AccountSignal(2, (person("executive"),))], days_until=1)
    assert result.explanation["summary"] == (
        "1 target account (0 tier 1), 1 person incl. 1 director+, event in 1 day"
    )


def test_no_accounts_scores_zero() -> None:
    result = signal_score(accounts=[], days_until=30)
    assert result.score == 0
    assert all(f["points"] == 0 for f in result.explanation["factors"])


def test_timing_sweet_spot_beats_too_soon_and_too_far() -> None:
    def score(days: int | None) -> float:
        return signal_score(accounts=[AccountSignal(1, (person(),))], days_until=days).score

    assert score(14) == score(30) == score(56)
    assert score(3) < score(14)
    assert score(120) < score(56)
    assert score(400) < score(120)
    assert score(400) == score(900)
    assert score(-1) < score(0) < score(1)
    assert score(-1) == score(-300)


@pytest.mark.parametrize("days", [-1, -30])
def test_past_events_get_no_timing_points(days: int) -> None:
    result = signal_score(accounts=[AccountSignal(1, (person(),))], days_until=days)
    timing = next(f for f in result.explanation["factors"] if f["name"] == "timing")
    assert timing["points"] == 0
    assert "ago" in timing["detail"]
    assert "ago" in result.explanation["summary"]


def test_unknown_date_gets_partial_timing() -> None:
    result = signal_score(accounts=[AccountSignal(1, (person(),))], days_until=None)
    timing = next(f for f in result.explanation["factors"] if f["name"] == "timing")
    assert 0 < timing["points"] < WEIGHTS.timing_points
    assert result.explanation["summary"].endswith("event date unknown")


def test_the_strongest_case_reaches_the_ceiling() -> None:
    people = tuple(person("executive", "speaker") for _ in range(30))
    accounts = [AccountSignal(1, people) for _ in range(10)]
    assert signal_score(accounts=accounts, days_until=30).score == pytest.approx(100, abs=0.5)


def test_weights_ceilings_add_up_to_100() -> None:
    ceilings = (
        WEIGHTS.account_points,
        WEIGHTS.tier_points,
        WEIGHTS.seniority_points,
        WEIGHTS.engagement_points,
        WEIGHTS.timing_points,
    )
    assert sum(ceilings) == 100


# --- properties ---------------------------------------------------------------------------

people_st = st.builds(
    PersonSignal, seniority=st.sampled_from(SENIORITIES), role=st.sampled_from(ROLES)
)
account_st = st.builds(
    AccountSignal,
    tier=st.integers(min_value=1, max_value=3),
    people=st.lists(people_st, max_size=6).map(tuple),
)
accounts_st = st.lists(account_st, max_size=8)
days_st = st.one_of(st.none(), st.integers(min_value=-1000, max_value=2000))


def score_of(accounts: list[AccountSignal], days: int | None) -> float:
    return signal_score(accounts=accounts, days_until=days).score


@given(accounts_st, days_st)
def test_score_is_bounded_and_rounded(accounts: list[AccountSignal], days: int | None) -> None:
    result = signal_score(accounts=accounts, days_until=days)
    assert 0 <= result.score <= 100
    assert result.score == round(result.score, 1)
    assert all(f["points"] >= 0 for f in result.explanation["factors"])


@given(accounts_st, days_st)
def test_score_ignores_the_order_of_accounts(
    accounts: list[AccountSignal], days: int | None
) -> None:
    assert score_of(accounts, days) == score_of(list(reversed(accounts)), days)


@given(accounts_st, account_st, days_st)
def test_another_account_never_lowers_the_score(
    accounts: list[AccountSignal], extra: AccountSignal, days: int | None
) -> None:
    assert score_of([*accounts, extra], days) >= score_of(accounts, days)


@given(accounts_st.filter(bool), st.data(), days_st)
def test_a_better_tier_never_lowers_the_score(
    accounts: list[AccountSignal], data: st.DataObject, days: int | None
) -> None:
    index = data.draw(st.integers(0, len(accounts) - 1))
    account = accounts[index]
    better = data.draw(st.integers(1, account.tier))
    upgraded = [*accounts]
    upgraded[index] = AccountSignal(better, account.people)
    assert score_of(upgraded, days) >= score_of(accounts, days)


@given(accounts_st.filter(lambda a: any(x.people for x in a)), st.data(), days_st)
def test_a_more_senior_person_never_lowers_the_score(
    accounts: list[AccountSignal], data: st.DataObject, days: int | None
) -> None:
    index = data.draw(st.sampled_from([i for i, a in enumerate(accounts) if a.people]))
    account = accounts[index]
    slot = data.draw(st.integers(0, len(account.people) - 1))
    current = account.people[slot]
    rank = SENIORITIES.index(current.seniority)
    senior = data.draw(st.sampled_from(SENIORITIES[: rank + 1]))
    people = list(account.people)
    people[slot] = PersonSignal(senior, current.role)
    upgraded = [*accounts]
    upgraded[index] = AccountSignal(account.tier, tuple(people))
    assert score_of(upgraded, days) >= score_of(accounts, days)


@given(accounts_st.filter(bool), st.data(), people_st, days_st)
def test_another_person_never_lowers_the_score(
    accounts: list[AccountSignal], data: st.DataObject, extra: PersonSignal, days: int | None
) -> None:
    index = data.draw(st.integers(0, len(accounts) - 1))
    grown = [*accounts]
    grown[index] = AccountSignal(accounts[index].tier, (*accounts[index].people, extra))
    assert score_of(grown, days) >= score_of(accounts, days)


@given(accounts_st.filter(bool), st.integers(min_value=-1000, max_value=-1))
def test_past_events_never_beat_the_same_event_ahead(
    accounts: list[AccountSignal], days: int
) -> None:
    assert score_of(accounts, days) <= score_of(accounts, 0)


@given(accounts_st.filter(lambda a: any(x.people for x in a)), st.data(), days_st)
def test_a_stronger_role_never_lowers_the_score(
    accounts: list[AccountSignal], data: st.DataObject, days: int | None
) -> None:
    index = data.draw(st.sampled_from([i for i, a in enumerate(accounts) if a.people]))
    account = accounts[index]
    slot = data.draw(st.integers(0, len(account.people) - 1))
    current = account.people[slot]
    stronger = data.draw(st.sampled_from(ROLES[: ROLES.index(current.role) + 1]))
    people = list(account.people)
    people[slot] = PersonSignal(current.seniority, stronger)
    upgraded = [*accounts]
    upgraded[index] = AccountSignal(account.tier, tuple(people))
    assert score_of(upgraded, days) >= score_of(accounts, days)
