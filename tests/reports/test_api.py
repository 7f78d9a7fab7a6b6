"""HTTP tests for /api/v1/organisations/<organisation>/reports/: shapes, filters, keyset pages,
roles, and the tenant wall (a member of organisation B gets 404 for everything of A)."""

import base64
import hashlib
import json
from datetime import timedelta

import pytest
import yaml
from django.core.management import call_command

from tests.factories.core import (
    add_versions,
    make_member,
    make_organisation,
    make_product,
    make_report,
    verified_login,
)
from vulndesk.products.services import policy_update
from vulndesk.reports import services
from vulndesk.reports.models import Message, Report, TimelineEvent

CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
HIGH = "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:N"  # 8.1
LOW = "CVSS:3.1/AV:N/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"  # 2.0


def reports_url(organisation_or_slug, suffix: str = "") -> str:
    slug = getattr(organisation_or_slug, "slug", organisation_or_slug)
    return f"/api/v1/organisations/{slug}/reports/{suffix}"


def post(client, url, data):
    return client.post(url, json.dumps(data), content_type="application/json")


def numbers(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["number"] for row in response.json()["results"]]


def valid_report(product, **fields) -> dict:
    return {"product": product.slug, "title": "Stored XSS in the comment preview",
            "description": "The preview renders the comment body as HTML."} | fields


@pytest.fixture
def api_client(staff_client, frozen_clock):
    return staff_client


# --- create -------------------------------------------------------------------------------

def test_creating_a_report_answers_201_with_the_tracking_url_and_its_clocks(api_client, organisation, product):
    response = post(api_client, reports_url(organisation), valid_report(product, affected_versions="2.4.1"))

    assert response.status_code == 201, response.content
    body = response.json()
    report = Report.objects.get(organisation=organisation)
    assert body["reference"] == f"{organisation.reference_prefix}-1" == report.reference
    assert body["product"] == product.slug
    assert body["source"] == "api" == report.source
    assert body["state"] == "acknowledged"
    token = body["tracking_url"].rstrip("/").rsplit("/", 1)[-1]
    assert body["tracking_url"].endswith(f"/track/{token}/")
    assert report.tracking_token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert set(body["deadlines"]) == {"acknowledgement", "assessment"}
    assert body["deadlines"]["acknowledgement"]["status"] == "met"
    assert body["deadlines"]["assessment"] == {
        "due_at": report.assessment_due_at.isoformat(), "done_at": None, "status": "on_track",
    }


def test_the_tracking_url_from_the_api_opens_the_reporters_tracking_page(api_client, organisation, product):
    body = post(api_client, reports_url(organisation), valid_report(product)).json()
    path = "/track/" + body["tracking_url"].split("/track/", 1)[1]

    page = api_client.get(path)

    assert page.status_code == 200
    assert body["reference"] in page.content.decode()


def test_a_created_report_with_a_cvss_vector_gets_its_score_and_severity(api_client, organisation, product):
    response = post(api_client, reports_url(organisation), valid_report(product, cvss_vector=CRITICAL, cwe_id=79))

    assert response.status_code == 201
    body = response.json()
    assert (body["severity"], body["cvss3_score"], body["cwe_id"]) == ("critical", 9.8, 79)


def test_the_tracking_url_is_returned_only_when_the_report_is_created(api_client, organisation, product):
    post(api_client, reports_url(organisation), valid_report(product))

    assert "tracking_url" not in api_client.get(reports_url(organisation, "1/")).json()
    assert "tracking_url" not in api_client.get(reports_url(organisation)).json()["results"][0]


@pytest.mark.parametrize(
    ("fields", "bad_fields"),
    [
        ({"product": None, "title": None, "description": None}, {"product", "title", "description"}),
        ({"title": None}, {"title"}),
        ({"description": None}, {"description"}),
        ({"title": ""}, {"title"}),
        ({"title": "   "}, {"title"}),
        ({"description": ""}, {"description"}),
        ({"title": "x" * 201}, {"title"}),
        ({"description": "x" * 100_001}, {"description"}),
        ({"steps_to_reproduce": "x" * 100_001}, {"steps_to_reproduce"}),
        ({"affected_versions": "1" * 201}, {"affected_versions"}),
        ({"title": "SQL injection\x00"}, {"title"}),
        ({"description": "payload\x00here"}, {"description"}),
        ({"impact": "bell\x07"}, {"impact"}),
        ({"reporter_email": "not an address"}, {"reporter_email"}),
        ({"source": "web"}, {"source"}),
        ({"cwe_id": 0}, {"cwe_id"}),
    ],
    ids=["empty", "no-title", "no-description", "blank-title", "whitespace-title", "blank-description",
         "title-201", "description-100001", "steps-100001", "versions-201", "nul-title", "nul-description",
         "bell-impact", "bad-email", "source-web", "cwe-0"],
)
def test_an_invalid_report_is_refused_with_400_naming_the_fields_and_nothing_is_stored(
    api_client, organisation, product, fields, bad_fields
):
    data = {k: v for k, v in (valid_report(product) | fields).items() if v is not None}

    response = post(api_client, reports_url(organisation), data)

    assert response.status_code == 400
    assert set(response.json()) == bad_fields
    assert not Report.objects.exists()
    organisation.refresh_from_db()
    assert organisation.last_report_number == 0


def test_a_report_at_the_length_limits_is_accepted(api_client, organisation, product):
    response = post(api_client, reports_url(organisation),
                    valid_report(product, title="t" * 200, description="d" * 100_000))

    assert response.status_code == 201
    report = Report.objects.get()
    assert (len(report.title), len(report.description)) == (200, 100_000)


def test_a_whitespace_only_description_is_refused_by_the_service_with_its_field(api_client, organisation, product):
    response = post(api_client, reports_url(organisation), valid_report(product, description="   \n  "))

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "description"
    assert not Report.objects.exists()


@pytest.mark.parametrize("vector", ["CVSS:3.1/AV:N", "CVSS:2.0/AV:N/AC:L/Au:N/C:C/I:C/A:C", "garbage"])
def test_a_bad_cvss_vector_is_refused_with_invalid_cvss_vector_and_uses_no_report_number(
    api_client, organisation, product, vector
):
    response = post(api_client, reports_url(organisation), valid_report(product, cvss_vector=vector))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cvss_vector"
    assert response.json()["error"]["field"] == "cvss_vector"
    assert not Report.objects.exists()
    organisation.refresh_from_db()
    assert organisation.last_report_number == 0


def test_a_report_for_an_unknown_product_is_404(api_client, organisation, product):
    response = post(api_client, reports_url(organisation), valid_report(product) | {"product": "no-such-product"})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert not Report.objects.exists()


def test_a_body_that_is_not_json_is_400(api_client, organisation, product):
    response = api_client.post(reports_url(organisation), "title=x", content_type="application/json")

    assert response.status_code == 400
    assert not Report.objects.exists()


# --- list and filters -----------------------------------------------------------------------

@pytest.fixture
def queue(organisation, product, triager, frozen_clock):
    """Six reports covering every filter. Returns their numbers by name."""
    other_product = make_product(organisation, name="Mobile app", slug="mobile-app")
    add_versions(product, supported=("2.x",), unsupported=("1.x",))
    frozen_clock.advance(days=-14)
    overdue = make_report(product, title="Old open redirect").report  # assessment due long ago
    frozen_clock.advance(days=14)
    high = make_report(product, title="SQL injection in search").report
    services.report_transition(report=high, actor=triager, to="accepted", cvss_vector=HIGH)
    services.report_assign(report=high, actor=triager, assignee=triager.user)
    mobile = make_report(other_product, title="Token in the app log").report
    unsupported = make_report(product, title="Path traversal in export", affected_versions="1.4").report
    invalid = make_report(product, title="Self-XSS in the console").report
    services.report_transition(report=invalid, actor=triager, to="invalid")
    low = make_report(product, title="Verbose error page").report
    services.report_transition(report=low, actor=triager, to="accepted", cvss_vector=LOW)
    return {"overdue": overdue.number, "high": high.number, "mobile": mobile.number,
            "unsupported": unsupported.number, "invalid": invalid.number, "low": low.number,
            "other_product": other_product}


def test_the_list_shows_open_reports_by_default(api_client, organisation, queue):
    body = api_client.get(reports_url(organisation)).json()

    assert {row["number"] for row in body["results"]} == {
        queue[name] for name in ("overdue", "high", "mobile", "unsupported", "low")
    }
    assert body["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"state": "invalid"}, {"invalid"}),
        ({"state": "all"}, {"overdue", "high", "mobile", "unsupported", "invalid", "low"}),
        ({"state": "accepted"}, {"high", "low"}),
        ({"severity": "high"}, {"high"}),
        ({"severity": "low"}, {"low"}),
        ({"state": "all", "severity": "critical"}, set()),
        ({"product": "mobile-app"}, {"mobile"}),
        ({"product": "no-such-product"}, set()),
        ({"assignee": "none"}, {"overdue", "mobile", "unsupported", "low"}),
        ({"overdue": "1"}, {"overdue"}),
        ({"overdue": "true", "state": "all"}, {"overdue"}),
        ({"unsupported": "1"}, {"unsupported"}),
        ({"q": "injection"}, {"high"}),
        ({"q": "INJECTION"}, {"high"}),
        ({"q": "xss", "state": "all"}, {"invalid"}),
        ({"q": "nothing matches this"}, set()),
    ],
    ids=lambda value: json.dumps(value) if isinstance(value, dict) else None,
)
def test_each_filter_narrows_the_list(api_client, organisation, queue, params, expected):
    response = api_client.get(reports_url(organisation), params)

    assert set(numbers(response)) == {queue[name] for name in expected}


def test_the_assignee_filter_takes_a_user_id(api_client, organisation, queue, triager):
    response = api_client.get(reports_url(organisation), {"assignee": str(triager.user_id)})

    assert numbers(response) == [queue["high"]]


def test_the_list_and_the_detail_agree_on_a_clock_status_under_the_products_reminder_policy(
    api_client, organisation, product, frozen_clock
):
    policy_update(policy=product.policy, actor=None, reminder_fraction_percent=10)
    report = make_report(product).report
    frozen_clock.advance(hours=30)  # past 10 % of the 5-business-day assessment window, far from 75 %

    listed = api_client.get(reports_url(organisation)).json()["results"][0]
    detail = api_client.get(reports_url(organisation, f"{report.number}/")).json()

    assert detail["deadlines"]["assessment"]["status"] == "at_risk"
    assert listed["deadlines"] == detail["deadlines"]


def test_search_finds_a_report_by_its_reference(api_client, organisation, queue):
    reference = f"{organisation.reference_prefix}-{queue['mobile']}"

    assert numbers(api_client.get(reports_url(organisation), {"q": reference})) == [queue["mobile"]]
    assert numbers(api_client.get(reports_url(organisation), {"q": reference.lower()})) == [queue["mobile"]]
    assert numbers(api_client.get(reports_url(organisation), {"q": str(queue["mobile"])})) == [queue["mobile"]]


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"state": "bogus"}, "state", "Unknown state filter 'bogus'"),
        ({"severity": "extreme"}, "severity", "Unknown severity filter 'extreme'"),
        ({"assignee": "alice"}, "assignee", "user id or 'none'"),
        ({"assignee": "\u00b2"}, "assignee", "user id or 'none'"),  # str.isdigit() is true for "²"
        ({"limit": "0"}, "limit", "1 to 200"),
        ({"limit": "201"}, "limit", "1 to 200"),
        ({"limit": "-5"}, "limit", "1 to 200"),
        ({"limit": "ten"}, "limit", "1 to 200"),
    ],
)
def test_a_bad_filter_value_is_400_with_a_message_saying_what_is_wrong(
    api_client, organisation, queue, params, field, words
):
    response = api_client.get(reports_url(organisation), params)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == field
    assert words in error["message"]


def test_the_limit_bounds_are_inclusive(api_client, organisation, queue):
    one = api_client.get(reports_url(organisation), {"limit": "1"}).json()
    most = api_client.get(reports_url(organisation), {"limit": "200"}).json()

    assert len(one["results"]) == 1 and one["next_cursor"]
    assert len(most["results"]) == 5 and most["next_cursor"] is None


def test_keyset_pages_walk_every_report_once_in_deadline_order(api_client, organisation, product, frozen_clock):
    # Reports filed at different hours (different deadlines) and several at the same moment
    # (equal deadlines, so the id must break the tie without losing or repeating a row).
    start = frozen_clock.now
    for hours in (5, 1, 3, 3, 3, 0, 7, 1, 2, 2, 6, 4, 0):
        frozen_clock.move(start - timedelta(hours=hours))
        make_report(product)
    frozen_clock.move(start)
    expected = list(Report.objects.filter(organisation=organisation).order_by("next_due_at", "id")
                    .values_list("number", flat=True))
    assert len(set(Report.objects.values_list("next_due_at", flat=True))) < len(expected)  # ties exist

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": "4"} | ({"cursor": cursor} if cursor else {})
        body = api_client.get(reports_url(organisation), params).json()
        seen += [row["number"] for row in body["results"]]
        due = [row["next_due_at"] for row in body["results"]]
        assert due == sorted(due)
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == expected
    assert pages == 4  # 13 rows, 4 a page


def test_an_exactly_full_last_page_has_no_next_cursor(api_client, organisation, product, frozen_clock):
    for _ in range(4):
        make_report(product)

    first = api_client.get(reports_url(organisation), {"limit": "2"}).json()
    second = api_client.get(reports_url(organisation), {"limit": "2", "cursor": first["next_cursor"]}).json()

    assert len(second["results"]) == 2
    assert second["next_cursor"] is None


def _b64(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!",
        "%%%",
        _b64([1]),
        _b64(None),
        _b64({"a": 1}),
        _b64(["2026-11-23T09:00:00", 3]),  # naive
        _b64(["2026-11-23T09:00:00+00:00", "3"]),
        _b64(["yesterday", 3]),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_an_invalid_cursor_is_400_asking_to_start_again(api_client, organisation, queue, cursor):
    response = api_client.get(reports_url(organisation), {"cursor": cursor})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "cursor"
    assert "start again" in response.json()["error"]["message"]


def test_out_of_range_numbers_in_filters_and_cursors_do_not_break_the_list(api_client, organisation, queue):
    huge = str(10**19)  # past a 64-bit id

    response = api_client.get(reports_url(organisation), {"assignee": huge})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "assignee"
    assert numbers(api_client.get(reports_url(organisation), {"cursor": _b64(["9999-12-31T00:00:00+00:00", 10**30])})) == []


# --- detail and actions ---------------------------------------------------------------------

@pytest.fixture
def report(product, frozen_clock):
    return make_report(product, reporter_name="Ada", reporter_email="ada@example.org", impact="Account takeover").report


def test_the_detail_shows_the_report_as_submitted_and_its_clocks(api_client, organisation, report):
    response = api_client.get(reports_url(organisation, f"{report.number}/"))

    assert response.status_code == 200
    body = response.json()
    assert body["reference"] == report.reference
    assert (body["description"], body["impact"], body["reporter_email"]) == (
        report.description, "Account takeover", "ada@example.org")
    assert body["deadlines"]["assessment"]["due_at"] == report.assessment_due_at.isoformat()
    assert body["assignee"] is None


@pytest.mark.parametrize("number", ["99", str(10**12), str(10**25)])
def test_the_detail_of_a_report_that_does_not_exist_is_404(api_client, organisation, report, number):
    response = api_client.get(reports_url(organisation, f"{number}/"))

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}


def test_accepting_with_a_vector_moves_the_report_and_starts_the_resolution_clock(api_client, organisation, report):
    response = post(api_client, reports_url(organisation, f"{report.number}/transition/"),
                    {"to": "accepted", "cvss_vector": CRITICAL})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["state"], body["severity"], body["cvss3_score"]) == ("accepted", "critical", 9.8)
    report.refresh_from_db()
    assert report.state == "accepted"
    assert report.resolution_due_at == report.resolution_started_at + timedelta(hours=72)
    assert body["deadlines"]["resolution"]["due_at"] == report.resolution_due_at.isoformat()
    assert body["deadlines"]["assessment"]["status"] == "met"


def test_an_illegal_transition_is_409_invalid_transition_and_changes_nothing(api_client, organisation, report):
    response = post(api_client, reports_url(organisation, f"{report.number}/transition/"), {"to": "fixed"})

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "invalid_transition"
    assert "cannot become fixed" in error["message"]
    report.refresh_from_db()
    assert report.state == "acknowledged"
    assert TimelineEvent.objects.filter(report=report).count() == 2


def test_accepting_without_a_vector_or_severity_is_400_and_changes_nothing(api_client, organisation, report):
    response = post(api_client, reports_url(organisation, f"{report.number}/transition/"), {"to": "accepted"})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "cvss_vector"
    report.refresh_from_db()
    assert (report.state, report.severity, report.assessed_at) == ("acknowledged", "", None)


def test_accepting_with_a_bad_vector_is_400_and_leaves_the_severity_alone(api_client, organisation, report):
    response = post(api_client, reports_url(organisation, f"{report.number}/transition/"),
                    {"to": "accepted", "cvss_vector": "CVSS:3.1/AV:X"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cvss_vector"
    report.refresh_from_db()
    assert (report.state, report.severity, report.cvss3_vector) == ("acknowledged", "", "")


def test_a_transition_to_an_unknown_state_is_400_naming_the_field(api_client, organisation, report):
    response = post(api_client, reports_url(organisation, f"{report.number}/transition/"), {"to": "solved"})

    assert response.status_code == 400
    assert set(response.json()) == {"to"}


def test_marking_a_duplicate_points_at_the_original_by_number(api_client, organisation, product, report):
    original = make_report(product, title="Original").report

    response = post(api_client, reports_url(organisation, f"{report.number}/transition/"),
                    {"to": "duplicate", "duplicate_of": original.number})

    assert response.status_code == 200
    assert response.json()["duplicate_of"] == original.number
    report.refresh_from_db()
    assert (report.state, report.duplicate_of_id) == ("duplicate", original.pk)


def test_setting_a_vector_through_the_severity_endpoint_sets_the_score(api_client, organisation, report):
    response = post(api_client, reports_url(organisation, f"{report.number}/severity/"), {"cvss_vector": HIGH})

    assert response.status_code == 200
    assert (response.json()["severity"], response.json()["cvss3_score"]) == ("high", 8.1)
    assert TimelineEvent.objects.filter(report=report, kind="severity_changed").count() == 1


def test_overriding_the_severity_without_a_reason_is_400(api_client, organisation, report):
    response = post(api_client, reports_url(organisation, f"{report.number}/severity/"),
                    {"cvss_vector": HIGH, "severity": "low"})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "reason"
    report.refresh_from_db()
    assert (report.severity, report.cvss3_vector) == ("", "")


def test_overriding_the_severity_with_a_reason_keeps_the_reason(api_client, organisation, report):
    response = post(api_client, reports_url(organisation, f"{report.number}/severity/"),
                    {"cvss_vector": HIGH, "severity": "low", "reason": "Needs admin access in practice"})

    assert response.status_code == 200
    assert (response.json()["severity"], response.json()["severity_override_reason"]) == (
        "low", "Needs admin access in practice")


def test_a_bad_vector_on_the_severity_endpoint_is_invalid_cvss_vector(api_client, organisation, report):
    response = post(api_client, reports_url(organisation, f"{report.number}/severity/"), {"cvss_vector": "CVSS:9"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cvss_vector"


def test_assigning_a_member_and_unassigning(api_client, organisation, report):
    developer = make_member(organisation, role="developer", name="Dev Eloper")

    assigned = post(api_client, reports_url(organisation, f"{report.number}/assignee/"), {"assignee": developer.user_id})
    unassigned = post(api_client, reports_url(organisation, f"{report.number}/assignee/"), {"assignee": None})

    assert assigned.status_code == 200
    assert assigned.json()["assignee"] == {"id": developer.user_id, "name": "Dev Eloper"}
    assert unassigned.status_code == 200 and unassigned.json()["assignee"] is None
    assert TimelineEvent.objects.filter(report=report, kind="assignee_changed").count() == 2


def test_assigning_a_user_of_another_organisation_is_refused(api_client, organisation, report):
    stranger = make_member(make_organisation(), role="triager")

    response = post(api_client, reports_url(organisation, f"{report.number}/assignee/"), {"assignee": stranger.user_id})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "assignee"
    report.refresh_from_db()
    assert report.assignee_id is None


def test_the_timeline_lists_every_event_in_order(api_client, organisation, report, triager):
    services.report_transition(report=report, actor=triager, to="accepted", cvss_vector=HIGH)

    response = api_client.get(reports_url(organisation, f"{report.number}/timeline/"))

    assert response.status_code == 200
    kinds = [event["kind"] for event in response.json()]
    assert kinds[:2] == ["received", "state_changed"]
    assert {"severity_changed", "deadline_changed"} <= set(kinds)
    state_changes = [event for event in response.json() if event["kind"] == "state_changed"]
    assert [event["data"] for event in state_changes] == [
        {"from": "new", "to": "acknowledged"}, {"from": "acknowledged", "to": "accepted"},
    ]
    assert state_changes[-1]["actor"] == triager.user.display_name
    moments = [event["at"] for event in response.json()]
    assert moments == sorted(moments)


def test_messages_can_be_posted_and_listed_with_internal_notes_marked(api_client, organisation, report, triager):
    services.reporter_message_post(report=report, body="Any news?")

    sent = post(api_client, reports_url(organisation, f"{report.number}/messages/"), {"body": "We are on it."})
    note = post(api_client, reports_url(organisation, f"{report.number}/messages/"),
                {"body": "Looks real; ask Bob.", "is_internal": True})
    listed = api_client.get(reports_url(organisation, f"{report.number}/messages/"))

    assert (sent.status_code, note.status_code) == (201, 201)
    assert [(m["body"], m["is_internal"], m["author"]) for m in listed.json()] == [
        ("Any news?", False, "reporter"),
        ("We are on it.", False, triager.user.display_name),
        ("Looks real; ask Bob.", True, triager.user.display_name),
    ]


@pytest.mark.parametrize("body", [{"body": ""}, {}, {"body": "x" * 50_001}])
def test_an_empty_or_oversized_message_is_400(api_client, organisation, report, body):
    response = post(api_client, reports_url(organisation, f"{report.number}/messages/"), body)

    assert response.status_code == 400
    assert set(response.json()) == {"body"}
    assert not Message.objects.exists()


def test_a_whitespace_only_message_is_400(api_client, organisation, report):
    response = post(api_client, reports_url(organisation, f"{report.number}/messages/"), {"body": "  \n "})

    assert response.status_code == 400
    assert not Message.objects.exists()


def test_a_wrong_method_is_405_in_the_error_shape(api_client, organisation, report):
    response = api_client.delete(reports_url(organisation, f"{report.number}/"))

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


# --- roles ---------------------------------------------------------------------------------

def _login(client, organisation, role):
    member = make_member(organisation, role=role)
    verified_login(client, member.user)
    return member


def test_a_viewer_reads_but_cannot_transition_rate_assign_or_write(client, organisation, report):
    _login(client, organisation, "viewer")

    assert client.get(reports_url(organisation)).status_code == 200
    assert client.get(reports_url(organisation, f"{report.number}/")).status_code == 200
    for suffix, data in [("transition/", {"to": "accepted", "cvss_vector": HIGH}), ("severity/", {"cvss_vector": HIGH}),
                         ("assignee/", {"assignee": None}), ("messages/", {"body": "hello"})]:
        response = post(client, reports_url(organisation, f"{report.number}/{suffix}"), data)
        assert response.status_code == 403, suffix
        assert response.json()["error"]["code"] == "not_allowed"
    report.refresh_from_db()
    assert (report.state, report.severity) == ("acknowledged", "")
    assert not Message.objects.exists()


def test_a_ci_uploader_can_create_reports_but_not_read_them(client, organisation, product, report):
    _login(client, organisation, "ci_uploader")

    created = post(client, reports_url(organisation), valid_report(product, source="scanner"))

    assert created.status_code == 201
    assert Report.objects.get(number=created.json()["number"]).source == "scanner"
    for suffix in ("", f"{report.number}/", f"{report.number}/timeline/", f"{report.number}/messages/"):
        response = client.get(reports_url(organisation, suffix))
        assert response.status_code == 403, suffix
        assert report.title not in response.content.decode()
    assert post(client, reports_url(organisation, f"{report.number}/transition/"),
                {"to": "invalid"}).status_code == 403


def test_a_viewer_and_a_developer_cannot_create_reports(client, organisation, product):
    for role in ("viewer", "developer"):
        _login(client, organisation, role)
        assert post(client, reports_url(organisation), valid_report(product)).status_code == 403
    assert not Report.objects.exists()


def test_a_developer_sees_only_the_reports_assigned_to_them(client, organisation, product, triager, frozen_clock):
    developer = make_member(organisation, role="developer")
    mine = make_report(product, title="Assigned to the developer").report
    other = make_report(product, title="Someone else's problem").report
    services.report_assign(report=mine, actor=triager, assignee=developer.user)
    verified_login(client, developer.user)

    listed = client.get(reports_url(organisation))

    assert numbers(listed) == [mine.number]
    assert client.get(reports_url(organisation, f"{mine.number}/")).status_code == 200
    assert post(client, reports_url(organisation, f"{mine.number}/messages/"), {"body": "Fix is in review"}).status_code == 201
    for method, suffix, data in [("get", "", None), ("get", "timeline/", None), ("get", "messages/", None),
                                 ("post", "messages/", {"body": "hi"})]:
        url = reports_url(organisation, f"{other.number}/{suffix}")
        response = client.get(url) if method == "get" else post(client, url, data)
        assert response.status_code == 404, (method, suffix)
        assert "Someone else" not in response.content.decode()
    assert post(client, reports_url(organisation, f"{mine.number}/transition/"), {"to": "invalid"}).status_code == 403
    assert not Message.objects.filter(report=other).exists()


@pytest.mark.parametrize(
    ("method", "suffix", "data"),
    [
        ("get", "", None),
        ("post", "", {"product": "any", "title": "t", "description": "d"}),
        ("get", "1/", None),
        ("post", "1/transition/", {"to": "invalid"}),
        ("post", "1/severity/", {"cvss_vector": CRITICAL}),
        ("post", "1/assignee/", {"assignee": None}),
        ("get", "1/timeline/", None),
        ("get", "1/messages/", None),
        ("post", "1/messages/", {"body": "hello"}),
    ],
)
def test_anonymous_requests_are_refused_and_get_no_data(client, organisation, report, method, suffix, data):
    url = reports_url(organisation, suffix)
    response = client.get(url) if method == "get" else post(client, url, data)

    assert response.status_code in (401, 403)
    text = response.content.decode()
    assert report.title not in text and report.reference not in text
    assert Report.objects.count() == 1
    report.refresh_from_db()
    assert report.state == "acknowledged"


def test_a_session_post_without_the_csrf_token_is_refused(organisation, product, triager, frozen_clock):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    verified_login(client, triager.user)

    response = post(client, reports_url(organisation), valid_report(product))

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not Report.objects.exists()


# --- the tenant wall -------------------------------------------------------------------------

ENDPOINTS = [
    ("get", "", None),
    ("post", "", "create"),
    ("get", "{n}/", None),
    ("post", "{n}/transition/", {"to": "accepted", "cvss_vector": CRITICAL}),
    ("post", "{n}/severity/", {"cvss_vector": CRITICAL}),
    ("post", "{n}/assignee/", {"assignee": None}),
    ("get", "{n}/timeline/", None),
    ("get", "{n}/messages/", None),
    ("post", "{n}/messages/", {"body": "hello from B"}),
]


@pytest.fixture
def two_organisations(db, frozen_clock):
    """Organisation A with three reports; organisation B (an owner signed in) with one."""
    a = make_organisation(name="Alpha Corp")
    a_triager = make_member(a, role="triager")
    a_product = make_product(a, name="Alpha Server", slug="alpha-server")
    a_reports = [make_report(a_product, title=f"ALPHA-SECRET-{i}", description=f"alpha description {i}",
                             reporter_email=f"alpha{i}@example.org").report for i in (1, 2, 3)]
    services.report_assign(report=a_reports[1], actor=a_triager, assignee=a_triager.user)
    services.message_post(report=a_reports[1], actor=a_triager, body="ALPHA-INTERNAL-NOTE", is_internal=True)
    b = make_organisation(name="Beta Corp")
    b_owner = make_member(b, role="owner")
    b_product = make_product(b, name="Beta App", slug="beta-app")
    make_report(b_product, title="Beta's own report")
    return a, a_product, a_reports, b, b_owner


def _snapshot(reports):
    return [
        (r.state, r.severity, r.assignee_id, r.cvss3_vector, r.messages.count(), r.timeline_events.count())
        for r in Report.objects.filter(pk__in=[r.pk for r in reports]).order_by("pk")
    ]


def _request(client, method, url, data, a_product):
    if data == "create":
        data = {"product": a_product.slug, "title": "Planted by B", "description": "d"}
    return client.get(url) if method == "get" else post(client, url, data)


def _assert_no_alpha_data(response):
    text = response.content.decode()
    for secret in ("ALPHA-SECRET", "alpha description", "ALPHA-INTERNAL-NOTE", "@example.org", "Alpha"):
        assert secret not in text, (secret, text[:500])


@pytest.mark.parametrize(("method", "suffix", "data"), ENDPOINTS)
def test_a_member_of_another_organisation_gets_404_for_every_url_of_organisation_a(
    client, two_organisations, method, suffix, data
):
    a, a_product, a_reports, b, b_owner = two_organisations
    verified_login(client, b_owner.user)
    before = _snapshot(a_reports)

    for report in a_reports:
        response = _request(client, method, reports_url(a, suffix.format(n=report.number)), data, a_product)
        assert response.status_code == 404, (method, suffix, response.content)
        assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}
        _assert_no_alpha_data(response)

    assert _snapshot(a_reports) == before
    assert "Planted by B" not in {r.title for r in Report.objects.all()}  # titles are sealed: compare in Python


@pytest.mark.parametrize(("method", "suffix", "data"), [e for e in ENDPOINTS if "{n}" in e[1]])
def test_a_member_of_another_organisation_using_their_own_slug_with_a_numbers_gets_404(
    client, two_organisations, method, suffix, data
):
    a, a_product, a_reports, b, b_owner = two_organisations
    verified_login(client, b_owner.user)
    before = _snapshot(a_reports)

    for report in a_reports[1:]:  # numbers 2 and 3 exist only in A
        response = _request(client, method, reports_url(b, suffix.format(n=report.number)), data, a_product)
        assert response.status_code == 404, (method, suffix, response.content)
        _assert_no_alpha_data(response)

    assert _snapshot(a_reports) == before


def test_listing_and_searching_with_their_own_slug_never_shows_organisation_a(client, two_organisations):
    a, a_product, a_reports, b, b_owner = two_organisations
    verified_login(client, b_owner.user)

    for params in ({}, {"state": "all"}, {"q": "ALPHA"}, {"q": f"{a.reference_prefix}-3"}, {"q": "3"},
                   {"product": a_product.slug}, {"assignee": str(a_reports[1].assignee_id)}):
        response = client.get(reports_url(b), params)
        assert response.status_code == 200
        _assert_no_alpha_data(response)
        assert all(row["title"] == "Beta's own report" for row in response.json()["results"])


def test_creating_with_their_own_slug_and_a_product_of_organisation_a_is_404(client, two_organisations):
    a, a_product, a_reports, b, b_owner = two_organisations
    verified_login(client, b_owner.user)

    response = post(client, reports_url(b), {"product": a_product.slug, "title": "Planted", "description": "d"})

    assert response.status_code == 404
    assert "Planted" not in {r.title for r in Report.objects.all()}
    assert Report.objects.filter(organisation=a).count() == 3


def test_marking_a_duplicate_of_a_report_of_organisation_a_is_404(client, two_organisations):
    a, a_product, a_reports, b, b_owner = two_organisations
    verified_login(client, b_owner.user)

    response = post(client, reports_url(b, "1/transition/"), {"to": "duplicate", "duplicate_of": 3})

    assert response.status_code == 404
    _assert_no_alpha_data(response)
    assert Report.objects.get(organisation=b, number=1).state == "acknowledged"


def test_assigning_a_user_of_organisation_a_in_organisation_b_is_refused(client, two_organisations):
    a, a_product, a_reports, b, b_owner = two_organisations
    verified_login(client, b_owner.user)

    response = post(client, reports_url(b, "1/assignee/"), {"assignee": a_reports[1].assignee_id})

    assert response.status_code == 400
    assert Report.objects.get(organisation=b, number=1).assignee_id is None


# --- schema --------------------------------------------------------------------------------

def test_the_schema_lists_every_reports_path(client, db):
    response = client.get("/api/schema/")

    assert response.status_code == 200
    document = yaml.safe_load(response.content)
    assert document["openapi"].startswith("3.")
    base = "/api/v1/organisations/{organisation}/reports/"
    assert {base, base + "{number}/", base + "{number}/transition/", base + "{number}/severity/",
            base + "{number}/assignee/", base + "{number}/timeline/", base + "{number}/messages/"} <= set(document["paths"])
    assert set(document["paths"][base]) >= {"get", "post"}
    parameters = {p["name"] for p in document["paths"][base]["get"]["parameters"]}
    assert {"state", "severity", "product", "assignee", "overdue", "unsupported", "q", "cursor", "limit"} <= parameters


def test_the_schema_validates_without_warnings(tmp_path, db):
    target = tmp_path / "schema.yaml"

    call_command("spectacular", validate=True, fail_on_warn=True, file=str(target))

    assert "reports_create" in target.read_text()
