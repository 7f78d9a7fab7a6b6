"""Fixtures for exports: the official schemas from ``../shared/schemas`` (beside the repository,
never copied into it), a rich and a minimal advisory built through the real services."""

from pathlib import Path

import pytest

from tests.factories.core import make_member, make_organisation
from vulndesk.advisories.services import (
    advisory_create,
    advisory_transition,
    advisory_update,
    affected_packages_set,
)

REPOSITORY = Path(__file__).resolve().parents[2]
SHARED_SCHEMAS = REPOSITORY.parent / "shared" / "schemas"

CVSS3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
CVSS4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
GIT_REPO = "https://git.example.org/acme/libparse.git"
GIT_FIX = "9f2c1ab47e0d8c3b5a6f7e8d9c0b1a2f3e4d5c6b"  # OSV wants full-length commit hashes
RICH_PACKAGES = [
    {"ecosystem": "PyPI", "package_name": "acme_client", "ranges": [
        {"type": "ECOSYSTEM", "events": [{"introduced": "1.0.0"}, {"fixed": "1.4.2"}]},
        {"type": "ECOSYSTEM", "events": [{"introduced": "2.0.0"}, {"fixed": "2.1.1"}]}], "versions": ["0.9.7"]},
    {"ecosystem": "npm", "package_name": "@acme/widget", "ranges": [
        {"type": "SEMVER", "events": [{"introduced": "0"}, {"last_affected": "3.2.0"}]}]},
    {"ecosystem": "Go", "package_name": "github.com/acme/agent", "ranges": [
        {"type": "ECOSYSTEM", "events": [{"introduced": "1.2.0"}, {"fixed": "1.5.0"}]}]},
    {"ecosystem": "Maven", "package_name": "org.acme:acme-core", "ranges": [
        {"type": "ECOSYSTEM", "events": [{"introduced": "5.0.0"}]}]},
    {"ecosystem": "crates.io", "package_name": "acme-parse", "ranges": [
        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "0.8.3"}]}]},
    {"ecosystem": "GIT", "package_name": "libparse", "ranges": [
        {"type": "GIT", "repo": GIT_REPO, "events": [{"introduced": "0"}, {"fixed": GIT_FIX}]}]},
]


def shared_schemas() -> Path:
    if not (SHARED_SCHEMAS / "csaf" / "csaf_json_schema.json").is_file():
        pytest.fail(f"The official schemas are missing: expected {SHARED_SCHEMAS} (the project's shared/schemas "
                    "beside the repository, see shared/schemas/README.md).", pytrace=False)
    return SHARED_SCHEMAS


@pytest.fixture
def schema_dir():
    return shared_schemas()


@pytest.fixture(autouse=True)
def _official_schemas(settings, schema_dir):
    settings.VULNDESK_SCHEMA_DIR = str(schema_dir)
    settings.SITE_URL = "https://security.acme.example"


@pytest.fixture
def world(db, frozen_clock):
    organisation = make_organisation(name="Acme Corp")
    return organisation, make_member(organisation, role="owner")


def publish(advisory, actor, frozen_clock, *, changelog=""):
    frozen_clock.advance(hours=1)
    if advisory.state == "draft":
        advisory = advisory_transition(advisory=advisory, actor=actor, to="in_review")
    to = "updated" if advisory.is_public else "published"
    return advisory_transition(advisory=advisory, actor=actor, to=to, changelog=changelog)


@pytest.fixture
def rich_advisory(world, frozen_clock):
    """Several ecosystems, fixed and last_affected ends, listed versions, a GIT range, CVSS 3.1
    and 4.0, CWE, credits, references, workarounds, and two published revisions."""
    organisation, owner = world
    advisory = advisory_create(organisation=organisation, actor=owner, title="Remote code execution in the parser")
    advisory_update(advisory=advisory, actor=owner, summary="A crafted archive runs code in the Acme parser.",
                    details="## Impact\n\nA crafted archive makes `parse()` evaluate its manifest.\n\n"
                            "## Fix\n\nThe manifest is now parsed, never evaluated.",
                    workarounds="Reject archives from untrusted sources until you can update.",
                    severity="critical", cvss3_vector=CVSS3, cvss4_vector=CVSS4, cwe_ids=[94, 502],
                    credits=[{"name": "Jane Doe", "type": "FINDER"}, {"name": "Kim Lee", "type": "REPORTER"},
                             {"name": "Acme PSIRT", "type": "COORDINATOR"}],
                    references=[{"type": "FIX", "url": "https://git.example.org/acme/libparse/commit/" + GIT_FIX},
                                {"type": "REPORT", "url": "https://bugs.acme.example/1234"},
                                {"type": "WEB", "url": "https://blog.acme.example/parser-rce"}],
                    cve_id="CVE-2026-12345", ghsa_id="GHSA-abcd-efgh-ijkl")
    affected_packages_set(advisory=advisory, actor=owner, packages=RICH_PACKAGES)
    advisory = publish(advisory, owner, frozen_clock)
    frozen_clock.advance(days=2)
    advisory_update(advisory=advisory, actor=owner, summary="A crafted archive runs code in the Acme parser and agent.")
    return publish(advisory, owner, frozen_clock, changelog="The Go agent is affected too; fixed in 1.5.0.")


@pytest.fixture
def minimal_advisory(world, frozen_clock):
    organisation, owner = world
    advisory = advisory_create(organisation=organisation, actor=owner, title="Open redirect")
    advisory_update(advisory=advisory, actor=owner, summary="The login page redirects anywhere.", severity="low")
    affected_packages_set(advisory=advisory, actor=owner, packages=[
        {"ecosystem": "PyPI", "package_name": "acme-web", "ranges": [{"type": "ECOSYSTEM", "events": [
            {"introduced": "0"}]}]}])
    return publish(advisory, owner, frozen_clock)


@pytest.fixture
def draft_advisory(world, frozen_clock):
    organisation, owner = world
    advisory = advisory_create(organisation=organisation, actor=owner, title="Draft: token leak in logs")
    advisory_update(advisory=advisory, actor=owner, summary="Tokens are written to the debug log.", severity="medium",
                    cwe_ids=[532])
    affected_packages_set(advisory=advisory, actor=owner, packages=[
        {"ecosystem": "npm", "package_name": "acme-logger", "ranges": [{"type": "SEMVER", "events": [
            {"introduced": "2.0.0"}, {"fixed": "2.3.0"}]}]}])
    return advisory

