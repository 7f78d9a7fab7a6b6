"""Reads for reports. Every selector takes the acting member first and filters on its
organisation; developers see only the reports assigned to them. The one anonymous read,
``report_for_tracking_token``, is keyed by the hash of the reporter's secret.

The queue uses keyset pagination on (next_due_at, id), served by the composite indexes on
``Report`` that all start with the organisation, so page 1 and page 1,000 cost the same.
"""

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Q, QuerySet

from vulndesk.core import clock
from vulndesk.core.errors import DomainError, NotFound
from vulndesk.organisations.models import Membership
from vulndesk.organisations.sealing import search_terms
from vulndesk.reports.models import Message, Report, TimelineEvent
from vulndesk.reports.severity import Severity
from vulndesk.reports.states import ReportState
from vulndesk.reports.tokens import tracking_token_hash

QUEUE_PAGE_SIZE = 50
QUEUE_MAX_PAGE_SIZE = 200


def _visible(member: Membership) -> QuerySet[Report]:
    reports = Report.objects.filter(organisation_id=member.organisation_id)
    if member.product_scope is not None:
        reports = reports.filter(product_id__in=member.product_scope)
    if member.sees_only_assigned:
        reports = reports.filter(assignee_id=member.user_id)
    return reports


@dataclass
class QueueFilters:
    """Queue filters as they appear in the URL (so a view can be bookmarked) and the API."""

    state: str = "open"  # a ReportState value, "open" (default), or "all"
    severity: str = ""
    product: str = ""  # product slug
    assignee: str = ""  # user id, or "none"
    overdue: bool = False
    unsupported: bool = False
    q: str = ""

    @classmethod
    def from_params(cls, params) -> "QueueFilters":
        def truthy(name: str) -> bool:
            return params.get(name, "").lower() in {"1", "true", "yes", "on"}

        filters = cls(
            state=params.get("state", "open") or "open",
            severity=params.get("severity", ""),
            product=params.get("product", "")[:50],
            assignee=params.get("assignee", "")[:20],
            overdue=truthy("overdue"),
            unsupported=truthy("unsupported"),
            q=params.get("q", "").strip()[:200],
        )
        filters.validate()
        return filters

    def validate(self) -> None:
        if self.state not in {"open", "all", *ReportState.values}:
            raise DomainError(f"Unknown state filter {self.state!r}.", field="state")
        if self.severity and self.severity not in Severity.values:
            raise DomainError(f"Unknown severity filter {self.severity!r}.", field="severity")
        # ASCII digits only ("²".isdigit() is true but int() refuses it) and within a 64-bit id.
        if self.assignee and self.assignee != "none" and not (
            self.assignee.isascii() and self.assignee.isdigit() and len(self.assignee) <= 18
        ):
            raise DomainError("The assignee filter is a user id or 'none'.", field="assignee")

    def as_params(self) -> dict[str, str]:
        params = {
            "state": self.state if self.state != "open" else "",
            "severity": self.severity, "product": self.product, "assignee": self.assignee,
            "overdue": "1" if self.overdue else "", "unsupported": "1" if self.unsupported else "", "q": self.q,
        }
        return {key: value for key, value in params.items() if value}


@dataclass
class QueuePage:
    reports: list[Report]
    next_cursor: str | None
    filters: QueueFilters
    counts: dict[str, int] = field(default_factory=dict)


def _cursor_encode(report: Report) -> str:
    raw = json.dumps([report.next_due_at.isoformat(), report.pk]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_decode(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        due_text, report_id = json.loads(raw)
        due = datetime.fromisoformat(due_text)
        if due.tzinfo is None or not isinstance(report_id, int):
            raise ValueError
        return due, report_id
    except (ValueError, TypeError, json.JSONDecodeError):
        raise DomainError("The page cursor is not valid; start again from the first page.", field="cursor") from None


_REFERENCE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9]{1,11}-)?(\d{1,9})$")


def reports_for_queue(
    *, member: Membership, filters: QueueFilters, cursor: str = "", limit: int = QUEUE_PAGE_SIZE
) -> QueuePage:
    """A page of the triage queue: nearest deadline first, ties by id."""
    limit = max(1, min(limit, QUEUE_MAX_PAGE_SIZE))
    reports = _visible(member)
    if filters.state == "open":
        # `is_open__in=[True]`, not `is_open=True`: Django writes the latter as a bare
        # `WHERE is_open`, which SQLite cannot match to the (organisation, is_open, …) index.
        reports = reports.filter(is_open__in=[True])
    elif filters.state != "all":
        reports = reports.filter(state=filters.state)
    if filters.severity:
        reports = reports.filter(severity=filters.severity)
    if filters.product:
        reports = reports.filter(product__slug=filters.product)
    if filters.assignee == "none":
        reports = reports.filter(assignee__isnull=True)
    elif filters.assignee:
        reports = reports.filter(assignee_id=int(filters.assignee))
    if filters.overdue:
        reports = reports.filter(next_due_at__lt=clock.now())
    if filters.unsupported:
        reports = reports.filter(is_unsupported_version=True)
    if filters.q:
        # Titles are encrypted: search matches whole words through the blind index, or a reference.
        reference = _REFERENCE.match(filters.q)
        text = Q()
        for token in search_terms(organisation_id=member.organisation_id, query=filters.q):
            text &= Q(search_index__contains=f" {token} ")
        if reference:
            # A reference goes straight to the unique (organisation, number) index; OR-ing it with
            # the word search would make SQLite scan every report.
            reports = reports.filter(number=int(reference.group(1)))
        elif text:
            reports = reports.filter(text)
        else:
            reports = reports.none()
    if cursor:
        due, report_id = _cursor_decode(cursor)
        reports = reports.filter(Q(next_due_at__gt=due) | Q(next_due_at=due, id__gt=report_id))
    rows = list(
        reports.select_related("product__policy", "assignee", "organisation", "duplicate_of")
        .defer("sealed_contents", "search_index")  # lists show titles only: never fetch the bodies
        .order_by("next_due_at", "id")[: limit + 1]
    )
    next_cursor = _cursor_encode(rows[limit - 1]) if len(rows) > limit else None
    return QueuePage(reports=rows[:limit], next_cursor=next_cursor, filters=filters)


def report_state_counts(*, member: Membership) -> dict[str, int]:
    """Reports per state for the queue header (one grouped query on the state index)."""
    rows = _visible(member).values("state").annotate(n=Count("id")).order_by()
    counts = {row["state"]: row["n"] for row in rows}
    return {state: counts.get(state, 0) for state in ReportState.values}


def report_for_member(*, member: Membership, number: int) -> Report:
    report = (
        _visible(member)
        .select_related("product__policy", "organisation", "assignee", "duplicate_of")
        .filter(number=number)
        .first()
    )
    if report is None:
        raise NotFound
    return report


def report_for_tracking_token(*, token: str) -> Report:
    """The reporter's view: found only by the hash of their secret link."""
    if not token or len(token) > 100:
        raise NotFound
    report = (
        Report.objects.select_related("organisation", "product__policy")
        .filter(tracking_token_hash=tracking_token_hash(token))
        .first()
    )
    if report is None:
        raise NotFound
    return report


def timeline_for_report(*, report: Report, public_only: bool = False) -> list[TimelineEvent]:
    events = TimelineEvent.objects.filter(report=report).select_related("actor")
    if public_only:
        events = events.filter(is_public=True)
    return list(events.order_by("at", "id"))


def messages_for_report(*, report: Report, include_internal: bool) -> list[Message]:
    messages = Message.objects.filter(report=report).select_related("author")
    if not include_internal:
        messages = messages.filter(is_internal=False)
    return list(messages.order_by("created_at", "id"))


def reports_duplicates_of(*, report: Report) -> list[Report]:
    return list(Report.objects.filter(duplicate_of=report, organisation_id=report.organisation_id)
                .select_related("organisation").order_by("number"))
