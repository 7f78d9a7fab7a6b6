"""Rate limits (ASVS V2.3.2, V2.4.1, V4.1.3): counters live in the database, so every worker
process shares them; a refused request gets 429 with Retry-After and changes nothing; the
client is REMOTE_ADDR only, so a forged X-Forwarded-For picks no fresh bucket; counter keys
hold hashes, never an address or a user id."""

import json
import re

import pytest
from django.conf import settings
from django.test import Client

from vulndesk.core.models import RateCounter
from vulndesk.reports.models import Report

LOGIN = "/accounts/login/"


def form_url(organisation, product) -> str:
    return f"/p/{organisation.slug}/{product.slug}/report/"


def report_post(client, organisation, product, ip="127.0.0.1", **extra):
    return client.post(form_url(organisation, product), {
        "title": "Open redirect on the login page", "description": "next= is not checked.",
    }, REMOTE_ADDR=ip, **extra)


def assert_refused(response, window_seconds):
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= window_seconds


def reports_in(organisation) -> int:
    return Report.objects.filter(organisation=organisation).count()


@pytest.fixture(autouse=True)
def _clock(frozen_clock):
    """A fixed window: a test must not straddle the start of a new one."""
    return frozen_clock


@pytest.fixture
def small_limits(settings):
    def set_limit(scope, requests, window=60):
        settings.RATE_LIMITS = {**settings.RATE_LIMITS, scope: (requests, window)}
        return requests

    return set_limit


# --- the public report form -------------------------------------------------------------------

def test_the_report_form_refuses_the_post_after_the_limit_with_a_friendly_429(client, organisation, product):
    limit, window = settings.RATE_LIMITS["report_submit"]
    for n in range(limit):
        assert report_post(client, organisation, product).status_code == 302, n

    response = report_post(client, organisation, product)

    assert_refused(response, window)
    html = response.content.decode()
    assert "Too many requests" in html and "Nothing you typed was sent" in html
    assert reports_in(organisation) == limit


def test_the_report_form_limit_counts_per_address(client, organisation, product, small_limits):
    limit = small_limits("report_submit", 2, 3600)
    for _ in range(limit):
        report_post(client, organisation, product, ip="198.51.100.1")
    assert report_post(client, organisation, product, ip="198.51.100.1").status_code == 429

    assert report_post(client, organisation, product, ip="198.51.100.2").status_code == 302
    assert reports_in(organisation) == limit + 1


def test_the_report_form_counter_is_shared_between_clients_of_one_address(organisation, product, small_limits):
    # Two clients stand for two worker processes: the count is in the database, not in memory.
    limit = small_limits("report_submit", 2, 3600)
    first, second = Client(), Client()
    assert report_post(first, organisation, product, ip="198.51.100.3").status_code == 302
    assert report_post(second, organisation, product, ip="198.51.100.3").status_code == 302

    assert report_post(first, organisation, product, ip="198.51.100.3").status_code == 429
    assert report_post(second, organisation, product, ip="198.51.100.3").status_code == 429
    assert reports_in(organisation) == limit


def test_reading_the_report_form_is_not_limited(client, organisation, product, small_limits):
    small_limits("report_submit", 1, 3600)
    for _ in range(3):
        assert client.get(form_url(organisation, product)).status_code == 200

    assert report_post(client, organisation, product).status_code == 302


def test_a_forged_x_forwarded_for_does_not_change_the_bucket(client, organisation, product, small_limits):
    small_limits("report_submit", 1, 3600)
    assert report_post(client, organisation, product, ip="198.51.100.4").status_code == 302

    response = report_post(client, organisation, product, ip="198.51.100.4",
                           HTTP_X_FORWARDED_FOR="203.0.113.99", HTTP_X_REAL_IP="203.0.113.99")

    assert response.status_code == 429
    assert reports_in(organisation) == 1


def test_a_forged_x_forwarded_for_does_not_spend_someone_elses_bucket(client, organisation, product, small_limits):
    small_limits("report_submit", 1, 3600)
    report_post(client, organisation, product, ip="198.51.100.5", HTTP_X_FORWARDED_FOR="198.51.100.6")

    assert report_post(client, organisation, product, ip="198.51.100.6").status_code == 302


def test_the_window_ends_and_the_form_accepts_again(client, organisation, product, small_limits, frozen_clock):
    small_limits("report_submit", 1, 3600)
    report_post(client, organisation, product)
    refused = report_post(client, organisation, product)
    assert refused.status_code == 429

    frozen_clock.advance(seconds=int(refused["Retry-After"]))

    assert report_post(client, organisation, product).status_code == 302


# --- counter storage --------------------------------------------------------------------------

def test_counter_keys_hold_no_address_and_no_user_id(staff_client, triager, organisation, product):
    report_post(staff_client, organisation, product, ip="198.51.100.77")
    staff_client.get(f"/api/v1/organisations/{organisation.slug}/reports/", REMOTE_ADDR="198.51.100.77")

    keys = list(RateCounter.objects.values_list("key", flat=True))
    assert {key.split(":", 1)[0] for key in keys} == {"report_submit", "api"}
    assert len(keys) == 3  # the form by address; the API by address and by account
    for key in keys:
        assert re.fullmatch(r"[a-z_]+:[0-9a-f]{40}", key), key
        assert "198.51.100.77" not in key
        assert f"user:{triager.user.pk}" not in key and "ip:" not in key


# --- the API ----------------------------------------------------------------------------------

def test_the_api_answers_429_with_retry_after_past_its_limit(staff_client, organisation, small_limits):
    limit = small_limits("api", 3, 60)
    url = f"/api/v1/organisations/{organisation.slug}/reports/"
    for _ in range(limit):
        assert staff_client.get(url).status_code == 200

    response = staff_client.get(url)

    assert_refused(response, 60)
    assert "results" not in response.json()


def test_the_api_limit_follows_the_account_across_addresses(staff_client, organisation, small_limits):
    limit = small_limits("api", 3, 60)
    url = f"/api/v1/organisations/{organisation.slug}/reports/"
    for n in range(limit):
        staff_client.get(url, REMOTE_ADDR=f"198.51.100.{n + 20}")

    assert staff_client.get(url, REMOTE_ADDR="198.51.100.99").status_code == 429


def test_an_api_request_refused_by_the_limit_creates_nothing(staff_client, organisation, product, small_limits):
    small_limits("api", 1, 60)
    url = f"/api/v1/organisations/{organisation.slug}/reports/"
    staff_client.get(url)

    response = staff_client.post(url, json.dumps({"product": product.slug, "title": "t", "description": "d"}),
                                 content_type="application/json")

    assert response.status_code == 429
    assert reports_in(organisation) == 0


def test_the_token_endpoint_is_limited_per_address(client, small_limits, db):
    limit = small_limits("auth_token", 2, 300)
    for n in range(limit):
        client.post("/api/v1/auth/token/", json.dumps({"email": f"a{n}@example.org", "password": "x", "otp": "1"}),
                    content_type="application/json", REMOTE_ADDR="198.51.100.30")

    response = client.post("/api/v1/auth/token/", json.dumps({"email": "b@example.org", "password": "x", "otp": "1"}),
                           content_type="application/json", REMOTE_ADDR="198.51.100.30")

    assert_refused(response, 300)


# --- login --------------------------------------------------------------------------------------

def test_the_login_form_is_limited_per_address(client, db, small_limits):
    limit = small_limits("login", 3, 300)  # below django-axes' lock-out, to see the rate limit itself
    for n in range(limit):
        assert client.post(LOGIN, {"username": f"u{n}@example.org", "password": "x"}).status_code == 200

    response = client.post(LOGIN, {"username": "other@example.org", "password": "x"})

    assert_refused(response, 300)
    assert "Too many requests" in response.content.decode()
    assert client.post(LOGIN, {"username": "other@example.org", "password": "x"},
                       REMOTE_ADDR="198.51.100.40").status_code == 200


def test_the_configured_limits_are_finite_and_named(db):
    for scope in ("report_submit", "tracking_message", "login", "auth_token", "api"):
        requests, window = settings.RATE_LIMITS[scope]
        assert requests >= 1 and window >= 60, scope

