"""Reads for attachments, scoped like the report they belong to."""

from vulndesk.attachments.models import Attachment
from vulndesk.attachments.services import attachment_name
from vulndesk.core.errors import NotFound
from vulndesk.reports.models import Report


def attachments_for_report(*, report: Report) -> list[Attachment]:
    rows = list(Attachment.objects.filter(report=report, organisation_id=report.organisation_id).order_by("created_at"))
    for row in rows:
        row.name = attachment_name(row)
    return rows


def attachment_for_report(*, report: Report, attachment_id: int) -> Attachment:
    """``report`` must already come from a scoped selector (report_for_member or the tracking token)."""
    row = Attachment.objects.filter(pk=attachment_id, report=report, organisation_id=report.organisation_id).first()
    if row is None:
        raise NotFound
    row.name = attachment_name(row)
    return row
