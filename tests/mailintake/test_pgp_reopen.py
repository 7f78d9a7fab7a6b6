"""Opening encrypted mail again: a report encrypted to a key the organisation did not have is
quarantined; once that key is imported, staff press "Try to open it again" and the stored
message is processed as on arrival (decrypted, filed, acknowledged encrypted to the reporter),
once. Real intake server, real SMTP sink, the reporter's own gpg (tests.pgp.fixtures)."""

import html
import re

import pytest

from tests.factories.core import make_member, verified_login
from tests.mailintake.conftest import REPORTER, mail, sent_to, wire
from tests.pgp.fixtures import *  # noqa: F403 (fixtures)
from vulndesk.audit.models import AuditEntry
from vulndesk.core.errors import Conflict
from vulndesk.mailintake.models import AcknowledgementState, InboundMessage, InboundState
from vulndesk.mailintake.services import inbound_process, inbound_reopen
from vulndesk.pgp.models import MessageSecurity, OrganisationPgpKey
from vulndesk.pgp.services import organisation_key_add
from vulndesk.reports.models import Report

pytestmark = pytest.mark.django_db(transaction=True)
TEXT = "The q parameter of /search reaches SQL unescaped.\n\nPoC: GET /search?q=' OR 1=1--"


def reopen_url(message) -> str:
    return f"/o/acme/mail/messages/{message.pk}/reopen/"


def page_text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def locked_out(mail_server, mail_world, reporter, org_key_pair, other_key_pair):
    """A report (with the reporter's key) encrypted to a key the organisation does not have yet:
    it has its own active key, and the reporter used another one."""
    organisation_key_add(organisation=mail_world.organisation, key_pair=org_key_pair, actor=mail_world.owner,
                         source=OrganisationPgpKey.Source.GENERATED)
    recipient = reporter.trust(other_key_pair.public.armored)
    entity = reporter.entity(TEXT, subject="SQL injection in /search", key=reporter.public_key)
    mail_server.send(reporter.pgp_mime_encrypted(entity, recipient, message_id="<later@r.example>"))
    stored = InboundMessage.objects.get()
    assert stored.state == InboundState.QUARANTINED and "not one of this organisation's keys" in stored.reason
    # The outer headers stay readable: staff see who sent it (and can ask them for the key).
    assert stored.sender_address == REPORTER
    return stored


def import_the_key(mail_world, key_pair) -> None:
    organisation_key_add(organisation=mail_world.organisation, key_pair=key_pair, actor=mail_world.owner,
                         source=OrganisationPgpKey.Source.IMPORTED)


def test_once_the_key_is_imported_the_message_is_opened_filed_once_and_acknowledged_encrypted(
        mail_world, locked_out, other_key_pair, reporter, smtp_sink, client):
    verified_login(client, mail_world.triager.user)
    page = page_text(client.get(f"/o/acme/mail/messages/{locked_out.pk}/"))
    assert "Try to open it again" in page and reopen_url(locked_out) in page
    assert sent_to(smtp_sink, REPORTER) == []

    import_the_key(mail_world, other_key_pair)
    response = client.post(reopen_url(locked_out), follow=True)
    assert response.status_code == 200
    [report] = Report.objects.all()
    assert report.title == "SQL injection in /search" and report.description == TEXT
    assert f"Decrypted: filed as a new report ({report.reference})" in page_text(response)
    assert "acknowledgement" in page_text(response) and "Try to open it again" not in page_text(response)
    message = InboundMessage.objects.get()
    assert message.state == InboundState.REPORTED and message.report_id == report.pk
    assert message.reason == ""  # no stale "import that key" on a message that is filed
    assert "not one of this organisation's keys" not in page_text(response)
    assert message.acknowledgement == AcknowledgementState.SENT
    assert message.decided_by_id == mail_world.triager.user_id
    security = MessageSecurity.objects.get(inbound=message)
    assert security.was_encrypted and security.was_decrypted
    assert AuditEntry.objects.filter(action="mail.reopen", target_id=message.pk,
                                     actor_id=mail_world.triager.user_id).count() == 1

    # The acknowledgement is encrypted to the key the reporter sent inside the encrypted mail.
    [ack] = sent_to(smtp_sink, REPORTER)
    assert ack.get_content_type() == "multipart/encrypted" and ack["In-Reply-To"] == "<later@r.example>"
    entity, _ = reporter.open(ack)
    assert report.reference in entity.decode()

    # A second press (a stale page, a double click) is refused and changes nothing.
    again = client.post(reopen_url(locked_out))
    assert again.status_code == 409
    assert "Only a quarantined message can be opened again" in page_text(again)
    assert Report.objects.count() == 1 and len(sent_to(smtp_sink, REPORTER)) == 1
    # So is a worker that still held the message's id: processing's own marker has moved.
    assert inbound_process(message_id=message.pk) == "done"
    assert Report.objects.count() == 1 and len(sent_to(smtp_sink, REPORTER)) == 1


def test_a_press_while_another_one_is_processing_is_refused_and_files_nothing(
        mail_world, locked_out, other_key_pair, smtp_sink):
    """Two presses at once: the first one's claim (the message back to "stored", committed under
    the row's lock) is what the second one finds. The test database cannot hold two writers in
    two threads, so the first press is played in its two steps: its claim, then its processing."""
    import_the_key(mail_world, other_key_pair)
    InboundMessage.objects.filter(pk=locked_out.pk).update(state=InboundState.STORED)  # the first press's claim
    with pytest.raises(Conflict, match="being processed"):
        inbound_reopen(message=locked_out, actor=mail_world.triager)
    assert not Report.objects.exists() and not AuditEntry.objects.filter(action="mail.reopen").exists()
    assert inbound_process(message_id=locked_out.pk) == InboundState.REPORTED  # the first press's processing
    with pytest.raises(Conflict, match="Only a quarantined message"):
        inbound_reopen(message=locked_out, actor=mail_world.triager)
    assert Report.objects.count() == 1 and len(sent_to(smtp_sink, REPORTER)) == 1


def test_without_the_key_it_stays_quarantined_with_the_reason_and_staff_are_told(
        mail_world, locked_out, smtp_sink, client):
    verified_login(client, mail_world.triager.user)
    response = client.post(reopen_url(locked_out), follow=True)
    assert response.status_code == 200
    assert "still cannot be opened" in page_text(response) and "not one of this organisation" in page_text(response)
    message = InboundMessage.objects.get()
    assert message.state == InboundState.QUARANTINED and "not one of this organisation's keys" in message.reason
    assert not Report.objects.exists() and sent_to(smtp_sink, REPORTER) == []
    # Still an OpenPGP quarantine: it can be tried again once the key is there.
    assert "Try to open it again" in page_text(response)


def test_when_the_reason_changes_the_new_reason_is_recorded_and_shown(
        mail_world, locked_out, client):
    # Another reason this time: the organisation's keys changed, the quarantine reason follows.
    OrganisationPgpKey.objects.filter(organisation=mail_world.organisation).delete()
    verified_login(client, mail_world.triager.user)
    response = client.post(reopen_url(locked_out), follow=True)
    message = InboundMessage.objects.get()
    assert message.state == InboundState.QUARANTINED and "has no OpenPGP key" in message.reason
    assert "has no OpenPGP key" in page_text(response)
    assert MessageSecurity.objects.get(inbound=message).reason == message.reason


def test_a_message_quarantined_for_another_reason_or_not_quarantined_cannot_be_reopened(
        mail_server, mail_world, client, smtp_sink):
    broken = (b"From: a@b.example\r\nSubject: broken\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n"
              b"no parts\r\n")
    mail_server.send(broken)
    mail_server.send(wire(mail(message_id="<plain@r.example>")))
    quarantined, reported = InboundMessage.objects.order_by("pk")
    assert quarantined.state == InboundState.QUARANTINED and reported.state == InboundState.REPORTED
    verified_login(client, mail_world.triager.user)
    assert "Try to open it again" not in page_text(client.get(f"/o/acme/mail/messages/{quarantined.pk}/"))

    refused = client.post(reopen_url(quarantined))
    assert refused.status_code == 409 and "could not be decrypted" in page_text(refused)
    refused = client.post(reopen_url(reported))
    assert refused.status_code == 409 and "Only a quarantined message" in page_text(refused)
    assert [m.state for m in InboundMessage.objects.order_by("pk")] == [InboundState.QUARANTINED,
                                                                         InboundState.REPORTED]
    assert Report.objects.count() == 1 and not AuditEntry.objects.filter(action="mail.reopen").exists()


@pytest.mark.parametrize("role", ["viewer", "developer"])
def test_viewers_and_developers_cannot_reopen(mail_world, locked_out, other_key_pair, client, role):
    import_the_key(mail_world, other_key_pair)
    member = make_member(mail_world.organisation, role=role)
    verified_login(client, member.user)
    assert "Try to open it again" not in page_text(client.get(f"/o/acme/mail/messages/{locked_out.pk}/"))
    assert client.post(reopen_url(locked_out)).status_code == 403
    assert client.get(reopen_url(locked_out)).status_code in {403, 405}
    assert InboundMessage.objects.get().state == InboundState.QUARANTINED and not Report.objects.exists()


@pytest.mark.parametrize("message_id", ["0", "999999", "-1", "1%20OR%201=1", "..%2F..%2Fetc", "9" * 400,
                                        "%3Cscript%3E"])
def test_hostile_or_unknown_ids_are_not_found(mail_world, locked_out, client, message_id):
    verified_login(client, mail_world.triager.user)
    assert client.post(f"/o/acme/mail/messages/{message_id}/reopen/").status_code == 404
    assert InboundMessage.objects.get().state == InboundState.QUARANTINED


def test_only_post_and_a_get_changes_nothing(mail_world, locked_out, other_key_pair, client):
    import_the_key(mail_world, other_key_pair)
    verified_login(client, mail_world.triager.user)
    assert client.get(reopen_url(locked_out)).status_code == 405
    assert InboundMessage.objects.get().state == InboundState.QUARANTINED and not Report.objects.exists()


def test_the_reopen_button_carries_no_inline_script(mail_world, locked_out, client):
    verified_login(client, mail_world.triager.user)
    page = page_text(client.get(f"/o/acme/mail/messages/{locked_out.pk}/"))
    section = re.search(r'<section[^>]*reopen-heading.*?</section>', page, re.S).group(0)
    assert "onclick" not in section and "<script" not in section and "csrfmiddlewaretoken" in section


def test_the_openpgp_page_says_how_many_encrypted_mails_wait_and_links_to_the_quarantine(
        mail_server, mail_world, locked_out, other_key_pair, client):
    broken = (b"From: a@b.example\r\nSubject: broken\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n"
              b"no parts\r\n")
    mail_server.send(broken)  # quarantined too, but not by OpenPGP: not counted
    assert InboundMessage.objects.filter(state=InboundState.QUARANTINED).count() == 2
    import_the_key(mail_world, other_key_pair)
    verified_login(client, mail_world.owner.user)
    page = page_text(client.get("/o/acme/pgp/"))
    assert "One encrypted e-mail waits in quarantine" in page
    assert 'href="/o/acme/mail/?view=quarantined"' in page

    assert client.post(reopen_url(locked_out)).status_code == 302  # an owner triages too
    assert Report.objects.count() == 1
    assert "encrypted e-mail waits" not in page_text(client.get("/o/acme/pgp/"))


def test_an_encrypted_reply_opened_again_is_added_to_its_reports_thread(
        mail_server, mail_world, org_key_pair, other_key_pair, reporter, smtp_sink, client):
    organisation_key_add(organisation=mail_world.organisation, key_pair=org_key_pair, actor=mail_world.owner,
                         source=OrganisationPgpKey.Source.GENERATED)
    mail_server.send(wire(mail(message_id="<first@r.example>")))
    [report] = Report.objects.all()
    reply_to = sent_to(smtp_sink, REPORTER)[-1]["Reply-To"].addresses[0].addr_spec
    recipient = reporter.trust(other_key_pair.public.armored)
    mail_server.send(reporter.pgp_mime_encrypted(reporter.entity("Port 8443 is affected too."), recipient,
                                                 message_id="<second@r.example>", to=reply_to), to=reply_to)
    reply = InboundMessage.objects.get(state=InboundState.QUARANTINED)

    import_the_key(mail_world, other_key_pair)
    verified_login(client, mail_world.triager.user)
    response = client.post(reopen_url(reply), follow=True)
    assert f"Decrypted: added to a report's thread ({report.reference})" in page_text(response)
    reply.refresh_from_db()
    assert reply.state == InboundState.APPENDED and reply.report_id == report.pk
    assert [m.body for m in report.messages.all()] == ["Port 8443 is affected too."]
    assert Report.objects.count() == 1


def test_decrypted_but_not_filed_stays_in_quarantine_with_that_reason(
        mail_world, locked_out, other_key_pair, smtp_sink, client):
    import_the_key(mail_world, other_key_pair)
    InboundMessage.objects.filter(pk=locked_out.pk).update(product=None)  # the product was deleted meanwhile
    verified_login(client, mail_world.triager.user)
    response = client.post(reopen_url(locked_out), follow=True)
    assert "Decrypted, but it stays in quarantine: The address no longer leads to a product." in page_text(response)
    message = InboundMessage.objects.get()
    assert message.state == InboundState.QUARANTINED and MessageSecurity.objects.get(inbound=message).was_decrypted
    # No longer an OpenPGP matter: converting by hand is what is left, not another try.
    assert "Try to open it again" not in page_text(response) and "Convert to a report" in page_text(response)
    assert client.post(reopen_url(locked_out)).status_code == 409
    assert not Report.objects.exists() and sent_to(smtp_sink, REPORTER) == []
