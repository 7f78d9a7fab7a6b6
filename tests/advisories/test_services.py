"""The advisory lifecycle: drafting from reports, editing, affected ranges, review, schedule,
the embargo (never early without a recorded override), revisions and withdrawal."""

from datetime import timedelta

import pytest

from tests.factories.core import make_member, make_organisation, make_product, make_report
from vulndesk.advisories import hooks
from vulndesk.advisories.models import Advisory, AdvisoryRevision
from vulndesk.advisories.services import (
    advisories_publish_due,
    advisory_create,
    advisory_transition,
    advisory_update,
    advisory_withdraw,
    affected_packages_set,
)
from vulndesk.audit.models import AuditEntry
from vulndesk.core.errors import DomainError, NotAllowed, NotFound
from vulndesk.reports.services import report_transition

CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
PYPI = {"ecosystem": "PyPI", "package_name": "acme-shop",
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.4.2"}]}], "versions": []}


def accepted_report(product, triager, **fields):
    report = make_report(product, reporter_handle="finder42", **fields).report
    report_transition(report=report, actor=triager, to="accepted", cvss_vector=CRITICAL)
    return report


def ready_draft(organisation, triager, product, **fields):
    advisory = advisory_create(organisation=organisation, actor=triager, title="SQL injection in search",
                               reports=[accepted_report(product, triager)])
    affected_packages_set(advisory=advisory, actor=triager, packages=[PYPI])
    return advisory_update(advisory=advisory, actor=triager, summary="SQLi in the search endpoint", **fields)


def test_a_draft_from_reports_is_prefilled_and_numbered_per_organisation_and_year(frozen_clock, organisation,
                                                                                 product, triager):
    report = accepted_report(product, triager)
    advisory = advisory_create(organisation=organisation, actor=triager, title="SQLi", reports=[report])
    assert advisory.identifier == f"{organisation.reference_prefix}-2026-0001"
    assert (advisory.severity, advisory.cvss3_vector) == ("critical", CRITICAL)
    assert advisory.credits == [{"name": "finder42", "type": "FINDER"}]
    assert list(advisory.reports.all()) == [report]
    second = advisory_create(organisation=organisation, actor=triager, title="In-house finding")
    assert second.identifier.endswith("-2026-0002")
    other = make_organisation()
    assert advisory_create(organisation=other, actor=None, title="x").identifier == f"{other.reference_prefix}-2026-0001"


def test_only_accepted_reports_of_the_same_organisation_can_be_disclosed(frozen_clock, organisation, product,
                                                                         triager):
    new_report = make_report(product).report
    with pytest.raises(DomainError, match="only accepted reports"):
        advisory_create(organisation=organisation, actor=triager, title="x", reports=[new_report])
    foreign = make_report(make_product()).report
    with pytest.raises(NotFound):
        advisory_create(organisation=organisation, actor=triager, title="x", reports=[foreign])


def test_roles_and_tenants_are_checked(frozen_clock, organisation, product, triager):
    viewer = make_member(organisation, role="viewer")
    with pytest.raises(NotAllowed):
        advisory_create(organisation=organisation, actor=viewer, title="x")
    advisory = advisory_create(organisation=organisation, actor=triager, title="x")
    outsider = make_member(make_organisation(), role="owner")
    with pytest.raises(NotFound):
        advisory_update(advisory=advisory, actor=outsider, title="y")


def test_review_needs_summary_severity_and_an_affected_package(frozen_clock, organisation, triager):
    advisory = advisory_create(organisation=organisation, actor=triager, title="x")
    with pytest.raises(DomainError, match="a summary, a severity, an affected package"):
        advisory_transition(advisory=advisory, actor=triager, to="in_review")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("credits", [{"name": "", "type": "FINDER"}], "needs a name"),
    ("credits", [{"name": "x", "type": "HACKER"}], "needs a name and a type"),
    ("references", [{"type": "WEB", "url": "javascript:alert(1)"}], "http"),
    ("references", [{"type": "NOPE", "url": "https://example.org"}], "Unknown reference type"),
    ("cwe_ids", ["79"], "CWE ids"),
    ("cvss3_vector", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "CVSS 3.1"),
    ("cvss3_vector", "garbage", "CVSS"),
])
def test_malformed_fields_get_a_clear_error(frozen_clock, organisation, triager, field, value, message):
    advisory = advisory_create(organisation=organisation, actor=triager, title="x")
    with pytest.raises(DomainError, match=message):
        advisory_update(advisory=advisory, actor=triager, **{field: value})


@pytest.mark.parametrize(("package", "message"), [
    ({**PYPI, "ecosystem": "Cobol"}, "Unknown ecosystem"),
    ({**PYPI, "package_name": ""}, "package name"),
    ({**PYPI, "ranges": [{"type": "ECOSYSTEM", "events": [{"fixed": "1.0"}]}]}, "introduced"),
    ({**PYPI, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "not a version!"}]}]}, "not a valid"),
    ({**PYPI, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.0"}, {"fixed": "1.0"}]}]}, "before"),
    ({**PYPI, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1"},
                                                          {"last_affected": "1"}]}]}, "not both"),
    ({**PYPI, "ranges": "0-1.0"}, "lists"),
])
def test_malformed_version_ranges_are_refused_with_a_clear_error(frozen_clock, organisation, triager, package,
                                                                 message):
    advisory = advisory_create(organisation=organisation, actor=triager, title="x")
    with pytest.raises(DomainError, match=message):
        affected_packages_set(advisory=advisory, actor=triager, packages=[package])
    assert not advisory.affected.exists()


def test_publishing_before_the_embargo_needs_an_override_with_a_reason(frozen_clock, organisation, product,
                                                                       triager):
    advisory = ready_draft(organisation, triager, product, severity="critical",
                           embargo_until=frozen_clock.now + timedelta(days=7))
    advisory_transition(advisory=advisory, actor=triager, to="in_review")
    with pytest.raises(DomainError, match="needs an override with a reason"):
        advisory_transition(advisory=advisory, actor=triager, to="published")
    assert not Advisory.objects.get(pk=advisory.pk).is_public
    advisory_transition(advisory=advisory, actor=triager, to="published", override_reason="exploited in the wild")
    entry = AuditEntry.objects.get(action="advisory.publish_early")
    assert entry.data["reason"] == "exploited in the wild"
    assert Advisory.objects.get(pk=advisory.pk).is_public


def test_a_scheduled_advisory_publishes_itself_at_the_embargo_and_never_before(frozen_clock, organisation, product,
                                                                               triager):
    embargo = frozen_clock.now + timedelta(days=3)
    advisory = ready_draft(organisation, triager, product, severity="critical", embargo_until=embargo)
    advisory_transition(advisory=advisory, actor=triager, to="in_review")
    advisory_transition(advisory=advisory, actor=triager, to="scheduled")
    frozen_clock.move(embargo - timedelta(seconds=1))
    assert advisories_publish_due() == []
    assert Advisory.objects.get(pk=advisory.pk).public_document is None
    frozen_clock.move(embargo)
    assert advisories_publish_due() == [advisory.identifier]
    published = Advisory.objects.get(pk=advisory.pk)
    assert (published.state, published.is_public, published.published_at) == ("published", True, embargo)
    assert advisories_publish_due() == []  # idempotent


def test_scheduling_needs_a_future_embargo(frozen_clock, organisation, product, triager):
    advisory = ready_draft(organisation, triager, product, severity="high")
    advisory_transition(advisory=advisory, actor=triager, to="in_review")
    with pytest.raises(DomainError, match="embargo date in the future"):
        advisory_transition(advisory=advisory, actor=triager, to="scheduled")
    with pytest.raises(DomainError, match="in the future"):
        advisory_update(advisory=advisory, actor=triager, embargo_until=frozen_clock.now - timedelta(hours=1))


def test_publishing_freezes_the_public_face_and_discloses_fixed_reports(frozen_clock, organisation, product,
                                                                        triager):
    advisory = ready_draft(organisation, triager, product, severity="critical")
    report = advisory.reports.get()
    report_transition(report=report, actor=triager, to="fixing")
    report_transition(report=report, actor=triager, to="fixed")
    advisory_transition(advisory=advisory, actor=triager, to="in_review")
    advisory_transition(advisory=advisory, actor=triager, to="published")
    advisory.refresh_from_db()
    assert advisory.public_title == "SQL injection in search"
    assert advisory.public_document["id"] == f"x_{advisory.identifier}"
    assert advisory.public_document["affected"][0]["ranges"][0]["events"][1] == {"fixed": "2.4.2"}
    report.refresh_from_db()
    assert report.state == "disclosed"
    (revision,) = AdvisoryRevision.objects.filter(advisory=advisory)
    assert (revision.revision, revision.changelog) == (1, "Initial publication")


def test_edits_after_publishing_stay_private_until_the_next_revision(frozen_clock, organisation, product, triager):
    advisory = ready_draft(organisation, triager, product, severity="critical")
    advisory_transition(advisory=advisory, actor=triager, to="in_review")
    advisory_transition(advisory=advisory, actor=triager, to="published")
    advisory_update(advisory=advisory, actor=triager, title="Renamed (unpublished)")
    advisory.refresh_from_db()
    assert advisory.public_title == "SQL injection in search"
    with pytest.raises(DomainError, match="what changed"):
        advisory_transition(advisory=advisory, actor=triager, to="updated")
    frozen_clock.advance(days=1)
    advisory_transition(advisory=advisory, actor=triager, to="updated", changelog="Clarified the title")
    advisory.refresh_from_db()
    assert (advisory.state, advisory.revision, advisory.public_title) == ("updated", 2, "Renamed (unpublished)")
    assert list(advisory.revisions.values_list("revision", "changelog")) == [
        (1, "Initial publication"), (2, "Clarified the title")]


def test_withdrawal_is_public_final_and_keeps_the_published_content(frozen_clock, organisation, product, triager):
    advisory = ready_draft(organisation, triager, product, severity="critical")
    advisory_transition(advisory=advisory, actor=triager, to="in_review")
    advisory_transition(advisory=advisory, actor=triager, to="published")
    advisory_update(advisory=advisory, actor=triager, title="Never published title")
    with pytest.raises(DomainError, match="reason"):
        advisory_withdraw(advisory=advisory, actor=triager, reason=" ")
    advisory_withdraw(advisory=advisory, actor=triager, reason="Not a vulnerability after all")
    advisory.refresh_from_db()
    assert advisory.state == "withdrawn" and advisory.public_document["withdrawn"]
    assert advisory.public_document["database_specific"]["title"] == "SQL injection in search"
    with pytest.raises(DomainError):
        advisory_update(advisory=advisory, actor=triager, title="again")


def test_hooks_run_inside_publishing_and_can_refuse_it(frozen_clock, organisation, product, triager):
    seen = []

    def refuse(advisory, revision):
        seen.append(revision.revision)
        raise DomainError("The CSAF document does not validate.")

    hooks.PUBLISH_HOOKS.append(refuse)
    try:
        advisory = ready_draft(organisation, triager, product, severity="critical")
        advisory_transition(advisory=advisory, actor=triager, to="in_review")
        with pytest.raises(DomainError, match="does not validate"):
            advisory_transition(advisory=advisory, actor=triager, to="published")
    finally:
        hooks.PUBLISH_HOOKS.remove(refuse)
    assert seen == [1]
    advisory.refresh_from_db()
    assert (advisory.state, advisory.is_public, advisory.revisions.count()) == ("in_review", False, 0)


def test_the_published_signal_is_sent_after_commit_only(frozen_clock, organisation, product, triager,
                                                        django_capture_on_commit_callbacks):
    received = []

    def receiver(sender, advisory_id, revision, **kwargs):
        received.append((advisory_id, revision))

    hooks.revision_published.connect(receiver)
    try:
        advisory = ready_draft(organisation, triager, product, severity="critical")
        advisory_transition(advisory=advisory, actor=triager, to="in_review")
        with django_capture_on_commit_callbacks(execute=True):
            advisory_transition(advisory=advisory, actor=triager, to="published")
    finally:
        hooks.revision_published.disconnect(receiver)
    assert received == [(advisory.pk, 1)]
