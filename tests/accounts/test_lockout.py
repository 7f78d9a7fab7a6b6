"""Login lock-out with django-axes (ASVS V6.1.1, V6.3.1): an (account, address) pair is locked
after AXES_FAILURE_LIMIT wrong passwords, so nobody can lock a victim out from elsewhere;
spraying many accounts from one address meets the per-IP login rate limit instead. The lock
answers 429 with Retry-After, even to the right password, until the cool-off ends. A success
before the limit starts the count again. The JWT token endpoint counts towards the same lock.

Django's test client sends REMOTE_ADDR=127.0.0.1; other addresses are passed explicitly."""

import json
import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings

from tests.factories.core import PASSWORD, make_member, totp_code, totp_device_for

LOGIN = "/accounts/login/"
TOKEN = "/api/v1/auth/token/"
LIMIT = settings.AXES_FAILURE_LIMIT


def login(client, email, password, ip="127.0.0.1"):
    return client.post(LOGIN, {"username": email, "password": password}, REMOTE_ADDR=ip)


def token(client, email, password, otp, ip="127.0.0.1"):
    return client.post(TOKEN, json.dumps({"email": email, "password": password, "otp": otp}),
                       content_type="application/json", REMOTE_ADDR=ip)


def assert_locked(response):
    assert response.status_code == 429
    assert "Login temporarily locked" in response.content.decode()
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    assert response["Retry-After"] == str(minutes * 60)


def without_per_request_values(html: bytes) -> str:
    """The page minus its CSP nonce and CSRF token, which differ on every response."""
    text = re.sub(r'nonce="[^"]+"', 'nonce=""', html.decode())
    return re.sub(r'"X-CSRFToken": "[^"]+"', '"X-CSRFToken": ""', text)


@pytest.fixture
def user(triager):
    return triager.user


def test_the_settings_lock_after_a_few_failures_for_a_limited_time():
    assert 3 <= LIMIT <= 10
    assert timedelta(minutes=1) <= settings.AXES_COOLOFF_TIME <= timedelta(hours=1)


def test_wrong_passwords_below_the_limit_leave_the_login_open(client, user):
    for _ in range(LIMIT - 1):
        assert login(client, user.email, "wrong-password").status_code == 200

    assert login(client, user.email, PASSWORD).status_code == 302


def test_the_pair_is_locked_after_the_limit_even_for_the_right_password(client, user):
    for _ in range(LIMIT):
        login(client, user.email, "wrong-password", ip="203.0.113.1")

    response = login(client, user.email, PASSWORD, ip="203.0.113.1")

    assert_locked(response)
    assert "_auth_user_id" not in client.session


def test_failures_from_elsewhere_cannot_lock_the_owner_out(client, user):
    # An attacker guessing from many addresses does not deny the real user their login.
    for n in range(LIMIT):
        login(client, user.email, "wrong-password", ip=f"203.0.113.{n + 1}")

    assert login(client, user.email, PASSWORD, ip="198.51.100.50").status_code == 302


def test_the_attempt_that_reaches_the_limit_is_answered_with_the_lock_page(client, user):
    for _ in range(LIMIT - 1):
        login(client, user.email, "wrong-password")

    assert_locked(login(client, user.email, "wrong-password"))


def test_spraying_many_accounts_from_one_address_meets_the_login_rate_limit(client, organisation, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login": (8, 300)}
    victims = [make_member(organisation).user for _ in range(3)]
    answers = [login(client, victims[n % 3].email, "Summer2026!", ip="192.0.2.66").status_code for n in range(9)]

    assert answers[:8] == [200] * 8 and answers[8] == 429
    # Someone else, from their own address, is not affected by the sprayer.
    assert login(client, victims[0].email, PASSWORD, ip="198.51.100.9").status_code == 302


def test_unknown_accounts_lock_the_pair_like_known_ones(client, db):
    for _ in range(LIMIT):
        login(client, "nobody@example.org", "guess", ip="192.0.2.77")

    assert_locked(login(client, "nobody@example.org", "guess", ip="192.0.2.77"))


def test_a_success_before_the_limit_resets_the_count(client, user):
    from django.test import Client

    for _ in range(LIMIT - 1):
        login(client, user.email, "wrong-password")
    assert login(client, user.email, PASSWORD).status_code == 302

    later = Client()
    for _ in range(LIMIT - 1):
        assert login(later, user.email, "wrong-password").status_code == 200

    assert login(later, user.email, PASSWORD).status_code == 302


def test_the_lock_ends_after_the_cool_off(client, user):
    for _ in range(LIMIT):
        login(client, user.email, "wrong-password")
    assert_locked(login(client, user.email, PASSWORD))

    # django-axes compares attempt times with the real clock: age the stored attempts instead.
    aged = settings.AXES_COOLOFF_TIME + timedelta(seconds=1)
    for attempt in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=attempt.attempt_time - aged)

    assert login(client, user.email, PASSWORD).status_code == 302


def test_the_lock_page_does_not_say_whether_the_account_exists(client, user):
    for _ in range(LIMIT):
        login(client, user.email, "wrong-password", ip="203.0.113.200")
    for _ in range(LIMIT):
        login(client, "ghost@example.org", "wrong-password", ip="203.0.113.201")

    known = login(client, user.email, PASSWORD, ip="203.0.113.200")
    unknown = login(client, "ghost@example.org", PASSWORD, ip="203.0.113.201")

    assert known.status_code == unknown.status_code == 429
    assert without_per_request_values(known.content) == without_per_request_values(unknown.content)


def test_the_stored_attempts_hold_no_password(client, user):
    login(client, user.email, "my-secret-guess-123")

    assert "my-secret-guess-123" not in repr(list(AccessAttempt.objects.values()))


# --- the token endpoint -------------------------------------------------------------------

def test_wrong_passwords_on_the_token_endpoint_count_towards_the_lock(client, user):
    device = totp_device_for(user)
    for _ in range(LIMIT):
        response = token(client, user.email, "wrong-password", "000000", ip="203.0.113.10")
        assert "access" not in response.content.decode()

    response = token(client, user.email, PASSWORD, totp_code(device), ip="203.0.113.10")

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "locked_out"
    assert "access" not in response.content.decode()
    # ...and the web login from that address is locked too: one pair, one count.
    assert_locked(login(client, user.email, PASSWORD, ip="203.0.113.10"))


def test_failures_on_the_web_login_lock_the_token_endpoint(client, user):
    device = totp_device_for(user)
    for _ in range(LIMIT):
        login(client, user.email, "wrong-password")

    response = token(client, user.email, PASSWORD, totp_code(device))

    assert response.status_code == 429
    assert "refresh" not in response.content.decode()
