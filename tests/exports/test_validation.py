"""The validation module: official schemas from VULNDESK_SCHEMA_DIR, FIRST's CVSS schemas
resolved offline for CSAF, formats checked, and a failing document refused with the
validator's own messages (path and message)."""

import copy

import pytest
from django.core.exceptions import ImproperlyConfigured

from vulndesk.exports.content import PUBLISHED
from vulndesk.exports.formats import FORMATS
from vulndesk.exports.validation import CSAF, CVE, OSV, ExportInvalid, check_document, require_valid


@pytest.fixture
def documents(rich_advisory):
    return {key: export_format.build(rich_advisory, PUBLISHED) for key, export_format in FORMATS.items()}


def test_a_broken_csaf_document_is_refused_with_the_validators_path_and_message(documents):
    broken = copy.deepcopy(documents["csaf"])
    broken["document"]["category"] = ""
    del broken["document"]["tracking"]["version"]
    with pytest.raises(ExportInvalid) as refused:
        require_valid(CSAF, broken, label="CSAF 2.0 advisory")
    assert refused.value.messages == [
        "$.document.category: '' does not match the required pattern",
        "$.document.category: '' should be non-empty",
        "$.document.tracking: 'version' is a required property",
    ]
    assert refused.value.status_code == 422
    assert str(refused.value).startswith("The CSAF 2.0 advisory document does not pass its schema: $.document.category")


def test_a_bad_cvss_value_inside_csaf_is_caught_by_firsts_registered_cvss_schema(documents):
    broken = copy.deepcopy(documents["csaf"])
    broken["vulnerabilities"][0]["scores"][0]["cvss_v3"]["attackVector"] = "SATELLITE"
    messages = check_document(CSAF, broken).messages
    assert messages == ["$.vulnerabilities[0].scores[0].cvss_v3.attackVector: 'SATELLITE' is not one of "
                        "['NETWORK', 'ADJACENT_NETWORK', 'LOCAL', 'PHYSICAL']"]


def test_formats_are_checked_so_an_impossible_date_is_refused(documents):
    broken = copy.deepcopy(documents["osv"])
    broken["modified"] = "2026-13-45T99:99:99Z"  # matches OSV's pattern, fails RFC 3339
    assert check_document(OSV, broken).messages == ["$.modified: '2026-13-45T99:99:99Z' is not a 'date-time'"]


def test_a_relative_url_is_refused_in_csaf(documents):
    broken = copy.deepcopy(documents["csaf"])
    broken["document"]["publisher"]["namespace"] = "not a url"
    assert check_document(CSAF, broken).messages == ["$.document.publisher.namespace: 'not a url' is not a 'uri'"]


def test_an_osv_id_without_the_local_prefix_fails_the_osv_schema(documents):
    broken = dict(documents["osv"], id="ACME-2026-0001")
    assert check_document(OSV, broken).messages == ["$.id: 'ACME-2026-0001' does not match the required pattern"]


def test_a_broken_cve_container_is_refused_with_cvelibs_messages(documents):
    broken = copy.deepcopy(documents["cve"])
    broken["affected"][0]["versions"][0]["status"] = "maybe"
    broken["references"] = []
    messages = check_document(CVE, broken).messages
    assert "$.references: [] should be non-empty" in messages
    assert any(m.startswith("$.affected[0].versions[0].status: 'maybe' is not one of") for m in messages)


def test_a_cve_reference_that_is_no_url_is_refused_by_the_format_check(documents):
    broken = copy.deepcopy(documents["cve"])
    broken["references"][0]["url"] = "see the advisory"
    assert check_document(CVE, broken).messages == ["$.references[0].url: 'see the advisory' is not a 'uri'"]


def test_at_most_ten_messages_are_listed_and_the_rest_counted(documents):
    broken = copy.deepcopy(documents["csaf"])
    for reference in broken["vulnerabilities"][0]["references"] * 4:
        broken["vulnerabilities"][0]["references"].append(dict(reference, category="nowhere"))
    messages = check_document(CSAF, broken).messages
    assert len(messages) == 11
    assert messages[-1] == "… and 2 more"


def test_without_a_schema_directory_only_the_cve_schema_is_available(settings, documents):
    settings.VULNDESK_SCHEMA_DIR = None
    osv = check_document(OSV, documents["osv"])
    assert (osv.is_available, osv.is_valid, osv.source) == (False, False, "VULNDESK_SCHEMA_DIR is not set")
    assert check_document(CSAF, {"not": "csaf"}).is_available is False
    assert require_valid(CSAF, {"not": "csaf"}, label="CSAF").is_available is False  # unchecked, not refused
    assert check_document(CVE, documents["cve"]).is_valid


def test_a_schema_directory_without_the_osv_schema_reports_it_missing(settings, tmp_path, documents):
    settings.VULNDESK_SCHEMA_DIR = str(tmp_path)
    result = check_document(OSV, documents["osv"])
    assert (result.is_available, result.source) == (False, f"{tmp_path.resolve()} has no osv/unreleased-*/schema.json")


def test_a_schema_directory_that_does_not_exist_is_a_configuration_error(settings, tmp_path, documents):
    settings.VULNDESK_SCHEMA_DIR = str(tmp_path / "nowhere")
    with pytest.raises(ImproperlyConfigured, match="is not a directory"):
        check_document(OSV, documents["osv"])


def test_an_abbreviated_git_commit_is_reported_at_the_event_that_holds_it(documents):
    broken = copy.deepcopy(documents["osv"])
    git = next(i for i, entry in enumerate(broken["affected"]) if entry["ranges"][0]["type"] == "GIT")
    broken["affected"][git]["ranges"][0]["events"][1] = {"fixed": "9f2c1ab"}  # OSV wants the full hash
    assert check_document(OSV, broken).messages == [
        f"$.affected[{git}].ranges[0].events[1].fixed: '9f2c1ab' does not match the required pattern"]
