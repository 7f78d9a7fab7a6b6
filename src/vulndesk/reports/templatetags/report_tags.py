from datetime import datetime

from django import template

from vulndesk.core import clock
from vulndesk.reports.presentation import clock_views, format_local, next_clock
from vulndesk.reports.states import ReportState

register = template.Library()


@register.inclusion_tag("reports/partials/_next_deadline.html")
def next_deadline(report):
    return {"view": next_clock(report, clock.now()), "report": report}


@register.simple_tag
def report_clocks(report):
    return clock_views(report, clock.now())


@register.filter
def local_time(moment, time_zone):
    """A datetime in an organisation's zone, e.g. "Fri 28 Nov 2026, 17:00 CET"."""
    if not moment:
        return ""
    if isinstance(moment, str):  # timeline events keep datetimes as ISO text
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return moment
    return format_local(moment, time_zone)


@register.filter
def state_label(value):
    try:
        return ReportState(value).label.lower()
    except ValueError:
        return value
