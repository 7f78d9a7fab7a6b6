from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from vulndesk.core.errors import DomainError
from vulndesk.core.public import public_view
from vulndesk.core.ratelimit import client_ip
from vulndesk.organisations import selectors, services
from vulndesk.organisations.access import member_view
from vulndesk.organisations.forms import MemberAddForm, MemberProductsForm, MemberRoleForm
from vulndesk.organisations.models import SETTINGS_ROLES, Role


@public_view
def home_view(request):
    """Signed-in staff land on their organisation's queue; everyone else on the login page."""
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    return organisations_view(request)


@login_required
def organisations_view(request):
    memberships = selectors.memberships_for_user(user=request.user)
    if len(memberships) == 1:
        return redirect(reverse("reports:queue", kwargs={"organisation": memberships[0].organisation.slug}))
    return render(request, "organisations/choose.html", {"memberships": memberships})


def _members_page(request, member, *, add_form=None, new_password=None, status=200):
    products = selectors.products_of_organisation(member=member)
    rows = selectors.memberships_for_settings(member=member)
    for row in rows:
        row.role_form = MemberRoleForm(initial={"role": row.role}, prefix=f"m{row.pk}")
        row.products_form = MemberProductsForm(initial={"products": [p.pk for p in row.products.all()]},
                                               products=products, prefix=f"p{row.pk}")
    response = render(request, "organisations/members.html", {
        "member": member, "organisation": member.organisation, "rows": rows, "nav": "members",
        "add_form": add_form or MemberAddForm(), "new_password": new_password, "can_edit": member.role == Role.OWNER,
        "roles": Role,
    }, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _back(member):
    return redirect(reverse("organisations:members", kwargs={"organisation": member.organisation.slug}))


@member_view(*SETTINGS_ROLES)
@require_GET
def members_view(request, member):
    return _members_page(request, member)


@member_view(Role.OWNER)
@require_POST
def member_add_view(request, member):
    form = MemberAddForm(request.POST)
    if not form.is_valid():
        return _members_page(request, member, add_form=form, status=422)
    try:
        membership, password = services.member_invite(
            organisation=member.organisation, actor=member, ip_address=client_ip(request), **form.cleaned_data)
    except DomainError as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return _members_page(request, member, add_form=form, status=422)
    if password:
        # Shown once, on this response only; never stored in the session or a flash message.
        return _members_page(request, member, new_password=(membership.user.email, password))
    flash.success(request, f"{membership.user.email} added as {membership.get_role_display()}.")
    return _back(member)


@member_view(Role.OWNER)
@require_POST
def member_role_view(request, member, membership_id):
    row = selectors.membership_in_organisation(member=member, membership_id=membership_id)
    form = MemberRoleForm(request.POST, prefix=f"m{row.pk}")
    if form.is_valid():
        try:
            services.membership_role_change(membership=row, role=form.cleaned_data["role"], actor=member,
                                            ip_address=client_ip(request))
            flash.success(request, f"{row.user.email} is now {row.get_role_display()}.")
        except DomainError as error:
            flash.error(request, error.message)
    return _back(member)


@member_view(Role.OWNER)
@require_POST
def member_products_view(request, member, membership_id):
    row = selectors.membership_in_organisation(member=member, membership_id=membership_id)
    form = MemberProductsForm(request.POST, products=selectors.products_of_organisation(member=member), prefix=f"p{row.pk}")
    if form.is_valid():
        services.membership_products_set(membership=row, product_ids=form.cleaned_data["products"], actor=member,
                                         ip_address=client_ip(request))
        flash.success(request, f"Product access of {row.user.email} saved.")
    else:
        flash.error(request, "Choose products of this organisation.")
    return _back(member)


@member_view(Role.OWNER)
@require_POST
def member_remove_view(request, member, membership_id):
    row = selectors.membership_in_organisation(member=member, membership_id=membership_id)
    try:
        services.membership_remove(membership=row, actor=member, ip_address=client_ip(request))
        flash.success(request, f"{row.user.email} removed from the organisation.")
    except DomainError as error:
        flash.error(request, error.message)
    return _back(member)
