"""HTTP tests for product settings: the policy, supported versions and the release plan."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.factories.core import make_member, make_organisation, make_product, make_report, verified_login
from vulndesk.products.models import Policy, Product, Release, SupportedVersion
from vulndesk.products.services import release_plan, supported_version_add
from vulndesk.reports import services as report_services
from vulndesk.reports.models import Report, TimelineEvent

LOW = "CVSS:3.1/AV:N/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"  # 2.0

POLICY = {
    "acknowledgement_hours": "24", "assessment_business_days": "3", "critical_resolution_hours": "48",
    "high_resolution_days": "7", "medium_resolution_days": "21", "low_in_next_release": "on",
    "low_resolution_days": "60", "disclosure_days": "60", "reminder_fraction_percent": "50",
}


def settings_url(organisation, product, action: str = "") -> str:
    return f"/o/{organisation.slug}/products/{product.slug}/" + action


@pytest.fixture
def owner_client(client, owner, frozen_clock):
    verified_login(client, owner.user)
    return client


def _policy_values(product):
    policy = Policy.objects.get(product=product)
    return {name: getattr(policy, name) for name in POLICY}


# --- the page and the policy ----------------------------------------------------------------

def test_the_settings_page_shows_the_policy_with_a_live_example(owner_client, organisation, product):
    response = owner_client.get(settings_url(organisation, product))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Policy (SLA targets)" in html and "Save policy" in html
    assert "A report received now is acknowledged by" in html
    assert "A Low report accepted now is due <strong>— no release planned</strong>" in html


def test_the_owner_edits_the_policy(owner_client, organisation, product):
    response = owner_client.post(settings_url(organisation, product, "policy/"), POLICY)

    assert response.status_code == 302
    assert response.url == settings_url(organisation, product)
    assert _policy_values(product) == {
        "acknowledgement_hours": 24, "assessment_business_days": 3, "critical_resolution_hours": 48,
        "high_resolution_days": 7, "medium_resolution_days": 21, "low_in_next_release": True,
        "low_resolution_days": 60, "disclosure_days": 60, "reminder_fraction_percent": 50,
    }
    assert "Policy saved." in owner_client.get(response.url).content.decode()


def test_a_new_report_follows_the_edited_policy(owner_client, organisation, product, frozen_clock):
    owner_client.post(settings_url(organisation, product, "policy/"), POLICY)

    report = make_report(Product.objects.get(pk=product.pk)).report  # as a request would load it

    assert report.acknowledgement_due_at == frozen_clock.now + timedelta(hours=24)


def test_a_security_manager_may_edit_the_policy_too(client, organisation, product, frozen_clock):
    verified_login(client, make_member(organisation, role="security_manager").user)

    response = client.post(settings_url(organisation, product, "policy/"), POLICY)

    assert response.status_code == 302
    assert _policy_values(product)["acknowledgement_hours"] == 24


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("acknowledgement_hours", "0", "greater than or equal to 1"),
        ("acknowledgement_hours", "-4", "greater than or equal to"),
        ("acknowledgement_hours", "abc", "Enter a whole number."),
        ("acknowledgement_hours", "", "This field is required."),
        ("assessment_business_days", "61", "less than or equal to 60"),
        ("high_resolution_days", "366", "less than or equal to 365"),
        ("reminder_fraction_percent", "99", "less than or equal to 95"),
        ("reminder_fraction_percent", "5", "greater than or equal to 10"),
        ("critical_resolution_hours", "99999999999999999999", "less than or equal to"),
    ],
)
def test_an_invalid_policy_is_422_with_the_message_and_changes_nothing(
    owner_client, organisation, product, field, value, message
):
    before = _policy_values(product)

    response = owner_client.post(settings_url(organisation, product, "policy/"), POLICY | {field: value})

    assert response.status_code == 422
    html = response.content.decode()
    assert message in html
    assert 'class="field field-error"' in html
    assert _policy_values(product) == before


# --- supported versions ---------------------------------------------------------------------

def test_the_owner_adds_a_supported_version_range(owner_client, organisation, product):
    response = owner_client.post(settings_url(organisation, product, "versions/"),
                                 {"version_range": ">=2.0,<3.0", "is_supported": "on", "end_of_support_on": "2027-06-30"})

    assert response.status_code == 302
    row = SupportedVersion.objects.get(product=product)
    assert (row.version_range, row.is_supported, row.end_of_support_on) == (">=2.0,<3.0", True, date(2027, 6, 30))
    assert "&gt;=2.0,&lt;3.0" in owner_client.get(response.url).content.decode()


def test_an_unsupported_range_is_stored_as_unsupported(owner_client, organisation, product):
    owner_client.post(settings_url(organisation, product, "versions/"), {"version_range": "1.x"})

    assert SupportedVersion.objects.get(product=product).is_supported is False


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (">=abc", "is not a version range"),
        ("<<1", "is not a version range"),
        ("", "This field is required."),
        ("2.x\n3.x", "at most 100 characters on one line"),
        ("1" * 101, "at most 100 characters"),
    ],
)
def test_an_invalid_version_range_is_422_with_a_message(owner_client, organisation, product, value, message):
    response = owner_client.post(settings_url(organisation, product, "versions/"), {"version_range": value})

    assert response.status_code == 422
    assert message in response.content.decode()
    assert not SupportedVersion.objects.filter(product=product).exists()


def test_a_range_already_in_the_table_is_422(owner_client, organisation, product):
    supported_version_add(product=product, version_range="2.x")

    response = owner_client.post(settings_url(organisation, product, "versions/"), {"version_range": "2.x"})

    assert response.status_code == 422
    assert "2.x is already in the table." in response.content.decode()
    assert SupportedVersion.objects.filter(product=product).count() == 1


def test_the_owner_removes_a_version_range(owner_client, organisation, product):
    keep = supported_version_add(product=product, version_range="2.x")
    gone = supported_version_add(product=product, version_range="1.x", is_supported=False)

    response = owner_client.post(settings_url(organisation, product, f"versions/{gone.pk}/remove/"))

    assert response.status_code == 302
    assert list(SupportedVersion.objects.filter(product=product)) == [keep]
    assert "1.x removed." in owner_client.get(response.url).content.decode()


def test_removing_a_range_of_another_product_is_404(owner_client, organisation, product):
    other_row = supported_version_add(product=make_product(organisation), version_range="2.x")

    response = owner_client.post(settings_url(organisation, product, f"versions/{other_row.pk}/remove/"))

    assert response.status_code == 404
    assert SupportedVersion.objects.filter(pk=other_row.pk).exists()


# --- releases -------------------------------------------------------------------------------

@pytest.fixture
def waiting_low_report(product, triager, frozen_clock):
    report = make_report(product, title="Verbose error page").report
    report_services.report_transition(report=report, actor=triager, to="accepted", cvss_vector=LOW)
    report.refresh_from_db()
    assert report.resolution_waiting_for_release and report.resolution_due_at is None
    return report


def test_planning_a_release_gives_waiting_low_reports_a_deadline(
    owner_client, organisation, product, waiting_low_report
):
    response = owner_client.post(settings_url(organisation, product, "releases/"),
                                 {"version": "2.5.0", "planned_on": "2026-12-10"})

    assert response.status_code == 302
    release = Release.objects.get(product=product)
    assert (release.version, release.planned_on, release.shipped_on) == ("2.5.0", date(2026, 12, 10), None)
    report = Report.objects.get(pk=waiting_low_report.pk)
    assert report.resolution_waiting_for_release is False
    assert report.resolution_due_at == datetime.combine(date(2026, 12, 10), time(23, 59), tzinfo=ZoneInfo("Europe/Oslo"))
    assert report.next_due_at == report.resolution_due_at
    event = TimelineEvent.objects.get(report=report, kind="deadline_changed", data__clock="resolution")
    assert event.data == {"clock": "resolution", "from": None, "to": report.resolution_due_at.isoformat(),
                          "waiting_for_release": False}
    assert "Release planned." in owner_client.get(response.url).content.decode()


def test_planning_a_release_leaves_other_products_reports_waiting(owner_client, organisation, product, triager,
                                                                  waiting_low_report):
    elsewhere = make_report(make_product(organisation), title="Elsewhere").report
    report_services.report_transition(report=elsewhere, actor=triager, to="accepted", cvss_vector=LOW)

    owner_client.post(settings_url(organisation, product, "releases/"), {"version": "2.5.0", "planned_on": "2026-12-10"})

    elsewhere.refresh_from_db()
    assert elsewhere.resolution_waiting_for_release is True and elsewhere.resolution_due_at is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"version": "", "planned_on": "2026-12-10"}, "This field is required."),
        ({"version": "2.5.0", "planned_on": "next tuesday"}, "Enter a valid date."),
    ],
)
def test_an_invalid_release_is_422(owner_client, organisation, product, waiting_low_report, data, message):
    response = owner_client.post(settings_url(organisation, product, "releases/"), data)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Release.objects.exists()
    assert Report.objects.get(pk=waiting_low_report.pk).resolution_waiting_for_release is True


def test_a_release_version_planned_twice_is_422(owner_client, organisation, product):
    release_plan(product=product, version="2.5.0", planned_on=date(2026, 12, 10))

    response = owner_client.post(settings_url(organisation, product, "releases/"), {"version": "2.5.0"})

    assert response.status_code == 422
    assert "Release 2.5.0 is already planned." in response.content.decode()
    assert Release.objects.count() == 1


def test_the_owner_marks_a_release_shipped(owner_client, organisation, product):
    release = release_plan(product=product, version="2.5.0", planned_on=date(2026, 12, 10))

    response = owner_client.post(settings_url(organisation, product, f"releases/{release.pk}/ship/"))

    assert response.status_code == 302
    release.refresh_from_db()
    assert release.shipped_on == date(2026, 11, 23)  # the frozen clock's day in Oslo
    html = owner_client.get(response.url).content.decode()
    assert "Release 2.5.0 marked as shipped." in html
    assert f"releases/{release.pk}/ship/" not in html  # no second "Mark shipped" button


def test_shipping_a_release_of_another_product_is_404(owner_client, organisation, product):
    other = release_plan(product=make_product(organisation), version="9.9", planned_on=None)

    response = owner_client.post(settings_url(organisation, product, f"releases/{other.pk}/ship/"))

    assert response.status_code == 404
    other.refresh_from_db()
    assert other.shipped_on is None


# --- who may change settings ----------------------------------------------------------------

SETTINGS_POSTS = [
    ("policy/", POLICY | {"acknowledgement_hours": "1"}),
    ("versions/", {"version_range": "9.x"}),
    ("versions/{row}/remove/", {}),
    ("releases/", {"version": "9.0", "planned_on": "2026-12-01"}),
    ("releases/{release}/ship/", {}),
    ("update/", {"name": "Renamed", "slug": "x", "accepts_reports": ""}),
]


@pytest.fixture
def settings_rows(product):
    return {"row": supported_version_add(product=product, version_range="2.x").pk,
            "release": release_plan(product=product, version="2.5.0", planned_on=date(2026, 12, 10)).pk}


def _settings_state(product):
    product.refresh_from_db()
    return (product.name, product.accepts_reports, _policy_values(product),
            list(SupportedVersion.objects.filter(product=product).values_list("version_range", flat=True)),
            list(Release.objects.filter(product=product).values_list("version", "shipped_on")))


@pytest.mark.parametrize("role", ["triager", "viewer", "developer"])
@pytest.mark.parametrize(("action", "data"), SETTINGS_POSTS, ids=[a for a, _ in SETTINGS_POSTS])
def test_members_without_a_settings_role_cannot_change_settings(
    client, organisation, product, settings_rows, frozen_clock, role, action, data
):
    verified_login(client, make_member(organisation, role=role).user)
    before = _settings_state(product)

    response = client.post(settings_url(organisation, product, action.format(**settings_rows)), data)

    assert response.status_code == 403
    assert _settings_state(product) == before


def test_a_triager_sees_the_settings_read_only(staff_client, organisation, product):
    html = staff_client.get(settings_url(organisation, product)).content.decode()

    assert "<fieldset disabled" in html
    assert "Save policy" not in html and "Add range" not in html and "Plan release" not in html


@pytest.mark.parametrize(("action", "data"), [("", None)] + SETTINGS_POSTS, ids=["page"] + [a for a, _ in SETTINGS_POSTS])
def test_an_owner_of_another_organisation_gets_404_and_changes_nothing(
    client, organisation, product, settings_rows, frozen_clock, action, data
):
    verified_login(client, make_member(make_organisation(), role="owner").user)
    before = _settings_state(product)
    url = settings_url(organisation, product, action.format(**settings_rows))

    response = client.get(url) if data is None else client.post(url, data)

    assert response.status_code == 404
    assert product.name not in response.content.decode()
    assert _settings_state(product) == before


def test_an_owner_of_another_organisation_using_their_own_slug_gets_404(client, organisation, product, settings_rows,
                                                                        frozen_clock):
    other = make_organisation()
    verified_login(client, make_member(other, role="owner").user)

    for action, data in SETTINGS_POSTS:
        response = client.post(f"/o/{other.slug}/products/{product.slug}/{action.format(**settings_rows)}", data)
        assert response.status_code == 404, action


def test_anonymous_visitors_are_sent_to_the_login_page(client, organisation, product):
    for response in (client.get(settings_url(organisation, product)),
                     client.post(settings_url(organisation, product, "policy/"), POLICY)):
        assert response.status_code == 302
        assert response.url.startswith("/accounts/login/")
    assert _policy_values(product)["acknowledgement_hours"] == 48


@pytest.mark.parametrize("action", ["policy/", "versions/", "releases/", "update/"])
def test_settings_actions_answer_get_with_405(owner_client, organisation, product, action):
    assert owner_client.get(settings_url(organisation, product, action)).status_code == 405


def test_closing_the_public_form_from_the_settings_page(owner_client, organisation, product):
    response = owner_client.post(settings_url(organisation, product, "update/"),
                                 {"name": product.name, "slug": product.slug, "description": "",
                                  "repository_url": "", "security_contacts": ""})

    assert response.status_code == 302
    product.refresh_from_db()
    assert product.accepts_reports is False
    assert owner_client.get(f"/p/{organisation.slug}/{product.slug}/report/").status_code == 404
