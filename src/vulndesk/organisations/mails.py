"""The mail a person gets when an owner adds them to an organisation.

The owner's page says the same thing whatever the address is ("invitation sent"), so it never
tells whether the address already had an account here; only the mail, which goes to the address
itself, differs: a person who can already log in is told they were added, anyone else gets a
link to choose their password. The link is Django's password-reset token (an HMAC over the
user's password hash, last login and the time, so it dies once used and after
``PASSWORD_RESET_TIMEOUT``); nothing of it is stored.
"""

import re

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from vulndesk.organisations.models import Membership

_SPACE = re.compile(r"\s+")


def _one_line(text: str, limit: int = 200) -> str:
    # Names are typed by people: a line break must not reach a header or reshape the body.
    text = _SPACE.sub(" ", text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def invitation_url(user) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return settings.SITE_URL + reverse("organisations:invitation", kwargs={"uidb64": uid, "token": token})


def invitation_valid_days() -> int:
    return max(1, int(settings.PASSWORD_RESET_TIMEOUT // 86400))


def member_added_mail(*, membership: Membership, added_by: Membership) -> EmailMessage:
    """A set-password invitation for a person who cannot log in yet; otherwise a notice."""
    user, organisation = membership.user, membership.organisation
    organisation_name, adder = _one_line(organisation.name), _one_line(added_by.user.display_name)
    role = membership.get_role_display()
    if user.has_usable_password():
        subject = f"You were added to {organisation_name} on vulndesk"
        login = settings.SITE_URL + reverse("accounts:login")
        body = (
            f"{adder} added you to {organisation_name} on vulndesk as {role}.\n\n"
            f"Log in as usual to see it: {login}\n\n"
            "If you did not expect this, tell the owners of the organisation; your password and second "
            "factor have not changed.\n"
        )
    else:
        subject = f"You are invited to {organisation_name} on vulndesk"
        days = invitation_valid_days()
        body = (
            f"{adder} invited you to {organisation_name} on vulndesk as {role}.\n\n"
            f"Choose your password here (the link works once, for {days} day{'s' if days != 1 else ''}):\n"
            f"{invitation_url(user)}\n\n"
            "At your first login you set up two-factor authentication with an authenticator app.\n\n"
            "If you did not expect this, ignore this mail: without a password nobody can log in as you.\n"
        )
    headers = {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"}
    return EmailMessage(subject=_one_line(subject, 250), body=body, to=[user.email], headers=headers)
