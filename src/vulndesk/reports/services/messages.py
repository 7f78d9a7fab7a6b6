"""The private thread between staff and the reporter."""


from django.db import transaction

from vulndesk.core import clock
from vulndesk.core.errors import DomainError, NotFound
from vulndesk.organisations.models import READ_ROLES, Membership
from vulndesk.reports.models import (
    EventKind,
    Message,
    Report,
)
from vulndesk.reports.services.common import _audit, _check_actor, _event, message_posted
from vulndesk.reports.states import ReportState

# --- messages -----------------------------------------------------------------------------

MESSAGE_MAX_CHARS = 50_000


def _message_body(body: str) -> str:
    if not body.strip():
        raise DomainError("A message cannot be empty.", field="body")
    if len(body) > MESSAGE_MAX_CHARS:
        raise DomainError(f"A message is at most {MESSAGE_MAX_CHARS:,} characters.", field="body")
    return body


@transaction.atomic
def message_post(*, report: Report, actor: Membership, body: str, is_internal: bool) -> Message:
    """A staff message: to the reporter, or an internal note that never leaves."""
    _check_actor(actor, report.organisation_id, roles=READ_ROLES - {"viewer"})
    if actor.role == "developer" and report.assignee_id != actor.user_id:
        raise NotFound
    now = clock.now()
    message = Message.objects.create(
        organisation_id=report.organisation_id, report=report, author_id=actor.user_id, body=_message_body(body),
        is_internal=is_internal, created_at=now,
    )
    # The timeline says that a message was written (never what); notes stay off the tracking page.
    _event(report, EventKind.MESSAGE, actor, now, public=not is_internal, internal=is_internal).save()
    _audit("report.message", report, actor, now, internal=is_internal)
    message_id, report_id = message.pk, report.pk
    transaction.on_commit(lambda: message_posted.send(sender=Message, message_id=message_id, report_id=report_id))
    return message


@transaction.atomic
def reporter_message_post(*, report: Report, body: str) -> Message:
    """A message from the reporter, through the tracking page (or, later, e-mail)."""
    if report.state == ReportState.DISCLOSED:
        raise DomainError("This report is disclosed and its thread is closed.", field="body")
    now = clock.now()
    message = Message.objects.create(
        organisation_id=report.organisation_id, report=report, is_from_reporter=True, body=_message_body(body),
        created_at=now,
    )
    _event(report, EventKind.MESSAGE, None, now, label="reporter", public=True, internal=False).save()
    _audit("report.reporter_message", report, None, now)
    return message
