"""``rows_insert`` (reports/services/inserts.py) writes new rows as ``bulk_create`` would: the
same stored values (encrypted columns, JSON, times), primary keys back in order, chunks under the
database's parameter limit, and ``bulk_create`` itself for what it does not handle."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.models import Value
from django.db.models.functions import Concat

from vulndesk.core.inserts import rows_insert
from vulndesk.reports.models import EventKind, Report, ReportSearchToken, TimelineEvent
from vulndesk.reports.services import report_create

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def stored(model, pk) -> dict:
    """The row as the database holds it, column by column."""
    return {k: v for k, v in model.objects.filter(pk=pk).values().get().items() if k != "id"}


def event(report, n: int, **data) -> TimelineEvent:
    return TimelineEvent(report=report, kind=EventKind.RECEIVED, actor_label=f"Ann <b>{n}</b>", at=AT,
                         data={"n": n, "text": "ÆØÅ ' \" --", **data}, is_public=bool(n % 2))


def test_rows_are_stored_exactly_as_bulk_create_stores_them(product):
    report = report_create(product=product, title="t", description="d").report
    ours, theirs = [event(report, 1), event(report, 2)], [event(report, 1), event(report, 2)]

    rows_insert(TimelineEvent, ours)
    TimelineEvent.objects.bulk_create(theirs)

    for mine, reference in zip(ours, theirs, strict=True):
        assert mine.pk is not None and not mine._state.adding
        assert stored(TimelineEvent, mine.pk) == stored(TimelineEvent, reference.pk)


def test_sealed_report_columns_round_trip(product):
    original = report_create(product=product, title="Heap overflow <script>", description="secret text").report
    copy = Report.objects.get(pk=original.pk)
    copy.reseal_all()  # reads the plaintext under the envelopes' own number
    copy.pk, copy._state.adding, copy.number = None, True, original.number + 1000
    copy.tracking_token_hash = "0" * 64  # unique per report
    copy.seal_pending()

    rows_insert(Report, [copy])

    again = Report.objects.get(pk=copy.pk)
    assert (again.title, again.description, again.number) == ("Heap overflow <script>", "secret text",
                                                              original.number + 1000)


def test_many_rows_are_split_under_the_parameter_limit_and_get_their_keys_in_order(product):
    report = report_create(product=product, title="t", description="d").report
    tokens = [ReportSearchToken(organisation_id=report.organisation_id, token=n, report_id=report.pk)
              for n in range(1, 1201)]  # 3 columns: 3,600 parameters, over SQLite's 999
    events = [event(report, n) for n in range(300)]

    rows_insert(ReportSearchToken, tokens, returning=False)
    rows_insert(TimelineEvent, events)

    assert ReportSearchToken.objects.filter(report=report, token__gte=1, token__lte=1200).count() == 1200
    assert [TimelineEvent.objects.get(pk=e.pk).data["n"] for e in events] == list(range(300))


def test_expressions_and_saved_instances_go_through_bulk_create(product):
    report = report_create(product=product, title="t", description="d").report
    with_expression = event(report, 7)
    with_expression.actor_label = Concat(Value("by "), Value("someone"))

    rows_insert(TimelineEvent, [with_expression])

    assert TimelineEvent.objects.get(pk=with_expression.pk).actor_label == "by someone"


def test_nothing_to_insert_runs_no_statement(product):
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        rows_insert(TimelineEvent, [])
    assert captured.captured_queries == []
