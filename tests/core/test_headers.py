"""Browser-facing protections (ASVS V3.3, V3.4, V3.5, V13.4.2): a strict CSP with a nonce,
nosniff, no framing, a referrer policy, HttpOnly/SameSite cookies, CSRF on every cookie-
authenticated POST, CORS only on the public OSV API, and production settings that pass
``check --deploy`` with ``__Host-`` cookies.

Production settings are read in a subprocess: importing them here would change this process."""

import base64
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.factories.core import PASSWORD, make_report, totp_device_for, verified_login

ROOT = Path(__file__).resolve().parents[2]
VULNDESK = ROOT / ".venv" / "bin" / "vulndesk"
EVIL = "https://evil.example"


def csp_of(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


@pytest.fixture
def report(product, frozen_clock):
    return make_report(product).report


@pytest.fixture
def html_pages(staff_client, organisation, product, report):
    """One page of each kind: anonymous, reporter-facing and staff."""
    anonymous = Client()
    return {
        "login": anonymous.get("/accounts/login/"),
        "report form": anonymous.get(f"/p/{organisation.slug}/{product.slug}/report/"),
        "queue": staff_client.get(f"/o/{organisation.slug}/reports/"),
        "report": staff_client.get(f"/o/{organisation.slug}/reports/{report.number}/"),
    }


# --- CSP and friends --------------------------------------------------------------------------

def test_html_pages_carry_a_strict_csp_with_a_script_nonce(html_pages):
    for name, response in html_pages.items():
        assert response.status_code == 200, name
        csp = csp_of(response)
        assert csp["default-src"] == ["'self'"], name
        assert csp["object-src"] == ["'none'"], name
        assert csp["base-uri"] == ["'none'"], name
        assert csp["frame-ancestors"] == ["'none'"], name
        nonces = [source for source in csp["script-src"] if source.startswith("'nonce-")]
        assert len(nonces) == 1, name
        assert nonces[0][len("'nonce-"):-1] in response.content.decode(), name
        all_sources = " ".join(source for sources in csp.values() for source in sources)
        for unsafe in ("'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"):
            assert unsafe not in all_sources.split(), (name, unsafe)


def test_every_response_gets_a_fresh_nonce(db):
    anonymous = Client()
    first = csp_of(anonymous.get("/accounts/login/"))["script-src"]
    second = csp_of(anonymous.get("/accounts/login/"))["script-src"]

    assert first != second


def test_scripts_on_pages_carry_the_nonce_and_there_are_no_inline_scripts(html_pages):
    for name, response in html_pages.items():
        html = response.content.decode()
        nonce = next(s for s in csp_of(response)["script-src"] if s.startswith("'nonce-"))[7:-1]
        scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S)
        assert scripts, name
        assert all(body.strip() == "" for body in scripts), name
        assert html.count(f'nonce="{nonce}"') == len(scripts), name
        assert not re.search(r"\son[a-z]+\s*=", html), name


def test_html_pages_forbid_sniffing_and_framing_and_limit_the_referrer(html_pages):
    for name, response in html_pages.items():
        assert response["X-Content-Type-Options"] == "nosniff", name
        assert response["X-Frame-Options"] == "DENY", name
        assert response["Referrer-Policy"] == "same-origin", name


def test_api_and_static_responses_are_not_sniffed_either(staff_client, organisation):
    api = staff_client.get(f"/api/v1/organisations/{organisation.slug}/reports/")
    static = Client().get("/static/vulndesk/vulndesk.css")

    assert api["Content-Type"] == "application/json"
    assert static.status_code == 200
    for response in (api, static):
        assert response["X-Content-Type-Options"] == "nosniff"


# --- cookies ----------------------------------------------------------------------------------

def test_the_session_cookie_is_httponly_and_samesite_lax(client, triager):
    totp_device_for(triager.user)

    response = client.post("/accounts/login/", {"username": triager.user.email, "password": PASSWORD})

    assert response.status_code == 302
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    assert not cookie["domain"]


def test_the_csrf_cookie_is_httponly_and_samesite_strict(db):
    response = Client().get("/accounts/login/")

    cookie = response.cookies["csrftoken"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"


# --- CSRF -------------------------------------------------------------------------------------

@pytest.fixture
def strict_client():
    return Client(enforce_csrf_checks=True)


def test_the_public_report_form_refuses_a_post_without_a_csrf_token(strict_client, organisation, product):
    from vulndesk.reports.models import Report

    url = f"/p/{organisation.slug}/{product.slug}/report/"
    data = {"title": "CSRF check", "description": "Sent from another site."}

    assert strict_client.post(url, data).status_code == 403
    assert not Report.objects.filter(organisation=organisation).exists()
    # With the token from the form, the same post goes through.
    strict_client.get(url)
    token = strict_client.cookies["csrftoken"].value
    assert strict_client.post(url, data | {"csrfmiddlewaretoken": token}).status_code == 302


def test_a_staff_action_refuses_a_post_without_a_csrf_token(strict_client, organisation, owner):
    from vulndesk.organisations.models import Membership

    verified_login(strict_client, owner.user)

    response = strict_client.post(f"/o/{organisation.slug}/members/add/",
                                  {"email": "planted@example.org", "role": "owner"})

    assert response.status_code == 403
    assert not Membership.objects.filter(user__email="planted@example.org").exists()


def test_a_staff_htmx_action_refuses_a_post_without_a_csrf_token(strict_client, organisation, triager, report):
    verified_login(strict_client, triager.user)

    response = strict_client.post(f"/o/{organisation.slug}/reports/{report.number}/transition/",
                                  {"to": "rejected", "reason": "forged"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 403
    report.refresh_from_db()
    assert report.state != "rejected"


def test_the_session_api_refuses_a_post_without_a_csrf_token(strict_client, organisation, triager, product,
                                                              frozen_clock):
    from vulndesk.reports.models import Report

    verified_login(strict_client, triager.user)
    url = f"/api/v1/organisations/{organisation.slug}/reports/"
    body = json.dumps({"product": product.slug, "title": "CSRF via API", "description": "x"})

    response = strict_client.post(url, body, content_type="application/json")

    assert response.status_code == 403
    assert not Report.objects.filter(organisation=organisation).exists()
    # The page's token in X-CSRFToken (as htmx sends it) is accepted.
    strict_client.get(f"/o/{organisation.slug}/reports/")
    token = strict_client.cookies["csrftoken"].value
    assert strict_client.post(url, body, content_type="application/json",
                              HTTP_X_CSRFTOKEN=token).status_code == 201


def test_logout_needs_a_post_with_a_csrf_token(strict_client, triager):
    verified_login(strict_client, triager.user)

    assert strict_client.get("/accounts/logout/").status_code == 405
    assert strict_client.post("/accounts/logout/").status_code == 403
    assert "_auth_user_id" in strict_client.session


# --- CORS -------------------------------------------------------------------------------------

def test_a_preflight_from_another_origin_to_the_staff_api_gets_no_cors_headers(client, organisation):
    response = client.options(f"/api/v1/organisations/{organisation.slug}/reports/", HTTP_ORIGIN=EVIL,
                              HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
                              HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type")

    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Credentials" not in response
    assert "Access-Control-Allow-Headers" not in response


def test_a_cross_origin_request_to_the_staff_api_or_token_endpoint_gets_no_cors_headers(staff_client, organisation):
    for response in (
        staff_client.get(f"/api/v1/organisations/{organisation.slug}/reports/", HTTP_ORIGIN=EVIL),
        staff_client.post("/api/v1/auth/token/", "{}", content_type="application/json", HTTP_ORIGIN=EVIL),
        staff_client.get("/accounts/login/", HTTP_ORIGIN=EVIL),
    ):
        assert "Access-Control-Allow-Origin" not in response


def test_the_public_osv_api_allows_any_origin_without_credentials(client, db):
    response = client.options("/api/osv/v1/query", HTTP_ORIGIN=EVIL, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")

    assert response["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response


# --- production settings ----------------------------------------------------------------------

@pytest.fixture
def production_env(tmp_path):
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("VULNDESK_", "DJANGO_", "DATABASE_", "SECRET_", "ALLOWED_", "JWT_"))}
    return env | {
        "VULNDESK_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "VULNDESK_KEKS": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "ALLOWED_HOSTS": "security.example.org",
        "VULNDESK_DATA_DIR": str(tmp_path),
    }


def test_production_settings_pass_the_deployment_check(production_env, tmp_path):
    result = subprocess.run([str(VULNDESK), "check", "--deploy", "--fail-level", "WARNING"], env=production_env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


PRINT_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({name: getattr(s, name) for name in [
    "SESSION_COOKIE_NAME", "CSRF_COOKIE_NAME", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
    "SESSION_COOKIE_DOMAIN", "CSRF_COOKIE_DOMAIN", "SESSION_COOKIE_PATH", "CSRF_COOKIE_PATH",
    "SESSION_ENGINE", "SESSION_SERIALIZER", "DEBUG", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_SSL_REDIRECT", "ALLOWED_HOSTS",
]}))
"""


def test_production_cookies_are_host_prefixed_and_secure(production_env, tmp_path):
    result = subprocess.run([sys.executable, "-c", PRINT_SETTINGS],
                            env=production_env | {"DJANGO_SETTINGS_MODULE": "vulndesk.settings"},
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    production = json.loads(result.stdout.strip().splitlines()[-1])
    assert production["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert production["CSRF_COOKIE_NAME"].startswith("__Host-")
    # __Host- cookies are refused by browsers unless Secure, Path=/ and without Domain.
    assert production["SESSION_COOKIE_SECURE"] is production["CSRF_COOKIE_SECURE"] is True
    assert production["SESSION_COOKIE_DOMAIN"] is None and production["CSRF_COOKIE_DOMAIN"] is None
    assert production["SESSION_COOKIE_PATH"] == production["CSRF_COOKIE_PATH"] == "/"
    assert production["SESSION_ENGINE"] == "django.contrib.sessions.backends.db"
    assert production["SESSION_SERIALIZER"] == "django.contrib.sessions.serializers.JSONSerializer"
    assert production["DEBUG"] is False
    assert production["SECURE_HSTS_SECONDS"] >= 31_536_000 and production["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert production["SECURE_SSL_REDIRECT"] is True
    assert production["ALLOWED_HOSTS"] == ["security.example.org"]


def test_production_refuses_to_start_without_a_secret_key(production_env, tmp_path):
    env = {key: value for key, value in production_env.items() if key != "SECRET_KEY"}

    result = subprocess.run([str(VULNDESK), "check"], env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
