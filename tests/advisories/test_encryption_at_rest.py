"""Encryption at rest of what is not public yet: an advisory's working text (title, summary,
details, workarounds, credits, references) and the pre-notification contacts and recipients.
The database alone reveals none of it; envelopes are bound to their rows; key rotation re-seals
them; the data migrations seal rows written before; and what was published stays readable on
the public side (it is public)."""

import os
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories.core import make_member, make_organisation
from tests.reports.test_encryption_at_rest import _all_raw_text
from vulndesk.advisories.models import Advisory
from vulndesk.advisories.services import (
    advisory_create,
    advisory_transition,
    advisory_update,
    affected_packages_set,
)
from vulndesk.core import crypto
from vulndesk.core.errors import DomainError
from vulndesk.organisations import keys
from vulndesk.prenotify.models import DownstreamContact, PreNotification
from vulndesk.prenotify.services import contact_add, contact_update, prenotification_send

DRAFT = {
    "title": "Zebraquokka heap overflow",
    "summary": "Platypusnarwhal summary of the flaw",
    "details": "## Axolotlpangolin\n\nThe parser trusts `tile_width`.",
    "workarounds": "Disable the Okapitapir decoder.",
    "credits": [{"name": "Quetzalcoati Finder", "type": "FINDER"}],
    "references": [{"type": "FIX", "url": "https://git.example.org/kinkajoufossa/commit/1"}],
}
CONTACT = {"name": "Wombatlemur Security Team", "email": "capybaramarmot@vendor.example",
           "pgp_note": "Dugongibis fingerprint 0123"}


def distinctive_words(*values) -> list[str]:
    words = []
    for value in values:
        text = value if isinstance(value, str) else repr(value)
        words += [word.strip("`#:/.") for word in text.replace("/", " ").split() if len(word.strip("`#:/.")) > 8]
    return words


@pytest.fixture
def draft(organisation, owner, frozen_clock):
    advisory = advisory_create(organisation=organisation, actor=owner, title=DRAFT["title"])
    advisory_update(advisory=advisory, actor=owner, embargo_until=frozen_clock.now + timedelta(days=7), severity="high",
                    **{k: v for k, v in DRAFT.items() if k != "title"})
    return Advisory.objects.get(pk=advisory.pk)


@pytest.fixture
def contact(organisation, owner):
    return contact_add(organisation=organisation, actor=owner, kind="vendor", **CONTACT)


def test_the_database_alone_reveals_no_draft_text_contact_or_recipient(draft, contact, owner, smtp_sink):
    prenotification_send(advisory=draft, actor=owner, contacts=[contact])

    raw = _all_raw_text()

    for word in distinctive_words(*DRAFT.values(), *CONTACT.values()):
        assert word not in raw, word
    # ... while the application reads all of it back.
    advisory = Advisory.objects.get(pk=draft.pk)
    assert {name: getattr(advisory, name) for name in DRAFT} == DRAFT
    stored = DownstreamContact.objects.get(pk=contact.pk)
    assert (stored.name, stored.email, stored.pgp_note) == tuple(CONTACT.values())
    sent = PreNotification.objects.get()
    assert (sent.recipient_name, sent.recipient_email) == (CONTACT["name"], CONTACT["email"])


def test_publishing_puts_the_published_text_on_the_public_face_and_keeps_the_draft_sealed(draft, owner):
    affected_packages_set(advisory=draft, actor=owner, packages=[{
        "ecosystem": "PyPI", "package_name": "acme", "ranges": [
            {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0.1"}]}]}])
    advisory_transition(advisory=draft, actor=owner, to="in_review")
    advisory_transition(advisory=draft, actor=owner, to="published", override_reason="Fix is out")
    advisory_update(advisory=draft, actor=owner, details="Unpublished Marmosetbadger edit")

    row = Advisory.objects.get(pk=draft.pk)
    assert row.public_title == DRAFT["title"] and DRAFT["summary"] == row.public_summary
    raw = _all_raw_text()
    assert "Zebraquokka" in raw  # public now: the published face is in clear, by design
    assert "Marmosetbadger" not in raw  # the edit waiting for the next revision is not


def test_an_envelope_moved_to_another_advisory_does_not_decrypt(draft, organisation, owner):
    other = advisory_create(organisation=organisation, actor=owner, title="Another one")
    Advisory.objects.filter(pk=other.pk).update(sealed_draft=draft.sealed_draft)

    with pytest.raises(crypto.DecryptionFailed):
        _ = Advisory.objects.get(pk=other.pk).title


def test_an_envelope_moved_to_another_contact_does_not_decrypt(contact, organisation, owner):
    other = contact_add(organisation=organisation, actor=owner, name="Other", email="psirt@other.example",
                        kind="cert")
    DownstreamContact.objects.filter(pk=other.pk).update(sealed_contact=contact.sealed_contact)

    with pytest.raises(crypto.DecryptionFailed):
        _ = DownstreamContact.objects.get(pk=other.pk).email


def test_addresses_stay_unique_per_organisation_whatever_the_case(contact, organisation, owner):
    with pytest.raises(DomainError, match="already has a contact with that address"):
        contact_add(organisation=organisation, actor=owner, name="Again", email=CONTACT["email"].upper(),
                    kind="vendor")
    other = make_organisation()
    # Another organisation may hold the same address: the index is keyed per organisation.
    twin = contact_add(organisation=other, actor=make_member(other, role="owner"), name="Twin",
                       email=CONTACT["email"], kind="vendor")
    assert twin.email_index != contact.email_index
    # Changing the address moves the index with it.
    contact_update(contact=contact, actor=owner, name=CONTACT["name"], email="new@vendor.example", kind="vendor")
    assert contact_add(organisation=organisation, actor=owner, name="Reused", email=CONTACT["email"],
                       kind="vendor").pk


def test_contacts_are_listed_by_name_although_the_database_cannot_sort_them(organisation, owner):
    from vulndesk.prenotify.selectors import contacts_for_member

    for name in ("zeta CERT", "Alpha Vendor", "beta distro"):
        contact_add(organisation=organisation, actor=owner, name=name, email=f"{name.split()[0]}@x.example",
                    kind="other")

    assert [c.name for c in contacts_for_member(member=owner)] == ["Alpha Vendor", "beta distro", "zeta CERT"]


@pytest.mark.parametrize("field, limit", [("title", 200), ("summary", 500), ("details", 100_000),
                                          ("workarounds", 20_000)])
def test_the_old_column_lengths_are_still_enforced(draft, owner, field, limit):
    with pytest.raises(DomainError, match=f"at most {limit:,} characters"):
        advisory_update(advisory=draft, actor=owner, **{field: "x" * (limit + 1)})
    assert getattr(Advisory.objects.get(pk=draft.pk), field) == DRAFT[field]


def test_an_empty_title_is_refused(draft, owner):
    with pytest.raises(DomainError, match="needs a title"):
        advisory_update(advisory=draft, actor=owner, title="   ")


def test_rotation_reseals_advisories_contacts_and_recipients(draft, contact, owner, organisation, smtp_sink):
    prenotification_send(advisory=draft, actor=owner, contacts=[contact])

    call_command("keys", "rotate", organisation=organisation.slug, settle_seconds=0, stdout=open(os.devnull, "w"))
    keys.forget_cached_keys()

    advisory = Advisory.objects.get(pk=draft.pk)
    stored, sent = DownstreamContact.objects.get(), PreNotification.objects.get()
    assert [keys.envelope_version(text) for text in (advisory.sealed_draft, stored.sealed_contact,
                                                     sent.sealed_recipient)] == [2, 2, 2]
    assert {name: getattr(advisory, name) for name in DRAFT} == DRAFT
    assert stored.email == CONTACT["email"] and sent.recipient_name == CONTACT["name"]
    # The address index uses the stable search key, so uniqueness still holds after rotation.
    with pytest.raises(DomainError):
        contact_add(organisation=organisation, actor=owner, name="Again", email=CONTACT["email"], kind="vendor")


# --- the data migrations seal what was written before them -----------------------------------------

@pytest.mark.django_db(transaction=True)
def test_the_migrations_seal_existing_advisories_contacts_and_recipients():
    organisation = make_organisation()
    keys.current_key_version(organisation.pk)  # the organisation's data key exists, as after its creation
    before = [("advisories", "0002_advisory_advisory_public_feed"), ("prenotify", "0001_initial")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    try:
        OldAdvisory = old.get_model("advisories", "Advisory")
        OldContact = old.get_model("prenotify", "DownstreamContact")
        OldPreNotification = old.get_model("prenotify", "PreNotification")
        from vulndesk.core import clock

        now = clock.now()
        advisory = OldAdvisory.objects.create(
            organisation_id=organisation.pk, identifier="ORGX-2026-0001", year=2026, sequence=1, modified_at=now,
            created_at=now, **DRAFT)
        contact = OldContact.objects.create(organisation_id=organisation.pk, kind="vendor", created_at=now,
                                            updated_at=now, **CONTACT)
        OldPreNotification.objects.create(
            organisation_id=organisation.pk, advisory_id=advisory.pk, contact_id=contact.pk,
            recipient_name=CONTACT["name"], recipient_email=CONTACT["email"], recipient_kind="vendor",
            token_hash="f" * 64, created_at=now, expires_at=now + timedelta(days=1))
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())

    for word in distinctive_words(*DRAFT.values(), *CONTACT.values()):
        assert word not in _all_raw_text(), word
    keys.forget_cached_keys()
    sealed = Advisory.objects.get(identifier="ORGX-2026-0001")
    assert {name: getattr(sealed, name) for name in DRAFT} == DRAFT
    stored = DownstreamContact.objects.get()
    assert (stored.name, stored.email, stored.pgp_note) == tuple(CONTACT.values())
    assert stored.email_index and stored.seal_id
    assert PreNotification.objects.get().recipient_email == CONTACT["email"]
