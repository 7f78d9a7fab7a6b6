from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse

from vulndesk.organisations.access import public_view
from vulndesk.organisations.selectors import memberships_for_user


@public_view
def home_view(request):
    """Signed-in staff land on their organisation's queue; everyone else on the login page."""
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    return organisations_view(request)


@login_required
def organisations_view(request):
    memberships = memberships_for_user(user=request.user)
    if len(memberships) == 1:
        return redirect(reverse("reports:queue", kwargs={"organisation": memberships[0].organisation.slug}))
    return render(request, "organisations/choose.html", {"memberships": memberships})
