"""The pre-notification panel of the staff advisory page: what it needs, in one dict.

The advisory page (advisories app) includes ``prenotify/partials/_advisory_panel.html`` with
``panel_context(member=member, advisory=advisory)`` merged into its context; this app's own
panel page and htmx endpoints render the same partial from the same function. Everything sits
under one key, ``prenotify``, so it cannot clash with the host page's ``form`` or ``rows``.
"""

from vulndesk.advisories.models import Advisory
from vulndesk.core import clock
from vulndesk.core.errors import DomainError
from vulndesk.organisations.models import SETTINGS_ROLES, TRIAGE_ROLES, Membership
from vulndesk.prenotify import selectors
from vulndesk.prenotify.forms import SendForm
from vulndesk.prenotify.links import advisory_is_public, link_expiry


def panel_context(*, member: Membership, advisory: Advisory, form: SendForm | None = None) -> dict:
    contacts = selectors.contacts_queryset(member=member)
    try:
        link_expiry(advisory=advisory, expires_at=None, now=clock.now())
        blocked = ""
    except DomainError as error:
        blocked = error.message
    rows = selectors.prenotifications_for_advisory(member=member, advisory=advisory)
    return {"prenotify": {
        "advisory": advisory,
        "organisation": member.organisation,
        "rows": rows,
        "active_count": sum(1 for row in rows if row.is_active),
        "form": form or SendForm(contacts=contacts),
        "has_contacts": contacts.exists(),
        "can_send": member.role in TRIAGE_ROLES and not blocked,
        "can_revoke": member.role in TRIAGE_ROLES,
        "blocked_reason": blocked,
        "is_public": advisory_is_public(advisory),
        "can_manage_contacts": member.role in SETTINGS_ROLES,
    }}
