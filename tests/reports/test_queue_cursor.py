"""Keyset pages after a cursor: two index seeks (the rest of the reports tied on the cursor's
deadline, then the later ones), so a deep page inside the big group of closed reports (all due
``NO_DEADLINE``) costs what page 1 costs, and no report is lost or repeated across ties."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories.core import make_report
from vulndesk.reports.models import NO_DEADLINE, Report
from vulndesk.reports.selectors import QueueFilters, reports_for_queue
from vulndesk.reports.services import report_transition
from vulndesk.reports.states import ReportState


@pytest.fixture
def closed_and_open(frozen_clock, product, triager):
    """Nine reports closed (all tied on NO_DEADLINE) and four open ones."""
    for n in range(13):
        report = make_report(product, title=f"Finding {n}").report
        if n % 3:
            report_transition(report=report, actor=triager, to=ReportState.INVALID)
    assert Report.objects.filter(next_due_at=NO_DEADLINE).count() == 8
    return triager


def walk(member, filters: QueueFilters, limit: int) -> list[int]:
    seen, cursor = [], ""
    while True:
        page = reports_for_queue(member=member, filters=filters, cursor=cursor, limit=limit)
        seen += [report.pk for report in page.reports]
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 50])
def test_pages_walk_every_report_once_in_order_across_the_no_deadline_ties(closed_and_open, organisation, limit):
    expected = list(Report.objects.filter(organisation=organisation).order_by("next_due_at", "id")
                    .values_list("pk", flat=True))

    assert walk(closed_and_open, QueueFilters(state="all"), limit) == expected


def test_a_page_after_a_cursor_seeks_in_the_queue_index_and_never_scans(closed_and_open, organisation):
    first = reports_for_queue(member=closed_and_open, filters=QueueFilters(state="all"), limit=6)
    assert first.reports[-1].next_due_at == NO_DEADLINE  # the cursor sits inside the tie group

    with CaptureQueriesContext(connection) as captured:
        reports_for_queue(member=closed_and_open, filters=QueueFilters(state="all"), cursor=first.next_cursor, limit=2)

    plans = []
    if connection.vendor == "postgresql":
        _postgresql_plans_seek_in_the_queue_index(captured.captured_queries)
        return
    for query in captured.captured_queries:
        if 'FROM "reports_report"' in query["sql"]:
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN QUERY PLAN " + query["sql"])
                plans.append(" | ".join(row[-1] for row in cursor.fetchall()))
    assert plans, captured.captured_queries
    assert all("SCAN reports_report" not in plan for plan in plans), plans
    # The tie group is entered at the cursor's id, not walked from its start.
    assert any("next_due_at=? AND id>?" in plan for plan in plans), plans


def test_a_forged_cursor_past_every_id_continues_with_later_deadlines_only(closed_and_open, organisation):
    import base64
    import json

    open_reports = Report.objects.filter(organisation=organisation, is_open=True).order_by("next_due_at", "id")
    first = open_reports.first()
    cursor = base64.urlsafe_b64encode(json.dumps([first.next_due_at.isoformat(), 10**30]).encode()).decode()

    page = reports_for_queue(member=closed_and_open, filters=QueueFilters(state="open"), cursor=cursor.rstrip("="))

    assert [r.pk for r in page.reports] == [r.pk for r in open_reports if r.next_due_at > first.next_due_at]


def _postgresql_plans_seek_in_the_queue_index(queries):
    """The same promise in PostgreSQL's words: each report query is an index scan on a
    report_queue* index with no Sort, and the tie group is entered at the cursor's id (the id
    bound is part of the scan's index condition). PostgreSQL costs plans from statistics, and for
    a dozen rows a scan and a sort are cheapest whatever the indexes: scans, bitmaps and sorts
    are priced out for this one transaction, so the plan left is an in-order index walk if, and
    only if, an index can serve the query that way."""
    plans = []
    with connection.cursor() as cursor:
        for switch in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET LOCAL {switch} = off")
        for query in queries:
            if 'FROM "reports_report"' in query["sql"]:
                cursor.execute("EXPLAIN " + query["sql"])
                plans.append(" | ".join(row[0] for row in cursor.fetchall()))
    assert plans, queries
    assert all("using report_queue" in plan and "Sort" not in plan and "Seq Scan on reports_report" not in plan
               for plan in plans), plans
    assert any("id >" in plan and "next_due_at =" in plan for plan in plans), plans
