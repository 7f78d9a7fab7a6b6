"""Staff HTML views for reports: the triage queue and the report page. Thin: parse, call a
selector or service, render. Each action works as a plain POST (redirect) and as htmx."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.contrib import messages as flash
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from vulndesk.accounts.models import User
from vulndesk.attachments.forms import attachments_help
from vulndesk.core import clock
from vulndesk.core.errors import DomainError
from vulndesk.core.ratelimit import client_ip
from vulndesk.organisations.access import member_view, sees_internal_notes, sees_reporter_identity
from vulndesk.organisations.models import READ_ROLES, TRIAGE_ROLES, Role
from vulndesk.organisations.selectors import members_of_organisation
from vulndesk.products.selectors import products_for_member, supported_versions_for_product
from vulndesk.reports import selectors, services
from vulndesk.reports.forms import (
    AssignForm,
    CvssPreviewForm,
    DisclosureExtendForm,
    MessageForm,
    SeverityForm,
    TransitionForm,
)
from vulndesk.reports.severity import Severity, cvss_score
from vulndesk.reports.states import ACTION_LABELS, ReportState, allowed_transitions


@member_view()
@require_GET
def queue_view(request, member):
    try:
        filters = selectors.QueueFilters.from_params(request.GET)
        page = selectors.reports_for_queue(member=member, filters=filters, cursor=request.GET.get("cursor", ""))
        error = None
    except DomainError as exc:
        filters, page, error = selectors.QueueFilters(), None, exc.message
    context = {
        "member": member,
        "organisation": member.organisation,
        "page": page,
        "filters": filters,
        "filter_params": filters.as_params(),
        "error": error,
        "counts": selectors.report_state_counts(member=member),
        "products": products_for_member(member=member),
        "members": members_of_organisation(member=member),
        "states": ReportState.choices,
        "severities": Severity.choices,
        "now": clock.now(),
        "nav": "queue",
    }
    template = "reports/partials/_queue_table.html" if request.htmx and not request.htmx.boosted else "reports/queue.html"
    return render(request, template, context, status=400 if error else 200)


def _detail_context(member, report, **forms):
    return {
        "member": member,
        "organisation": member.organisation,
        "report": report,
        "nav": "queue",
        "timeline": selectors.timeline_for_report(report=report),
        "messages_thread": selectors.messages_for_report(report=report, include_internal=sees_internal_notes(member)),
        "sees_reporter": sees_reporter_identity(member),
        "duplicates": selectors.reports_duplicates_of(report=report),
        "supported_versions": supported_versions_for_product(product=report.product),
        "actions": [(state, ACTION_LABELS[state]) for state in allowed_transitions(report.state)],
        "can_triage": member.role in TRIAGE_ROLES,
        "transition_form": forms.get("transition_form") or TransitionForm(),
        "severity_form": forms.get("severity_form") or SeverityForm(initial={
            "cvss_vector": report.cvss_vector, "cwe_id": report.cwe_id,
            "severity": report.severity if report.severity_override_reason else "",
            "reason": report.severity_override_reason,
        }),
        "assign_form": forms.get("assign_form") or AssignForm(
            initial={"assignee": report.assignee_id}, members=members_of_organisation(member=member)
        ),
        "message_form": forms.get("message_form") or MessageForm(),
        "attachments_help": attachments_help(),
    }


@member_view()
@require_GET
def report_detail_view(request, member, number):
    report = selectors.report_for_member(member=member, number=number)
    services.report_read_record(report=report, actor=member, ip_address=client_ip(request))
    return render(request, "reports/report_detail.html", _detail_context(member, report))


def _after_action(request, member, report, message):
    flash.success(request, message)
    return _after_action_redirect(member, report)


def _invalid(request, member, report, form_name, form, error: DomainError | None = None):
    if error is not None:
        field = error.field if error.field in form.fields else None
        form.add_error(field, error.message)
    context = _detail_context(member, report, **{form_name: form})
    return render(request, "reports/report_detail.html", context, status=422)


@member_view(*TRIAGE_ROLES)
@require_POST
def report_transition_view(request, member, number):
    report = selectors.report_for_member(member=member, number=number)
    form = TransitionForm(request.POST)
    if not form.is_valid():
        return _invalid(request, member, report, "transition_form", form)
    data = form.cleaned_data
    try:
        original = (
            selectors.report_for_member(member=member, number=data["duplicate_of"]) if data["duplicate_of"] else None
        )
        services.report_transition(
            report=report, actor=member, to=data["to"], cvss_vector=data["cvss_vector"],
            severity=data["severity"], reason=data["reason"], duplicate_of=original,
        )
    except DomainError as error:
        report = selectors.report_for_member(member=member, number=number)  # discard half-applied fields
        return _invalid(request, member, report, "transition_form", form, error)
    return _after_action(request, member, report, f"{report.reference} is now {report.get_state_display().lower()}.")


@member_view(*TRIAGE_ROLES)
@require_POST
def report_severity_view(request, member, number):
    report = selectors.report_for_member(member=member, number=number)
    form = SeverityForm(request.POST)
    if not form.is_valid():
        return _invalid(request, member, report, "severity_form", form)
    data = form.cleaned_data
    try:
        if data["cvss_vector"] or data["severity"]:
            services.report_severity_change(
                report=report, actor=member, cvss_vector=data["cvss_vector"], severity=data["severity"],
                reason=data["reason"],
            )
        services.report_cwe_set(report=report, actor=member, cwe_id=data["cwe_id"])
    except DomainError as error:
        report = selectors.report_for_member(member=member, number=number)
        return _invalid(request, member, report, "severity_form", form, error)
    return _after_action(request, member, report, "Severity saved.")


@member_view(*TRIAGE_ROLES)
@require_POST
def report_assign_view(request, member, number):
    report = selectors.report_for_member(member=member, number=number)
    members = members_of_organisation(member=member)
    form = AssignForm(request.POST, members=members)
    if not form.is_valid():
        return _invalid(request, member, report, "assign_form", form)
    assignee_id = form.cleaned_data["assignee"]
    assignee = next((m.user for m in members if m.user_id == assignee_id), None) if assignee_id else None
    try:
        services.report_assign(report=report, actor=member, assignee=assignee)
    except DomainError as error:
        return _invalid(request, member, report, "assign_form", form, error)
    who = assignee.display_name if isinstance(assignee, User) else "nobody"
    return _after_action(request, member, report, f"Assigned to {who}.")


@member_view(*(READ_ROLES - {Role.VIEWER}))  # viewers read only: 403, as in the API
@require_POST
def report_message_view(request, member, number):
    report = selectors.report_for_member(member=member, number=number)
    form = MessageForm(request.POST)
    if not form.is_valid():
        return _invalid(request, member, report, "message_form", form)
    try:
        services.message_post(report=report, actor=member, body=form.cleaned_data["body"],
                              is_internal=form.cleaned_data["is_internal"])
    except DomainError as error:
        return _invalid(request, member, report, "message_form", form, error)
    kind = "Internal note added." if form.cleaned_data["is_internal"] else "Message sent to the reporter."
    return _after_action(request, member, report, kind)


@member_view()
@require_GET
def cvss_preview_view(request, member):
    """htmx: the score and severity of the vector being typed, computed on the server."""
    form = CvssPreviewForm(request.GET)
    context = {"score": None, "error": None}
    if form.is_valid() and form.cleaned_data["cvss_vector"]:
        try:
            context["score"] = cvss_score(form.cleaned_data["cvss_vector"])
        except DomainError as error:
            context["error"] = error.message
    return render(request, "reports/partials/_cvss_preview.html", context)


@member_view(*TRIAGE_ROLES)
@require_POST
def report_disclosure_extend_view(request, member, number):
    report = selectors.report_for_member(member=member, number=number)
    form = DisclosureExtendForm(request.POST)
    if not form.is_valid():
        flash.error(request, "Give the new date, the reason and the reporter's agreement.")
        return _after_action_redirect(member, report)
    data = form.cleaned_data
    # The end of the chosen day in the organisation's zone (the page is rendered in it).
    due_at = datetime.combine(data["due_on"], time(23, 59), tzinfo=ZoneInfo(member.organisation.time_zone))
    try:
        services.report_disclosure_extend(report=report, actor=member, due_at=due_at, reason=data["reason"],
                                          reporter_agreed=data["reporter_agreed"])
    except DomainError as error:
        flash.error(request, error.message)
        return _after_action_redirect(member, report)
    return _after_action(request, member, report, "Disclosure deadline extended.")


def _after_action_redirect(member, report):
    return redirect(reverse("reports:detail", kwargs={"organisation": member.organisation.slug,
                                                      "number": report.number}))
