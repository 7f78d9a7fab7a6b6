"""Input and output shapes of the reports API. Inputs check shape only; rules are services'."""

import copy
import re

from django.conf import settings
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from vulndesk.reports.deadlines import clock_status
from vulndesk.reports.models import Report, Source
from vulndesk.reports.severity import Severity
from vulndesk.reports.states import ReportState

# C0 control characters except tab, line feed and carriage return. One regex scan in C: a
# per-character Python loop cost ~3,000 calls for a 2 KB report.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class _NoControlCharacters:
    def __call__(self, value):
        if _CONTROL_CHARACTER.search(value):
            raise serializers.ValidationError("Remove control characters (such as NUL).")


_SURROGATE = re.compile("[\ud800-\udfff]")


class _NoSurrogates(ProhibitSurrogateCharactersValidator):
    """DRF's check (same message and code) as one regex scan instead of a Python loop per character."""

    def __call__(self, value):
        found = _SURROGATE.search(str(value))
        if found:
            raise serializers.ValidationError(self.message.format(code_point=ord(found.group())), code=self.code)


class TextField(serializers.CharField):
    """A CharField whose per-character checks run in C: report texts run to 100,000 characters."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators = [_NoSurrogates() if isinstance(v, ProhibitSurrogateCharactersValidator) else v
                           for v in self.validators]


class _CopiedFields:
    """Serializer fields as shallow copies of the declared ones instead of DRF's deep copies,
    which re-run every field's __init__ (validators included) on each request: ~0.3 ms of a
    create's CPU for these flat serializers. Safe because a field keeps its per-use state
    (name, parent, source) in its own __dict__ and never mutates the validators, choices or
    messages it shares with the declared prototype. Not for nested serializers."""

    def get_fields(self):
        return {name: copy.copy(field) for name, field in self._declared_fields.items()}


def _text(max_length: int, *, required: bool = False) -> serializers.CharField:
    return TextField(
        max_length=max_length, required=required, allow_blank=not required, trim_whitespace=False,
        validators=[_NoControlCharacters()],
    )


class ReportCreateInput(_CopiedFields, serializers.Serializer):
    product = serializers.SlugField(max_length=50, help_text="Slug of the affected product.")
    title = TextField(max_length=settings.REPORT_TITLE_MAX_CHARS, validators=[_NoControlCharacters()])
    description = _text(settings.REPORT_TEXT_MAX_CHARS, required=True)
    affected_versions = _text(200)
    steps_to_reproduce = _text(settings.REPORT_TEXT_MAX_CHARS)
    impact = _text(settings.REPORT_TEXT_MAX_CHARS)
    suggested_fix = _text(settings.REPORT_TEXT_MAX_CHARS)
    reporter_name = _text(200)
    reporter_email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    reporter_handle = _text(100)
    source = serializers.ChoiceField(choices=[Source.API, Source.SCANNER], default=Source.API)
    cvss_vector = serializers.CharField(max_length=300, required=False, allow_blank=True)
    cwe_id = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=99999)


BATCH_MAX_REPORTS = 100


class ReportBatchItemInput(ReportCreateInput):
    """One report of a batch: the fields of a single create, the product given once for all."""

    product = None


class ReportBatchInput(serializers.Serializer):
    product = serializers.SlugField(max_length=50, help_text="Slug of the affected product (for every report).")
    reports = ReportBatchItemInput(many=True, allow_empty=False, max_length=BATCH_MAX_REPORTS,
                                   help_text=f"1 to {BATCH_MAX_REPORTS} reports, filed all or none.")


class TransitionInput(serializers.Serializer):
    to = serializers.ChoiceField(choices=ReportState.choices)
    cvss_vector = serializers.CharField(max_length=300, required=False, allow_blank=True)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False, allow_blank=True)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)
    duplicate_of = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                            help_text="Number of the original report (same organisation).")


class SeverityInput(serializers.Serializer):
    cvss_vector = serializers.CharField(max_length=300, required=False, allow_blank=True)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False, allow_blank=True)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)


class AssigneeInput(serializers.Serializer):
    assignee = serializers.IntegerField(allow_null=True, min_value=1, help_text="User id, or null to unassign.")


class MessageInput(serializers.Serializer):
    body = serializers.CharField(max_length=50_000, trim_whitespace=False)
    is_internal = serializers.BooleanField(default=False)


class ClockOutput(serializers.Serializer):
    due_at = serializers.DateTimeField()
    done_at = serializers.DateTimeField(allow_null=True)
    status = serializers.CharField()


class ReportOutput(_CopiedFields, serializers.Serializer):
    reference = serializers.CharField()
    number = serializers.IntegerField()
    title = serializers.CharField()
    product = serializers.SlugField(source="product.slug")
    state = serializers.CharField()
    severity = serializers.CharField()
    severity_override_reason = serializers.CharField()
    cvss3_vector = serializers.CharField()
    cvss3_score = serializers.DecimalField(max_digits=3, decimal_places=1, allow_null=True, coerce_to_string=False)
    cvss4_vector = serializers.CharField()
    cvss4_score = serializers.DecimalField(max_digits=3, decimal_places=1, allow_null=True, coerce_to_string=False)
    cwe_id = serializers.IntegerField(allow_null=True)
    assignee = serializers.SerializerMethodField()
    source = serializers.CharField()
    affected_versions = serializers.CharField()
    is_unsupported_version = serializers.BooleanField()
    duplicate_of = serializers.SerializerMethodField()
    received_at = serializers.DateTimeField()
    next_due_at = serializers.DateTimeField(source="next_deadline", allow_null=True)
    resolution_waiting_for_release = serializers.BooleanField()
    deadlines = serializers.SerializerMethodField()

    def get_assignee(self, report: Report) -> dict | None:
        if report.assignee_id is None:
            return None
        return {"id": report.assignee_id, "name": report.assignee.display_name}

    def get_duplicate_of(self, report: Report) -> int | None:
        return report.duplicate_of.number if report.duplicate_of_id else None

    def get_deadlines(self, report: Report) -> dict[str, dict]:
        now = self.context["now"]
        # Each report's own product policy: a list may mix products with different reminder points.
        fraction = report.product.policy.reminder_fraction_percent
        clocks = {
            "acknowledgement": (report.received_at, report.acknowledgement_due_at, report.acknowledged_at),
            "assessment": (report.received_at, report.assessment_due_at, report.assessed_at),
        }
        if report.resolution_due_at and report.resolution_started_at:
            clocks["resolution"] = (report.resolution_started_at, report.resolution_due_at, report.fixed_at)
        return {
            name: {
                "due_at": due.isoformat(),
                "done_at": done.isoformat() if done else None,
                "status": str(clock_status(start=start, due=due, done_at=done, now=now, fraction_percent=fraction)),
            }
            for name, (start, due, done) in clocks.items()
        }


class ReportDetailOutput(ReportOutput):
    description = serializers.CharField()
    steps_to_reproduce = serializers.CharField()
    impact = serializers.CharField()
    suggested_fix = serializers.CharField()
    reporter_name = serializers.CharField()
    reporter_email = serializers.CharField()
    reporter_handle = serializers.CharField()


class ReportCreatedOutput(ReportDetailOutput):
    tracking_url = serializers.CharField(help_text="The reporter's private tracking link. Shown once.")


class ReportBatchItemOutput(_CopiedFields, serializers.Serializer):
    """What a scanner needs back per report: where it is, and the reporter's tracking link."""

    reference = serializers.CharField()
    number = serializers.IntegerField()
    state = serializers.CharField()
    severity = serializers.CharField()
    received_at = serializers.DateTimeField()
    next_due_at = serializers.DateTimeField(source="next_deadline", allow_null=True)
    tracking_url = serializers.CharField(help_text="The reporter's private tracking link. Shown once.")


class ReportBatchOutput(serializers.Serializer):
    results = ReportBatchItemOutput(many=True, help_text="One per report sent, in the same order.")


class ReportPageOutput(serializers.Serializer):
    results = ReportOutput(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class TimelineEventOutput(serializers.Serializer):
    kind = serializers.CharField()
    actor = serializers.CharField(source="actor_label")
    at = serializers.DateTimeField()
    data = serializers.DictField()


class MessageOutput(serializers.Serializer):
    id = serializers.IntegerField()
    body = serializers.CharField()
    is_internal = serializers.BooleanField()
    is_from_reporter = serializers.BooleanField()
    author = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_author(self, message) -> str:
        if message.is_from_reporter:
            return "reporter"
        return message.author.display_name if message.author_id else "staff"
