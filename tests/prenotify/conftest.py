"""The pre-notification world: an organisation with an embargoed draft advisory, downstream
contacts, and helpers that send a link through the real SMTP sink and read it back out of the
mail, as the recipient would."""

import re
from datetime import timedelta

import pytest

from tests.factories.core import make_member, make_organisation
from vulndesk.advisories.services import advisory_create, advisory_update, affected_packages_set
from vulndesk.prenotify.services import contact_add, prenotification_send

# What the draft says; none of it may appear in a mail.
DRAFT_SUMMARY = "Heap overflow when parsing crafted TIFF headers"
DRAFT_DETAILS = "The parser trusts `tile_width`; send 0xFFFF to overflow SECRET-DETAILS-MARKER.\n\n<script>alert(1)</script>"
PACKAGE = "acme-imaging"
LINK = re.compile(r"http://[^/\s]+/embargo/([A-Za-z0-9_-]{43})/")


@pytest.fixture
def organisation(db):
    return make_organisation(name="Acme Security", security_contact_email="security@acme.example")


@pytest.fixture
def security_manager(organisation):
    return make_member(organisation, role="security_manager")


@pytest.fixture
def advisory(organisation, owner, frozen_clock):
    """A draft with everything a recipient reads, embargoed for a week."""
    advisory = advisory_create(organisation=organisation, actor=owner, title="Heap overflow in TIFF decoder")
    advisory_update(advisory=advisory, actor=owner, summary=DRAFT_SUMMARY, details=DRAFT_DETAILS, severity="high",
                    embargo_until=frozen_clock.now + timedelta(days=7))
    affected_packages_set(advisory=advisory, actor=owner, packages=[
        {"ecosystem": "PyPI", "package_name": PACKAGE,
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.4.3"}]}]},
    ])
    advisory.refresh_from_db()
    return advisory


@pytest.fixture
def vendor(organisation, owner):
    return contact_add(organisation=organisation, actor=owner, name="Debian Security Team",
                       email="team@security.debian.example", kind="distribution",
                       pgp_note="Fingerprint 0123 4567 89AB CDEF")


@pytest.fixture
def cert(organisation, owner):
    return contact_add(organisation=organisation, actor=owner, name="CERT-EU", email="services@cert.europa.example",
                       kind="cert")


def link_token(message) -> str:
    """The token of the private link in a received mail."""
    match = LINK.search(message.get_content())
    assert match, message.get_content()
    return match.group(1)


@pytest.fixture
def send(smtp_sink, triager):
    """Send ``advisory`` to ``contacts`` through the real SMTP sink; returns {contact pk: token}."""

    def _send(advisory, *contacts, expires_at=None):
        before = len(smtp_sink.messages)
        result = prenotification_send(advisory=advisory, actor=triager, contacts=list(contacts), expires_at=expires_at)
        assert not result.failed
        received = smtp_sink.wait_for(before + len(contacts))[before:]
        tokens = {}
        for contact in contacts:
            message = next(m for m in received if m["to"] == [contact.email])
            tokens[contact.pk] = link_token(message["message"])
        return tokens

    return _send


def embargo_url(token: str) -> str:
    return f"/embargo/{token}/"
