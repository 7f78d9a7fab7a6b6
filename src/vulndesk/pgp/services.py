"""Writes of the pgp app: the organisation's key pairs, reporters' keys, and what OpenPGP said
about received mail.

* Key pairs: generating or importing one makes it the active (published) key and retires the
  previous one, which stays stored (and in the keyring) so mail encrypted to it still opens.
  Only owners and security managers act (``SETTINGS_ROLES``); every change is audited, with the
  public fingerprint only. gpg work happens before the write transaction.
* Reporters' keys: the first key a reporter gives for a report is used for replies. A different
  key sent later by mail replaces it only if that mail was signed with the key on file (a key
  rollover the reporter vouched for); otherwise it is kept beside it and staff are told, since
  anyone can put the reporter's address in a From line.
"""

import secrets

from django.db import transaction

from vulndesk.audit.services import audit_record
from vulndesk.core import clock
from vulndesk.core.errors import Conflict, NotAllowed, NotFound
from vulndesk.organisations.models import SETTINGS_ROLES, Membership, Organisation
from vulndesk.pgp.inbound import MailSecurity
from vulndesk.pgp.keys import KeyPair, PublicKeyInfo, key_pair_generate, secret_key_import
from vulndesk.pgp.models import MessageSecurity, OrganisationPgpKey, ReporterPgpKey, SignatureState
from vulndesk.reports.models import Report


def _check(actor: Membership | None, organisation: Organisation) -> None:
    if actor is None:
        return
    if actor.organisation_id != organisation.pk:
        raise NotFound
    if actor.role not in SETTINGS_ROLES:
        raise NotAllowed


def _audit(organisation: Organisation, actor: Membership | None, action: str, key: OrganisationPgpKey, **data):
    audit_record(action=action, organisation_id=organisation.pk, actor_id=actor.user_id if actor else None,
                 actor_label=actor.user.display_name if actor else "system", target_type="pgp_key",
                 target_id=key.pk, data={"fingerprint": key.fingerprint, **data})


@transaction.atomic
def organisation_key_add(*, organisation: Organisation, key_pair: KeyPair, actor: Membership | None,
                         source: str) -> OrganisationPgpKey:
    """Store a checked key pair as the active key; the previous active key is retired."""
    _check(actor, organisation)
    public = key_pair.public
    existing = OrganisationPgpKey.objects.filter(organisation=organisation, fingerprint=public.fingerprint).first()
    if existing is not None:
        raise Conflict(f"This key ({existing.fingerprint_groups}) is already stored"
                       + (" and active." if existing.state == OrganisationPgpKey.State.ACTIVE else
                          ", retired. Generate or import another key."), field="secret_key")
    now = clock.now()
    for previous in OrganisationPgpKey.objects.select_for_update().filter(
            organisation=organisation, state=OrganisationPgpKey.State.ACTIVE):
        previous.state, previous.retired_at = OrganisationPgpKey.State.RETIRED, now
        previous.save(update_fields=["state", "retired_at"])
        _audit(organisation, actor, "pgp.key_retire", previous, replaced_by=public.fingerprint)
    key = OrganisationPgpKey(
        organisation=organisation, fingerprint=public.fingerprint, key_ids=" ".join(public.key_ids)[:400],
        user_id=public.user_id, algorithm=public.algorithm, public_key=public.armored, source=source,
        key_created_at=public.created_at, expires_at=public.expires_at, added_at=now,
        added_by=actor.user if actor else None,
    )
    key.armored_secret, key.passphrase = key_pair.armored_secret, key_pair.passphrase
    key.full_clean(exclude=["sealed_secret", "added_by"])
    key.save(force_insert=True)
    _audit(organisation, actor, f"pgp.key_{source}", key, algorithm=public.algorithm)
    return key


def organisation_key_generate(*, organisation: Organisation, actor: Membership, name: str, email: str = "",
                              years: int = 2) -> OrganisationPgpKey:
    _check(actor, organisation)
    key_pair = key_pair_generate(name=name, email=email, years=years)
    return organisation_key_add(organisation=organisation, key_pair=key_pair, actor=actor,
                                source=OrganisationPgpKey.Source.GENERATED)


def organisation_key_import(*, organisation: Organisation, actor: Membership, secret_key: str,
                            passphrase: str = "") -> OrganisationPgpKey:
    _check(actor, organisation)
    key_pair = secret_key_import(text=secret_key, passphrase=passphrase)
    return organisation_key_add(organisation=organisation, key_pair=key_pair, actor=actor,
                                source=OrganisationPgpKey.Source.IMPORTED)


@transaction.atomic
def organisation_key_retire(*, organisation: Organisation, actor: Membership) -> OrganisationPgpKey:
    """Stop publishing and using the active key. It stays stored, to open mail sent to it."""
    _check(actor, organisation)
    key = (OrganisationPgpKey.objects.select_for_update()
           .filter(organisation=organisation, state=OrganisationPgpKey.State.ACTIVE).first())
    if key is None:
        raise Conflict("There is no active key to retire.")
    key.state, key.retired_at = OrganisationPgpKey.State.RETIRED, clock.now()
    key.save(update_fields=["state", "retired_at"])
    _audit(organisation, actor, "pgp.key_retire", key)
    return key


# --- reporters' keys ----------------------------------------------------------------------------

@transaction.atomic
def reporter_key_add(*, report: Report, key: PublicKeyInfo, source: str, inbound_id: int | None = None,
                     make_current: bool = True) -> ReporterPgpKey:
    """Keep a checked public key for ``report`` (``keys.public_key_inspect`` checked it)."""
    if make_current:
        ReporterPgpKey.objects.filter(report_id=report.pk, is_current=True).update(is_current=False)
    row = ReporterPgpKey(organisation_id=report.organisation_id, report_id=report.pk, source=source,
                         inbound_id=inbound_id, salt=secrets.token_hex(16), algorithm=key.algorithm,
                         expires_at=key.expires_at, is_current=make_current, added_at=clock.now())
    row.armored, row.fingerprint, row.user_ids = key.armored, key.fingerprint, "\n".join(key.user_ids)
    row.save(force_insert=True)
    # The reporter's key identifies them: the audit names the row, not the fingerprint.
    audit_record(action="pgp.reporter_key", organisation_id=report.organisation_id, actor_label="reporter",
                 target_type="report", target_id=report.pk,
                 data={"reporter_key": row.pk, "source": source, "current": make_current})
    return row


def reporter_keys_from_mail(*, report: Report, inbound_id: int, security: MailSecurity) -> str:
    """Keep the keys a reporter's mail carried; returns a note for staff ("" when none)."""
    if not security.keys:
        return ""
    current = ReporterPgpKey.objects.filter(report_id=report.pk, is_current=True).first()
    current_fingerprint = current.fingerprint if current else ""
    known = {row.fingerprint for row in ReporterPgpKey.objects.filter(report_id=report.pk)}
    signer = security.signature.fingerprint if security.signature.state == SignatureState.VERIFIED else ""
    # The key that signed this mail first: it is the one the reporter holds the secret of.
    ordered = sorted(security.keys, key=lambda key: key.fingerprint != signer)
    notes = []
    for key in ordered:
        if key.fingerprint in known:
            continue
        if current is None:
            current = reporter_key_add(report=report, key=key, source=ReporterPgpKey.Source.MAIL,
                                       inbound_id=inbound_id)
            current_fingerprint = key.fingerprint
        elif signer and signer == current_fingerprint:
            current = reporter_key_add(report=report, key=key, source=ReporterPgpKey.Source.MAIL,
                                       inbound_id=inbound_id)
            notes.append("The reporter sent a new public key, signed with their previous one: replies are now "
                         "encrypted to the new key.")
            current_fingerprint = key.fingerprint
        else:
            reporter_key_add(report=report, key=key, source=ReporterPgpKey.Source.MAIL, inbound_id=inbound_id,
                             make_current=False)
            notes.append("The e-mail carried a different public key, not signed with the key on file: it is kept, "
                         "but replies stay encrypted to the key on file.")
        known.add(key.fingerprint)
    return " ".join(notes)


# --- received mail --------------------------------------------------------------------------------

def message_security_record(*, organisation_id: int, inbound_id: int, security: MailSecurity) -> MessageSecurity:
    """What OpenPGP said about one received message (inside its processing transaction)."""
    row = MessageSecurity.objects.filter(inbound_id=inbound_id).first() or MessageSecurity(
        organisation_id=organisation_id, inbound_id=inbound_id, salt=secrets.token_hex(16), created_at=clock.now())
    row.format, row.was_encrypted, row.was_decrypted = security.format, security.was_encrypted, security.was_decrypted
    row.signature, row.key_source = security.signature.state, security.signature.key_source
    row.signer_fingerprint, row.signer_key_id = security.signature.fingerprint, security.signature.key_id
    row.keys_received, row.reason = min(len(security.keys), 32767), security.reason[:300]
    row.save()
    return row
