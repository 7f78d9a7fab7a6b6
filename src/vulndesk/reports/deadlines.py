"""Pure deadline arithmetic for the SLA clocks. No database and no hidden "now".

Rules (the policy text they implement is in ``products.models.Policy``):

* Hour targets (acknowledgement, Critical resolution) are calendar hours: 48 hours after a
  report arrives on Friday evening is Sunday evening, as a reporter would read the promise.
* Business-day targets (assessment) count working days of the organisation's calendar: its
  weekend and the public holidays of its country, in its time zone. N business days after a
  moment is the same local wall-clock time on the Nth working day after that date, so a DST
  change keeps 10:00 at 10:00. A start on a weekend or holiday counts from 00:00 of the next
  working day.
* Day targets (High, Medium) are calendar days.
* Low "in the next release": the end (23:59 local) of the planned date of the first unshipped
  release planned on or after the start; no such release means no deadline, and the report is
  flagged so somebody plans one.
* A severity change after acceptance moves the resolution deadline to acceptance + the new
  target; if that moment has already passed when the severity is raised, the new target runs
  from the change instead, so a late upgrade to Critical gives 72 hours to act, not an
  instant miss.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from vulndesk.reports.severity import SEVERITY_RANK, Severity


@lru_cache(maxsize=256)
def holiday_calendar(country: str = "", subdivision: str = "") -> holidays.HolidayBase:
    """The working-day calendar of a country (and region); weekends only when no country."""
    if not country:
        return holidays.HolidayBase()
    return holidays.country_holidays(country.upper(), subdiv=subdivision.upper() or None)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def hours_deadline(*, start: datetime, hours: int) -> datetime:
    return start + timedelta(hours=hours)


def business_deadline(*, start: datetime, business_days: int, zone: ZoneInfo, calendar: holidays.HolidayBase) -> datetime:
    """``business_days`` working days after ``start``, at the same local wall-clock time."""
    if start.tzinfo is None:
        raise ValueError("start must be aware")
    local = start.astimezone(zone)
    day, wall = local.date(), local.time().replace(tzinfo=None)
    if not calendar.is_working_day(day):
        # Nothing can be expected on a day off: the clock starts with the next working day.
        day, wall = calendar.get_nth_working_day(day, 1), time(0, 0)
    due_day = calendar.get_nth_working_day(day, business_days)
    return _aware_local(due_day, wall, zone).astimezone(start.tzinfo)


def _aware_local(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """A local wall-clock time made aware. A time that does not exist (skipped by a spring DST
    change) is moved forward by the gap, as clocks on the wall do."""
    candidate = datetime.combine(day, wall, tzinfo=zone)
    round_trip = candidate.astimezone(ZoneInfo("UTC")).astimezone(zone)
    if round_trip.replace(tzinfo=None) != candidate.replace(tzinfo=None):
        return round_trip
    return candidate


def end_of_local_day(*, day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(23, 59), tzinfo=zone)


@dataclass(frozen=True)
class ResolutionTargets:
    """The resolution part of a product policy, as plain values."""

    critical_hours: int = 72
    high_days: int = 14
    medium_days: int = 28
    low_in_next_release: bool = True
    low_days: int = 90

    @classmethod
    def from_policy(cls, policy) -> "ResolutionTargets":
        """The targets of a product policy (anything with the Policy field names)."""
        return cls(
            critical_hours=policy.critical_resolution_hours,
            high_days=policy.high_resolution_days,
            medium_days=policy.medium_resolution_days,
            low_in_next_release=policy.low_in_next_release,
            low_days=policy.low_resolution_days,
        )


class ResolutionDue(StrEnum):
    WAITING_FOR_RELEASE = "waiting_for_release"


def resolution_deadline(
    *,
    targets: ResolutionTargets,
    severity: str,
    start: datetime,
    zone: ZoneInfo,
    next_release_on: date | None,
) -> datetime | ResolutionDue:
    """When a report of ``severity`` accepted at ``start`` must be fixed."""
    if severity == Severity.CRITICAL:
        return start + timedelta(hours=targets.critical_hours)
    if severity == Severity.HIGH:
        return start + timedelta(days=targets.high_days)
    if severity == Severity.MEDIUM:
        return start + timedelta(days=targets.medium_days)
    if not targets.low_in_next_release:
        return start + timedelta(days=targets.low_days)
    if next_release_on is None:
        return ResolutionDue.WAITING_FOR_RELEASE
    return end_of_local_day(day=next_release_on, zone=zone).astimezone(start.tzinfo)


def resolution_deadline_after_severity_change(
    *,
    targets: ResolutionTargets,
    severity: str,
    previous_severity: str,
    accepted_at: datetime,
    changed_at: datetime,
    zone: ZoneInfo,
    next_release_on: date | None,
) -> datetime | ResolutionDue:
    due = resolution_deadline(
        targets=targets, severity=severity, start=accepted_at, zone=zone, next_release_on=next_release_on
    )
    # Only a raise restarts the clock (a downgrade must not clear a miss); a deadline equal to
    # the change is already missed, so it restarts too.
    raised = SEVERITY_RANK.get(severity, 0) > SEVERITY_RANK.get(previous_severity, 0)
    if raised and isinstance(due, datetime) and due <= changed_at:
        return resolution_deadline(
            targets=targets, severity=severity, start=changed_at, zone=zone, next_release_on=next_release_on
        )
    return due


class ClockStatus(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    MISSED = "missed"
    MET = "met"
    MET_LATE = "met_late"


def reminder_at(*, start: datetime, due: datetime, fraction_percent: int) -> datetime:
    """The moment a clock becomes "at risk" and its reminder goes out."""
    return start + (due - start) * fraction_percent / 100


def clock_status(
    *, start: datetime, due: datetime, done_at: datetime | None, now: datetime, fraction_percent: int = 75
) -> ClockStatus:
    if done_at is not None:
        return ClockStatus.MET if done_at <= due else ClockStatus.MET_LATE
    if now >= due:
        return ClockStatus.MISSED
    if now >= reminder_at(start=start, due=due, fraction_percent=fraction_percent):
        return ClockStatus.AT_RISK
    return ClockStatus.ON_TRACK


def business_days_between(*, start: date, end: date, calendar: holidays.HolidayBase) -> int:
    """Working days after ``start`` up to and including ``end`` (0 when end <= start)."""
    if end <= start:
        return 0
    return calendar.get_working_days_count(start + timedelta(days=1), end)
