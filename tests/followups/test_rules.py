"""Follow-up schedule rules: examples for each rule, then properties over random inputs."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commandcentre.agents.config import FollowupConfig
from commandcentre.followups.rules import (
    FollowupPlan,
    FollowupRules,
    PlannedFollowUp,
    add_business_days,
    is_allowed,
    next_slot,
    plan_followups,
    reschedule,
    resume_at,
    violation,
)

BERLIN = ZoneInfo("Europe/Berlin")
REGULAR = {"reminder", "value_add", "check_in"}


def berlin(y: int, m: int, d: int, h: int, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=BERLIN)


def local(plan: FollowupPlan, zone: str = "Europe/Berlin") -> list[tuple[str, datetime]]:
    tz = ZoneInfo(zone)
    return [
        (p.followup_type, p.scheduled_at.astimezone(tz).replace(tzinfo=None)) for p in plan.planned
    ]


# --- examples, one per rule -----------------------------------------------------------------


def test_no_event_delay_in_business_days_keeps_the_wall_time() -> None:
    # Monday 2 March 2026, 10:30 Berlin; +3 business days = Thursday, +3 more = Tuesday.
    plan = plan_followups(
        sent_at=berlin(2026, 3, 2, 10, 30),
        event_start=None,
        event_end=None,
        recipient_tz="Europe/Berlin",
    )
    assert local(plan) == [
        ("reminder", datetime(2026, 3, 5, 10, 30)),
        ("value_add", datetime(2026, 3, 10, 10, 30)),
    ]
    assert [p.number for p in plan.planned] == [1, 2]
    assert plan.skipped == ()
    assert all(p.scheduled_at.tzinfo is UTC for p in plan.planned)


def test_weekend_and_out_of_hours_sends_move_to_the_opening() -> None:
    # Saturday 21:00: three weekdays later is Wednesday, at the opening hour.
    plan = plan_followups(
        sent_at=berlin(2026, 3, 7, 21),
        event_start=None,
        event_end=None,
        recipient_tz="Europe/Berlin",
        rules=FollowupRules(max_followups=1),
    )
    assert local(plan) == [("reminder", datetime(2026, 3, 11, 9, 0))]


def test_friday_send_skips_the_weekend() -> None:
    plan = plan_followups(
        sent_at=berlin(2026, 3, 6, 16, 45),
        event_start=None,
        event_end=None,
        recipient_tz="Europe/Berlin",
        rules=FollowupRules(max_followups=1, delay_business_days=1),
    )
    assert local(plan) == [("reminder", datetime(2026, 3, 9, 16, 45))]


def test_the_type_sequence_repeats_its_last_type() -> None:
    plan = plan_followups(
        sent_at=berlin(2026, 3, 2, 10),
        event_start=None,
        event_end=None,
        recipient_tz="Europe/Berlin",
        rules=FollowupRules(max_followups=5),
    )
    assert [p.followup_type for p in plan.planned] == [
        "reminder",
        "value_add",
        "check_in",
        "check_in",
        "check_in",
    ]


def test_never_the_day_before_the_event_it_becomes_the_post_event_one() -> None:
    # Reminder would be Thursday 12 March, the day before a Friday 13 March event.
    plan = plan_followups(
        sent_at=berlin(2026, 3, 9, 11),
        event_start=date(2026, 3, 13),
        event_end=date(2026, 3, 13),
        recipient_tz="Europe/Berlin",
    )
    assert local(plan) == [("post_event", datetime(2026, 3, 16, 9, 0))]
    assert len(plan.skipped) == 1
    skipped = plan.skipped[0]
    assert skipped.reason == "only_one_post_event"
    assert skipped.followup_type == "value_add"


def test_before_the_quiet_period_follow_ups_are_regular() -> None:
    plan = plan_followups(
        sent_at=berlin(2026, 3, 2, 11),
        event_start=date(2026, 3, 13),
        event_end=date(2026, 3, 13),
        recipient_tz="Europe/Berlin",
    )
    # Thursday 5th is fine; Tuesday 10th too (the quiet period starts Thursday 12th).
    assert local(plan) == [
        ("reminder", datetime(2026, 3, 5, 11)),
        ("value_add", datetime(2026, 3, 10, 11)),
    ]


def test_nothing_during_a_multi_day_event_post_event_on_first_business_day_after() -> None:
    # Event Thursday 12 to Saturday 14 March; reminder would fall on Friday 13th.
    plan = plan_followups(
        sent_at=berlin(2026, 3, 10, 14),
        event_start=date(2026, 3, 12),
        event_end=date(2026, 3, 14),
        recipient_tz="Europe/Berlin",
    )
    assert local(plan) == [("post_event", datetime(2026, 3, 16, 9))]


def test_meeting_note_during_the_event_when_asked() -> None:
    plan = plan_followups(
        sent_at=berlin(2026, 3, 2, 10),
        event_start=date(2026, 3, 10),
        event_end=date(2026, 3, 11),
        recipient_tz="Europe/Berlin",
        rules=FollowupRules(max_followups=3, meeting_note=True),
    )
    assert local(plan) == [
        ("reminder", datetime(2026, 3, 5, 10)),
        ("meeting_note", datetime(2026, 3, 10, 9)),
        ("post_event", datetime(2026, 3, 12, 9)),
    ]
    assert [p.number for p in plan.planned] == [1, 2, 3]
    assert [s.reason for s in plan.skipped] == ["only_one_post_event"]


def test_meeting_note_still_planned_when_regular_follow_ups_end_early() -> None:
    plan = plan_followups(
        sent_at=berlin(2026, 3, 2, 10),
        event_start=date(2026, 3, 20),
        event_end=date(2026, 3, 20),
        recipient_tz="Europe/Berlin",
        rules=FollowupRules(max_followups=1, meeting_note=True),
    )
    assert local(plan) == [
        ("reminder", datetime(2026, 3, 5, 10)),
        ("meeting_note", datetime(2026, 3, 20, 9)),
    ]


def test_meeting_note_on_a_weekend_event_is_skipped_with_the_reason() -> None:
    plan = plan_followups(
        sent_at=berlin(2026, 3, 2, 10),
        event_start=date(2026, 3, 14),
        event_end=date(2026, 3, 15),
        recipient_tz="Europe/Berlin",
        rules=FollowupRules(max_followups=0, meeting_note=True),
    )
    assert plan.planned == ()
    assert [s.reason for s in plan.skipped] == ["meeting_note_weekend_event"]


def test_meeting_note_without_event_or_after_it_is_skipped() -> None:
    no_event = plan_followups(
        sent_at=berlin(2026, 3, 2, 10),
        event_start=None,
        event_end=None,
        recipient_tz="Europe/Berlin",
        rules=FollowupRules(max_followups=0, meeting_note=True),
    )
    assert [s.reason for s in no_event.skipped] == ["meeting_note_without_event"]
    over = plan_followups(
        sent_at=berlin(2026, 3, 20, 10),
        event_start=date(2026, 3, 10),
        event_end=date(2026, 3, 11),
        recipient_tz="Europe/Berlin",
        rules=FollowupRules(max_followups=0, meeting_note=True),
    )
    assert [s.reason for s in over.skipped] == ["meeting_note_no_slot"]


def test_sent_after_the_event_post_event_keeps_the_usual_delay() -> None:
    plan = plan_followups(
        sent_at=berlin(2026, 3, 16, 10),
        event_start=date(2026, 3, 12),
        event_end=date(2026, 3, 13),
        recipient_tz="Europe/Berlin",
    )
    assert local(plan) == [("post_event", datetime(2026, 3, 19, 10))]
    assert [s.reason for s in plan.skipped] == ["only_one_post_event"]


def test_event_dates_are_normalised() -> None:
    # End before start is a typo for a one-day event; a missing start uses the end.
    swapped = plan_followups(
        sent_at=berlin(2026, 3, 9, 11),
        event_start=date(2026, 3, 13),
        event_end=date(2026, 3, 1),
        recipient_tz="Europe/Berlin",
        rules=FollowupRules(max_followups=1),
    )
    only_end = plan_followups(
        sent_at=berlin(2026, 3, 9, 11),
        event_start=None,
        event_end=date(2026, 3, 13),
        recipient_tz="Europe/Berlin",
        rules=FollowupRules(max_followups=1),
    )
    as_datetimes = plan_followups(
        sent_at=berlin(2026, 3, 9, 11),
        event_start=datetime(2026, 3, 13, 18, 0),
        event_end=None,
        recipient_tz="Europe/Berlin",
        rules=FollowupRules(max_followups=1),
    )
    assert (
        local(swapped)
        == local(only_end)
        == local(as_datetimes)
        == [("post_event", datetime(2026, 3, 16, 9))]
    )


def test_min_gap_longer_than_the_delay_wins() -> None:
    plan = plan_followups(
        sent_at=berlin(2026, 3, 2, 10),
        event_start=None,
        event_end=None,
        recipient_tz="Europe/Berlin",
        rules=FollowupRules(delay_business_days=1, min_gap=timedelta(days=5)),
    )
    assert local(plan) == [
        ("reminder", datetime(2026, 3, 9, 9)),  # Sat 7th 10:00 -> next opening Monday
        ("value_add", datetime(2026, 3, 16, 9)),
    ]


def test_dst_spring_forward_keeps_local_wall_time() -> None:
    # Berlin moves to CEST on Sunday 29 March 2026: 10:00 local is 09:00 UTC, then 08:00 UTC.
    plan = plan_followups(
        sent_at=datetime(2026, 3, 26, 9, 0, tzinfo=UTC),
        event_start=None,
        event_end=None,
        recipient_tz="Europe/Berlin",
        rules=FollowupRules(max_followups=1),
    )
    assert [p.scheduled_at for p in plan.planned] == [datetime(2026, 3, 31, 8, 0, tzinfo=UTC)]


def test_dst_fall_back_in_new_york() -> None:
    # New York leaves EDT on Sunday 1 November 2026: 09:30 local is 13:30 UTC, then 14:30 UTC.
    plan = plan_followups(
        sent_at=datetime(2026, 10, 29, 13, 30, tzinfo=UTC),
        event_start=None,
        event_end=None,
        recipient_tz="America/New_York",
        rules=FollowupRules(max_followups=1),
    )
    assert [p.scheduled_at for p in plan.planned] == [datetime(2026, 11, 3, 14, 30, tzinfo=UTC)]


def test_a_window_swallowed_by_dst_moves_to_the_next_business_day() -> None:
    # Cairo springs forward on Friday 24 April 2026 at 00:00 -> 01:00, so a 00-01 window
    # does not exist that day; the reminder moves on to Monday.
    rules = FollowupRules(max_followups=1, business_hours=(0, 1), delay_business_days=1)
    plan = plan_followups(
        sent_at=datetime(2026, 4, 23, 0, 30, tzinfo=ZoneInfo("Africa/Cairo")),
        event_start=None,
        event_end=None,
        recipient_tz="Africa/Cairo",
        rules=rules,
    )
    assert local(plan, "Africa/Cairo") == [("reminder", datetime(2026, 4, 27, 0, 0))]


def test_invalid_zone_falls_back_to_the_default_zone() -> None:
    rules = FollowupRules(max_followups=1, default_tz="Europe/Berlin")
    bad = plan_followups(
        sent_at=berlin(2026, 3, 2, 10),
        event_start=None,
        event_end=None,
        recipient_tz="Mars/Olympus",
        rules=rules,
    )
    good = plan_followups(
        sent_at=berlin(2026, 3, 2, 10),
        event_start=None,
        event_end=None,
        recipient_tz="Europe/Berlin",
        rules=rules,
    )
    assert bad == good


def test_from_config_and_validation() -> None:
    rules = FollowupRules.from_config(FollowupConfig(followupDelayDays=5, maxFollowups=4))
    assert (rules.delay_business_days, rules.max_followups) == (5, 4)
    with pytest.raises(ValueError, match="business_hours"):
        FollowupRules(business_hours=(17, 9))
    with pytest.raises(ValueError, match="type_sequence"):
        FollowupRules(type_sequence=())
    with pytest.raises(ValueError, match="min_gap"):
        FollowupRules(min_gap=timedelta(hours=-1))
    with pytest.raises(ValueError, match="delay"):
        FollowupRules(delay_business_days=0)
    with pytest.raises(ValueError, match="aware"):
        plan_followups(
            sent_at=datetime(2026, 3, 2, 10),
            event_start=None,
            event_end=None,
            recipient_tz=None,
        )


def test_add_business_days() -> None:
    assert add_business_days(date(2026, 3, 6), 1) == date(2026, 3, 9)  # Fri -> Mon
    assert add_business_days(date(2026, 3, 7), 1) == date(2026, 3, 9)  # Sat -> Mon
    assert add_business_days(date(2026, 3, 2), 5) == date(2026, 3, 9)


# --- execution-time checks ------------------------------------------------------------------

EV_START, EV_END = date(2026, 3, 12), date(2026, 3, 13)


@pytest.mark.parametrize(
    ("instant", "followup_type", "allowed"),
    [
        (berlin(2026, 3, 10, 10), "reminder", True),
        (berlin(2026, 3, 10, 8), "reminder", False),  # before opening
        (berlin(2026, 3, 7, 10), "reminder", False),  # Saturday
        (berlin(2026, 3, 11, 10), "reminder", False),  # day before the event
        (berlin(2026, 3, 12, 10), "reminder", False),  # during
        (berlin(2026, 3, 16, 10), "reminder", False),  # after: must be post_event
        (berlin(2026, 3, 12, 10), "meeting_note", True),
        (berlin(2026, 3, 11, 10), "meeting_note", False),
        (berlin(2026, 3, 16, 10), "post_event", True),
        (berlin(2026, 3, 13, 10), "post_event", False),
    ],
)
def test_is_allowed(instant: datetime, followup_type: str, allowed: bool) -> None:
    result = is_allowed(
        instant,
        followup_type=followup_type,  # type: ignore[arg-type]
        recipient_tz="Europe/Berlin",
        event_start=EV_START,
        event_end=EV_END,
    )
    assert result is allowed
    reason = violation(
        instant,
        followup_type=followup_type,  # type: ignore[arg-type]
        recipient_tz="Europe/Berlin",
        event_start=EV_START,
        event_end=EV_END,
    )
    assert (reason is None) is allowed


def test_next_slot_per_type() -> None:
    kwargs = {"recipient_tz": "Europe/Berlin", "event_start": EV_START, "event_end": EV_END}
    at = berlin(2026, 3, 9, 18)
    assert next_slot(at, followup_type="reminder", **kwargs) == berlin(2026, 3, 10, 9)  # type: ignore[arg-type]
    assert next_slot(at, followup_type="meeting_note", **kwargs) == berlin(2026, 3, 12, 9)  # type: ignore[arg-type]
    assert next_slot(at, followup_type="post_event", **kwargs) == berlin(2026, 3, 16, 9)  # type: ignore[arg-type]
    late = berlin(2026, 3, 11, 9)
    assert next_slot(late, followup_type="reminder", **kwargs) is None  # type: ignore[arg-type]
    assert next_slot(berlin(2026, 3, 14, 9), followup_type="meeting_note", **kwargs) is None  # type: ignore[arg-type]


# --- out of office --------------------------------------------------------------------------


def test_resume_after_the_return_date() -> None:
    notified = berlin(2026, 3, 2, 10)
    # Back Thursday 12 March: resume Friday 13 at the opening.
    assert resume_at(
        notified_at=notified, return_date=date(2026, 3, 12), recipient_tz="Europe/Berlin"
    ) == berlin(2026, 3, 13, 9)
    # Back Friday: resume Monday.
    assert resume_at(
        notified_at=notified, return_date=date(2026, 3, 13), recipient_tz="Europe/Berlin"
    ) == berlin(2026, 3, 16, 9)
    # No date, or a date already past: 14 days, then the next business day.
    default = berlin(2026, 3, 17, 9)
    assert (
        resume_at(notified_at=notified, return_date=None, recipient_tz="Europe/Berlin") == default
    )
    assert (
        resume_at(notified_at=notified, return_date=date(2026, 2, 1), recipient_tz="Europe/Berlin")
        == default
    )


def test_reschedule_keeps_the_delay_and_the_rules() -> None:
    pending = [
        PlannedFollowUp(1, "reminder", berlin(2026, 3, 5, 10).astimezone(UTC)),
        PlannedFollowUp(2, "value_add", berlin(2026, 3, 10, 10).astimezone(UTC)),
    ]
    moved = reschedule(
        pending,
        not_before=berlin(2026, 3, 16, 9),
        event_start=None,
        event_end=None,
        recipient_tz="Europe/Berlin",
    )
    assert local(moved) == [
        ("reminder", datetime(2026, 3, 16, 9)),
        ("value_add", datetime(2026, 3, 19, 9)),
    ]


def test_reschedule_past_the_event_turns_into_post_event_and_drops_the_meeting_note() -> None:
    pending = [
        PlannedFollowUp(1, "reminder", berlin(2026, 3, 5, 10).astimezone(UTC)),
        PlannedFollowUp(2, "meeting_note", berlin(2026, 3, 12, 9).astimezone(UTC)),
        PlannedFollowUp(3, "post_event", berlin(2026, 3, 16, 9).astimezone(UTC)),
    ]
    moved = reschedule(
        pending,
        not_before=berlin(2026, 3, 18, 11),
        recipient_tz="Europe/Berlin",
        event_start=EV_START,
        event_end=EV_END,
    )
    assert local(moved) == [("post_event", datetime(2026, 3, 18, 11))]
    assert sorted(s.reason for s in moved.skipped) == [
        "meeting_note_no_slot",
        "only_one_post_event",
    ]


# --- properties -----------------------------------------------------------------------------

ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/Sao_Paulo",
    "Africa/Cairo",
    "UTC",
]
zones = st.one_of(st.sampled_from(ZONES), st.sampled_from(["", "Nope/Nope"]), st.none())
instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
hours = st.tuples(st.integers(0, 23), st.integers(1, 24)).filter(lambda h: h[0] < h[1])
rule_sets = st.builds(
    FollowupRules,
    delay_business_days=st.integers(1, 10),
    max_followups=st.integers(0, 5),
    type_sequence=st.lists(
        st.sampled_from(["reminder", "value_add", "check_in"]), min_size=1, max_size=3
    ).map(tuple),
    business_hours=hours,
    meeting_note=st.booleans(),
    min_gap=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=8)),
    default_tz=st.sampled_from(["UTC", "Europe/Berlin"]),
)


@st.composite
def events(draw: st.DrawFn, sent: datetime) -> tuple[date | None, date | None]:
    if draw(st.booleans()) and draw(st.booleans()):
        return None, None
    start = sent.date() + timedelta(days=draw(st.integers(-10, 40)))
    end = start + timedelta(days=draw(st.integers(0, 6)))
    return start, end


def _zone(name: str | None, rules: FollowupRules) -> ZoneInfo:
    for candidate in (name, rules.default_tz):
        if candidate in ZONES:
            return ZoneInfo(candidate)
    return ZoneInfo("UTC")


def _weekdays_between(after: date, until: date) -> int:
    """Weekdays in (after, until], counted directly, independent of the module."""
    days = (until - after).days
    return sum((after + timedelta(days=i)).weekday() < 5 for i in range(1, days + 1))


def check_plan(
    plan: FollowupPlan,
    *,
    start_touch: datetime,
    slots: int,
    meeting_asked: bool,
    event: tuple[date | None, date | None],
    zone: ZoneInfo,
    rules: FollowupRules,
    first_floor: datetime | None = None,
) -> None:
    ev_start, ev_end = event
    first = ev_start or ev_end
    last = max(d for d in event if d is not None) if first is not None else None
    if first is not None and ev_end is not None and ev_start is not None and ev_end < ev_start:
        last = ev_start
    bh_start, bh_end = rules.business_hours
    times = [p.scheduled_at for p in plan.planned]
    assert [p.number for p in plan.planned] == list(range(1, len(times) + 1))
    assert len(set(times)) == len(times), "duplicates"
    assert all(a < b for a, b in itertools.pairwise(times)), "not increasing"
    prev = start_touch
    for index, item in enumerate(plan.planned):
        at = item.scheduled_at
        assert at.tzinfo is UTC
        loc = at.astimezone(zone)
        assert loc.weekday() < 5, f"weekend: {item}"
        assert bh_start <= loc.hour < bh_end, f"outside hours: {item} {loc}"
        gap_floor = max(rules.min_gap, timedelta(minutes=1))
        if index == 0 and first_floor is not None:
            assert at >= first_floor
        else:
            assert at - prev >= gap_floor, f"gap: {prev} -> {at}"
        if first is not None and last is not None:
            assert loc.date() != first - timedelta(days=1), "day before the event"
            during = first <= loc.date() <= last
            assert during == (item.followup_type == "meeting_note"), f"event rule: {item}"
            if item.followup_type == "post_event":
                assert loc.date() > last
        else:
            assert item.followup_type in REGULAR
        if item.followup_type in REGULAR and not (index == 0 and first_floor is not None):
            prev_day = prev.astimezone(zone).date()
            assert _weekdays_between(prev_day, loc.date()) >= rules.delay_business_days
        assert is_allowed(
            at,
            followup_type=item.followup_type,
            event_start=ev_start,
            event_end=ev_end,
            recipient_tz=zone.key,
            rules=rules,
        )
        prev = at
    assert all(s.reason and s.detail for s in plan.skipped), "skipped without a reason"
    regular_planned = sum(p.followup_type != "meeting_note" for p in plan.planned)
    regular_skipped = sum(s.followup_type != "meeting_note" for s in plan.skipped)
    assert regular_planned + regular_skipped == slots, "a follow-up went missing"
    notes = sum(p.followup_type == "meeting_note" for p in plan.planned) + sum(
        s.followup_type == "meeting_note" for s in plan.skipped
    )
    assert notes == (1 if meeting_asked else 0)
    post_events = sum(p.followup_type == "post_event" for p in plan.planned)
    assert post_events <= 1
    for skipped in plan.skipped:
        # A slot is only ever dropped for a rule that really applies.
        if skipped.reason == "only_one_post_event":
            assert post_events == 1
        elif skipped.reason == "meeting_note_without_event":
            assert first is None
        else:
            assert skipped.followup_type == "meeting_note"
            assert first is not None


@settings(max_examples=400, deadline=None)
@given(data=st.data(), sent=instants, zone_name=zones, rules=rule_sets)
def test_plan_properties(
    data: st.DataObject, sent: datetime, zone_name: str | None, rules: FollowupRules
) -> None:
    event = data.draw(events(sent))
    plan = plan_followups(
        sent_at=sent,
        event_start=event[0],
        event_end=event[1],
        recipient_tz=zone_name,
        rules=rules,
    )
    check_plan(
        plan,
        start_touch=sent,
        slots=rules.max_followups,
        meeting_asked=rules.meeting_note,
        event=event,
        zone=_zone(zone_name, rules),
        rules=rules,
    )


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    sent=instants,
    zone_name=st.sampled_from(ZONES),
    rules=rule_sets,
    absence=st.integers(0, 30),
)
def test_reschedule_properties(
    data: st.DataObject, sent: datetime, zone_name: str, rules: FollowupRules, absence: int
) -> None:
    event = data.draw(events(sent))
    plan = plan_followups(
        sent_at=sent, event_start=event[0], event_end=event[1], recipient_tz=zone_name, rules=rules
    )
    if not plan.planned:
        return
    floor = plan.planned[0].scheduled_at + timedelta(days=absence)
    moved = reschedule(
        plan.planned,
        not_before=floor,
        event_start=event[0],
        event_end=event[1],
        recipient_tz=zone_name,
        rules=rules,
    )
    has_note = any(p.followup_type == "meeting_note" for p in plan.planned)
    check_plan(
        moved,
        start_touch=floor,
        slots=len(plan.planned) - int(has_note),
        meeting_asked=has_note,
        event=event,
        zone=ZoneInfo(zone_name),
        rules=rules,
        first_floor=floor,
    )


@settings(max_examples=200, deadline=None)
@given(
    at=instants,
    zone_name=st.sampled_from(ZONES),
    followup_type=st.sampled_from(
        ["reminder", "value_add", "check_in", "post_event", "meeting_note"]
    ),
    offset=st.integers(-10, 30),
    length=st.integers(0, 5),
    business_hours=hours,
)
def test_next_slot_is_allowed_and_not_early(
    at: datetime,
    zone_name: str,
    followup_type: str,
    offset: int,
    length: int,
    business_hours: tuple[int, int],
) -> None:
    rules = FollowupRules(business_hours=business_hours)
    start = at.date() + timedelta(days=offset)
    kwargs = {
        "followup_type": followup_type,
        "event_start": start,
        "event_end": start + timedelta(days=length),
        "recipient_tz": zone_name,
        "rules": rules,
    }
    slot = next_slot(at, **kwargs)  # type: ignore[arg-type]
    if slot is None:
        return
    assert slot >= at
    assert is_allowed(slot, **kwargs)  # type: ignore[arg-type]
