"""Writes to reports (reports/services.py) through the real services and database.

The clock is frozen at Mon 23 Nov 2026 09:00 UTC (10:00 in Oslo, the organisations' zone).
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from tests.factories.core import add_versions, make_member, make_organisation, make_product, make_report
from vulndesk.audit.models import AuditEntry
from vulndesk.audit.selectors import audit_chain_problems
from vulndesk.core.errors import DomainError, NotAllowed, NotFound
from vulndesk.products.models import Product
from vulndesk.products.services import policy_update, release_plan, release_ship
from vulndesk.reports.models import NO_DEADLINE, EventKind, Message, Report, SlaClock, TimelineEvent
from vulndesk.reports.services import (
    MESSAGE_MAX_CHARS,
    message_post,
    report_assign,
    report_cwe_set,
    report_severity_change,
    report_transition,
    reporter_message_post,
    reports_waiting_for_release_schedule,
)
from vulndesk.reports.severity import InvalidVector, Severity
from vulndesk.reports.states import InvalidTransition, ReportState

pytestmark = pytest.mark.django_db

S = ReportState
CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
HIGH = "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:N"  # 8.1
MEDIUM = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"  # 6.1
LOW = "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"  # 1.8
MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def fresh(report: Report) -> Report:
    return Report.objects.select_related("organisation", "product__policy").get(pk=report.pk)


def events(report: Report, kind: str | None = None) -> list[TimelineEvent]:
    rows = TimelineEvent.objects.filter(report=report).order_by("at", "id")
    return list(rows.filter(kind=kind) if kind else rows)


def audit(report: Report, action: str | None = None) -> list[AuditEntry]:
    rows = AuditEntry.objects.filter(target_type="report", target_id=str(report.pk)).order_by("id")
    return list(rows.filter(action=action) if action else rows)


def accepted(product, triager, vector=CRITICAL, **fields) -> Report:
    report = make_report(product, **fields).report
    return report_transition(report=report, actor=triager, to=S.ACCEPTED, cvss_vector=vector)


def walk(report, actor, *states, **kwargs) -> Report:
    for state in states:
        report = report_transition(report=report, actor=actor, to=state, **kwargs)
    return report


# --- report_create ----------------------------------------------------------------------------

def test_a_new_report_starts_its_clocks_and_is_acknowledged_on_the_spot(frozen_clock, product):
    created = make_report(product)
    report = fresh(created.report)
    assert report.received_at == MONDAY
    assert report.state == S.ACKNOWLEDGED
    assert report.acknowledged_at == MONDAY
    assert report.acknowledgement_due_at == MONDAY + timedelta(hours=48)
    # 5 business days in Oslo: Monday 10:00 -> next Monday 10:00.
    assert report.assessment_due_at == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert report.assessed_at is None and report.resolution_due_at is None
    # The acknowledgement is met, so the nearest running deadline is the assessment.
    assert report.next_due_at == report.assessment_due_at
    # The sweep looks again at 75% of the assessment window (7 calendar days).
    assert report.next_check_at == MONDAY + timedelta(days=7) * 0.75
    assert report.is_open
    assert created.tracking_token and report.tracking_token_hash != created.tracking_token


def test_a_new_report_records_its_arrival_and_acknowledgement_on_the_public_timeline(frozen_clock, product):
    report = make_report(product, source="email").report
    received, acknowledged = events(report)
    assert (received.kind, received.actor_label, received.is_public) == (EventKind.RECEIVED, "reporter", True)
    assert received.data == {"source": "email"}
    assert acknowledged.kind == EventKind.STATE_CHANGED and acknowledged.is_public
    assert acknowledged.data == {"from": "new", "to": "acknowledged"}
    assert received.at == acknowledged.at == MONDAY


def test_a_new_report_writes_an_audit_entry_without_report_text(frozen_clock, product):
    report = make_report(product, title="Secret title", description="Secret proof of concept").report
    (entry,) = audit(report)
    assert entry.action == "report.create"
    assert entry.organisation_id == product.organisation_id
    assert entry.at == MONDAY
    assert entry.data == {"source": "web", "product": product.pk}
    assert "Secret" not in str(entry.data)


def test_a_report_filed_without_acknowledgement_runs_the_acknowledgement_clock(frozen_clock, product):
    report = fresh(make_report(product, acknowledge=False).report)
    assert report.state == S.NEW and report.acknowledged_at is None
    assert report.next_due_at == report.acknowledgement_due_at == MONDAY + timedelta(hours=48)
    assert report.next_check_at == MONDAY + timedelta(hours=36)
    assert [event.kind for event in events(report)] == [EventKind.RECEIVED]


def test_acknowledging_later_records_the_moment(frozen_clock, product, triager):
    report = make_report(product, acknowledge=False).report
    frozen_clock.advance(hours=5)
    report_transition(report=report, actor=triager, to=S.ACKNOWLEDGED)
    assert fresh(report).acknowledged_at == MONDAY + timedelta(hours=5)
    assert fresh(report).next_due_at == fresh(report).assessment_due_at


def test_report_numbers_count_per_organisation(frozen_clock):
    first_org, second_org = make_organisation(), make_organisation()
    a1 = make_report(make_product(first_org)).report
    b1 = make_report(make_product(second_org)).report
    a2 = make_report(make_product(first_org)).report
    assert (a1.number, b1.number, a2.number) == (1, 1, 2)
    assert a1.reference == f"{first_org.reference_prefix}-1"
    assert b1.reference == f"{second_org.reference_prefix}-1"


@pytest.mark.parametrize(("affected", "unsupported"), [
    ("1.4", True),
    ("v1.2.3", True),
    ("2.1", False),
    ("3.0", False),  # the table says nothing about 3.x: not flagged
    ("", False),
])
def test_a_report_on_a_version_the_table_marks_unsupported_is_flagged(frozen_clock, product, affected, unsupported):
    add_versions(product, supported=("2.x",), unsupported=("1.x",))
    report = make_report(product, affected_versions=affected).report
    assert fresh(report).is_unsupported_version is unsupported


def test_a_version_in_both_a_supported_and_an_unsupported_range_counts_as_supported(frozen_clock, product):
    add_versions(product, supported=(">=1.4,<3",), unsupported=("1.x",))
    assert fresh(make_report(product, affected_versions="1.4.2").report).is_unsupported_version is False


def test_a_report_filed_with_a_cvss_vector_gets_its_score_and_severity(frozen_clock, product):
    report = fresh(make_report(product, cvss_vector=CRITICAL).report)
    assert (report.cvss3_vector, report.cvss3_score, report.severity) == (CRITICAL, Decimal("9.8"), Severity.CRITICAL)


@pytest.mark.parametrize(("fields", "field"), [
    ({"title": "   "}, "title"),
    ({"description": ""}, "description"),
])
def test_a_report_without_title_or_description_is_refused(frozen_clock, product, fields, field):
    with pytest.raises(DomainError) as raised:
        make_report(product, **fields)
    assert raised.value.field == field
    assert not Report.objects.exists()


def test_a_product_that_does_not_accept_reports_refuses_them(frozen_clock, product):
    Product.objects.filter(pk=product.pk).update(accepts_reports=False)
    product.refresh_from_db()
    with pytest.raises(DomainError, match="does not accept reports"):
        make_report(product)
    assert not Report.objects.exists()


# --- accepting --------------------------------------------------------------------------------

def test_accepting_without_a_cvss_vector_or_severity_is_refused(frozen_clock, product, triager):
    report = make_report(product).report
    with pytest.raises(DomainError, match="needs a CVSS vector or a severity"):
        report_transition(report=report, actor=triager, to=S.ACCEPTED)
    assert fresh(report).state == S.ACKNOWLEDGED
    assert fresh(report).resolution_started_at is None


def test_accepting_with_a_severity_but_no_reason_is_refused(frozen_clock, product, triager):
    report = make_report(product).report
    with pytest.raises(DomainError) as raised:
        report_transition(report=report, actor=triager, to=S.ACCEPTED, severity=Severity.HIGH)
    assert raised.value.field == "reason"
    assert fresh(report).state == S.ACKNOWLEDGED and fresh(report).severity == ""


def test_accepting_with_an_invalid_vector_is_refused(frozen_clock, product, triager):
    report = make_report(product).report
    with pytest.raises(InvalidVector):
        report_transition(report=report, actor=triager, to=S.ACCEPTED, cvss_vector="CVSS:2.0/AV:N")
    assert fresh(report).state == S.ACKNOWLEDGED


def test_accepting_with_a_cvss_vector_sets_the_severity_and_starts_the_resolution_clock(frozen_clock, product, triager):
    report = make_report(product).report
    frozen_clock.advance(hours=3)
    now = frozen_clock.now
    report_transition(report=report, actor=triager, to=S.ACCEPTED, cvss_vector=CRITICAL)
    report = fresh(report)
    assert report.state == S.ACCEPTED
    assert (report.severity, report.cvss3_score) == (Severity.CRITICAL, Decimal("9.8"))
    assert report.assessed_at == now
    assert report.resolution_started_at == now
    assert report.resolution_due_at == now + timedelta(hours=72)
    assert report.next_due_at == report.resolution_due_at
    (changed,) = resolution_changes(report)
    assert changed.data["clock"] == SlaClock.RESOLUTION and changed.data["to"] == report.resolution_due_at.isoformat()
    (state_event,) = [e for e in events(report, EventKind.STATE_CHANGED) if e.data["to"] == S.ACCEPTED]
    assert state_event.actor_id == triager.user_id and state_event.is_public
    assert [entry.action for entry in audit(report)][-2:] == ["report.severity_change", "report.transition"]


def test_accepting_with_a_severity_and_a_reason_keeps_the_reason(frozen_clock, product, triager):
    report = make_report(product).report
    report_transition(report=report, actor=triager, to=S.ACCEPTED, severity=Severity.HIGH,
                      reason="Reproduced on the demo instance")
    report = fresh(report)
    assert (report.state, report.severity) == (S.ACCEPTED, Severity.HIGH)
    assert report.severity_override_reason == "Reproduced on the demo instance"
    assert report.resolution_due_at == MONDAY + timedelta(days=14)


def test_accepting_a_report_filed_with_a_vector_needs_nothing_more(frozen_clock, product, triager):
    report = make_report(product, cvss_vector=MEDIUM).report
    report_transition(report=report, actor=triager, to=S.ACCEPTED)
    assert fresh(report).resolution_due_at == MONDAY + timedelta(days=28)


# --- duplicates -------------------------------------------------------------------------------

def test_a_duplicate_points_at_the_original_even_when_given_another_duplicate(frozen_clock, product, triager):
    original = make_report(product).report
    second = make_report(product).report
    third = make_report(product).report
    report_transition(report=second, actor=triager, to=S.DUPLICATE, duplicate_of=original)
    report_transition(report=third, actor=triager, to=S.DUPLICATE, duplicate_of=fresh(second))
    assert fresh(third).duplicate_of_id == original.pk
    (event,) = [e for e in events(third, EventKind.STATE_CHANGED) if e.data["to"] == S.DUPLICATE]
    assert event.data["duplicate_of"] == original.reference


def test_a_duplicate_closes_the_report_and_stops_its_clocks(frozen_clock, product, triager):
    original = make_report(product).report
    report = make_report(product).report
    report_transition(report=report, actor=triager, to=S.DUPLICATE, duplicate_of=original)
    report = fresh(report)
    assert not report.is_open and report.assessed_at == MONDAY
    assert report.next_due_at == report.next_check_at == NO_DEADLINE


def test_marking_a_duplicate_needs_the_original(frozen_clock, product, triager):
    report = make_report(product).report
    with pytest.raises(DomainError, match="Say which report"):
        report_transition(report=report, actor=triager, to=S.DUPLICATE)
    assert fresh(report).state == S.ACKNOWLEDGED


def test_a_report_cannot_duplicate_itself(frozen_clock, product, triager):
    report = make_report(product).report
    with pytest.raises(DomainError, match="cannot duplicate itself"):
        report_transition(report=report, actor=triager, to=S.DUPLICATE, duplicate_of=fresh(report))


def test_two_reports_cannot_be_made_duplicates_of_each_other(frozen_clock, product, triager):
    first, second = make_report(product).report, make_report(product).report
    report_transition(report=first, actor=triager, to=S.DUPLICATE, duplicate_of=second)
    with pytest.raises(DomainError, match="cannot duplicate itself"):
        report_transition(report=second, actor=triager, to=S.DUPLICATE, duplicate_of=fresh(first))
    assert fresh(second).state == S.ACKNOWLEDGED


def test_a_duplicate_of_a_report_in_another_organisation_is_refused(frozen_clock, product, triager):
    report = make_report(product).report
    elsewhere = make_report(make_product(make_organisation())).report
    with pytest.raises(NotFound):
        report_transition(report=report, actor=triager, to=S.DUPLICATE, duplicate_of=elsewhere)
    assert fresh(report).state == S.ACKNOWLEDGED and fresh(report).duplicate_of_id is None


# --- reopen, fix, disclose --------------------------------------------------------------------

def test_reopening_a_wrong_duplicate_clears_the_original_and_owes_the_assessment_again(frozen_clock, product, triager):
    original = make_report(product).report
    report = make_report(product).report
    report_transition(report=report, actor=triager, to=S.DUPLICATE, duplicate_of=original)
    frozen_clock.advance(days=1)
    report_transition(report=fresh(report), actor=triager, to=S.ACKNOWLEDGED, reason="Different endpoint")
    report = fresh(report)
    assert report.state == S.ACKNOWLEDGED and report.is_open
    assert report.duplicate_of_id is None and report.assessed_at is None
    assert report.assessment_missed is False
    assert report.next_due_at == report.assessment_due_at
    assert events(report, EventKind.STATE_CHANGED)[-1].data == {
        "from": "duplicate", "to": "acknowledged", "reason": "Different endpoint"}


def test_reopening_after_the_assessment_deadline_records_the_miss(frozen_clock, product, triager):
    report = make_report(product).report
    report_transition(report=report, actor=triager, to=S.INVALID)
    frozen_clock.advance(days=10)
    report_transition(report=fresh(report), actor=triager, to=S.ACKNOWLEDGED)
    assert fresh(report).assessment_missed is True


def test_a_regressed_fix_goes_back_to_fixing_and_clears_fixed_at(frozen_clock, product, triager):
    report = accepted(product, triager)
    report = walk(report, triager, S.FIXING)
    frozen_clock.advance(hours=10)
    report = walk(report, triager, S.FIXED)
    assert fresh(report).fixed_at == MONDAY + timedelta(hours=10)
    # The resolution clock stopped; only the disclosure deadline still runs.
    assert fresh(report).next_due_at == fresh(report).disclosure_due_at
    frozen_clock.advance(hours=2)
    walk(report, triager, S.FIXING)
    report = fresh(report)
    assert report.state == S.FIXING and report.fixed_at is None
    assert report.next_due_at == report.resolution_due_at == MONDAY + timedelta(hours=72)


def test_disclosed_is_final(frozen_clock, product, triager):
    report = walk(accepted(product, triager), triager, S.FIXING, S.FIXED, S.DISCLOSED)
    report = fresh(report)
    assert report.disclosed_at == MONDAY and not report.is_open
    for target in ReportState:
        with pytest.raises(InvalidTransition, match="none \\(final state\\)"):
            report_transition(report=report, actor=triager, to=target)
    assert fresh(report).state == S.DISCLOSED


def test_an_illegal_transition_is_refused_without_writing_anything(frozen_clock, product, triager):
    report = make_report(product).report
    before_events, before_audit = len(events(report)), len(audit(report))
    with pytest.raises(InvalidTransition, match="Allowed next: Accepted, Duplicate"):
        report_transition(report=report, actor=triager, to=S.FIXED)
    assert fresh(report).state == S.ACKNOWLEDGED
    assert (len(events(report)), len(audit(report))) == (before_events, before_audit)


# --- severity changes -------------------------------------------------------------------------

def test_a_severity_change_recomputes_the_resolution_deadline_from_acceptance(frozen_clock, product, triager):
    report = accepted(product, triager, vector=CRITICAL)
    frozen_clock.advance(days=1)
    report_severity_change(report=report, actor=triager, cvss_vector=MEDIUM)
    report = fresh(report)
    assert report.severity == Severity.MEDIUM
    assert report.resolution_due_at == MONDAY + timedelta(days=28)
    (severity_event,) = events(report, EventKind.SEVERITY_CHANGED)[-1:]
    assert severity_event.data["from"] == "critical" and severity_event.data["to"] == "medium"
    deadline_event = events(report, EventKind.DEADLINE_CHANGED)[-1]
    assert deadline_event.data["from"] == (MONDAY + timedelta(hours=72)).isoformat()
    assert deadline_event.data["to"] == (MONDAY + timedelta(days=28)).isoformat()
    assert audit(report)[-1].action == "report.severity_change"
    assert audit(report)[-1].data == {"severity": "medium"}


def test_a_late_upgrade_to_critical_gives_72_hours_from_the_change(frozen_clock, product, triager):
    report = accepted(product, triager, vector=MEDIUM)
    frozen_clock.advance(days=10)
    report_severity_change(report=report, actor=triager, cvss_vector=CRITICAL)
    report = fresh(report)
    assert report.resolution_due_at == MONDAY + timedelta(days=10, hours=72)
    assert report.resolution_started_at == MONDAY  # the acceptance stays the anchor on record


def test_a_downgrade_after_a_missed_deadline_does_not_buy_a_fresh_window(frozen_clock, product, triager):
    report = accepted(product, triager, vector=CRITICAL)
    frozen_clock.advance(days=20)
    report_severity_change(report=report, actor=triager, cvss_vector=HIGH)
    report = fresh(report)
    assert report.resolution_due_at == MONDAY + timedelta(days=14)
    # Overdue and not yet recorded: the next sweep looks at it at once.
    assert report.next_check_at == frozen_clock.now


def test_overriding_the_scored_severity_without_a_reason_is_refused(frozen_clock, product, triager):
    report = accepted(product, triager, vector=CRITICAL)
    with pytest.raises(DomainError) as raised:
        report_severity_change(report=report, actor=triager, severity=Severity.LOW, reason="  ")
    assert raised.value.field == "reason"
    assert "needs a reason" in raised.value.message
    assert fresh(report).severity == Severity.CRITICAL


def test_overriding_the_scored_severity_with_a_reason_keeps_score_severity_and_reason(frozen_clock, product, triager):
    report = accepted(product, triager, vector=CRITICAL)
    report_severity_change(report=report, actor=triager, severity=Severity.HIGH, reason="Needs a local account")
    report = fresh(report)
    assert (report.severity, report.cvss3_score) == (Severity.HIGH, Decimal("9.8"))
    assert report.severity_override_reason == "Needs a local account"
    assert report.resolution_due_at == MONDAY + timedelta(days=14)
    assert events(report, EventKind.SEVERITY_CHANGED)[-1].data["override_reason"] == "Needs a local account"


def test_a_new_vector_replaces_an_override(frozen_clock, product, triager):
    report = accepted(product, triager, vector=CRITICAL)
    report_severity_change(report=report, actor=triager, severity=Severity.HIGH, reason="Needs a local account")
    report_severity_change(report=fresh(report), actor=triager, cvss_vector=MEDIUM)
    report = fresh(report)
    assert (report.severity, report.severity_override_reason) == (Severity.MEDIUM, "")


def test_an_unknown_severity_is_refused(frozen_clock, product, triager):
    report = make_report(product).report
    with pytest.raises(DomainError, match="is not a severity"):
        report_severity_change(report=report, actor=triager, severity="urgent", reason="x")


def test_a_severity_change_that_changes_nothing_writes_nothing(frozen_clock, product, triager):
    report = accepted(product, triager, vector=CRITICAL)
    before_events, before_audit = len(events(report)), len(audit(report))
    report_severity_change(report=fresh(report), actor=triager, cvss_vector=CRITICAL)
    assert (len(events(report)), len(audit(report))) == (before_events, before_audit)


def test_a_severity_change_on_a_fixed_report_leaves_the_met_deadline_alone(frozen_clock, product, triager):
    report = walk(accepted(product, triager, vector=MEDIUM), triager, S.FIXING, S.FIXED)
    report_severity_change(report=fresh(report), actor=triager, cvss_vector=CRITICAL)
    assert fresh(report).resolution_due_at == MONDAY + timedelta(days=28)


# --- Low reports and the release plan ---------------------------------------------------------

def test_a_low_report_without_a_planned_release_is_flagged_and_has_no_deadline(frozen_clock, product, triager):
    report = fresh(accepted(product, triager, vector=LOW))
    assert report.severity == Severity.LOW
    assert report.resolution_waiting_for_release is True
    assert report.resolution_due_at is None and report.resolution_started_at == MONDAY
    assert report.next_due_at == report.disclosure_due_at  # no resolution deadline; disclosure runs
    assert resolution_changes(report) == []


def test_planning_a_release_gives_waiting_low_reports_their_deadline(frozen_clock, product, triager):
    report = accepted(product, triager, vector=LOW)
    frozen_clock.advance(days=2)
    release_plan(product=product, version="2.4.0", planned_on=date(2026, 12, 10))
    assert reports_waiting_for_release_schedule(product=product) == 1
    report = fresh(report)
    assert report.resolution_waiting_for_release is False
    # The end (23:59) of the release day in Oslo, CET in December.
    assert report.resolution_due_at == datetime(2026, 12, 10, 22, 59, tzinfo=UTC)
    assert report.next_due_at == report.resolution_due_at
    (event,) = resolution_changes(report)
    assert event.data["waiting_for_release"] is False and event.at == frozen_clock.now
    # A deadline change is audited like every other one.
    entry = audit(report)[-1]
    assert (entry.action, entry.actor_id, entry.at) == ("report.deadline_change", None, frozen_clock.now)
    assert entry.data == {"clock": "resolution", "to": report.resolution_due_at.isoformat()}
    # Nothing is left waiting: a second run schedules nothing.
    assert reports_waiting_for_release_schedule(product=product) == 0


def test_a_low_report_accepted_with_a_release_planned_is_due_with_that_release(frozen_clock, product, triager):
    release_plan(product=product, version="2.4.0", planned_on=date(2026, 12, 10))
    report = fresh(accepted(product, triager, vector=LOW))
    assert report.resolution_waiting_for_release is False
    assert report.resolution_due_at == datetime(2026, 12, 10, 22, 59, tzinfo=UTC)


def test_a_shipped_or_past_release_does_not_count_as_the_next_release(frozen_clock, product, triager):
    past = release_plan(product=product, version="2.2.0", planned_on=date(2026, 11, 1))
    shipped = release_plan(product=product, version="2.3.0", planned_on=date(2026, 12, 1))
    release_ship(release=shipped, shipped_on=date(2026, 11, 20))
    assert past and fresh(accepted(product, triager, vector=LOW)).resolution_waiting_for_release is True


def test_low_uses_the_day_target_when_the_policy_does_not_wait_for_a_release(frozen_clock, product, triager, owner):
    policy_update(policy=product.policy, actor=owner, low_in_next_release=False, low_resolution_days=60)
    product = Product.objects.select_related("policy").get(pk=product.pk)
    report = fresh(accepted(product, triager, vector=LOW))
    assert report.resolution_waiting_for_release is False
    assert report.resolution_due_at == MONDAY + timedelta(days=60)


# --- assignment -------------------------------------------------------------------------------

def test_a_report_can_be_assigned_to_a_member_of_its_organisation(frozen_clock, organisation, product, triager):
    developer = make_member(organisation, role="developer")
    report = make_report(product).report
    report_assign(report=report, actor=triager, assignee=developer.user)
    assert fresh(report).assignee_id == developer.user_id
    (event,) = events(report, EventKind.ASSIGNEE_CHANGED)
    assert event.data == {"from": None, "to": developer.user.display_name}
    assert audit(report)[-1].action == "report.assign"
    assert audit(report)[-1].data == {"assignee": developer.user_id}


def test_unassigning_records_who_was_assigned(frozen_clock, product, triager):
    report = make_report(product).report
    report_assign(report=report, actor=triager, assignee=triager.user)
    report_assign(report=fresh(report), actor=triager, assignee=None)
    assert fresh(report).assignee_id is None
    assert events(report, EventKind.ASSIGNEE_CHANGED)[-1].data == {"from": triager.user.display_name, "to": None}


def test_a_report_cannot_be_assigned_to_a_member_of_another_organisation(frozen_clock, product, triager):
    outsider = make_member(make_organisation(), role="triager")
    report = make_report(product).report
    with pytest.raises(DomainError, match="must be a member of this organisation"):
        report_assign(report=report, actor=triager, assignee=outsider.user)
    assert fresh(report).assignee_id is None
    assert events(report, EventKind.ASSIGNEE_CHANGED) == []


def test_a_report_cannot_be_assigned_to_a_ci_uploader(frozen_clock, organisation, product, triager):
    uploader = make_member(organisation, role="ci_uploader")
    with pytest.raises(DomainError, match="must be a member"):
        report_assign(report=make_report(product).report, actor=triager, assignee=uploader.user)


def test_assigning_the_same_person_again_writes_nothing(frozen_clock, product, triager):
    report = make_report(product).report
    report_assign(report=report, actor=triager, assignee=triager.user)
    count = len(audit(report))
    report_assign(report=fresh(report), actor=triager, assignee=triager.user)
    assert len(audit(report)) == count and len(events(report, EventKind.ASSIGNEE_CHANGED)) == 1


# --- tenants and roles ------------------------------------------------------------------------

SERVICE_CALLS = {
    "report_transition": lambda report, actor: report_transition(report=report, actor=actor, to=S.INVALID),
    "report_severity_change": lambda report, actor: report_severity_change(report=report, actor=actor,
                                                                           cvss_vector=CRITICAL),
    "report_assign": lambda report, actor: report_assign(report=report, actor=actor, assignee=actor.user),
    "report_cwe_set": lambda report, actor: report_cwe_set(report=report, actor=actor, cwe_id=89),
    "message_post": lambda report, actor: message_post(report=report, actor=actor, body="Hello", is_internal=False),
    "report_create": lambda report, actor: make_report(report.product, actor=actor),
}


@pytest.mark.parametrize("call", SERVICE_CALLS.values(), ids=SERVICE_CALLS.keys())
@pytest.mark.parametrize("role", ["owner", "triager", "viewer"])
def test_a_member_of_another_organisation_gets_not_found_from_every_service(frozen_clock, product, call, role):
    report = make_report(product).report
    outsider = make_member(make_organisation(), role=role)
    before = (len(events(report)), AuditEntry.objects.count(), Message.objects.count(), Report.objects.count())
    with pytest.raises(NotFound):
        call(fresh(report), outsider)
    after = (len(events(report)), AuditEntry.objects.count(), Message.objects.count(), Report.objects.count())
    assert after == before
    assert fresh(report).state == S.ACKNOWLEDGED and fresh(report).assignee_id is None


@pytest.mark.parametrize("call", SERVICE_CALLS.values(), ids=SERVICE_CALLS.keys())
def test_a_viewer_gets_not_allowed_from_every_writing_service(frozen_clock, organisation, product, call):
    report = make_report(product).report
    viewer = make_member(organisation, role="viewer")
    before = (len(events(report)), AuditEntry.objects.count(), Message.objects.count(), Report.objects.count())
    with pytest.raises(NotAllowed):
        call(fresh(report), viewer)
    after = (len(events(report)), AuditEntry.objects.count(), Message.objects.count(), Report.objects.count())
    assert after == before


def test_a_developer_may_message_only_on_reports_assigned_to_them(frozen_clock, organisation, product, triager):
    developer = make_member(organisation, role="developer")
    report = make_report(product).report
    with pytest.raises(NotFound):
        message_post(report=report, actor=developer, body="Looking at it", is_internal=True)
    report_assign(report=report, actor=triager, assignee=developer.user)
    message = message_post(report=fresh(report), actor=developer, body="Looking at it", is_internal=True)
    assert message.author_id == developer.user_id


def test_a_developer_cannot_triage(frozen_clock, organisation, product):
    developer = make_member(organisation, role="developer")
    with pytest.raises(NotAllowed):
        report_transition(report=make_report(product).report, actor=developer, to=S.INVALID)


# --- messages ---------------------------------------------------------------------------------

def test_a_staff_message_is_stored_and_audited_without_its_text(frozen_clock, product, triager):
    report = make_report(product).report
    message = message_post(report=report, actor=triager, body="Thanks, we can reproduce it.", is_internal=False)
    message.refresh_from_db()
    assert (message.body, message.is_internal, message.is_from_reporter) == ("Thanks, we can reproduce it.", False, False)
    assert (message.author_id, message.created_at) == (triager.user_id, MONDAY)
    entry = audit(report)[-1]
    assert (entry.action, entry.data, entry.actor_id) == ("report.message", {"internal": False}, triager.user_id)


def test_an_internal_note_is_flagged_internal(frozen_clock, product, triager):
    report = make_report(product).report
    note = message_post(report=report, actor=triager, body="Probably a duplicate of ORG-3", is_internal=True)
    assert Message.objects.get(pk=note.pk).is_internal is True
    assert audit(report)[-1].data == {"internal": True}


@pytest.mark.parametrize("body", ["", "   \n\t "])
def test_an_empty_message_is_refused(frozen_clock, product, triager, body):
    report = make_report(product).report
    with pytest.raises(DomainError, match="cannot be empty"):
        message_post(report=report, actor=triager, body=body, is_internal=False)
    with pytest.raises(DomainError, match="cannot be empty"):
        reporter_message_post(report=report, body=body)
    assert not Message.objects.exists()


def test_an_oversized_message_is_refused_and_the_limit_itself_is_accepted(frozen_clock, product, triager):
    report = make_report(product).report
    with pytest.raises(DomainError, match="at most 50,000 characters"):
        message_post(report=report, actor=triager, body="a" * (MESSAGE_MAX_CHARS + 1), is_internal=False)
    with pytest.raises(DomainError, match="at most 50,000 characters"):
        reporter_message_post(report=report, body="a" * (MESSAGE_MAX_CHARS + 1))
    assert not Message.objects.exists()
    assert len(message_post(report=report, actor=triager, body="a" * MESSAGE_MAX_CHARS, is_internal=False).body) == (
        MESSAGE_MAX_CHARS)


def test_a_reporter_message_is_stored_as_from_the_reporter(frozen_clock, product):
    report = make_report(product).report
    message = reporter_message_post(report=report, body="Any news?")
    message.refresh_from_db()
    assert (message.is_from_reporter, message.is_internal, message.author_id) == (True, False, None)
    entry = audit(report)[-1]
    assert (entry.action, entry.actor_id) == ("report.reporter_message", None)


def test_a_disclosed_report_takes_no_more_reporter_messages(frozen_clock, product, triager):
    report = walk(accepted(product, triager), triager, S.FIXING, S.FIXED, S.DISCLOSED)
    with pytest.raises(DomainError, match="thread is closed"):
        reporter_message_post(report=fresh(report), body="One more thing")
    assert not Message.objects.exists()


# --- every change leaves a trace --------------------------------------------------------------

CHANGES = {
    "transition": lambda report, actor: report_transition(report=report, actor=actor, to=S.INVALID),
    "accept": lambda report, actor: report_transition(report=report, actor=actor, to=S.ACCEPTED, cvss_vector=HIGH),
    "severity_change": lambda report, actor: report_severity_change(report=report, actor=actor, cvss_vector=LOW),
    "assign": lambda report, actor: report_assign(report=report, actor=actor, assignee=actor.user),
    "cwe_set": lambda report, actor: report_cwe_set(report=report, actor=actor, cwe_id=79),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_every_change_writes_a_timeline_event_and_an_audit_entry_by_the_actor(frozen_clock, product, triager, change):
    report = make_report(product).report
    before_events, before_audit = len(events(report)), len(audit(report))
    frozen_clock.advance(minutes=5)
    change(fresh(report), triager)
    new_events, new_audit = events(report)[before_events:], audit(report)[before_audit:]
    assert new_events and new_audit
    assert all(event.actor_id == triager.user_id and event.at == frozen_clock.now for event in new_events)
    assert all(entry.actor_id == triager.user_id and entry.organisation_id == product.organisation_id
               for entry in new_audit)
    assert fresh(report).updated_at == frozen_clock.now


def test_the_audit_entries_of_a_whole_report_life_verify_as_an_unbroken_chain(frozen_clock, product, triager):
    report = accepted(product, triager, vector=LOW)
    release_plan(product=product, version="3.0", planned_on=date(2026, 12, 10))
    reports_waiting_for_release_schedule(product=product)
    report_assign(report=fresh(report), actor=triager, assignee=triager.user)
    message_post(report=fresh(report), actor=triager, body="Fixed in 3.0", is_internal=False)
    walk(fresh(report), triager, S.FIXING, S.FIXED, S.DISCLOSED)
    assert [entry.action for entry in audit(report)] == [
        "report.create", "report.severity_change", "report.transition", "report.deadline_change", "report.assign",
        "report.message", "report.transition", "report.transition", "report.transition",
    ]
    assert audit_chain_problems() == []


def test_messages_appear_on_the_timeline_without_their_text_and_notes_stay_internal(frozen_clock, product, triager):
    report = make_report(product).report
    message_post(report=report, actor=triager, body="Can you share the request?", is_internal=False)
    message_post(report=report, actor=triager, body="Looks like ORG-3", is_internal=True)
    reporter_message_post(report=report, body="Here it is")
    events = list(TimelineEvent.objects.filter(report=report, kind=EventKind.MESSAGE).order_by("id"))
    assert [(e.actor_label, e.is_public, e.data) for e in events] == [
        (triager.user.display_name, True, {"internal": False}),
        (triager.user.display_name, False, {"internal": True}),
        ("reporter", True, {"internal": False}),
    ]
    assert all("Here it is" not in str(e.data) and "ORG-3" not in str(e.data) for e in events)


def resolution_changes(report):
    return [e for e in events(report, EventKind.DEADLINE_CHANGED) if e.data["clock"] == "resolution"]


def test_acceptance_sets_the_disclosure_deadline_from_the_policy(frozen_clock, product, triager):
    report = make_report(product).report
    frozen_clock.advance(days=3)
    report_transition(report=report, actor=triager, to=S.ACCEPTED, cvss_vector=CRITICAL)
    report.refresh_from_db()
    assert report.disclosure_due_at == report.received_at + timedelta(days=90)
    (event,) = [e for e in events(report, EventKind.DEADLINE_CHANGED) if e.data["clock"] == "disclosure"]
    assert event.data["to"] == report.disclosure_due_at.isoformat()


def test_the_disclosure_deadline_is_extended_only_with_a_reason_and_the_reporters_agreement(
    frozen_clock, product, triager
):
    from vulndesk.reports.services import report_disclosure_extend

    report = make_report(product).report
    report_transition(report=report, actor=triager, to=S.ACCEPTED, cvss_vector=CRITICAL)
    later = report.disclosure_due_at + timedelta(days=30)
    with pytest.raises(DomainError, match="reason"):
        report_disclosure_extend(report=report, actor=triager, due_at=later, reason=" ", reporter_agreed=True)
    with pytest.raises(DomainError, match="agreement"):
        report_disclosure_extend(report=report, actor=triager, due_at=later, reason="vendor patch", reporter_agreed=False)
    with pytest.raises(DomainError, match="later"):
        report_disclosure_extend(report=report, actor=triager, due_at=report.disclosure_due_at, reason="x",
                                 reporter_agreed=True)
    report_disclosure_extend(report=report, actor=triager, due_at=later, reason="vendor patch", reporter_agreed=True)
    report.refresh_from_db()
    assert report.disclosure_due_at == later
    (event,) = events(report, EventKind.DISCLOSURE_EXTENDED)
    assert event.is_public and event.data["reason"] == "vendor patch" and event.data["reporter_agreed"] is True
    assert audit(report)[-1].action == "report.disclosure_extend"


def test_the_sweep_reminds_before_the_disclosure_deadline(frozen_clock, product, triager):
    from vulndesk.reports.models import SlaNotice
    from vulndesk.reports.services import deadlines_sweep, report_disclosure_extend  # noqa: F401

    report = make_report(product).report
    report_transition(report=report, actor=triager, to=S.ACCEPTED, cvss_vector=CRITICAL)
    for step in ("fixing", "fixed"):
        report_transition(report=fresh(report), actor=triager, to=step)
    frozen_clock.move(report.received_at + timedelta(days=68))  # 75 % of 90 days is 67.5
    deadlines_sweep()
    assert SlaNotice.objects.filter(report=report, clock="disclosure", kind="reminder").exists()
