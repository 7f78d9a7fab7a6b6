"""Reads for advisories. Staff selectors are scoped by the acting member's organisation; public
selectors return only published rows and only their ``public_*`` fields are meant to be shown."""

from django.db.models import QuerySet

from vulndesk.advisories.models import Advisory
from vulndesk.advisories.states import AdvisoryState
from vulndesk.core.errors import NotFound
from vulndesk.organisations.models import Membership


def advisories_for_member(*, member: Membership, state: str = "") -> list[Advisory]:
    rows = Advisory.objects.filter(organisation_id=member.organisation_id)
    if state:
        rows = rows.filter(state=state)
    return list(rows.order_by("-modified_at", "-id")[:500])


def advisory_for_member(*, member: Membership, identifier: str) -> Advisory:
    advisory = (Advisory.objects.filter(organisation_id=member.organisation_id, identifier=identifier)
                .select_related("organisation").prefetch_related("affected", "reports", "revisions").first())
    if advisory is None:
        raise NotFound
    return advisory


def public_advisories(*, organisation_id: int) -> QuerySet[Advisory]:
    """Published (or withdrawn) advisories of one organisation. Callers filter and paginate."""
    return Advisory.objects.filter(organisation_id=organisation_id, is_public=True)


def public_advisory(*, identifier: str) -> Advisory:
    advisory = Advisory.objects.filter(identifier=identifier, is_public=True).select_related("organisation").first()
    if advisory is None or advisory.state not in {AdvisoryState.PUBLISHED, AdvisoryState.UPDATED,
                                                  AdvisoryState.WITHDRAWN}:
        raise NotFound
    return advisory
