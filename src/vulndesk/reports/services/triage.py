"""Triage: severity, state transitions, assignment, CWE, reads and disclosure extensions."""

from datetime import datetime, timedelta

from django.db import transaction

from vulndesk.accounts.models import User
from vulndesk.audit.services import audit_record
from vulndesk.core import clock
from vulndesk.core.errors import DomainError, NotFound
from vulndesk.organisations.models import READ_ROLES, Membership
from vulndesk.reports.models import (
    EventKind,
    Report,
    SlaClock,
    TimelineEvent,
)
from vulndesk.reports.services.common import (
    _actor_label,
    _audit,
    _check_actor,
    _deadline_moved,
    _event,
    _resolution_clock_start,
    _save,
    report_state_changed,
)
from vulndesk.reports.services.counts import _state_counts_add
from vulndesk.reports.severity import Severity, cvss_score
from vulndesk.reports.states import TRIAGE_VERDICTS, ReportState, transition_check

# --- severity -----------------------------------------------------------------------------

def _apply_cvss(report: Report, vector: str) -> None:
    score = cvss_score(vector)
    if score.version == "4.0":
        report.cvss4_vector, report.cvss4_score = score.vector, score.score
    else:
        report.cvss3_vector, report.cvss3_score = score.vector, score.score
    if not report.severity_override_reason:
        report.severity = cvss_score(report.cvss_vector).severity


def _derived_severity(report: Report) -> str:
    return cvss_score(report.cvss_vector).severity if report.cvss_vector else ""


@transaction.atomic
def report_severity_change(
    *, report: Report, actor: Membership | None, cvss_vector: str = "", severity: str = "", reason: str = "",
) -> Report:
    """Set a CVSS 3.1 or 4.0 vector and/or the severity.

    Severity follows the score unless overridden; an override differing from the score's
    severity needs a reason. A running resolution clock is recomputed.
    """
    _check_actor(actor, report.organisation_id)
    if not cvss_vector and not severity:
        raise DomainError("Give a CVSS vector or a severity.", field="cvss_vector")
    if severity and severity not in Severity.values:
        raise DomainError(f"{severity!r} is not a severity.", field="severity")
    now = clock.now()
    before = (report.severity, report.cvss3_vector, report.cvss4_vector)
    if cvss_vector:
        report.severity_override_reason = ""
        _apply_cvss(report, cvss_vector)
    derived = _derived_severity(report)
    if severity and severity != derived:
        if not reason.strip():
            raise DomainError(
                "Overriding the severity the CVSS score gives needs a reason." if derived
                else "Setting a severity without a CVSS vector needs a reason.",
                field="reason",
            )
        report.severity, report.severity_override_reason = severity, reason.strip()[:500]
    elif severity:
        report.severity, report.severity_override_reason = severity, ""
    if (report.severity, report.cvss3_vector, report.cvss4_vector) == before:
        return report
    policy = report.product.policy
    events = [(EventKind.SEVERITY_CHANGED, {
        "from": before[0], "to": report.severity, "cvss_vector": report.cvss_vector,
        "override_reason": report.severity_override_reason,
    })]
    if report.resolution_started_at and report.fixed_at is None and report.severity != before[0]:
        events += _resolution_clock_start(report, policy, now, severity_changed=True, previous_severity=before[0])
    _save(report, policy, now, deadline_moved=_deadline_moved(events))
    TimelineEvent.objects.bulk_create([_event(report, kind, actor, now, **data) for kind, data in events])
    _audit("report.severity_change", report, actor, now, severity=report.severity)
    return report


# --- state --------------------------------------------------------------------------------

@transaction.atomic
def report_transition(
    *,
    report: Report,
    actor: Membership | None,
    to: str,
    cvss_vector: str = "",
    severity: str = "",
    reason: str = "",
    duplicate_of: Report | None = None,
) -> Report:
    """Move a report along the lifecycle table. Accepting needs a severity (a CVSS vector, or
    a severity with a reason); marking a duplicate needs the original, in the same organisation."""
    _check_actor(actor, report.organisation_id)
    transition_check(report.state, to)
    to = ReportState(to)
    now = clock.now()
    previous_state = report.state
    policy = report.product.policy
    events: list[tuple[str, dict]] = []
    if to == ReportState.ACCEPTED:
        if cvss_vector or severity:
            report_severity_change(report=report, actor=actor, cvss_vector=cvss_vector, severity=severity, reason=reason)
        if not report.severity:
            raise DomainError("Accepting a report needs a CVSS vector or a severity.", field="cvss_vector")
    if to == ReportState.DUPLICATE:
        if duplicate_of is None:
            raise DomainError("Say which report this one duplicates.", field="duplicate_of")
        original = duplicate_of
        while original.duplicate_of_id is not None and original.state == ReportState.DUPLICATE:
            original = original.duplicate_of  # point at the original, never at another duplicate
        if original.organisation_id != report.organisation_id:
            raise NotFound("No such report to be a duplicate of.")
        if original.pk == report.pk:
            raise DomainError("A report cannot duplicate itself.", field="duplicate_of")
        report.duplicate_of = original
    elif to != ReportState.DUPLICATE and report.duplicate_of_id and to == ReportState.ACKNOWLEDGED:
        report.duplicate_of = None

    if to == ReportState.ACKNOWLEDGED and report.acknowledged_at is None:
        report.acknowledged_at = now
    if to in TRIAGE_VERDICTS and report.assessed_at is None:
        report.assessed_at = now
    if to == ReportState.ACKNOWLEDGED and previous_state in TRIAGE_VERDICTS:
        report.assessed_at = None  # reopened: assessment is owed again
        report.assessment_missed = report.assessment_missed or now > report.assessment_due_at
    if to == ReportState.ACCEPTED and report.resolution_started_at is None:
        events += _resolution_clock_start(report, policy, now, severity_changed=False)
    if to == ReportState.ACCEPTED and report.disclosure_due_at is None:
        report.disclosure_due_at = report.received_at + timedelta(days=policy.disclosure_days)
        events.append((EventKind.DEADLINE_CHANGED, {"clock": SlaClock.DISCLOSURE, "from": None,
                                                    "to": report.disclosure_due_at.isoformat()}))
    if to == ReportState.FIXED:
        report.fixed_at = now
    if to == ReportState.FIXING and previous_state == ReportState.FIXED:
        report.fixed_at = None  # the fix regressed: the resolution clock runs again
    if to == ReportState.DISCLOSED:
        report.disclosed_at = now
    report.state = to
    _save(report, policy, now, deadline_moved=_deadline_moved(events))
    _state_counts_add(organisation_id=report.organisation_id, product_id=report.product_id,
                      changes=[(previous_state, -1), (to, +1)])
    data = {"from": previous_state, "to": to}
    if reason:
        data["reason"] = reason[:500]
    if report.duplicate_of_id and to == ReportState.DUPLICATE:
        data["duplicate_of"] = report.duplicate_of.reference
    timeline = [_event(report, EventKind.STATE_CHANGED, actor, now, public=True, **data)]
    timeline += [_event(report, kind, actor, now, **event_data) for kind, event_data in events]
    TimelineEvent.objects.bulk_create(timeline)
    _audit("report.transition", report, actor, now, **{"from": previous_state, "to": to})
    report_id, previous, state = report.pk, str(previous_state), str(to)
    transaction.on_commit(lambda: report_state_changed.send(
        sender=Report, report_id=report_id, previous=previous, state=state, at=now))
    return report


@transaction.atomic
def report_assign(*, report: Report, actor: Membership, assignee: User | None) -> Report:
    _check_actor(actor, report.organisation_id)
    if assignee is not None and not Membership.objects.filter(
        organisation_id=report.organisation_id, user=assignee, role__in=READ_ROLES
    ).exists():
        raise DomainError("The assignee must be a member of this organisation.", field="assignee")
    if report.assignee_id == (assignee.pk if assignee else None):
        return report
    now = clock.now()
    previous = report.assignee
    report.assignee = assignee
    report.updated_at = now
    report.save(update_fields=["assignee", "updated_at"])
    _event(report, EventKind.ASSIGNEE_CHANGED, actor, now,
           **{"from": previous.display_name if previous else None,
              "to": assignee.display_name if assignee else None}).save()
    _audit("report.assign", report, actor, now, assignee=assignee.pk if assignee else None)
    return report


@transaction.atomic
def report_cwe_set(*, report: Report, actor: Membership, cwe_id: int | None) -> Report:
    _check_actor(actor, report.organisation_id)
    if cwe_id is not None and not (1 <= cwe_id <= 99999):
        raise DomainError("A CWE id is a number such as 79.", field="cwe_id")
    if report.cwe_id == cwe_id:
        return report
    now = clock.now()
    previous, report.cwe_id, report.updated_at = report.cwe_id, cwe_id, now
    report.save(update_fields=["cwe_id", "updated_at"])
    _event(report, EventKind.CWE_CHANGED, actor, now, **{"from": previous, "to": cwe_id}).save()
    _audit("report.cwe_set", report, actor, now, cwe_id=cwe_id)
    return report


def report_read_record(*, report: Report, actor: Membership, ip_address: str | None) -> None:
    """Staff reading a report's contents is a security-relevant event (unpublished
    vulnerabilities): who, when and from where goes into the audit trail."""
    audit_record(action="report.read", organisation_id=report.organisation_id, actor_id=actor.user_id,
                 actor_label=_actor_label(actor), target_type="report", target_id=report.pk, ip_address=ip_address,
                 data={"via": "api_token"} if getattr(actor, "api_token", None) else {})


@transaction.atomic
def report_disclosure_extend(*, report: Report, actor: Membership, due_at: datetime, reason: str,
                             reporter_agreed: bool) -> Report:
    """Move the disclosure deadline later. Coordinated disclosure is a promise to the reporter
    too: an extension needs a reason and the reporter's recorded agreement."""
    _check_actor(actor, report.organisation_id)
    if report.disclosure_due_at is None or report.disclosed_at is not None:
        raise DomainError("Only an accepted, undisclosed report has a disclosure deadline.", field="due_at")
    if not reason.strip():
        raise DomainError("Give the reason for the extension; the reporter sees it.", field="reason")
    if not reporter_agreed:
        raise DomainError("Record the reporter's agreement before extending the deadline.", field="reporter_agreed")
    if due_at <= report.disclosure_due_at:
        raise DomainError("An extension moves the deadline later than it is now.", field="due_at")
    if due_at > report.received_at + timedelta(days=730):
        raise DomainError("A disclosure deadline is at most two years after the report.", field="due_at")
    now = clock.now()
    previous = report.disclosure_due_at
    report.disclosure_due_at, report.disclosure_missed = due_at, False
    _save(report, report.product.policy, now, deadline_moved=True)
    _event(report, EventKind.DISCLOSURE_EXTENDED, actor, now, public=True, reason=reason.strip()[:500],
           **{"from": previous.isoformat(), "to": due_at.isoformat(), "reporter_agreed": True}).save()
    _audit("report.disclosure_extend", report, actor, now, to=due_at.isoformat())
    return report
