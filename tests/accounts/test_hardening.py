"""Hardening after review: password context words, 120-bit recovery codes, no-store on staff
answers, the JWT audience/issuer and the absolute session age."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from tests.factories.core import (
    PASSWORD,
    make_product,
    make_report,
    totp_code,
    totp_device_for,
    verified_login,
)
from vulndesk.accounts.models import TokenFamily
from vulndesk.accounts.services import user_create
from vulndesk.accounts.twofactor import recovery_codes_regenerate


@pytest.mark.parametrize("password", ["vulndesk-is-my-password-1", "alice.wonderland-2026-secret!",
                                      "short-but-ok1"])
def test_passwords_with_context_words_or_under_15_characters_are_refused(db, password):
    with pytest.raises(ValidationError):
        user_create(email="alice.wonderland@example.org", password=password)


def test_recovery_codes_carry_at_least_112_bits(triager):
    codes = recovery_codes_regenerate(user=triager.user)
    assert len(codes) == 10 and len(set(codes)) == 10
    for code in codes:
        letters = code.replace("-", "")
        assert len(letters) * 5 >= 120 and set(letters) <= set("abcdefghijklmnopqrstuvwxyz234567")


def test_staff_pages_and_api_answers_are_never_cached(client, triager):
    verified_login(client, triager.user)
    report = make_report(make_product(triager.organisation)).report
    for url in (f"/o/{triager.organisation.slug}/reports/", f"/o/{triager.organisation.slug}/reports/{report.number}/",
                f"/api/v1/organisations/{triager.organisation.slug}/reports/"):
        assert client.get(url)["Cache-Control"] == "no-store, private", url


def _obtain(client, user):
    device = totp_device_for(user)
    response = client.post("/api/v1/auth/token/", json.dumps(
        {"email": user.email, "password": PASSWORD, "otp": totp_code(device)}), content_type="application/json")
    assert response.status_code == 200
    return response.json()


def test_a_token_for_another_audience_is_refused(client, triager):
    import jwt as pyjwt
    from django.conf import settings

    pair = _obtain(client, triager.user)
    payload = pyjwt.decode(pair["access"], options={"verify_signature": False})
    # Signed with the right key, but minted for another service sharing it.
    forged = pyjwt.encode({**payload, "aud": "some-other-service"}, settings.SIMPLE_JWT["SIGNING_KEY"],
                          algorithm="HS256")
    url = f"/api/v1/organisations/{triager.organisation.slug}/reports/"
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {pair['access']}").status_code == 200
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {forged}").status_code == 401


def test_refreshing_cannot_stretch_a_login_past_its_maximum_age(client, triager, settings):
    pair = _obtain(client, triager.user)
    family = TokenFamily.objects.get()
    TokenFamily.objects.filter(pk=family.pk).update(
        created_at=family.created_at - timedelta(hours=settings.JWT_SESSION_MAX_HOURS, minutes=1))
    response = client.post("/api/v1/auth/token/refresh/", json.dumps({"refresh": pair["refresh"]}),
                           content_type="application/json")
    assert response.status_code == 401
    assert "maximum age" in response.content.decode()
    assert TokenFamily.objects.get().revoked_at is not None
