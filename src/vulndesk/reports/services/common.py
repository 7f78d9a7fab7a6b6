"""Helpers every reports service uses: actor checks, timeline events, audit entries, the
derived deadline fields, and the signals other apps listen to."""

from datetime import datetime

from django.dispatch import Signal

from vulndesk.audit.services import audit_record
from vulndesk.core.errors import NotAllowed, NotFound
from vulndesk.organisations.models import TRIAGE_ROLES, Membership
from vulndesk.products.models import Policy
from vulndesk.products.selectors import next_planned_release
from vulndesk.reports import deadlines
from vulndesk.reports.models import (
    NO_DEADLINE,
    EventKind,
    Report,
    SlaClock,
    TimelineEvent,
)
from vulndesk.reports.states import CLOSED_STATES

# Sent after commit when a report changes state (kwargs: report_id, previous, state, at), so
# apps above reports (notifications: reporter e-mails) react without reports importing them.
report_state_changed = Signal()
# Sent after commit when staff post a message (kwargs: message_id, report_id): the mail intake
# sends it to an e-mail reporter, threaded; internal notes are sent too and the receiver skips them.
message_posted = Signal()


# --- helpers ------------------------------------------------------------------------------

def _check_actor(actor: Membership | None, report_or_org_id: int, roles=TRIAGE_ROLES) -> None:
    if actor is None:
        return
    if actor.organisation_id != report_or_org_id:
        raise NotFound
    if actor.role not in roles:
        raise NotAllowed


def _actor_label(actor: Membership | None, default: str = "system") -> str:
    return actor.user.display_name if actor is not None else default


def _event(report: Report, kind: str, actor: Membership | None, at: datetime, *, label: str = "system",
           public: bool = False, **data) -> TimelineEvent:
    return TimelineEvent(
        report=report, kind=kind, actor_id=actor.user_id if actor else None,
        actor_label=_actor_label(actor, label), at=at, data=data, is_public=public,
    )


def _audit(action: str, report: Report, actor: Membership | None, at: datetime, **data) -> None:
    audit_record(
        action=action, organisation_id=report.organisation_id, actor_id=actor.user_id if actor else None,
        actor_label=_actor_label(actor), target_type="report", target_id=report.pk, data=data, at=at,
    )


def running_clocks(report: Report) -> list[tuple[str, datetime, datetime]]:
    """(clock, start, due) for every SLA clock still running on ``report``."""
    if report.state in CLOSED_STATES:
        return []
    clocks = []
    if report.acknowledged_at is None:
        clocks.append((SlaClock.ACKNOWLEDGEMENT, report.received_at, report.acknowledgement_due_at))
    if report.assessed_at is None:
        clocks.append((SlaClock.ASSESSMENT, report.received_at, report.assessment_due_at))
    if report.resolution_due_at is not None and report.fixed_at is None and report.resolution_started_at:
        clocks.append((SlaClock.RESOLUTION, report.resolution_started_at, report.resolution_due_at))
    if report.disclosure_due_at is not None and report.disclosed_at is None:
        clocks.append((SlaClock.DISCLOSURE, report.received_at, report.disclosure_due_at))
    return clocks


def _missed_flag(clock_name: str) -> str:
    return f"{clock_name}_missed"


def _refresh_derived(report: Report, policy: Policy, now: datetime, *, deadline_moved: bool = False) -> None:
    """Recompute the denormalised queue and sweep columns from the clocks.

    ``deadline_moved``: a deadline was just set or changed. If its reminder point has already
    passed (e.g. an upgrade to High on day 12 leaves 2 days), the next sweep must look at once,
    so the reminder for the new deadline still goes out before the miss."""
    report.is_open = report.state not in CLOSED_STATES
    clocks = running_clocks(report)
    report.next_due_at = min((due for _, _, due in clocks), default=NO_DEADLINE)
    checks = []
    for clock_name, start, due in clocks:
        remind = deadlines.reminder_at(start=start, due=due, fraction_percent=policy.reminder_fraction_percent)
        if now < remind:
            checks.append(remind)
        elif now < due:
            checks.append(now if deadline_moved else due)
        elif not getattr(report, _missed_flag(clock_name)):
            checks.append(now)  # overdue and not yet recorded: the next sweep records it
    report.next_check_at = min(checks, default=NO_DEADLINE)


def _resolution_clock_start(report: Report, policy: Policy, start: datetime, *, severity_changed: bool,
                            previous_severity: str = "") -> list:
    """(Re)compute the resolution deadline; returns timeline events to record."""
    org = report.organisation
    zone = deadlines.zone(org.time_zone)
    release = next_planned_release(product_id=report.product_id, after=start.astimezone(zone).date())
    release_on = release.planned_on if release else None
    targets = deadlines.ResolutionTargets.from_policy(policy)
    if severity_changed and report.resolution_started_at:
        due = deadlines.resolution_deadline_after_severity_change(
            targets=targets, severity=report.severity, previous_severity=previous_severity,
            accepted_at=report.resolution_started_at,
            changed_at=start, zone=zone, next_release_on=release_on,
        )
    else:
        report.resolution_started_at = start
        due = deadlines.resolution_deadline(
            targets=targets, severity=report.severity, start=start, zone=zone, next_release_on=release_on,
        )
    previous = report.resolution_due_at
    if due == deadlines.ResolutionDue.WAITING_FOR_RELEASE:
        report.resolution_due_at, report.resolution_waiting_for_release = None, True
    else:
        report.resolution_due_at, report.resolution_waiting_for_release = due, False
    if report.resolution_due_at != previous:
        report.resolution_missed = False
        return [
            (EventKind.DEADLINE_CHANGED, {
                "clock": SlaClock.RESOLUTION,
                "from": previous.isoformat() if previous else None,
                "to": report.resolution_due_at.isoformat() if report.resolution_due_at else None,
                "waiting_for_release": report.resolution_waiting_for_release,
            })
        ]
    return []


def _deadline_moved(events: list[tuple[str, dict]]) -> bool:
    return any(kind == EventKind.DEADLINE_CHANGED for kind, _ in events)


def _save(report: Report, policy: Policy, now: datetime, *, deadline_moved: bool = False) -> None:
    _refresh_derived(report, policy, now, deadline_moved=deadline_moved)
    report.updated_at = now
    report.save()
