"""Background tasks. Each only loads ids and calls a service, and is safe to run twice."""

from django_tasks import task

from vulndesk.reports.models import SlaNotice
from vulndesk.reports.notices import sla_notice_deliver
from vulndesk.reports.services import deadlines_sweep


@task()
def sla_sweep() -> dict:
    """Record misses and send due reminders. Run every minute by ``vulndesk scheduler``."""
    result = deadlines_sweep()
    for notice_id in result.notice_ids or []:
        deliver_sla_notice.enqueue(notice_id=notice_id)
    # Notices whose delivery task was lost (worker killed) are retried here.
    for notice_id in SlaNotice.objects.filter(sent_at__isnull=True).exclude(
        pk__in=result.notice_ids or []
    ).values_list("pk", flat=True)[:500]:
        deliver_sla_notice.enqueue(notice_id=notice_id)
    return {"checked": result.reports_checked, "reminders": result.reminders, "misses": result.misses}


@task()
def deliver_sla_notice(notice_id: int) -> bool:
    return sla_notice_deliver(notice_id=notice_id)
