"""How SLA clocks read to people: "assessment due in 2 business days — Fri 28 Nov, 17:00 CET".

Pure apart from reading the report's fields; ``now`` is passed in. Times are shown in the
organisation's zone, with the zone's abbreviation.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from vulndesk.reports import deadlines
from vulndesk.reports.deadlines import ClockStatus
from vulndesk.reports.models import Report, SlaClock

STATUS_WORDS = {
    ClockStatus.ON_TRACK: "on track",
    ClockStatus.AT_RISK: "at risk",
    ClockStatus.MISSED: "missed",
    ClockStatus.MET: "met",
    ClockStatus.MET_LATE: "met late",
}


@dataclass(frozen=True)
class ClockView:
    clock: str
    label: str
    due_at: datetime
    due_local: str
    done_at: datetime | None
    status: ClockStatus
    status_words: str
    relative: str  # "due in 2 business days", "3 hours overdue", "met"

    @property
    def is_running(self) -> bool:
        return self.done_at is None


def duration_words(delta: timedelta) -> str:
    seconds = int(abs(delta.total_seconds()))
    days, hours, minutes = seconds // 86400, seconds % 86400 // 3600, seconds % 3600 // 60
    if days >= 2:
        return f"{days} days"
    if days == 1:
        return f"1 day {hours} h" if hours else "1 day"
    if hours:
        return f"{hours} h {minutes} min" if minutes and hours < 6 else f"{hours} h"
    return f"{max(minutes, 1)} min"


def format_local(moment: datetime, time_zone: str) -> str:
    local = moment.astimezone(deadlines.zone(time_zone))
    return f"{local:%a %d %b %Y, %H:%M} {local.tzname()}"


def _relative(clock: str, due: datetime, now: datetime, report: Report) -> str:
    if now >= due:
        return f"{duration_words(now - due)} overdue"
    if clock == SlaClock.ASSESSMENT:
        org = report.organisation
        calendar = deadlines.holiday_calendar(org.holiday_country, org.holiday_subdivision)
        zone = deadlines.zone(org.time_zone)
        days = deadlines.business_days_between(
            start=now.astimezone(zone).date(), end=due.astimezone(zone).date(), calendar=calendar
        )
        if days >= 1:
            return f"due in {days} business day{'s' if days != 1 else ''}"
    return f"due in {duration_words(due - now)}"


def clock_views(report: Report, now: datetime, *, running_only: bool = False) -> list[ClockView]:
    """Every clock the report has had, running or done, in lifecycle order (``running_only``:
    the running ones alone, without formatting the others: the queue shows 50 rows a page)."""
    policy_fraction = report.product.policy.reminder_fraction_percent
    zone_name = report.organisation.time_zone
    rows = [
        (SlaClock.ACKNOWLEDGEMENT, report.received_at, report.acknowledgement_due_at, report.acknowledged_at),
        (SlaClock.ASSESSMENT, report.received_at, report.assessment_due_at, report.assessed_at),
    ]
    if report.resolution_due_at and report.resolution_started_at:
        rows.append((SlaClock.RESOLUTION, report.resolution_started_at, report.resolution_due_at, report.fixed_at))
    if report.disclosure_due_at:
        rows.append((SlaClock.DISCLOSURE, report.received_at, report.disclosure_due_at, report.disclosed_at))
    views = []
    closed = report.is_closed
    for clock, start, due, done in rows:
        if closed and done is None:
            continue  # a closed report's unfinished clocks stopped; they are not "missed" forever
        if running_only and done is not None:
            continue
        status = deadlines.clock_status(start=start, due=due, done_at=done, now=now, fraction_percent=policy_fraction)
        if done is not None:
            done_words = format_local(done, zone_name)
            relative = f"done {done_words}" if status == ClockStatus.MET else f"done {duration_words(done - due)} late"
        else:
            relative = _relative(clock, due, now, report)
        views.append(ClockView(
            clock=clock, label=SlaClock(clock).label, due_at=due, due_local=format_local(due, zone_name),
            done_at=done, status=status, status_words=STATUS_WORDS[status], relative=relative,
        ))
    return views


def next_clock(report: Report, now: datetime) -> ClockView | None:
    running = clock_views(report, now, running_only=True)
    return min(running, key=lambda view: view.due_at, default=None)
