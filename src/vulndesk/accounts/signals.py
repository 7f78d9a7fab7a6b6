"""Audit entries for logins, failed logins and logouts (Django's auth signals). A decoupled
chore, which is what signals are for here: the login views themselves stay Django's."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from vulndesk.audit.services import audit_record


def _ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    audit_record(action="auth.login", actor_id=user.pk, actor_label=user.email, ip_address=_ip(request))


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        audit_record(action="auth.logout", actor_id=user.pk, actor_label=user.email, ip_address=_ip(request))


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs):
    # The attempted username is not stored: it is often a mistyped password.
    audit_record(action="auth.login_failed", ip_address=_ip(request))
