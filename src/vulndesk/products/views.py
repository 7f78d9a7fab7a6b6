"""Product settings: the policy, the supported-versions table and the release plan."""

from django.contrib import messages as flash
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from vulndesk.accounts.api_tokens import api_token_create, api_token_revoke
from vulndesk.core import clock
from vulndesk.core.errors import DomainError, NotFound
from vulndesk.core.ratelimit import client_ip
from vulndesk.organisations.access import member_view
from vulndesk.organisations.models import SETTINGS_ROLES
from vulndesk.products import selectors, services
from vulndesk.products.forms import ApiTokenForm, PolicyForm, ProductForm, ReleaseForm, SupportedVersionForm
from vulndesk.reports import deadlines
from vulndesk.reports.services import reports_waiting_for_release_schedule


def _settings_url(member, product):
    return reverse("products:detail", kwargs={"organisation": member.organisation.slug, "product": product.slug})


def _policy_examples(product):
    """The live example beside the policy: when would reports filed or accepted now be due."""
    org = product.organisation
    now = clock.now()
    zone = deadlines.zone(org.time_zone)
    calendar = deadlines.holiday_calendar(org.holiday_country, org.holiday_subdivision)
    policy = product.policy
    release = selectors.next_planned_release(product_id=product.pk, after=now.astimezone(zone).date())
    targets = deadlines.ResolutionTargets.from_policy(policy)
    examples = [
        ("A report received now is acknowledged by", deadlines.hours_deadline(start=now, hours=policy.acknowledgement_hours)),
        ("and assessed by", deadlines.business_deadline(start=now, business_days=policy.assessment_business_days,
                                                         zone=zone, calendar=calendar)),
    ]
    for severity in ("critical", "high", "medium", "low"):
        due = deadlines.resolution_deadline(targets=targets, severity=severity, start=now, zone=zone,
                                            next_release_on=release.planned_on if release else None)
        examples.append((f"A {severity.capitalize()} report accepted now is due", due if not isinstance(due, str) else None))
    return examples


def _detail_context(member, product, **forms):
    return {
        "member": member, "organisation": member.organisation, "product": product,
        "product_form": forms.get("product_form") or ProductForm(instance=product),
        "policy_form": forms.get("policy_form") or PolicyForm(instance=product.policy),
        "version_form": forms.get("version_form") or SupportedVersionForm(),
        "release_form": forms.get("release_form") or ReleaseForm(),
        "supported_versions": selectors.supported_versions_for_product(product=product),
        "releases": selectors.releases_for_product(product=product),
        "examples": _policy_examples(product),
        "can_edit": member.role in SETTINGS_ROLES,
        "token_form": forms.get("token_form") or ApiTokenForm(),
        "api_tokens": selectors.api_tokens_for_product(product=product) if member.role in SETTINGS_ROLES else [],
        "new_token": forms.get("new_token"),
        "nav": "products",
    }


@member_view()
@require_GET
def product_list_view(request, member):
    return render(request, "products/product_list.html", {
        "member": member, "organisation": member.organisation,
        "products": selectors.products_for_member(member=member),
        "can_edit": member.role in SETTINGS_ROLES, "form": ProductForm(), "nav": "products",
    })


@member_view(*SETTINGS_ROLES)
@require_POST
def product_create_view(request, member):
    form = ProductForm(request.POST)
    if form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "accepts_reports"}
        try:
            product = services.product_create(organisation=member.organisation, actor=member, **data)
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            flash.success(request, f"{product.name} created with the default policy.")
            return redirect(_settings_url(member, product))
    return render(request, "products/product_list.html", {
        "member": member, "organisation": member.organisation, "can_edit": True, "nav": "products",
        "products": selectors.products_for_member(member=member), "form": form,
    }, status=422)


@member_view()
@require_GET
def product_detail_view(request, member, product):
    product = selectors.product_for_member(member=member, product_slug=product)
    return render(request, "products/product_detail.html", _detail_context(member, product))


def _handle(request, member, product, form_name, form, action, success):
    if form.is_valid():
        try:
            action(form.cleaned_data)
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            flash.success(request, success)
            return redirect(_settings_url(member, product))
    product.refresh_from_db()
    return render(request, "products/product_detail.html", _detail_context(member, product, **{form_name: form}),
                  status=422)


@member_view(*SETTINGS_ROLES)
@require_POST
def product_update_view(request, member, product):
    product = selectors.product_for_member(member=member, product_slug=product)
    form = ProductForm(request.POST, instance=selectors.product_for_member(member=member, product_slug=product.slug))
    fields = ("name", "description", "repository_url", "security_contacts", "accepts_reports")
    return _handle(request, member, product, "product_form", form,
                   lambda data: services.product_update(product=product, actor=member,
                                                        **{k: data[k] for k in fields}),
                   "Product saved.")


@member_view(*SETTINGS_ROLES)
@require_POST
def policy_update_view(request, member, product):
    product = selectors.product_for_member(member=member, product_slug=product)
    form = PolicyForm(request.POST, instance=selectors.product_for_member(member=member, product_slug=product.slug).policy)
    return _handle(request, member, product, "policy_form", form,
                   lambda data: services.policy_update(policy=product.policy, actor=member, **data),
                   "Policy saved. New deadlines use it; running clocks keep the deadline they were given.")


@member_view(*SETTINGS_ROLES)
@require_POST
def supported_version_add_view(request, member, product):
    product = selectors.product_for_member(member=member, product_slug=product)
    form = SupportedVersionForm(request.POST)
    return _handle(request, member, product, "version_form", form,
                   lambda data: services.supported_version_add(product=product, actor=member, **data),
                   "Version range added.")


@member_view(*SETTINGS_ROLES)
@require_POST
def supported_version_remove_view(request, member, product, row_id):
    product = selectors.product_for_member(member=member, product_slug=product)
    row = next((row for row in selectors.supported_versions_for_product(product=product) if row.pk == row_id), None)
    if row is None:
        raise NotFound
    services.supported_version_remove(row=row, actor=member)
    flash.success(request, f"{row.version_range} removed.")
    return redirect(_settings_url(member, product))


@member_view(*SETTINGS_ROLES)
@require_POST
def release_plan_view(request, member, product):
    product = selectors.product_for_member(member=member, product_slug=product)
    form = ReleaseForm(request.POST)

    def plan(data):
        services.release_plan(product=product, actor=member, **data)
        # Low reports waiting for a release get their deadline now.
        reports_waiting_for_release_schedule(product=product)

    return _handle(request, member, product, "release_form", form, plan, "Release planned.")


@member_view(*SETTINGS_ROLES)
@require_http_methods(["POST"])
def release_ship_view(request, member, product, release_id):
    product = selectors.product_for_member(member=member, product_slug=product)
    release = next((r for r in selectors.releases_for_product(product=product) if r.pk == release_id), None)
    if release is None:
        raise NotFound
    services.release_ship(release=release, actor=member,
                          shipped_on=clock.now().astimezone(deadlines.zone(member.organisation.time_zone)).date())
    flash.success(request, f"Release {release.version} marked as shipped.")
    return redirect(_settings_url(member, product))


@member_view(*SETTINGS_ROLES)
@require_POST
def api_token_create_view(request, member, product):
    product = selectors.product_for_member(member=member, product_slug=product)
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return render(request, "products/product_detail.html", _detail_context(member, product, token_form=form),
                      status=422)
    try:
        _, raw = api_token_create(organisation=member.organisation, product=product, created_by=member.user,
                                  ip_address=client_ip(request), **form.cleaned_data)
    except DomainError as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return render(request, "products/product_detail.html", _detail_context(member, product, token_form=form),
                      status=422)
    # The token is shown on this response only; it is never stored in clear anywhere.
    response = render(request, "products/product_detail.html", _detail_context(member, product, new_token=raw))
    response["Cache-Control"] = "no-store"
    return response


@member_view(*SETTINGS_ROLES)
@require_POST
def api_token_revoke_view(request, member, product, token_id):
    product = selectors.product_for_member(member=member, product_slug=product)
    token = selectors.api_token_for_product(product=product, token_id=token_id)
    api_token_revoke(token=token, actor=member.user, ip_address=client_ip(request))
    flash.success(request, f"Token {token.name} revoked.")
    return redirect(_settings_url(member, product) + "#api-tokens")
