"""Reads for reports. Every selector takes the acting member first and filters on its
organisation; developers see only the reports assigned to them. The one anonymous read,
``report_for_tracking_token``, is keyed by the hash of the reporter's secret.

The queue uses keyset pagination on (next_due_at, id), served by the composite indexes on
``Report`` that all start with the organisation, so page 1 and page 1,000 cost the same. A page
after a cursor (due, id) is read as two index seeks: the rest of the reports due exactly then
(``next_due_at = due AND id > id``), then the later ones (``next_due_at > due``). One query with
an OR, or SQLite's row value ``(next_due_at, id) > (?, ?)``, seeks on the deadline only and then
walks every report tied on it: all closed reports share ``NO_DEADLINE``, so at 1M reports a deep
page of ``state=all`` walked ~900k index entries (~100 ms) instead of 51.

Word search reads the token table (``ReportSearchToken``, led by the organisation): a word
matching few reports fetches exactly those; a word matching many walks the queue index in
order and probes the token index per row, stopping at the page size. The queue header's
counts come from maintained counters (``ReportStateCount``), exact and O(products).
"""

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Exists, F, OuterRef, QuerySet, Sum

from vulndesk.core import clock
from vulndesk.core.errors import DomainError, NotFound
from vulndesk.organisations.models import Membership
from vulndesk.organisations.sealing import search_terms
from vulndesk.products.models import Product
from vulndesk.products.selectors import product_for_member
from vulndesk.reports.models import (
    Message,
    Report,
    ReportSearchToken,
    ReportStateCount,
    TimelineEvent,
    search_token_values,
)
from vulndesk.reports.severity import Severity
from vulndesk.reports.states import ReportState
from vulndesk.reports.tokens import tracking_token_hash

QUEUE_PAGE_SIZE = 50
QUEUE_MAX_PAGE_SIZE = 200


def _visible(member: Membership, *, by_id: bool = False) -> QuerySet[Report]:
    """The reports ``member`` may see. ``by_id``: the caller narrows to a short list of ids, so
    the organisation is compared as ``organisation_id + 0``: still the same filter, but one no
    index can serve. Without table statistics SQLite takes an equality on an indexed column
    for ~10 rows and would rather walk a queue index led by the organisation (every report of
    it: ~1M at 1M reports for a word with 5 matches) than fetch the listed ids by primary key."""
    if by_id:
        reports = Report.objects.alias(organisation_not_indexed=F("organisation_id") + 0).filter(
            organisation_not_indexed=member.organisation_id)
    else:
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


_MAX_ID = 2**63 - 1  # a 64-bit primary key
_REFERENCE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9]{1,11}-)?(\d{1,9})$")


def reports_for_queue(
    *, member: Membership, filters: QueueFilters, cursor: str = "", limit: int = QUEUE_PAGE_SIZE
) -> QueuePage:
    """A page of the triage queue: nearest deadline first, ties by id."""
    limit = max(1, min(limit, QUEUE_MAX_PAGE_SIZE))
    reference = _REFERENCE.match(filters.q) if filters.q else None
    words = _matching_words(member.organisation_id, filters.q) if filters.q and not reference else None
    if words is not None and words.report_ids is not None and not words.report_ids:
        return QueuePage(reports=[], next_cursor=None, filters=filters)
    reports = _visible(member, by_id=words is not None and words.report_ids is not None)
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
    if reference:
        # A reference goes straight to the unique (organisation, number) index; OR-ing it with
        # the word search would make SQLite scan every report.
        reports = reports.filter(number=int(reference.group(1)))
    elif words is not None:
        # Titles are encrypted: search matches whole words through the token table.
        if words.report_ids is not None:
            reports = reports.filter(id__in=words.report_ids)
        for token in words.common_tokens:
            rows = ReportSearchToken.objects.filter(organisation_id=member.organisation_id, token=token)
            reports = reports.filter(Exists(rows.filter(report_id=OuterRef("pk"))))
    rows = _page_after(reports, cursor, limit + 1)
    next_cursor = _cursor_encode(rows[limit - 1]) if len(rows) > limit else None
    return QueuePage(reports=rows[:limit], next_cursor=next_cursor, filters=filters)


# A word with at most this many reports in the organisation is searched by fetching exactly
# those reports (by primary key) and sorting them; a more common word walks the queue index in
# deadline order and probes the token index per row, which finds a page after about
# page size / (share of reports with the word) rows. The two costs meet near a few thousand at
# 1M reports (~10 µs a report fetched by id, ~1.5 µs a row probed). Measured at 1M
# (bench_reports, API p95): a word on ~3,000 reports, fetched, 25 ms; a word on 12 % of the
# titles, probed along the open queue, 18 ms; a word on none, 3 ms.
WORD_FETCH_MAX_REPORTS = 3000


@dataclass(frozen=True)
class _WordMatch:
    report_ids: list[int] | None  # the reports having every rare word; None: no word is rare
    common_tokens: list[int]  # words on too many reports to list: probed per row instead


def _matching_words(organisation_id: int, query: str) -> _WordMatch:
    tokens = search_token_values(" ".join(search_terms(organisation_id=organisation_id, query=query)))
    if not tokens:
        return _WordMatch(report_ids=[], common_tokens=[])
    rows = ReportSearchToken.objects.filter(organisation_id=organisation_id)
    candidates: set[int] | None = None
    common = []
    for token in tokens:
        # Index only, and never more than the threshold: a common word costs what a rare one does.
        ids = list(rows.filter(token=token).values_list("report_id", flat=True)[: WORD_FETCH_MAX_REPORTS + 1])
        if len(ids) > WORD_FETCH_MAX_REPORTS:
            common.append(token)
        else:
            candidates = set(ids) if candidates is None else candidates & set(ids)
            if not candidates:
                return _WordMatch(report_ids=[], common_tokens=[])
    return _WordMatch(report_ids=None if candidates is None else sorted(candidates), common_tokens=common)


def _page_after(reports: QuerySet[Report], cursor: str, size: int) -> list[Report]:
    """Up to ``size`` reports in (next_due_at, id) order after ``cursor`` (see the module docstring)."""

    def fetch(queryset: QuerySet[Report], n: int) -> list[Report]:
        return list(
            queryset.select_related("product__policy", "assignee", "organisation", "duplicate_of")
            .defer("sealed_contents", "search_index")  # lists show titles only: never fetch the bodies
            .order_by("next_due_at", "id")[:n]
        )

    if not cursor:
        return fetch(reports, size)
    due, report_id = _cursor_decode(cursor)
    rows = []
    if report_id < _MAX_ID:  # a forged cursor past every id has no ties left
        rows = fetch(reports.filter(next_due_at=due, id__gt=max(report_id, 0)), size)
    if len(rows) < size:
        rows += fetch(reports.filter(next_due_at__gt=due), size - len(rows))
    return rows


def report_state_counts(*, member: Membership) -> dict[str, int]:
    """Reports per state for the queue header: the maintained counters of the products the
    member sees. A developer sees only their assigned reports: those are counted live on the
    (organisation, assignee, …) index, a small set."""
    if member.sees_only_assigned:
        rows = _visible(member).values("state").annotate(n=Count("id")).order_by()
        counts = {row["state"]: row["n"] for row in rows}
    else:
        counters = ReportStateCount.objects.filter(organisation_id=member.organisation_id)
        if member.product_scope is not None:
            counters = counters.filter(product_id__in=member.product_scope)
        counts = {row["state"]: row["n"] for row in counters.values("state").annotate(n=Sum("count")).order_by()}
    return {state: counts.get(state, 0) for state in ReportState.values}


def product_for_submission(*, member: Membership, product_slug: str) -> Product:
    """The product a member files reports for: ``products.selectors.product_for_member``, except
    that an API token's one product (loaded with the token, policy included) needs no query."""
    token = getattr(member, "api_token", None)
    if token is None:
        return product_for_member(member=member, product_slug=product_slug)
    product = token.product
    if product.slug != product_slug or product.organisation_id != member.organisation_id:
        raise NotFound  # a token's scope is its one product
    product.organisation = member.organisation
    return product


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
