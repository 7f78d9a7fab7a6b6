from django import template

from vulndesk.cve.selectors import CvePanel, cve_panel_for

register = template.Library()


@register.simple_tag
def cve_panel_state(member, advisory, given=None):
    """The panel's state: the one a CVE view prepared (with its message or error), or, when the
    advisory page includes the panel, read for this member (two queries)."""
    if isinstance(given, CvePanel):
        return given
    if not member or not advisory:
        return None
    return cve_panel_for(member=member, advisory=advisory)
