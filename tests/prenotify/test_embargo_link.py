"""The recipient's private link, end to end: a real mail through the SMTP sink, the link read
out of it, the draft behind it until expiry, revocation or publication, and every view logged.
Opening the link (GET, as mail scanners do) shows only a button; its POST shows the draft and
is what counts as a view."""

import socket
from datetime import timedelta

import pytest

from tests.prenotify.conftest import DRAFT_SUMMARY, PACKAGE, embargo_url, link_token
from vulndesk.advisories.services import advisory_transition, advisory_update
from vulndesk.audit.models import AuditEntry
from vulndesk.core.errors import DomainError, NotFound
from vulndesk.prenotify.models import EmbargoView, PreNotification
from vulndesk.prenotify.services import contact_remove, prenotification_revoke, prenotification_send
from vulndesk.prenotify.tokens import embargo_token_hash

PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def assert_private(response):
    for name, value in PRIVATE_HEADERS.items():
        assert response[name] == value, name
    assert "noindex" in response["X-Robots-Tag"]


def assert_shows_draft(response, advisory):
    assert response.status_code == 200
    text = response.content.decode()
    assert "EMBARGOED — do not share until Mon 30 Nov 2026, 09:00 UTC" in text
    assert advisory.title in text and DRAFT_SUMMARY in text and PACKAGE in text and "fixed 2.4.3" in text
    assert "SECRET-DETAILS-MARKER" in text and "High" in text


def assert_closed(response):
    assert response.status_code == 404
    assert_private(response)
    assert "SECRET-DETAILS-MARKER" not in response.content.decode()
    assert DRAFT_SUMMARY not in response.content.decode()


# --- the mail -----------------------------------------------------------------------------------

def test_the_mail_arrives_through_smtp_with_the_link_and_no_advisory_text(advisory, vendor, smtp_sink, triager):
    result = prenotification_send(advisory=advisory, actor=triager, contacts=[vendor])

    received = smtp_sink.wait_for(1)
    assert len(received) == 1 and received[0]["to"] == ["team@security.debian.example"]
    message = received[0]["message"]
    body = message.get_content()
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Subject"] == f"[EMBARGOED] {advisory.identifier}: Heap overflow in TIFF decoder"
    assert message["Reply-To"] == "security@acme.example"
    assert advisory.identifier in body and advisory.title in body and "Mon 30 Nov 2026, 09:00 UTC" in body
    assert f"http://127.0.0.1:8000/embargo/{link_token(message)}/" in body
    for secret in (DRAFT_SUMMARY, "SECRET-DETAILS-MARKER", PACKAGE, "2.4.3", "0123 4567"):
        assert secret not in body
    assert [row.recipient_email for row in result.sent] == ["team@security.debian.example"]
    assert result.sent[0].sent_at is not None


def test_only_the_sha256_of_the_token_is_stored_anywhere(advisory, vendor, send):
    token = send(advisory, vendor)[vendor.pk]

    row = PreNotification.objects.get()
    assert row.token_hash == embargo_token_hash(token)
    assert not PreNotification.objects.filter(token_hash=token).exists()
    assert token not in str(list(AuditEntry.objects.values_list("data", flat=True)))


def test_a_hostile_title_stays_on_one_line_in_the_mail_and_escaped_on_the_page(advisory, owner, vendor, send, client):
    advisory_update(advisory=advisory, actor=owner, title="<img src=x onerror=alert(1)>\r\nBcc: victim@example.org")
    token = send(advisory, vendor)[vendor.pk]

    response = client.post(embargo_url(token))
    assert b"<img src=x" not in response.content and b"&lt;img src=x onerror=alert(1)&gt;" in response.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in response.content


def test_a_mail_the_server_refuses_leaves_no_working_link(advisory, vendor, triager, settings, client):
    with socket.socket() as sock:  # a port with nobody listening: a real refused connection
        sock.bind(("127.0.0.1", 0))
        settings.EMAIL_PORT = sock.getsockname()[1]
    settings.EMAIL_BACKEND, settings.EMAIL_HOST = "django.core.mail.backends.smtp.EmailBackend", "127.0.0.1"

    result = prenotification_send(advisory=advisory, actor=triager, contacts=[vendor])

    assert result.sent == [] and len(result.failed) == 1
    row = PreNotification.objects.get()
    assert row.failed_at is not None and row.revoked_at is not None and row.sent_at is None
    assert AuditEntry.objects.filter(action="prenotify.send_failed").count() == 1


# --- opening the link vs showing the draft -------------------------------------------------------

SCANNER = "Mozilla/5.0 (compatible; SafeLinks link checker)"


def test_opening_the_link_shows_a_button_but_neither_the_draft_nor_a_view(advisory, vendor, send, client):
    token = send(advisory, vendor)[vendor.pk]

    answers = [client.get(embargo_url(token), HTTP_USER_AGENT=SCANNER) for _ in range(3)]  # scanners, previews

    for response in answers:
        assert response.status_code == 200
        assert_private(response)
        text = response.content.decode()
        assert advisory.identifier in text and "Debian Security Team" in text
        assert f'<form method="post" action="{embargo_url(token)}"' in text and "Show the advisory" in text
        assert "Mon 30 Nov 2026, 09:00 UTC" in text
        for secret in (DRAFT_SUMMARY, "SECRET-DETAILS-MARKER", PACKAGE, advisory.title):
            assert secret not in text
    assert EmbargoView.objects.count() == 0
    assert not AuditEntry.objects.filter(action="prenotify.view").exists()


def test_pressing_the_button_shows_the_draft_and_counts_one_view(advisory, vendor, send, client):
    token = send(advisory, vendor)[vendor.pk]
    client.get(embargo_url(token))

    response = client.post(embargo_url(token), REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="Thunderbird/128")

    assert_shows_draft(response, advisory)
    assert_private(response)
    assert [(v.ip_address, v.user_agent) for v in EmbargoView.objects.all()] == [("203.0.113.9", "Thunderbird/128")]
    assert AuditEntry.objects.filter(action="prenotify.view").count() == 1


def test_the_button_needs_no_csrf_cookie_because_the_token_is_the_authority(advisory, vendor, send):
    from django.test import Client

    token = send(advisory, vendor)[vendor.pk]
    # A real browser on this no-referrer page sends "Origin: null" and may have no cookie at all.
    strict = Client(enforce_csrf_checks=True)

    response = strict.post(embargo_url(token), HTTP_ORIGIN="null")

    assert_shows_draft(response, advisory)
    assert EmbargoView.objects.count() == 1
    # Without the token the same POST opens nothing.
    assert strict.post(embargo_url("B" * 43), HTTP_ORIGIN="null").status_code == 404


@pytest.mark.parametrize("body", [
    {"x": "<script>alert(1)</script>"}, {"token": "' OR 1=1 --"}, {"path": "../../etc/passwd"}, {"big": "x" * 200_000},
], ids=["html", "sql", "traversal", "oversized"])
def test_whatever_the_button_post_carries_is_ignored(advisory, vendor, send, client, body):
    token = send(advisory, vendor)[vendor.pk]

    response = client.post(embargo_url(token), body)

    assert_shows_draft(response, advisory)
    assert "<script>alert(1)</script>" not in response.content.decode()
    assert EmbargoView.objects.count() == 1


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_other_methods_are_refused_and_record_nothing(advisory, vendor, send, client, method):
    token = send(advisory, vendor)[vendor.pk]

    assert getattr(client, method)(embargo_url(token)).status_code == 405
    assert EmbargoView.objects.count() == 0


def test_a_closed_link_answers_404_to_opening_and_to_the_button(advisory, vendor, send, client, triager,
                                                                  frozen_clock):
    revoked = send(advisory, vendor)[vendor.pk]
    prenotification_revoke(prenotification=PreNotification.objects.get(), actor=triager)
    expired = send(advisory, vendor, expires_at=frozen_clock.now + timedelta(hours=1))[vendor.pk]
    frozen_clock.advance(hours=1)

    for token in (revoked, expired):
        assert_closed(client.get(embargo_url(token)))
        assert_closed(client.post(embargo_url(token)))
    assert EmbargoView.objects.count() == 0


def test_opening_and_pressing_share_one_rate_limit(advisory, vendor, send, client, settings):
    settings.RATE_LIMITS = settings.RATE_LIMITS | {"embargo_view": (3, 60)}
    token = send(advisory, vendor)[vendor.pk]

    answers = [client.get(embargo_url(token)).status_code, client.post(embargo_url(token)).status_code,
               client.get(embargo_url(token)).status_code, client.post(embargo_url(token)).status_code]

    assert answers == [200, 200, 200, 429]
    assert EmbargoView.objects.count() == 1


# --- the link until it expires ------------------------------------------------------------------------

def test_the_link_shows_the_draft_until_the_embargo_then_answers_404(advisory, vendor, send, client, frozen_clock):
    token = send(advisory, vendor)[vendor.pk]

    first = client.post(embargo_url(token))
    assert_shows_draft(first, advisory)
    assert_private(first)
    frozen_clock.move(advisory.embargo_until - timedelta(seconds=1))
    assert_shows_draft(client.post(embargo_url(token)), advisory)
    frozen_clock.move(advisory.embargo_until)
    assert_closed(client.post(embargo_url(token)))


def test_a_link_with_an_earlier_expiry_answers_404_from_then(advisory, vendor, send, client, frozen_clock):
    token = send(advisory, vendor, expires_at=frozen_clock.now + timedelta(days=2))[vendor.pk]

    frozen_clock.advance(days=2, seconds=-1)
    assert client.post(embargo_url(token)).status_code == 200
    frozen_clock.advance(seconds=1)
    assert_closed(client.post(embargo_url(token)))


def test_moving_the_embargo_earlier_closes_links_at_the_new_date(advisory, owner, vendor, send, client, frozen_clock):
    token = send(advisory, vendor)[vendor.pk]
    advisory_update(advisory=advisory, actor=owner, embargo_until=frozen_clock.now + timedelta(hours=1))

    frozen_clock.advance(hours=1)
    assert_closed(client.post(embargo_url(token)))


def test_a_revoked_link_answers_404_at_once(advisory, vendor, send, client, triager):
    token = send(advisory, vendor)[vendor.pk]
    assert client.post(embargo_url(token)).status_code == 200

    prenotification_revoke(prenotification=PreNotification.objects.get(), actor=triager)

    assert_closed(client.post(embargo_url(token)))
    assert AuditEntry.objects.filter(action="prenotify.revoke").count() == 1


def test_removing_a_contact_revokes_their_open_link(advisory, vendor, send, client, owner):
    token = send(advisory, vendor)[vendor.pk]

    assert contact_remove(contact=vendor, actor=owner) == 1

    assert_closed(client.post(embargo_url(token)))
    row = PreNotification.objects.get()
    assert row.contact is None and row.recipient_email == "team@security.debian.example"


def test_sending_again_replaces_the_recipients_link(advisory, vendor, cert, send, client):
    first = send(advisory, vendor, cert)
    second = send(advisory, vendor)[vendor.pk]

    assert_closed(client.post(embargo_url(first[vendor.pk])))
    assert client.post(embargo_url(second)).status_code == 200
    assert client.post(embargo_url(first[cert.pk])).status_code == 200  # someone else's link stays open


@pytest.mark.parametrize("token", [
    "A" * 43, "A" * 44, "A" * 4_000, "not-a-token", "%2e%2e", "A" * 42 + "%00",
], ids=["unknown", "one-too-long", "overlong", "short", "traversal", "nul"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_wrong_or_malformed_token_answers_404(advisory, vendor, send, client, token, method):
    send(advisory, vendor)

    response = getattr(client, method)(embargo_url(token))

    assert response.status_code == 404
    assert_private(response)
    assert EmbargoView.objects.count() == 0


def test_a_token_with_one_character_changed_answers_404(advisory, vendor, send, client):
    token = send(advisory, vendor)[vendor.pk]
    changed = token[:-1] + ("A" if token[-1] != "A" else "B")

    assert_closed(client.post(embargo_url(changed)))


# --- once published -------------------------------------------------------------------------------------

def test_a_published_advisorys_link_points_to_the_public_page_instead_of_the_draft(advisory, owner, vendor, send,
                                                                                  client):
    token = send(advisory, vendor)[vendor.pk]
    advisory_transition(advisory=advisory, actor=owner, to="in_review")
    advisory_transition(advisory=advisory, actor=owner, to="published", override_reason="Exploited in the wild")

    response = client.post(embargo_url(token))

    assert_closed(response)
    assert f"{advisory.identifier} is public now" in response.content.decode()
    assert EmbargoView.objects.count() == 0


def test_a_published_advisory_cannot_be_pre_notified(advisory, owner, vendor, triager):
    advisory_transition(advisory=advisory, actor=owner, to="in_review")
    advisory_transition(advisory=advisory, actor=owner, to="published", override_reason="Fix is out")

    with pytest.raises(DomainError, match="already public"):
        prenotification_send(advisory=advisory, actor=triager, contacts=[vendor])
    assert PreNotification.objects.count() == 0


# --- every view recorded -----------------------------------------------------------------------------------

def test_every_view_is_recorded_with_time_address_and_truncated_browser(advisory, vendor, send, client, frozen_clock):
    token = send(advisory, vendor)[vendor.pk]

    client.post(embargo_url(token), REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="Mozilla/5.0 " + "x" * 500)
    frozen_clock.advance(hours=2)
    client.post(embargo_url(token), REMOTE_ADDR="2001:db8::1", HTTP_USER_AGENT="curl/8.5\r\n\x00<b>")

    views = list(EmbargoView.objects.order_by("viewed_at"))
    assert [(v.viewed_at, v.ip_address) for v in views] == [
        (frozen_clock.now - timedelta(hours=2), "203.0.113.7"), (frozen_clock.now, "2001:db8::1")]
    assert len(views[0].user_agent) == 200 and views[0].user_agent.startswith("Mozilla/5.0 xxx")
    assert views[1].user_agent == "curl/8.5<b>"
    assert AuditEntry.objects.filter(action="prenotify.view", ip_address="203.0.113.7").count() == 1


def test_views_of_a_closed_link_are_not_counted_as_views(advisory, vendor, send, client, triager):
    token = send(advisory, vendor)[vendor.pk]
    prenotification_revoke(prenotification=PreNotification.objects.get(), actor=triager)

    client.post(embargo_url(token))

    assert EmbargoView.objects.count() == 0


# --- rate limit -----------------------------------------------------------------------------------------------

def test_the_link_is_rate_limited_per_address_by_its_setting(advisory, vendor, send, client, settings):
    settings.RATE_LIMITS = settings.RATE_LIMITS | {"embargo_view": (2, 60)}
    token = send(advisory, vendor)[vendor.pk]

    answers = [client.post(embargo_url(token), REMOTE_ADDR="198.51.100.1").status_code for _ in range(3)]
    other = client.post(embargo_url(token), REMOTE_ADDR="198.51.100.2")

    assert answers == [200, 200, 429] and other.status_code == 200
    refused = client.post(embargo_url(token), REMOTE_ADDR="198.51.100.1")
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert_private(refused)
    assert EmbargoView.objects.count() == 3


def test_the_rate_limit_has_a_default_while_the_setting_is_missing(advisory, vendor, send, client, settings):
    settings.RATE_LIMITS = {k: v for k, v in settings.RATE_LIMITS.items() if k != "embargo_view"}

    answers = [client.post(embargo_url("A" * 43)).status_code for _ in range(31)]

    assert answers[:30] == [404] * 30 and answers[30] == 429


# --- services refuse what is not theirs -------------------------------------------------------------------------

def test_a_contact_of_another_organisation_cannot_be_sent_to(advisory, triager, db):
    from tests.factories.core import make_member, make_organisation
    from vulndesk.prenotify.services import contact_add

    other = make_organisation()
    foreign = contact_add(organisation=other, actor=make_member(other, role="owner"), name="Other vendor",
                          email="psirt@other.example", kind="vendor")

    with pytest.raises(NotFound):
        prenotification_send(advisory=advisory, actor=triager, contacts=[foreign])
    assert PreNotification.objects.count() == 0


def test_the_access_log_does_not_carry_the_token(advisory, vendor, send, client, caplog):
    import logging

    from vulndesk.core.logs import RedactingFilter

    token = send(advisory, vendor)[vendor.pk]
    with caplog.at_level(logging.INFO, logger="vulndesk.access"):
        client.post(embargo_url(token))

    record = next(r for r in caplog.records if r.name == "vulndesk.access")
    RedactingFilter().filter(record)  # what the configured handler applies to every record
    assert token not in record.getMessage() and token not in record.path
