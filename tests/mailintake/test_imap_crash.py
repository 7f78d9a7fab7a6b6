"""A poller killed in the middle of a batch (SIGKILL: no cleanup, no lease release) and started
again: every message in the mailbox becomes exactly one stored message, one report and one
acknowledgement, and every message ends up marked on the server."""

import signal
import subprocess
import sys
import time

import pytest

from tests.mailintake.conftest import REPORTER, command_environment, database_on_disk, mail, sent_to, wire
from tests.mailintake.test_imap_polling import add_mailbox
from vulndesk.mailintake.imap import IMPORTED_KEYWORD

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = 30


def stored_count(database) -> int:
    return database.rows("select count(*) from mailintake_inboundmessage")[0][0]


def test_a_poller_killed_mid_batch_and_restarted_imports_every_message_exactly_once(
        mail_world, smtp_sink, imap_account, settings, tmp_path):
    # Large enough (300 KB) to go to the encrypted file store: a batch takes long enough to be
    # killed in the middle of.
    padding = "A line of the attached trace, kept to make the message large.\n" * 5000
    imap_account.append(*[wire(mail(f"Finding {n}", f"Finding {n}.\n{padding}", message_id=f"<kill-{n}@reporter.example>"))
                          for n in range(MESSAGES)])
    mailbox = add_mailbox(mail_world, imap_account)
    database = database_on_disk(tmp_path / "poller.sqlite3")
    environment = command_environment(database, settings, smtp_sink)
    command = [sys.executable, "-m", "vulndesk.cli", "imap_poll", "--once", "--mailbox", str(mailbox.pk),
               "--batch", "3"]

    poller = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while stored_count(database) < 6 and poller.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    poller.send_signal(signal.SIGKILL)
    poller.communicate(timeout=30)
    at_kill = stored_count(database)
    unmarked_at_kill = imap_account.search(f"UNKEYWORD {IMPORTED_KEYWORD}")
    assert poller.returncode == -signal.SIGKILL
    assert 6 <= at_kill < MESSAGES and len(unmarked_at_kill) > MESSAGES - at_kill - 1  # killed mid-poll

    restarted = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)

    assert restarted.returncode == 0, restarted.stderr[-2000:]
    assert imap_account.search(f"UNKEYWORD {IMPORTED_KEYWORD}") == []
    assert database.rows("select count(*), count(distinct idempotency_key), count(distinct sha256) "
                         "from mailintake_inboundmessage where source = 'imap'") == [(MESSAGES, MESSAGES, MESSAGES)]
    assert database.rows("select lease_token from mailintake_imapmailbox") == [("",)]
    # Whatever the restarted poller fetched again was recognised, not stored twice.
    summary = restarted.stdout.strip()
    imported = int(summary.split("imported ")[1].split(",")[0])
    already = int(summary.split("already stored ")[1].split(",")[0])
    assert imported == MESSAGES - at_kill and already >= 0

    # Processing was queued with each batch (on the site's database task queue); run it as the
    # worker or `vulndesk mail_process` would after the crash.
    processed = subprocess.run([sys.executable, "-m", "vulndesk.cli", "mail_process"], env=environment,
                               capture_output=True, text=True, timeout=180)
    assert processed.returncode == 0, processed.stderr[-2000:]
    assert processed.stdout.strip() == f"reported: {MESSAGES}"
    assert database.rows("select count(*) from reports_report") == [(MESSAGES,)]
    assert database.rows("select count(distinct report_id) from mailintake_inboundmessage") == [(MESSAGES,)]
    acknowledgements = sent_to(smtp_sink, REPORTER)
    assert len(acknowledgements) == MESSAGES
    assert sorted(int(m["Subject"].split("Finding ")[1]) for m in acknowledgements) == list(range(MESSAGES))
