"""A batch of stored messages (what one SMTP commit queued as one task) is processed one message
per transaction, each acknowledged as soon as its report is committed, over one SMTP connection;
the acknowledgement marks are written with the next message's transaction or at the end, and
none is lost when a message in between fails. The reporters' mailbox here is a real aiosmtpd
server that also records which client connection each mail came over."""

import threading
from email import message_from_bytes, policy

import pytest

from tests.mailintake.conftest import mail, png_bytes, receive
from vulndesk.mailintake.models import AcknowledgementState, InboundMessage, InboundState
from vulndesk.mailintake.server import free_port
from vulndesk.mailintake.services import mail_sweep
from vulndesk.mailintake.services.inbound import inbound_process_batch
from vulndesk.mailintake.tasks import process_inbound_messages
from vulndesk.reports.models import Report

pytestmark = pytest.mark.django_db(transaction=True)

NO_WORKER = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


class Mailbox:
    """aiosmtpd on loopback keeping each mail with the client port it came from; recipients in
    ``refused`` are refused at RCPT (550), as a mail server refuses an unknown mailbox."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.mails: list[dict] = []
        self.refused: set[str] = set()
        self.lock = threading.Lock()
        self.port = free_port()
        box = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                if address in box.refused:
                    return "550 5.1.1 No such mailbox"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                with box.lock:
                    box.mails.append({"to": list(envelope.rcpt_tos), "peer": session.peer,
                                      "message": message_from_bytes(envelope.content, policy=policy.default)})
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def to(self, address: str) -> list:
        return [item for item in self.mails if address in item["to"]]


@pytest.fixture
def mailbox(settings):
    box = Mailbox()
    box.controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", box.port, False
    yield box
    box.controller.stop()


def reporter(n: int) -> str:
    return f"reporter{n}@reporters.example"


@pytest.fixture
def stored(mail_world, mailbox, settings):
    """Four messages from four reporters, stored, their processing not yet run."""
    settings.TASKS = NO_WORKER

    def store(n: int, *, attachment: bool = False) -> int:
        message = mail(f"Report {n}: XSS in /profile", f"Payload {n}: <script>alert(1)</script>",
                       sender=f"Reporter {n} <{reporter(n)}>", message_id=f"<batch-{n}@reporters.example>")
        if attachment:
            message.add_attachment(png_bytes(), maintype="image", subtype="png", filename="proof.png")
        return receive(message, mail_from=reporter(n)).pk

    return store


def test_a_batch_files_each_report_and_acknowledges_each_once_with_its_link_over_one_connection(stored, mailbox):
    ids = [stored(n) for n in range(4)]
    assert InboundMessage.objects.filter(state=InboundState.STORED).count() == 4 and mailbox.mails == []

    assert process_inbound_messages.call(message_ids=ids) == {InboundState.REPORTED: 4}

    assert Report.objects.count() == 4
    for n, message in enumerate(InboundMessage.objects.filter(pk__in=ids).order_by("pk")):
        assert (message.state, message.acknowledgement) == (InboundState.REPORTED, AcknowledgementState.SENT)
        assert message.acknowledged_at is not None
        [acknowledgement] = mailbox.to(reporter(n))
        assert message.report.reference in acknowledgement["message"]["Subject"]
        assert "/track/" in acknowledgement["message"].get_content()
    assert len({item["peer"] for item in mailbox.mails}) == 1  # one connection for the batch

    # The same task again (a retry, a second worker): nothing more is filed or sent.
    assert inbound_process_batch(ids + ids[:1]) == ["done"] * 5
    assert Report.objects.count() == 4 and len(mailbox.mails) == 4


def test_a_refused_acknowledgement_in_a_batch_is_marked_failed_and_sent_again_by_the_sweep(stored, mailbox):
    ids = [stored(n) for n in range(3)]
    mailbox.refused = {reporter(1)}

    assert inbound_process_batch(ids) == [InboundState.REPORTED] * 3

    marks = dict(InboundMessage.objects.filter(pk__in=ids).values_list("pk", "acknowledgement"))
    assert marks == {ids[0]: AcknowledgementState.SENT, ids[1]: AcknowledgementState.FAILED,
                     ids[2]: AcknowledgementState.SENT}
    assert [len(mailbox.to(reporter(n))) for n in range(3)] == [1, 0, 1]

    mailbox.refused = set()
    assert mail_sweep().acknowledgements_retried == 1
    assert mail_sweep().acknowledgements_retried == 0
    assert [len(mailbox.to(reporter(n))) for n in range(3)] == [1, 1, 1]
    [retried] = mailbox.to(reporter(1))
    assert "/track/" not in retried["message"].get_content()  # its token was never stored
    assert InboundMessage.objects.get(pk=ids[1]).acknowledgement == AcknowledgementState.SENT


@pytest.mark.parametrize("failing", [1, 2], ids=["in the middle", "last"])
def test_a_message_failing_in_a_batch_loses_no_acknowledgement_mark_of_the_others(stored, mailbox, settings,
                                                                                tmp_path, failing):
    # The one message with an attachment fails: its attachment cannot be written. Its
    # transaction also carried the marks of the acknowledgements sent before it.
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    settings.ATTACHMENT_ROOT = blocker / "attachments"
    ids = [stored(n, attachment=n == failing) for n in range(3)]

    states = inbound_process_batch(ids)

    assert states == [("failed" if n == failing else InboundState.REPORTED) for n in range(3)]
    for n, message in enumerate(InboundMessage.objects.filter(pk__in=ids).order_by("pk")):
        if n == failing:
            assert (message.state, message.attempts, message.report_id) == (InboundState.STORED, 1, None)
            assert mailbox.to(reporter(n)) == []
        else:
            assert (message.state, message.acknowledgement) == (InboundState.REPORTED, AcknowledgementState.SENT)
            assert len(mailbox.to(reporter(n))) == 1
    assert Report.objects.count() == 2


def test_each_acknowledgement_goes_out_when_its_report_is_filed_not_at_the_end_of_the_batch(stored, mailbox,
                                                                                           monkeypatch):
    from vulndesk.mailintake.services import inbound

    ids = [stored(n) for n in range(3)]
    seen_when_processing: list[int] = []
    process = inbound._process

    def counting(message, parsed):
        # The real processing, noting how many acknowledgements had arrived before it began.
        seen_when_processing.append(len(mailbox.mails))
        return process(message, parsed)

    monkeypatch.setattr(inbound, "_process", counting)
    assert inbound_process_batch(ids) == [InboundState.REPORTED] * 3
    assert seen_when_processing == [0, 1, 2]
