"""Reads of the pgp app. Staff callers pass the acting member (from ``organisations.access``);
the mail intake and the public pages pass an organisation or a report they already hold."""

from django.db.models import F

from vulndesk.organisations.models import Membership, Organisation
from vulndesk.pgp.models import MessageSecurity, OrganisationPgpKey, ReporterPgpKey
from vulndesk.reports.models import Report

REPORTER_KEYS_FOR_VERIFYING = 5


def organisation_key_active(*, organisation: Organisation | int) -> OrganisationPgpKey | None:
    """The published key (the one that signs and that reporters encrypt to), or None."""
    organisation_id = getattr(organisation, "pk", organisation)
    return (OrganisationPgpKey.objects.filter(organisation_id=organisation_id, state=OrganisationPgpKey.State.ACTIVE)
            .defer("sealed_secret").first())


def organisation_keys_for_member(*, member: Membership) -> list[OrganisationPgpKey]:
    """Every key of the member's organisation, active first, then the retired ones (newest first)."""
    rows = (OrganisationPgpKey.objects.filter(organisation_id=member.organisation_id)
            .defer("sealed_secret").select_related("added_by"))
    return sorted(rows, key=lambda row: (row.state != OrganisationPgpKey.State.ACTIVE, -row.added_at.timestamp()))


def organisation_key_default_address(*, organisation: Organisation) -> str:
    """The address the key's user ID should carry: the organisation's security contact, else its
    first active intake address."""
    if organisation.security_contact_email:
        return organisation.security_contact_email
    from vulndesk.mailintake.models import IntakeAddress

    address = IntakeAddress.objects.filter(organisation=organisation, is_active=True).order_by("pk").first()
    return address.address if address is not None else ""


def reporter_key_current(*, report: Report) -> ReporterPgpKey | None:
    """The key replies to this report's reporter are encrypted to."""
    return ReporterPgpKey.objects.filter(report_id=report.pk, organisation_id=report.organisation_id,
                                         is_current=True).first()


def reporter_keys_armored(*, report: Report) -> list[str]:
    """Keys the reporter gave for this report (newest first), to check their signatures."""
    rows = ReporterPgpKey.objects.filter(report_id=report.pk, organisation_id=report.organisation_id)
    return [row.armored for row in rows.order_by("-is_current", "-added_at")[:REPORTER_KEYS_FOR_VERIFYING]]


def message_security_by_inbound(*, organisation_id: int, inbound_ids: list[int]) -> dict[int, MessageSecurity]:
    """What OpenPGP said about each of these received messages (one query)."""
    rows = MessageSecurity.objects.filter(organisation_id=organisation_id, inbound_id__in=inbound_ids)
    return {row.inbound_id: row for row in rows}


def _undecrypted_quarantined(*, organisation_id: int):
    """Received mail in quarantine because OpenPGP could not open it: its quarantine reason is
    the one OpenPGP recorded (no key yet, another key, damaged armor). The state is named by
    value: the mail intake sits above this app, which does not import it."""
    return (MessageSecurity.objects.filter(organisation_id=organisation_id, inbound__state="quarantined",
                                           inbound__reason=F("reason"))
            .exclude(reason=""))


def undecrypted_quarantined_count(*, organisation: Organisation) -> int:
    """How many such messages a newly added key may open."""
    return _undecrypted_quarantined(organisation_id=organisation.pk).count()


def is_undecrypted_quarantined(*, organisation_id: int, inbound_id: int) -> bool:
    return _undecrypted_quarantined(organisation_id=organisation_id).filter(inbound_id=inbound_id).exists()
