"""Nothing lost, nothing doubled: a message stored but not processed (the worker died) is
processed exactly once after a restart, also by two processes at once; a failure in the middle
of processing leaves nothing half-imported."""

import subprocess
import sys
from datetime import timedelta

import pytest

from tests.mailintake.conftest import (
    REPORTER,
    command_environment,
    database_on_disk,
    mail,
    png_bytes,
    sent_to,
)
from vulndesk.attachments.models import Attachment
from vulndesk.mailintake.models import InboundMessage, InboundState
from vulndesk.mailintake.server import MailServer
from vulndesk.mailintake.services import inbound_process, mail_sweep
from vulndesk.reports.models import Report, TimelineEvent

pytestmark = pytest.mark.django_db(transaction=True)

NO_WORKER = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def report_mail():
    message = mail("Auth bypass in /admin", "Send X-Admin: 1.", message_id="<crash@reporter.example>")
    message.add_attachment(png_bytes(), maintype="image", subtype="png", filename="proof.png")
    return message


@pytest.fixture
def stored_unprocessed(mail_world, smtp_sink, settings):
    """A message accepted by SMTP (so durably stored) whose processing never ran: the queue
    lost the task, as when the worker is killed between the two steps."""
    settings.TASKS = NO_WORKER
    server = MailServer(host="127.0.0.1", port=0).start()
    try:
        from tests.mailintake.conftest import Mailer

        Mailer(server.port).send(report_mail())
    finally:
        server.stop()
    stored = InboundMessage.objects.get()
    assert stored.state == InboundState.STORED and not Report.objects.exists() and smtp_sink.messages == []
    return stored


def test_a_stored_message_is_processed_exactly_once_by_two_processes_started_at_once_after_a_restart(
        stored_unprocessed, smtp_sink, settings, tmp_path):
    # The restart: the database as it is on disk, and two `vulndesk mail_process` started together.
    database = database_on_disk(tmp_path / "after-crash.sqlite3")
    environment = command_environment(database, settings, smtp_sink)
    processes = [subprocess.Popen([sys.executable, "-m", "vulndesk.cli", "mail_process"], env=environment,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    # One files it; the other either met it already filed ("done") or, started later on a busy
    # machine, found nothing pending at all. Never both "reported".
    said = [out.decode().strip() for out, _ in outputs]
    assert said.count("reported: 1") == 1, said
    assert [line for line in said if line != "reported: 1"][0] in {"done: 1", "nothing to do"}, said

    assert database.rows("select state from mailintake_inboundmessage") == [("reported",)]
    assert database.rows("select count(*) from reports_report") == [(1,)]
    assert database.rows("select count(*) from attachments_attachment") == [(1,)]
    assert database.rows("select count(*) from audit_auditentry where action = 'report.create'") == [(1,)]
    assert len(sent_to(smtp_sink, REPORTER)) == 1


def test_processing_the_same_stored_message_again_and_again_files_one_report_and_one_acknowledgement(
        stored_unprocessed, smtp_sink):
    assert inbound_process(message_id=stored_unprocessed.pk) == InboundState.REPORTED
    assert inbound_process(message_id=stored_unprocessed.pk) == "done"
    assert mail_sweep(older_than=timedelta(0)).processed == 0
    assert Report.objects.count() == 1 and Attachment.objects.count() == 1
    assert len(sent_to(smtp_sink, REPORTER)) == 1


def test_a_failure_in_the_middle_of_processing_leaves_nothing_half_imported(stored_unprocessed, smtp_sink, settings,
                                                                           tmp_path):
    # The attachment store is unusable (a file where its directory should be): the report is
    # created first, then writing its attachment fails.
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    good_root, settings.ATTACHMENT_ROOT = settings.ATTACHMENT_ROOT, blocker / "attachments"

    assert inbound_process(message_id=stored_unprocessed.pk) == "failed"
    stored_unprocessed.refresh_from_db()
    assert (stored_unprocessed.state, stored_unprocessed.attempts) == (InboundState.STORED, 1)
    assert not Report.objects.exists() and not Attachment.objects.exists() and not TimelineEvent.objects.exists()
    assert smtp_sink.messages == []
    mail_world_organisation = stored_unprocessed.organisation
    mail_world_organisation.refresh_from_db()
    assert mail_world_organisation.last_report_number == 0  # not even a number was used up

    settings.ATTACHMENT_ROOT = good_root
    assert inbound_process(message_id=stored_unprocessed.pk) == InboundState.REPORTED
    report = Report.objects.get()
    assert report.number == 1 and Attachment.objects.filter(report=report).count() == 1
    assert len(sent_to(smtp_sink, REPORTER)) == 1


def test_a_message_that_keeps_failing_goes_to_quarantine_and_is_kept(stored_unprocessed, settings, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    settings.ATTACHMENT_ROOT = blocker / "attachments"
    results = [inbound_process(message_id=stored_unprocessed.pk) for _ in range(4)]
    assert results == ["failed", "failed", "failed", "done"]
    stored_unprocessed.refresh_from_db()
    assert stored_unprocessed.state == InboundState.QUARANTINED
    assert "failed 3 times" in stored_unprocessed.reason and stored_unprocessed.size > 0


def test_an_acknowledgement_that_could_not_be_sent_is_sent_again_by_the_sweep_without_the_link(
        mail_server, smtp_sink, settings):
    from vulndesk.mailintake.models import AcknowledgementState
    from vulndesk.mailintake.server import free_port

    settings.EMAIL_PORT = free_port()  # the outgoing mail server is down
    mail_server.send(mail("Open redirect", "next= accepts any host."))
    stored = InboundMessage.objects.get()
    assert (stored.state, stored.acknowledgement) == (InboundState.REPORTED, AcknowledgementState.FAILED)

    settings.EMAIL_PORT = smtp_sink.port
    assert mail_sweep().acknowledgements_retried == 1
    assert mail_sweep().acknowledgements_retried == 0
    [acknowledgement] = sent_to(smtp_sink, REPORTER)
    report = Report.objects.get()
    assert acknowledgement["Subject"] == f"Re: [{report.reference}] Open redirect"
    body = acknowledgement.get_content()
    assert "/track/" not in body and "could not be delivered" in body and report.reference in body
