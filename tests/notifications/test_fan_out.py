"""Fan-out of published revisions to e-mail subscribers, through the real SMTP sink: who gets
what, the RFC 8058 headers, the embargo, and exactly-once delivery across worker restarts."""

from datetime import timedelta

import pytest
from django.test import Client

from tests.factories.core import make_organisation, make_product
from tests.notifications.conftest import reviewed_advisory
from vulndesk.advisories.services import (
    advisories_publish_due,
    advisory_transition,
    advisory_update,
    advisory_withdraw,
)
from vulndesk.notifications.models import Delivery, DeliveryAttempt, FanOut, Subscriber
from vulndesk.notifications.services import advisory_revision_fan_out, delivery_claim, delivery_send
from vulndesk.notifications.tasks import fan_out_advisory_revision, notifications_sweep


def advisory_mails(sink) -> list[dict]:
    return [m for m in sink.messages if m["message"]["Subject"].startswith("[")]


def recipients(sink) -> list[str]:
    return sorted(address for m in advisory_mails(sink) for address in m["to"])


@pytest.fixture
def audience(frozen_clock, organisation, product, subscribe):
    """Who is subscribed to what, in every state that matters."""
    subscribe(organisation, "alice@example.org")
    subscribe(organisation, "ALICE@example.org", product=product)  # same person, also per product
    subscribe(organisation, "bob@example.org", product=product)
    subscribe(organisation, "carol@example.org", product=make_product(organisation))  # another product
    subscribe(organisation, "dave@example.org", confirm=False)  # never confirmed
    erin = subscribe(organisation, "erin@example.org")
    Client().post(f"/subscriptions/unsubscribe/{_token(erin)}/")
    subscribe(make_organisation(), "frank@example.org")  # another organisation


def _token(row):
    from vulndesk.notifications.tokens import unsubscribe_token

    return unsubscribe_token(subscriber_id=row.pk, address_hash=row.address_hash)


def test_publishing_mails_each_confirmed_subscriber_once(audience, organisation, product, triager, smtp_sink,
                                                        publish):
    advisory = reviewed_advisory(organisation, triager, product)

    publish(advisory, triager)

    assert recipients(smtp_sink) == ["alice@example.org", "bob@example.org"]
    rows = Delivery.objects.filter(channel=Delivery.Channel.EMAIL)
    assert rows.count() == 2
    assert {(d.status, d.attempts, d.last_status_code, d.event) for d in rows} == {
        (Delivery.Status.SENT, 1, 250, "advisory.published")}
    message = advisory_mails(smtp_sink)[0]["message"]
    assert message["Subject"] == f"[{advisory.identifier}] SQL injection in search"
    body = message.get_content()
    assert f"{organisation.name} published a security advisory." in body
    assert "Severity: Critical" in body
    assert "PyPI acme-shop: introduced 0, fixed 2.4.2" in body
    assert f"Read the advisory: http://127.0.0.1:8000/advisories/{organisation.slug}/{advisory.identifier}/" in body
    assert message["Auto-Submitted"] == "auto-generated"
    assert FanOut.objects.get(advisory=advisory).revision == 1


def test_every_notification_mail_carries_one_click_unsubscribe(settings, audience, organisation, product, triager,
                                                               smtp_sink, publish):
    settings.SITE_URL = "https://security.example.org"
    publish(reviewed_advisory(organisation, triager, product), triager)

    for mail in advisory_mails(smtp_sink):
        message = mail["message"]
        header = str(message["List-Unsubscribe"]).strip()
        assert header.startswith("<https://security.example.org/subscriptions/unsubscribe/") and header.endswith(">")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert header[1:-1] in message.get_content()  # and the link in the text, for people
    bob_mail = next(m for m in advisory_mails(smtp_sink) if m["to"] == ["bob@example.org"])
    path = str(bob_mail["message"]["List-Unsubscribe"]).strip()[1:-1].removeprefix("https://security.example.org")

    response = Client(enforce_csrf_checks=True).post(path, "List-Unsubscribe=One-Click",
                                                     content_type="application/x-www-form-urlencoded")

    assert response.status_code == 200
    bob = [s for s in Subscriber.objects.filter(status="unsubscribed") if s.deliveries.exists()]
    assert len(bob) == 1 and bob[0].product == product


def test_nothing_is_sent_before_the_embargo_lifts(audience, frozen_clock, organisation, product, triager,
                                                  smtp_sink, publish, django_capture_on_commit_callbacks):
    advisory = reviewed_advisory(organisation, triager, product)
    advisory = advisory_update(advisory=advisory, actor=triager, embargo_until=frozen_clock.now + timedelta(days=3))
    publish(advisory, triager, to="scheduled")
    with django_capture_on_commit_callbacks(execute=True):
        assert advisories_publish_due() == []
    assert advisory_mails(smtp_sink) == []
    assert Delivery.objects.count() == 0

    frozen_clock.advance(days=3)
    with django_capture_on_commit_callbacks(execute=True):
        assert advisories_publish_due() == [advisory.identifier]

    assert recipients(smtp_sink) == ["alice@example.org", "bob@example.org"]


def test_updates_and_withdrawals_are_mailed_with_only_published_text(audience, organisation, product, triager,
                                                                    smtp_sink, publish,
                                                                    django_capture_on_commit_callbacks):
    advisory = publish(reviewed_advisory(organisation, triager, product), triager)
    advisory_update(advisory=advisory, actor=triager, summary="UNPUBLISHED-MARKER draft wording")
    advisory.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        advisory_withdraw(advisory=advisory, actor=triager, reason="Not a vulnerability after all")

    withdrawn = [m for m in advisory_mails(smtp_sink) if "Withdrawn:" in m["message"]["Subject"]]
    assert len(withdrawn) == 2
    body = withdrawn[0]["message"].get_content()
    assert "withdrew a security advisory" in body
    assert "What changed: Withdrawn: Not a vulnerability after all" in body
    assert all("UNPUBLISHED-MARKER" not in m["message"].as_string() for m in smtp_sink.messages)


def test_a_new_revision_is_mailed_as_an_update(audience, organisation, product, triager, smtp_sink, publish):
    advisory = publish(reviewed_advisory(organisation, triager, product), triager)
    advisory_update(advisory=advisory, actor=triager, title="SQL injection in search and export")
    advisory.refresh_from_db()

    publish(advisory, triager, to="updated", changelog="The export endpoint is affected too.")

    updates = [m for m in advisory_mails(smtp_sink) if "Updated:" in m["message"]["Subject"]]
    assert [m["message"]["Subject"] for m in updates][0] == (
        f"[{advisory.identifier}] Updated: SQL injection in search and export")
    assert "What changed: The export endpoint is affected too." in updates[0]["message"].get_content()
    assert Delivery.objects.filter(revision=2, event="advisory.updated").count() == 2


def test_no_duplicate_mail_when_a_worker_restarts_mid_fan_out(audience, organisation, product, triager, smtp_sink,
                                                              publish):
    # The publish commits, but the worker dies before the signal's fan-out ran (no on-commit here).
    advisory = advisory_transition(advisory=reviewed_advisory(organisation, triager, product), actor=triager,
                                   to="published")
    # A worker starts the fan-out: rows are created in one transaction, one is sent, then it dies.
    pending = advisory_revision_fan_out(advisory_id=advisory.pk, revision=1)
    assert len(pending) == 2
    delivery_send(delivery_id=pending[0])
    assert len(advisory_mails(smtp_sink)) == 1

    # After the restart: the fan-out runs again (signal retried) and the periodic sweep runs twice.
    fan_out_advisory_revision.enqueue(advisory_id=advisory.pk, revision=1)
    notifications_sweep.enqueue()
    notifications_sweep.enqueue()

    assert recipients(smtp_sink) == ["alice@example.org", "bob@example.org"]
    assert Delivery.objects.filter(channel="email").count() == 2
    assert delivery_send(delivery_id=pending[0]) == "skipped"  # sending a sent row is a no-op
    assert len(advisory_mails(smtp_sink)) == 2


def test_the_sweep_fans_out_a_revision_whose_signal_was_lost(audience, organisation, product, triager, smtp_sink):
    advisory_transition(advisory=reviewed_advisory(organisation, triager, product), actor=triager,
                                   to="published")  # on-commit signal never runs
    assert advisory_mails(smtp_sink) == []

    notifications_sweep.enqueue()
    notifications_sweep.enqueue()

    assert recipients(smtp_sink) == ["alice@example.org", "bob@example.org"]


def test_a_worker_dying_mid_send_is_retried_once_after_its_lease(audience, frozen_clock, organisation, product,
                                                                 triager, smtp_sink):
    advisory = advisory_transition(advisory=reviewed_advisory(organisation, triager, product), actor=triager,
                                   to="published")
    first, second = advisory_revision_fan_out(advisory_id=advisory.pk, revision=1)
    assert delivery_claim(first) is not None  # a worker takes it ... and dies before sending
    delivery_send(delivery_id=second)

    notifications_sweep.enqueue()  # the claim is still live: not taken again
    assert len(advisory_mails(smtp_sink)) == 1
    frozen_clock.advance(seconds=301)
    notifications_sweep.enqueue()
    notifications_sweep.enqueue()

    assert len(advisory_mails(smtp_sink)) == 2
    row = Delivery.objects.get(pk=first)
    assert (row.status, row.attempts) == (Delivery.Status.SENT, 2)


def test_a_mail_server_outage_is_retried_with_back_off(settings, audience, frozen_clock, organisation, product,
                                                       triager, smtp_sink, publish):
    settings.EMAIL_PORT = _closed_port()
    publish(reviewed_advisory(organisation, triager, product), triager)
    rows = Delivery.objects.filter(channel="email")
    assert {(d.status, d.attempts, d.last_error) for d in rows} == {("pending", 1, "connection")}
    assert {d.next_attempt_at for d in rows} == {frozen_clock.now + timedelta(seconds=60)}

    settings.EMAIL_PORT = smtp_sink.port
    frozen_clock.advance(seconds=30)
    notifications_sweep.enqueue()
    assert advisory_mails(smtp_sink) == []  # not due yet
    frozen_clock.advance(seconds=31)
    notifications_sweep.enqueue()

    assert recipients(smtp_sink) == ["alice@example.org", "bob@example.org"]
    assert list(DeliveryAttempt.objects.filter(delivery=rows[0]).values_list("outcome", flat=True)) == [
        "connection", "sent"]


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
