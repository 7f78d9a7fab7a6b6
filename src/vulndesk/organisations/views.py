from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from vulndesk.core.errors import DomainError
from vulndesk.core.public import public_view
from vulndesk.core.ratelimit import client_ip, rate_limit_hit, too_many_requests
from vulndesk.organisations import selectors, services
from vulndesk.organisations.access import member_view
from vulndesk.organisations.forms import (
    InvitationPasswordForm,
    MemberAddForm,
    MemberProductsForm,
    MemberRoleForm,
)
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


def _members_page(request, member, *, add_form=None, status=200):
    products = selectors.products_of_organisation(member=member)
    rows = selectors.memberships_for_settings(member=member)
    for row in rows:
        # Showing an existing account's own name at once would tell that it existed.
        row.is_invited = selectors.membership_is_invited(row)
        row.role_form = MemberRoleForm(initial={"role": row.role}, prefix=f"m{row.pk}")
        row.products_form = MemberProductsForm(initial={"products": [p.pk for p in row.products.all()]},
                                               products=products, prefix=f"p{row.pk}")
    response = render(request, "organisations/members.html", {
        "member": member, "organisation": member.organisation, "rows": rows, "nav": "members",
        "add_form": add_form or MemberAddForm(), "can_edit": member.role == Role.OWNER,
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
        invitation = services.member_invite(
            organisation=member.organisation, actor=member, ip_address=client_ip(request), **form.cleaned_data)
    except DomainError as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return _members_page(request, member, add_form=form, status=422)
    # The same words whether or not the address had an account: the page must not tell.
    email, role = invitation.membership.user.email, invitation.membership.get_role_display()
    if invitation.mail_sent:
        flash.success(request, f"Invitation sent to {email}. They are a member as {role}; the mail tells them how "
                               "to log in.")
    else:
        flash.error(request, f"{email} was added as {role}, but the mail server refused the invitation mail. "
                             "Remove them and add them again once mail works.")
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


# --- the invited person's set-password link ----------------------------------------------------

INVITATION_SCOPE = "invitation"


def _private(response):
    # The URL carries the token: no cache keeps the page, no Referer carries the URL away.
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@public_view
@require_http_methods(["GET", "POST"])
def invitation_view(request, uidb64, token):
    """GET shows the form and changes nothing (mail scanners open links); POST sets the password."""
    decision = rate_limit_hit(scope=INVITATION_SCOPE, ident=client_ip(request))
    if not decision.allowed:
        return _private(too_many_requests(request, decision.retry_after))
    user = selectors.user_for_invitation(uidb64=uidb64, token=token)
    if user is None:
        return _private(render(request, "organisations/invitation_gone.html", status=404))
    form = InvitationPasswordForm(user, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.invitation_accept(user=user, password=form.cleaned_data["new_password1"],
                                       ip_address=client_ip(request))
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            flash.success(request, "Your password is set. Log in with it; next you set up two-factor "
                                   "authentication with an authenticator app.")
            return redirect("accounts:login")
    return _private(render(request, "organisations/invitation.html", {"form": form, "invited": user},
                           status=422 if form.errors else 200))
