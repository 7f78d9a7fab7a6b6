"""Upload and download of attachments: staff (by membership) and reporter (by tracking link)."""

from django.contrib import messages as flash
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from vulndesk.attachments import selectors
from vulndesk.attachments.forms import AttachmentUploadForm
from vulndesk.attachments.responses import attachment_response
from vulndesk.attachments.services import attachment_add, attachment_download_record
from vulndesk.core.errors import DomainError
from vulndesk.core.public import public_view
from vulndesk.core.ratelimit import client_ip, rate_limited
from vulndesk.organisations.access import member_view
from vulndesk.organisations.models import READ_ROLES, Role
from vulndesk.reports.selectors import report_for_member, report_for_tracking_token


def _store_all(request, report, files, **who) -> bool:
    try:
        with transaction.atomic():
            for upload in files:
                attachment_add(report=report, upload=upload, **who)
    except DomainError as error:
        flash.error(request, error.message)
        return False
    flash.success(request, f"{len(files)} file{'s' if len(files) != 1 else ''} attached.")
    return True


@member_view(*(READ_ROLES - {Role.VIEWER}))  # viewers read only: 403, as for messages and in the API
@require_POST
def attachment_upload_view(request, member, number):
    report = report_for_member(member=member, number=number)
    form = AttachmentUploadForm(request.POST, request.FILES)
    if form.is_valid():
        _store_all(request, report, form.cleaned_data["attachments"], actor=member)
    else:
        flash.error(request, " ".join(form.errors.get("attachments", ["Choose a file to attach."])))
    return redirect(reverse("reports:detail", kwargs={"organisation": member.organisation.slug, "number": number})
                    + "#attachments")


@member_view(*(READ_ROLES - {Role.VIEWER}))  # ASVS V8.2.3: viewers read reports, not the files
@require_GET
def attachment_download_view(request, member, number, attachment_id):
    report = report_for_member(member=member, number=number)
    attachment = selectors.attachment_for_report(report=report, attachment_id=attachment_id)
    attachment_download_record(attachment=attachment, actor=member, ip_address=client_ip(request))
    return attachment_response(attachment)


@public_view
@require_GET
def tracking_attachment_download_view(request, token, attachment_id):
    report = report_for_tracking_token(token=token)
    attachment = selectors.attachment_for_report(report=report, attachment_id=attachment_id)
    attachment_download_record(attachment=attachment, actor=None, ip_address=client_ip(request))
    response = attachment_response(attachment)
    response["Referrer-Policy"] = "no-referrer"
    return response


@public_view
@rate_limited("tracking_message")
@require_POST
def tracking_attachment_upload_view(request, token):
    report = report_for_tracking_token(token=token)
    form = AttachmentUploadForm(request.POST, request.FILES)
    if form.is_valid():
        _store_all(request, report, form.cleaned_data["attachments"], from_reporter=True)
    else:
        flash.error(request, " ".join(form.errors.get("attachments", ["Choose a file to attach."])))
    response = redirect(reverse("intake:tracking", kwargs={"token": token}) + "#attachments")
    response["Referrer-Policy"] = "no-referrer"
    return response
