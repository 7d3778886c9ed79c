"""When follow-ups go out: the schedule as a pure function of the send, the event and the rules.

All wall-clock arithmetic happens in the recipient's zone and every instant leaves in UTC
(see :mod:`commandcentre.outreach.timing`, whose window helpers this module reuses).

Rules of :func:`plan_followups` (``docs/followups.md`` explains them for users):

1. Each regular follow-up (the configured sequence, by default reminder, value_add,
   check_in; the last type repeats) comes ``delay_business_days`` weekdays after the
   previous touch, at the previous touch's local wall time when that is inside business
   hours, else at the start of business hours; never sooner than ``min_gap``.
2. Never on a weekend, always inside business hours in the recipient's zone (a day whose
   window a DST jump swallows is passed over).
3. Quiet period: from the day before the event through its last day nothing is sent,
   except one ``meeting_note`` during the event when the user asked for one.
4. A follow-up that would land in the quiet period or after the event becomes the single
   ``post_event`` follow-up, on the first business day after the event (it rides on the
   event, so it may come sooner than the delay; ``min_gap`` still holds). If the previous
   touch is already after the event, the usual delay applies.
5. At most one ``post_event`` and at most one ``meeting_note``; every slot the rules forbid
   is returned in ``skipped`` with a reason, so planned + skipped always adds up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from commandcentre.agents.config import FollowupConfig
from commandcentre.outreach.timing import (
    DEFAULT_BUSINESS_HOURS,
    is_in_window,
    next_send_window,
    resolve_zone,
)

FollowupType = Literal["reminder", "value_add", "check_in", "post_event", "meeting_note"]
RegularType = Literal["reminder", "value_add", "check_in"]
SkipReason = Literal[
    "only_one_post_event",
    "meeting_note_without_event",
    "meeting_note_weekend_event",
    "meeting_note_no_slot",
]
REGULAR_TYPES: tuple[RegularType, ...] = get_args(RegularType)
DEFAULT_SEQUENCE: tuple[RegularType, ...] = ("reminder", "value_add", "check_in")
DEFAULT_OOO_DAYS = 14
# Two touches are never closer than this, even with min_gap=0: no duplicates, ever.
_MIN_SPACING = timedelta(minutes=1)
_MAX_FOLLOWUPS = 10
_MAX_DELAY_DAYS = 60
_MAX_GAP = timedelta(days=90)
_SATURDAY = 5


@dataclass(frozen=True)
class FollowupRules:
    """The knobs of the schedule; validated so a bad config fails loudly, once."""

    delay_business_days: int = 3
    max_followups: int = 2
    type_sequence: tuple[RegularType, ...] = DEFAULT_SEQUENCE
    business_hours: tuple[int, int] = DEFAULT_BUSINESS_HOURS
    meeting_note: bool = False
    min_gap: timedelta = timedelta(hours=24)
    default_tz: str = "UTC"

    def __post_init__(self) -> None:
        if not 1 <= self.delay_business_days <= _MAX_DELAY_DAYS:
            raise ValueError(f"delay_business_days must be 1..{_MAX_DELAY_DAYS}")
        if not 0 <= self.max_followups <= _MAX_FOLLOWUPS:
            raise ValueError(f"max_followups must be 0..{_MAX_FOLLOWUPS}")
        if not self.type_sequence or any(t not in REGULAR_TYPES for t in self.type_sequence):
            raise ValueError(f"type_sequence must be a non-empty sequence of {REGULAR_TYPES}")
        start, end = self.business_hours
        if not 0 <= start < end <= 24:
            raise ValueError("business_hours must satisfy 0 <= start < end <= 24")
        if not timedelta(0) <= self.min_gap <= _MAX_GAP:
            raise ValueError(f"min_gap must be between 0 and {_MAX_GAP}")

    @classmethod
    def from_config(
        cls,
        config: FollowupConfig,
        *,
        business_hours: tuple[int, int] = DEFAULT_BUSINESS_HOURS,
        meeting_note: bool = False,
        min_gap: timedelta = timedelta(hours=24),
        default_tz: str = "UTC",
    ) -> FollowupRules:
        return cls(
            delay_business_days=config.followupDelayDays,
            max_followups=config.maxFollowups,
            business_hours=business_hours,
            meeting_note=meeting_note,
            min_gap=min_gap,
            default_tz=default_tz,
        )

    def regular_type(self, index: int) -> RegularType:
        """Type of the ``index``-th (0-based) regular follow-up; the last type repeats."""
        return self.type_sequence[min(index, len(self.type_sequence) - 1)]

    @property
    def spacing(self) -> timedelta:
        return max(self.min_gap, _MIN_SPACING)


@dataclass(frozen=True)
class EventDates:
    """The event's first and last day in the recipient's calendar (normalised)."""

    start: date
    end: date

    @classmethod
    def of(cls, start: date | None, end: date | None) -> EventDates | None:
        # Event data is messy: a missing end means one day, a missing start uses the end,
        # and an end before the start is a typo for a one-day event.
        start, end = _day(start), _day(end)
        first = start or end
        if first is None:
            return None
        last = end if end is not None and end >= first else first
        return cls(first, last)

    @property
    def quiet_from(self) -> date:
        return self.start - timedelta(days=1)


def _day(value: date | None) -> date | None:
    # A datetime is a date too, but comparing the two raises; only the calendar day counts.
    return value.date() if isinstance(value, datetime) else value


@dataclass(frozen=True)
class PlannedFollowUp:
    number: int
    followup_type: FollowupType
    scheduled_at: datetime


@dataclass(frozen=True)
class SkippedFollowUp:
    followup_type: FollowupType
    reason: SkipReason
    detail: str
    # Where the follow-up would have gone before the rule dropped it, when there was a slot.
    would_be_at: datetime | None = None


@dataclass(frozen=True)
class FollowupPlan:
    planned: tuple[PlannedFollowUp, ...] = ()
    skipped: tuple[SkippedFollowUp, ...] = field(default_factory=tuple)


# --- calendar helpers ---------------------------------------------------------------------


def add_business_days(day: date, count: int) -> date:
    """``count`` weekdays after ``day`` (from a weekend day, Monday is the first)."""
    current = day
    remaining = count
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < _SATURDAY:
            remaining -= 1
    return current


def _require_aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _window(at: datetime, zone: ZoneInfo, rules: FollowupRules) -> datetime:
    return next_send_window(at=at, recipient_tz=zone.key, business_hours=rules.business_hours)


def _local_date(instant: datetime, zone: ZoneInfo) -> date:
    return instant.astimezone(zone).date()


# --- slots --------------------------------------------------------------------------------


def _regular_slot(prev: datetime, zone: ZoneInfo, rules: FollowupRules) -> datetime:
    """Rule 1: ``delay`` weekdays after ``prev``, same wall time if in hours, else opening."""
    local = prev.astimezone(zone)
    day = add_business_days(local.date(), rules.delay_business_days)
    start, end = rules.business_hours
    wall = time(local.hour, local.minute) if start <= local.hour < end else time(start)
    # fold=0: a wall time a DST jump skips maps to just after the jump, still in the window
    # or else moved on by next_send_window below.
    candidate = datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)
    return _window(max(candidate, prev + rules.spacing), zone, rules)


def _post_event_slot(
    prev: datetime, event: EventDates, zone: ZoneInfo, rules: FollowupRules, *, resuming: bool
) -> datetime:
    """Rule 4: first business slot after the event, unless we are already past it.

    ``resuming``: the first slot after an absence, which needs no further delay.
    """
    if _local_date(prev, zone) > event.end and not resuming:
        return _regular_slot(prev, zone, rules)
    after_event = _midnight(event.end + timedelta(days=1), zone)
    return _window(max(after_event, prev + rules.spacing), zone, rules)


def _meeting_note_slot(
    prev: datetime, event: EventDates, zone: ZoneInfo, rules: FollowupRules
) -> datetime | None:
    """Rule 3: the first business slot during the event, or None when there is none."""
    slot = _window(max(_midnight(event.start, zone), prev + rules.spacing), zone, rules)
    return slot if _local_date(slot, zone) <= event.end else None


def _has_weekday(event: EventDates) -> bool:
    days = (event.end - event.start).days + 1
    return any((event.start + timedelta(days=i)).weekday() < _SATURDAY for i in range(min(days, 7)))


# --- planning -----------------------------------------------------------------------------


@dataclass
class _Planner:
    """Builds one plan in time order; state that the rules need across follow-ups."""

    zone: ZoneInfo
    event: EventDates | None
    rules: FollowupRules
    prev: datetime
    meeting_note_pending: bool
    post_event_done: bool = False
    # True until the first touch is planned when resuming after an out-of-office.
    resuming: bool = False
    planned: list[PlannedFollowUp] = field(default_factory=list)
    skipped: list[SkippedFollowUp] = field(default_factory=list)

    def _plan(self, followup_type: FollowupType, at: datetime) -> None:
        self.planned.append(PlannedFollowUp(len(self.planned) + 1, followup_type, at))
        self.prev = at
        self.resuming = False

    def _post_event_slot(self, event: EventDates) -> datetime:
        return _post_event_slot(self.prev, event, self.zone, self.rules, resuming=self.resuming)

    def _in_or_after_quiet(self, at: datetime) -> bool:
        return self.event is not None and _local_date(at, self.zone) >= self.event.quiet_from

    def add_regular(self, followup_type: RegularType, candidate: datetime) -> None:
        if not self._in_or_after_quiet(candidate):
            self._plan(followup_type, candidate)
            return
        assert self.event is not None  # _in_or_after_quiet says so
        self.place_meeting_note()
        if self.post_event_done:
            self.skipped.append(
                SkippedFollowUp(
                    followup_type,
                    "only_one_post_event",
                    "falls in the quiet period or after the event, and the one post-event "
                    "follow-up is already planned",
                    candidate,
                )
            )
            return
        self.post_event_done = True
        self._plan("post_event", self._post_event_slot(self.event))

    def add_post_event(self) -> None:
        """A follow-up that already was the post-event one (moved by :func:`reschedule`)."""
        if self.event is None or self.post_event_done:
            # Without event dates (they were removed) it is just another check-in.
            candidate = (
                _window(self.prev + self.rules.spacing, self.zone, self.rules)
                if self.resuming
                else _regular_slot(self.prev, self.zone, self.rules)
            )
            self.add_regular("check_in", candidate)
            return
        self.place_meeting_note()
        self.post_event_done = True
        self._plan("post_event", self._post_event_slot(self.event))

    def place_meeting_note(self) -> None:
        if not self.meeting_note_pending:
            return
        self.meeting_note_pending = False
        if self.event is None:
            self.skipped.append(
                SkippedFollowUp(
                    "meeting_note", "meeting_note_without_event", "the outreach has no event dates"
                )
            )
            return
        slot = _meeting_note_slot(self.prev, self.event, self.zone, self.rules)
        if slot is not None:
            self._plan("meeting_note", slot)
        elif not _has_weekday(self.event):
            self.skipped.append(
                SkippedFollowUp(
                    "meeting_note",
                    "meeting_note_weekend_event",
                    "the event falls entirely on a weekend",
                )
            )
        else:
            self.skipped.append(
                SkippedFollowUp(
                    "meeting_note",
                    "meeting_note_no_slot",
                    "no business hours left during the event after the previous touch",
                )
            )

    def result(self) -> FollowupPlan:
        return FollowupPlan(tuple(self.planned), tuple(self.skipped))


def plan_followups(
    *,
    sent_at: datetime,
    event_start: date | None,
    event_end: date | None,
    recipient_tz: str | None,
    rules: FollowupRules | None = None,
) -> FollowupPlan:
    """The follow-ups of one outreach sent at ``sent_at``; see the module docstring."""
    rules = rules or FollowupRules()
    sent = _require_aware(sent_at, "sent_at")
    zone = resolve_zone(recipient_tz, rules.default_tz)
    planner = _Planner(zone, EventDates.of(event_start, event_end), rules, sent, rules.meeting_note)
    for index in range(rules.max_followups):
        planner.add_regular(rules.regular_type(index), _regular_slot(planner.prev, zone, rules))
    planner.place_meeting_note()
    return planner.result()


# --- moving follow-ups (out of office) ------------------------------------------------------


def resume_at(
    *,
    notified_at: datetime,
    return_date: date | None,
    recipient_tz: str | None,
    rules: FollowupRules | None = None,
    default_days: int = DEFAULT_OOO_DAYS,
) -> datetime:
    """When to resume after an out-of-office: the first business slot after the return day.

    People spend their first day back on their inbox, so we wait until the day after. A
    return date that is missing or not after the notice falls back to ``default_days``.
    """
    rules = rules or FollowupRules()
    notified = _require_aware(notified_at, "notified_at")
    zone = resolve_zone(recipient_tz, rules.default_tz)
    today = _local_date(notified, zone)
    back = return_date if return_date is not None and return_date > today else None
    if back is None:
        back = today + timedelta(days=default_days)
    return _window(max(_midnight(back + timedelta(days=1), zone), notified), zone, rules)


def next_slot(
    after: datetime,
    *,
    followup_type: FollowupType,
    event_start: date | None,
    event_end: date | None,
    recipient_tz: str | None,
    rules: FollowupRules | None = None,
) -> datetime | None:
    """The earliest instant ``>= after`` at which a follow-up of this type is allowed.

    None when there is none: a meeting note once the event is over (or on a weekend-only
    event), a regular follow-up once the quiet period began, a post-event one without event.
    """
    rules = rules or FollowupRules()
    start = _require_aware(after, "after")
    zone = resolve_zone(recipient_tz, rules.default_tz)
    event = EventDates.of(event_start, event_end)
    slot = _window(start, zone, rules)
    if followup_type == "meeting_note":
        if event is None:
            return None
        found = _window(max(start, _midnight(event.start, zone)), zone, rules)
        return found if _local_date(found, zone) <= event.end else None
    if followup_type == "post_event":
        if event is None:
            return None
        return _window(max(start, _midnight(event.end + timedelta(days=1), zone)), zone, rules)
    if event is not None and _local_date(slot, zone) >= event.quiet_from:
        return None
    return slot


def reschedule(
    pending: Sequence[PlannedFollowUp],
    *,
    not_before: datetime,
    event_start: date | None,
    event_end: date | None,
    recipient_tz: str | None,
    rules: FollowupRules | None = None,
) -> FollowupPlan:
    """Move pending follow-ups so the first goes no sooner than ``not_before``.

    Used after an out-of-office (``not_before`` from :func:`resume_at`). The first moved
    follow-up takes the first allowed slot from ``not_before``; the rest keep the delay
    between them. The same rules as :func:`plan_followups` apply, so a reminder pushed past
    the event becomes the post-event follow-up and a meeting note with no event day left
    is skipped. Numbers restart at 1 (in time order).
    """
    rules = rules or FollowupRules()
    floor = _require_aware(not_before, "not_before")
    zone = resolve_zone(recipient_tz, rules.default_tz)
    ordered = sorted(pending, key=lambda f: f.scheduled_at)
    has_note = any(f.followup_type == "meeting_note" for f in ordered)
    # The first slot is "floor" itself (moved into a window), not a delay after it: the
    # contact's absence already was the wait. spacing is subtracted so the planner's
    # "previous touch + gap" lands on the floor.
    planner = _Planner(
        zone,
        EventDates.of(event_start, event_end),
        rules,
        floor - rules.spacing,
        has_note,
        resuming=True,
    )
    for followup in _without_meeting_notes(ordered):
        if followup.followup_type == "post_event":
            planner.add_post_event()
            continue
        candidate = (
            _window(floor, zone, rules)
            if planner.resuming
            else _regular_slot(planner.prev, zone, rules)
        )
        planner.add_regular(_as_regular(followup.followup_type), candidate)
    planner.place_meeting_note()
    return planner.result()


def _as_regular(followup_type: FollowupType) -> RegularType:
    for regular in REGULAR_TYPES:
        if regular == followup_type:
            return regular
    return "check_in"


def _without_meeting_notes(items: Iterable[PlannedFollowUp]) -> list[PlannedFollowUp]:
    return [f for f in items if f.followup_type != "meeting_note"]


# --- execution-time check -------------------------------------------------------------------


def violation(
    instant: datetime,
    *,
    followup_type: FollowupType,
    event_start: date | None,
    event_end: date | None,
    recipient_tz: str | None,
    rules: FollowupRules | None = None,
) -> str | None:
    """Which rule ``instant`` breaks for a follow-up of this type, or None if none."""
    rules = rules or FollowupRules()
    at = _require_aware(instant, "instant")
    zone = resolve_zone(recipient_tz, rules.default_tz)
    if not is_in_window(at, recipient_tz=zone.key, business_hours=rules.business_hours):
        return "outside business hours or on a weekend (recipient time)"
    event = EventDates.of(event_start, event_end)
    day = _local_date(at, zone)
    if followup_type == "meeting_note":
        if event is None or not event.start <= day <= event.end:
            return "a meeting note goes out during the event only"
        return None
    if followup_type == "post_event":
        if event is None or day <= event.end:
            return "a post-event follow-up goes out after the event only"
        return None
    if event is not None and event.quiet_from == day:
        return "never the day before the event"
    if event is not None and day >= event.start:
        return "during or after the event only meeting notes and the post-event follow-up"
    return None


def is_allowed(
    instant: datetime,
    *,
    followup_type: FollowupType,
    event_start: date | None,
    event_end: date | None,
    recipient_tz: str | None,
    rules: FollowupRules | None = None,
) -> bool:
    """Whether a follow-up of this type may go out at ``instant`` (checked when executing)."""
    return (
        violation(
            instant,
            followup_type=followup_type,
            event_start=event_start,
            event_end=event_end,
            recipient_tz=recipient_tz,
            rules=rules,
        )
        is None
    )
