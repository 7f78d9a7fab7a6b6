"""The CNA container sent to CVE Services: the exports app's CVE document of the *published*
edition, checked against the CNA published-container schema before anything is sent."""

import pytest

from vulndesk.advisories.models import Advisory
from vulndesk.advisories.services import advisory_update
from vulndesk.cve.records import CveRecordIncomplete, CveRecordInvalid, cna_container, container_check

pytestmark = pytest.mark.django_db
ORG_UUID = "1d1b1a52-3a6b-4a4e-9f53-0c1c9d1c2f00"


def test_the_container_of_a_published_advisory_passes_the_cna_schema(advisory):
    container = cna_container(advisory=advisory, organisation_uuid=ORG_UUID)

    container_check(container)
    assert container["providerMetadata"] == {"orgId": ORG_UUID}
    assert container["title"] == "SQL injection in search"
    assert container["affected"][0]["packageName"] == "acme-web"
    assert container["affected"][0]["versions"][0]["lessThan"] == "2.4.1"
    assert {key for metric in container["metrics"] for key in metric} >= {"cvssV3_1", "cvssV4_0"}
    assert container["x_generator"]["engine"].startswith("vulndesk")
    urls = [reference["url"] for reference in container["references"]]
    assert "https://acme.example/security/advisories/1" in urls
    assert any(url.endswith(f"/{advisory.identifier}/") for url in urls)  # the public advisory page


def test_unpublished_edits_never_reach_the_container(advisory, triager):
    advisory_update(advisory=advisory, actor=triager, title="UNPUBLISHED title", summary="UNPUBLISHED summary",
                    references=[{"type": "WEB", "url": "https://acme.example/UNPUBLISHED"}])
    advisory.refresh_from_db()

    container = cna_container(advisory=advisory, organisation_uuid=ORG_UUID)

    assert "UNPUBLISHED" not in repr(container)


def test_a_published_revision_without_affected_packages_is_refused(advisory):
    # The exports publish hook now refuses such a revision; one published before it existed:
    document = dict(advisory.public_document)
    del document["affected"]
    Advisory.objects.filter(pk=advisory.pk).update(public_document=document)
    advisory.refresh_from_db()

    with pytest.raises(CveRecordIncomplete, match="no affected package"):
        cna_container(advisory=advisory, organisation_uuid=ORG_UUID)


def test_an_invalid_container_is_refused_with_the_schema_problems(advisory):
    container = cna_container(advisory=advisory, organisation_uuid="not-a-uuid")
    container["references"][0]["url"] = ""

    with pytest.raises(CveRecordInvalid, match="providerMetadata/orgId") as raised:
        container_check(container)
    assert "references/0/url" in raised.value.message
