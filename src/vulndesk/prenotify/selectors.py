"""Reads for pre-notification. Staff selectors take the acting member and filter on their
organisation, so another organisation's contacts, links and view logs are ``NotFound`` like
missing ones. The one anonymous path is ``prenotification_for_token``: found only by the hash of
the recipient's secret link."""

from collections import defaultdict

from django.db.models import Count, Max, QuerySet

from vulndesk.advisories.models import Advisory
from vulndesk.core import clock
from vulndesk.core.errors import NotFound
from vulndesk.organisations.models import Membership
from vulndesk.prenotify.links import LinkStatus, advisory_is_public, effective_expiry, link_status
from vulndesk.prenotify.models import DownstreamContact, EmbargoView, PreNotification
from vulndesk.prenotify.tokens import embargo_token_hash, embargo_token_well_formed

MAX_CONTACTS = 500
RECENT_VIEWS_PER_RECIPIENT = 10
RECENT_VIEWS_TOTAL = 1000


def contacts_queryset(*, member: Membership) -> QuerySet[DownstreamContact]:
    """For form fields that validate a choice against the organisation's contacts."""
    return DownstreamContact.objects.filter(organisation_id=member.organisation_id).order_by("id")


def contacts_for_member(*, member: Membership) -> list[DownstreamContact]:
    """By name, sorted here: names are sealed, so the database cannot sort them."""
    rows = list(contacts_queryset(member=member)[:MAX_CONTACTS])
    return sorted(rows, key=lambda contact: (contact.name.casefold(), contact.pk))


def contact_for_member(*, member: Membership, contact_id: int) -> DownstreamContact:
    contact = contacts_queryset(member=member).filter(pk=contact_id).first()
    if contact is None:
        raise NotFound
    return contact


def prenotifications_for_advisory(*, member: Membership, advisory: Advisory) -> list[PreNotification]:
    """Every link sent for the advisory, newest first, each with ``view_count``,
    ``last_viewed_at``, ``recent_views``, ``status`` and ``effective_expires_at`` attached."""
    if advisory.organisation_id != member.organisation_id:
        raise NotFound
    rows = list(
        PreNotification.objects.filter(organisation_id=member.organisation_id, advisory=advisory)
        .select_related("created_by", "revoked_by")
        .annotate(view_count=Count("view_log"), last_viewed_at=Max("view_log__viewed_at"))
        .order_by("-created_at", "-id")
    )
    recent = defaultdict(list)
    views = (EmbargoView.objects.filter(prenotification__advisory=advisory,
                                        prenotification__organisation_id=member.organisation_id)
             .order_by("-viewed_at", "-id")[:RECENT_VIEWS_TOTAL])
    for view in views:
        if len(recent[view.prenotification_id]) < RECENT_VIEWS_PER_RECIPIENT:
            recent[view.prenotification_id].append(view)
    now = clock.now()
    is_public = advisory_is_public(advisory)
    for row in rows:
        row.recent_views = recent[row.pk]
        row.effective_expires_at = effective_expiry(expires_at=row.expires_at, embargo_until=advisory.embargo_until)
        row.status = link_status(revoked_at=row.revoked_at, expires_at=row.expires_at,
                                 embargo_until=advisory.embargo_until, advisory_is_public=is_public, now=now)
        row.is_active = row.status == LinkStatus.ACTIVE
    return rows


def prenotification_for_member(*, member: Membership, advisory: Advisory, prenotification_id: int) -> PreNotification:
    row = (PreNotification.objects.filter(organisation_id=member.organisation_id, advisory=advisory,
                                          pk=prenotification_id).select_related("advisory").first())
    if row is None:
        raise NotFound
    return row


def prenotification_for_token(*, token: str) -> PreNotification:
    """The recipient's view: the pre-notification behind a link, whatever its status (callers
    ask ``links.link_status``). Malformed tokens never reach the database."""
    if not embargo_token_well_formed(token):
        raise NotFound
    row = (PreNotification.objects.filter(token_hash=embargo_token_hash(token))
           .select_related("advisory__organisation").first())
    if row is None:
        raise NotFound
    return row


def affected_packages_for_embargo(*, prenotification: PreNotification) -> list:
    return list(prenotification.advisory.affected.all())
