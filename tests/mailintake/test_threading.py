"""Threading both ways: the reporter's replies join the report's thread (by headers or by the
reply address), strangers are held for staff, and staff replies leave as threaded e-mail."""

import pytest

from tests.factories.core import make_report, verified_login
from tests.mailintake.conftest import REPORTER, mail, sent_to
from vulndesk.mailintake.models import InboundMessage, InboundState, OutboundMail
from vulndesk.reports.models import Message, Report

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def filed(mail_server, smtp_sink):
    """A report filed by e-mail, and the acknowledgement the reporter received."""
    mail_server.send(mail("Stored XSS in profile", "Name field is not escaped.",
                          message_id="<root@reporter.example>"))
    [ack] = sent_to(smtp_sink, REPORTER)
    return Report.objects.get(), ack


def staff_post(client, mail_world, report, body: str, *, internal: bool = False) -> Message:
    staff = verified_login(client, mail_world.triager.user)
    data = {"body": body, **({"is_internal": "on"} if internal else {})}
    response = staff.post(f"/o/acme/reports/{report.number}/messages/", data)
    assert response.status_code == 302
    return Message.objects.filter(report=report).latest("id")


def test_a_reply_to_the_acknowledgement_is_added_to_the_thread_and_files_no_new_report(filed, mail_server,
                                                                                      smtp_sink):
    report, ack = filed
    mail_server.send(mail("Re: " + ack["Subject"], "One more detail: it also works in the bio field.",
                          In_Reply_To=ack["Message-ID"], References=f"<root@reporter.example> {ack['Message-ID']}"))
    assert Report.objects.count() == 1
    [message] = report.messages.all()
    assert message.is_from_reporter and message.body == "One more detail: it also works in the bio field."
    assert InboundMessage.objects.latest("id").state == InboundState.APPENDED
    assert len(smtp_sink.messages) == 1  # a reply is not acknowledged again


def test_a_reply_to_the_reply_address_without_threading_headers_is_added_to_the_thread(filed, mail_server):
    report, ack = filed
    reply_to = ack["Reply-To"].addresses[0].addr_spec
    mail_server.send(mail("A new mail, not a reply", "Here is the CVSS vector I forgot.", to=reply_to), to=reply_to)
    assert Report.objects.count() == 1
    assert report.messages.get().body == "Here is the CVSS vector I forgot."


def test_a_stranger_writing_to_a_reply_address_is_held_for_staff_who_approve_or_reject(filed, mail_server, client,
                                                                                      mail_world):
    report, ack = filed
    reply_to = ack["Reply-To"].addresses[0].addr_spec
    for n in (1, 2):
        mail_server.send(mail(f"Re: your report {n}", f"I am not the reporter ({n}).", sender="mallory@evil.example",
                              to=reply_to), mail_from="mallory@evil.example", to=reply_to)
    held = list(InboundMessage.objects.filter(state=InboundState.HELD).order_by("id"))
    assert len(held) == 2 and all(m.report == report for m in held)
    assert not report.messages.exists()  # not appended silently

    staff = verified_login(client, mail_world.triager.user)
    assert f"/o/acme/mail/messages/{held[0].pk}/" in staff.get("/o/acme/mail/?view=held").content.decode()
    staff.post(f"/o/acme/mail/messages/{held[0].pk}/approve/")
    staff.post(f"/o/acme/mail/messages/{held[1].pk}/reject/")
    assert [m.body for m in report.messages.all()] == ["I am not the reporter (1)."]
    states = [m.state for m in InboundMessage.objects.filter(pk__in=[h.pk for h in held]).order_by("id")]
    assert states == [InboundState.APPROVED, InboundState.REJECTED]


def test_a_reply_by_headers_from_a_stranger_is_held_too(filed, mail_server):
    report, ack = filed
    mail_server.send(mail("Re: leak", "Adding myself to this thread.", sender="mallory@evil.example",
                          In_Reply_To=ack["Message-ID"]), mail_from="mallory@evil.example")
    assert InboundMessage.objects.latest("id").state == InboundState.HELD
    assert not report.messages.exists()


def test_a_staff_reply_goes_out_threaded_and_the_reporters_answer_threads_back(filed, mail_server, smtp_sink, client,
                                                                               mail_world, message_posted):
    report, ack = filed
    posted = staff_post(client, mail_world, report, "Thanks! Which browser did you use?")
    message_posted.send(sender=Message, message_id=posted.pk, report_id=report.pk)

    [_, reply] = sent_to(smtp_sink, REPORTER)
    assert reply["Subject"] == f"Re: [{report.reference}] Stored XSS in profile"
    assert reply["In-Reply-To"] == "<root@reporter.example>"
    assert "<root@reporter.example>" in reply["References"] and ack["Message-ID"] in reply["References"]
    assert reply["Reply-To"] == ack["Reply-To"]
    assert reply.get_content().startswith("Thanks! Which browser did you use?")
    assert reply["Auto-Submitted"] is None  # a person wrote it
    assert OutboundMail.objects.get(message=posted).state == OutboundMail.State.SENT

    message_posted.send(sender=Message, message_id=posted.pk, report_id=report.pk)  # a duplicate signal
    assert len(sent_to(smtp_sink, REPORTER)) == 2

    mail_server.send(mail("Re: " + reply["Subject"], "Firefox 140.", In_Reply_To=reply["Message-ID"],
                          References=reply["References"] + " " + reply["Message-ID"]))
    assert [m.body for m in report.messages.all()] == ["Thanks! Which browser did you use?", "Firefox 140."]


def test_an_internal_note_never_leaves_by_mail(filed, smtp_sink, client, mail_world, message_posted):
    report, _ = filed
    note = staff_post(client, mail_world, report, "Looks like CVE-2026-1234 again.", internal=True)
    message_posted.send(sender=Message, message_id=note.pk, report_id=report.pk)
    assert len(smtp_sink.messages) == 1  # the acknowledgement only
    assert not OutboundMail.objects.exists()


def test_a_staff_reply_on_a_web_form_report_is_not_mailed(mail_world, smtp_sink, client, message_posted):
    report = make_report(mail_world.product, reporter_email="web@reporter.example").report
    posted = staff_post(client, mail_world, report, "Question for you on the tracking page.")
    message_posted.send(sender=Message, message_id=posted.pk, report_id=report.pk)
    assert smtp_sink.messages == []


def test_a_staff_reply_whose_signal_was_lost_is_mailed_by_the_sweep(filed, smtp_sink, client, mail_world):
    from vulndesk.mailintake.services import mail_sweep
    from vulndesk.reports.services import message_posted

    report, _ = filed
    receivers = message_posted.receivers[:]
    message_posted.receivers.clear()  # the signal is lost (a worker died between commit and send)
    try:
        staff_post(client, mail_world, report, "Sent while the queue was down.")
    finally:
        message_posted.receivers[:] = receivers
        message_posted.sender_receivers_cache.clear()
    assert mail_sweep().replies_sent == 1
    assert mail_sweep().replies_sent == 0
    assert sent_to(smtp_sink, REPORTER)[-1].get_content().startswith("Sent while the queue was down.")


def test_quoted_history_and_signature_are_folded_in_display_and_kept_in_full(filed, mail_server, client,
                                                                            mail_world):
    report, ack = filed
    body = ("Yes, confirmed on 2.4.1.\n\nOn Mon, 23 Nov 2026 at 10:00, Acme <security@acme.test> wrote:\n"
            "> Thanks! Which version?\n> -- \n> Acme security team\n\n-- \nAlice Reporter\nhttps://alice.example")
    mail_server.send(mail("Re: version", body, In_Reply_To=ack["Message-ID"]))
    assert report.messages.get().body == body  # stored whole

    page = verified_login(client, mail_world.triager.user).get(f"/o/acme/mail/reports/{report.number}/")
    html = page.content.decode()
    assert '<div class="body">Yes, confirmed on 2.4.1.</div>' in html
    assert "<summary class=\"muted\">Quoted text</summary>" in html and "&gt; Thanks! Which version?" in html
    assert "<summary class=\"muted\">Signature</summary>" in html
