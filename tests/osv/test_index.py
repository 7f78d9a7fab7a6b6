"""The OSV index follows what is published: filled on publish from the public document, replaced
by a new revision, marked on withdrawal, never touched by unpublished edits."""

import json

import pytest

from tests.osv.conftest import pkg
from vulndesk.advisories.ecosystems import INFINITY_KEY, ZERO_KEY, InvalidEcosystemVersion, version_key
from vulndesk.advisories.services import (
    advisory_transition,
    advisory_update,
    advisory_withdraw,
    affected_packages_set,
)
from vulndesk.osv.index import entries_for_document
from vulndesk.osv.models import AffectedRangeIndex, OsvAlias
from vulndesk.osv.queries import query_from_json
from vulndesk.osv.selectors import vulnerabilities_for_query, vulnerability_document
from vulndesk.osv.services import osv_index_rebuild

pytestmark = pytest.mark.django_db


def rows(advisory):
    return list(AffectedRangeIndex.objects.filter(advisory=advisory).order_by("id"))


def ids(query: dict) -> list[str]:
    return [json.loads(document)["id"] for document in vulnerabilities_for_query(query=query_from_json(query))]


def test_publishing_writes_one_row_per_interval_listed_version_and_commit(published):
    advisory = published(
        pkg("PyPI", "Parser_Lib", [{"introduced": "1.0"}, {"fixed": "1.2"}],
            [{"introduced": "2.0"}, {"last_affected": "2.3"}], versions=["0.9"]),
        pkg("GIT", "parser", [{"introduced": "a" * 40}, {"fixed": "b" * 40}]),
    )
    index = rows(advisory)
    assert [(r.ecosystem, r.package, r.kind) for r in index] == [
        ("PyPI", "parser-lib", "ECOSYSTEM"), ("PyPI", "parser-lib", "ECOSYSTEM"), ("PyPI", "parser-lib", "VERSION"),
        ("GIT", "https://git.example.org/acme/parser.git", "GIT")]
    assert [r.upper_inclusive for r in index[:3]] == [False, True, True]
    assert index[3].commit == "a" * 40
    assert {r.osv_id for r in index} == {f"x_{advisory.identifier}"}
    assert all(not r.is_withdrawn and r.modified == advisory.public_document["modified"] for r in index)


def test_a_range_from_zero_without_fix_spans_every_version(published):
    advisory = published(pkg("npm", "left-pad", [{"introduced": "0"}]))
    (row,) = rows(advisory)
    assert (bytes(row.lower_key), bytes(row.upper_key)) == (ZERO_KEY, INFINITY_KEY)


def test_a_semver_range_in_pypi_spans_every_key_and_is_decided_by_semver_rules(published):
    advisory = published(pkg("PyPI", "parser", [{"introduced": "1.0.0"}, {"fixed": "1.4.0"}], range_type="SEMVER"))
    (row,) = rows(advisory)
    assert (row.comparator, bytes(row.lower_key), bytes(row.upper_key)) == ("SemVer", ZERO_KEY, INFINITY_KEY)
    assert ids({"package": {"ecosystem": "PyPI", "name": "parser"}, "version": "1.3.9"}) == [advisory.public_document["id"]]
    assert ids({"package": {"ecosystem": "PyPI", "name": "parser"}, "version": "1.4.0"}) == []
    assert ids({"package": {"ecosystem": "PyPI", "name": "parser"}, "version": "1.3"}) == []  # not SemVer


def test_package_names_match_per_pep_503_for_pypi_only(published):
    published(pkg("PyPI", "Zope.Interface", [{"introduced": "0"}]))
    published(pkg("npm", "Left-Pad", [{"introduced": "0"}]))
    assert len(ids({"package": {"ecosystem": "pypi", "name": "zope_interface"}, "version": "5.0"})) == 1
    assert ids({"package": {"ecosystem": "npm", "name": "left-pad"}, "version": "1.0.0"}) == []
    assert len(ids({"package": {"ecosystem": "npm", "name": "Left-Pad"}, "version": "1.0.0"})) == 1


def test_a_new_revision_replaces_the_rows_of_the_advisory(published, triager):
    advisory = published(pkg("PyPI", "parser", [{"introduced": "0"}, {"fixed": "1.2"}]))
    query = {"package": {"ecosystem": "PyPI", "name": "parser"}, "version": "1.3"}
    assert ids(query) == []
    affected_packages_set(advisory=advisory, actor=triager, packages=[
        pkg("PyPI", "parser", [{"introduced": "0"}, {"fixed": "1.4"}])])
    assert ids(query) == []  # an unpublished edit changes nothing public
    advisory_transition(advisory=advisory, actor=triager, to="updated", changelog="The fix was incomplete.")
    assert ids(query) == [f"x_{advisory.identifier}"]
    assert len(rows(advisory)) == 1


def test_withdrawal_keeps_the_id_answering_but_drops_the_advisory_from_queries(published, triager):
    advisory = published(pkg("Go", "example.org/parser", [{"introduced": "0"}, {"fixed": "1.2.0"}]))
    query = {"package": {"ecosystem": "Go", "name": "example.org/parser"}, "version": "v1.1.0"}
    assert len(ids(query)) == 1
    advisory_withdraw(advisory=advisory, actor=triager, reason="Not a vulnerability after all.")
    assert ids(query) == []
    assert all(row.is_withdrawn for row in rows(advisory))
    document = vulnerability_document(identifier=f"x_{advisory.identifier}")
    assert document["withdrawn"] and document["modified"] == rows(advisory)[0].modified


def test_aliases_are_indexed_from_the_published_document_only(published, triager):
    advisory = published(pkg("PyPI", "parser", [{"introduced": "0"}]), cve_id="CVE-2026-1000")
    assert list(OsvAlias.objects.filter(advisory=advisory).values_list("alias", flat=True)) == ["CVE-2026-1000"]
    advisory_update(advisory=advisory, actor=triager, ghsa_id="GHSA-abcd-efgh-ijkl")
    assert not OsvAlias.objects.filter(alias="GHSA-ABCD-EFGH-IJKL").exists()
    advisory_transition(advisory=advisory, actor=triager, to="updated", changelog="GHSA id")
    assert OsvAlias.objects.filter(alias="GHSA-ABCD-EFGH-IJKL", advisory=advisory).exists()


def test_rebuild_recreates_the_rows_of_every_public_advisory(published, triager):
    advisory = published(pkg("crates.io", "parser", [{"introduced": "0"}, {"fixed": "0.3.1"}]))
    withdrawn = published(pkg("npm", "parser", [{"introduced": "0"}]))
    advisory_withdraw(advisory=withdrawn, actor=triager, reason="Duplicate")
    AffectedRangeIndex.objects.all().delete()
    assert osv_index_rebuild() == 2
    assert len(rows(advisory)) == 1
    assert [row.is_withdrawn for row in rows(withdrawn)] == [True]


def test_the_reindex_command_rebuilds_the_index(published):
    from io import StringIO

    from django.core.management import call_command

    advisory = published(pkg("crates.io", "parser", [{"introduced": "0"}, {"fixed": "0.3.1"}]))
    AffectedRangeIndex.objects.all().delete()
    out = StringIO()
    call_command("osv_reindex", stdout=out)
    assert "1 rows" in out.getvalue() and len(rows(advisory)) == 1


def test_a_document_with_a_version_its_ecosystem_cannot_read_is_refused():
    document = {"id": "x_A-1", "affected": [{"package": {"ecosystem": "Maven", "name": "g:a"},
                                            "ranges": [{"type": "ECOSYSTEM", "events": [
                                                {"introduced": "0"}, {"fixed": "1.0 beta"}]}]}]}
    with pytest.raises(InvalidEcosystemVersion, match="Affected package 1, range 1, fixed: '1.0 beta'"):
        entries_for_document(document)


def test_limit_events_clip_the_indexed_interval():
    document = {"id": "x_A-1", "affected": [{"package": {"ecosystem": "PyPI", "name": "p"}, "ranges": [
        {"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"limit": "2.0"}]}]}]}
    (entry,) = entries_for_document(document)
    assert (entry.upper_key, entry.upper_inclusive) == (version_key("PyPI", "2.0"), False)


def test_a_plain_semver_product_is_indexed_under_its_database_specific_name(published):
    advisory = published(pkg("SemVer", "acme-router-firmware", [{"introduced": "0"}, {"fixed": "2.4.0"}]))
    assert "package" not in advisory.public_document["affected"][0]
    assert [(r.ecosystem, r.package) for r in rows(advisory)] == [("SemVer", "acme-router-firmware")]


def test_an_entry_without_package_or_product_indexes_only_its_commits():
    document = {"id": "x_A-1", "affected": [{"ranges": [
        {"type": "SEMVER", "events": [{"introduced": "0"}]},
        {"type": "GIT", "repo": "https://git.example.org/r.git", "events": [{"introduced": "a" * 40}]}]}]}
    assert [(entry.ecosystem, entry.kind, entry.commit) for entry in entries_for_document(document)] == [
        ("GIT", "GIT", "a" * 40)]
