"""Staff pages: the delivery log with status codes, webhook settings, roles, and the tenant
gate (another organisation's notification pages and objects are 404)."""

import pytest
from django.urls import reverse

from tests.factories.core import make_member, make_organisation, verified_login
from tests.notifications.conftest import reviewed_advisory
from vulndesk.notifications.models import Delivery, Webhook
from vulndesk.notifications.services import webhook_create

ALL_EVENTS = ["advisory.published", "advisory.updated", "advisory.withdrawn"]


@pytest.fixture
def owner(organisation):
    return make_member(organisation, role="owner")


@pytest.fixture
def world(frozen_clock, receiver, owner, organisation, product, triager, subscribe, publish):
    """Organisation A with a subscriber, a failing webhook and a published advisory."""
    subscribe(organisation, "alice@example.org")
    created = webhook_create(organisation=organisation, actor=owner, url=receiver.url, events=ALL_EVENTS)
    receiver.answers = [500]
    advisory = publish(reviewed_advisory(organisation, triager, product), triager)
    return {"webhook": created.webhook, "advisory": advisory,
            "delivery": Delivery.objects.get(channel="webhook")}


def staff_urls(slug: str, webhook_id: int, delivery_id: int) -> list[tuple[str, str]]:
    """(method, url) of every staff URL of the app."""
    return [
        ("get", reverse("notifications:overview", kwargs={"organisation": slug})),
        ("post", reverse("notifications:webhook_create", kwargs={"organisation": slug})),
        ("get", reverse("notifications:webhook", kwargs={"organisation": slug, "webhook_id": webhook_id})),
        ("post", reverse("notifications:webhook_update", kwargs={"organisation": slug, "webhook_id": webhook_id})),
        ("post", reverse("notifications:webhook_rotate", kwargs={"organisation": slug, "webhook_id": webhook_id})),
        ("post", reverse("notifications:webhook_delete", kwargs={"organisation": slug, "webhook_id": webhook_id})),
        ("get", reverse("notifications:deliveries", kwargs={"organisation": slug})),
        ("get", reverse("notifications:delivery", kwargs={"organisation": slug, "delivery_id": delivery_id})),
        ("post", reverse("notifications:delivery_retry", kwargs={"organisation": slug, "delivery_id": delivery_id})),
    ]


def test_the_delivery_log_shows_status_codes_to_staff(client, world, organisation, triager,
                                                      django_assert_max_num_queries):
    verified_login(client, triager.user)

    with django_assert_max_num_queries(20):
        response = client.get(f"/o/{organisation.slug}/notifications/deliveries/")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<span class="mono">500</span> http_status' in html
    assert '<span class="mono">250</span>' in html  # the subscriber's mail
    assert "Webhook <span class=\"mono\">127.0.0.1</span>" in html
    assert "alice@example.org" not in html
    assert world["webhook"].url not in html  # the log names the host, never the URL
    assert response["Cache-Control"] == "no-store, private"
    pending_only = client.get(f"/o/{organisation.slug}/notifications/deliveries/?status=pending").content.decode()
    assert "http_status" in pending_only and '<span class="mono">250</span>' not in pending_only
    detail = client.get(f"/o/{organisation.slug}/notifications/deliveries/{world['delivery'].pk}/").content.decode()
    assert '<td class="mono">500</td><td>http_status</td>' in detail
    assert str(world["delivery"].public_id) in detail


def test_the_overview_shows_counts_webhooks_and_recent_deliveries(client, world, organisation, owner,
                                                                  django_assert_max_num_queries):
    verified_login(client, owner.user)

    with django_assert_max_num_queries(20):
        html = client.get(f"/o/{organisation.slug}/notifications/").content.decode()

    assert "<td>All advisories</td><td>1</td><td>0</td>" in html
    assert f"/subscriptions/{organisation.slug}/" in html
    assert "alice@example.org" not in html
    assert f"/notifications/webhooks/{world['webhook'].pk}/" in html
    assert "Full delivery log" in html


def test_a_failed_delivery_can_be_retried_by_an_owner(settings, client, frozen_clock, receiver, owner, organisation,
                                                      product, triager, publish, django_capture_on_commit_callbacks):
    settings.NOTIFICATIONS_DELIVERY_MAX_ATTEMPTS = 1
    webhook_create(organisation=organisation, actor=owner, url=receiver.url, events=ALL_EVENTS)
    receiver.answers = [500]
    publish(reviewed_advisory(organisation, triager, product), triager)
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED
    verified_login(client, owner.user)

    page = client.get(f"/o/{organisation.slug}/notifications/deliveries/{delivery.pk}/")
    assert "Try again" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/o/{organisation.slug}/notifications/deliveries/{delivery.pk}/retry/")

    assert response.status_code == 302
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_status_code) == (Delivery.Status.SENT, 200)


def test_webhook_settings_pages_edit_rotate_and_delete(client, world, organisation, owner, receiver):
    verified_login(client, owner.user)
    webhook = world["webhook"]
    base = f"/o/{organisation.slug}/notifications/webhooks/{webhook.pk}"

    page = client.get(f"{base}/")
    assert page.status_code == 200 and receiver.url.replace("&", "&amp;") in page.content.decode()

    refused = client.post(f"{base}/edit/", {"url": "https://10.0.0.5/", "events": ALL_EVENTS})
    assert refused.status_code == 422
    saved = client.post(f"{base}/edit/", {"url": receiver.url, "events": ["advisory.withdrawn"], "description": "x"})
    assert saved.status_code == 302
    webhook.refresh_from_db()
    assert (webhook.events, webhook.is_active) == (["advisory.withdrawn"], False)
    # Deactivating cancels what was still pending for it.
    assert Delivery.objects.get(pk=world["delivery"].pk).status == Delivery.Status.CANCELLED

    rotated = client.post(f"{base}/secret/")
    new_secret = Webhook.objects.get(pk=webhook.pk).secret
    assert new_secret in rotated.content.decode()
    assert client.post(f"{base}/delete/").status_code == 302
    assert not Webhook.objects.filter(pk=webhook.pk).exists()


@pytest.mark.parametrize(("role", "overview", "webhooks"), [
    ("owner", 200, 200), ("security_manager", 200, 200), ("triager", 200, 403), ("developer", 403, 403),
    ("viewer", 403, 403),
])
def test_roles(client, world, organisation, role, overview, webhooks):
    verified_login(client, make_member(organisation, role=role).user)
    assert client.get(f"/o/{organisation.slug}/notifications/").status_code == overview
    assert client.get(f"/o/{organisation.slug}/notifications/deliveries/").status_code == overview
    assert client.get(f"/o/{organisation.slug}/notifications/webhooks/{world['webhook'].pk}/").status_code == webhooks


def test_member_of_another_organisation_gets_404_everywhere(client, world, organisation):
    outsider = make_member(make_organisation(), role="owner")
    verified_login(client, outsider.user)
    webhook_id, delivery_id = world["webhook"].pk, world["delivery"].pk

    # Organisation A's slug: not a member. Own slug with A's ids: no such object here.
    # With their own slug, only the object URLs (their own lists are theirs to see).
    own_slug = staff_urls(outsider.organisation.slug, webhook_id, delivery_id)
    urls = staff_urls(organisation.slug, webhook_id, delivery_id) + [
        (method, url) for method, url in own_slug if "/webhooks/" in url.removesuffix("/webhooks/")
        or "/deliveries/" in url.removesuffix("/deliveries/")]
    for method, url in urls:
        response = getattr(client, method)(url, {"url": "https://example.com/", "events": ALL_EVENTS}
                                           if method == "post" else None)
        assert response.status_code == 404, (method, url)
    assert Webhook.objects.filter(pk=webhook_id).exists()
    assert Delivery.objects.get(pk=delivery_id).status == Delivery.Status.PENDING


def test_anonymous_visitors_go_to_the_login_page(client, world, organisation):
    for method, url in staff_urls(organisation.slug, world["webhook"].pk, world["delivery"].pk):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_state_changing_urls_refuse_get(client, world, organisation, owner):
    verified_login(client, owner.user)
    for method, url in staff_urls(organisation.slug, world["webhook"].pk, world["delivery"].pk):
        if method == "post":
            assert client.get(url).status_code == 405, url
