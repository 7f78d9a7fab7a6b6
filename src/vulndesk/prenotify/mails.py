"""The pre-notification e-mail. Like every vulndesk mail it carries no advisory text: only the
identifier, the title and the embargo date, and the private link; the draft itself stays behind
the link, where each view is recorded and the link can be revoked. ``Auto-Submitted`` (RFC 3834)
keeps auto-responders from answering it."""

import re

from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse

from vulndesk.prenotify.models import PreNotification
from vulndesk.reports.presentation import format_local

_SPACE = re.compile(r"\s+")


def embargo_link(token: str) -> str:
    return settings.SITE_URL + reverse("prenotify:embargo", kwargs={"token": token})


def _one_line(text: str, limit: int) -> str:
    # A title with line breaks must not break the Subject header (or the body's layout).
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def prenotification_mail(*, prenotification: PreNotification, token: str, connection=None) -> EmailMessage:
    advisory = prenotification.advisory
    organisation = advisory.organisation
    title = _one_line(advisory.title, 150)
    embargo = format_local(advisory.embargo_until, "UTC") if advisory.embargo_until else "not set"
    expires = format_local(prenotification.expires_at, "UTC")
    reply = organisation.security_contact_email
    body = (
        f"Hello {_one_line(prenotification.recipient_name, 200)},\n\n"
        f"{_one_line(organisation.name, 200)} shares the security advisory {advisory.identifier} with you "
        "before it is published.\n\n"
        f"Advisory: {advisory.identifier}\n"
        f"Title: {title}\n"
        f"Embargo until: {embargo}\n\n"
        f"Read it through your private link (it expires {expires}):\n{embargo_link(token)}\n\n"
        "EMBARGOED: do not share this advisory or its content, and do not act on it publicly, before the "
        "embargo date. The link is for you alone; every view is recorded (time, address, browser) and shown "
        f"to {_one_line(organisation.name, 200)}.\n"
        + (f"\nQuestions, or received this by mistake? Write to {reply}.\n" if reply else "")
    )
    headers = {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"}
    return EmailMessage(
        subject=f"[EMBARGOED] {advisory.identifier}: {title}", body=body, to=[prenotification.recipient_email],
        reply_to=[reply] if reply else None, headers=headers, connection=connection,
    )
