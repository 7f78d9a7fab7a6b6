"""Writes for reports. Every change of state, severity, assignee or deadline passes here, so the
timeline and the audit trail miss none.

Callers pass the acting ``Membership`` (from ``organisations.access``) or ``None`` for the
reporter and the system; each service re-checks that the actor belongs to the report's
organisation (defence in depth, the gate is access.py) and may act with their role.
Time comes from ``core.clock``; deadline rules from ``reports.deadlines``.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F
from django.dispatch import Signal

from vulndesk.accounts.models import User
from vulndesk.audit.services import AuditRecord, audit_record, audit_record_many
from vulndesk.core import clock
from vulndesk.core.errors import DomainError, NotAllowed, NotFound
from vulndesk.organisations.models import READ_ROLES, TRIAGE_ROLES, Membership, Organisation
from vulndesk.products.models import Policy, Product
from vulndesk.products.selectors import next_planned_release, version_support
from vulndesk.reports import deadlines
from vulndesk.reports.models import (
    NO_DEADLINE,
    EventKind,
    Message,
    Report,
    ReportSearchToken,
    ReportStateCount,
    SlaClock,
    SlaNotice,
    Source,
    TimelineEvent,
    search_token_values,
)
from vulndesk.reports.severity import Severity, cvss_score
from vulndesk.reports.states import CLOSED_STATES, TRIAGE_VERDICTS, ReportState, transition_check
from vulndesk.reports.tokens import tracking_token_hash, tracking_token_new

logger = logging.getLogger(__name__)

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


# --- creation -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportCreated:
    report: Report
    tracking_token: str  # shown once to the reporter; only its hash is stored


@dataclass(frozen=True)
class ReportSubmission:
    """What a reporter or a scanner files: the fields of one report (a batch holds many)."""

    title: str
    description: str
    affected_versions: str = ""
    steps_to_reproduce: str = ""
    impact: str = ""
    suggested_fix: str = ""
    reporter_name: str = ""
    reporter_email: str = ""
    reporter_handle: str = ""
    source: str = Source.WEB
    cvss_vector: str = ""
    cwe_id: int | None = None


def report_create(
    *,
    product: Product,
    title: str,
    description: str,
    affected_versions: str = "",
    steps_to_reproduce: str = "",
    impact: str = "",
    suggested_fix: str = "",
    reporter_name: str = "",
    reporter_email: str = "",
    reporter_handle: str = "",
    source: str = Source.WEB,
    actor: Membership | None = None,
    acknowledge: bool = True,
    cvss_vector: str = "",
    cwe_id: int | None = None,
) -> ReportCreated:
    """File a new report and start its acknowledgement and assessment clocks.

    ``acknowledge`` records the acknowledgement at once: the web form and the API answer the
    reporter on the spot, so the 48-hour promise is met by the reply itself.
    """
    submission = ReportSubmission(
        title=title, description=description, affected_versions=affected_versions,
        steps_to_reproduce=steps_to_reproduce, impact=impact, suggested_fix=suggested_fix,
        reporter_name=reporter_name, reporter_email=reporter_email, reporter_handle=reporter_handle,
        source=source, cvss_vector=cvss_vector, cwe_id=cwe_id,
    )
    return reports_create(product=product, submissions=[submission], actor=actor, acknowledge=acknowledge)[0]


class BatchInvalid(DomainError):
    """Some reports of a batch broke a rule; ``errors`` maps each one's index to its error.
    Nothing of the batch was written."""

    code = "invalid_batch"

    def __init__(self, errors: dict[int, DomainError]):
        super().__init__(f"{len(errors)} of the reports cannot be filed; nothing was filed.", field="reports")
        self.errors = errors


def reports_create(
    *, product: Product, submissions: list[ReportSubmission], actor: Membership | None = None, acknowledge: bool = True,
) -> list[ReportCreated]:
    """File several reports of one product at once, all or none (the batch API, and
    ``report_create`` with one). Each report gets what a single one gets: its number, its SLA
    deadlines, its timeline, its hash-chained audit entry, its tracking token.

    Everything that only reads (rules, deadlines, CVSS, version support) happens before the
    write transaction, so SQLite's write lock is held for the writes alone: the number range
    (one UPDATE … RETURNING), then one multi-row INSERT each for the reports, their timeline,
    search tokens and audit entries (split only at the database's parameter limit), one UPDATE
    per state counter and two statements for the audit chain head.
    """
    _check_actor(actor, product.organisation_id, roles=TRIAGE_ROLES | {"ci_uploader"})
    if not product.accepts_reports:
        raise DomainError("This product does not accept reports.", field="product")
    now = clock.now()
    organisation = product.organisation
    policy = product.policy
    context = _CreateContext(product=product, policy=policy, now=now, acknowledge=acknowledge,
                             zone=deadlines.zone(organisation.time_zone),
                             calendar=deadlines.holiday_calendar(organisation.holiday_country,
                                                                 organisation.holiday_subdivision))
    prepared, errors = [], {}
    for index, submission in enumerate(submissions):
        try:
            prepared.append(_report_prepare(submission, context))
        except DomainError as error:
            errors[index] = error
    if errors:
        if len(submissions) == 1:
            raise errors[0]
        raise BatchInvalid(errors)
    if not prepared:
        return []
    with transaction.atomic():
        return _reports_write(prepared, context, actor)


@dataclass
class _CreateContext:
    product: Product
    policy: Policy
    now: datetime
    acknowledge: bool
    zone: object
    calendar: object
    supported_versions: list | None = None

    def version_rows(self) -> list:
        if self.supported_versions is None:  # read once per batch, only when a version was given
            self.supported_versions = list(self.product.supported_versions.all())
        return self.supported_versions


def _report_prepare(submission: ReportSubmission, context: _CreateContext) -> tuple[Report, str, ReportSubmission]:
    """An unsaved report with its clocks and derived columns; raises DomainError. No writes."""
    if not submission.title.strip():
        raise DomainError("A report needs a title.", field="title")
    if not submission.description.strip():
        raise DomainError("A report needs a description.", field="description")
    now, product = context.now, context.product
    token = tracking_token_new()
    report = Report(
        organisation=product.organisation, product=product,
        title=submission.title.strip(), description=submission.description,
        affected_versions=submission.affected_versions.strip(),
        steps_to_reproduce=submission.steps_to_reproduce, impact=submission.impact,
        suggested_fix=submission.suggested_fix, reporter_name=submission.reporter_name.strip(),
        reporter_email=submission.reporter_email.strip(), reporter_handle=submission.reporter_handle.strip(),
        source=submission.source, tracking_token_hash=tracking_token_hash(token), received_at=now,
        acknowledgement_due_at=deadlines.hours_deadline(start=now, hours=context.policy.acknowledgement_hours),
        assessment_due_at=deadlines.business_deadline(
            start=now, business_days=context.policy.assessment_business_days, zone=context.zone,
            calendar=context.calendar,
        ),
        created_at=now, updated_at=now, cwe_id=submission.cwe_id,
    )
    if report.affected_versions:
        support = version_support(rows=context.version_rows(), version=report.affected_versions)
        report.is_unsupported_version = support is False
    if submission.cvss_vector:
        _apply_cvss(report, submission.cvss_vector)
    if context.acknowledge:
        report.state, report.acknowledged_at = ReportState.ACKNOWLEDGED, now
    _refresh_derived(report, context.policy, now)
    return report, token, submission


def _report_numbers_take(organisation: Organisation, count: int) -> int:
    """Reserve ``count`` consecutive report numbers of the organisation; returns the last.

    One statement where the database has UPDATE … RETURNING (SQLite >= 3.35, PostgreSQL): the
    update locks the row, so concurrent creates get distinct ranges, and no second read is
    needed. Table and column names come from the model; the values are bound parameters."""
    if connection.vendor in {"sqlite", "postgresql"}:
        quote = connection.ops.quote_name
        table, column = quote(Organisation._meta.db_table), quote("last_report_number")
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {column} = {column} + %s WHERE {quote('id')} = %s RETURNING {column}",  # noqa: S608
                [count, organisation.pk],
            )
            last = cursor.fetchone()[0]
    else:
        Organisation.objects.filter(pk=organisation.pk).update(last_report_number=F("last_report_number") + count)
        last = Organisation.objects.filter(pk=organisation.pk).values_list("last_report_number", flat=True).get()
    organisation.last_report_number = last
    return last


def _reports_write(prepared: list, context: _CreateContext, actor: Membership | None) -> list[ReportCreated]:
    now, product = context.now, context.product
    organisation = product.organisation
    last = _report_numbers_take(organisation, len(prepared))
    reports = []
    for offset, (report, _, _) in enumerate(prepared):
        report.number = last - len(prepared) + 1 + offset
        report.seal_pending()  # the envelopes are bound to the number (sealing_aad)
        report.__dict__.pop("_search_index_saved", None)  # the token rows are written below
        reports.append(report)
    Report.objects.bulk_create(reports)
    events, tokens = [], []
    reporter_label = "reporter" if actor is None else _actor_label(actor)
    for report, _, submission in prepared:
        events.append(_event(report, EventKind.RECEIVED, actor, now, label=reporter_label, public=True,
                             source=submission.source))
        if context.acknowledge:
            events.append(_event(report, EventKind.STATE_CHANGED, None, now, public=True,
                                 **{"from": ReportState.NEW, "to": ReportState.ACKNOWLEDGED}))
        tokens += ReportSearchToken.rows_for(report)
    TimelineEvent.objects.bulk_create(events)
    ReportSearchToken.objects.bulk_create(tokens)
    _state_counts_add(organisation_id=organisation.pk, product_id=product.pk,
                      changes=[(report.state, +1) for report in reports])
    audit_record_many([
        AuditRecord(action="report.create", organisation_id=report.organisation_id,
                    actor_id=actor.user_id if actor else None, actor_label=_actor_label(actor),
                    target_type="report", target_id=report.pk, at=now,
                    data={"source": submission.source, "product": product.pk})
        for report, _, submission in prepared
    ])
    return [ReportCreated(report=report, tracking_token=token) for report, token, _ in prepared]


# --- state counts -------------------------------------------------------------------------

def _state_counts_add(*, organisation_id: int, product_id: int, changes: list[tuple[str, int]]) -> None:
    """Apply ``(state, +1 or -1)`` changes to the counters, in the caller's transaction."""
    totals: dict[str, int] = {}
    for state, delta in changes:
        totals[str(state)] = totals.get(str(state), 0) + delta
    for state, delta in totals.items():
        if not delta:
            continue
        counters = ReportStateCount.objects.filter(organisation_id=organisation_id, product_id=product_id, state=state)
        if counters.update(count=F("count") + delta):
            continue
        try:
            with transaction.atomic():  # a savepoint: a concurrent first insert (PostgreSQL) is retried
                ReportStateCount.objects.create(organisation_id=organisation_id, product_id=product_id, state=state,
                                                count=delta)
        except IntegrityError:
            counters.update(count=F("count") + delta)


@transaction.atomic
def report_state_counts_rebuild(*, organisation_id: int | None = None) -> int:
    """Recount every (organisation, product, state) from the reports (after a bulk import, or
    to check the counters). Returns the number of counter rows written."""
    reports = Report.objects.all()
    counters = ReportStateCount.objects.all()
    if organisation_id is not None:
        reports, counters = reports.filter(organisation_id=organisation_id), counters.filter(
            organisation_id=organisation_id)
    counters.delete()
    rows = [
        ReportStateCount(organisation_id=row["organisation_id"], product_id=row["product_id"], state=row["state"],
                         count=row["n"])
        for row in reports.values("organisation_id", "product_id", "state").annotate(n=Count("id")).order_by()
    ]
    ReportStateCount.objects.bulk_create(rows, batch_size=500)
    return len(rows)


def report_search_tokens_rebuild(*, organisation_id: int | None = None, batch_size: int = 2000,
                                 progress=None) -> int:
    """Rewrite the word-search token rows from each report's blind index (``search_index``),
    in batches of reports, each in its own transaction. No report text is decrypted: the
    index already holds the keyed hashes. Returns the number of token rows written."""
    reports = Report.objects.all()
    if organisation_id is not None:
        reports = reports.filter(organisation_id=organisation_id)
    written, last_id = 0, 0
    while True:
        batch = list(reports.filter(id__gt=last_id).order_by("id")
                     .values_list("id", "organisation_id", "search_index")[:batch_size])
        if not batch:
            return written
        with transaction.atomic():
            ids = [row[0] for row in batch]
            ReportSearchToken.objects.filter(report_id__in=ids).delete()
            rows = [ReportSearchToken(organisation_id=organisation, token=token, report_id=report_id)
                    for report_id, organisation, index in batch for token in search_token_values(index)]
            ReportSearchToken.objects.bulk_create(rows, batch_size=500)
        written += len(rows)
        last_id = batch[-1][0]
        if progress:
            progress(last_id, written)


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


# --- messages -----------------------------------------------------------------------------

MESSAGE_MAX_CHARS = 50_000


def _message_body(body: str) -> str:
    if not body.strip():
        raise DomainError("A message cannot be empty.", field="body")
    if len(body) > MESSAGE_MAX_CHARS:
        raise DomainError(f"A message is at most {MESSAGE_MAX_CHARS:,} characters.", field="body")
    return body


@transaction.atomic
def message_post(*, report: Report, actor: Membership, body: str, is_internal: bool) -> Message:
    """A staff message: to the reporter, or an internal note that never leaves."""
    _check_actor(actor, report.organisation_id, roles=READ_ROLES - {"viewer"})
    if actor.role == "developer" and report.assignee_id != actor.user_id:
        raise NotFound
    now = clock.now()
    message = Message.objects.create(
        organisation_id=report.organisation_id, report=report, author_id=actor.user_id, body=_message_body(body),
        is_internal=is_internal, created_at=now,
    )
    # The timeline says that a message was written (never what); notes stay off the tracking page.
    _event(report, EventKind.MESSAGE, actor, now, public=not is_internal, internal=is_internal).save()
    _audit("report.message", report, actor, now, internal=is_internal)
    message_id, report_id = message.pk, report.pk
    transaction.on_commit(lambda: message_posted.send(sender=Message, message_id=message_id, report_id=report_id))
    return message


@transaction.atomic
def reporter_message_post(*, report: Report, body: str) -> Message:
    """A message from the reporter, through the tracking page (or, later, e-mail)."""
    if report.state == ReportState.DISCLOSED:
        raise DomainError("This report is disclosed and its thread is closed.", field="body")
    now = clock.now()
    message = Message.objects.create(
        organisation_id=report.organisation_id, report=report, is_from_reporter=True, body=_message_body(body),
        created_at=now,
    )
    _event(report, EventKind.MESSAGE, None, now, label="reporter", public=True, internal=False).save()
    _audit("report.reporter_message", report, None, now)
    return message


# --- release planning ---------------------------------------------------------------------

@transaction.atomic
def reports_waiting_for_release_schedule(*, product: Product) -> int:
    """Give Low reports that waited for a planned release their deadline. Returns how many."""
    now = clock.now()
    policy = product.policy
    count = 0
    waiting = Report.objects.select_related("organisation", "product").filter(
        product=product, resolution_waiting_for_release=True, is_open=True
    )
    for report in waiting.iterator(chunk_size=500):
        events = _resolution_clock_start(report, policy, report.resolution_started_at or now, severity_changed=False)
        if report.resolution_due_at is not None:
            _save(report, policy, now, deadline_moved=True)
            TimelineEvent.objects.bulk_create([_event(report, kind, None, now, **data) for kind, data in events])
            _audit("report.deadline_change", report, None, now, clock=SlaClock.RESOLUTION,
                   to=report.resolution_due_at.isoformat())
            count += 1
    return count


# --- the SLA sweep ------------------------------------------------------------------------

@dataclass
class SweepResult:
    reports_checked: int = 0
    reminders: int = 0
    misses: int = 0
    notice_ids: list[int] | None = None


def deadlines_sweep(*, now: datetime | None = None, batch_size: int = 500) -> SweepResult:
    """Record missed deadlines and create reminder/miss notices. Idempotent: running it twice
    (or in two processes) records each miss once and creates each notice once. Only reports
    whose ``next_check_at`` has come are read, so a quiet queue costs one index probe."""
    now = now or clock.now()
    result = SweepResult(notice_ids=[])
    last_id = 0
    while True:
        with transaction.atomic():
            batch = list(
                Report.objects.select_related("product__policy", "organisation")
                .filter(next_check_at__lte=now, id__gt=last_id)
                .order_by("id")[:batch_size]
            )
            if not batch:
                break
            for report in batch:
                _sweep_one(report, now, result)
                last_id = report.pk
    return result


def _sweep_one(report: Report, now: datetime, result: SweepResult) -> None:
    policy = report.product.policy
    result.reports_checked += 1
    events = []
    for clock_name, start, due in running_clocks(report):
        remind = deadlines.reminder_at(start=start, due=due, fraction_percent=policy.reminder_fraction_percent)
        if now >= due:
            if not getattr(report, _missed_flag(clock_name)):
                setattr(report, _missed_flag(clock_name), True)
                events.append(_event(report, EventKind.DEADLINE_MISSED, None, now, clock=clock_name,
                                     due_at=due.isoformat()))
                result.misses += 1
            notice_kind = SlaNotice.Kind.MISSED
        elif now >= remind:
            notice_kind = SlaNotice.Kind.REMINDER
        else:
            continue
        notice, created = SlaNotice.objects.get_or_create(
            report=report, clock=clock_name, kind=notice_kind, due_at=due, defaults={"created_at": now}
        )
        if created:
            result.notice_ids.append(notice.pk)
            if notice_kind == SlaNotice.Kind.REMINDER:
                result.reminders += 1
                events.append(_event(report, EventKind.REMINDER_SENT, None, now, clock=clock_name,
                                     due_at=due.isoformat()))
    _refresh_derived(report, policy, now)
    report.save(update_fields=[
        "acknowledgement_missed", "assessment_missed", "resolution_missed", "disclosure_missed", "next_check_at",
        "next_due_at",
    ])
    if events:
        TimelineEvent.objects.bulk_create(events)
