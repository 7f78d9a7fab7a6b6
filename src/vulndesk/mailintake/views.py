"""Staff pages of the mailbox: the inbox of held, quarantined and machine mail, one message
with its decisions, the intake addresses and the IMAP mailboxes polled for the organisation,
and the mail side of a report. Originals are only
ever downloaded, never rendered (ASVS V5.4); every download is audited."""

from urllib.parse import quote

from django.contrib import messages as flash
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from vulndesk.core.errors import Conflict, DomainError
from vulndesk.core.ratelimit import client_ip
from vulndesk.mailintake import selectors, services
from vulndesk.mailintake.forms import ConvertForm, ImapMailboxForm, IntakeAddressForm
from vulndesk.mailintake.models import AcknowledgementState, InboundState
from vulndesk.mailintake.parsing import Unparseable, best_effort_text
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
    # Read as processing reads it, so an encrypted message is converted as its decrypted text.
    parsed = services.inbound_parse(message)
    if isinstance(parsed, Unparseable):
        raw = services.inbound_raw(message)
        return {"title": "E-mail that could not be read", "description": best_effort_text(raw),
                "product": message.product_id}
    return {"title": parsed.subject or "(no subject)",
            "description": parsed.text or best_effort_text(services.inbound_raw(message)),
            "reporter_name": parsed.sender_name, "reporter_email": parsed.sender_address,
            "product": message.product_id}


def _message_page(request, member, message, convert_form=None, status=200):
    can_triage = member.role in TRIAGE_ROLES
    if convert_form is None and can_triage and message.state in {InboundState.QUARANTINED, InboundState.AUTOMATIC}:
        convert_form = ConvertForm(initial=_convert_initial(message),
                                   products=selectors.products_accepting_reports(member=member))
    return render(request, "mailintake/message.html", _base(
        member, message=message, convert_form=convert_form,
        can_reopen=can_triage and services.inbound_openpgp_quarantined(message),
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


@member_view(*TRIAGE_ROLES)
@require_POST
def mail_reopen_view(request, member, message_id):
    message = selectors.inbound_message_for_member(member=member, message_id=message_id)
    try:
        reopening = services.inbound_reopen(message=message, actor=member)
    except Conflict as error:
        # Nothing was done: the page as it is, with why, and a status that says so.
        flash.error(request, error.message)
        return _message_page(request, member, message, status=error.status_code)
    reopened = reopening.message
    if reopening.opened:
        outcome = reopened.get_state_display().lower()  # "filed as a new report", "held for review"...
        flash.success(request, f"Decrypted: {outcome}" + (f" ({reopened.report.reference})" if reopened.report else "")
                      + (". The reporter was sent the acknowledgement." if reopened.acknowledgement
                         == AcknowledgementState.SENT else "."))
    elif reopened.state == InboundState.STORED:
        flash.error(request, "Processing failed this time; the message is stored and will be tried again.")
    elif services.inbound_openpgp_quarantined(reopened):
        flash.error(request, f"It still cannot be opened, and stays in quarantine: {reopened.reason}")
    else:  # decrypted, but not filed (the product is gone, the report refused...)
        flash.error(request, f"Decrypted, but it stays in quarantine: {reopened.reason}")
    return redirect(_message_url(member, message_id))


@member_view()
@require_GET
def mail_addresses_view(request, member):
    return _addresses_page(request, member)


def _addresses_page(request, member, form=None, status=200):
    products = selectors.products_accepting_reports(member=member)
    return render(request, "mailintake/addresses.html", _base(
        member, addresses=selectors.intake_addresses_for_member(member=member),
        mailboxes=selectors.imap_mailboxes_for_member(member=member),
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


# --- IMAP mailboxes (on the addresses page) ---------------------------------------------------------

def _addresses_url(member) -> str:
    return reverse("mailintake:addresses", kwargs={"organisation": member.organisation.slug}) + "#imap-mailboxes"


def _imap_form(member, data=None, *, mailbox=None) -> ImapMailboxForm:
    initial = None
    if mailbox is not None and data is None:
        initial = {name: getattr(mailbox, name) for name in (
            "name", "address", "product", "host", "security", "port", "folder", "processed_folder",
            "trusted_certificate", "import_since")}
        initial["username"] = mailbox.username  # never the password
        initial["poll_interval_minutes"] = mailbox.poll_interval_seconds // 60
    return ImapMailboxForm(data, initial=initial, addresses=selectors.active_intake_addresses(member=member),
                           products=selectors.products_accepting_reports(member=member),
                           has_password=mailbox is not None)


def _imap_page(request, member, form, *, mailbox=None, status=200):
    response = render(request, "mailintake/imap_mailbox.html", _base(member, form=form, mailbox=mailbox),
                      status=status)
    response["Cache-Control"] = "no-store"
    return response


def _imap_values(form) -> services.MailboxSettings:
    data = dict(form.cleaned_data)
    data["poll_interval_seconds"] = data.pop("poll_interval_minutes") * 60
    return services.MailboxSettings(**data)


def _imap_save(request, member, *, mailbox=None):
    form = _imap_form(member, request.POST, mailbox=mailbox)
    if form.is_valid():
        try:
            if mailbox is None:
                saved = services.imap_mailbox_add(actor=member, values=_imap_values(form))
            else:
                saved = services.imap_mailbox_update(actor=member, mailbox=mailbox, values=_imap_values(form))
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            flash.success(request, f"Mailbox \u201c{saved.name}\u201d saved. Check the connection before its first "
                                   "poll." if mailbox is None else f"Mailbox \u201c{saved.name}\u201d saved.")
            return redirect(_addresses_url(member))
    return _imap_page(request, member, form, mailbox=mailbox, status=422)


@member_view(*SETTINGS_ROLES)
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def mail_imap_add_view(request, member):
    if request.method == "POST":
        return _imap_save(request, member)
    return _imap_page(request, member, _imap_form(member))


@member_view(*SETTINGS_ROLES)
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def mail_imap_edit_view(request, member, mailbox_id):
    mailbox = selectors.imap_mailbox_for_member(member=member, mailbox_id=mailbox_id)
    if request.method == "POST":
        return _imap_save(request, member, mailbox=mailbox)
    return _imap_page(request, member, _imap_form(member, mailbox=mailbox), mailbox=mailbox)


def _imap_act(request, member, mailbox_id, action, done):
    mailbox = selectors.imap_mailbox_for_member(member=member, mailbox_id=mailbox_id)
    try:
        result = action(mailbox)
    except DomainError as error:
        flash.error(request, f"\u201c{mailbox.name}\u201d: {error.message}")
    else:
        flash.success(request, done(mailbox, result))
    return redirect(_addresses_url(member))


@member_view(*SETTINGS_ROLES)
@require_POST
def mail_imap_disable_view(request, member, mailbox_id):
    return _imap_act(request, member, mailbox_id,
                     lambda m: services.imap_mailbox_set_enabled(actor=member, mailbox=m, enabled=False),
                     lambda m, _: f"\u201c{m.name}\u201d is no longer polled. Its mail stays on the server.")


@member_view(*SETTINGS_ROLES)
@require_POST
def mail_imap_enable_view(request, member, mailbox_id):
    return _imap_act(request, member, mailbox_id,
                     lambda m: services.imap_mailbox_set_enabled(actor=member, mailbox=m, enabled=True),
                     lambda m, _: f"\u201c{m.name}\u201d is polled again.")


@member_view(*SETTINGS_ROLES)
@require_POST
def mail_imap_check_view(request, member, mailbox_id):
    def said(mailbox, check):
        waiting = {0: "no message waits", 1: "1 message waits"}.get(check.waiting, f"{check.waiting} messages wait")
        return f"Connected to \u201c{mailbox.name}\u201d: logged in, folders found; {waiting} to be imported."

    return _imap_act(request, member, mailbox_id,
                     lambda m: services.imap_mailbox_check(actor=member, mailbox=m), said)


@member_view(*SETTINGS_ROLES)
@require_POST
def mail_imap_poll_view(request, member, mailbox_id):
    return _imap_act(request, member, mailbox_id,
                     lambda m: services.imap_poll_request(actor=member, mailbox=m),
                     lambda m, _: f"\u201c{m.name}\u201d is being polled; its last poll below shows the result.")
