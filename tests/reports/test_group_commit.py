"""Group commit of report creation (reports/services/creation.py, ``_GroupCommit``): the creates
that one process's threads make at the same time share one write transaction, each answered
only after its own rows are committed; a create that cannot be written fails alone.

Real threads on a real SQLite *file* (the test database copied to disk, the write queue of
core/sqlite/base.py active), or the PostgreSQL test database as it is."""

import contextlib
import json
import sqlite3
import threading
import time

import pytest
from django.db import IntegrityError, connection, connections

from tests.factories.core import make_member, make_organisation, make_product
from vulndesk.audit.models import AuditEntry
from vulndesk.audit.selectors import audit_chain_problems
from vulndesk.core.errors import DomainError
from vulndesk.reports import services
from vulndesk.reports.models import Report, ReportSearchToken, ReportStateCount, TimelineEvent
from vulndesk.reports.services import creation
from vulndesk.reports.states import ReportState

pytestmark = pytest.mark.django_db(transaction=True)  # real BEGIN/COMMIT: the group commit runs

POISON_CWE = 99999  # a valid CWE number that the trigger made below refuses at INSERT time


@pytest.fixture
def world():
    organisation = make_organisation()
    other = make_organisation()
    return {
        "organisation": organisation, "product": make_product(organisation),
        "second_product": make_product(organisation), "owner": make_member(organisation, role="owner"),
        "other_product": make_product(other), "other_owner": make_member(other, role="owner"),
    }


@contextlib.contextmanager
def file_copy(tmp_path):
    """From here on, new threads open the database as the main thread has written it so far:
    on SQLite a copy on disk (the in-memory test database has no write queue and no file
    locks), on PostgreSQL the test database itself."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # the same refusal as the SQLite trigger below
            cursor.execute(
                "CREATE FUNCTION test_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.cwe_id = {POISON_CWE} THEN RAISE EXCEPTION 'poisoned report' USING ERRCODE = '23514'; "
                "END IF; RETURN NEW; END $$")
            cursor.execute("CREATE TRIGGER poison BEFORE INSERT ON reports_report FOR EACH ROW "
                           "EXECUTE FUNCTION test_poison()")
        try:
            yield
        finally:
            with connection.cursor() as cursor:  # the flush after the test keeps triggers: drop it
                cursor.execute("DROP TRIGGER poison ON reports_report")
                cursor.execute("DROP FUNCTION test_poison()")
        return
    path = tmp_path / "group-commit.sqlite3"
    target = sqlite3.connect(path)
    connection.ensure_connection()
    connection.connection.backup(target)
    target.execute("PRAGMA journal_mode=WAL")
    target.execute(
        f"CREATE TRIGGER poison BEFORE INSERT ON reports_report WHEN NEW.cwe_id = {POISON_CWE} "
        "BEGIN SELECT RAISE(ABORT, 'poisoned report'); END")
    target.close()
    original = connections.settings["default"]
    options = {**original.get("OPTIONS", {}), "transaction_mode": "IMMEDIATE", "timeout": 20}
    connections.settings["default"] = {**original, "NAME": str(path), "OPTIONS": options}
    try:
        yield
    finally:
        connections.settings["default"] = original


@pytest.fixture
def shared_database(world, tmp_path):
    """``world`` in the database new threads open; yields ``in_thread`` to read it back."""
    with file_copy(tmp_path):
        yield in_thread


def in_thread(work):
    """``work()`` in a new thread with its own connection; returns its result or raises its error."""
    outcome = {}

    def run():
        try:
            outcome["result"] = work()
        except BaseException as error:  # noqa: BLE001 - handed to the caller
            outcome["error"] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


@pytest.fixture
def group_sizes(monkeypatch):
    """Records how many creates each write transaction held; the first one waits a little with
    the write lock held, so that the threads started with it queue behind it."""
    sizes = []
    write = creation._units_write

    def recording(units):
        sizes.append(len(units))
        if len(sizes) == 1:
            time.sleep(0.3)
        return write(units)

    monkeypatch.setattr(creation, "_units_write", recording)
    return sizes


def create_at_once(submissions: list[tuple]) -> list:
    """One thread per (product, member, fields), started together; results or errors in order."""
    outcomes = [None] * len(submissions)
    barrier = threading.Barrier(len(submissions))

    def run(index, product, member, fields):
        try:
            barrier.wait()
            outcomes[index] = services.report_create(product=product, actor=member, **fields)
        except Exception as error:  # noqa: BLE001 - asserted by the caller
            outcomes[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index, *submission)) for index, submission in enumerate(submissions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def fields(n: int, **extra) -> dict:
    return {"title": f"Stored XSS in widget {n}", "description": f"Finding {n}", "source": "api"} | extra


def test_concurrent_creates_share_write_transactions_and_each_gets_its_committed_report(
        world, shared_database, group_sizes):
    product, second, owner = world["product"], world["second_product"], world["owner"]
    submissions = [(product if n % 2 else second, owner, fields(n)) for n in range(8)]

    outcomes = create_at_once(submissions)

    assert all(isinstance(outcome, services.ReportCreated) for outcome in outcomes), outcomes
    assert sum(group_sizes) == 8 and max(group_sizes) > 1, group_sizes  # some creates shared a transaction
    assert sorted(outcome.report.number for outcome in outcomes) == list(range(1, 9))

    def stored():
        reports = {r.number: r for r in Report.objects.filter(organisation=world["organisation"])}
        return {
            "reports": {n: (r.title, r.product_id, r.state) for n, r in reports.items()},
            "received_events": TimelineEvent.objects.filter(kind="received").count(),
            "tokens": ReportSearchToken.objects.filter(report__in=reports.values()).count(),
            "audit": sorted(int(e.target_id) for e in AuditEntry.objects.filter(action="report.create")),
            "ids": sorted(r.pk for r in reports.values()),
            "counts": {(c.product_id, c.state): c.count for c in ReportStateCount.objects.filter(count__gt=0)},
            "chain": audit_chain_problems(),
            "last_number": type(world["organisation"]).objects.get(pk=world["organisation"].pk).last_report_number,
        }

    after = shared_database(stored)
    for outcome, (submitted_product, _, submitted) in zip(outcomes, submissions, strict=True):
        assert after["reports"][outcome.report.number] == (submitted["title"], submitted_product.pk,
                                                           ReportState.ACKNOWLEDGED)
    assert after["received_events"] == 8 and after["tokens"] > 0
    assert after["audit"] == after["ids"]  # one audit entry per report
    assert after["chain"] == []
    assert after["counts"] == {(product.pk, ReportState.ACKNOWLEDGED): 4, (second.pk, ReportState.ACKNOWLEDGED): 4}
    assert after["last_number"] == 8


def test_creates_of_two_organisations_in_one_group_number_apart(world, shared_database, group_sizes):
    submissions = [(world["product"], world["owner"], fields(n)) for n in range(3)]
    submissions += [(world["other_product"], world["other_owner"], fields(n)) for n in range(3, 6)]

    outcomes = create_at_once(submissions)

    assert all(isinstance(outcome, services.ReportCreated) for outcome in outcomes), outcomes
    numbers = {}
    for outcome in outcomes:
        numbers.setdefault(outcome.report.organisation_id, []).append(outcome.report.number)
    assert sorted(map(sorted, numbers.values())) == [[1, 2, 3], [1, 2, 3]]
    assert max(group_sizes) > 1, group_sizes
    assert shared_database(audit_chain_problems) == []


def test_a_create_the_database_refuses_fails_alone_and_the_others_of_its_group_commit(
        world, shared_database, group_sizes):
    product, owner = world["product"], world["owner"]
    submissions = [(product, owner, fields(n)) for n in range(6)]
    submissions.insert(3, (product, owner, fields(99, cwe_id=POISON_CWE)))

    outcomes = create_at_once(submissions)

    assert isinstance(outcomes[3], IntegrityError) and "poisoned report" in str(outcomes[3])
    good = [outcome for index, outcome in enumerate(outcomes) if index != 3]
    assert all(isinstance(outcome, services.ReportCreated) for outcome in good), outcomes
    assert max(group_sizes) > 1, group_sizes
    # The failed group was rolled back whole, so the numbers it took were given back.
    assert sorted(outcome.report.number for outcome in good) == list(range(1, 7))

    def stored():
        # Reading the titles decrypts them: the retried reports were sealed again under the
        # numbers they got in their own transactions.
        return ({r.number: r.title for r in Report.objects.all()}, Report.objects.filter(cwe_id=POISON_CWE).exists(),
                AuditEntry.objects.filter(action="report.create").count(), audit_chain_problems())

    titles, poisoned_stored, audited, chain = shared_database(stored)
    assert titles == {outcome.report.number: outcome.report.title for outcome in good}
    assert sorted(titles) == list(range(1, 7)) and not poisoned_stored and audited == 6 and chain == []


def test_an_invalid_create_among_concurrent_valid_ones_is_refused_alone(world, shared_database, group_sizes):
    product, owner = world["product"], world["owner"]
    submissions = [(product, owner, fields(n)) for n in range(5)]
    submissions.insert(2, (product, owner, fields(9, title="   ")))

    outcomes = create_at_once(submissions)

    assert isinstance(outcomes[2], DomainError) and outcomes[2].field == "title"
    good = [outcome for index, outcome in enumerate(outcomes) if index != 2]
    assert all(isinstance(outcome, services.ReportCreated) for outcome in good), outcomes
    assert sorted(outcome.report.number for outcome in good) == list(range(1, 6))
    assert shared_database(lambda: Report.objects.count()) == 5


def test_inside_a_callers_transaction_the_create_is_written_in_it(world, monkeypatch):
    from django.db import transaction

    leads = []
    monkeypatch.setattr(creation._GroupCommit, "_lead", lambda self, me: leads.append(me))
    with transaction.atomic():
        created = services.report_create(product=world["product"], actor=world["owner"], **fields(1))
        assert Report.objects.filter(pk=created.report.pk).exists()
    assert leads == []  # the group commit was not used: the caller's transaction holds the rows


def test_concurrent_api_creates_with_tokens_each_answer_201_with_their_own_committed_report(world, tmp_path, settings):
    from django.test import Client

    from vulndesk.accounts.api_tokens import api_token_create

    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api": (600, 60)}  # the default: leased permits
    product, owner = world["product"], world["owner"]
    _, raw = api_token_create(organisation=world["organisation"], product=product, permission="report:create",
                              name="CI", lifetime_days=1, created_by=owner.user)
    url = f"/api/v1/organisations/{world['organisation'].slug}/reports/"
    answers, barrier = [], threading.Barrier(4)

    def client_thread(n):
        client = Client()
        barrier.wait()
        for k in range(3):
            body = {"product": product.slug, "title": f"Finding {n}-{k}", "description": "<script>x</script>"}
            response = client.post(url, json.dumps(body), content_type="application/json",
                                   HTTP_AUTHORIZATION=f"Token {raw}")
            answers.append((response.status_code, response.json()))
        connections.close_all()

    with file_copy(tmp_path):
        threads = [threading.Thread(target=client_thread, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        stored = in_thread(lambda: ({r.number: r.title for r in Report.objects.all()}, audit_chain_problems(),
                                    AuditEntry.objects.filter(action="report.create").count()))

    assert [status for status, _ in answers] == [201] * 12, answers
    numbers = sorted(body["number"] for _, body in answers)
    assert numbers == list(range(1, 13))
    titles, chain, audited = stored
    assert titles == {body["number"]: body["title"] for _, body in answers}
    assert chain == [] and audited == 12
