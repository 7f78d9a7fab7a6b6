"""Staff pages for advisories: the list, drafting from reports, the editor beside its preview,
affected version ranges, the lifecycle actions and the revision history."""

from django.contrib import messages as flash
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from vulndesk.advisories import selectors, services
from vulndesk.advisories.forms import (
    AdvisoryCreateForm,
    AdvisoryForm,
    AdvisoryTransitionForm,
    AffectedFormSet,
    MarkdownPreviewForm,
    WithdrawForm,
    affected_initial,
)
from vulndesk.advisories.states import TRANSITIONS, AdvisoryState
from vulndesk.core.errors import DomainError
from vulndesk.organisations.access import member_view
from vulndesk.organisations.models import TRIAGE_ROLES
from vulndesk.reports.selectors import report_for_member

ACTION_LABELS = {
    AdvisoryState.IN_REVIEW: "Send to review",
    AdvisoryState.DRAFT: "Back to draft",
    AdvisoryState.SCHEDULED: "Schedule for the embargo date",
    AdvisoryState.PUBLISHED: "Publish now",
    AdvisoryState.UPDATED: "Publish this revision",
}


def _url(member, advisory) -> str:
    return reverse("advisories:detail", kwargs={"organisation": member.organisation.slug,
                                                "identifier": advisory.identifier})


def _editor_context(member, advisory, **forms):
    actions = [(state, ACTION_LABELS[state]) for state in AdvisoryState
               if state in TRANSITIONS[AdvisoryState(advisory.state)] and state in ACTION_LABELS]
    return {
        "member": member, "organisation": member.organisation, "advisory": advisory, "nav": "advisories",
        "form": forms.get("form") or AdvisoryForm(initial=AdvisoryForm.initial_for(advisory)),
        "affected_formset": forms.get("affected_formset") or AffectedFormSet(initial=affected_initial(advisory),
                                                                             prefix="affected"),
        "transition_form": forms.get("transition_form") or AdvisoryTransitionForm(),
        "withdraw_form": forms.get("withdraw_form") or WithdrawForm(),
        "actions": actions,
        "can_edit": member.role in TRIAGE_ROLES and advisory.state != AdvisoryState.WITHDRAWN,
        "can_withdraw": AdvisoryState.WITHDRAWN in TRANSITIONS[AdvisoryState(advisory.state)],
        "revisions": list(advisory.revisions.order_by("-revision")),
        "linked_reports": list(advisory.reports.select_related("organisation").order_by("number")),
        "is_early": advisory.embargo_until is not None,
    }


@member_view()
@require_GET
def advisory_list_view(request, member):
    state = request.GET.get("state", "")
    if state and state not in AdvisoryState.values:
        state = ""
    return render(request, "advisories/advisory_list.html", {
        "member": member, "organisation": member.organisation, "nav": "advisories",
        "advisories": selectors.advisories_for_member(member=member, state=state), "state": state,
        "states": AdvisoryState.choices, "create_form": AdvisoryCreateForm(initial={
            "reports": request.GET.get("report", "")}),
        "can_edit": member.role in TRIAGE_ROLES,
    })


@member_view(*TRIAGE_ROLES)
@require_POST
def advisory_create_view(request, member):
    form = AdvisoryCreateForm(request.POST)
    if form.is_valid():
        try:
            reports = [report_for_member(member=member, number=n) for n in form.cleaned_data["reports"]]
            advisory = services.advisory_create(organisation=member.organisation, actor=member,
                                                title=form.cleaned_data["title"], reports=reports)
        except DomainError as error:
            form.add_error("reports" if error.field in {"reports", None} or error.code == "not_found" else None,
                           error.message)
        else:
            flash.success(request, f"Draft {advisory.identifier} created. Fill in the summary, the affected "
                                   "versions and the severity, then send it to review.")
            return redirect(_url(member, advisory))
    return render(request, "advisories/advisory_list.html", {
        "member": member, "organisation": member.organisation, "nav": "advisories",
        "advisories": selectors.advisories_for_member(member=member), "state": "", "states": AdvisoryState.choices,
        "create_form": form, "can_edit": True,
    }, status=422)


@member_view()
@require_GET
def advisory_detail_view(request, member, identifier):
    advisory = selectors.advisory_for_member(member=member, identifier=identifier)
    return render(request, "advisories/advisory_detail.html", _editor_context(member, advisory))


def _rerender(request, member, identifier, **forms):
    advisory = selectors.advisory_for_member(member=member, identifier=identifier)
    return render(request, "advisories/advisory_detail.html", _editor_context(member, advisory, **forms), status=422)


@member_view(*TRIAGE_ROLES)
@require_POST
def advisory_update_view(request, member, identifier):
    advisory = selectors.advisory_for_member(member=member, identifier=identifier)
    form = AdvisoryForm(request.POST)
    if not form.is_valid():
        return _rerender(request, member, identifier, form=form)
    try:
        services.advisory_update(advisory=advisory, actor=member, **form.cleaned_data)
    except DomainError as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return _rerender(request, member, identifier, form=form)
    saved = "Saved." if not advisory.is_public else "Saved. Publish a revision to make the changes public."
    flash.success(request, saved)
    return redirect(_url(member, advisory))


@member_view(*TRIAGE_ROLES)
@require_POST
def advisory_affected_view(request, member, identifier):
    advisory = selectors.advisory_for_member(member=member, identifier=identifier)
    formset = AffectedFormSet(request.POST, prefix="affected")
    if not formset.is_valid():
        return _rerender(request, member, identifier, affected_formset=formset)
    packages: dict[tuple[str, str], dict] = {}
    for row in formset.forms:
        if not row.has_changed() or row.cleaned_data.get("DELETE") or not row.cleaned_data.get("package_name"):
            continue
        key = (row.cleaned_data["ecosystem"], row.cleaned_data["package_name"].strip())
        packages.setdefault(key, {"ecosystem": key[0], "package_name": key[1], "ranges": [], "versions": []})
        packages[key]["ranges"].append(row.as_range())
    try:
        services.affected_packages_set(advisory=advisory, actor=member, packages=list(packages.values()))
    except DomainError as error:
        formset._non_form_errors = formset.error_class([error.message])
        return _rerender(request, member, identifier, affected_formset=formset)
    flash.success(request, f"{len(packages)} affected package{'s' if len(packages) != 1 else ''} saved.")
    return redirect(_url(member, advisory) + "#affected")


@member_view(*TRIAGE_ROLES)
@require_POST
def advisory_transition_view(request, member, identifier):
    advisory = selectors.advisory_for_member(member=member, identifier=identifier)
    form = AdvisoryTransitionForm(request.POST)
    if not form.is_valid():
        return _rerender(request, member, identifier, transition_form=form)
    try:
        advisory = services.advisory_transition(advisory=advisory, actor=member, to=form.cleaned_data["to"],
                                                override_reason=form.cleaned_data["override_reason"],
                                                changelog=form.cleaned_data["changelog"])
    except DomainError as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return _rerender(request, member, identifier, transition_form=form)
    flash.success(request, f"{advisory.identifier} is now {advisory.get_state_display().lower()}.")
    return redirect(_url(member, advisory))


@member_view(*TRIAGE_ROLES)
@require_POST
def advisory_withdraw_view(request, member, identifier):
    advisory = selectors.advisory_for_member(member=member, identifier=identifier)
    form = WithdrawForm(request.POST)
    if not form.is_valid():
        return _rerender(request, member, identifier, withdraw_form=form)
    try:
        services.advisory_withdraw(advisory=advisory, actor=member, reason=form.cleaned_data["reason"])
    except DomainError as error:
        form.add_error("reason", error.message)
        return _rerender(request, member, identifier, withdraw_form=form)
    flash.success(request, f"{advisory.identifier} was withdrawn.")
    return redirect(_url(member, advisory))


@member_view(*TRIAGE_ROLES)
@require_POST
def markdown_preview_view(request, member):
    """htmx: the details rendered exactly as the public page will render them."""
    form = MarkdownPreviewForm(request.POST)
    details = form.cleaned_data["details"] if form.is_valid() else ""
    return render(request, "advisories/partials/_preview.html", {"details": details})
