"""The stored originals under key rotation, and ``vulndesk smtpd`` as a process of its own."""

import os
import signal
import smtplib
import subprocess
import sys

import pytest

from tests.mailintake.conftest import REPORTER, database_on_disk, mail, receive, sent_to, wire
from vulndesk.mailintake.models import InboundState
from vulndesk.mailintake.server import MailServer, free_port
from vulndesk.mailintake.services import inbound_raw
from vulndesk.organisations.rotation import organisation_keys_rotate

pytestmark = pytest.mark.django_db(transaction=True)


def test_key_rotation_reencrypts_stored_originals_in_the_database_and_in_files(mail_world, smtp_sink, settings):
    settings.MAIL_INTAKE_INLINE_MAX_BYTES = 4096
    small, big = mail("Small", "short"), mail("Big", "a long log line\n" * 1000)
    small_row, big_row = receive(small), receive(big)
    old_file = settings.ATTACHMENT_ROOT / big_row.storage_key[:2] / big_row.storage_key
    assert big_row.raw_blob is None and old_file.exists()

    result = organisation_keys_rotate(organisation_id=mail_world.organisation.pk, settle_seconds=0)

    small_row.refresh_from_db()
    big_row.refresh_from_db()
    assert small_row.key_version == big_row.key_version == result.new_version
    assert inbound_raw(small_row) == wire(small) and inbound_raw(big_row) == wire(big)
    assert not old_file.exists()
    assert small_row.subject == "Small" and small_row.sealed_envelope.startswith(f"v1.{result.new_version}.")


@pytest.fixture
def crashed_database(mail_world, smtp_sink, settings, tmp_path):
    """The database on disk after a crash that left one message stored and unprocessed."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    server = MailServer(host="127.0.0.1", port=0).start()
    try:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as client:
            client.sendmail(REPORTER, ["security@acme.test"], wire(mail("Left over", "Stored before the crash.")))
    finally:
        server.stop()
    return database_on_disk(tmp_path / "vulndesk.sqlite3")


def test_the_smtpd_command_listens_where_told_and_processes_what_a_crash_left_at_start(
        crashed_database, smtp_sink, settings):
    port = free_port()
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "vulndesk.settings", "VULNDESK_ENV": "test",
                   "DATABASE_URL": crashed_database.url, "VULNDESK_DATA_DIR": str(settings.DATA_DIR),
                   "ATTACHMENT_ROOT": str(settings.ATTACHMENT_ROOT), "EMAIL_HOST": "127.0.0.1",
                   "EMAIL_PORT": str(smtp_sink.port), "LOG_LEVEL": "WARNING"}
    environment.pop("EMAIL_BACKEND", None)
    process = subprocess.Popen([sys.executable, "-m", "vulndesk.cli", "smtpd", "--host", "127.0.0.1", "--port",
                                str(port)], env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = process.stdout.readline()
        assert f"smtp://127.0.0.1:{port}/" in banner and "25 MB" in banner
        assert len(smtp_sink.wait_for(1)) == 1  # the leftover, processed at start
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.sendmail(REPORTER, ["security@acme.test"], wire(mail("After restart", "A new report.")))
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                client.sendmail(REPORTER, ["nobody@acme.test"], wire(mail("Lost", "To nobody.")))
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert sorted(m["Subject"] for m in sent_to(smtp_sink, REPORTER)) == [
        "Re: [ACME-1] Left over", "Re: [ACME-2] After restart"]
    assert crashed_database.rows("select state from mailintake_inboundmessage order by id") == [
        (InboundState.REPORTED,), (InboundState.REPORTED,)]


def test_the_smtpd_command_explains_itself():
    result = subprocess.run([sys.executable, "-m", "vulndesk.cli", "smtpd", "--help"], capture_output=True, text=True,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": "vulndesk.settings_test"}, timeout=60)
    assert result.returncode == 0
    assert "--host" in result.stdout and "--port" in result.stdout and "550" in result.stdout
