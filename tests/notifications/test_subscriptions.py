"""E-mail subscriptions: double opt-in through the public pages and the real SMTP sink, the
stored form of addresses and tokens, hostile input, unsubscribing (RFC 8058 one-click and page)."""

import pytest
from django.apps import apps
from django.test import Client

from tests.factories.core import make_organisation, make_product
from tests.notifications.conftest import confirmation_links
from vulndesk.audit.models import AuditEntry
from vulndesk.notifications.addresses import address_hash
from vulndesk.notifications.models import Delivery, Subscriber
from vulndesk.notifications.services import subscribers_purge_expired, subscription_request
from vulndesk.notifications.tokens import unsubscribe_token

ADDRESS = "Alice.Example@Example.ORG"


@pytest.fixture
def post_subscribe(client, django_capture_on_commit_callbacks):
    def post(path, email):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, {"email": email})

    return post


def _stored_text() -> str:
    """Every row of this app's tables, plus the audit trail, as one string."""
    models = [*apps.get_app_config("notifications").get_models(), AuditEntry]
    return "\n".join(repr(row) for model in models for row in model.objects.all().values_list())


def _main(response) -> str:
    html = response.content.decode()
    return html[html.index("<main"):html.index("</main>")]


def test_double_opt_in_needs_the_mailed_link_and_a_post(client, frozen_clock, organisation, smtp_sink,
                                                        post_subscribe):
    page = client.get(f"/subscriptions/{organisation.slug}/")
    assert page.status_code == 200
    assert f"Get {organisation.name}’s security advisories" in page.content.decode()

    response = post_subscribe(f"/subscriptions/{organisation.slug}/", ADDRESS)

    assert response.status_code == 200
    assert "Check your inbox" in response.content.decode()
    row = Subscriber.objects.get()
    assert row.status == Subscriber.Status.PENDING
    [message] = smtp_sink.wait_for(1)
    assert message["to"] == ["Alice.Example@example.org"]
    assert message["message"]["Subject"] == f"Confirm your subscription to {organisation.name} security advisories"
    [(link, token)] = confirmation_links(smtp_sink, "Alice.Example@example.org")
    path = link.removeprefix("http://127.0.0.1:8000")

    # A mail scanner fetching the link confirms nothing: the page only offers a button.
    landing = client.get(path)
    assert landing.status_code == 200
    assert '<form method="post">' in landing.content.decode()
    assert landing["Referrer-Policy"] == "no-referrer"
    assert "no-store" in landing["Cache-Control"]
    row.refresh_from_db()
    assert row.status == Subscriber.Status.PENDING

    confirmed = client.post(path)
    assert confirmed.status_code == 200
    assert "You are subscribed" in confirmed.content.decode()
    row.refresh_from_db()
    assert (row.status, row.confirmed_at) == (Subscriber.Status.CONFIRMED, frozen_clock.now)
    assert row.confirmation_token_hash == ""

    assert client.post(path).status_code == 404  # used once
    assert AuditEntry.objects.filter(action="subscriber.confirm", target_id=str(row.pk)).exists()


def test_only_a_hash_of_the_token_and_a_sealed_address_are_stored(frozen_clock, organisation, smtp_sink, subscribe):
    row = subscribe(organisation, ADDRESS, confirm=False)
    [(_, token)] = confirmation_links(smtp_sink, "Alice.Example@example.org")

    stored = _stored_text()
    assert token not in stored
    assert "alice" not in stored.lower()
    assert row.sealed_address.startswith("v1.")
    assert row.address == "Alice.Example@example.org"  # decrypts with the organisation's key
    assert row.address_hash == address_hash(organisation_id=organisation.pk, address="alice.example@example.org")


def test_one_row_per_address_and_scope_whatever_the_case(frozen_clock, organisation, product, subscribe):
    subscribe(organisation, ADDRESS)
    subscribe(organisation, "alice.example@example.org")
    subscribe(organisation, ADDRESS, product=product)

    assert Subscriber.objects.filter(product__isnull=True).count() == 1
    assert Subscriber.objects.filter(product=product).count() == 1
    other = make_organisation()
    assert address_hash(organisation_id=other.pk, address=ADDRESS) != Subscriber.objects.first().address_hash


def test_the_answer_is_the_same_for_new_and_confirmed_addresses_and_no_mail_is_repeated(
        frozen_clock, organisation, smtp_sink, subscribe, post_subscribe):
    subscribe(organisation, ADDRESS)
    sent = len(smtp_sink.messages)
    fresh = post_subscribe(f"/subscriptions/{organisation.slug}/", "bob@example.org")
    again = post_subscribe(f"/subscriptions/{organisation.slug}/", ADDRESS)

    assert again.status_code == fresh.status_code == 200
    assert _main(again) == _main(fresh)  # no oracle: the page does not tell the two apart
    assert len(smtp_sink.messages) == sent + 1  # bob's confirmation only


def test_a_pending_address_gets_a_new_link_only_after_the_resend_interval(frozen_clock, organisation, smtp_sink,
                                                                          subscribe, post_subscribe, client):
    subscribe(organisation, ADDRESS, confirm=False)
    post_subscribe(f"/subscriptions/{organisation.slug}/", ADDRESS)
    assert len(confirmation_links(smtp_sink, "Alice.Example@example.org")) == 1

    frozen_clock.advance(minutes=11)
    post_subscribe(f"/subscriptions/{organisation.slug}/", ADDRESS)
    [(first, _), (second, _)] = confirmation_links(smtp_sink, "Alice.Example@example.org")
    assert client.get(first.removeprefix("http://127.0.0.1:8000")).status_code == 404  # replaced
    assert client.post(second.removeprefix("http://127.0.0.1:8000")).status_code == 200


def test_the_confirmation_link_expires(frozen_clock, organisation, smtp_sink, subscribe, client):
    subscribe(organisation, ADDRESS, confirm=False)
    [(link, _)] = confirmation_links(smtp_sink, "Alice.Example@example.org")
    frozen_clock.advance(hours=49)

    response = client.post(link.removeprefix("http://127.0.0.1:8000"))

    assert response.status_code == 404
    assert "This link is not valid" in response.content.decode()
    assert Subscriber.objects.get().status == Subscriber.Status.PENDING


def test_unconfirmed_requests_are_forgotten(frozen_clock, organisation, subscribe):
    subscribe(organisation, ADDRESS, confirm=False)
    subscribe(organisation, "kept@example.org")
    frozen_clock.advance(hours=47)
    assert subscribers_purge_expired() == 0
    frozen_clock.advance(hours=2)

    assert subscribers_purge_expired() == 1
    assert list(Subscriber.objects.values_list("status", flat=True)) == [Subscriber.Status.CONFIRMED]


HOSTILE = [
    "victim@example.org\r\nBcc: other@example.org",
    "victim@example.org\nBcc: other@example.org",
    "victim@example.org\u2028Bcc: other@example.org",
    "victim@example.org\u202e",
    '"><script>alert(1)</script>@example.org',
    "Victim <victim@example.org>",
    "victim@example.org, other@example.org",
    "a" * 250 + "@example.org",
    "{{ settings.SECRET_KEY }}@example.org",
    "",
]


@pytest.mark.parametrize("email", HOSTILE)
def test_hostile_addresses_are_refused_stored_nowhere_and_shown_inert(frozen_clock, organisation, smtp_sink,
                                                                      post_subscribe, email):
    response = post_subscribe(f"/subscriptions/{organisation.slug}/", email)

    assert response.status_code == 422
    html = response.content.decode()
    assert "<script>alert(1)</script>" not in html
    assert Subscriber.objects.count() == 0
    assert smtp_sink.messages == []


def test_the_service_refuses_what_the_form_might_let_through(frozen_clock, organisation):
    from vulndesk.core.errors import DomainError

    with pytest.raises(DomainError, match="valid e-mail"):
        subscription_request(organisation=organisation, product=None, address="victim@example.org\u2029x")


def test_subscribing_is_rate_limited_per_client(settings, frozen_clock, organisation, smtp_sink, post_subscribe):
    settings.NOTIFICATIONS_SUBSCRIBE_RATE_LIMIT = (2, 3600)
    for n in range(2):
        assert post_subscribe(f"/subscriptions/{organisation.slug}/", f"p{n}@example.org").status_code == 200
    refused = post_subscribe(f"/subscriptions/{organisation.slug}/", "p3@example.org")
    assert refused.status_code == 429
    assert Subscriber.objects.count() == 2


def test_product_subscriptions_and_unknown_slugs(client, frozen_clock, organisation, product, smtp_sink,
                                                 post_subscribe):
    response = post_subscribe(f"/subscriptions/{organisation.slug}/products/{product.slug}/", ADDRESS)
    assert response.status_code == 200
    assert Subscriber.objects.get().product == product
    other_product = make_product(make_organisation())
    assert client.get(f"/subscriptions/{organisation.slug}/products/{other_product.slug}/").status_code == 404
    assert client.get("/subscriptions/no-such-organisation/").status_code == 404


# --- unsubscribe ----------------------------------------------------------------------------------

def _unsubscribe_path(row) -> str:
    return f"/subscriptions/unsubscribe/{unsubscribe_token(subscriber_id=row.pk, address_hash=row.address_hash)}/"


def test_one_click_unsubscribe_works_without_cookies_or_csrf_token(frozen_clock, organisation, subscribe):
    row = subscribe(organisation, ADDRESS)
    mail_client = Client(enforce_csrf_checks=True)  # what a mail provider's RFC 8058 POST looks like

    response = mail_client.post(_unsubscribe_path(row), "List-Unsubscribe=One-Click",
                                content_type="application/x-www-form-urlencoded")

    assert response.status_code == 200
    row.refresh_from_db()
    assert row.status == Subscriber.Status.UNSUBSCRIBED
    assert Subscriber.objects.get(pk=row.pk).address == ""  # erased; only the keyed hash stays
    assert AuditEntry.objects.filter(action="subscriber.unsubscribe", target_id=str(row.pk)).exists()
    # Idempotent: a second click (or the page's button) answers the same.
    assert mail_client.post(_unsubscribe_path(row), "List-Unsubscribe=One-Click",
                            content_type="application/x-www-form-urlencoded").status_code == 200


def test_the_unsubscribe_page_asks_before_it_acts(client, frozen_clock, organisation, product, subscribe):
    row = subscribe(organisation, ADDRESS, product=product)

    page = client.get(_unsubscribe_path(row))

    assert page.status_code == 200
    html = page.content.decode()
    assert f"Stop receiving {organisation.name}’s security advisories for {product.name}" in html
    assert '<form method="post">' in html
    assert page["Referrer-Policy"] == "no-referrer"
    row.refresh_from_db()
    assert row.status == Subscriber.Status.CONFIRMED
    assert client.post(_unsubscribe_path(row)).status_code == 200
    row.refresh_from_db()
    assert row.status == Subscriber.Status.UNSUBSCRIBED
    assert "You are unsubscribed" in client.get(_unsubscribe_path(row)).content.decode()


@pytest.mark.parametrize("mangle", [
    lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # signature changed
    lambda token: "9" + token,  # another subscriber id, same signature
    lambda token: "garbage",
    lambda token: "x" * 300,
])
def test_tampered_unsubscribe_tokens_are_404(client, frozen_clock, organisation, subscribe, mangle):
    row = subscribe(organisation, ADDRESS)
    token = unsubscribe_token(subscriber_id=row.pk, address_hash=row.address_hash)

    assert client.get(f"/subscriptions/unsubscribe/{mangle(token)}/").status_code == 404
    assert client.post(f"/subscriptions/unsubscribe/{mangle(token)}/").status_code == 404
    row.refresh_from_db()
    assert row.status == Subscriber.Status.CONFIRMED


def test_a_token_signed_for_another_address_does_not_unsubscribe_a_reused_id(frozen_clock, organisation,
                                                                            subscribe, client):
    row = subscribe(organisation, ADDRESS)
    forged = unsubscribe_token(subscriber_id=row.pk, address_hash="0" * 64)
    assert client.post(f"/subscriptions/unsubscribe/{forged}/").status_code == 404


def test_unsubscribing_cancels_pending_deliveries_and_subscribing_again_needs_a_new_confirmation(
        frozen_clock, organisation, smtp_sink, subscribe, client):
    row = subscribe(organisation, ADDRESS)
    client.post(_unsubscribe_path(row))

    again = subscribe(organisation, ADDRESS, confirm=False)

    assert again.pk == row.pk
    assert again.status == Subscriber.Status.PENDING
    assert again.address == "Alice.Example@example.org"
    assert len(confirmation_links(smtp_sink, "Alice.Example@example.org")) == 2
    assert not Delivery.objects.filter(subscriber=row, status=Delivery.Status.PENDING).exists()


def test_hostile_organisation_and_product_names_stay_inert_in_pages_and_mail_headers(db, frozen_clock, smtp_sink,
                                                                                    post_subscribe):
    organisation = make_organisation(name="Evil\r\nBcc: victim@example.org <script>alert(1)</script>")
    product = make_product(organisation, name="Shop\u2028X-Injected: yes")

    response = post_subscribe(f"/subscriptions/{organisation.slug}/products/{product.slug}/", ADDRESS)

    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.content.decode()
    [mail] = smtp_sink.wait_for(1)
    assert mail["to"] == ["Alice.Example@example.org"]
    message = mail["message"]
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert message["Subject"] == ("Confirm your subscription to Evil Bcc: victim@example.org "
                                  "<script>alert(1)</script> security advisories for Shop X-Injected: yes")


def test_key_rotation_reseals_addresses_and_keeps_the_hash(frozen_clock, organisation, subscribe):
    from vulndesk.organisations.keys import forget_cached_keys
    from vulndesk.organisations.rotation import organisation_keys_rotate

    row = subscribe(organisation, ADDRESS)
    before = row.sealed_address

    result = organisation_keys_rotate(organisation_id=organisation.pk, settle_seconds=0)
    forget_cached_keys()

    after = Subscriber.objects.get(pk=row.pk)
    assert result.resealed >= 1
    assert after.sealed_address != before and after.sealed_address.startswith(f"v1.{result.new_version}.")
    assert after.address == "Alice.Example@example.org"
    assert address_hash(organisation_id=organisation.pk, address=ADDRESS) == row.address_hash
