"""When to send an outreach email: business hours in the recipient's own time zone.

All arithmetic on wall-clock times happens in the recipient's zone and every comparison
happens in UTC. Comparing two aware datetimes that share one ``ZoneInfo`` compares their
wall times and ignores DST folds, which would silently misorder instants around a change.

Rules of :func:`suggest_send_time`:

1. With no event date, send at the next business-hours slot (:func:`next_send_window`).
2. Otherwise aim for the start of business hours two days before the event (recipient's
   local calendar). If that day is a weekend, use the latest weekday before it, so the
   email never lands on the day before the event, which is too late to be useful.
3. If that ideal instant has already passed, use the next business slot from ``now`` as
   long as it still falls before the day before the event.
4. If no such slot exists (the event is tomorrow, today, already over, or only weekend
   days remain), send at the next business slot anyway, even if that is the day before
   or the day of the event: a late but timely-enough email beats none, and whether to
   send at all is the caller's decision, not this module's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_BUSINESS_HOURS: tuple[int, int] = (9, 17)
# Far more than any weekend; a bound keeps a bad argument from looping forever.
_MAX_DAYS_AHEAD = 14
_SATURDAY = 5


def resolve_zone(name: str | None, default_tz: str = "UTC") -> ZoneInfo:
    """The named zone, else ``default_tz``, else UTC; contact data is often messy."""
    for candidate in (name, default_tz):
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            # ValueError/OSError: names such as "../x" or "" that are not even keys.
            continue
    return ZoneInfo("UTC")


def _check_hours(business_hours: tuple[int, int]) -> tuple[int, int]:
    start, end = business_hours
    if not (0 <= start < end <= 24):
        raise ValueError(
            f"business_hours must satisfy 0 <= start < end <= 24, got {business_hours}"
        )
    return start, end


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _local_instant(day: date, hour: int, zone: ZoneInfo) -> datetime:
    """UTC instant of ``hour``:00 on ``day`` in ``zone``; hour 24 means next midnight."""
    if hour == 24:
        day, hour = day + timedelta(days=1), 0
    # fold=0 maps a wall time skipped by a DST jump to the instant after the jump,
    # which is still within (never before) the intended window.
    return datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)


def is_in_window(
    instant: datetime,
    *,
    recipient_tz: str | None,
    business_hours: tuple[int, int] = DEFAULT_BUSINESS_HOURS,
    default_tz: str = "UTC",
) -> bool:
    """Whether ``instant`` falls on a weekday within business hours in the recipient's zone."""
    _require_aware(instant, "instant")
    start, end = _check_hours(business_hours)
    local = instant.astimezone(resolve_zone(recipient_tz, default_tz))
    return local.weekday() < _SATURDAY and start <= local.hour < end


def next_send_window(
    *,
    at: datetime,
    recipient_tz: str | None,
    business_hours: tuple[int, int] = DEFAULT_BUSINESS_HOURS,
    default_tz: str = "UTC",
) -> datetime:
    """The earliest instant ``>= at`` inside business hours (Mon-Fri) in the recipient's zone.

    Returned in UTC. ``at`` itself is returned (in UTC) when it is already inside a window.
    """
    _require_aware(at, "at")
    start, end = _check_hours(business_hours)
    zone = resolve_zone(recipient_tz, default_tz)
    at_utc = at.astimezone(UTC)
    day = at_utc.astimezone(zone).date()
    for offset in range(_MAX_DAYS_AHEAD):
        current = day + timedelta(days=offset)
        if current.weekday() >= _SATURDAY:
            continue
        window_end = _local_instant(current, end, zone)
        # A DST jump can swallow a short window whole (start maps to end); skip that day.
        candidate = max(at_utc, _local_instant(current, start, zone))
        if candidate < window_end:
            return candidate
    raise AssertionError("unreachable: every week has a weekday")  # pragma: no cover


def _last_weekday_on_or_before(day: date) -> date:
    while day.weekday() >= _SATURDAY:
        day -= timedelta(days=1)
    return day


def suggest_send_time(
    *,
    now: datetime,
    event_start: date | None,
    recipient_tz: str | None,
    business_hours: tuple[int, int] = DEFAULT_BUSINESS_HOURS,
    default_tz: str = "UTC",
) -> datetime:
    """A good UTC instant to send outreach about an event; see the module docstring."""
    _require_aware(now, "now")
    start, _ = _check_hours(business_hours)
    zone = resolve_zone(recipient_tz, default_tz)
    # One resolved name for the helpers, so an invalid zone falls back identically.
    zone_name = zone.key
    asap = next_send_window(at=now, recipient_tz=zone_name, business_hours=business_hours)
    if event_start is None:
        return asap

    ideal_day = _last_weekday_on_or_before(event_start - timedelta(days=2))
    ideal = _local_instant(ideal_day, start, zone)
    if ideal >= now.astimezone(UTC):
        return ideal
    # Rule 3 when the next slot still falls before the day before the event, rule 4 when
    # it does not: both mean "the next slot", because the ideal day is the last weekday
    # allowed, so any slot after it and before the day before the event is the next one.
    return asap
