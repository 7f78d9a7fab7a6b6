"""Creating reports: one report from the web form, mail or the API, or a batch from a
scanner, each with its SLA clocks, timeline, audit entry, search tokens and state count."""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F

from vulndesk.audit.services import AuditRecord, audit_record_many
from vulndesk.core import clock
from vulndesk.core.errors import DomainError
from vulndesk.organisations.models import TRIAGE_ROLES, Membership, Organisation
from vulndesk.products.models import Policy, Product
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
