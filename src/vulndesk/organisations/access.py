"""The tenant gate. Requests reach an organisation's data only through here.

"No such organisation" and "not a member" are both ``NotFound``, so slugs cannot be probed.
``member_view`` turns the URL's ``organisation`` slug into the view's ``member`` argument.
"""

from collections.abc import Iterable
from functools import wraps

from django.contrib.auth.views import redirect_to_login

from vulndesk.core.errors import NotAllowed, NotFound
from vulndesk.core.public import PUBLIC_VIEWS, public_view  # noqa: F401  (re-exported)
from vulndesk.organisations.models import READ_ROLES, Membership


def membership_for(*, user, organisation_slug: str) -> Membership:
    if user is None or not user.is_authenticated or not user.is_active:
        raise NotFound
    membership = (
        Membership.objects.select_related("organisation", "user")
        .filter(user=user, organisation__slug=organisation_slug)
        .first()
    )
    if membership is None:
        raise NotFound
    return membership


def require_role(member: Membership, roles: Iterable[str]) -> None:
    if member.role not in roles:
        raise NotAllowed


def member_view(*roles: str):
    """Decorator for HTML views taking ``organisation`` from the URL. Anonymous users go to the
    login page; members without one of ``roles`` (default: any reading role) get 403."""
    allowed = frozenset(roles) if roles else READ_ROLES

    def decorator(view):
        @wraps(view)
        def wrapper(request, organisation, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            member = membership_for(user=request.user, organisation_slug=organisation)
            require_role(member, allowed)
            return view(request, member, *args, **kwargs)

        wrapper.member_view_roles = allowed
        return wrapper

    return decorator
