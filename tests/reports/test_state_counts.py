"""The queue header's per-state counts come from counters the services keep in the same
transaction as each change: they always equal a live count of the reports, for every member's
view (whole organisation, product-scoped, a developer's assigned reports), across creates,
batches, every transition, failures that roll back, and a rebuild."""

import random
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count

from tests.factories.core import make_member, make_organisation, make_product, make_report, verified_login
from vulndesk.core.errors import DomainError
from vulndesk.organisations.models import Role
from vulndesk.organisations.services import membership_products_set
from vulndesk.reports.models import Report, ReportStateCount
from vulndesk.reports.selectors import report_state_counts
from vulndesk.reports.services import (
    ReportSubmission,
    report_assign,
    report_state_counts_rebuild,
    report_transition,
    reports_create,
)
from vulndesk.reports.states import TRANSITIONS, ReportState

CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def live_counts(reports) -> dict[str, int]:
    counted = dict(reports.values_list("state").annotate(n=Count("id")).order_by())
    return {state: counted.get(state, 0) for state in ReportState.values}


def assert_counters_match(organisation):
    """Every (product, state) counter equals the live count of its reports."""
    live = {(row["product_id"], row["state"]): row["n"] for row in
            Report.objects.filter(organisation=organisation).values("product_id", "state").annotate(n=Count("id"))}
    kept = {(c.product_id, c.state): c.count for c in ReportStateCount.objects.filter(organisation=organisation)
            if c.count}
    assert kept == live


def move(report, to, actor, original=None):
    extra = {"cvss_vector": CRITICAL} if to == ReportState.ACCEPTED else {}
    return report_transition(report=report, actor=actor, to=to, duplicate_of=original, **extra)


def test_creates_count_into_their_initial_state(frozen_clock, organisation, product, triager):
    make_report(product)
    make_report(product)
    make_report(product, acknowledge=False)

    counts = report_state_counts(member=triager)

    assert counts["acknowledged"] == 2 and counts["new"] == 1
    assert sum(counts.values()) == 3
    assert_counters_match(organisation)


def test_every_legal_transition_moves_one_report_between_two_counters(frozen_clock, organisation, product, triager):
    original = make_report(product).report
    for source, targets in TRANSITIONS.items():
        for target in targets:
            report = make_report(product, acknowledge=source != ReportState.NEW).report
            # Walk the report to ``source`` along legal moves, then take the move under test.
            for step in [] if source == ReportState.NEW else _path_to(source):
                report = move(report, step, triager, original)
            before = report_state_counts(member=triager)
            move(report, target, triager, original)
            after = report_state_counts(member=triager)
            changed = {state: after[state] - before[state] for state in after if after[state] != before[state]}
            assert changed == {source: -1, target: +1}, (source, target)
    assert_counters_match(organisation)


def _path_to(state: ReportState) -> list[ReportState]:
    """Legal moves from acknowledged to ``state`` (breadth-first over the table)."""
    paths = {ReportState.ACKNOWLEDGED: []}
    frontier = [ReportState.ACKNOWLEDGED]
    while frontier:
        current = frontier.pop(0)
        for following in sorted(TRANSITIONS[current]):
            if following not in paths:
                paths[following] = paths[current] + [following]
                frontier.append(following)
    return paths[state]


def test_random_walks_over_many_reports_keep_the_counters_exact(frozen_clock, organisation, product, triager):
    other_product = make_product(organisation)
    rng = random.Random(7)
    reports = [make_report(rng.choice([product, other_product])).report for _ in range(12)]
    original = reports[0]
    for _ in range(60):
        report = rng.choice(reports[1:])
        targets = sorted(TRANSITIONS[ReportState(report.state)])
        if targets:
            move(report, rng.choice(targets), triager, original)
    assert_counters_match(organisation)
    assert report_state_counts(member=triager) == live_counts(Report.objects.filter(organisation=organisation))


def test_a_refused_transition_changes_no_counter(frozen_clock, organisation, product, triager):
    report = make_report(product).report
    before = report_state_counts(member=triager)

    with pytest.raises(DomainError):
        report_transition(report=report, actor=triager, to=ReportState.ACCEPTED)  # no severity
    with pytest.raises(DomainError):
        report_transition(report=Report.objects.get(pk=report.pk), actor=triager, to=ReportState.FIXED)  # illegal

    assert report_state_counts(member=triager) == before
    assert_counters_match(organisation)


def test_a_batch_counts_every_report_and_a_refused_batch_counts_none(frozen_clock, organisation, product, triager):
    reports_create(product=product, actor=triager,
                   submissions=[ReportSubmission(title=f"Finding {n}", description="d") for n in range(5)])
    with pytest.raises(DomainError):
        reports_create(product=product, actor=triager, submissions=[
            ReportSubmission(title="Fine", description="d"), ReportSubmission(title=" ", description="d")])

    assert report_state_counts(member=triager)["acknowledged"] == 5
    assert_counters_match(organisation)


def test_a_product_scoped_member_counts_only_their_products(frozen_clock, organisation, product, owner):
    other = make_product(organisation)
    scoped = make_member(organisation, Role.TRIAGER)
    membership_products_set(membership=scoped, product_ids=[product.pk], actor=owner)
    for _ in range(3):
        make_report(product)
    make_report(other)

    scoped = type(scoped).objects.get(pk=scoped.pk)  # a fresh product scope
    assert report_state_counts(member=scoped)["acknowledged"] == 3
    assert report_state_counts(member=owner)["acknowledged"] == 4


def test_a_developer_counts_only_the_reports_assigned_to_them(frozen_clock, organisation, product, owner):
    developer = make_member(organisation, Role.DEVELOPER)
    mine = make_report(product).report
    make_report(product)
    report_assign(report=mine, actor=owner, assignee=developer.user)

    assert report_state_counts(member=developer)["acknowledged"] == 1
    move(Report.objects.get(pk=mine.pk), ReportState.INVALID, owner)
    assert report_state_counts(member=developer) == {**dict.fromkeys(ReportState.values, 0), "invalid": 1}


def test_another_organisations_reports_never_count(frozen_clock, organisation, product, triager):
    elsewhere = make_organisation()
    make_report(make_product(elsewhere))
    make_report(product)

    assert sum(report_state_counts(member=triager).values()) == 1


def test_the_rebuild_and_the_reindex_command_recount_from_the_reports(frozen_clock, organisation, product, triager):
    for _ in range(4):
        make_report(product)
    ReportStateCount.objects.update(count=999)
    ReportStateCount.objects.create(organisation=organisation, product=product, state="fixed", count=5)

    report_state_counts_rebuild(organisation_id=organisation.pk)
    assert_counters_match(organisation)

    ReportStateCount.objects.all().delete()
    call_command("reports_reindex", "--counts", "--organisation", organisation.slug, stdout=StringIO())
    assert report_state_counts(member=triager)["acknowledged"] == 4


def test_the_queue_page_shows_the_counts(client, frozen_clock, organisation, product, triager):
    for _ in range(3):
        make_report(product)
    report = make_report(product).report
    move(report, ReportState.INVALID, triager)
    verified_login(client, triager.user)

    html = client.get(f"/o/{organisation.slug}/reports/").content.decode()

    assert "Acknowledged <strong>3</strong>" in html
    assert "Invalid <strong>1</strong>" in html
