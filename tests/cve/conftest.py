"""Fixtures for the CVE app: a CVE Services on loopback (tests/fakes/cve_services.py), a CNA account
pointed at it exactly as at the real test instance, and published advisories."""

import pytest

from tests.factories.core import make_member, make_organisation
from tests.fakes.cve_services import FakeCveServices
from vulndesk.advisories.services import (
    advisory_create,
    advisory_transition,
    advisory_update,
    affected_packages_set,
)
from vulndesk.cve.services import cna_account_save

API_KEY = "fake-api-key-Q7v2Lr9XkP3m"  # a word no page, log or table of ours may contain
CNA = "acme"
CNA_USER = "psirt@acme.example"


@pytest.fixture
def cve_services(settings):
    """CVE Services on 127.0.0.1 with one CNA; back-off shortened so retries take milliseconds."""
    settings.CVE_SERVICES_BACKOFF_SECONDS = 0.001
    settings.CVE_SERVICES_TRIES = 3
    service = FakeCveServices().start()
    service.add_cna(CNA, user=CNA_USER, api_key=API_KEY, id_quota=5, name="ACME Corporation")
    yield service
    service.stop()


@pytest.fixture
def cna(organisation, owner, cve_services):
    """The organisation's CNA account, saved through the service as an owner would."""
    return cna_account_save(organisation=organisation, actor=owner, endpoint_url=cve_services.url, short_name=CNA,
                            username=CNA_USER, api_key=API_KEY)


def make_advisory(organisation, actor, *, title="SQL injection in search", publish=True, **fields):
    advisory = advisory_create(organisation=organisation, actor=actor, title=title)
    values = {
        "summary": "SQL injection in the search endpoint",
        "details": "The `q` parameter is concatenated into SQL.",
        "severity": "critical",
        "cvss3_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "cvss4_vector": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        "cwe_ids": [89],
        "references": [{"type": "ADVISORY", "url": "https://acme.example/security/advisories/1"}],
        "credits": [{"name": "Jane Doe", "type": "FINDER"}],
    } | fields
    advisory = advisory_update(advisory=advisory, actor=actor, **values)
    affected_packages_set(advisory=advisory, actor=actor, packages=[{
        "ecosystem": "PyPI", "package_name": "acme-web",
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.4.1"}]}],
    }])
    if publish:
        advisory = advisory_transition(advisory=advisory, actor=actor, to="in_review")
        advisory = advisory_transition(advisory=advisory, actor=actor, to="published")
    advisory.refresh_from_db()
    return advisory


@pytest.fixture
def advisory(organisation, triager):
    return make_advisory(organisation, triager)


@pytest.fixture
def other_world(db):
    """A second organisation with its own member and advisory (for isolation tests)."""
    organisation = make_organisation()
    member = make_member(organisation, role="owner")
    return organisation, member, make_advisory(organisation, member, title="Other organisation's advisory")
