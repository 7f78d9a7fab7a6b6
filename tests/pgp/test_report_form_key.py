"""The optional OpenPGP key on the public report form: checked before the report is filed,
kept with the report, and used for the mails the reporter gets about it."""

import pytest
from django.utils.html import escape

from tests.factories.core import verified_login
from tests.pgp.fixtures import *  # noqa: F403 (fixtures)
from tests.pgp.fixtures import odd_key
from vulndesk.pgp.models import ReporterPgpKey
from vulndesk.reports.models import Report

pytestmark = pytest.mark.django_db


def form_url(product) -> str:
    return f"/p/{product.organisation.slug}/{product.slug}/report/"


def post(client, product, **fields):
    data = {"title": "Stored XSS in the preview", "description": "The preview renders HTML.",
            "reporter_email": "alice@reporter.example"} | fields
    return client.post(form_url(product), data)


def test_the_form_offers_the_key_field_and_says_it_is_optional(client, product):
    body = client.get(form_url(product)).content.decode()
    assert "Your OpenPGP public key" in body and "Optional. Paste your public key" in body


def test_a_valid_key_is_kept_with_the_report_sealed(client, product, reporter):
    response = post(client, product, reporter_pgp_key=reporter.public_key)
    assert response.status_code == 302
    report = Report.objects.get()
    [key] = ReporterPgpKey.objects.filter(report=report)
    assert (key.source, key.is_current, key.fingerprint) == ("web", True, reporter.fingerprint)
    assert key.armored.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert "alice@reporter.example" not in key.sealed_key and reporter.fingerprint not in key.sealed_key


def test_without_a_key_nothing_is_stored(client, product):
    assert post(client, product).status_code == 302
    assert Report.objects.count() == 1 and not ReporterPgpKey.objects.exists()


@pytest.mark.parametrize(("key", "expected"), [
    ("<script>alert(1)</script>", "not an ASCII-armored OpenPGP public key"),
    ("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----",
     "could not be read as an OpenPGP public key"),
    ("expired", "expired on 31 Dec 2020"),
    ("sign_only", "cannot encrypt"),
    ("expired_secret", "Never send it to anyone"),
    ("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n" + "QUFB" * 17_000 + "\n-----END PGP PUBLIC KEY BLOCK-----",
     "at most 65536 characters"),
    ("' OR 1=1--", "not an ASCII-armored"),
], ids=["markup", "garbage-armor", "expired", "sign-only", "secret-key", "oversized", "sql"])
def test_a_bad_key_is_422_with_the_reason_and_keeps_everything_typed(client, product, key, expected):
    text = odd_key(key) if key in {"expired", "sign_only", "expired_secret"} else key
    response = post(client, product, reporter_pgp_key=text, impact="Account takeover")
    assert response.status_code == 422
    body = response.content.decode()
    assert escape(expected) in body and "Account takeover" in body
    assert "<script>alert(1)</script>" not in body
    assert not Report.objects.exists() and not ReporterPgpKey.objects.exists()


def test_a_key_with_markup_in_its_user_id_is_accepted_and_shown_escaped_to_staff(client, product, triager):
    assert post(client, product, reporter_pgp_key=odd_key("script_uid")).status_code == 302
    report = Report.objects.get()
    page = verified_login(client, triager.user).get(f"/o/{product.organisation.slug}/mail/reports/{report.number}/")
    body = page.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;xss@reporter.example&gt;" in body
    assert "<script>alert(1)" not in body
