"""CNA settings and the CVE panel of an advisory page. Thin: selectors read, services write.

The panel's actions answer htmx with the panel fragment (422 with the error in it); a plain POST
gets a flash message and a redirect back to the advisory page.
"""

from django.contrib import messages as flash
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from vulndesk.advisories.selectors import advisory_for_member
from vulndesk.core.errors import DomainError
from vulndesk.cve import follow, selectors, services
from vulndesk.cve.forms import CnaAccountForm, CveIdElsewhereForm
from vulndesk.organisations.access import member_view
from vulndesk.organisations.models import SETTINGS_ROLES, TRIAGE_ROLES

PANEL = "cve/partials/_advisory_panel.html"


# --- CNA settings ----------------------------------------------------------------------------------

def _settings_page(request, member, *, form=None, status=200):
    account = selectors.cna_account_for_member(member=member)
    if form is None:
        initial = {"is_enabled": True}
        if account is not None:
            initial = {"endpoint_url": account.endpoint_url, "short_name": account.short_name,
                       "username": account.username, "is_enabled": account.is_enabled}
        form = CnaAccountForm(initial=initial)
    response = render(request, "cve/cna_settings.html", {
        "member": member, "organisation": member.organisation, "account": account, "form": form,
        "nav": "cve",
    }, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _settings_url(member) -> str:
    return reverse("cve:settings", kwargs={"organisation": member.organisation.slug})


@member_view(*SETTINGS_ROLES)
@require_GET
def cna_settings_view(request, member):
    return _settings_page(request, member)


@member_view(*SETTINGS_ROLES)
@sensitive_post_parameters("api_key")  # error reports never show the typed key
@require_POST
def cna_settings_save_view(request, member):
    form = CnaAccountForm(request.POST)
    if form.is_valid():
        try:
            services.cna_account_save(organisation=member.organisation, actor=member, **form.cleaned_data)
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            flash.success(request, "CNA settings saved.")
            return redirect(_settings_url(member))
    return _settings_page(request, member, form=form, status=422)


@member_view(*SETTINGS_ROLES)
@require_POST
def cna_settings_check_view(request, member):
    try:
        check = services.cna_account_check(organisation=member.organisation, actor=member)
    except DomainError as error:
        flash.error(request, error.message)
    else:
        quota = (f" {check.available} of {check.id_quota} CVE IDs can be reserved."
                 if check.available is not None and check.id_quota is not None else "")
        flash.success(request, f"Connected to CVE Services as {check.organisation_name or 'your CNA'}.{quota}")
    return redirect(_settings_url(member))


# --- the advisory's CVE panel --------------------------------------------------------------------------

def _panel(request, member, advisory, *, status=200, **state):
    panel = selectors.cve_panel_for(member=member, advisory=advisory, **state)
    return render(request, PANEL, {"member": member, "organisation": member.organisation, "advisory": advisory,
                                   "cve_panel": panel}, status=status)


def _advisory_url(member, advisory) -> str:
    return reverse("advisories:detail", kwargs={"organisation": member.organisation.slug,
                                                "identifier": advisory.identifier})


def _act(request, member, identifier, action, success, **state):
    advisory = advisory_for_member(member=member, identifier=identifier)
    try:
        assignment = action(advisory)
    except DomainError as error:
        if request.htmx:
            advisory = advisory_for_member(member=member, identifier=identifier)
            return _panel(request, member, advisory, status=422, error=error.message, **state)
        flash.error(request, error.message)
        return redirect(_advisory_url(member, advisory))
    message = success(assignment)
    if request.htmx:
        advisory = advisory_for_member(member=member, identifier=identifier)
        return _panel(request, member, advisory, message=message)
    flash.success(request, message)
    return redirect(_advisory_url(member, advisory))


@member_view()
@require_GET
def cve_panel_view(request, member, identifier):
    advisory = advisory_for_member(member=member, identifier=identifier)
    return _panel(request, member, advisory)


@member_view(*TRIAGE_ROLES)
@require_POST
def cve_reserve_view(request, member, identifier):
    return _act(request, member, identifier,
                lambda advisory: services.cve_id_reserve(advisory=advisory, actor=member),
                lambda assignment: f"{assignment.cve_id} reserved for this advisory.")


@member_view(*TRIAGE_ROLES)
@require_POST
def cve_publish_view(request, member, identifier):
    return _act(request, member, identifier,
                lambda advisory: services.cve_record_publish(advisory=advisory, actor=member),
                lambda assignment: f"The CVE record of {assignment.cve_id} is published.")


@member_view(*TRIAGE_ROLES)
@require_POST
def cve_update_view(request, member, identifier):
    return _act(request, member, identifier,
                lambda advisory: services.cve_record_update(advisory=advisory, actor=member),
                lambda assignment: f"The CVE record of {assignment.cve_id} is updated.")


@member_view(*TRIAGE_ROLES)
@require_POST
def cve_reject_view(request, member, identifier):
    return _act(request, member, identifier,
                lambda advisory: follow.cve_id_reject(advisory=advisory, actor=member),
                lambda assignment: f"{assignment.cve_id} is rejected at CVE Services.")


@member_view(*TRIAGE_ROLES)
@require_POST
def cve_record_elsewhere_view(request, member, identifier):
    form = CveIdElsewhereForm(request.POST)
    cve_id = form.cleaned_data["cve_id"] if form.is_valid() else ""  # empty: the service explains the syntax
    return _act(request, member, identifier,
                lambda advisory: services.cve_id_record_elsewhere(advisory=advisory, actor=member, cve_id=cve_id),
                lambda assignment: f"{assignment.cve_id} recorded as assigned by another CNA.",
                elsewhere_value=request.POST.get("cve_id", "")[:30])
