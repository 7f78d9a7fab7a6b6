"""Every export of a rich and a minimal advisory passes the official schemas (OSV unreleased,
CSAF 2.0 with FIRST's CVSS schemas registered, cvelib's CVE 5.1.1), and says what it should."""

import pytest
from cvelib.cve_api import CveRecord

from tests.exports.conftest import CVSS3, CVSS4, GIT_FIX, GIT_REPO
from vulndesk.advisories.services import advisory_update, affected_packages_set
from vulndesk.exports.content import DRAFT, PUBLISHED, advisory_content
from vulndesk.exports.csaf import csaf_security_advisory, csaf_vex
from vulndesk.exports.cve import cve_cna_container, cve_record
from vulndesk.exports.formats import FORMATS
from vulndesk.exports.validation import CSAF, CVE, OSV, check_document

ORG_ID = "5f0e5a5c-3c4b-4c3a-9b7e-2f3d1c0b9a8e"


def _product_names(csaf: dict) -> dict[str, str]:
    names = {}

    def walk(branches):
        for branch in branches:
            if "product" in branch:
                names[branch["product"]["product_id"]] = branch["product"]["name"]
            walk(branch.get("branches", []))

    walk(csaf["product_tree"]["branches"])
    return names


def _status_names(csaf: dict, status: str) -> set[str]:
    names = _product_names(csaf)
    return {names[i] for i in csaf["vulnerabilities"][0]["product_status"].get(status, [])}


@pytest.mark.parametrize("key", sorted(FORMATS))
@pytest.mark.parametrize("edition", [PUBLISHED, DRAFT])
def test_every_format_of_the_rich_advisory_passes_its_official_schema(rich_advisory, key, edition):
    export_format = FORMATS[key]
    result = check_document(export_format.schema, export_format.build(rich_advisory, edition))
    assert result.is_available, result.source
    assert result.messages == []


@pytest.mark.parametrize("key", sorted(FORMATS))
def test_every_format_of_the_minimal_advisory_passes_its_official_schema(minimal_advisory, key):
    export_format = FORMATS[key]
    result = check_document(export_format.schema, export_format.build(minimal_advisory, PUBLISHED))
    assert (result.is_available, result.messages) == (True, [])


@pytest.mark.parametrize("key", sorted(FORMATS))
def test_every_format_of_a_never_published_draft_passes_its_official_schema(draft_advisory, key):
    export_format = FORMATS[key]
    result = check_document(export_format.schema, export_format.build(draft_advisory, DRAFT))
    assert (result.is_available, result.messages) == (True, [])


def test_the_checks_use_the_unreleased_osv_schema_and_the_csaf_2_0_schema(rich_advisory, schema_dir):
    assert check_document(OSV, FORMATS["osv"].build(rich_advisory, PUBLISHED)).source == str(
        schema_dir / "osv" / "unreleased-main-51b8156" / "schema.json")
    assert check_document(CSAF, FORMATS["csaf"].build(rich_advisory, PUBLISHED)).source == str(
        schema_dir / "csaf" / "csaf_json_schema.json")


def test_the_cve_container_passes_cvelibs_own_validation_with_and_without_an_org_id(rich_advisory, minimal_advisory):
    for advisory in (rich_advisory, minimal_advisory):
        content = advisory_content(advisory, edition=PUBLISHED)
        CveRecord.validate(cve_cna_container(content, org_id=ORG_ID), schema_path=CveRecord.Schemas.CNA_PUBLISHED)
        assert "providerMetadata" not in cve_cna_container(content)  # cvelib's publish() fills it in
        assert check_document(CVE, cve_cna_container(content)).is_valid


def test_the_full_cve_record_passes_the_bundled_cve_5_1_1_schema(rich_advisory):
    record = cve_record(advisory_content(rich_advisory, edition=PUBLISHED), cve_id="CVE-2026-12345", org_id=ORG_ID,
                        short_name="acme")
    CveRecord.validate(record, schema_path=CveRecord.Schemas.V5_SCHEMA)
    assert record["cveMetadata"]["state"] == "PUBLISHED"


def test_the_published_osv_export_is_exactly_the_public_snapshot(rich_advisory):
    document = FORMATS["osv"].build(rich_advisory, PUBLISHED)
    assert document == rich_advisory.public_document
    assert document["id"] == f"x_{rich_advisory.identifier}"
    assert document["aliases"] == ["CVE-2026-12345", "GHSA-abcd-efgh-ijkl"]


def test_csaf_tracking_lists_every_published_revision_with_its_changelog(rich_advisory):
    tracking = csaf_security_advisory(advisory_content(rich_advisory, edition=PUBLISHED))["document"]["tracking"]
    assert tracking["status"] == "final"
    assert tracking["version"] == "2"
    assert [(r["number"], r["summary"]) for r in tracking["revision_history"]] == [
        ("1", "Initial publication"), ("2", "The Go agent is affected too; fixed in 1.5.0.")]
    assert tracking["initial_release_date"] == tracking["revision_history"][0]["date"] == "2026-11-23T10:00:00.000Z"
    assert tracking["current_release_date"] == "2026-11-25T11:00:00.000Z"
    assert tracking["id"] == rich_advisory.identifier


def test_csaf_product_status_follows_the_osv_events(rich_advisory):
    csaf = csaf_security_advisory(advisory_content(rich_advisory, edition=PUBLISHED))
    assert {"acme_client vers:pypi/>=1.0.0|<1.4.2", "acme_client vers:pypi/>=2.0.0|<2.1.1", "acme_client 0.9.7",
            "@acme/widget vers:npm/<=3.2.0", "org.acme:acme-core vers:maven/>=5.0.0",
            "acme-parse vers:cargo/<0.8.3"} <= _status_names(csaf, "known_affected")
    assert _status_names(csaf, "fixed") == {"acme_client 1.4.2", "acme_client 2.1.1", "github.com/acme/agent 1.5.0",
                                           "acme-parse 0.8.3", f"{GIT_REPO} {GIT_FIX}"}
    assert _status_names(csaf, "last_affected") == {"@acme/widget 3.2.0"}
    # Below the first affected version (0.9.7 is listed as affected) nothing is affected.
    assert _status_names(csaf, "known_not_affected") == {
        "acme_client vers:pypi/<0.9.7", "github.com/acme/agent vers:golang/<1.2.0", "org.acme:acme-core vers:maven/<5.0.0"}


def test_csaf_products_carry_package_urls_per_ecosystem(rich_advisory):
    csaf = csaf_security_advisory(advisory_content(rich_advisory, edition=PUBLISHED))
    purls = set()

    def walk(branches):
        for branch in branches:
            helper = branch.get("product", {}).get("product_identification_helper")
            if helper:
                purls.add(helper["purl"])
            walk(branch.get("branches", []))

    walk(csaf["product_tree"]["branches"])
    assert {"pkg:pypi/acme-client@1.4.2", "pkg:npm/%40acme/widget@3.2.0", "pkg:golang/github.com/acme/agent@1.5.0",
            "pkg:cargo/acme-parse@0.8.3"} <= purls


def test_csaf_vulnerability_has_cve_cwe_scores_notes_remediations_and_acknowledgments(rich_advisory):
    vulnerability = csaf_security_advisory(advisory_content(rich_advisory, edition=PUBLISHED))["vulnerabilities"][0]
    assert vulnerability["cve"] == "CVE-2026-12345"
    assert vulnerability["cwe"] == {"id": "CWE-94", "name": "Improper Control of Generation of Code ('Code Injection')"}
    assert vulnerability["scores"][0]["cvss_v3"]["vectorString"] == CVSS3
    assert vulnerability["scores"][0]["cvss_v3"]["baseScore"] == 9.8
    assert "cvss_v4" not in vulnerability["scores"][0]  # CSAF 2.0 defines no CVSS v4.0 element
    notes = {note["title"]: note["text"] for note in vulnerability["notes"]}
    assert notes["CVSS v4.0"].startswith(f"{CVSS4} (base score 9.3, Critical)")
    assert notes["Further weaknesses (CWE)"] == "CWE-502 (Deserialization of Untrusted Data)"
    categories = {r["category"] for r in vulnerability["remediations"]}
    assert categories == {"vendor_fix", "none_available", "workaround"}
    assert {"names": ["Jane Doe"], "summary": "Found the vulnerability"} in vulnerability["acknowledgments"]
    assert [r["url"] for r in vulnerability["references"]][:1] == [
        f"https://git.example.org/acme/libparse/commit/{GIT_FIX}"]


def test_every_affected_product_has_a_remediation_and_every_unaffected_one_a_justification(rich_advisory):
    vulnerability = csaf_vex(advisory_content(rich_advisory, edition=PUBLISHED))["vulnerabilities"][0]
    remedied = {i for r in vulnerability["remediations"] for i in r["product_ids"]}
    assert set(vulnerability["product_status"]["known_affected"]) <= remedied
    justified = {i for flag in vulnerability["flags"] for i in flag["product_ids"]}
    assert set(vulnerability["product_status"]["known_not_affected"]) == justified
    assert {flag["label"] for flag in vulnerability["flags"]} == {"vulnerable_code_not_present"}


def test_the_vex_document_is_its_own_csaf_document_with_the_same_products(rich_advisory):
    content = advisory_content(rich_advisory, edition=PUBLISHED)
    advisory, vex = csaf_security_advisory(content), csaf_vex(content)
    assert vex["document"]["category"] == "csaf_vex"
    assert vex["document"]["tracking"]["id"] == f"{rich_advisory.identifier}-VEX"
    assert vex["product_tree"] == advisory["product_tree"]


def test_pending_edits_stay_out_of_the_published_edition_and_show_in_the_draft(rich_advisory, world, frozen_clock):
    _, owner = world
    frozen_clock.advance(hours=3)
    advisory = advisory_update(advisory=rich_advisory, actor=owner, summary="Unpublished wording, still embargoed.")
    published = csaf_security_advisory(advisory_content(advisory, edition=PUBLISHED))
    draft = csaf_security_advisory(advisory_content(advisory, edition=DRAFT))
    assert "Unpublished" not in str(published)
    assert published["document"]["distribution"]["tlp"]["label"] == "WHITE"
    assert draft["document"]["notes"][0]["text"] == "Unpublished wording, still embargoed."
    assert (draft["document"]["tracking"]["status"], draft["document"]["tracking"]["version"]) == ("draft", "3")
    assert draft["document"]["tracking"]["revision_history"][-1]["summary"] == "Draft of revision 3, not published."
    assert draft["document"]["distribution"]["tlp"]["label"] == "AMBER"
    assert check_document(CSAF, draft).messages == []


def test_a_never_published_draft_is_tracked_as_draft_revision_one(draft_advisory):
    tracking = csaf_security_advisory(advisory_content(draft_advisory, edition=DRAFT))["document"]["tracking"]
    assert (tracking["status"], tracking["version"], len(tracking["revision_history"])) == ("draft", "1", 1)


def test_the_cve_container_maps_ranges_metrics_weaknesses_and_references(rich_advisory):
    container = cve_cna_container(advisory_content(rich_advisory, edition=PUBLISHED))
    by_product = {entry["product"]: entry for entry in container["affected"]}
    assert by_product["acme_client"]["collectionURL"] == "https://pypi.org"
    assert {"version": "1.0.0", "lessThan": "1.4.2", "status": "affected", "versionType": "python"} in by_product[
        "acme_client"]["versions"]
    assert by_product["@acme/widget"]["versions"] == [
        {"version": "0", "lessThanOrEqual": "3.2.0", "status": "affected", "versionType": "semver"}]
    assert by_product["org.acme:acme-core"]["versions"][0]["lessThan"] == "*"
    assert by_product[GIT_REPO]["repo"] == GIT_REPO
    assert {"cvssV4_0": {"version": "4.0", "vectorString": CVSS4, "baseScore": 9.3, "baseSeverity": "CRITICAL"}}.items() \
        <= container["metrics"][0].items()
    assert container["metrics"][1]["cvssV3_1"]["baseSeverity"] == "CRITICAL"
    assert [d["cweId"] for d in container["problemTypes"][0]["descriptions"]] == ["CWE-94", "CWE-502"]
    assert container["references"][0] == {"url": f"https://security.acme.example/advisories/{rich_advisory.identifier}/",
                                          "name": f"Advisory {rich_advisory.identifier}", "tags": ["vendor-advisory"]}
    assert {"lang": "en", "value": "Kim Lee", "type": "reporter"} in container["credits"]


def test_a_long_cve_description_is_cut_to_the_schema_limit_and_points_to_the_advisory(minimal_advisory, world,
                                                                                      frozen_clock):
    _, owner = world
    advisory = advisory_update(advisory=minimal_advisory, actor=owner, details="Lorem ipsum dolor sit amet. " * 400)
    container = cve_cna_container(advisory_content(advisory, edition=DRAFT))
    value = container["descriptions"][0]["value"]
    assert len(value) == 4096
    assert value.endswith(f"(continued at https://security.acme.example/advisories/{minimal_advisory.identifier}/)")
    assert check_document(CVE, container).is_valid


def test_a_fixed_version_that_another_range_still_covers_is_neither_fixed_nor_recommended(draft_advisory, world):
    _, owner = world
    affected_packages_set(advisory=draft_advisory, actor=owner, packages=[{
        "ecosystem": "PyPI", "package_name": "acme-core", "versions": ["2.0.0"], "ranges": [
            {"type": "ECOSYSTEM", "events": [{"introduced": "1.0.0"}, {"fixed": "1.5.0"}]},
            {"type": "ECOSYSTEM", "events": [{"introduced": "1.2.0"}, {"fixed": "2.0.0"}]},
            {"type": "ECOSYSTEM", "events": [{"introduced": "3.0.0"}, {"fixed": "3.1.0"}]}]}])
    csaf = csaf_security_advisory(advisory_content(draft_advisory, edition=DRAFT))
    assert _status_names(csaf, "fixed") == {"acme-core 3.1.0"}  # 1.5.0 is in the second range, 2.0.0 is listed
    names = _product_names(csaf)
    remedies = {names[i]: r["details"] for r in csaf["vulnerabilities"][0]["remediations"] for i in r["product_ids"]}
    assert remedies == {"acme-core vers:pypi/>=1.0.0|<1.5.0": "Update acme-core to version 3.1.0 or later.",
                        "acme-core vers:pypi/>=1.2.0|<2.0.0": "Update acme-core to version 3.1.0 or later.",
                        "acme-core vers:pypi/>=3.0.0|<3.1.0": "Update acme-core to version 3.1.0 or later.",
                        "acme-core 2.0.0": "Update acme-core to version 3.1.0 or later."}
