"""The embargo holds in the OSV API: a draft, in-review or scheduled advisory is never returned by
vulns/<id>, query or querybatch, and appears exactly when the scheduled publisher publishes it."""

import json
from datetime import timedelta

import pytest

from tests.osv.conftest import draft, pkg
from vulndesk.advisories.services import advisories_publish_due, advisory_transition

pytestmark = pytest.mark.django_db


def visible(client, advisory) -> dict:
    by_id = client.get(f"/api/osv/v1/vulns/x_{advisory.identifier}").status_code == 200
    by_alias = client.get("/api/osv/v1/vulns/CVE-2026-31337").status_code == 200
    query = client.post("/api/osv/v1/query", data=json.dumps(
        {"package": {"ecosystem": "PyPI", "name": "parser"}, "version": "1.0"}), content_type="application/json")
    everything = client.post("/api/osv/v1/query", data=json.dumps(
        {"package": {"ecosystem": "PyPI", "name": "parser"}}), content_type="application/json")
    commit = client.post("/api/osv/v1/query", data=json.dumps({"commit": "f" * 40}), content_type="application/json")
    batch = client.post("/api/osv/v1/querybatch", data=json.dumps({"queries": [
        {"package": {"ecosystem": "PyPI", "name": "parser"}, "version": "1.0"}, {"commit": "f" * 40}]}),
        content_type="application/json")
    return {"id": by_id, "alias": by_alias, "query": bool(query.json()["vulns"]),
            "package": bool(everything.json()["vulns"]), "commit": bool(commit.json()["vulns"]),
            "batch": [bool(result["vulns"]) for result in batch.json()["results"]]}


NOTHING = {"id": False, "alias": False, "query": False, "package": False, "commit": False, "batch": [False, False]}
EVERYTHING = {"id": True, "alias": True, "query": True, "package": True, "commit": True, "batch": [True, True]}


@pytest.fixture
def embargoed(organisation, triager, frozen_clock):
    return draft(organisation, triager, [pkg("PyPI", "parser", [{"introduced": "0"}, {"fixed": "2.0"}]),
                                         pkg("GIT", "parser", [{"introduced": "f" * 40}])],
                 cve_id="CVE-2026-31337", embargo_until=frozen_clock.now + timedelta(days=7))


def test_a_draft_is_invisible_in_every_osv_endpoint(client, embargoed):
    assert visible(client, embargoed) == NOTHING


def test_an_advisory_in_review_is_invisible(client, embargoed, triager):
    advisory_transition(advisory=embargoed, actor=triager, to="in_review")
    assert visible(client, embargoed) == NOTHING


def test_a_scheduled_advisory_appears_exactly_when_the_embargo_ends(client, embargoed, triager, frozen_clock):
    advisory_transition(advisory=embargoed, actor=triager, to="in_review")
    advisory_transition(advisory=embargoed, actor=triager, to="scheduled")
    assert visible(client, embargoed) == NOTHING

    frozen_clock.advance(days=7, seconds=-1)
    assert advisories_publish_due() == []
    assert visible(client, embargoed) == NOTHING

    frozen_clock.advance(seconds=1)
    assert advisories_publish_due() == [embargoed.identifier]
    assert visible(client, embargoed) == EVERYTHING


def test_an_early_publish_with_an_override_reason_is_visible_at_once(client, embargoed, triager):
    advisory_transition(advisory=embargoed, actor=triager, to="in_review")
    advisory_transition(advisory=embargoed, actor=triager, to="published", override_reason="Exploited in the wild")
    assert visible(client, embargoed) == EVERYTHING
