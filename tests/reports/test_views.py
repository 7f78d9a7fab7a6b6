"""HTTP tests for the staff HTML: the triage queue, the report page and its form actions."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories.core import (
    add_versions,
    make_member,
    make_organisation,
    make_product,
    make_report,
    verified_login,
)
from vulndesk.reports import services
from vulndesk.reports.models import Message, Report, TimelineEvent

CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
HIGH = "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:N"  # 8.1


def queue_url(organisation) -> str:
    return f"/o/{organisation.slug}/reports/"


def report_url(organisation, number, action: str = "") -> str:
    return f"/o/{organisation.slug}/reports/{number}/" + (f"{action}/" if action else "")


def references(html: str) -> list[str]:
    """Report references in queue order (each row's first cell)."""
    return re.findall(r'<td class="mono">([A-Z0-9]+-\d+)</td>', html)


@pytest.fixture
def report(product, frozen_clock):
    return make_report(product, title="SQL injection in search").report


# --- access --------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["", "1/", "cvss-preview/"])
def test_anonymous_visitors_are_sent_to_the_login_page(client, organisation, report, suffix):
    response = client.get(queue_url(organisation) + suffix)

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/?next=")


@pytest.mark.parametrize("action", ["transition", "severity", "assign", "messages"])
def test_anonymous_posts_are_sent_to_the_login_page_and_change_nothing(client, organisation, report, action):
    response = client.post(report_url(organisation, report.number, action),
                           {"to": "invalid", "cvss_vector": HIGH, "assignee": "", "body": "hi"})

    assert response.status_code == 302
    report.refresh_from_db()
    assert (report.state, report.severity) == ("acknowledged", "")
    assert not Message.objects.exists()


@pytest.fixture
def outsider_client(client, db, frozen_clock):
    """Signed in as the owner of another organisation, which has a report #1 of its own."""
    other = make_organisation(name="Beta Corp")
    make_report(make_product(other), title="Beta's own report")
    verified_login(client, make_member(other, role="owner").user)
    client.other_organisation = other
    return client


def _report_a(product, count=3):
    return [make_report(product, title=f"ALPHA-SECRET-{i}").report for i in range(1, count + 1)]


@pytest.mark.parametrize("suffix", ["", "{n}/", "cvss-preview/?cvss_vector=" + CRITICAL])
def test_a_member_of_another_organisation_gets_404_on_every_page(outsider_client, organisation, product, suffix):
    reports = _report_a(product)

    response = outsider_client.get(queue_url(organisation) + suffix.format(n=reports[2].number))

    assert response.status_code == 404
    assert "ALPHA-SECRET" not in response.content.decode()
    assert "Page not found" in response.content.decode()


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("transition", {"to": "accepted", "cvss_vector": CRITICAL}),
        ("severity", {"cvss_vector": CRITICAL}),
        ("assign", {"assignee": ""}),
        ("messages", {"body": "planted", "is_internal": "on"}),
    ],
)
def test_a_member_of_another_organisation_gets_404_on_every_action_and_changes_nothing(
    outsider_client, organisation, product, action, data
):
    reports = _report_a(product)
    other = outsider_client.other_organisation

    for slug_owner, number in [(organisation, reports[2].number), (other, reports[2].number), (other, 2)]:
        response = outsider_client.post(report_url(slug_owner, number, action), data)
        assert response.status_code == 404, (slug_owner, number)
        assert "ALPHA-SECRET" not in response.content.decode()

    assert {r.state for r in Report.objects.filter(organisation=organisation)} == {"acknowledged"}
    assert not Report.objects.filter(organisation=organisation).exclude(severity="").exists()
    assert not Message.objects.exists()


def test_a_member_of_another_organisation_using_their_own_slug_sees_only_their_own_queue(
    outsider_client, organisation, product
):
    _report_a(product)
    other = outsider_client.other_organisation

    queue = outsider_client.get(queue_url(other), {"state": "all", "q": "ALPHA"})
    detail = outsider_client.get(report_url(other, 3))

    assert queue.status_code == 200 and "ALPHA-SECRET" not in queue.content.decode()
    assert detail.status_code == 404 and "ALPHA-SECRET" not in detail.content.decode()


@pytest.mark.parametrize("action", ["transition", "severity", "assign"])
def test_a_viewer_cannot_use_the_triage_actions(client, organisation, report, action):
    verified_login(client, make_member(organisation, role="viewer").user)

    response = client.post(report_url(organisation, report.number, action),
                           {"to": "invalid", "cvss_vector": HIGH, "assignee": ""})

    assert response.status_code == 403
    report.refresh_from_db()
    assert (report.state, report.severity) == ("acknowledged", "")


def test_a_viewer_cannot_post_a_message(client, organisation, report):
    verified_login(client, make_member(organisation, role="viewer").user)

    response = client.post(report_url(organisation, report.number, "messages"), {"body": "hello"})

    assert response.status_code == 403
    assert not Message.objects.exists()


def test_a_viewer_sees_the_report_without_the_decision_panel_or_composer(client, organisation, report):
    verified_login(client, make_member(organisation, role="viewer").user)

    html = client.get(report_url(organisation, report.number)).content.decode()

    assert "SQL injection in search" in html
    assert 'id="actions-heading"' not in html
    assert 'name="body"' not in html


# --- the queue ------------------------------------------------------------------------------

def test_the_queue_lists_reports_by_nearest_deadline_first(staff_client, organisation, product, frozen_clock):
    start = frozen_clock.now
    filed = {}
    for title, hours_ago in [("Filed an hour ago", 1), ("Filed three hours ago", 3), ("Filed just now", 0),
                             ("Filed two hours ago", 2)]:
        frozen_clock.move(start - timedelta(hours=hours_ago))
        filed[title] = make_report(product, title=title).report
    frozen_clock.move(start)

    html = staff_client.get(queue_url(organisation)).content.decode()

    assert references(html) == [filed[t].reference for t in
                                ("Filed three hours ago", "Filed two hours ago", "Filed an hour ago", "Filed just now")]
    first_row = html.split('<td class="mono">', 2)[1]
    assert "assessment due in 5 business days" in first_row
    assert "on track" in first_row


def test_an_accepted_critical_report_jumps_to_the_top_of_the_queue(staff_client, organisation, product, triager):
    older = make_report(product, title="Older report").report
    critical = make_report(product, title="Remote code execution").report
    services.report_transition(report=critical, actor=triager, to="accepted", cvss_vector=CRITICAL)

    html = staff_client.get(queue_url(organisation)).content.decode()

    assert references(html) == [critical.reference, older.reference]  # 72 hours beats 5 business days
    assert "Critical 9.8" in html


@pytest.fixture
def queue(organisation, product, triager, frozen_clock):
    add_versions(product, supported=("2.x",), unsupported=("1.x",))
    mobile = make_product(organisation, name="Mobile app", slug="mobile-app")
    frozen_clock.advance(days=-14)
    overdue = make_report(product, title="Old open redirect").report
    frozen_clock.advance(days=14)
    high = make_report(product, title="Stored XSS in comments").report
    services.report_transition(report=high, actor=triager, to="accepted", cvss_vector=HIGH)
    services.report_assign(report=high, actor=triager, assignee=triager.user)
    app = make_report(mobile, title="Token in the app log").report
    old_version = make_report(product, title="Path traversal in export", affected_versions="1.4").report
    closed = make_report(product, title="Self-XSS in the console").report
    services.report_transition(report=closed, actor=triager, to="invalid")
    return {"overdue": overdue, "high": high, "app": app, "old_version": old_version, "closed": closed}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"overdue", "high", "app", "old_version"}),
        ({"state": "all"}, {"overdue", "high", "app", "old_version", "closed"}),
        ({"state": "invalid"}, {"closed"}),
        ({"severity": "high"}, {"high"}),
        ({"product": "mobile-app"}, {"app"}),
        ({"assignee": "none"}, {"overdue", "app", "old_version"}),
        ({"overdue": "1"}, {"overdue"}),
        ({"unsupported": "1"}, {"old_version"}),
        ({"q": "xss"}, {"high"}),
        ({"q": "xss", "state": "all"}, {"high", "closed"}),
    ],
)
def test_queue_filters_live_in_the_url(staff_client, organisation, queue, params, expected):
    response = staff_client.get(queue_url(organisation), params)

    assert response.status_code == 200
    assert set(references(response.content.decode())) == {queue[name].reference for name in expected}


def test_the_queue_filter_form_shows_the_filters_from_the_url(staff_client, organisation, queue):
    html = staff_client.get(queue_url(organisation), {"severity": "high", "q": "xss", "overdue": "1"}).content.decode()

    assert '<option value="high" selected>' in html
    assert 'value="xss"' in html
    assert 'name="overdue" value="1" checked' in html


def test_the_queue_finds_a_report_by_reference(staff_client, organisation, queue):
    response = staff_client.get(queue_url(organisation), {"q": queue["app"].reference})

    assert references(response.content.decode()) == [queue["app"].reference]


def test_an_overdue_row_says_so_in_words(staff_client, organisation, queue):
    html = staff_client.get(queue_url(organisation), {"overdue": "1"}).content.decode()

    assert 'class="is-overdue"' in html
    assert "missed" in html and "overdue" in html


def test_the_queue_counts_reports_per_state(staff_client, organisation, queue):
    html = staff_client.get(queue_url(organisation)).content.decode()

    assert re.search(r"Acknowledged <strong>3</strong>", html)
    assert re.search(r"Invalid <strong>1</strong>", html)


def test_an_empty_queue_says_what_to_do_next(staff_client, organisation, product):
    html = staff_client.get(queue_url(organisation)).content.decode()

    assert "No open reports — the queue is clear" in html
    assert f"/p/{organisation.slug}/{product.slug}/report/" in html


def test_filters_that_match_nothing_say_so_and_offer_a_reset(staff_client, organisation, queue):
    html = staff_client.get(queue_url(organisation), {"severity": "critical"}).content.decode()

    assert "No report matches these filters" in html
    assert references(html) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"state": "bogus"}, "Unknown state filter &#x27;bogus&#x27;."),
        ({"severity": "extreme"}, "Unknown severity filter &#x27;extreme&#x27;."),
        ({"assignee": "alice"}, "The assignee filter is a user id or &#x27;none&#x27;."),
        ({"cursor": "not-a-cursor"}, "The page cursor is not valid; start again from the first page."),
    ],
)
def test_a_bad_filter_is_400_with_a_message(staff_client, organisation, queue, params, message):
    response = staff_client.get(queue_url(organisation), params)

    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert "Reset the filters" in html
    assert references(html) == []


def test_a_hostile_filter_value_is_shown_escaped(staff_client, organisation, queue):
    response = staff_client.get(queue_url(organisation), {"state": "<script>alert(1)</script>"})

    assert response.status_code == 400
    html = response.content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_queue_pages_with_a_cursor_link(staff_client, organisation, product, frozen_clock):
    start = frozen_clock.now
    for minutes in range(55):
        frozen_clock.move(start - timedelta(minutes=minutes))
        make_report(product)
    frozen_clock.move(start)

    first = staff_client.get(queue_url(organisation)).content.decode()
    cursor = re.search(r'href="\?cursor=([^"&]+)"', first).group(1)
    second = staff_client.get(queue_url(organisation), {"cursor": cursor}).content.decode()

    assert len(references(first)) == 50 and len(references(second)) == 5
    assert not set(references(first)) & set(references(second))
    assert "End of the list" in second


def test_an_htmx_request_gets_only_the_table(staff_client, organisation, queue):
    response = staff_client.get(queue_url(organisation), {"severity": "high"}, headers={"HX-Request": "true"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert references(html) == [queue["high"].reference]


def _fill_queue(product, triager, count):
    for i in range(count):
        report = make_report(product, title=f"Report {i}", affected_versions="1.4" if i % 3 == 0 else "").report
        if i % 2:
            services.report_assign(report=report, actor=triager, assignee=triager.user)
        if i % 4 == 1:
            services.report_transition(report=report, actor=triager, to="accepted", cvss_vector=HIGH)


def test_the_queue_runs_the_same_number_of_queries_for_5_and_40_reports(
    staff_client, organisation, product, triager, frozen_clock, django_assert_max_num_queries
):
    add_versions(product)
    _fill_queue(product, triager, 5)
    with CaptureQueriesContext(connection) as small:
        assert len(references(staff_client.get(queue_url(organisation), {"state": "all"}).content.decode())) == 5

    _fill_queue(product, triager, 35)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = staff_client.get(queue_url(organisation), {"state": "all"})

    assert len(references(response.content.decode())) == 40
    assert len(small.captured_queries) <= 12


def _fill_report(report, triager, developer, count):
    for i in range(count):
        services.message_post(report=report, actor=triager, body=f"message {i}", is_internal=bool(i % 2))
        services.reporter_message_post(report=report, body=f"reply {i}")
        services.report_assign(report=report, actor=triager,
                               assignee=developer.user if report.assignee_id != developer.user_id else triager.user)


def test_the_report_page_runs_the_same_number_of_queries_for_5_and_40_events(
    staff_client, organisation, product, triager, report, django_assert_max_num_queries
):
    developer = make_member(organisation, role="developer")
    add_versions(product)
    services.report_transition(report=report, actor=triager, to="accepted", cvss_vector=HIGH)
    duplicate = make_report(product, title="A duplicate").report
    services.report_transition(report=duplicate, actor=triager, to="duplicate", duplicate_of=report)
    _fill_report(report, triager, developer, 5)
    with CaptureQueriesContext(connection) as small:
        assert staff_client.get(report_url(organisation, report.number)).status_code == 200

    _fill_report(report, triager, developer, 35)
    assert TimelineEvent.objects.filter(report=report).count() > 40
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = staff_client.get(report_url(organisation, report.number))

    html = response.content.decode()
    assert html.count('<div class="body">') == 80 and "message 34" in html and "reply 34" in html
    assert len(small.captured_queries) <= 20


# --- the report page and its actions ---------------------------------------------------------

def test_the_report_page_shows_the_report_its_deadlines_and_the_allowed_actions(staff_client, organisation, report):
    html = staff_client.get(report_url(organisation, report.number)).content.decode()

    assert report.reference in html and "SQL injection in search" in html
    assert "Assessment" in html and "due in 5 business days" in html
    for label in ("Accept", "Mark duplicate", "Mark invalid", "Out of scope", "Won&#x27;t fix"):
        assert f">{label}" in html
    assert 'value="fixed"' not in html  # illegal next states are absent, not disabled


def test_an_unknown_report_number_is_404(staff_client, organisation, report):
    assert staff_client.get(report_url(organisation, 99)).status_code == 404


def test_accepting_with_a_vector_redirects_and_changes_the_state(staff_client, organisation, report):
    response = staff_client.post(report_url(organisation, report.number, "transition"),
                                 {"to": "accepted", "cvss_vector": CRITICAL})

    assert response.status_code == 302
    assert response.url == report_url(organisation, report.number)
    report.refresh_from_db()
    assert (report.state, report.severity, str(report.cvss3_score)) == ("accepted", "critical", "9.8")
    page = staff_client.get(response.url).content.decode()
    assert f"{report.reference} is now accepted." in page
    assert "Resolution" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"to": "accepted"}, "Accepting a report needs a CVSS vector or a severity."),
        ({"to": "accepted", "cvss_vector": "CVSS:3.1/AV:N"}, "The CVSS vector is not valid"),
        ({"to": "fixed"}, "A report that is acknowledged cannot become fixed."),
        ({"to": "disclosed"}, "cannot become disclosed"),
        ({"to": "duplicate"}, "Say which report this one duplicates."),
        ({"to": "duplicate", "duplicate_of": "1"}, "A report cannot duplicate itself."),
    ],
)
def test_an_illegal_or_incomplete_transition_is_422_with_the_error_and_changes_nothing(
    staff_client, organisation, report, data, message
):
    events_before = TimelineEvent.objects.filter(report=report).count()

    response = staff_client.post(report_url(organisation, report.number, "transition"), data)

    assert response.status_code == 422
    html = response.content.decode()
    assert message in html
    assert 'class="form-errors" role="alert"' in html
    report.refresh_from_db()
    assert (report.state, report.severity, report.cvss3_vector, report.duplicate_of_id) == ("acknowledged", "", "", None)
    assert TimelineEvent.objects.filter(report=report).count() == events_before


def test_a_transition_form_with_an_unknown_state_is_422(staff_client, organisation, report):
    response = staff_client.post(report_url(organisation, report.number, "transition"), {"to": "solved"})

    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()


def test_marking_a_duplicate_through_the_form_links_the_original(staff_client, organisation, product, report):
    copy = make_report(product, title="Same SQL injection again").report

    response = staff_client.post(report_url(organisation, copy.number, "transition"),
                                 {"to": "duplicate", "duplicate_of": str(report.number)})

    assert response.status_code == 302
    copy.refresh_from_db()
    assert (copy.state, copy.duplicate_of_id) == ("duplicate", report.pk)
    html = staff_client.get(report_url(organisation, report.number)).content.decode()
    assert copy.reference in html  # listed among the duplicates


def test_a_severity_override_without_a_reason_is_422_and_changes_nothing(staff_client, organisation, report):
    response = staff_client.post(report_url(organisation, report.number, "severity"),
                                 {"cvss_vector": HIGH, "severity": "low", "reason": ""})

    assert response.status_code == 422
    assert "Overriding the severity the CVSS score gives needs a reason." in response.content.decode()
    report.refresh_from_db()
    assert (report.severity, report.cvss3_vector) == ("", "")


def test_a_severity_without_a_vector_needs_a_reason_too(staff_client, organisation, report):
    response = staff_client.post(report_url(organisation, report.number, "severity"), {"severity": "medium"})

    assert response.status_code == 422
    assert "Setting a severity without a CVSS vector needs a reason." in response.content.decode()


def test_a_severity_override_with_a_reason_is_saved_with_the_cwe(staff_client, organisation, report):
    response = staff_client.post(report_url(organisation, report.number, "severity"),
                                 {"cvss_vector": HIGH, "severity": "medium", "reason": "Only on the admin port",
                                  "cwe_id": "89"})

    assert response.status_code == 302
    report.refresh_from_db()
    assert (report.severity, report.severity_override_reason, report.cwe_id) == (
        "medium", "Only on the admin port", 89)


def test_assigning_through_the_form_sets_the_assignee(staff_client, organisation, report):
    developer = make_member(organisation, role="developer", name="Dana Developer")

    response = staff_client.post(report_url(organisation, report.number, "assign"), {"assignee": developer.user_id})

    assert response.status_code == 302
    report.refresh_from_db()
    assert report.assignee_id == developer.user_id
    assert "Assigned to Dana Developer." in staff_client.get(response.url).content.decode()


def test_assigning_someone_outside_the_organisation_is_422(staff_client, organisation, report):
    stranger = make_member(make_organisation(), role="triager")

    response = staff_client.post(report_url(organisation, report.number, "assign"), {"assignee": stranger.user_id})

    assert response.status_code == 422
    report.refresh_from_db()
    assert report.assignee_id is None


def test_posting_a_message_to_the_reporter(staff_client, organisation, report):
    response = staff_client.post(report_url(organisation, report.number, "messages"), {"body": "Can you share the request?"})

    assert response.status_code == 302
    message = Message.objects.get()
    assert (message.body, message.is_internal, message.is_from_reporter) == ("Can you share the request?", False, False)
    assert "Message sent to the reporter." in staff_client.get(response.url).content.decode()


def test_posting_an_internal_note(staff_client, organisation, report):
    response = staff_client.post(report_url(organisation, report.number, "messages"),
                                 {"body": "Reproduced on staging", "is_internal": "on"})

    assert response.status_code == 302
    assert Message.objects.get().is_internal is True
    html = staff_client.get(response.url).content.decode()
    assert "Internal note added." in html
    assert '<li class="internal">' in html and "internal note" in html


def test_an_empty_message_is_422(staff_client, organisation, report):
    response = staff_client.post(report_url(organisation, report.number, "messages"), {"body": ""})

    assert response.status_code == 422
    assert "This field is required." in response.content.decode()
    assert not Message.objects.exists()


@pytest.mark.parametrize("action", ["transition", "severity", "assign", "messages"])
def test_state_changing_views_answer_get_with_405(staff_client, organisation, report, action):
    response = staff_client.get(report_url(organisation, report.number, action), {"to": "invalid"})

    assert response.status_code == 405
    report.refresh_from_db()
    assert report.state == "acknowledged"


def test_the_report_views_refuse_other_methods(staff_client, organisation, report):
    assert staff_client.post(queue_url(organisation)).status_code == 405
    assert staff_client.post(report_url(organisation, report.number)).status_code == 405


# --- the CVSS preview (htmx) ------------------------------------------------------------------

def test_the_cvss_preview_shows_the_score_and_severity(staff_client, organisation):
    response = staff_client.get(queue_url(organisation) + "cvss-preview/", {"cvss_vector": CRITICAL},
                                headers={"HX-Request": "true"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "Critical 9.8" in html and "CVSS 3.1" in html
    assert "<html" not in html


def test_the_cvss_preview_explains_a_bad_vector(staff_client, organisation):
    response = staff_client.get(queue_url(organisation) + "cvss-preview/", {"cvss_vector": "CVSS:3.1/AV:N/<b>"})

    html = response.content.decode()
    assert response.status_code == 200
    assert 'role="alert"' in html and "not valid" in html
    assert "<b>" not in html


def test_the_cvss_preview_is_empty_without_a_vector(staff_client, organisation):
    response = staff_client.get(queue_url(organisation) + "cvss-preview/", {"cvss_vector": ""})

    assert response.status_code == 200
    assert response.content.decode().strip() == ""
