"""The mails this app sends, built from plain values. Plain text only.

What each may say:
- Advisory notifications: only what the revision published (its frozen OSV document and
  changelog), so an unpublished edit can never reach a subscriber. Every one carries an
  unsubscribe link and the RFC 8058 one-click headers (``List-Unsubscribe`` with an https URL,
  ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``); the sending MTA must DKIM-sign both.
- Reporter mails: the report's reference and its new state, never report text, not even the
  title the reporter wrote: the address may have been typed by someone else, and a title
  names the bug (ASVS "notifications say little"). Nothing about an unpublished advisory
  beyond "scheduled". The tracking link cannot be mailed (only its hash is stored).
- Confirmation mails: the organisation's name and the confirmation link.
Subjects and header values pass ``one_line`` (no line breaks, ASVS V1.3.11); Django's
``EmailMessage`` refuses any header that still contains one.
"""

from string import Template
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import NoReverseMatch, reverse

from vulndesk.notifications.addresses import one_line
from vulndesk.notifications.models import Event

AUTO = {"Auto-Submitted": "auto-generated"}


def site_host() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def absolute(path: str) -> str:
    return settings.SITE_URL + path


def advisory_public_url(organisation_slug: str, identifier: str) -> str | None:
    """The advisory's public page (served by the ``public`` app); None if that app is not installed."""
    try:
        return absolute(reverse("public:advisory", kwargs={"organisation": organisation_slug,
                                                           "identifier": identifier}))
    except NoReverseMatch:
        return None


def confirmation_mail(*, to: str, organisation_name: str, product_name: str, confirm_url: str,
                      valid_hours: int) -> EmailMessage:
    scope = f"{one_line(organisation_name)} security advisories" + (
        f" for {one_line(product_name)}" if product_name else "")
    body = (
        f"Someone, hopefully you, asked to receive {scope} at this address.\n\n"
        "To confirm, open this link and press the button on the page:\n"
        f"{confirm_url}\n\n"
        f"The link works for {valid_hours} hours. If you did not ask for this, ignore this mail: "
        "you will not be subscribed and will not hear from us again.\n"
    )
    return EmailMessage(subject=one_line(f"Confirm your subscription to {scope}"), body=body, to=[to],
                        headers=dict(AUTO))


def _affected_lines(document: dict) -> list[str]:
    lines = []
    for entry in document.get("affected") or []:
        package = entry.get("package") or {}
        name = " ".join(part for part in (package.get("ecosystem", ""), package.get("name", "")) if part) or "source"
        events = []
        for version_range in entry.get("ranges") or []:
            for event in version_range.get("events") or []:
                events += [f"{kind} {value}" for kind, value in event.items()]
        lines.append(f"  - {name}" + (f": {', '.join(events)}" if events else ""))
    return lines


def advisory_mail(*, to: str, organisation_name: str, organisation_slug: str, identifier: str, event: str, document: dict, changelog: str,
                  unsubscribe_url: str, scope_label: str, message_id: str) -> EmailMessage:
    """A subscriber's notification about one published revision (``document`` is its snapshot)."""
    details = document.get("database_specific") or {}
    title = one_line(details.get("title") or document.get("summary") or identifier)
    organisation = one_line(organisation_name)
    verb = {Event.ADVISORY_PUBLISHED: "published a security advisory",
            Event.ADVISORY_UPDATED: "updated a security advisory",
            Event.ADVISORY_WITHDRAWN: "withdrew a security advisory"}[event]
    prefix = {Event.ADVISORY_PUBLISHED: "", Event.ADVISORY_UPDATED: "Updated: ",
              Event.ADVISORY_WITHDRAWN: "Withdrawn: "}[event]
    lines = [f"{organisation} {verb}.", "", f"{identifier}: {title}",
             f"Severity: {(details.get('severity') or 'not rated').capitalize()}"]
    if document.get("aliases"):
        lines.append(f"Aliases: {', '.join(document['aliases'])}")
    if document.get("summary") and document["summary"] != title:
        lines += ["", document["summary"]]
    affected = _affected_lines(document)
    if affected:
        lines += ["", "Affected:", *affected]
    if event != Event.ADVISORY_PUBLISHED and changelog:
        lines += ["", f"What changed: {changelog}"]
    url = advisory_public_url(organisation_slug, identifier)
    if url:
        lines += ["", f"Read the advisory: {url}"]
    lines += ["", "-- ", f"You receive this because you subscribed to {scope_label}.",
              f"Unsubscribe: {unsubscribe_url}", ""]
    headers = {
        **AUTO,
        "List-Unsubscribe": f"<{unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": f"<advisories.{site_host()}>",
        "Precedence": "bulk",
        "Message-ID": message_id,
    }
    return EmailMessage(subject=one_line(f"[{identifier}] {prefix}{title}"), body="\n".join(lines), to=[to],
                        headers=headers)


_REPORTER_TEXT = {
    Event.REPORT_ACCEPTED: ("Your report was accepted",
                            "$organisation accepted your report $reference as a vulnerability and is working on it."),
    Event.REPORT_FIXED: ("Your report is fixed", "$organisation marked your report $reference as fixed."),
    **{event: ("Your report was closed", "$organisation closed your report $reference: $state.")
       for event in (Event.REPORT_DUPLICATE, Event.REPORT_INVALID, Event.REPORT_OUT_OF_SCOPE, Event.REPORT_WONT_FIX)},
    Event.REPORT_DISCLOSED: ("Your report is disclosed", "$organisation marked your report $reference as disclosed."),
    Event.REPORT_ADVISORY_SCHEDULED: (
        "An advisory is scheduled",
        "$organisation scheduled the publication of an advisory for your report $reference. "
        "You will get another mail when it is published."),
    Event.REPORT_ADVISORY_PUBLISHED: (
        "The advisory is published",
        "$organisation published $identifier, the advisory for your report $reference: $title"),
    Event.REPORT_CREDITED: ("You are credited",
                            "$identifier, the advisory for your report $reference, now credits you as $credit."),
}


def reporter_mail(*, to: str, event: str, organisation_name: str, organisation_slug: str, reference: str,
                  state_label: str = "", identifier: str = "", title: str = "", credit: str = "",
                  reply_to: str = "", message_id: str) -> EmailMessage:
    """Values are pre-vetted by the caller: ``title`` and ``credit`` come from a published
    revision only; nothing of the report's own text is passed in."""
    subject, opening = _REPORTER_TEXT[event]
    # Our template, values substituted once (string.Template, never str.format: ASVS V1.3.7).
    text = Template(opening).safe_substitute(
        organisation=one_line(organisation_name), reference=reference, state=state_label.lower(),
        identifier=identifier, title=one_line(title), credit=f'"{one_line(credit, 100)}"')
    lines = [text]
    if event == Event.REPORT_ADVISORY_PUBLISHED and credit:
        lines.append(f'It credits you as "{one_line(credit, 100)}". Thank you!')
    url = advisory_public_url(organisation_slug, identifier) if identifier else None
    if url and event in {Event.REPORT_ADVISORY_PUBLISHED, Event.REPORT_CREDITED}:
        lines += ["", f"Read the advisory: {url}"]
    lines += [
        "",
        "Details and the conversation with the team are on your tracking page: use the tracking link you got "
        "when you sent the report. We cannot include it here, because we keep only a fingerprint of it, never "
        "the link itself.",
        "",
        "-- ",
        f"You receive this because this address was given with report {reference}.",
        "",
    ]
    headers = {**AUTO, "Message-ID": message_id}
    return EmailMessage(subject=one_line(f"[{reference}] {subject}"), body="\n".join(lines), to=[to],
                        headers=headers, reply_to=[reply_to] if reply_to else None)
