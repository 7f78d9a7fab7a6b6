"""Background tasks of the CVE app. Each loads ids and calls a service, and is safe to run twice."""

from django_tasks import task

from vulndesk.cve import follow


@task()
def cve_record_follow(advisory_id: int) -> str:
    """Update or reject the advisory's CVE record as its latest change asks (cve/follow.py)."""
    return follow.cve_record_follow(advisory_id=advisory_id)


@task()
def cve_records_follow_sweep() -> int:
    """Periodic (``vulndesk scheduler``): run record work that is due again (a retry after a
    pause) or whose task was lost."""
    due = follow.cve_records_follow_due()
    for advisory_id in due:
        cve_record_follow.enqueue(advisory_id=advisory_id)
    return len(due)
