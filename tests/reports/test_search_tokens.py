"""Word search over sealed titles through the token table: the rows mirror each report's blind
index and never hold a word; both search strategies (a rare word fetched by id, a common word
probed along the queue index) give the same answers; tenants never see each other's reports,
even for the same word; key rotation, title changes and a rebuild keep the rows right."""

import os
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection

from tests.factories.core import make_member, make_organisation, make_product, make_report
from vulndesk.organisations import keys
from vulndesk.organisations.models import Role
from vulndesk.organisations.sealing import search_tokens
from vulndesk.reports import selectors
from vulndesk.reports.models import Report, ReportSearchToken, search_token_values
from vulndesk.reports.selectors import QueueFilters, reports_for_queue

TITLES = {
    "sqli": "SQL injection in the search endpoint",
    "xss": "Stored XSS in the comment editor",
    "xxe": "XML external entity injection in the import",
    "redirect": "Open redirect after login",
    "cmd": "Command injection through the backup name",
}


def found(member, q: str, state: str = "all") -> set[int]:
    page = reports_for_queue(member=member, filters=QueueFilters(q=q, state=state), limit=200)
    return {report.number for report in page.reports}


@pytest.fixture
def world(frozen_clock, organisation, product, triager):
    numbers = {name: make_report(product, title=title).report.number for name, title in TITLES.items()}
    return triager, numbers


@pytest.fixture(params=["fetch by id", "probe the queue index"])
def strategy(request, monkeypatch):
    """Run a test under both strategies: every word 'rare' (fetched by id) or every word 'common'."""
    monkeypatch.setattr(selectors, "WORD_FETCH_MAX_REPORTS", 1000 if request.param == "fetch by id" else 0)
    return request.param


def test_creating_a_report_writes_one_token_row_per_distinct_title_word(world):
    member, numbers = world
    report = Report.objects.get(organisation_id=member.organisation_id, number=numbers["sqli"])

    rows = ReportSearchToken.objects.filter(report=report)

    assert sorted(rows.values_list("token", flat=True)) == sorted(search_token_values(report.search_index))
    assert rows.count() == 6  # sql, injection, in, the, search, endpoint
    assert set(rows.values_list("organisation_id", flat=True)) == {member.organisation_id}


def test_token_rows_hold_keyed_hashes_never_the_words(world):
    member, _ = world
    stored = {str(value) for value in ReportSearchToken.objects.values_list("token", flat=True)}
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT * FROM "{ReportSearchToken._meta.db_table}"')
        raw = " ".join(str(value) for row in cursor.fetchall() for value in row).lower()

    for word in ("injection", "sql", "xss", "redirect", "editor"):
        assert word not in raw
        assert word not in stored


def test_a_word_finds_every_report_with_it_and_no_other(world, strategy):
    member, numbers = world

    assert found(member, "injection") == {numbers["sqli"], numbers["xxe"], numbers["cmd"]}
    assert found(member, "INJECTION") == {numbers["sqli"], numbers["xxe"], numbers["cmd"]}
    assert found(member, "redirect") == {numbers["redirect"]}


def test_several_words_must_all_be_in_the_title(world, strategy):
    member, numbers = world

    assert found(member, "injection search") == {numbers["sqli"]}
    assert found(member, "the injection") == {numbers["sqli"], numbers["xxe"], numbers["cmd"]}
    assert found(member, "injection redirect") == set()


def test_a_word_in_no_title_finds_nothing(world, strategy):
    member, _ = world

    assert found(member, "typosquatting") == set()
    assert found(member, "!!! ??? ...") == set()  # no word at all


def test_a_word_search_keeps_the_other_filters_and_the_deadline_order(world, strategy, frozen_clock):
    member, numbers = world
    Report.objects.filter(number=numbers["xxe"]).update(state="invalid", is_open=False)

    assert found(member, "injection", state="open") == {numbers["sqli"], numbers["cmd"]}
    page = reports_for_queue(member=member, filters=QueueFilters(q="injection", state="all"), limit=200)
    keys_in_order = [(r.next_due_at, r.pk) for r in page.reports]
    assert keys_in_order == sorted(keys_in_order)


def test_a_common_word_pages_with_the_cursor_without_losing_a_report(frozen_clock, product, triager, monkeypatch):
    monkeypatch.setattr(selectors, "WORD_FETCH_MAX_REPORTS", 3)  # "injection" is then common
    expected = {make_report(product, title=f"Injection number {n}").report.number for n in range(7)}
    make_report(product, title="Unrelated finding")

    seen, cursor = [], ""
    while True:
        page = reports_for_queue(member=triager, filters=QueueFilters(q="injection", state="all"), cursor=cursor,
                                 limit=2)
        seen += [r.number for r in page.reports]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert sorted(seen) == sorted(expected) and len(seen) == len(set(seen))


# --- tenants -------------------------------------------------------------------------------

def test_the_same_word_in_two_organisations_finds_only_ones_own_reports(db, frozen_clock, strategy):
    alpha, beta = make_organisation(), make_organisation()
    alpha_member, beta_member = make_member(alpha, Role.TRIAGER), make_member(beta, Role.TRIAGER)
    alpha_report = make_report(make_product(alpha), title="Deserialization flaw in alpha").report
    beta_report = make_report(make_product(beta), title="Deserialization flaw in beta").report

    assert found(alpha_member, "deserialization") == {alpha_report.number}
    assert found(beta_member, "deserialization") == {beta_report.number}
    # Each organisation has its own index key: the same word is a different token in each.
    alpha_tokens = set(ReportSearchToken.objects.filter(report=alpha_report).values_list("token", flat=True))
    beta_tokens = set(ReportSearchToken.objects.filter(report=beta_report).values_list("token", flat=True))
    assert not alpha_tokens & beta_tokens


def test_a_token_of_another_organisation_planted_in_the_table_finds_nothing(db, frozen_clock):
    alpha, beta = make_organisation(), make_organisation()
    beta_member = make_member(beta, Role.TRIAGER)
    make_report(make_product(beta), title="Nothing to see")
    alpha_report = make_report(make_product(alpha), title="Secret word zanzibar").report
    # A row claiming BETA for ALPHA's report and BETA's token of the word: the report filter
    # (organisation first) still keeps ALPHA's report out.
    beta_token = search_token_values(search_tokens(organisation_id=beta.pk, text="zanzibar"))[0]
    ReportSearchToken.objects.create(organisation=beta, token=beta_token, report=alpha_report)

    assert found(beta_member, "zanzibar") == set()


# --- keeping the rows right -----------------------------------------------------------------

def test_key_rotation_keeps_the_token_rows_and_search(world):
    member, numbers = world
    before = sorted(ReportSearchToken.objects.values_list("report_id", "token"))

    call_command("keys", "rotate", organisation=member.organisation.slug, settle_seconds=0,
                 stdout=open(os.devnull, "w"))  # noqa: SIM115
    keys.forget_cached_keys()

    assert keys.envelope_version(Report.objects.get(number=numbers["sqli"]).sealed_title) == 2
    assert sorted(ReportSearchToken.objects.values_list("report_id", "token")) == before
    assert found(member, "injection") == {numbers["sqli"], numbers["xxe"], numbers["cmd"]}


def test_a_title_saved_again_moves_the_token_rows_with_it(world):
    member, numbers = world
    report = Report.objects.get(number=numbers["redirect"])

    report.title = "Open redirect via the logout page"
    report.save()

    assert sorted(ReportSearchToken.objects.filter(report=report).values_list("token", flat=True)) == sorted(
        search_token_values(Report.objects.get(pk=report.pk).search_index))
    assert found(member, "logout") == {numbers["redirect"]}
    assert found(member, "login") == set()
    assert found(member, "redirect") == {numbers["redirect"]}


def test_a_save_that_does_not_touch_the_title_writes_no_token_rows(world, django_assert_num_queries):
    member, numbers = world
    report = Report.objects.get(number=numbers["xss"])
    report.impact = "Session theft"

    with django_assert_num_queries(1):  # the UPDATE of the report alone
        report.save()


def test_the_rebuild_restores_lost_or_wrong_token_rows(world):
    member, numbers = world
    expected = sorted(ReportSearchToken.objects.values_list("organisation_id", "report_id", "token"))
    ReportSearchToken.objects.filter(report__number=numbers["xss"]).delete()
    wrong = ReportSearchToken.objects.filter(report__number=numbers["sqli"]).first()
    ReportSearchToken.objects.filter(pk=wrong.pk).update(token=42)

    call_command("reports_reindex", "--search", "--batch-size", "2", stdout=StringIO())

    assert sorted(ReportSearchToken.objects.values_list("organisation_id", "report_id", "token")) == expected
    assert found(member, "xss") == {numbers["xss"]}


def test_the_migration_backfill_writes_the_rows_the_services_write(world):
    migration = __import__("vulndesk.reports.migrations.0004_search_tokens_state_counts", fromlist=["backfill"])
    expected = sorted(ReportSearchToken.objects.values_list("organisation_id", "report_id", "token"))
    ReportSearchToken.objects.all().delete()
    apps.get_model("reports", "ReportStateCount").objects.all().delete()

    migration.backfill(apps, None)

    assert sorted(ReportSearchToken.objects.values_list("organisation_id", "report_id", "token")) == expected


def test_the_reindex_command_explains_itself_and_refuses_bad_input(db):
    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("reports_reindex", "--help", stdout=out)
    with pytest.raises(CommandError, match="No organisation"):
        call_command("reports_reindex", "--organisation", "../../etc/passwd", stdout=StringIO())
    with pytest.raises(CommandError, match="No organisation"):
        call_command("reports_reindex", "--organisation", "x' OR '1'='1", stdout=StringIO())
    with pytest.raises(CommandError, match="batch-size"):
        call_command("reports_reindex", "--batch-size", "0", stdout=StringIO())
    with pytest.raises(CommandError, match="batch-size"):
        call_command("reports_reindex", "--batch-size", str(10**9), stdout=StringIO())
