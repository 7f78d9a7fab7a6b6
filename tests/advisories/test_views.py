"""Staff advisory pages: list, draft from a report, editor and preview, affected ranges with
errors in place, lifecycle actions (early publish needs its reason), cross-tenant 404."""

from datetime import timedelta

import pytest

from tests.factories.core import make_member, make_organisation, make_product, make_report, verified_login
from vulndesk.advisories.models import Advisory
from vulndesk.advisories.services import advisory_create
from vulndesk.reports.services import report_transition

CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


@pytest.fixture
def staff(client, triager, frozen_clock):
    verified_login(client, triager.user)
    return client


def base(member):
    return f"/o/{member.organisation.slug}/advisories/"


def _affected_post(rows):
    data = {"affected-TOTAL_FORMS": str(len(rows)), "affected-INITIAL_FORMS": "0",
            "affected-MIN_NUM_FORMS": "0", "affected-MAX_NUM_FORMS": "100"}
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"affected-{i}-{key}"] = value
    return data


def test_the_list_has_an_empty_state_and_a_draft_form(staff, triager):
    page = staff.get(base(triager)).content.decode()
    assert "No advisories yet" in page and "Draft an advisory" in page


def test_a_triager_drafts_an_advisory_from_an_accepted_report(staff, triager):
    report = make_report(make_product(triager.organisation), title="XSS in preview").report
    report_transition(report=report, actor=triager, to="accepted", cvss_vector=CRITICAL)
    response = staff.post(base(triager) + "new/", {"title": "Stored XSS", "reports": f"ORG-{report.number}"})
    advisory = Advisory.objects.get()
    assert response.status_code == 302 and response["Location"] == base(triager) + advisory.identifier + "/"
    page = staff.get(response["Location"]).content.decode()
    assert "Stored XSS" in page and report.reference in page and "Send to review" in page


def test_a_draft_from_a_report_that_is_not_accepted_is_refused_in_place(staff, triager):
    report = make_report(make_product(triager.organisation)).report
    response = staff.post(base(triager) + "new/", {"title": "x", "reports": str(report.number)})
    assert response.status_code == 422
    assert "only accepted reports" in response.content.decode()
    assert not Advisory.objects.exists()


def test_editing_saves_and_hostile_details_preview_inert(staff, triager):
    advisory = advisory_create(organisation=triager.organisation, actor=triager, title="x")
    url = base(triager) + advisory.identifier + "/"
    response = staff.post(url + "update/", {"title": "Path traversal", "summary": "s", "details": "**bold**",
                                            "severity": "high", "cwe_ids": "CWE-22, 23"})
    assert response.status_code == 302
    advisory.refresh_from_db()
    assert (advisory.title, advisory.cwe_ids, advisory.severity) == ("Path traversal", [22, 23], "high")
    preview = staff.post(base(triager) + "preview/", {"details": "<script>alert(1)</script>[x](javascript:y)"})
    html = preview.content.decode()
    assert "<script>" not in html and "&lt;script&gt;" in html and 'href="javascript' not in html


def test_invalid_fields_re_render_with_errors_and_keep_the_input(staff, triager):
    advisory = advisory_create(organisation=triager.organisation, actor=triager, title="x")
    url = base(triager) + advisory.identifier + "/"
    response = staff.post(url + "update/", {"title": "Kept title", "cve_id": "CVE-12", "cvss3_vector": "nonsense"})
    assert response.status_code == 422
    page = response.content.decode()
    assert "Kept title" in page and "Enter a valid value" in page


def test_affected_ranges_are_saved_grouped_by_package_and_errors_show_in_place(staff, triager):
    advisory = advisory_create(organisation=triager.organisation, actor=triager, title="x")
    url = base(triager) + advisory.identifier + "/affected/"
    bad = staff.post(url, _affected_post([{"ecosystem": "PyPI", "package_name": "acme", "introduced": "2.0",
                                           "fixed": "not-a-version!"}]))
    assert bad.status_code == 422 and "not a valid PyPI version" in bad.content.decode()
    ok = staff.post(url, _affected_post([
        {"ecosystem": "PyPI", "package_name": "acme", "introduced": "0", "fixed": "1.2.3"},
        {"ecosystem": "PyPI", "package_name": "acme", "introduced": "2.0", "fixed": "2.0.5"},
        {"ecosystem": "npm", "package_name": "acme-js", "introduced": "0", "last_affected": "3.1.0"},
    ]))
    assert ok.status_code == 302
    packages = {(p.ecosystem, p.package_name): p.ranges for p in advisory.affected.all()}
    assert len(packages[("PyPI", "acme")]) == 2
    assert packages[("npm", "acme-js")][0]["events"][1] == {"last_affected": "3.1.0"}


def test_early_publish_without_a_reason_is_refused_with_the_message(staff, triager, frozen_clock):
    advisory = advisory_create(organisation=triager.organisation, actor=triager, title="x")
    url = base(triager) + advisory.identifier + "/"
    staff.post(url + "update/", {"title": "x", "summary": "s", "severity": "high",
                                 "embargo_until": (frozen_clock.now + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")})
    staff.post(url + "affected/", _affected_post([{"ecosystem": "PyPI", "package_name": "a", "introduced": "0",
                                                    "fixed": "1.0"}]))
    assert staff.post(url + "transition/", {"to": "in_review"}).status_code == 302
    refused = staff.post(url + "transition/", {"to": "published"})
    assert refused.status_code == 422 and "needs an override with a reason" in refused.content.decode()
    assert staff.post(url + "transition/", {"to": "published", "override_reason": "actively exploited"}).status_code == 302
    assert Advisory.objects.get().is_public


def test_a_viewer_reads_but_cannot_act_and_another_organisation_gets_404(client, triager, frozen_clock):
    advisory = advisory_create(organisation=triager.organisation, actor=triager, title="Secret draft")
    url = base(triager) + advisory.identifier + "/"
    viewer = make_member(triager.organisation, role="viewer")
    verified_login(client, viewer.user)
    assert client.get(url).status_code == 200
    assert client.post(url + "update/", {"title": "changed"}).status_code == 403
    outsider = make_member(make_organisation(), role="owner")
    verified_login(client, outsider.user)
    for path in ("", "update/", "transition/", "affected/", "withdraw/"):
        response = client.get(url + path) if not path else client.post(url + path, {"title": "x", "to": "in_review"})
        assert response.status_code == 404, path
        assert "Secret draft" not in response.content.decode()
    own = f"/o/{outsider.organisation.slug}/advisories/{advisory.identifier}/"
    assert client.get(own).status_code == 404


def test_the_report_page_offers_to_draft_an_advisory_and_extends_the_disclosure_deadline(staff, triager):
    report = make_report(make_product(triager.organisation)).report
    report_transition(report=report, actor=triager, to="accepted", cvss_vector=CRITICAL)
    url = f"/o/{triager.organisation.slug}/reports/{report.number}/"
    page = staff.get(url).content.decode()
    assert "Draft advisory" in page and "Extend the disclosure deadline" in page
    response = staff.post(url + "disclosure/", {"due_on": "2027-06-30", "reason": "vendor needs time",
                                                "reporter_agreed": "on"})
    assert response.status_code == 302
    report.refresh_from_db()
    assert report.disclosure_due_at.date().isoformat() == "2027-06-30"
    refused = staff.post(url + "disclosure/", {"due_on": "2027-07-30", "reason": "again"}, follow=True)
    assert "agreement before extending the deadline" in refused.content.decode()
