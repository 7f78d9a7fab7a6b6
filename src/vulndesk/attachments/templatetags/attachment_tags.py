from django import template

from vulndesk.attachments.selectors import attachments_for_report

register = template.Library()


@register.inclusion_tag("attachments/partials/_list.html", takes_context=True)
def attachment_list(context, report, download_url_name, **url_kwargs):
    """The attachments of a report as download links; ``download_url_name`` differs between the
    staff page and the reporter's tracking page."""
    return {"attachments": attachments_for_report(report=report), "download_url_name": download_url_name,
            "url_kwargs": url_kwargs, "report": report}
