"""HTTP tests for the reporter's side: the public report form and the tracking page.

Report text is hostile by design; every field is stored as typed and shown as inert text."""

import hashlib
import json
import re

import pytest
from django.apps import apps
from django.utils.html import escape

from tests.factories.core import (
    add_versions,
    make_member,
    make_organisation,
    make_product,
    make_report,
    verified_login,
)
from vulndesk.products.services import product_update
from vulndesk.reports import services
from vulndesk.reports.models import Message, Report

TEXT_FIELDS = ["title", "affected_versions", "description", "steps_to_reproduce", "impact", "suggested_fix",
               "reporter_name", "reporter_handle"]
HOSTILE = """"><svg onload=alert(1)> <script>alert(1)</script> </textarea> {{7*7}} ' OR 1=1-- ../../etc/passwd"""
# The e-mail field only takes an address; a quoted local part may still carry markup.
HOSTILE_EMAIL = '"<script>alert(1)</script>"@example.org'


def form_url(organisation, product) -> str:
    return f"/p/{organisation.slug}/{product.slug}/report/"


def valid_post(**fields) -> dict:
    return {"title": "Stored XSS in the comment preview", "description": "The preview renders HTML.",
            "affected_versions": "2.4.1", "steps_to_reproduce": "1. Post <b>x</b>\n2. Open the preview",
            "reporter_email": "ada@example.org"} | fields


def token_from(response) -> str:
    match = re.fullmatch(r"/track/([^/]+)/", response.url)
    assert match, response.url
    return match.group(1)


@pytest.fixture
def submitted(client, organisation, product, frozen_clock):
    """A report sent through the form: (report, token)."""
    response = client.post(form_url(organisation, product), valid_post())
    assert response.status_code == 302
    return Report.objects.get(), token_from(response)


# --- the form ------------------------------------------------------------------------------

def test_the_form_shows_the_product_and_its_policy(client, organisation, product):
    add_versions(product, supported=("2.x",), unsupported=("1.x",))

    response = client.get(form_url(organisation, product))

    assert response.status_code == 200
    html = response.content.decode()
    assert f"Report a security vulnerability in {product.name}" in html
    assert "acknowledges reports within 48 hours and assesses them within 5 business days" in html
    assert "2.x" in html and "1.x" in html
    for name in TEXT_FIELDS + ["reporter_email"]:
        assert f'name="{name}"' in html


def test_the_form_states_the_policy_of_this_product(client, organisation, product):
    from vulndesk.products.services import policy_update

    policy_update(policy=product.policy, actor=None, acknowledgement_hours=24, assessment_business_days=3)

    html = client.get(form_url(organisation, product)).content.decode()

    assert "within 24 hours and assesses them within 3 business days" in html


def test_a_valid_report_redirects_to_its_tracking_page(client, organisation, product, frozen_clock):
    response = client.post(form_url(organisation, product), valid_post())

    assert response.status_code == 302
    token = token_from(response)
    report = Report.objects.get()
    assert (report.title, report.product_id, report.source, report.state) == (
        "Stored XSS in the comment preview", product.pk, "web", "acknowledged")
    assert report.steps_to_reproduce == "1. Post <b>x</b>\n2. Open the preview"
    assert report.tracking_token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert response["Referrer-Policy"] == "no-referrer"


def test_the_tracking_token_is_stored_nowhere_only_its_hash(client, submitted):
    report, token = submitted
    assert len(token) >= 40

    for model in apps.get_models():
        for row in model.objects.all().values_list():
            assert token not in repr(row), model.__name__
    assert report.tracking_token_hash == hashlib.sha256(token.encode()).hexdigest()


def test_the_tracking_page_shows_the_reference_state_and_deadlines(client, organisation, submitted):
    report, token = submitted

    response = client.get(f"/track/{token}/")

    assert response.status_code == 200
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert report.reference in html
    assert f"Thank you — your report {report.reference} was received" in html
    assert "Save this link" in html
    assert '<span class="badge state state-acknowledged">Acknowledged</span>' in html
    assert "Assessment" in html and "Acknowledgement" in html
    assert report.assessment_due_at.isoformat() in html  # the <time datetime=...> of the deadline


def test_the_thank_you_box_shows_only_right_after_sending(client, submitted):
    report, token = submitted
    client.get(f"/track/{token}/")

    again = client.get(f"/track/{token}/").content.decode()

    assert "Thank you" not in again
    assert report.reference in again


def test_an_empty_report_is_422_listing_the_required_fields_and_creates_nothing(client, organisation, product):
    response = client.post(form_url(organisation, product), {})

    assert response.status_code == 422
    form = response.context["form"]
    assert set(form.errors) == {"title", "description"}
    html = response.content.decode()
    assert "Your report was not sent yet" in html
    assert html.count("This field is required.") == 2
    assert not Report.objects.exists()


def test_a_one_megabyte_description_is_422_and_keeps_everything_typed(client, organisation, product):
    data = valid_post(description="A" * 1_000_000, impact="Full account takeover", reporter_handle="ada")

    response = client.post(form_url(organisation, product), data)

    assert response.status_code == 422
    html = response.content.decode()
    assert "Ensure this value has at most 100000 characters (it has 1000000)." in html
    assert "everything you typed is still here" in html
    assert 'value="Stored XSS in the comment preview"' in html
    assert 'value="2.4.1"' in html and 'value="ada"' in html and 'value="ada@example.org"' in html
    assert "Full account takeover</textarea>" in html
    assert "1. Post &lt;b&gt;x&lt;/b&gt;\n2. Open the preview</textarea>" in html
    assert not Report.objects.exists()


def test_an_overlong_title_is_422(client, organisation, product):
    response = client.post(form_url(organisation, product), valid_post(title="x" * 201))

    assert response.status_code == 422
    assert "at most 200 characters" in response.content.decode()
    assert not Report.objects.exists()


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_a_nul_character_in_any_field_is_422(client, organisation, product, field):
    response = client.post(form_url(organisation, product), valid_post(**{field: "before\x00after"}))

    assert response.status_code == 422
    assert field in response.context["form"].errors
    assert not Report.objects.exists()


def test_other_control_characters_are_refused_with_a_message(client, organisation, product):
    response = client.post(form_url(organisation, product), valid_post(description="bell\x07 and escape\x1b[31m"))

    assert response.status_code == 422
    assert "Remove control characters (such as NUL) from this field." in response.content.decode()


def test_tabs_and_newlines_are_kept(client, organisation, product, frozen_clock):
    client.post(form_url(organisation, product), valid_post(description="line 1\r\n\tindented\nline 3"))

    assert Report.objects.get().description == "line 1\r\n\tindented\nline 3"


def test_a_whitespace_only_title_is_422(client, organisation, product):
    response = client.post(form_url(organisation, product), valid_post(title="   "))

    assert response.status_code == 422
    assert not Report.objects.exists()


def test_a_bad_email_is_422(client, organisation, product):
    response = client.post(form_url(organisation, product), valid_post(reporter_email="not an address"))

    assert response.status_code == 422
    assert "reporter_email" in response.context["form"].errors


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(("organisation_slug", "product_slug"), [("no-such-org", None), (None, "no-such-product")])
def test_an_unknown_organisation_or_product_is_404(client, organisation, product, method, organisation_slug,
                                                   product_slug):
    url = f"/p/{organisation_slug or organisation.slug}/{product_slug or product.slug}/report/"

    response = getattr(client, method)(url, valid_post())

    assert response.status_code == 404
    assert not Report.objects.exists()


def test_a_product_of_another_organisation_is_404_under_this_organisations_slug(client, organisation):
    foreign = make_product(make_organisation(), slug="foreign-product")

    assert client.get(f"/p/{organisation.slug}/{foreign.slug}/report/").status_code == 404


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_product_that_does_not_accept_reports_is_404(client, organisation, product, method):
    product_update(product=product, actor=None, accepts_reports=False)

    response = getattr(client, method)(form_url(organisation, product), valid_post())

    assert response.status_code == 404
    assert not Report.objects.exists()


def test_the_form_refuses_other_methods(client, organisation, product):
    assert client.put(form_url(organisation, product)).status_code == 405


# --- hostile input ---------------------------------------------------------------------------

@pytest.fixture
def hostile(client, organisation, product, frozen_clock):
    add_versions(product)  # the affected version is matched against the ranges too
    data = {field: HOSTILE for field in TEXT_FIELDS} | {"reporter_email": HOSTILE_EMAIL}
    response = client.post(form_url(organisation, product), data)
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    return Report.objects.get(), token_from(response)


def _assert_inert(html: str):
    assert HOSTILE not in html
    assert "<svg onload" not in html and "<script>alert(1)</script>" not in html
    assert HOSTILE_EMAIL not in html
    assert escape(HOSTILE) in html


def test_hostile_input_in_every_field_is_stored_verbatim(hostile):
    report, _ = hostile

    for field in TEXT_FIELDS:
        assert getattr(report, field) == HOSTILE, field
    assert report.reporter_email == HOSTILE_EMAIL


def test_hostile_input_is_escaped_on_the_tracking_page(client, hostile):
    report, token = hostile

    html = client.get(f"/track/{token}/").content.decode()

    _assert_inert(html)
    assert f"<h1>{escape(HOSTILE)}</h1>" in html


def test_hostile_input_is_escaped_on_the_staff_report_page(client, organisation, hostile, triager):
    report, _ = hostile
    verified_login(client, triager.user)

    html = client.get(f"/o/{organisation.slug}/reports/{report.number}/").content.decode()

    _assert_inert(html)
    assert html.count(escape(HOSTILE)) >= len(TEXT_FIELDS)
    assert escape(HOSTILE_EMAIL) in html
    assert f"<pre>{escape(HOSTILE)}</pre>" in html


def test_hostile_input_is_escaped_in_the_staff_queue(client, organisation, hostile, triager):
    verified_login(client, triager.user)

    html = client.get(f"/o/{organisation.slug}/reports/").content.decode()

    _assert_inert(html)
    assert html.count(escape(HOSTILE)) == 2  # title and affected version


def test_hostile_input_comes_back_verbatim_as_json_from_the_api(client, organisation, hostile, triager):
    report, _ = hostile
    verified_login(client, triager.user)

    response = client.get(f"/api/v1/organisations/{organisation.slug}/reports/{report.number}/")

    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    for field in TEXT_FIELDS:
        assert body[field] == HOSTILE, field
    assert body["reporter_email"] == HOSTILE_EMAIL


def test_hostile_input_in_a_form_with_errors_is_re_rendered_escaped(client, organisation, product):
    data = {field: HOSTILE for field in TEXT_FIELDS if field != "title"}

    response = client.post(form_url(organisation, product), data)

    assert response.status_code == 422
    html = response.content.decode()
    _assert_inert(html)
    # the four text areas and the OpenPGP key's, none closed early by the payload
    assert html.count("</textarea>") == 5


# --- the tracking page ------------------------------------------------------------------------

@pytest.mark.parametrize("token", ["wrong-token", "x" * 43, "x" * 101, "x" * 5000])
def test_a_wrong_or_overlong_tracking_token_is_404(client, submitted, token):
    report, _ = submitted

    for response in (client.get(f"/track/{token}/"), client.post(f"/track/{token}/messages/", {"body": "hi"})):
        assert response.status_code == 404
        assert report.title not in response.content.decode()
    assert not Message.objects.exists()


def test_a_tracking_token_of_almost_the_right_value_is_404(client, submitted):
    _, token = submitted

    assert client.get(f"/track/{token[:-1]}/").status_code == 404
    assert client.get(f"/track/{token.upper() if token != token.upper() else token.lower()}/").status_code == 404


def test_a_reporter_message_is_posted_and_shown(client, submitted):
    report, token = submitted

    response = client.post(f"/track/{token}/messages/", {"body": "Here is a second payload: <img src=x>"})

    assert response.status_code == 302
    assert response.url == f"/track/{token}/#thread"
    assert response["Referrer-Policy"] == "no-referrer"
    message = Message.objects.get()
    assert (message.report_id, message.is_from_reporter, message.is_internal) == (report.pk, True, False)
    html = client.get(f"/track/{token}/").content.decode()
    assert "Here is a second payload: &lt;img src=x&gt;" in html
    assert "<img src=x>" not in html


@pytest.mark.parametrize("body", ["", "   \n  "])
def test_an_empty_reporter_message_is_422(client, submitted, body):
    _, token = submitted

    response = client.post(f"/track/{token}/messages/", {"body": body})

    assert response.status_code == 422
    assert response["Referrer-Policy"] == "no-referrer"
    html = response.content.decode()
    assert "This field is required." in html or "A message cannot be empty." in html
    assert not Message.objects.exists()


def test_a_reporter_message_with_a_nul_is_422(client, submitted):
    _, token = submitted

    assert client.post(f"/track/{token}/messages/", {"body": "a\x00b"}).status_code == 422
    assert not Message.objects.exists()


def test_the_tracking_page_never_shows_internal_notes_or_staff_details(client, organisation, submitted, triager):
    report, token = submitted
    triager.user.name = "Tessa Triager"
    triager.user.save()
    services.message_post(report=report, actor=triager, body="We reproduced it, thanks!", is_internal=False)
    services.message_post(report=report, actor=triager, body="INTERNAL: reporter seems to be a competitor",
                          is_internal=True)
    services.report_transition(report=report, actor=triager, to="accepted",
                               cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    services.report_assign(report=report, actor=triager, assignee=triager.user)

    html = client.get(f"/track/{token}/").content.decode()

    assert "We reproduced it, thanks!" in html
    assert "INTERNAL" not in html
    assert "Tessa" not in html
    assert "Security team" in html
    assert "Now accepted" in html  # public state change
    assert "Severity changed" not in html and "Assignee changed" not in html


def test_a_disclosed_report_takes_no_more_reporter_messages(client, organisation, product, triager, frozen_clock):
    created = make_report(product)
    report = created.report
    for state in ("accepted", "fixing", "fixed", "disclosed"):
        services.report_transition(report=report, actor=triager, to=state,
                                   cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")

    page = client.get(f"/track/{created.tracking_token}/").content.decode()
    response = client.post(f"/track/{created.tracking_token}/messages/", {"body": "one more thing"})

    assert "Send message" not in page
    assert response.status_code == 422
    assert "thread is closed" in response.content.decode()
    assert not Message.objects.exists()


def test_the_tracking_page_of_one_report_never_shows_another(client, organisation, product, frozen_clock):
    first = make_report(product, title="First report")
    second = make_report(product, title="Second report").report
    member = make_member(organisation, role="triager")
    services.message_post(report=second, actor=member, body="For the second",
                          is_internal=False)

    html = client.get(f"/track/{first.tracking_token}/").content.decode()

    assert "First report" in html
    assert "Second report" not in html and "For the second" not in html
