"""The publish hook: a document that fails its schema is never published. The refusal rolls the
whole publish back (state, public face, revision, audit), and the message is the validator's."""

import json
import shutil

import pytest

from vulndesk.advisories import hooks
from vulndesk.advisories.models import Advisory, AdvisoryRevision
from vulndesk.advisories.services import advisory_transition, advisory_withdraw
from vulndesk.audit.models import AuditEntry
from vulndesk.exports.services import exports_check_publish
from vulndesk.exports.validation import ExportInvalid


@pytest.fixture
def strict_schema_dir(tmp_path, schema_dir):
    """The official schemas (copied to the test's tmp dir, never into the project) with CSAF
    document titles limited to 12 characters, so a real advisory fails a real validator."""
    strict = tmp_path / "schemas"
    shutil.copytree(schema_dir, strict)
    path = strict / "csaf" / "csaf_json_schema.json"
    schema = json.loads(path.read_text())
    schema["properties"]["document"]["properties"]["title"]["maxLength"] = 12
    path.write_text(json.dumps(schema))
    return strict


def test_the_hook_is_registered_for_publishing_and_withdrawing():
    assert exports_check_publish in hooks.PUBLISH_HOOKS
    assert exports_check_publish in hooks.WITHDRAW_HOOKS
    assert hooks.PUBLISH_HOOKS.count(exports_check_publish) == 1


def test_an_advisory_whose_documents_pass_is_published(draft_advisory, world, frozen_clock):
    _, owner = world
    advisory = advisory_transition(advisory=draft_advisory, actor=owner, to="in_review")
    advisory = advisory_transition(advisory=advisory, actor=owner, to="published")
    assert (advisory.state, advisory.is_public, advisory.revision) == ("published", True, 1)


def test_a_publish_whose_csaf_document_fails_its_schema_is_refused_and_rolled_back(
        settings, strict_schema_dir, draft_advisory, world, frozen_clock):
    _, owner = world
    advisory = advisory_transition(advisory=draft_advisory, actor=owner, to="in_review")
    settings.VULNDESK_SCHEMA_DIR = str(strict_schema_dir)
    audit_before = AuditEntry.objects.count()
    with pytest.raises(ExportInvalid) as refused:
        advisory_transition(advisory=advisory, actor=owner, to="published")
    assert refused.value.failures == [
        ("CSAF 2.0 advisory", ["$.document.title: 'Draft: token leak in logs' is too long"]),
        ("CSAF 2.0 VEX", ["$.document.title: 'VEX: Draft: token leak in logs' is too long"]),
    ]
    assert str(refused.value).startswith(f"{advisory.identifier} was not published. The CSAF 2.0 advisory document "
                                         "does not pass its schema: $.document.title:")
    stored = Advisory.objects.get(pk=advisory.pk)
    assert (stored.state, stored.is_public, stored.revision, stored.public_document) == ("in_review", False, 0, None)
    assert not AdvisoryRevision.objects.filter(advisory=advisory).exists()
    assert AuditEntry.objects.count() == audit_before


def test_a_new_revision_that_fails_is_refused_and_the_published_one_stays(
        settings, strict_schema_dir, minimal_advisory, world, frozen_clock):
    _, owner = world
    settings.VULNDESK_SCHEMA_DIR = str(strict_schema_dir)
    before = Advisory.objects.get(pk=minimal_advisory.pk).public_document
    frozen_clock.advance(hours=1)
    with pytest.raises(ExportInvalid):
        advisory_transition(advisory=minimal_advisory, actor=owner, to="updated", changelog="Clarified")
    stored = Advisory.objects.get(pk=minimal_advisory.pk)
    assert (stored.state, stored.revision, stored.public_document) == ("published", 1, before)


def test_a_withdrawal_whose_documents_fail_is_refused(settings, strict_schema_dir, minimal_advisory, world,
                                                     frozen_clock):
    _, owner = world
    settings.VULNDESK_SCHEMA_DIR = str(strict_schema_dir)
    with pytest.raises(ExportInvalid):
        advisory_withdraw(advisory=minimal_advisory, actor=owner, reason="Duplicate of ORG-2026-0002")
    assert Advisory.objects.get(pk=minimal_advisory.pk).state == "published"


def test_a_withdrawal_whose_documents_pass_goes_through(minimal_advisory, world, frozen_clock):
    _, owner = world
    frozen_clock.advance(hours=1)
    advisory = advisory_withdraw(advisory=minimal_advisory, actor=owner, reason="Not a vulnerability after all")
    assert advisory.state == "withdrawn"
    assert advisory.public_document["withdrawn"] == "2026-11-23T11:00:00Z"
