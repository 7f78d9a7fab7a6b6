"""Webhooks against a real HTTPS receiver on 127.0.0.1: the secret shown once and sealed, the
signature checked as a receiver would, retries with back-off, giving up, no redirects, TLS
checks, the SSRF guard at every delivery, secret rotation."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.apps import apps

from tests.factories.core import make_member, verified_login
from tests.notifications.conftest import reviewed_advisory
from vulndesk.advisories.services import advisory_transition, advisory_withdraw
from vulndesk.audit.models import AuditEntry
from vulndesk.core import clock
from vulndesk.core.errors import DomainError
from vulndesk.notifications.models import Delivery, DeliveryAttempt, Webhook
from vulndesk.notifications.services import (
    advisory_revision_fan_out,
    delivery_send,
    retry_delay,
    webhook_create,
    webhook_secret_rotate,
)
from vulndesk.notifications.tasks import notifications_sweep

ALL_EVENTS = ["advisory.published", "advisory.updated", "advisory.withdrawn"]


def receiver_verifies(*, secret: str, header: str, body: bytes, now: int, tolerance: int = 300) -> bool:
    """What a receiver does with X-Vulndesk-Signature (the documented algorithm, written from
    scratch here): parse, refuse stale timestamps, accept if any v1 matches."""
    fields = [item.split("=", 1) for item in header.split(",")]
    timestamps = [value for key, value in fields if key == "t"]
    macs = [value for key, value in fields if key == "v1"]
    if len(timestamps) != 1 or not macs or abs(now - int(timestamps[0])) > tolerance:
        return False
    expected = hmac.new(secret.encode(), timestamps[0].encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, mac) for mac in macs)


def now_unix() -> int:
    return int(clock.now().timestamp())


@pytest.fixture
def owner(organisation):
    return make_member(organisation, role="owner")


@pytest.fixture
def hook(receiver, owner, organisation):
    return webhook_create(organisation=organisation, actor=owner, url=receiver.url, events=ALL_EVENTS)


def test_creating_a_webhook_shows_the_secret_once_and_stores_it_sealed(client, frozen_clock, receiver, owner,
                                                                       organisation):
    verified_login(client, owner.user)

    response = client.post(f"/o/{organisation.slug}/notifications/webhooks/",
                           {"url": receiver.url, "events": ALL_EVENTS, "description": "SIEM"})

    assert response.status_code == 200
    webhook = Webhook.objects.get()
    secret = webhook.secret
    assert secret.startswith("whsec_") and len(secret) > 40
    assert secret in response.content.decode()
    assert (webhook.host, webhook.events, webhook.description) == ("127.0.0.1", ALL_EVENTS, "SIEM")
    stored = "\n".join(repr(row) for model in [*apps.get_app_config("notifications").get_models(), AuditEntry]
                       for row in model.objects.all().values_list())
    assert secret not in stored
    assert "/hooks/vulndesk" not in stored  # the URL is sealed too
    assert webhook.sealed_config.startswith("v1.")
    assert secret not in client.get(f"/o/{organisation.slug}/notifications/").content.decode()
    assert secret not in client.get(f"/o/{organisation.slug}/notifications/webhooks/{webhook.pk}/").content.decode()
    assert AuditEntry.objects.get(action="webhook.create").data == {"host": "127.0.0.1", "events": ALL_EVENTS}


@pytest.mark.parametrize("url", ["https://169.254.169.254/latest/meta-data/", "http://hooks.example.com/",
                                 "https://[::ffff:10.0.0.1]/", "https://2130706433/"])
def test_the_form_refuses_unsafe_urls_with_the_reason(client, frozen_clock, owner, organisation, url):
    verified_login(client, owner.user)

    response = client.post(f"/o/{organisation.slug}/notifications/webhooks/", {"url": url, "events": ALL_EVENTS})

    assert response.status_code == 422
    assert "errorlist" in response.content.decode()
    assert not Webhook.objects.exists()


def test_the_receiver_verifies_the_signature_of_the_osv_payload(frozen_clock, receiver, hook, organisation,
                                                               product, triager, publish):
    advisory = publish(reviewed_advisory(organisation, triager, product), triager)

    [request] = receiver.requests
    headers, body = request["headers"], request["body"]
    assert receiver_verifies(secret=hook.secret, header=headers["X-Vulndesk-Signature"], body=body, now=now_unix())
    assert not receiver_verifies(secret=hook.secret, header=headers["X-Vulndesk-Signature"], body=body + b" ",
                                 now=now_unix())
    assert not receiver_verifies(secret="whsec_wrong", header=headers["X-Vulndesk-Signature"], body=body,
                                 now=now_unix())
    assert not receiver_verifies(secret=hook.secret, header=headers["X-Vulndesk-Signature"], body=body,
                                 now=now_unix() + 301)  # replayed later
    payload = json.loads(body)
    assert payload["type"] == headers["X-Vulndesk-Event"] == "advisory.published"
    assert payload["delivery"] == headers["X-Vulndesk-Delivery"]
    assert payload["advisory"] == {"identifier": advisory.identifier, "revision": 1}
    assert payload["osv"] == advisory.public_document
    assert payload["osv"]["id"] == f"x_{advisory.identifier}"
    assert headers["Content-Type"] == "application/json"
    assert headers["Host"] == f"127.0.0.1:{receiver.port}"
    assert request["path"] == "/hooks/vulndesk?source=test"


def test_a_500_is_retried_with_back_off_and_then_succeeds(frozen_clock, receiver, hook, organisation, product,
                                                          triager, publish):
    receiver.answers = [500]
    publish(reviewed_advisory(organisation, triager, product), triager)
    delivery = Delivery.objects.get(channel="webhook")
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.next_attempt_at == frozen_clock.now + timedelta(seconds=60)

    notifications_sweep.enqueue()  # too early
    assert len(receiver.requests) == 1
    frozen_clock.advance(seconds=60)
    notifications_sweep.enqueue()

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("sent", 2, 200)
    assert [r["headers"]["X-Vulndesk-Delivery"] for r in receiver.requests] == [str(delivery.public_id)] * 2
    assert all(receiver_verifies(secret=hook.secret, header=r["headers"]["X-Vulndesk-Signature"], body=r["body"],
                                 now=now_unix()) for r in receiver.requests)
    assert list(DeliveryAttempt.objects.filter(delivery=delivery).values_list("status_code", "outcome")) == [
        (500, "http_status"), (200, "sent")]


def test_delivery_gives_up_after_the_configured_number_of_attempts(settings, frozen_clock, receiver, hook,
                                                                   organisation, product, triager, publish):
    settings.NOTIFICATIONS_DELIVERY_MAX_ATTEMPTS = 3
    receiver.answers = [503] * 10
    publish(reviewed_advisory(organisation, triager, product), triager)

    for attempt in range(1, 6):
        frozen_clock.advance(seconds=retry_delay(attempt).total_seconds())
        notifications_sweep.enqueue()

    delivery = Delivery.objects.get(channel="webhook")
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 3, 503)
    assert len(receiver.requests) == 3
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 20)] == [60, 120, 240, 6 * 3600]


def test_a_redirect_is_not_followed(frozen_clock, receiver, hook, organisation, product, triager, publish):
    receiver.answers = [302]
    receiver.location = f"https://127.0.0.1:{receiver.port}/internal-admin"

    publish(reviewed_advisory(organisation, triager, product), triager)

    delivery = Delivery.objects.get(channel="webhook")
    assert (delivery.last_status_code, delivery.last_error, delivery.status) == (302, "http_status", "pending")
    assert [r["path"] for r in receiver.requests] == ["/hooks/vulndesk?source=test"]


def test_a_receiver_with_an_untrusted_certificate_gets_nothing(settings, frozen_clock, receiver, hook, organisation,
                                                               product, triager, publish, caplog):
    settings.NOTIFICATIONS_WEBHOOK_CA_FILE = ""  # the system's trust store does not know our test CA

    publish(reviewed_advisory(organisation, triager, product), triager)

    delivery = Delivery.objects.get(channel="webhook")
    assert (delivery.last_error, delivery.last_status_code) == ("tls", None)
    assert receiver.requests == []
    assert any("TLS failure" in record.getMessage() for record in caplog.records)


def test_the_url_is_checked_again_at_every_delivery_and_the_checked_address_is_used(
        frozen_clock, receiver, owner, organisation, product, triager):
    def resolves_to(address):
        return lambda host, port: [address]

    named_url = f"https://hooks.example.test:{receiver.port}/hooks/vulndesk"
    created = webhook_create(organisation=organisation, actor=owner, url=named_url, events=ALL_EVENTS,
                             resolver=resolves_to("127.0.0.1"))
    advisory = advisory_transition(advisory=reviewed_advisory(organisation, triager, product), actor=triager,
                                   to="published")
    [delivery_id] = [pk for pk in advisory_revision_fan_out(advisory_id=advisory.pk, revision=1)]

    # The name now points somewhere private (DNS rebinding): refused, nothing sent.
    assert delivery_send(delivery_id=delivery_id, resolver=resolves_to("10.0.0.5")) == "pending"
    assert Delivery.objects.get(pk=delivery_id).last_error == "refused"
    assert receiver.requests == []

    frozen_clock.advance(seconds=60)
    assert delivery_send(delivery_id=delivery_id, resolver=resolves_to("127.0.0.1")) == "sent"
    # Connected to the checked address; TLS and Host used the name (the certificate names it).
    assert receiver.requests[0]["headers"]["Host"] == f"hooks.example.test:{receiver.port}"
    assert receiver_verifies(secret=created.secret, header=receiver.requests[0]["headers"]["X-Vulndesk-Signature"],
                             body=receiver.requests[0]["body"], now=now_unix())


def test_after_a_rotation_both_secrets_sign_until_the_overlap_ends(frozen_clock, receiver, hook, owner,
                                                                   organisation, product, triager, publish,
                                                                   django_capture_on_commit_callbacks):
    old = hook.secret
    new = webhook_secret_rotate(webhook=hook.webhook, actor=owner)
    assert new != old

    advisory = publish(reviewed_advisory(organisation, triager, product), triager)
    header = receiver.requests[0]["headers"]["X-Vulndesk-Signature"]
    assert header.count("v1=") == 2
    for secret in (old, new):
        assert receiver_verifies(secret=secret, header=header, body=receiver.requests[0]["body"], now=now_unix())

    frozen_clock.advance(hours=25)
    with django_capture_on_commit_callbacks(execute=True):
        advisory_withdraw(advisory=advisory, actor=triager, reason="Duplicate of another advisory")
    header = receiver.requests[1]["headers"]["X-Vulndesk-Signature"]
    assert header.count("v1=") == 1
    assert receiver_verifies(secret=new, header=header, body=receiver.requests[1]["body"], now=now_unix())
    assert not receiver_verifies(secret=old, header=header, body=receiver.requests[1]["body"], now=now_unix())


def test_a_webhook_gets_only_the_events_it_chose(frozen_clock, receiver, owner, organisation, product, triager,
                                                publish, django_capture_on_commit_callbacks):
    webhook_create(organisation=organisation, actor=owner, url=receiver.url, events=["advisory.withdrawn"])
    advisory = publish(reviewed_advisory(organisation, triager, product), triager)
    assert receiver.requests == []

    with django_capture_on_commit_callbacks(execute=True):
        advisory_withdraw(advisory=advisory, actor=triager, reason="Not reproducible")

    assert [p["type"] for p in receiver.payloads()] == ["advisory.withdrawn"]
    assert receiver.payloads()[0]["osv"]["withdrawn"]


def test_webhook_rules(settings, frozen_clock, receiver, owner, triager, organisation):
    with pytest.raises(DomainError, match="Choose one or more events"):
        webhook_create(organisation=organisation, actor=owner, url=receiver.url, events=["report.accepted"])
    with pytest.raises(DomainError, match="role"):
        webhook_create(organisation=organisation, actor=triager, url=receiver.url, events=ALL_EVENTS)
    settings.NOTIFICATIONS_WEBHOOKS_PER_ORGANISATION = 1
    webhook_create(organisation=organisation, actor=owner, url=receiver.url, events=ALL_EVENTS)
    with pytest.raises(DomainError, match="at most 1 webhooks"):
        webhook_create(organisation=organisation, actor=owner, url=receiver.url, events=ALL_EVENTS)
