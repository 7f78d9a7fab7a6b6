"""Reports, their timeline, their message thread and the SLA notices sent about them.

Fields only and tiny properties; every write goes through ``reports.services``.
"""

from datetime import UTC, datetime

from django.conf import settings
from django.db import models

from vulndesk.organisations.models import Organisation
from vulndesk.organisations.sealing import SealedModel, SealedText, search_tokens
from vulndesk.products.models import Product
from vulndesk.reports.severity import Severity
from vulndesk.reports.states import CLOSED_STATES, ReportState

# Stored in next_due_at / next_check_at when no clock is running. A real value (not NULL) keeps
# the queue's (organisation, ..., next_due_at, id) indexes usable for ordering and keyset
# pagination on both SQLite and PostgreSQL, which sort NULLs differently.
NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)


class Source(models.TextChoices):
    WEB = "web", "Web form"
    EMAIL = "email", "E-mail"
    API = "api", "API"
    SCANNER = "scanner", "Scanner"


class SlaClock(models.TextChoices):
    ACKNOWLEDGEMENT = "acknowledgement", "Acknowledgement"
    ASSESSMENT = "assessment", "Assessment"
    RESOLUTION = "resolution", "Resolution"
    DISCLOSURE = "disclosure", "Disclosure"


class Report(SealedModel):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="reports")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="reports")
    number = models.PositiveIntegerField()

    # What the reporter told us, encrypted at rest (organisations.sealing): the title alone in
    # its own column so lists decrypt only titles; the body and the reporter's identity in the
    # other. Hostile by design: rendered as text only.
    sealed_title = models.TextField(default="")
    sealed_contents = models.TextField(default="")
    # Blind index of the title's words (keyed hashes), for word search without plaintext.
    search_index = models.TextField(default="", blank=True)
    affected_versions = models.CharField(max_length=200, blank=True)
    title = SealedText("sealed_title", "title")
    description = SealedText("sealed_contents", "description")
    steps_to_reproduce = SealedText("sealed_contents", "steps_to_reproduce")
    impact = SealedText("sealed_contents", "impact")
    suggested_fix = SealedText("sealed_contents", "suggested_fix")
    reporter_name = SealedText("sealed_contents", "reporter_name")
    reporter_email = SealedText("sealed_contents", "reporter_email")
    reporter_handle = SealedText("sealed_contents", "reporter_handle")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.WEB)
    tracking_token_hash = models.CharField(max_length=64, unique=True)

    # Triage.
    state = models.CharField(max_length=16, choices=ReportState.choices, default=ReportState.NEW)
    is_open = models.BooleanField(default=True)
    duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_reports"
    )
    cvss3_vector = models.CharField(max_length=300, blank=True)
    cvss3_score = models.DecimalField(max_digits=3, decimal_places=1, null=True, blank=True)
    cvss4_vector = models.CharField(max_length=300, blank=True)
    cvss4_score = models.DecimalField(max_digits=3, decimal_places=1, null=True, blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, blank=True)
    severity_override_reason = models.CharField(max_length=500, blank=True)
    cwe_id = models.PositiveIntegerField(null=True, blank=True)
    is_unsupported_version = models.BooleanField(default=False)

    # SLA clocks: each has a start, a due moment and the moment it was met.
    received_at = models.DateTimeField()
    acknowledgement_due_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    assessment_due_at = models.DateTimeField()
    assessed_at = models.DateTimeField(null=True, blank=True)
    resolution_started_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    resolution_waiting_for_release = models.BooleanField(default=False)
    fixed_at = models.DateTimeField(null=True, blank=True)
    # Coordinated disclosure deadline: set at acceptance from the policy, extendable.
    disclosure_due_at = models.DateTimeField(null=True, blank=True)
    disclosed_at = models.DateTimeField(null=True, blank=True)
    disclosure_missed = models.BooleanField(default=False)
    # Misses recorded by the sweep (or by the service when a clock is met late).
    acknowledgement_missed = models.BooleanField(default=False)
    assessment_missed = models.BooleanField(default=False)
    resolution_missed = models.BooleanField(default=False)
    # Derived, denormalised for the indexes: the nearest deadline of a running clock, and the
    # next moment the SLA sweep must look at this report (a reminder or a miss).
    next_due_at = models.DateTimeField(default=NO_DEADLINE)
    next_check_at = models.DateTimeField(default=NO_DEADLINE)

    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "number"], name="report_number_unique_per_organisation"),
        ]
        indexes = [
            # Every queue query is led by the organisation, ordered by (next_due_at, id).
            models.Index(fields=["organisation", "is_open", "next_due_at", "id"], name="report_queue_open"),
            models.Index(fields=["organisation", "next_due_at", "id"], name="report_queue_all"),
            models.Index(fields=["organisation", "state", "next_due_at", "id"], name="report_queue_state"),
            models.Index(fields=["organisation", "severity", "next_due_at", "id"], name="report_queue_severity"),
            models.Index(fields=["organisation", "product", "next_due_at", "id"], name="report_queue_product"),
            models.Index(fields=["organisation", "assignee", "next_due_at", "id"], name="report_queue_assignee"),
            models.Index(fields=["next_check_at"], name="report_sla_sweep"),
        ]

    sealed_columns = ("sealed_title", "sealed_contents")
    derived_sealing_columns = ("search_index",)

    def __str__(self) -> str:
        return self.reference

    def sealing_organisation_id(self) -> int:
        return self.organisation_id

    def sealing_aad(self, column: str) -> str:
        return f"report:{self.organisation_id}:{self.number}:{column}"

    def after_sealing(self, columns: set[str]) -> None:
        if "sealed_title" in columns:
            before = self.search_index
            self.search_index = search_tokens(organisation_id=self.organisation_id, text=self.title)
            if self.search_index != before and "_search_index_saved" not in self.__dict__:
                # The token rows mirror the index as it was last written (see save()).
                self.__dict__["_search_index_saved"] = before if self.pk is not None else ""

    def save(self, *args, **kwargs):
        # Storage encoding, like the sealing it extends: the word-search token rows are a
        # derived index of ``search_index`` and change with it, whoever saves (services, key
        # rotation's re-seal). No business rule here.
        super().save(*args, **kwargs)
        saved = self.__dict__.pop("_search_index_saved", None)
        if saved is not None and saved != self.search_index:
            ReportSearchToken.replace(report=self, before=saved)

    @property
    def reference(self) -> str:
        return f"{self.organisation.reference_prefix}-{self.number}"

    @property
    def next_deadline(self) -> datetime | None:
        return None if self.next_due_at == NO_DEADLINE else self.next_due_at

    @property
    def is_closed(self) -> bool:
        return self.state in CLOSED_STATES

    @property
    def cvss_score(self):
        return self.cvss4_score if self.cvss4_score is not None else self.cvss3_score

    @property
    def cvss_vector(self) -> str:
        return self.cvss4_vector or self.cvss3_vector


def search_token_values(search_index: str) -> list[int]:
    """The blind-index tokens of ``search_index`` (16 hex digits each) as signed 64-bit integers:
    half the index size of the text, and an integer comparison."""
    return [int.from_bytes(bytes.fromhex(token), "big", signed=True) for token in search_index.split()]


class ReportSearchToken(models.Model):
    """One word of one report's title as its blind-index token (a keyed hash of the word, never
    the word): word search reads the reports of (organisation, token) from the unique index
    instead of scanning every report's ``search_index`` text. Rows mirror ``search_index``;
    ``Report.save`` keeps them in step and ``reports_search_reindex`` rebuilds them."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+", db_index=False)
    token = models.BigIntegerField()
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="search_tokens")

    class Meta:
        constraints = [
            # Leading with the organisation keeps every search inside one tenant; it is also the
            # covering index of the search (organisation, token) -> report ids.
            models.UniqueConstraint(fields=["organisation", "token", "report"], name="report_search_token_unique"),
        ]

    @classmethod
    def rows_for(cls, report: Report) -> list["ReportSearchToken"]:
        return [cls(organisation_id=report.organisation_id, token=token, report_id=report.pk)
                for token in search_token_values(report.search_index)]

    @classmethod
    def replace(cls, *, report: Report, before: str) -> None:
        """Move the rows of ``report`` from the tokens of ``before`` to those of its index now."""
        old, new = set(search_token_values(before)), set(search_token_values(report.search_index))
        if old - new:
            cls.objects.filter(organisation_id=report.organisation_id, token__in=old - new, report_id=report.pk).delete()
        if new - old:
            cls.objects.bulk_create(
                [cls(organisation_id=report.organisation_id, token=token, report_id=report.pk) for token in new - old],
                ignore_conflicts=True,  # a row left by an interrupted rebuild is already right
            )


class ReportStateCount(models.Model):
    """How many reports of one product are in one state: the queue header's counts, kept
    exact by every service that creates a report or changes its state (in the same
    transaction), so the header never counts a million rows. ``reports_recount`` rebuilds."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+", db_index=False)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=16, choices=ReportState.choices)
    count = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "product", "state"], name="report_state_count_unique"),
        ]


class EventKind(models.TextChoices):
    RECEIVED = "received", "Report received"
    STATE_CHANGED = "state_changed", "State changed"
    SEVERITY_CHANGED = "severity_changed", "Severity changed"
    ASSIGNEE_CHANGED = "assignee_changed", "Assignee changed"
    DEADLINE_CHANGED = "deadline_changed", "Deadline changed"
    DEADLINE_MISSED = "deadline_missed", "Deadline missed"
    REMINDER_SENT = "reminder_sent", "Reminder sent"
    MESSAGE = "message", "Message"
    CWE_CHANGED = "cwe_changed", "CWE changed"
    DISCLOSURE_EXTENDED = "disclosure_extended", "Disclosure deadline extended"


class TimelineEvent(models.Model):
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="timeline_events")
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # "reporter" or "system" when no user acted.
    actor_label = models.CharField(max_length=200)
    at = models.DateTimeField()
    data = models.JSONField(default=dict, blank=True)
    # Shown on the reporter's tracking page (state changes are; internal details are not).
    is_public = models.BooleanField(default=False)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["report", "at", "id"], name="timeline_by_report")]


class Message(SealedModel):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    is_from_reporter = models.BooleanField(default=False)
    # Internal notes are for staff only and never reach the reporter.
    is_internal = models.BooleanField(default=False)
    sealed_body = models.TextField(default="")
    body = SealedText("sealed_body", "body")
    created_at = models.DateTimeField()

    sealed_columns = ("sealed_body",)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["report", "created_at", "id"], name="message_by_report")]

    def sealing_organisation_id(self) -> int:
        return self.organisation_id

    def sealing_aad(self, column: str) -> str:
        return f"message:{self.organisation_id}:{self.report_id}:{column}"


class SlaNotice(models.Model):
    """One reminder or miss notice for one clock's deadline. The unique constraint makes the
    sweep idempotent: running it twice, or in two workers, sends each notice once."""

    class Kind(models.TextChoices):
        REMINDER = "reminder", "Reminder"
        MISSED = "missed", "Missed"

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="sla_notices")
    clock = models.CharField(max_length=16, choices=SlaClock.choices)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    due_at = models.DateTimeField()
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    recipients = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["report", "clock", "kind", "due_at"], name="sla_notice_once"),
        ]
