"""The panel tag: lets the advisory page include ``prenotify/partials/_advisory_panel.html``
without knowing anything about pre-notification (it renders panels with its own context,
which holds ``member`` and ``advisory``). One call per page, not per row."""

from django import template

from vulndesk.organisations.models import TRIAGE_ROLES
from vulndesk.prenotify.panel import panel_context

register = template.Library()


@register.simple_tag(takes_context=True)
def prenotify_panel(context):
    """The panel's data: the view's own when it rendered the partial, else computed for the
    page's member and advisory; None (panel hidden) for roles that may not see who was told."""
    existing = context.get("prenotify")
    if existing:
        return existing
    member, advisory = context.get("member"), context.get("advisory")
    if member is None or advisory is None or member.role not in TRIAGE_ROLES:
        return None
    if advisory.organisation_id != member.organisation_id:
        return None
    return panel_context(member=member, advisory=advisory)["prenotify"]
