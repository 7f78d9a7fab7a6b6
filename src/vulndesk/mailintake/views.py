"""Staff pages of the mailbox: the inbox of held, quarantined and machine mail, one message
with its decisions, the intake addresses, and the mail side of a report. Originals are only
ever downloaded, never rendered (ASVS V5.4); every download is audited."""

from urllib.parse import quote

from django.contrib import messages as flash
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from vulndesk.core.errors import DomainError
from vulndesk.core.ratelimit import client_ip
from vulndesk.mailintake import selectors, services
from vulndesk.mailintake.forms import ConvertForm, IntakeAddressForm
from vulndesk.mailintake.models import InboundState
from vulndesk.mailintake.parsing import Unparseable, best_effort_text, parse_mail
from vulndesk.organisations.access import member_view, sees_internal_notes, sees_reporter_identity
from vulndesk.organisations.models import SETTINGS_ROLES, TRIAGE_ROLES
from vulndesk.reports.selectors import messages_for_report, report_for_member


def _base(member, **extra):
    return {"member": member, "organisation": member.organisation, "nav": "mail",
            "can_triage": member.role in TRIAGE_ROLES, "sees_reporter": sees_reporter_identity(member), **extra}


def _message_url(member, message_id: int) -> str:
    return reverse("mailintake:message", kwargs={"organisation": member.organisation.slug, "message_id": message_id})


@member_view()
@require_GET
def mail_inbox_view(request, member):
    view = request.GET.get("view", "attention")
    rows = selectors.inbound_messages_for_member(member=member, view=view)
    return render(request, "mailintake/inbox.html", _base(
        member, rows=rows, view=view, counts=selectors.inbound_counts(member=member),
        views=[("attention", "Needs attention"), ("held", "Held"), ("quarantined", "Quarantine"),
               ("flagged", "Flagged"), ("automatic", "Machine mail"), ("all", "All mail")]))


def _convert_initial(message) -> dict:
    raw = services.inbound_raw(message)
    try:
        parsed = parse_mail(raw, envelope_from=message.envelope_from)
    except Unparseable:
        return {"title": "E-mail that could not be read", "description": best_effort_text(raw),
                "product": message.product_id}
    return {"title": parsed.subject or "(no subject)", "description": parsed.text or best_effort_text(raw),
            "reporter_name": parsed.sender_name, "reporter_email": parsed.sender_address,
            "product": message.product_id}


def _message_page(request, member, message, convert_form=None, status=200):
    can_triage = member.role in TRIAGE_ROLES
    if convert_form is None and can_triage and message.state in {InboundState.QUARANTINED, InboundState.AUTOMATIC}:
        convert_form = ConvertForm(initial=_convert_initial(message),
                                   products=selectors.products_accepting_reports(member=member))
    return render(request, "mailintake/message.html", _base(
        member, message=message, convert_form=convert_form,
        refused=[line for line in message.refused_attachments.split("\n") if line]), status=status)


@member_view()
@require_GET
def mail_message_view(request, member, message_id):
    message = selectors.inbound_message_for_member(member=member, message_id=message_id)
    return _message_page(request, member, message)


@member_view(*TRIAGE_ROLES)  # the original carries the reporter's identity: coordinators only
@require_GET
def mail_original_view(request, member, message_id):
    message = selectors.inbound_message_for_member(member=member, message_id=message_id)
    services.inbound_download_record(message=message, actor=member, ip_address=client_ip(request))
    name = f"original-{member.organisation.reference_prefix}-mail-{message.pk}.eml"
    response = StreamingHttpResponse(services.inbound_raw_chunks(message), content_type="application/octet-stream")
    response["Content-Disposition"] = f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
    response["Content-Length"] = str(message.size)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "no-store"
    return response


def _decide(request, member, message_id, service, done: str):
    message = selectors.inbound_message_for_member(member=member, message_id=message_id)
    try:
        service(message=message, actor=member)
    except DomainError as error:
        flash.error(request, error.message)
    else:
        flash.success(request, done)
    return redirect(_message_url(member, message_id))


@member_view(*TRIAGE_ROLES)
@require_POST
def mail_approve_view(request, member, message_id):
    return _decide(request, member, message_id, services.inbound_approve, "Added to the report's thread.")


@member_view(*TRIAGE_ROLES)
@require_POST
def mail_reject_view(request, member, message_id):
    return _decide(request, member, message_id, services.inbound_reject, "Rejected; the message stays stored.")


@member_view(*TRIAGE_ROLES)
@require_POST
def mail_convert_view(request, member, message_id):
    message = selectors.inbound_message_for_member(member=member, message_id=message_id)
    form = ConvertForm(request.POST, products=selectors.products_accepting_reports(member=member))
    if form.is_valid():
        try:
            conversion = services.inbound_convert(message=message, actor=member, **form.cleaned_data)
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            flash.success(request, f"Filed as {conversion.report.reference}."
                          + (" The reporter was sent the acknowledgement." if conversion.acknowledgement_sent else ""))
            return redirect(reverse("reports:detail", kwargs={"organisation": member.organisation.slug,
                                                              "number": conversion.report.number}))
    return _message_page(request, member, message, convert_form=form, status=422)


@member_view()
@require_GET
def mail_addresses_view(request, member):
    return _addresses_page(request, member)


def _addresses_page(request, member, form=None, status=200):
    products = selectors.products_accepting_reports(member=member)
    return render(request, "mailintake/addresses.html", _base(
        member, addresses=selectors.intake_addresses_for_member(member=member),
        form=form or IntakeAddressForm(products=products), can_edit=member.role in SETTINGS_ROLES), status=status)


@member_view(*SETTINGS_ROLES)
@require_POST
def mail_address_add_view(request, member):
    form = IntakeAddressForm(request.POST, products=selectors.products_accepting_reports(member=member))
    if form.is_valid():
        try:
            address = services.intake_address_add(actor=member, **form.cleaned_data)
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            flash.success(request, f"Mail to {address.address} now files reports.")
            return redirect(reverse("mailintake:addresses", kwargs={"organisation": member.organisation.slug}))
    return _addresses_page(request, member, form=form, status=422)


@member_view(*SETTINGS_ROLES)
@require_POST
def mail_address_deactivate_view(request, member, address_id):
    address = selectors.intake_address_for_member(member=member, address_id=address_id)
    services.intake_address_deactivate(actor=member, address=address)
    flash.success(request, f"{address.address} no longer accepts mail.")
    return redirect(reverse("mailintake:addresses", kwargs={"organisation": member.organisation.slug}))


@member_view()
@require_GET
def report_mail_view(request, member, number):
    report = report_for_member(member=member, number=number)
    thread = messages_for_report(report=report, include_internal=sees_internal_notes(member))
    info = selectors.mail_info_for_messages(report=report, message_ids=[m.pk for m in thread])
    return render(request, "mailintake/report_mail.html", _base(
        member, report=report, mail_thread=selectors.mail_thread_for_report(report=report),
        inbound=selectors.inbound_messages_for_report(report=report),
        thread_rows=[(message, info[message.pk]) for message in thread]))
