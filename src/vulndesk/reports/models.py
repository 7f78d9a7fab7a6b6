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
            self.search_index = search_tokens(organisation_id=self.organisation_id, text=self.title)

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
