"""The mails the intake sends: the acknowledgement of a new report and staff replies. Plain text.

Both thread with the reporter's mail (``In-Reply-To``/``References``, RFC 5322 section 3.6.4),
carry the report's reference in the subject, and put the report's reply address in
``Reply-To``. The acknowledgement is an automatic reply (``Auto-Submitted: auto-replied``,
RFC 3834) so other systems do not answer it. Every header value built from the reporter's mail
passes ``one_line`` first; Message-IDs pass the strict ``<left@right>`` pattern.
"""

import re
from email.utils import formataddr, make_msgid

from django.core.mail import EmailMessage

from vulndesk.mailintake.addresses import message_ids, one_line
from vulndesk.reports.models import Report
from vulndesk.reports.presentation import duration_words, format_local

REFERENCES_MAX = 10
_PREFIXES = re.compile(r"^\s*((re|aw|sv|fw|fwd|wg)\s*:\s*|\[[A-Z][A-Z0-9]{1,11}-\d+\]\s*)+", re.IGNORECASE)


def new_message_id(domain: str) -> str:
    return make_msgid(domain=domain)


def thread_subject(subject: str) -> str:
    """The subject of a thread as first written, without reply prefixes or our reference."""
    return one_line(_PREFIXES.sub("", subject or ""), limit=150) or "Your security report"


def mail_subject(reference: str, subject: str) -> str:
    return one_line(f"Re: [{reference}] {thread_subject(subject)}", limit=200)


def protected_subject(reference: str) -> str:
    """The outer subject of an encrypted mail: subjects travel in clear, so it names the report
    but not what it is about (the real subject is inside, as a protected header)."""
    return mail_subject(reference, "Your security report")


def from_header(organisation_name: str, address: str) -> str:
    return formataddr((one_line(f"{organisation_name} security team", 100), address))


def threading_headers(*, message_id: str, parent: str, references: list[str]) -> dict[str, str]:
    headers = {"Message-ID": message_id}
    chain = message_ids(" ".join([*references, parent]))
    if len(chain) > REFERENCES_MAX:  # the first (thread root) and the most recent ones
        chain = [chain[0], *chain[-(REFERENCES_MAX - 1):]]
    if parent and message_ids(parent):
        headers["In-Reply-To"] = message_ids(parent)[0]
    if chain:
        headers["References"] = " ".join(chain)
    return headers


def promise_lines(report: Report) -> list[str]:
    """The policy's deadlines in plain words, as the web form promises them."""
    policy = report.product.policy
    zone = report.organisation.time_zone
    lines = [
        f"We acknowledge every report within {policy.acknowledgement_hours} hours. This message is that "
        "acknowledgement.",
        f"We will assess your report (confirm the problem and rate its severity) by "
        f"{format_local(report.assessment_due_at, zone)}, within {policy.assessment_business_days} business days.",
    ]
    low = ("in the next planned release" if policy.low_in_next_release
           else f"within {policy.low_resolution_days} days")
    lines.append(
        "If we accept it, we aim to fix it within "
        f"{duration_words_hours(policy.critical_resolution_hours)} for Critical, {policy.high_resolution_days} days "
        f"for High and {policy.medium_resolution_days} days for Medium issues, and {low} for Low ones."
    )
    lines.append(f"We disclose together with you, at the latest {policy.disclosure_days} days after we received "
                 "the report, unless we agree otherwise with you.")
    return lines


def duration_words_hours(hours: int) -> str:
    from datetime import timedelta

    return f"{hours} hours" if hours <= 96 else duration_words(timedelta(hours=hours))


def acknowledgement_mail(*, report: Report, to: str, from_address: str, reply_to: str, subject: str,
                         headers: dict[str, str], reporter_name: str, tracking_url: str | None,
                         refused: list[str], notice: str = "") -> EmailMessage:
    organisation = report.organisation.name
    greeting = f"Hello {one_line(reporter_name, 80)}," if reporter_name else "Hello,"
    parts = [
        greeting,
        f"thank you for your report to the {organisation} security team. We have filed it as {report.reference}.",
        "What happens next:\n" + "\n".join(f"- {line}" for line in promise_lines(report)),
    ]
    if notice:  # why the tracking link is not in this mail (see services.acknowledgements)
        parts.append(notice)
    elif tracking_url:
        parts.append("Follow your report, add details or files, and read our answers on its private page:\n"
                     f"{tracking_url}\n"
                     "Keep this link to yourself: whoever has it can read the report.")
    else:
        parts.append("The private link to your report's page could not be delivered in time. Reply to this "
                     "e-mail to reach the team; your replies are added to the report.")
    parts.append(f"You can also simply reply to this e-mail: replies from {to} are added to {report.reference}.")
    if refused:
        parts.append("These attachments were not accepted, for the reason given:\n"
                     + "\n".join(f"- {one_line(line, 300)}" for line in refused)
                     + "\nAdd them in an accepted format on the report's page, or describe them in a reply.")
    parts.append(f"-- \n{organisation} security team (automatic message from vulndesk)")
    headers = {**headers, "Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"}
    return EmailMessage(subject=mail_subject(report.reference, subject), body="\n\n".join(parts) + "\n",
                        from_email=from_address, to=[to], reply_to=[reply_to] if reply_to else None,
                        headers=headers)


def staff_reply_mail(*, report: Report, to: str, from_address: str, reply_to: str, subject: str,
                     headers: dict[str, str], body: str) -> EmailMessage:
    footer = (f"-- \n{report.organisation.name} security team\n"
              f"Reply to this e-mail to answer; your reply is added to {report.reference}.")
    return EmailMessage(subject=mail_subject(report.reference, subject), body=f"{body.rstrip()}\n\n{footer}\n",
                        from_email=from_address, to=[to], reply_to=[reply_to] if reply_to else None,
                        headers=headers)
