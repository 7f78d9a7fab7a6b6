"""Downstream contacts: the settings page (owners and security managers) and the services
behind it. Contact text is hostile until proven otherwise."""

import pytest
from django.urls import reverse

from tests.factories.core import make_member, make_organisation, verified_login
from vulndesk.audit.models import AuditEntry
from vulndesk.core.errors import DomainError, NotAllowed, NotFound
from vulndesk.prenotify.models import DownstreamContact
from vulndesk.prenotify.services import contact_add, contact_remove, contact_update


def url(name, organisation, **kwargs):
    return reverse(f"prenotify:{name}", kwargs={"organisation": organisation.slug, **kwargs})


def contact_data(**overrides):
    return {"name": "Red Hat Product Security", "email": "secalert@redhat.example", "kind": "vendor",
            "pgp_note": ""} | overrides


# --- services -----------------------------------------------------------------------------------

def test_a_contact_is_added_with_its_domain_lowercased_and_audited(organisation, owner):
    contact = contact_add(organisation=organisation, actor=owner, **contact_data(email="SecAlert@RedHat.Example"))

    assert contact.email == "SecAlert@redhat.example" and contact.kind == "vendor"
    entry = AuditEntry.objects.get(action="prenotify.contact_add")
    assert entry.target_id == str(contact.pk) and "redhat" not in str(entry.data).lower()


def test_an_address_is_taken_once_per_organisation_whatever_its_case(organisation, owner):
    contact_add(organisation=organisation, actor=owner, **contact_data())

    with pytest.raises(DomainError) as error:
        contact_add(organisation=organisation, actor=owner, **contact_data(email="SECALERT@redhat.example"))
    assert error.value.field == "email"
    other = make_organisation()
    contact_add(organisation=other, actor=make_member(other, role="owner"), **contact_data())  # another tenant: fine


@pytest.mark.parametrize("name", [
    "Vendor\nBcc: attacker@evil.example", "Vendor\r\nTeam", "Ven\x00dor", "Vendor\u202egnp.exe", "Ven\u200bdor",
    "Vendor\u2028Team", "\x1b[31mVendor", "   ", "x" * 201,
], ids=["header-injection", "crlf", "nul", "bidi-override", "zero-width", "line-separator", "ansi-escape", "blank",
        "too-long"])
def test_a_hostile_contact_name_is_refused(organisation, owner, name):
    with pytest.raises(DomainError) as error:
        contact_add(organisation=organisation, actor=owner, **contact_data(name=name))
    assert error.value.field == "name"
    assert DownstreamContact.objects.count() == 0


@pytest.mark.parametrize("email", [
    "secalert@redhat.example\nBcc: attacker@evil.example", "secalert@redhat.example\r\nX-Evil: 1",
    "Red Hat <secalert@redhat.example>", "secalert@redhat.example, attacker@evil.example",
    '"quoted local"@redhat.example', "secalert", "@redhat.example", "secalert@", "sec\x00alert@redhat.example",
    "sécalert@redhat.example", "a" * 250 + "@x.example", "secalert@redhat.example\u202e",
], ids=["header-injection", "crlf", "display-name", "two-addresses", "quoted", "no-at", "no-local", "no-domain",
        "nul", "non-ascii-local", "too-long", "bidi"])
def test_a_hostile_contact_address_is_refused(organisation, owner, email):
    with pytest.raises(DomainError) as error:
        contact_add(organisation=organisation, actor=owner, **contact_data(email=email))
    assert error.value.field == "email"
    assert DownstreamContact.objects.count() == 0


def test_a_pgp_note_keeps_its_lines_but_not_control_characters(organisation, owner):
    armoured = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ...\n-----END PGP PUBLIC KEY BLOCK-----"
    contact = contact_add(organisation=organisation, actor=owner, **contact_data(pgp_note=armoured))
    assert contact.pgp_note == armoured

    with pytest.raises(DomainError) as error:
        contact_update(contact=contact, actor=owner, **contact_data(pgp_note="key\x07\x1b[2J"))
    assert error.value.field == "pgp_note"


def test_an_unknown_kind_is_refused(organisation, owner):
    with pytest.raises(DomainError) as error:
        contact_add(organisation=organisation, actor=owner, **contact_data(kind="journalist"))
    assert error.value.field == "kind"


def test_only_owners_and_security_managers_change_contacts(organisation, owner, triager):
    contact = contact_add(organisation=organisation, actor=owner, **contact_data())
    with pytest.raises(NotAllowed):
        contact_add(organisation=organisation, actor=triager, **contact_data(email="x@y.example"))
    with pytest.raises(NotAllowed):
        contact_remove(contact=contact, actor=triager)


def test_a_member_of_another_organisation_cannot_change_a_contact(organisation, owner):
    contact = contact_add(organisation=organisation, actor=owner, **contact_data())
    other = make_organisation()
    with pytest.raises(NotFound):
        contact_update(contact=contact, actor=make_member(other, role="owner"), **contact_data(name="Mine now"))


# --- the settings page --------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["owner", "security_manager"])
def test_owners_and_security_managers_add_edit_and_remove_contacts(client, organisation, role):
    member = make_member(organisation, role=role)
    verified_login(client, member.user)

    added = client.post(url("contact_add", organisation), contact_data())
    assert added.status_code == 302 and added.url == url("contacts", organisation)
    contact = DownstreamContact.objects.get(organisation=organisation)
    page = client.get(url("contacts", organisation))
    assert page.status_code == 200 and b"Red Hat Product Security" in page.content
    assert client.get(url("contact_edit", organisation, contact_id=contact.pk)).status_code == 200

    edited = client.post(url("contact_edit", organisation, contact_id=contact.pk),
                         contact_data(name="Red Hat PSIRT", kind="cert", pgp_note="0xDEADBEEF"))
    assert edited.status_code == 302
    contact.refresh_from_db()
    assert (contact.name, contact.kind, contact.pgp_note) == ("Red Hat PSIRT", "cert", "0xDEADBEEF")

    removed = client.post(url("contact_remove", organisation, contact_id=contact.pk))
    assert removed.status_code == 302 and not DownstreamContact.objects.exists()


@pytest.mark.parametrize("role", ["triager", "developer", "viewer", "ci_uploader"])
def test_other_roles_get_403_on_every_contacts_page(client, organisation, owner, role):
    contact = contact_add(organisation=organisation, actor=owner, **contact_data())
    verified_login(client, make_member(organisation, role=role).user)

    answers = [
        client.get(url("contacts", organisation)).status_code,
        client.post(url("contact_add", organisation), contact_data(email="new@x.example")).status_code,
        client.get(url("contact_edit", organisation, contact_id=contact.pk)).status_code,
        client.post(url("contact_edit", organisation, contact_id=contact.pk), contact_data(name="X")).status_code,
        client.post(url("contact_remove", organisation, contact_id=contact.pk)).status_code,
    ]

    assert answers == [403] * 5
    contact.refresh_from_db()
    assert contact.name == "Red Hat Product Security" and DownstreamContact.objects.count() == 1


def test_another_organisations_owner_gets_404_for_every_contacts_url(client, organisation, owner):
    contact = contact_add(organisation=organisation, actor=owner, **contact_data())
    other = make_organisation()
    verified_login(client, make_member(other, role="owner").user)

    answers = [client.get(url("contacts", organisation)).status_code,
               client.post(url("contact_add", organisation), contact_data(email="n@x.example")).status_code,
               # their own slug with this organisation's contact id
               client.get(url("contact_edit", other, contact_id=contact.pk)).status_code,
               client.post(url("contact_edit", other, contact_id=contact.pk), contact_data(name="X")).status_code,
               client.post(url("contact_remove", other, contact_id=contact.pk)).status_code]

    assert answers == [404] * 5
    contact.refresh_from_db()
    assert contact.name == "Red Hat Product Security" and DownstreamContact.objects.count() == 1


def test_a_hostile_name_posted_to_the_page_is_refused_with_a_message(client, organisation, owner):
    verified_login(client, owner.user)

    response = client.post(url("contact_add", organisation), contact_data(name="Vendor\u202eexe.pdf"))

    assert response.status_code == 422
    assert b"line breaks or invisible control characters" in response.content
    assert not DownstreamContact.objects.exists()


def test_an_invalid_address_posted_to_the_page_is_refused_with_a_message(client, organisation, owner):
    verified_login(client, owner.user)

    response = client.post(url("contact_add", organisation),
                           contact_data(email="secalert@redhat.example\r\nBcc: attacker@evil.example"))

    assert response.status_code == 422 and b"errorlist" in response.content
    assert not DownstreamContact.objects.exists()


def test_html_in_contact_text_is_shown_as_text(client, organisation, owner):
    contact_add(organisation=organisation, actor=owner,
                **contact_data(name="<script>alert(1)</script>", pgp_note="<img src=x onerror=alert(2)>"))
    verified_login(client, owner.user)

    content = client.get(url("contacts", organisation)).content

    assert b"<script>alert(1)" not in content and b"&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert b"<img src=x" not in content and b"&lt;img src=x onerror=alert(2)&gt;" in content


def test_the_contacts_page_says_what_to_do_when_empty(client, organisation, owner):
    verified_login(client, owner.user)

    assert b"No downstream contacts yet" in client.get(url("contacts", organisation)).content


def test_a_duplicate_address_on_the_page_says_so(client, organisation, owner):
    contact_add(organisation=organisation, actor=owner, **contact_data())
    verified_login(client, owner.user)

    response = client.post(url("contact_add", organisation), contact_data(name="Again"))

    assert response.status_code == 422 and b"already has a contact with that address" in response.content


def test_contact_urls_refuse_the_wrong_method(client, organisation, owner):
    contact = contact_add(organisation=organisation, actor=owner, **contact_data())
    verified_login(client, owner.user)

    assert client.get(url("contact_add", organisation)).status_code == 405
    assert client.get(url("contact_remove", organisation, contact_id=contact.pk)).status_code == 405
    assert client.post(url("contacts", organisation)).status_code == 405
