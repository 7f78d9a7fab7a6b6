"""IMAP polling against a real dovecot on loopback: new mail becomes reports exactly like mail
delivered by SMTP, is marked on the server only once stored, and is never imported twice; errors
are recorded in clear words and lose nothing."""

import os
import socket
import subprocess
import sys
from datetime import date, timedelta

import pytest
from django.core.management import call_command

from tests.factories.core import make_member, make_organisation, make_product
from tests.mailintake.conftest import REPORTER, mail, sent_to, wire
from tests.mailintake.dovecot import PASSWORD
from vulndesk.core import clock
from vulndesk.core.periodic import PERIODIC_TASKS
from vulndesk.mailintake.imap import IMPORTED_KEYWORD, TOO_LARGE_KEYWORD
from vulndesk.mailintake.models import AcknowledgementState, ImapMailbox, InboundMessage, InboundState
from vulndesk.mailintake.services import (
    MailboxSettings,
    imap_mailbox_add,
    imap_mailbox_poll,
    intake_address_add,
)
from vulndesk.mailintake.services.imap import MailboxPoll, imap_mailboxes_due_ids
from vulndesk.mailintake.tasks import imap_poll_due
from vulndesk.reports.models import Message, Report, Source

pytestmark = pytest.mark.django_db(transaction=True)


def add_mailbox(world, account, **values) -> ImapMailbox:
    settings = {"name": "security@ at our provider", "host": "127.0.0.1", "port": account.port, "security": "none",
                "username": account.username, "password": account.password, "address": world.address, **values}
    return imap_mailbox_add(actor=world.owner, values=MailboxSettings(**settings))


def raw(subject="XSS in /profile", body="The bio field is not escaped.", **headers) -> bytes:
    return wire(mail(subject, body, **headers))


def test_new_mail_becomes_a_report_the_reporter_is_acknowledged_and_the_message_is_marked_on_the_server(
        mail_world, smtp_sink, imap_account):
    imap_account.append(raw(message_id="<polled-1@reporter.example>"))
    mailbox = add_mailbox(mail_world, imap_account)

    outcome = imap_mailbox_poll(mailbox_id=mailbox.pk)

    assert (outcome.state, outcome.imported, outcome.already_stored) == ("ok", 1, 0)
    report = Report.objects.get()
    assert (report.source, report.title, report.product) == (Source.EMAIL, "XSS in /profile", mail_world.product)
    assert (report.reporter_email, report.description) == (REPORTER, "The bio field is not escaped.")
    stored = InboundMessage.objects.get()
    assert (stored.source, stored.imap_mailbox_id, stored.state, stored.report) == (
        "imap", mailbox.pk, InboundState.REPORTED, report)
    assert stored.address == mail_world.address and stored.acknowledgement == AcknowledgementState.SENT
    [acknowledgement] = sent_to(smtp_sink, REPORTER)
    assert acknowledgement["Subject"] == f"Re: [{report.reference}] XSS in /profile"
    assert acknowledgement["In-Reply-To"] == "<polled-1@reporter.example>"
    assert acknowledgement["Reply-To"].addresses[0].addr_spec.startswith("security+r-")
    # Marked with our keyword; \Seen (which people use) untouched, nothing deleted.
    [flags] = imap_account.flags().values()
    assert IMPORTED_KEYWORD in flags and not flags & {"\\Seen", "\\Deleted"}
    mailbox.refresh_from_db()
    assert (mailbox.last_result, mailbox.last_error, mailbox.last_imported, mailbox.imported_total) == ("ok", "", 1, 1)
    assert mailbox.last_success_at == mailbox.last_poll_at and mailbox.lease_token == ""


def test_a_second_poll_finds_nothing_new_and_changes_nothing(mail_world, smtp_sink, imap_account):
    imap_account.append(raw())
    mailbox = add_mailbox(mail_world, imap_account)
    imap_mailbox_poll(mailbox_id=mailbox.pk)

    again = imap_mailbox_poll(mailbox_id=mailbox.pk)

    assert (again.state, again.imported, again.already_stored) == ("ok", 0, 0)
    assert Report.objects.count() == 1 and InboundMessage.objects.count() == 1
    assert len(smtp_sink.messages) == 1
    mailbox.refresh_from_db()
    assert (mailbox.last_imported, mailbox.imported_total) == (0, 1)


def test_a_message_stored_by_a_poller_that_died_before_marking_it_becomes_exactly_one_report(
        mail_world, smtp_sink, imap_account):
    imap_account.append(raw(message_id="<died@reporter.example>"), raw("Second", message_id="<died-2@reporter.example>"))
    without_id = (b"From: Bob <bob@reporter.example>\r\nTo: security@acme.test\r\nSubject: No id at all\r\n"
                  b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nA message without Message-ID.\r\n")
    imap_account.append(without_id)
    mailbox = add_mailbox(mail_world, imap_account)
    with MailboxPoll.open(mailbox) as poll:
        [batch] = list(poll.batches())
        poll.store(poll.fetch(batch))
        # ... and the poller dies here: stored and committed, never marked on the server.
    assert InboundMessage.objects.count() == 3 and imap_account.search(f"KEYWORD {IMPORTED_KEYWORD}") == []

    outcome = imap_mailbox_poll(mailbox_id=mailbox.pk)

    assert (outcome.imported, outcome.already_stored) == (0, 3)
    assert InboundMessage.objects.count() == 3 and Report.objects.count() == 3
    assert len(sent_to(smtp_sink, REPORTER)) == 2 and len(sent_to(smtp_sink, "bob@reporter.example")) == 1
    assert imap_account.search(f"UNKEYWORD {IMPORTED_KEYWORD}") == []


def test_a_reply_to_the_acknowledgement_lands_in_the_reports_thread_through_its_reply_address(
        mail_world, smtp_sink, imap_account):
    imap_account.append(raw(message_id="<first@reporter.example>"))
    mailbox = add_mailbox(mail_world, imap_account)
    imap_mailbox_poll(mailbox_id=mailbox.pk)
    [acknowledgement] = sent_to(smtp_sink, REPORTER)
    reply_address = acknowledgement["Reply-To"].addresses[0].addr_spec
    # The provider delivered the reply to the same mailbox (plus addressing); no References, so
    # only the reply address can thread it, as with SMTP's RCPT.
    reply = mail("Re: your acknowledgement", "Here is the PoC.", to=reply_address,
                 message_id="<second@reporter.example>")
    imap_account.append(b"Delivered-To: " + reply_address.encode() + b"\r\n" + wire(reply))

    imap_mailbox_poll(mailbox_id=mailbox.pk)

    report = Report.objects.get()
    stored = InboundMessage.objects.get(state=InboundState.APPENDED)
    assert stored.reply_report == report and stored.report == report
    assert [message.body for message in Message.objects.filter(report=report)] == ["Here is the PoC."]


def test_an_address_of_another_organisation_in_the_headers_is_never_followed(mail_world, smtp_sink, imap_account):
    other = make_organisation(name="Other", slug="other", reference_prefix="OTH")
    other_owner = make_member(other, role="owner")
    intake_address_add(actor=other_owner, local_part="security", domain="other.test",
                       product=make_product(other, name="Other app", slug="app"))
    imap_account.append(b"Delivered-To: security@other.test\r\n" + raw(to="security@other.test"))
    mailbox = add_mailbox(mail_world, imap_account)

    imap_mailbox_poll(mailbox_id=mailbox.pk)

    stored = InboundMessage.objects.get()
    assert stored.organisation_id == mail_world.organisation.pk and stored.address == mail_world.address
    assert not Report.objects.filter(organisation=other).exists()


def test_a_product_sub_address_of_the_mailboxs_address_files_into_that_product(mail_world, smtp_sink, imap_account):
    imap_account.append(b"Delivered-To: security+api@acme.test\r\n" + raw("API key leak", to="security+api@acme.test"))
    mailbox = add_mailbox(mail_world, imap_account)

    imap_mailbox_poll(mailbox_id=mailbox.pk)

    assert Report.objects.get().product == mail_world.other_product


def test_a_mailbox_routed_to_a_product_files_there_and_bounces_are_kept_but_never_answered(
        mail_world, smtp_sink, imap_account):
    bounce = b"Return-Path: <>\r\n" + raw("Undelivered Mail Returned to Sender", "Sorry.",
                                         sender="MAILER-DAEMON <mailer-daemon@reporter.example>")
    imap_account.append(raw("Report for the API"), bounce)
    mailbox = add_mailbox(mail_world, imap_account, address=None, product=mail_world.other_product)

    assert imap_mailbox_poll(mailbox_id=mailbox.pk).imported == 2

    report = Report.objects.get()
    assert report.product == mail_world.other_product
    automatic = InboundMessage.objects.get(state=InboundState.AUTOMATIC)
    assert "bounce" in automatic.reason and automatic.report is None
    assert len(sent_to(smtp_sink, REPORTER)) == 1 and sent_to(smtp_sink, "mailer-daemon@reporter.example") == []


def test_with_a_processed_folder_imported_mail_is_moved_there(mail_world, smtp_sink, imap_account):
    imap_account.create_folder("Security Imported")
    imap_account.append(raw("one", message_id="<m1@r.example>"), raw("two", message_id="<m2@r.example>"))
    mailbox = add_mailbox(mail_world, imap_account, processed_folder="Security Imported")

    outcome = imap_mailbox_poll(mailbox_id=mailbox.pk)

    assert outcome.imported == 2 and Report.objects.count() == 2
    assert imap_account.search() == []
    assert len(imap_account.search(f"KEYWORD {IMPORTED_KEYWORD}", folder="Security Imported")) == 2


def test_mail_marked_but_not_moved_by_a_poller_that_died_is_moved_without_a_second_import(
        mail_world, smtp_sink, imap_account):
    imap_account.create_folder("Done")
    imap_account.append(raw(message_id="<marked@r.example>"))
    mailbox = add_mailbox(mail_world, imap_account, processed_folder="Done")
    with MailboxPoll.open(mailbox) as poll:
        [batch] = list(poll.batches())
        fetched = poll.fetch(batch)
        poll.store(fetched)
        poll.session._store(fetched.whole, IMPORTED_KEYWORD)  # marked; the move never happened
    assert imap_account.search(f"KEYWORD {IMPORTED_KEYWORD}") == [1]

    outcome = imap_mailbox_poll(mailbox_id=mailbox.pk)

    assert (outcome.moved, outcome.imported, outcome.already_stored) == (1, 0, 0)
    assert imap_account.search() == [] and len(imap_account.search(folder="Done")) == 1
    assert Report.objects.count() == 1


def test_a_message_over_the_size_limit_is_not_fetched_whole_but_quarantined_with_its_header_and_marked(
        mail_world, smtp_sink, imap_account, settings):
    settings.MAIL_INTAKE_MAX_BYTES = 64 * 1024
    big = raw("Huge core dump", "x" * 200_000, message_id="<huge@reporter.example>")
    imap_account.append(raw("Small one", message_id="<small@reporter.example>"), big)
    mailbox = add_mailbox(mail_world, imap_account)

    outcome = imap_mailbox_poll(mailbox_id=mailbox.pk)

    assert (outcome.state, outcome.imported, outcome.too_large) == ("ok", 1, 1)
    held = InboundMessage.objects.get(state=InboundState.QUARANTINED)
    assert held.size < 2000 and "Larger than the 0.0625 MB limit" in held.reason
    assert "stays in the folder \"INBOX\"" in held.reason and TOO_LARGE_KEYWORD in held.reason
    assert Report.objects.count() == 1 and len(sent_to(smtp_sink, REPORTER)) == 1
    assert imap_account.search(f"KEYWORD {TOO_LARGE_KEYWORD}") == [2]
    assert imap_account.search(f"UNKEYWORD {IMPORTED_KEYWORD}") == []
    assert imap_account.search() == [1, 2]  # the big one stays on the server, whole
    # Never retried: the next poll has nothing to do.
    again = imap_mailbox_poll(mailbox_id=mailbox.pk)
    assert (again.imported, again.too_large, again.already_stored) == (0, 0, 0)
    mailbox.refresh_from_db()
    assert mailbox.too_large_total == 1


def test_mail_a_person_marked_deleted_is_neither_imported_nor_expunged(mail_world, smtp_sink, imap_account):
    imap_account.append(raw("Keep", message_id="<keep@r.example>"), raw("Binned", message_id="<binned@r.example>"))
    with imap_account.client() as client:
        client.select("INBOX")
        client.uid("STORE", "2", "+FLAGS", "(\\Deleted)")
    mailbox = add_mailbox(mail_world, imap_account)

    assert imap_mailbox_poll(mailbox_id=mailbox.pk).imported == 1

    assert Report.objects.get().title == "Keep"
    assert imap_account.search() == [1, 2] and imap_account.search("DELETED") == [2]


def test_the_client_refuses_a_literal_larger_than_the_limit_whatever_the_server_announced(imap_account):
    from vulndesk.mailintake.imap import ImapProblem, ImapSession, ImapTarget

    imap_account.append(raw("Big", "y" * 100_000))
    target = ImapTarget(host="127.0.0.1", port=imap_account.port, security="none", username=imap_account.username,
                        password=imap_account.password, timeout=5)
    # A session whose limit the message exceeds, fetching it without asking its size first, as if
    # the server had announced a small one: the client stops at the literal's announced length.
    with ImapSession(target, max_bytes=1024) as session:
        with pytest.raises(ImapProblem, match="more data than the message size it announced"):
            session.fetch("1")


def test_mail_older_than_the_import_date_is_left_alone(mail_world, smtp_sink, imap_account):
    from datetime import UTC, datetime

    with imap_account.client() as client:
        client.append("INBOX", None, datetime(2020, 5, 1, tzinfo=UTC), raw("Old mail", message_id="<old@r.example>"))
    imap_account.append(raw("New mail", message_id="<new@r.example>"))
    mailbox = add_mailbox(mail_world, imap_account, import_since=date(2024, 1, 1))

    assert imap_mailbox_poll(mailbox_id=mailbox.pk).imported == 1

    assert Report.objects.get().title == "New mail"
    assert imap_account.search(f"UNKEYWORD {IMPORTED_KEYWORD}") == [1]


# --- failures: recorded in our words, nothing lost ----------------------------------------------------

def test_a_wrong_password_is_recorded_clearly_and_the_mail_is_imported_once_it_is_fixed(
        mail_world, smtp_sink, imap_account):
    from vulndesk.mailintake.services import imap_mailbox_update

    imap_account.append(raw())
    mailbox = add_mailbox(mail_world, imap_account, password="not-the-password")

    outcome = imap_mailbox_poll(mailbox_id=mailbox.pk)

    assert (outcome.state, outcome.error) == ("failed", "The server refused the user name or password.")
    mailbox.refresh_from_db()
    assert (mailbox.last_result, mailbox.consecutive_failures) == ("failed", 1)
    assert mailbox.last_error == "The server refused the user name or password."
    assert "not-the-password" not in mailbox.last_error and not InboundMessage.objects.exists()
    assert imap_account.search(f"UNKEYWORD {IMPORTED_KEYWORD}") == [1]

    settings = MailboxSettings(name=mailbox.name, host="127.0.0.1", port=imap_account.port, security="none",
                               username=imap_account.username, password=PASSWORD, address=mail_world.address)
    imap_mailbox_update(actor=mail_world.owner, mailbox=mailbox, values=settings)
    assert imap_mailbox_poll(mailbox_id=mailbox.pk).imported == 1
    mailbox.refresh_from_db()
    assert (mailbox.last_result, mailbox.last_error, mailbox.consecutive_failures) == ("ok", "", 0)
    assert Report.objects.count() == 1


def test_a_missing_folder_is_named_as_the_problem(mail_world, imap_account):
    mailbox = add_mailbox(mail_world, imap_account, folder="Security Reports")

    outcome = imap_mailbox_poll(mailbox_id=mailbox.pk)

    assert outcome.state == "failed" and outcome.error.startswith("The folder to read does not exist on the server")


def test_a_missing_processed_folder_stops_the_poll_before_anything_is_fetched(mail_world, imap_account):
    imap_account.append(raw())
    mailbox = add_mailbox(mail_world, imap_account, processed_folder="Nowhere")

    outcome = imap_mailbox_poll(mailbox_id=mailbox.pk)

    assert outcome.error.startswith("The processed folder does not exist on the server")
    assert not InboundMessage.objects.exists() and imap_account.search(f"KEYWORD {IMPORTED_KEYWORD}") == []


def test_a_server_that_is_down_is_recorded_and_polls_back_off(mail_world, imap_account, frozen_clock):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    mailbox = add_mailbox(mail_world, imap_account, port=closed_port)

    outcome = imap_mailbox_poll(mailbox_id=mailbox.pk)

    assert outcome.error == "The server refused the connection: check the host and port."
    imap_mailbox_poll(mailbox_id=mailbox.pk)
    mailbox.refresh_from_db()
    assert mailbox.consecutive_failures == 2
    frozen_clock.advance(seconds=mailbox.poll_interval_seconds * 2)
    assert mailbox.pk not in imap_mailboxes_due_ids()  # twice the wait after two failures: 4x
    frozen_clock.advance(seconds=mailbox.poll_interval_seconds * 2)
    assert mailbox.pk in imap_mailboxes_due_ids()


def test_an_intake_address_that_no_longer_takes_mail_stops_the_poll_before_fetching(mail_world, imap_account):
    from vulndesk.mailintake.services import intake_address_deactivate

    imap_account.append(raw())
    mailbox = add_mailbox(mail_world, imap_account)
    intake_address_deactivate(actor=mail_world.owner, address=mail_world.address)

    outcome = imap_mailbox_poll(mailbox_id=mailbox.pk)

    assert outcome.error.startswith("Its intake address no longer accepts mail")
    assert imap_account.search(f"UNKEYWORD {IMPORTED_KEYWORD}") == [1] and not InboundMessage.objects.exists()


# --- the lease, the scheduler and the command ------------------------------------------------------

def test_a_mailbox_being_polled_by_a_live_poller_is_not_polled_twice_but_a_dead_pollers_lease_is_taken_over(
        mail_world, smtp_sink, imap_account):
    imap_account.append(raw())
    mailbox = add_mailbox(mail_world, imap_account)
    host = socket.gethostname()[:60]
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        ImapMailbox.objects.filter(pk=mailbox.pk).update(lease_token=f"{host}:{alive.pid}:a",
                                                         lease_expires_at=clock.now() + timedelta(minutes=5))
        assert imap_mailbox_poll(mailbox_id=mailbox.pk).state == "busy"
        ImapMailbox.objects.filter(pk=mailbox.pk).update(lease_token=f"elsewhere:{dead.pid}:b")
        assert imap_mailbox_poll(mailbox_id=mailbox.pk).state == "busy"  # another host: wait for the expiry
        ImapMailbox.objects.filter(pk=mailbox.pk).update(lease_token=f"{host}:{dead.pid}:c")
        assert imap_mailbox_poll(mailbox_id=mailbox.pk).imported == 1
        ImapMailbox.objects.filter(pk=mailbox.pk).update(lease_token=f"elsewhere:{os.getpid()}:d",
                                                         lease_expires_at=clock.now() - timedelta(seconds=1))
        assert imap_mailbox_poll(mailbox_id=mailbox.pk).state == "ok"  # expired
    finally:
        alive.kill()
        alive.wait()
    assert Report.objects.count() == 1


def test_the_scheduler_polls_mailboxes_whose_interval_has_passed(mail_world, smtp_sink, imap_account, frozen_clock):
    assert imap_poll_due in PERIODIC_TASKS
    mailbox = add_mailbox(mail_world, imap_account)
    add_mailbox(mail_world, imap_account, name="stopped").__class__.objects.filter(name="stopped").update(
        is_enabled=False)
    imap_account.append(raw())

    imap_poll_due.enqueue()  # the test settings run tasks in place

    assert Report.objects.count() == 1
    imap_account.append(raw("Later", message_id="<later@r.example>"))
    frozen_clock.advance(seconds=mailbox.poll_interval_seconds - 1)
    imap_poll_due.enqueue()
    assert Report.objects.count() == 1
    frozen_clock.advance(seconds=1)
    imap_poll_due.enqueue()
    assert Report.objects.count() == 2


def test_the_command_polls_once_and_says_what_it_did(mail_world, smtp_sink, imap_account, capsys):
    imap_account.append(raw())
    mailbox = add_mailbox(mail_world, imap_account)

    call_command("imap_poll", "--once", "--mailbox", str(mailbox.pk))

    assert f"mailbox {mailbox.pk}: imported 1, already stored 0, too large 0" in capsys.readouterr().out
    assert Report.objects.count() == 1


def test_the_command_fails_clearly_for_an_unknown_mailbox_and_bad_options(mail_world):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="could not be polled"):
        call_command("imap_poll", "--once", "--mailbox", "999999")
    with pytest.raises(CommandError, match="--batch takes 1 to 1000"):
        call_command("imap_poll", "--once", "--batch", "0")


def test_the_command_has_a_useful_help():
    result = subprocess.run([sys.executable, "-m", "vulndesk.cli", "imap_poll", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    for words in ("--mailbox", "--once", "--batch", "$VulndeskImported", "Message-ID"):
        assert words in result.stdout
