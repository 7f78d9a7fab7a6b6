"""The JWT API login (ASVS V9, V10.4.5, V7.4.1): tokens need password *and* a second factor,
refresh tokens rotate, replaying a rotated refresh token kills its whole family, and forged,
expired, family-less or orphaned tokens are refused.

SimpleJWT and django-otp read the real time, so expiry is built into the tokens themselves."""

import base64
import json
from datetime import timedelta

import jwt as pyjwt
import pytest
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken
from rest_framework_simplejwt.utils import aware_utcnow

from tests.factories.core import PASSWORD, make_member, make_report, totp_code, totp_device_for
from vulndesk.accounts.jwt import FAMILY_CLAIM
from vulndesk.accounts.models import TokenFamily
from vulndesk.accounts.twofactor import recovery_codes_regenerate
from vulndesk.audit.models import AuditEntry

OBTAIN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
LOGOUT = "/api/v1/auth/token/logout/"


def post(client, url, data):
    return client.post(url, json.dumps(data), content_type="application/json")


def obtain(client, user, *, password=PASSWORD, otp=None):
    code = otp if otp is not None else totp_code(totp_device_for(user))
    return post(client, OBTAIN, {"email": user.email, "password": password, "otp": code})


def wrong_code(user) -> str:
    """A well-formed six-digit code that is not the current one."""
    return str((int(totp_code(totp_device_for(user))) + 1) % 1_000_000).zfill(6)


def reports_url(organisation) -> str:
    return f"/api/v1/organisations/{organisation.slug}/reports/"


def bearer(client, organisation, access):
    return client.get(reports_url(organisation), HTTP_AUTHORIZATION=f"Bearer {access}")


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def unb64(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.fixture
def member(triager):
    return triager


@pytest.fixture
def pair(client, member):
    response = obtain(client, member.user)
    assert response.status_code == 200, response.content
    return response.json()


# --- obtain --------------------------------------------------------------------------------

def test_password_and_current_totp_code_give_an_access_and_a_refresh_token(client, member):
    response = obtain(client, member.user)

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"access", "refresh"}
    access, refresh = AccessToken(body["access"]), RefreshToken(body["refresh"])
    assert access[FAMILY_CLAIM] == refresh[FAMILY_CLAIM]
    assert TokenFamily.objects.get(pk=access[FAMILY_CLAIM]).user == member.user


def test_a_recovery_code_also_obtains_tokens(client, member):
    totp_device_for(member.user)
    codes = recovery_codes_regenerate(user=member.user)

    response = obtain(client, member.user, otp=codes[0])

    assert response.status_code == 200, response.content


@pytest.mark.parametrize("what", ["otp", "password", "both"])
def test_a_wrong_one_time_code_or_password_gets_401_and_no_tokens(client, member, what):
    code = totp_code(totp_device_for(member.user))
    data = {
        "otp": {"email": member.user.email, "password": PASSWORD, "otp": wrong_code(member.user)},
        "password": {"email": member.user.email, "password": PASSWORD + "x", "otp": code},
        "both": {"email": member.user.email, "password": "guess", "otp": "000000"},
    }[what]

    response = post(client, OBTAIN, data)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "access" not in response.json() and "refresh" not in response.json()
    assert not TokenFamily.objects.exists()


def test_a_request_without_a_one_time_code_gets_400_and_no_tokens(client, member):
    response = post(client, OBTAIN, {"email": member.user.email, "password": PASSWORD})

    assert response.status_code == 400
    assert "access" not in response.json()
    assert not TokenFamily.objects.exists()


def test_a_user_without_a_second_factor_cannot_obtain_tokens_with_the_password(client, member):
    # No confirmed device: any code fails, so the password alone is never enough.
    response = post(client, OBTAIN, {"email": member.user.email, "password": PASSWORD, "otp": "123456"})

    assert response.status_code == 401
    assert not TokenFamily.objects.exists()


def test_basic_authentication_is_not_a_way_in(client, member, organisation):
    credentials = base64.b64encode(f"{member.user.email}:{PASSWORD}".encode()).decode()

    response = client.get(reports_url(organisation), HTTP_AUTHORIZATION=f"Basic {credentials}")

    assert response.status_code == 401


def test_obtaining_tokens_is_audited_without_the_tokens(client, member):
    body = obtain(client, member.user).json()

    entry = AuditEntry.objects.get(action="auth.token_obtain")
    assert entry.actor_id == member.user.pk
    assert entry.target_type == "token_family"
    assert entry.target_id == str(AccessToken(body["access"])[FAMILY_CLAIM])
    assert entry.ip_address == "127.0.0.1"
    stored = json.dumps(list(AuditEntry.objects.values()), default=str)
    assert body["access"] not in stored and body["refresh"] not in stored


def test_a_wrong_one_time_code_on_the_token_endpoint_is_audited(client, member):
    response = obtain(client, member.user, otp=wrong_code(member.user))

    assert response.status_code == 401
    assert AuditEntry.objects.filter(action="auth.token_otp_failed", actor_id=member.user.pk).exists()


def test_a_wrong_one_time_code_on_the_token_endpoint_counts_towards_the_devices_throttle(client, member):
    # django-otp slows down guessing by counting failures on the device; a refused request
    # must not roll that count back.
    response = obtain(client, member.user, otp=wrong_code(member.user))

    assert response.status_code == 401
    assert totp_device_for(member.user).throttling_failure_count == 1


# --- using the access token ----------------------------------------------------------------

def test_the_access_token_opens_the_reports_api(client, member, organisation, product, frozen_clock, pair):
    created = make_report(product)

    response = bearer(client, organisation, pair["access"])

    assert response.status_code == 200, response.content
    assert [row["number"] for row in response.json()["results"]] == [created.report.number]


def test_a_request_without_credentials_gets_401(client, organisation, member):
    assert client.get(reports_url(organisation)).status_code == 401


def test_a_refresh_token_is_not_accepted_as_a_bearer_token(client, organisation, pair):
    assert bearer(client, organisation, pair["refresh"]).status_code == 401


# --- refresh and reuse ---------------------------------------------------------------------

def test_refreshing_returns_a_new_pair_in_the_same_family(client, organisation, pair):
    response = post(client, REFRESH, {"refresh": pair["refresh"]})

    assert response.status_code == 200, response.content
    new = response.json()
    assert new["access"] != pair["access"] and new["refresh"] != pair["refresh"]
    assert AccessToken(new["access"])[FAMILY_CLAIM] == AccessToken(pair["access"])[FAMILY_CLAIM]
    assert bearer(client, organisation, new["access"]).status_code == 200
    assert post(client, REFRESH, {"refresh": new["refresh"]}).status_code == 200


def test_a_rotated_refresh_token_is_refused(client, pair):
    assert post(client, REFRESH, {"refresh": pair["refresh"]}).status_code == 200

    response = post(client, REFRESH, {"refresh": pair["refresh"]})

    assert response.status_code == 401
    assert "access" not in response.json()


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family_at_once(client, organisation, pair):
    newest = post(client, REFRESH, {"refresh": pair["refresh"]}).json()
    assert bearer(client, organisation, newest["access"]).status_code == 200

    replay = post(client, REFRESH, {"refresh": pair["refresh"]})  # the stolen, already rotated token

    assert replay.status_code == 401
    family = TokenFamily.objects.get(pk=AccessToken(pair["access"])[FAMILY_CLAIM])
    assert family.revoked_at is not None
    assert family.revoked_reason == "refresh token reused"
    # The legitimate holder's newest tokens die with it: nobody goes on with this login.
    assert bearer(client, organisation, newest["access"]).status_code == 401
    assert post(client, REFRESH, {"refresh": newest["refresh"]}).status_code == 401


def test_a_family_revoke_is_audited(client, pair):
    post(client, REFRESH, {"refresh": pair["refresh"]})
    post(client, REFRESH, {"refresh": pair["refresh"]})

    entry = AuditEntry.objects.get(action="auth.token_family_revoke")
    assert entry.target_id == str(AccessToken(pair["access"])[FAMILY_CLAIM])
    assert entry.data == {"reason": "refresh token reused"}


def test_revoking_one_family_leaves_the_users_other_logins_working(client, member, organisation, pair):
    totp_device_for(member.user)
    other = obtain(client, member.user, otp=recovery_codes_regenerate(user=member.user)[0]).json()

    post(client, REFRESH, {"refresh": pair["refresh"]})
    post(client, REFRESH, {"refresh": pair["refresh"]})

    assert bearer(client, organisation, pair["access"]).status_code == 401
    assert bearer(client, organisation, other["access"]).status_code == 200


# --- logout --------------------------------------------------------------------------------

def test_logout_revokes_the_access_and_refresh_token_at_once(client, organisation, pair):
    assert bearer(client, organisation, pair["access"]).status_code == 200

    response = post(client, LOGOUT, {"refresh": pair["refresh"]})

    assert response.status_code == 204
    assert bearer(client, organisation, pair["access"]).status_code == 401
    assert post(client, REFRESH, {"refresh": pair["refresh"]}).status_code == 401
    assert AuditEntry.objects.get(action="auth.token_family_revoke").data == {"reason": "logout"}


# --- forged, expired and orphaned tokens ---------------------------------------------------

def test_an_expired_access_token_is_refused(client, organisation, pair):
    token = AccessToken(pair["access"])
    token.set_exp(from_time=aware_utcnow() - timedelta(hours=1))  # expired 50 minutes ago, validly signed

    assert bearer(client, organisation, str(token)).status_code == 401


def test_an_expired_refresh_token_is_refused(client, pair):
    token = RefreshToken(pair["refresh"])
    token.set_exp(from_time=aware_utcnow() - timedelta(days=2))

    response = post(client, REFRESH, {"refresh": str(token)})

    assert response.status_code == 401
    assert "access" not in response.json()


def test_a_token_with_a_changed_signature_character_is_refused(client, organisation, pair):
    header, payload, signature = pair["access"].split(".")
    # A character in the middle: the last one may only carry padding bits and decode the same.
    middle = len(signature) // 2
    flipped = signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1:]

    assert bearer(client, organisation, f"{header}.{payload}.{flipped}").status_code == 401


def test_a_token_whose_payload_was_changed_without_re_signing_is_refused(client, organisation, member, pair):
    intruder = make_member(organisation, role="owner")
    header, payload, signature = pair["access"].split(".")
    claims = unb64(payload) | {"user_id": str(intruder.user.pk)}

    assert bearer(client, organisation, f"{header}.{b64(claims)}.{signature}").status_code == 401


def test_a_token_with_alg_none_is_refused(client, organisation, pair):
    _, payload, _ = pair["access"].split(".")
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}."

    assert bearer(client, organisation, unsigned).status_code == 401


def test_a_token_signed_with_another_key_is_refused(client, organisation, pair):
    claims = unb64(pair["access"].split(".")[1])
    forged = pyjwt.encode(claims, "not-the-signing-key-" * 3, algorithm="HS256")

    assert bearer(client, organisation, forged).status_code == 401


def test_a_validly_signed_token_without_a_family_claim_is_refused(client, organisation, member):
    token = AccessToken.for_user(member.user)  # signed with the real key, but no login behind it
    assert FAMILY_CLAIM not in token.payload

    assert bearer(client, organisation, str(token)).status_code == 401


def test_a_token_naming_an_unknown_family_is_refused(client, organisation, member):
    token = AccessToken.for_user(member.user)
    token[FAMILY_CLAIM] = "00000000-0000-4000-8000-000000000000"

    assert bearer(client, organisation, str(token)).status_code == 401


def test_a_token_naming_another_users_family_is_refused(client, organisation, member, pair):
    # Signed with the real key (as only the server can), but the family is someone else's login.
    other = make_member(organisation, role="triager")
    token = AccessToken.for_user(other.user)
    token[FAMILY_CLAIM] = AccessToken(pair["access"])[FAMILY_CLAIM]

    assert bearer(client, organisation, str(token)).status_code == 401
    assert bearer(client, organisation, pair["access"]).status_code == 200


def test_tokens_of_a_deactivated_user_are_refused(client, organisation, member, pair):
    member.user.is_active = False
    member.user.save(update_fields=["is_active"])

    assert bearer(client, organisation, pair["access"]).status_code == 401
    assert post(client, REFRESH, {"refresh": pair["refresh"]}).status_code == 401


def test_a_deactivated_user_cannot_obtain_tokens(client, member):
    member.user.is_active = False
    member.user.save(update_fields=["is_active"])

    response = obtain(client, member.user)

    assert response.status_code == 401
    assert not TokenFamily.objects.exists()
