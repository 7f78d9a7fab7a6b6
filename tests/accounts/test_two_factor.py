"""Staff login is password *and* a second factor (ASVS V6.3.3, V6.5, V7.2.4, V3.7.2, V16.3.1):
the password only opens the 2FA page; enrolment shows a QR code and recovery codes once; a
password-only session sees no organisation data on pages or the API; ``next`` survives the
detour but never leads off-site; every step is audited.

django-otp reads the real time, so codes come from ``totp_code`` (what an authenticator app
would show right now). A TOTP code works once per 30-second step, so each test uses one."""

import base64
import hashlib
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories.core import PASSWORD, make_report, totp_code, totp_device_for
from vulndesk.accounts.models import RecoveryCode
from vulndesk.accounts.services import user_create
from vulndesk.accounts.twofactor import RECOVERY_CODE_COUNT, recovery_codes_regenerate
from vulndesk.audit.models import AuditEntry

LOGIN = "/accounts/login/"
TWO_FACTOR = "/accounts/two-factor/"
SETUP = "/accounts/two-factor/setup/"


def password_login(client, user, *, password=PASSWORD, next=None):
    data = {"username": user.email, "password": password}
    if next is not None:
        data["next"] = next
    return client.post(LOGIN, data)


def wrong_code(device) -> str:
    return str((int(totp_code(device)) + 1) % 1_000_000).zfill(6)


def queue_url(organisation) -> str:
    return f"/o/{organisation.slug}/reports/"


def rows_containing(text: str) -> list[str]:
    """Every stored row (sessions decoded) whose values contain ``text``."""
    hits = []
    for model in apps.get_models():
        for row in model._base_manager.values():
            if model is Session:
                row["session_data"] = Session(**row).get_decoded()
            if text in repr(row):
                hits.append(f"{model._meta.label}: {row}")
    return hits


@pytest.fixture
def user(triager):
    return triager.user


@pytest.fixture
def enrolled(user):
    """The user has a confirmed TOTP device (enrolled at an earlier login)."""
    return totp_device_for(user)


# --- the password is only the first step -----------------------------------------------------

def test_a_correct_password_leads_to_the_two_factor_page_not_the_queue(client, user, enrolled):
    response = password_login(client, user)

    assert response.status_code == 302
    assert response.url == TWO_FACTOR
    page = client.get(TWO_FACTOR)
    assert page.status_code == 200
    assert "Enter your one-time code" in page.content.decode()


def test_a_wrong_password_shows_the_login_form_again(client, user):
    response = password_login(client, user, password=PASSWORD + "x")

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_a_password_is_checked_exactly_as_typed(client, db):
    person, _ = user_create(email="spaces@example.org", password="  correct horse battery  ")

    assert password_login(client, person, password="correct horse battery").status_code == 200
    assert password_login(client, person, password="  correct horse battery  ").status_code == 302


def test_without_a_confirmed_device_the_user_is_sent_to_enrolment(client, user):
    password_login(client, user)

    response = client.get(TWO_FACTOR)

    assert response.status_code == 302
    assert response.url == SETUP


def test_enrolment_shows_a_qr_code_as_a_data_uri_and_the_key_to_type(client, user):
    password_login(client, user)

    response = client.get(SETUP)

    assert response.status_code == 200
    html = response.content.decode()
    qr = re.search(r'<img class="qr" src="(data:image/svg\+xml;base64,[A-Za-z0-9+/=]+)"', html)
    assert qr, "no QR data: URI on the enrolment page"
    assert base64.b64decode(qr.group(1).split(",", 1)[1]).lstrip().startswith(b"<")
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    key = base64.b32encode(device.bin_key).decode().rstrip("=")
    shown = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1)
    assert shown.replace(" ", "") == key


def test_reloading_enrolment_keeps_the_same_key(client, user):
    password_login(client, user)
    client.get(SETUP)
    client.get(SETUP)

    assert TOTPDevice.objects.filter(user=user).count() == 1


def test_a_wrong_enrolment_code_answers_422_with_a_message_and_confirms_nothing(client, user):
    password_login(client, user)
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=user, confirmed=False)

    response = client.post(SETUP, {"code": wrong_code(device)})

    assert response.status_code == 422
    assert "That code is not valid" in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert not RecoveryCode.objects.exists()


def test_the_right_code_confirms_the_device_and_shows_ten_recovery_codes_once(client, user, organisation):
    password_login(client, user)
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=user, confirmed=False)

    response = client.post(SETUP, {"code": totp_code(device)})

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    device.refresh_from_db()
    assert device.confirmed
    codes = re.search(r'id="recovery-codes">(.*?)</pre>', response.content.decode(), re.S).group(1).split()
    assert len(codes) == RECOVERY_CODE_COUNT == 10
    assert len(set(codes)) == 10
    # The session is now verified: the queue opens without another code.
    assert client.get(queue_url(organisation)).status_code == 200
    # Shown once: no later page repeats them.
    for later in (client.get(queue_url(organisation)), client.get(SETUP)):
        assert not any(code in later.content.decode() for code in codes)


def test_enrolment_gives_the_session_a_new_key(client, user):
    password_login(client, user)
    client.get(SETUP)
    password_key = client.session.session_key

    client.post(SETUP, {"code": totp_code(TOTPDevice.objects.get(user=user, confirmed=False))})

    assert client.session.session_key != password_key
    assert not Session.objects.filter(session_key=password_key).exists()


def test_recovery_codes_are_stored_only_as_sha256_hashes(client, user):
    password_login(client, user)
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    html = client.post(SETUP, {"code": totp_code(device)}).content.decode()
    codes = re.search(r'id="recovery-codes">(.*?)</pre>', html, re.S).group(1).split()

    stored = set(RecoveryCode.objects.values_list("code_hash", flat=True))
    assert stored == {hashlib.sha256(code.replace("-", "").lower().encode()).hexdigest() for code in codes}
    for code in codes:
        assert not RecoveryCode.objects.filter(code_hash__icontains=code.replace("-", "")).exists()
        assert rows_containing(code) == []
        assert rows_containing(code.replace("-", "")) == []


def test_enrolment_needs_a_login(client, db):
    response = client.get(SETUP)

    assert response.status_code == 302
    assert response.url.startswith(LOGIN)


def test_an_enrolled_user_cannot_enrol_a_new_device_with_the_password_alone(client, user, enrolled):
    password_login(client, user)

    response = client.get(SETUP)

    assert response.status_code == 302
    assert response.url == TWO_FACTOR
    assert not TOTPDevice.objects.filter(user=user, confirmed=False).exists()


# --- verifying ------------------------------------------------------------------------------

def test_the_current_totp_code_verifies_the_session(client, user, enrolled, organisation):
    password_login(client, user)

    response = client.post(TWO_FACTOR, {"code": totp_code(enrolled)})

    assert response.status_code == 302
    assert client.get(queue_url(organisation)).status_code == 200


def test_a_wrong_code_answers_422_with_a_message_and_leaves_the_session_unverified(client, user, enrolled,
                                                                                   organisation):
    password_login(client, user)

    response = client.post(TWO_FACTOR, {"code": wrong_code(enrolled)})

    assert response.status_code == 422
    assert "That code is not valid" in response.content.decode()
    assert client.get(queue_url(organisation)).status_code == 302


def test_a_wrong_code_counts_towards_the_devices_throttle(client, user, enrolled):
    password_login(client, user)

    client.post(TWO_FACTOR, {"code": wrong_code(enrolled)})

    enrolled.refresh_from_db()
    assert enrolled.throttling_failure_count == 1


def test_the_same_totp_code_does_not_verify_a_second_session(client, user, enrolled, organisation):
    from django.test import Client

    code = totp_code(enrolled)
    password_login(client, user)
    assert client.post(TWO_FACTOR, {"code": code}).status_code == 302

    other = Client()
    password_login(other, user)
    response = other.post(TWO_FACTOR, {"code": code})

    assert response.status_code == 422
    assert other.get(queue_url(organisation)).status_code == 302


def test_a_recovery_code_verifies_a_session_exactly_once(client, user, enrolled, organisation):
    from django.test import Client

    code = recovery_codes_regenerate(user=user)[3]
    password_login(client, user)

    first = client.post(TWO_FACTOR, {"code": code})

    assert first.status_code == 302
    assert client.get(queue_url(organisation)).status_code == 200
    assert RecoveryCode.objects.filter(device__user=user, used_at__isnull=False).count() == 1

    other = Client()
    password_login(other, user)
    second = other.post(TWO_FACTOR, {"code": code})

    assert second.status_code == 422
    assert other.get(queue_url(organisation)).status_code == 302


def test_the_session_key_changes_at_login_and_again_after_the_second_factor(client, user, enrolled):
    client.get(LOGIN)
    client.session.save()
    anonymous_key = client.session.session_key
    password_login(client, user)
    password_key = client.session.session_key

    client.post(TWO_FACTOR, {"code": totp_code(enrolled)})

    verified_key = client.session.session_key
    assert len({anonymous_key, password_key, verified_key}) == 3
    assert not Session.objects.filter(session_key__in=[anonymous_key, password_key]).exists()


# --- a password-only session sees nothing -------------------------------------------------

def test_member_pages_send_a_password_only_session_to_the_two_factor_page(client, user, enrolled, organisation,
                                                                          product, frozen_clock):
    report = make_report(product).report
    password_login(client, user)

    for url in (queue_url(organisation), f"{queue_url(organisation)}{report.number}/",
                f"/o/{organisation.slug}/products/", f"/o/{organisation.slug}/products/{product.slug}/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert urlsplit(response.url).path == TWO_FACTOR
        assert parse_qs(urlsplit(response.url).query)["next"] == [url]


def test_the_api_refuses_a_password_only_session(client, user, enrolled, organisation, product, frozen_clock):
    report = make_report(product).report
    password_login(client, user)
    api = f"/api/v1/organisations/{organisation.slug}/reports/"

    for response in (client.get(api), client.get(f"{api}{report.number}/"),
                     client.post(api, {"product": product.slug, "title": "x", "description": "y"},
                                 content_type="application/json")):
        assert response.status_code in (401, 403)
        assert "results" not in response.json() and "title" not in response.json()


def test_the_api_accepts_the_same_session_once_verified(client, user, enrolled, organisation):
    password_login(client, user)
    client.post(TWO_FACTOR, {"code": totp_code(enrolled)})

    assert client.get(f"/api/v1/organisations/{organisation.slug}/reports/").status_code == 200


# --- next ------------------------------------------------------------------------------------

def test_next_is_kept_through_login_and_the_second_factor(client, user, enrolled, organisation):
    target = f"{queue_url(organisation)}?state=all&severity=high"
    anonymous = client.get(target)
    assert anonymous.status_code == 302 and urlsplit(anonymous.url).path == LOGIN

    after_password = password_login(client, user, next=target)

    assert urlsplit(after_password.url).path == TWO_FACTOR
    assert parse_qs(urlsplit(after_password.url).query)["next"] == [target]
    page = client.get(after_password.url).content.decode()
    assert 'name="next" value="/o/' in page
    after_code = client.post(after_password.url, {"code": totp_code(enrolled), "next": target})
    assert after_code.status_code == 302
    assert after_code.url == target


@pytest.mark.parametrize("evil", ["https://evil.example", "//evil.example", "/\\evil.example",
                                  "https://evil.example/o/x/reports/"])
def test_an_off_site_next_is_ignored_at_login(client, user, enrolled, evil):
    response = password_login(client, user, next=evil)

    assert response.status_code == 302
    assert response.url == TWO_FACTOR
    assert "evil" not in client.get(TWO_FACTOR).content.decode()


@pytest.mark.parametrize("evil", ["https://evil.example", "//evil.example", "/\\evil.example"])
def test_an_off_site_next_is_ignored_after_the_second_factor(client, user, enrolled, evil):
    password_login(client, user)

    response = client.post(f"{TWO_FACTOR}?next={evil}", {"code": totp_code(enrolled), "next": evil})

    assert response.status_code == 302
    assert response.url == "/"


# --- audit ------------------------------------------------------------------------------------

def test_a_password_login_is_audited(client, user, enrolled):
    password_login(client, user)

    entry = AuditEntry.objects.get(action="auth.login")
    assert (entry.actor_id, entry.ip_address) == (user.pk, "127.0.0.1")


def test_a_failed_login_is_audited_without_the_username(client, user):
    client.post(LOGIN, {"username": user.email, "password": "not-the-password"}, REMOTE_ADDR="198.51.100.7")

    entry = AuditEntry.objects.get(action="auth.login_failed")
    assert entry.ip_address == "198.51.100.7"
    assert entry.actor_id is None and entry.actor_label == ""
    assert user.email not in repr(AuditEntry.objects.values().get(pk=entry.pk))
    assert "not-the-password" not in repr(list(AuditEntry.objects.values()))


def test_enabling_two_factor_is_audited(client, user):
    password_login(client, user)
    client.get(SETUP)
    client.post(SETUP, {"code": totp_code(TOTPDevice.objects.get(user=user, confirmed=False))})

    entry = AuditEntry.objects.get(action="2fa.enable")
    assert (entry.actor_id, entry.target_type, entry.target_id, entry.ip_address) == (
        user.pk, "user", str(user.pk), "127.0.0.1")


def test_a_verified_second_factor_is_audited_with_its_method(client, user, enrolled):
    password_login(client, user)
    client.post(TWO_FACTOR, {"code": totp_code(enrolled)})

    entry = AuditEntry.objects.get(action="auth.2fa_verified")
    assert entry.actor_id == user.pk
    assert entry.data == {"method": "totp"}


def test_a_recovery_code_login_is_audited_as_such(client, user, enrolled):
    code = recovery_codes_regenerate(user=user)[0]
    password_login(client, user)
    client.post(TWO_FACTOR, {"code": code})

    assert AuditEntry.objects.get(action="auth.2fa_verified").data == {"method": "recovery_code"}


def test_a_failed_second_factor_is_audited_without_the_code(client, user, enrolled):
    password_login(client, user)
    code = wrong_code(enrolled)
    client.post(TWO_FACTOR, {"code": code})

    entry = AuditEntry.objects.get(action="auth.2fa_failed")
    assert (entry.actor_id, entry.ip_address) == (user.pk, "127.0.0.1")
    assert code not in repr(AuditEntry.objects.values().get(pk=entry.pk))


# --- password storage and rules ---------------------------------------------------------------

def test_argon2_is_the_first_password_hasher_of_the_real_settings(settings, db):
    import vulndesk.settings as real

    assert real.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    settings.PASSWORD_HASHERS = real.PASSWORD_HASHERS
    person, _ = user_create(email="argon@example.org", password="a-long-enough-pass-phrase")

    assert person.password.startswith("argon2$argon2id$")
    assert person.check_password("a-long-enough-pass-phrase")


@pytest.mark.parametrize("password", [
    "short-pw-1",  # too short
    "qwertyqwerty",  # long enough, but on the common-password list
    "password1234",
    "839274651029384",  # digits only
    "grace.hopper.navy",  # too close to the e-mail address
])
def test_weak_passwords_are_refused_when_creating_a_user(password, db):
    with pytest.raises(ValidationError):
        user_create(email="grace.hopper.navy@example.org", password=password)

    from vulndesk.accounts.models import User

    assert not User.objects.filter(email="grace.hopper.navy@example.org").exists()


def test_a_long_uncommon_password_is_accepted(db):
    person, password = user_create(email="ok@example.org", password="violet-harbour-cinnamon-7")

    assert person.check_password(password)


def test_a_generated_first_password_passes_the_validators(db):
    person, password = user_create(email="new@example.org")

    assert len(password) >= 12
    assert person.check_password(password)
