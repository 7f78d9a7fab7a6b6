"""Staff downloads of an advisory's machine-readable documents and the validation panel.

Any member with a reading role may download; each download is audited by the service. A
document failing its schema is refused by the service (422 with the validator's messages)."""

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from vulndesk.exports import selectors, services
from vulndesk.organisations.access import member_view


@member_view()
@require_GET
def export_download_view(request, member, identifier, format):
    advisory = selectors.advisory_for_export(member=member, identifier=identifier)
    export = services.advisory_export(advisory=advisory, actor=member, format=format,
                                      edition=request.GET.get("edition") or None)
    response = HttpResponse(export.body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    return response


@member_view()
@require_GET
def export_panel_view(request, member, identifier):
    advisory = selectors.advisory_for_export(member=member, identifier=identifier)
    return render(request, "exports/partials/_panel.html", {
        "organisation": member.organisation, "advisory": advisory,
        "export_rows": selectors.export_panel(member=member, advisory=advisory),
    })
