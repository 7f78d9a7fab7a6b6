"""Release planning and the periodic SLA sweep (reminders before a miss, misses)."""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from vulndesk.core import clock
from vulndesk.products.models import Product
from vulndesk.reports import deadlines
from vulndesk.reports.models import (
    EventKind,
    Report,
    SlaClock,
    SlaNotice,
    TimelineEvent,
)
from vulndesk.reports.services.common import (
    _audit,
    _event,
    _missed_flag,
    _refresh_derived,
    _resolution_clock_start,
    _save,
    running_clocks,
)

# --- release planning ---------------------------------------------------------------------

@transaction.atomic
def reports_waiting_for_release_schedule(*, product: Product) -> int:
    """Give Low reports that waited for a planned release their deadline. Returns how many."""
    now = clock.now()
    policy = product.policy
    count = 0
    waiting = Report.objects.select_related("organisation", "product").filter(
        product=product, resolution_waiting_for_release=True, is_open=True
    )
    for report in waiting.iterator(chunk_size=500):
        events = _resolution_clock_start(report, policy, report.resolution_started_at or now, severity_changed=False)
        if report.resolution_due_at is not None:
            _save(report, policy, now, deadline_moved=True)
            TimelineEvent.objects.bulk_create([_event(report, kind, None, now, **data) for kind, data in events])
            _audit("report.deadline_change", report, None, now, clock=SlaClock.RESOLUTION,
                   to=report.resolution_due_at.isoformat())
            count += 1
    return count


# --- the SLA sweep ------------------------------------------------------------------------

@dataclass
class SweepResult:
    reports_checked: int = 0
    reminders: int = 0
    misses: int = 0
    notice_ids: list[int] | None = None


def deadlines_sweep(*, now: datetime | None = None, batch_size: int = 500) -> SweepResult:
    """Record missed deadlines and create reminder/miss notices. Idempotent: running it twice
    (or in two processes) records each miss once and creates each notice once. Only reports
    whose ``next_check_at`` has come are read, so a quiet queue costs one index probe."""
    now = now or clock.now()
    result = SweepResult(notice_ids=[])
    last_id = 0
    while True:
        with transaction.atomic():
            batch = list(
                Report.objects.select_related("product__policy", "organisation")
                .filter(next_check_at__lte=now, id__gt=last_id)
                .order_by("id")[:batch_size]
            )
            if not batch:
                break
            for report in batch:
                _sweep_one(report, now, result)
                last_id = report.pk
    return result


def _sweep_one(report: Report, now: datetime, result: SweepResult) -> None:
    policy = report.product.policy
    result.reports_checked += 1
    events = []
    for clock_name, start, due in running_clocks(report):
        remind = deadlines.reminder_at(start=start, due=due, fraction_percent=policy.reminder_fraction_percent)
        if now >= due:
            if not getattr(report, _missed_flag(clock_name)):
                setattr(report, _missed_flag(clock_name), True)
                events.append(_event(report, EventKind.DEADLINE_MISSED, None, now, clock=clock_name,
                                     due_at=due.isoformat()))
                result.misses += 1
            notice_kind = SlaNotice.Kind.MISSED
        elif now >= remind:
            notice_kind = SlaNotice.Kind.REMINDER
        else:
            continue
        notice, created = SlaNotice.objects.get_or_create(
            report=report, clock=clock_name, kind=notice_kind, due_at=due, defaults={"created_at": now}
        )
        if created:
            result.notice_ids.append(notice.pk)
            if notice_kind == SlaNotice.Kind.REMINDER:
                result.reminders += 1
                events.append(_event(report, EventKind.REMINDER_SENT, None, now, clock=clock_name,
                                     due_at=due.isoformat()))
    _refresh_derived(report, policy, now)
    report.save(update_fields=[
        "acknowledgement_missed", "assessment_missed", "resolution_missed", "disclosure_missed", "next_check_at",
        "next_due_at",
    ])
    if events:
        TimelineEvent.objects.bulk_create(events)
