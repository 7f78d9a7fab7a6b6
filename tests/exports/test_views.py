"""Staff downloads and the validation panel: members with a reading role download each format
as a JSON attachment (audited); other organisations get 404; an invalid document is not served."""

import json
import shutil

import pytest
from django.urls import reverse

from tests.factories.core import make_member, make_organisation, verified_login
from vulndesk.audit.models import AuditEntry
from vulndesk.exports.content import PUBLISHED
from vulndesk.exports.formats import FORMATS


def _download(advisory, key, **query):
    url = reverse("exports:download", kwargs={"organisation": advisory.organisation.slug,
                                              "identifier": advisory.identifier, "format": key})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _panel(advisory):
    return reverse("exports:panel", kwargs={"organisation": advisory.organisation.slug,
                                            "identifier": advisory.identifier})


@pytest.fixture
def owner_client(client, world):
    return verified_login(client, world[1].user)


@pytest.mark.parametrize(("key", "filename"), [
    ("osv", "x_{id}.json"), ("csaf", "{lower}.json"), ("vex", "{lower}-vex.json"), ("cve", "CVE-2026-12345.cve.json")])
def test_a_member_downloads_each_format_as_a_json_attachment(owner_client, rich_advisory, key, filename):
    response = owner_client.get(_download(rich_advisory, key))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    expected = filename.format(id=rich_advisory.identifier, lower=rich_advisory.identifier.lower())
    assert response["Content-Disposition"] == f'attachment; filename="{expected}"'
    assert json.loads(response.content) == FORMATS[key].build(rich_advisory, PUBLISHED)
    assert response["Cache-Control"] == "no-store, private"


def test_each_download_is_audited_with_format_and_edition(owner_client, rich_advisory, world):
    owner_client.get(_download(rich_advisory, "vex"))
    entry = AuditEntry.objects.filter(action="advisory.export").get()
    assert (entry.organisation_id, entry.actor_id, entry.target_type, entry.target_id) == (
        rich_advisory.organisation_id, world[1].user_id, "advisory", str(rich_advisory.pk))
    assert entry.data == {"format": "vex", "edition": "published", "schema_checked": True}


def test_a_viewer_may_download(client, rich_advisory, world):
    viewer = make_member(world[0], role="viewer")
    verified_login(client, viewer.user)
    assert client.get(_download(rich_advisory, "csaf")).status_code == 200


def test_a_member_of_another_organisation_gets_404_for_downloads_and_the_panel(client, rich_advisory):
    stranger = make_member(make_organisation(), role="owner")
    verified_login(client, stranger.user)
    for key in FORMATS:
        assert client.get(_download(rich_advisory, key)).status_code == 404
    assert client.get(_panel(rich_advisory)).status_code == 404
    assert not AuditEntry.objects.filter(action="advisory.export").exists()


def test_another_organisations_advisory_is_404_under_the_members_own_organisation(client, rich_advisory):
    stranger = make_member(make_organisation(), role="owner")
    verified_login(client, stranger.user)
    url = reverse("exports:download", kwargs={"organisation": stranger.organisation.slug,
                                              "identifier": rich_advisory.identifier, "format": "csaf"})
    assert client.get(url).status_code == 404


def test_an_anonymous_visitor_is_sent_to_the_login_page(client, rich_advisory):
    response = client.get(_download(rich_advisory, "osv"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_an_unknown_format_is_404(owner_client, rich_advisory):
    assert owner_client.get(_download(rich_advisory, "sarif")).status_code == 404


def test_downloads_answer_post_with_405(owner_client, rich_advisory):
    assert owner_client.post(_download(rich_advisory, "osv")).status_code == 405


def test_a_never_published_advisory_downloads_as_a_draft(owner_client, draft_advisory):
    response = owner_client.get(_download(draft_advisory, "csaf"))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{draft_advisory.identifier.lower()}.draft.json"'
    assert json.loads(response.content)["document"]["tracking"]["status"] == "draft"
    assert owner_client.get(_download(draft_advisory, "csaf", edition="published")).status_code == 404


def test_a_document_that_fails_its_schema_is_not_served(settings, tmp_path, schema_dir, owner_client, rich_advisory):
    strict = tmp_path / "schemas"
    shutil.copytree(schema_dir, strict)
    osv = strict / "osv" / "unreleased-main-51b8156" / "schema.json"
    schema = json.loads(osv.read_text())
    schema["properties"]["summary"]["maxLength"] = 10
    osv.write_text(json.dumps(schema))
    settings.VULNDESK_SCHEMA_DIR = str(strict)
    response = owner_client.get(_download(rich_advisory, "osv"))
    assert response.status_code == 422
    assert "Content-Disposition" not in response
    assert "$.summary: &#x27;A crafted archive runs code in the Acme parser and agent.&#x27; is too long" in \
        response.content.decode()
    assert not AuditEntry.objects.filter(action="advisory.export").exists()


def test_the_panel_shows_each_formats_result_with_download_links(owner_client, rich_advisory,
                                                                 django_assert_max_num_queries):
    with django_assert_max_num_queries(25):
        response = owner_client.get(_panel(rich_advisory))
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count('<span class="badge export-valid">valid</span>') == 4
    for key in FORMATS:
        assert f'{_download(rich_advisory, key)}?edition=published' in page
    assert "Draft of the next revision" not in page


def test_the_panel_lists_the_validators_messages_and_offers_no_download_for_an_invalid_document(
        settings, tmp_path, schema_dir, owner_client, rich_advisory):
    strict = tmp_path / "schemas"
    shutil.copytree(schema_dir, strict)
    csaf = strict / "csaf" / "csaf_json_schema.json"
    schema = json.loads(csaf.read_text())
    schema["properties"]["document"]["properties"]["title"]["maxLength"] = 12
    csaf.write_text(json.dumps(schema))
    settings.VULNDESK_SCHEMA_DIR = str(strict)
    page = owner_client.get(_panel(rich_advisory)).content.decode()
    assert "$.document.title: &#x27;Remote code execution in the parser&#x27; is too long" in page
    assert page.count(">invalid</span>") == 2
    assert f'{_download(rich_advisory, "csaf")}?edition=published' not in page
    assert f'{_download(rich_advisory, "osv")}?edition=published' in page


def test_without_schemas_the_panel_says_so_instead_of_claiming_valid(settings, owner_client, draft_advisory):
    settings.VULNDESK_SCHEMA_DIR = None
    page = owner_client.get(_panel(draft_advisory)).content.decode()
    assert page.count("schema not available") == 3  # OSV, CSAF advisory, CSAF VEX; CVE comes with cvelib
    assert page.count('<span class="badge export-valid">valid</span>') == 1
    assert "Draft of the next revision" in page
