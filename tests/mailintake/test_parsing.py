"""The pure rules of the mail intake: reading hostile mail, machine-mail detection, folding,
addresses and outgoing headers. No database, no network."""

from email.message import EmailMessage

import pytest

from vulndesk.mailintake.addresses import message_ids, one_line, recipient_parts
from vulndesk.mailintake.folding import fold_quoted
from vulndesk.mailintake.mails import mail_subject, threading_headers
from vulndesk.mailintake.parsing import Unparseable, html_to_text, parse_mail


def raw(headers: str, body: bytes = b"body\r\n") -> bytes:
    return headers.replace("\n", "\r\n").encode() + b"\r\n" + body


def test_html_keeps_text_and_link_targets_and_drops_scripts_styles_and_markup():
    text = html_to_text("<style>b{}</style><script>document.cookie</script><iframe>x</iframe>"
                        "<p>Hello&nbsp;<b>world</b> &amp; <a href='javascript:alert(1)'>click</a> "
                        "<a href='https://e.example/x'>docs</a></p><ul><li>one</li><li>two</li></ul>")
    assert text == "Hello world & click docs <https://e.example/x>\n\n- one\n- two"


def test_html_entities_are_decoded_once_so_escaped_markup_stays_text():
    assert html_to_text("<p>&amp;lt;script&amp;gt; and &lt;img src=x onerror=alert(1)&gt;</p>") == \
        "&lt;script&gt; and <img src=x onerror=alert(1)>"


def test_an_attachment_name_with_encoded_traversal_comes_out_literally():
    message = EmailMessage()
    message["From"], message["Subject"] = "a@b.example", "files"
    message.set_content("see attached")
    message.add_attachment(b"data", maintype="text", subtype="plain", filename="%252e%252e%252fetc%252fpasswd")
    parsed = parse_mail(message.as_bytes(), envelope_from="a@b.example")
    assert [a.name for a in parsed.attachments] == ["%252e%252e%252fetc%252fpasswd"]


def test_a_raw_8bit_subject_is_read_as_utf8_and_line_breaks_never_survive_in_it():
    parsed = parse_mail(raw("From: a@b.example\nSubject: Überlauf im Parser\u2028Bcc: x@y.example",
                            b"Text"), envelope_from="a@b.example")
    assert parsed.subject == "Überlauf im Parser Bcc: x@y.example"


def test_the_html_twin_of_a_plain_body_is_not_appended_but_a_second_text_part_is():
    message = EmailMessage()
    message["From"], message["Subject"] = "a@b.example", "s"
    message.set_content("plain version")
    message.add_alternative("<p>html version</p>", subtype="html")
    parsed = parse_mail(message.as_bytes(), envelope_from="a@b.example")
    assert (parsed.text, parsed.body_was_html, parsed.attachments) == ("plain version", False, [])


def test_a_nul_byte_and_other_controls_are_removed_from_the_text():
    parsed = parse_mail(raw("From: a@b.example\nSubject: s", b"a\x00b\x1bc\td\r\n"), envelope_from="a@b.example")
    assert parsed.text == "abc\td"


@pytest.mark.parametrize(("message", "reason"), [
    (b"", "empty"),
    (b"\x00\x01\x02 not a mail at all", "no mail headers"),
    (raw('From: a@b.example\nSubject: s\nContent-Type: multipart/mixed; boundary="X"'), "MIME structure"),
    (raw("From: a@b.example\nSubject: s\nContent-Type: multipart/mixed"), "MIME structure"),
])
def test_unreadable_messages_are_refused_with_a_reason_in_our_words(message, reason):
    with pytest.raises(Unparseable, match=reason):
        parse_mail(message, envelope_from="a@b.example")


@pytest.mark.parametrize(("headers", "envelope_from", "automatic"), [
    ("Auto-Submitted: no", "a@b.example", False),
    ("Auto-Submitted: auto-generated", "a@b.example", True),
    ("Precedence: junk", "a@b.example", True),
    ("Precedence: first-class", "a@b.example", False),
    ("X-Auto-Reply: yes", "a@b.example", True),
    ("X-Mailer: Thunderbird", "MAILER-DAEMON@mx.example", True),
    ("X-Mailer: Thunderbird", "a@b.example", False),
])
def test_machine_mail_is_recognised_by_its_headers_and_envelope(headers, envelope_from, automatic):
    parsed = parse_mail(raw(f"From: a@b.example\nSubject: s\n{headers}"), envelope_from=envelope_from)
    assert bool(parsed.automatic_reason) is automatic


def test_authentication_failures_are_read_from_authentication_results_and_received_spf():
    parsed = parse_mail(raw("From: a@b.example\nSubject: s\n"
                            "Authentication-Results: mx.example; spf=pass smtp.mailfrom=b.example; dkim=fail; "
                            "dmarc=fail\nReceived-SPF: softfail (domain does not designate)"), envelope_from="a@b.example")
    assert parsed.authentication_failures == ["dkim=fail", "dmarc=fail", "spf=softfail"]


def test_from_falls_back_to_the_envelope_sender_when_unusable():
    parsed = parse_mail(raw("From: not an address\nSubject: s"), envelope_from="real@sender.example")
    assert parsed.sender_address == "real@sender.example"


def test_folding_puts_quotes_history_and_signature_into_folded_segments_and_keeps_every_line():
    text = ("Confirmed.\n\nOn Tue, 24 Nov 2026, Team <t@acme.test> wrote:\n> Can you confirm?\n>\n> thanks\n"
            "\nMore below the quote.\n-- \nAlice\n\n-----Original Message-----\nFrom: x\nold text")
    segments = fold_quoted(text)
    assert [(s.folded, s.label) for s in segments] == [
        (False, ""), (True, "Quoted text"), (False, ""), (True, "Signature"), (True, "Earlier messages")]
    assert segments[1].text.startswith("On Tue") and segments[1].text.endswith("> thanks")
    assert "\n".join(s.text for s in segments).count("\n") >= text.strip().count("\n") - 3


def test_a_long_text_after_a_dash_line_is_not_taken_for_a_signature():
    text = "Intro\n--\n" + "\n".join(f"step {n}" for n in range(30))
    assert [s.folded for s in fold_quoted(text)] == [False]


@pytest.mark.parametrize(("address", "parts"), [
    ("Security@Acme.TEST", ("security", "", "acme.test")),
    ("security+web@acme.test", ("security", "web", "acme.test")),
    ("security+r-abc@acme.test", ("security", "r-abc", "acme.test")),
    ('"odd local"@acme.test', None),
    ("security@[127.0.0.1]", None),
    ("security@acme", None),
])
def test_recipients_split_into_base_tag_and_domain(address, parts):
    result = recipient_parts(address)
    assert (result and (result.local, result.tag, result.domain)) == parts


def test_outgoing_threading_headers_carry_only_well_formed_message_ids():
    headers = threading_headers(message_id="<new@acme.test>", parent="<p@r.example>\r\nBcc: evil@x.example",
                                references=["junk", "<a@r.example>", "<p@r.example>"])
    assert headers == {"Message-ID": "<new@acme.test>", "In-Reply-To": "<p@r.example>",
                       "References": "<a@r.example> <p@r.example>"}
    assert message_ids("<" + "a" * 300 + "@x>") == []


def test_the_subject_names_the_report_once_and_cannot_carry_a_header():
    assert mail_subject("ACME-7", "Re: [ACME-7] Fwd: XSS\r\nBcc: x@y.example") == "Re: [ACME-7] XSS Bcc: x@y.example"
    assert one_line("a\u202eb\nc") == "a b c"
