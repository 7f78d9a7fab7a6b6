"""Writes for pre-notification: downstream contacts, sending private links, revoking them and
recording each view.

Invariants kept here:

* Only an advisory that is not public (draft, in review, scheduled) and has an embargo date in
  the future is pre-notified, and no link outlives that embargo date.
* A raw token exists only in memory while its mail is composed; the row holds its SHA-256.
* A recipient holds at most one live link per advisory: a new link revokes the older ones once
  the mail server has accepted the new mail (not before, so a failed resend leaves the working
  link alone).
* A mail the server refused leaves its link revoked (``failed_at``): no working link exists
  that nobody received.
* Every change is audited; every view that showed the draft is logged (view log and audit).

Callers pass the acting Membership from organisations.access; the organisation and role are
checked again here (defence in depth). Contact text is typed by staff but treated as hostile:
single-line fields refuse control and invisible formatting characters (line breaks, NUL,
bidirectional overrides), addresses must be plain, and everything is escaped on output.
"""

import ipaddress
import logging
import re
import smtplib
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from vulndesk.advisories.models import Advisory
from vulndesk.audit.services import audit_record
from vulndesk.core import clock
from vulndesk.core.errors import DomainError, NotAllowed, NotFound
from vulndesk.organisations.models import SETTINGS_ROLES, TRIAGE_ROLES, Membership, Organisation
from vulndesk.prenotify.links import link_expiry
from vulndesk.prenotify.mails import prenotification_mail
from vulndesk.prenotify.models import (
    ContactKind,
    DownstreamContact,
    EmbargoView,
    PreNotification,
    contact_email_index,
)
from vulndesk.prenotify.tokens import embargo_token_hash, embargo_token_new

logger = logging.getLogger(__name__)

MAX_CONTACTS_PER_ORGANISATION = 500
MAX_RECIPIENTS_PER_SEND = 100
NAME_MAX_CHARS, EMAIL_MAX_CHARS, PGP_NOTE_MAX_CHARS, USER_AGENT_MAX_CHARS = 200, 254, 10_000, 200
# Cc: control (NUL, CR, LF, ESC...), Cf: invisible formatting (bidi overrides, zero-width),
# Zl/Zp: line and paragraph separators, Cs: lone surrogates.
_HOSTILE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
# A plain address: dot-atom local part (no quoted strings, no comments, no display name).
_LOCAL_PART = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+")


def _check(actor: Membership, organisation_id: int, roles) -> None:
    if actor.organisation_id != organisation_id:
        raise NotFound
    if actor.role not in roles:
        raise NotAllowed


def _audit(action: str, *, organisation_id: int, actor: Membership | None, target_type: str, target_id: int,
           ip_address: str | None = None, **data) -> None:
    audit_record(action=action, organisation_id=organisation_id, actor_id=actor.user_id if actor else None,
                 actor_label=actor.user.display_name if actor else "embargo link", target_type=target_type,
                 target_id=target_id, ip_address=ip_address, data=data)


# --- hostile text -----------------------------------------------------------------------------

def _has_hostile_characters(text: str, *, allow_newlines: bool = False) -> bool:
    allowed = {"\n", "\r", "\t"} if allow_newlines else set()
    return any(unicodedata.category(c) in _HOSTILE_CATEGORIES and c not in allowed for c in text)


def clean_contact_name(value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError("Give the contact's name, e.g. 'Debian Security Team'.", field="name")
    if len(value) > NAME_MAX_CHARS:
        raise DomainError(f"The name is at most {NAME_MAX_CHARS} characters.", field="name")
    if _has_hostile_characters(value):
        raise DomainError("The name contains line breaks or invisible control characters; type it on one line.",
                          field="name")
    return value


def clean_contact_email(value: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > EMAIL_MAX_CHARS or _has_hostile_characters(value):
        raise DomainError("Give one e-mail address, e.g. security@vendor.example.", field="email")
    local, _, domain = value.rpartition("@")
    try:
        validate_email(value)
    except ValidationError:
        raise DomainError("Give one e-mail address, e.g. security@vendor.example.", field="email") from None
    if not _LOCAL_PART.fullmatch(local):
        raise DomainError("Give a plain address without quotes, spaces or a display name, e.g. "
                          "security@vendor.example.", field="email")
    return f"{local}@{domain.lower()}"


def clean_pgp_note(value: str) -> str:
    value = (value or "").strip()
    if len(value) > PGP_NOTE_MAX_CHARS:
        raise DomainError(f"The PGP note is at most {PGP_NOTE_MAX_CHARS:,} characters.", field="pgp_note")
    if _has_hostile_characters(value, allow_newlines=True):
        raise DomainError("The PGP note contains invisible control characters.", field="pgp_note")
    return value


def _clean_kind(value: str) -> str:
    if value not in ContactKind.values:
        raise DomainError(f"Choose a kind: {', '.join(k.label for k in ContactKind)}.", field="kind")
    return value


def _email_taken(organisation_id: int, email: str, *, exclude_id: int | None = None) -> bool:
    # Addresses are sealed: they are compared through their keyed hash (models.contact_email_index).
    rows = DownstreamContact.objects.filter(
        organisation_id=organisation_id, email_index=contact_email_index(organisation_id=organisation_id, email=email))
    if exclude_id is not None:
        rows = rows.exclude(pk=exclude_id)
    return rows.exists()


_TAKEN = "This organisation already has a contact with that address."


# --- contacts -----------------------------------------------------------------------------------

@transaction.atomic
def contact_add(*, organisation: Organisation, actor: Membership, name: str, email: str, kind: str,
                pgp_note: str = "") -> DownstreamContact:
    _check(actor, organisation.pk, SETTINGS_ROLES)
    name, email, kind, pgp_note = (clean_contact_name(name), clean_contact_email(email), _clean_kind(kind),
                                   clean_pgp_note(pgp_note))
    if DownstreamContact.objects.filter(organisation=organisation).count() >= MAX_CONTACTS_PER_ORGANISATION:
        raise DomainError(f"An organisation has at most {MAX_CONTACTS_PER_ORGANISATION} downstream contacts.")
    if _email_taken(organisation.pk, email):
        raise DomainError(_TAKEN, field="email")
    now = clock.now()
    contact = DownstreamContact(organisation=organisation, name=name, email=email, kind=kind, pgp_note=pgp_note,
                                created_at=now, updated_at=now)
    contact.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            contact.save()
    except IntegrityError:  # added concurrently
        raise DomainError(_TAKEN, field="email") from None
    _audit("prenotify.contact_add", organisation_id=organisation.pk, actor=actor, target_type="downstream_contact",
           target_id=contact.pk, kind=kind, has_pgp_note=bool(pgp_note))
    return contact


@transaction.atomic
def contact_update(*, contact: DownstreamContact, actor: Membership, name: str, email: str, kind: str,
                   pgp_note: str = "") -> DownstreamContact:
    """Links already sent keep the name and address they were sent to."""
    _check(actor, contact.organisation_id, SETTINGS_ROLES)
    values = {"name": clean_contact_name(name), "email": clean_contact_email(email), "kind": _clean_kind(kind),
              "pgp_note": clean_pgp_note(pgp_note)}
    if _email_taken(contact.organisation_id, values["email"], exclude_id=contact.pk):
        raise DomainError(_TAKEN, field="email")
    changed = sorted(name for name, value in values.items() if getattr(contact, name) != value)
    for name, value in values.items():
        setattr(contact, name, value)
    contact.updated_at = clock.now()
    contact.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            contact.save()
    except IntegrityError:
        raise DomainError(_TAKEN, field="email") from None
    _audit("prenotify.contact_update", organisation_id=contact.organisation_id, actor=actor,
           target_type="downstream_contact", target_id=contact.pk, fields=changed)
    return contact


@transaction.atomic
def contact_remove(*, contact: DownstreamContact, actor: Membership) -> int:
    """Remove a contact and revoke their live links (someone who left the team must not keep a
    way in). The record of what was sent to them stays. Returns the number of links revoked."""
    _check(actor, contact.organisation_id, SETTINGS_ROLES)
    now = clock.now()
    revoked = (PreNotification.objects.filter(contact=contact, revoked_at__isnull=True, expires_at__gt=now)
               .update(revoked_at=now, revoked_by_id=actor.user_id))
    contact_id, organisation_id = contact.pk, contact.organisation_id
    contact.delete()
    _audit("prenotify.contact_remove", organisation_id=organisation_id, actor=actor,
           target_type="downstream_contact", target_id=contact_id, links_revoked=revoked)
    return revoked


# --- sending -------------------------------------------------------------------------------------

@dataclass
class SendResult:
    sent: list[PreNotification] = field(default_factory=list)
    failed: list[PreNotification] = field(default_factory=list)


def prenotification_send(*, advisory: Advisory, actor: Membership, contacts: list[DownstreamContact],
                         expires_at: datetime | None = None) -> SendResult:
    """Send each contact an e-mail with a new private link to the advisory's live draft.

    One transaction per recipient, and the mail is sent outside it: a slow mail server must not
    hold the database's write lock, and one refused address must not undo the others' links."""
    _check(actor, advisory.organisation_id, TRIAGE_ROLES)
    # The state and embargo as stored now, not as the caller loaded them: a publish a moment
    # ago must stop this send.
    advisory = Advisory.objects.select_related("organisation").get(pk=advisory.pk)
    now = clock.now()
    expires = link_expiry(advisory=advisory, expires_at=expires_at, now=now)
    unique = list({contact.pk: contact for contact in contacts}.values())
    if not unique:
        raise DomainError("Choose at least one contact.", field="contacts")
    if len(unique) > MAX_RECIPIENTS_PER_SEND:
        raise DomainError(f"At most {MAX_RECIPIENTS_PER_SEND} contacts at a time.", field="contacts")
    if any(contact.organisation_id != advisory.organisation_id for contact in unique):
        raise NotFound
    result = SendResult()
    for contact in unique:
        token = embargo_token_new()
        with transaction.atomic():
            row = PreNotification.objects.create(
                organisation_id=advisory.organisation_id, advisory=advisory, contact=contact,
                recipient_name=contact.name, recipient_email=contact.email, recipient_kind=contact.kind,
                token_hash=embargo_token_hash(token), created_at=now, expires_at=expires, created_by_id=actor.user_id,
            )
            _audit("prenotify.send", organisation_id=advisory.organisation_id, actor=actor, target_type="advisory",
                   target_id=advisory.pk, prenotification=row.pk, contact=contact.pk, kind=contact.kind,
                   expires_at=expires.isoformat())
        try:
            prenotification_mail(prenotification=row, token=token).send()
        except (smtplib.SMTPException, OSError) as error:
            logger.warning("pre-notification %s of advisory %s not delivered: %s", row.pk, advisory.pk,
                           type(error).__name__)
            _mark_failed(row, actor)
            result.failed.append(row)
        else:
            _mark_sent(row, actor)
            result.sent.append(row)
            logger.info("pre-notification %s of advisory %s sent", row.pk, advisory.pk)
        del token
    return result


@transaction.atomic
def _mark_sent(row: PreNotification, actor: Membership) -> None:
    now = clock.now()
    row.sent_at = now
    row.save(update_fields=["sent_at"])
    replaced = list(PreNotification.objects.filter(advisory_id=row.advisory_id, contact_id=row.contact_id,
                                                   revoked_at__isnull=True, expires_at__gt=now)
                    .exclude(pk=row.pk).values_list("pk", flat=True))
    if replaced:
        PreNotification.objects.filter(pk__in=replaced).update(revoked_at=now, revoked_by_id=actor.user_id)
        _audit("prenotify.replace", organisation_id=row.organisation_id, actor=actor, target_type="advisory",
               target_id=row.advisory_id, prenotification=row.pk, revoked=replaced)


@transaction.atomic
def _mark_failed(row: PreNotification, actor: Membership) -> None:
    now = clock.now()
    row.failed_at = row.revoked_at = now
    row.save(update_fields=["failed_at", "revoked_at"])
    _audit("prenotify.send_failed", organisation_id=row.organisation_id, actor=actor, target_type="advisory",
           target_id=row.advisory_id, prenotification=row.pk)


@transaction.atomic
def prenotification_revoke(*, prenotification: PreNotification, actor: Membership) -> PreNotification:
    """Close a link at once. Revoking a revoked link changes nothing."""
    _check(actor, prenotification.organisation_id, TRIAGE_ROLES)
    row = PreNotification.objects.select_for_update().get(pk=prenotification.pk)
    if row.revoked_at is None:
        row.revoked_at, row.revoked_by_id = clock.now(), actor.user_id
        row.save(update_fields=["revoked_at", "revoked_by"])
        _audit("prenotify.revoke", organisation_id=row.organisation_id, actor=actor, target_type="advisory",
               target_id=row.advisory_id, prenotification=row.pk)
    return row


# --- the recipient's side ----------------------------------------------------------------------------

def _clean_ip(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


def _clean_user_agent(value: str | None) -> str:
    text = "".join(c for c in (value or "") if unicodedata.category(c) not in _HOSTILE_CATEGORIES)
    return text.strip()[:USER_AGENT_MAX_CHARS]


@transaction.atomic
def embargo_view_record(*, prenotification: PreNotification, ip_address: str | None,
                        user_agent: str | None) -> EmbargoView:
    """Log one view of a link that showed the draft. The caller has checked the link is active."""
    ip = _clean_ip(ip_address)
    view = EmbargoView.objects.create(prenotification=prenotification, viewed_at=clock.now(), ip_address=ip,
                                      user_agent=_clean_user_agent(user_agent))
    _audit("prenotify.view", organisation_id=prenotification.organisation_id, actor=None, target_type="advisory",
           target_id=prenotification.advisory_id, ip_address=ip, prenotification=prenotification.pk)
    return view
