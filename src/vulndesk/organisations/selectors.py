"""Reads for organisations and memberships."""

from vulndesk.organisations.models import Membership


def memberships_for_user(*, user) -> list[Membership]:
    return list(Membership.objects.filter(user=user).select_related("organisation").order_by("organisation__name"))


def members_of_organisation(*, member: Membership) -> list[Membership]:
    """Everyone in the acting member's organisation (for assignee pickers)."""
    return list(
        Membership.objects.filter(organisation_id=member.organisation_id)
        .exclude(role="ci_uploader")
        .select_related("user")
        .order_by("user__name", "user__email")
    )
