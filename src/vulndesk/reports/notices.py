"""Delivery of SLA reminders and miss notices by e-mail.

A notice row exists before its mail is sent (created by the sweep); ``sla_notice_deliver``
sends it and stamps ``sent_at``, so a crash between the two re-sends at most one mail and a
second run of the sweep sends nothing new. Mails name the report by reference and link to it;
they never carry report text, which stays behind the login.
"""

import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from vulndesk.core import clock
from vulndesk.organisations.models import SETTINGS_ROLES, Membership
from vulndesk.reports.models import Report, SlaNotice

logger = logging.getLogger(__name__)


def notice_recipients(report: Report) -> list[str]:
    """The assignee; else the product's security contacts; else the organisation's owners and
    security managers."""
    if report.assignee_id and report.assignee.is_active:
        return [report.assignee.email]
    if report.product.security_contact_list:
        return report.product.security_contact_list
    return list(
        Membership.objects.filter(organisation_id=report.organisation_id, role__in=SETTINGS_ROLES, user__is_active=True)
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )


def _notice_mail(notice: SlaNotice, recipients: list[str]) -> EmailMessage:
    report = notice.report
    zone = timezone.zoneinfo.ZoneInfo(report.organisation.time_zone)
    due_local = notice.due_at.astimezone(zone)
    url = settings.SITE_URL + reverse(
        "reports:detail", kwargs={"organisation": report.organisation.slug, "number": report.number}
    )
    clock_label = notice.get_clock_display().lower()
    if notice.kind == SlaNotice.Kind.MISSED:
        subject = f"[{report.reference}] {clock_label} deadline missed"
        opening = f"The {clock_label} deadline of {report.reference} passed on {due_local:%a %d %b %Y, %H:%M %Z}."
    else:
        subject = f"[{report.reference}] {clock_label} due {due_local:%a %d %b, %H:%M %Z}"
        opening = f"The {clock_label} deadline of {report.reference} is {due_local:%a %d %b %Y, %H:%M %Z}."
    body = (
        f"{opening}\n\nProduct: {report.product.name}\nState: {report.get_state_display()}\n"
        f"Severity: {report.get_severity_display() or 'not set'}\n\nOpen the report: {url}\n\n"
        "You receive this because you are the assignee or a security contact of the product.\n"
    )
    return EmailMessage(subject=subject, body=body, to=recipients, headers={"Auto-Submitted": "auto-generated"})


def sla_notice_deliver(*, notice_id: int) -> bool:
    """Send one notice if it has not been sent. Returns True when a mail went out."""
    with transaction.atomic():
        # of=("self",): lock the notice row only. The assignee is a nullable (outer) join, and
        # PostgreSQL refuses FOR UPDATE on the nullable side of an outer join.
        notice = (
            SlaNotice.objects.select_for_update(of=("self",))
            .select_related("report__organisation", "report__product", "report__assignee")
            .filter(pk=notice_id, sent_at__isnull=True)
            .first()
        )
        if notice is None:
            return False
        recipients = notice_recipients(notice.report)
        if not recipients:
            logger.warning("sla notice %s for report %s has no recipient", notice.pk, notice.report_id)
            notice.sent_at, notice.recipients = clock.now(), []
            notice.save(update_fields=["sent_at", "recipients"])
            return False
        _notice_mail(notice, recipients).send()
        notice.sent_at, notice.recipients = clock.now(), recipients
        notice.save(update_fields=["sent_at", "recipients"])
        logger.info("sla notice %s (%s %s) sent for report %s", notice.pk, notice.clock, notice.kind, notice.report_id)
        return True
