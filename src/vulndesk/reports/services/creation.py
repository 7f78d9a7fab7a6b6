"""Creating reports: one report from the web form, mail or the API, or a batch from a
scanner, each with its SLA clocks, timeline, audit entry, search tokens and state count."""

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import F

from vulndesk.audit.services import AuditRecord, audit_record_many
from vulndesk.core import clock
from vulndesk.core.errors import DomainError
from vulndesk.core.inserts import rows_insert
from vulndesk.core.statements import model_statement
from vulndesk.organisations.models import TRIAGE_ROLES, Membership, Organisation
from vulndesk.products.models import Policy, Product, SupportedVersion
from vulndesk.products.selectors import version_support
from vulndesk.reports import deadlines
from vulndesk.reports.models import (
    EventKind,
    Report,
    ReportSearchToken,
    Source,
    TimelineEvent,
)
from vulndesk.reports.services.common import _actor_label, _check_actor, _event, _refresh_derived
from vulndesk.reports.services.counts import _state_counts_add
from vulndesk.reports.services.triage import _apply_cvss
from vulndesk.reports.states import ReportState
from vulndesk.reports.tokens import tracking_token_hash, tracking_token_new

# --- group commit ------------------------------------------------------------------------

# Concurrent creates of one process share a write transaction (see _GroupCommit); False writes
# each in its own, as inside a caller's transaction.
GROUP_COMMIT = True


class GroupWriteFailed(DomainError):
    """Retryable: the thread writing this create's group was interrupted before it could write
    or retry it (its transaction rolled back). Nothing of this create was written."""

    status_code = 503
    code = "write_unavailable"


@dataclass(eq=False)
class _Waiting:
    unit: tuple
    done: threading.Event = field(default_factory=threading.Event)
    result: list | None = None
    error: BaseException | None = None
    leads: bool = False  # set when the previous leader hands the lead to this thread


class _GroupCommit:
    """Group commit for the creates of one process (gunicorn's threads).

    Each create prepares its reports (validation, clocks, CVSS: no writes) on its own thread,
    then queues them here. One thread at a time leads: it enters a write transaction (waiting
    for SQLite's write lock, see core/sqlite/base.py), and only *then* takes everything queued,
    so the creates that arrived while it waited for the lock join its transaction, and writes
    them as the batch API writes a batch: one number range per organisation, one multi-row
    INSERT per table, one audit chain extension (the entries keep their own times and actors,
    in queue order, hash-chained like any others). After COMMIT it wakes the creates it wrote
    (each answers 201 only now, its rows committed) and hands the lead to the next queued one.

    Failures: a failure while writing the group rolls the group back and the leader writes
    each create of it again alone, in its own transaction, so one create that cannot be
    written fails alone and loses no other. If the leader cannot even start its transaction
    (write lock timeout), its own create fails with that error and the lead passes on; the
    others stay queued and are written by the next leader.

    Why: with gunicorn's 2 workers x 4 threads, SQLite's write lock was held ~67 % of the time
    and every create paid its own transaction (BEGIN, 9 statements, COMMIT, lock hand-overs
    between threads and processes). Grouped, the 3,100 creates of one benchmark run (warm-up
    included) were written in 1,843 transactions of 1 to 4 creates. Figures: benchmarks/README.md.
    """

    def __init__(self):
        self._guard = threading.Lock()
        self._queue: list[_Waiting] = []
        self._leading = False

    def write(self, unit: tuple) -> list["ReportCreated"]:
        me = _Waiting(unit)
        with self._guard:
            self._queue.append(me)
            if not self._leading:
                self._leading = me.leads = True
        if not me.leads:
            me.done.wait()
        if me.leads:
            self._lead(me)
        if me.error is not None:
            raise me.error
        return me.result

    def _lead(self, me: _Waiting) -> None:
        group: list[_Waiting] = []
        try:
            with transaction.atomic():
                with self._guard:
                    group, self._queue = self._queue, []
                results = _units_write([waiting.unit for waiting in group])
            for waiting, result in zip(group, results, strict=True):
                waiting.result = result
        except Exception as error:
            if not group:  # the transaction never started: only this create fails
                with self._guard:
                    self._queue.remove(me)
                me.error = error
            elif len(group) == 1:
                me.error = error
            else:
                _units_retry_alone(group)
        finally:
            # Also reached when the leader is interrupted (BaseException): no waiter is left hanging.
            with self._guard:
                successor = self._queue[0] if self._queue else None
                if successor is None:
                    self._leading = False
                else:
                    successor.leads = True
            for waiting in group:
                if waiting is not me:
                    if waiting.result is None and waiting.error is None:
                        waiting.error = GroupWriteFailed(
                            "The report could not be written; nothing was filed. Please retry.")
                    waiting.done.set()
            if successor is not None:
                successor.done.set()


def _units_retry_alone(group: list[_Waiting]) -> None:
    """After a failed group: each create again in its own transaction (the group's rolled back)."""
    for waiting in group:
        for report, _, _ in waiting.unit[0]:
            report.pk, report._state.adding = None, True
            report.reseal_all()  # sealed again under the number it gets now
        try:
            with transaction.atomic():
                waiting.result = _units_write([waiting.unit])[0]
        except Exception as error:  # noqa: BLE001 - this create's own failure, raised in its thread
            waiting.error = error


_group_commit = _GroupCommit()


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
    per state counter and two statements for the audit chain head. Outside a caller's
    transaction, creates made at the same time by this process's threads share that write
    transaction (``_GroupCommit``); the call still returns only once its own rows are committed.
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
    unit = (prepared, context, actor)
    if not GROUP_COMMIT or connection.in_atomic_block or not connection.get_autocommit():
        # Inside the caller's transaction (mail intake, tests): the rows commit with it.
        with transaction.atomic():
            return _units_write([unit])[0]
    return _group_commit.write(unit)


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
            self.supported_versions = _version_rows(self.product.pk)
        return self.supported_versions


class _VersionRow(NamedTuple):
    """What ``version_support`` reads of a SupportedVersion."""

    version_range: str
    is_supported: bool


def _version_rows(product_id: int) -> list[_VersionRow]:
    """The product's version table, as one prepared SELECT of the two columns the check needs.
    ``product.supported_versions.all()`` built a related manager, compiled the query with the
    model's ordering and made full model instances: ~0.25 ms of a create's ~2 ms in the service
    (the order does not change ``version_support``'s answer). Formatted once: core/statements."""
    sql = model_statement(SupportedVersion, "SELECT {version_range}, {is_supported} FROM {table} WHERE {product} = %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [product_id])
        return [_VersionRow(version_range, bool(is_supported)) for version_range, is_supported in cursor.fetchall()]


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


def _report_numbers_take(organisation_id: int, count: int) -> int:
    """Reserve ``count`` consecutive report numbers of the organisation; returns the last.

    One statement where the database has UPDATE … RETURNING (SQLite >= 3.35, PostgreSQL): the
    update locks the row, so concurrent creates get distinct ranges, and no second read is
    needed. Table and column names come from the model (core/statements); values are bound."""
    if connection.vendor in {"sqlite", "postgresql"}:
        sql = model_statement(Organisation, "UPDATE {table} SET {last_report_number} = {last_report_number} + %s "
                                            "WHERE {pk} = %s RETURNING {last_report_number}")
        with connection.cursor() as cursor:
            cursor.execute(sql, [count, organisation_id])
            return cursor.fetchone()[0]
    Organisation.objects.filter(pk=organisation_id).update(last_report_number=F("last_report_number") + count)
    return Organisation.objects.filter(pk=organisation_id).values_list("last_report_number", flat=True).get()


def _units_write(units: list[tuple[list, _CreateContext, Membership | None]]) -> list[list[ReportCreated]]:
    """Write the prepared reports of ``units`` (each: prepared reports, their context, the actor)
    in the caller's transaction, with as many statements as one unit needs (plus one number
    UPDATE per further organisation and one counter UPDATE per further product and state)."""
    per_organisation: dict[int, int] = {}
    for prepared, context, _ in units:
        organisation_id = context.product.organisation_id
        per_organisation[organisation_id] = per_organisation.get(organisation_id, 0) + len(prepared)
    next_number, last_number = {}, {}
    for organisation_id in sorted(per_organisation):  # one order everywhere: no deadlock between writers
        last = last_number[organisation_id] = _report_numbers_take(organisation_id, per_organisation[organisation_id])
        next_number[organisation_id] = last - per_organisation[organisation_id] + 1
    reports, events, tokens, audits, counts = [], [], [], [], {}
    for prepared, context, _ in units:
        product = context.product
        organisation_id = product.organisation_id
        for report, _, _ in prepared:
            report.number = next_number[organisation_id]
            next_number[organisation_id] += 1
            report.seal_pending()  # the envelopes are bound to the number (sealing_aad)
            report.__dict__.pop("_search_index_saved", None)  # the token rows are written below
            reports.append(report)
            key = (organisation_id, product.pk, str(report.state))
            counts[key] = counts.get(key, 0) + 1
        product.organisation.last_report_number = last_number[organisation_id]  # as the database now has it
    rows_insert(Report, reports)
    for prepared, context, actor in units:
        now, product = context.now, context.product
        reporter_label, actor_label = ("reporter" if actor is None else _actor_label(actor)), _actor_label(actor)
        for report, _, submission in prepared:
            events.append(_event(report, EventKind.RECEIVED, actor, now, label=reporter_label, public=True,
                                 source=submission.source))
            if context.acknowledge:
                events.append(_event(report, EventKind.STATE_CHANGED, None, now, public=True,
                                     **{"from": ReportState.NEW, "to": ReportState.ACKNOWLEDGED}))
            tokens += ReportSearchToken.rows_for(report)
            audits.append(AuditRecord(
                action="report.create", organisation_id=report.organisation_id,
                actor_id=actor.user_id if actor else None, actor_label=actor_label,
                target_type="report", target_id=report.pk, at=now,
                data={"source": submission.source, "product": product.pk}))
    rows_insert(TimelineEvent, events, returning=False)
    rows_insert(ReportSearchToken, tokens, returning=False)
    for organisation_id, product_id, state in sorted(counts):
        _state_counts_add(organisation_id=organisation_id, product_id=product_id,
                          changes=[(state, counts[organisation_id, product_id, state])])
    audit_record_many(audits)
    return [[ReportCreated(report=report, tracking_token=token) for report, token, _ in prepared]
            for prepared, _, _ in units]
