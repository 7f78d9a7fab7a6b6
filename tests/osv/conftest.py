"""Advisories for the OSV tests, made and published through the real advisories services."""

import pytest

from vulndesk.advisories.services import (
    advisory_create,
    advisory_transition,
    advisory_update,
    affected_packages_set,
)


def draft(organisation, actor, packages, *, title="Remote code execution", **fields):
    advisory = advisory_create(organisation=organisation, actor=actor, title=title)
    affected_packages_set(advisory=advisory, actor=actor, packages=packages)
    advisory_update(advisory=advisory, actor=actor, summary=fields.pop("summary", f"{title} in the parser"),
                    severity=fields.pop("severity", "high"), **fields)
    advisory.refresh_from_db()
    return advisory


def publish(advisory, actor):
    advisory_transition(advisory=advisory, actor=actor, to="in_review")
    advisory_transition(advisory=advisory, actor=actor, to="published")
    advisory.refresh_from_db()
    return advisory


def pkg(ecosystem, name, *ranges, versions=(), range_type=None):
    """An affected package with ranges given as event lists."""
    kind = range_type or ("SEMVER" if ecosystem in {"npm", "crates.io", "SemVer"} else
                          "GIT" if ecosystem == "GIT" else "ECOSYSTEM")
    built = []
    for events in ranges:
        item = {"type": kind, "events": events}
        if kind == "GIT":
            item["repo"] = "https://git.example.org/acme/parser.git"
        built.append(item)
    return {"ecosystem": ecosystem, "package_name": name, "ranges": built, "versions": list(versions)}


@pytest.fixture
def published(organisation, triager):
    """published(*packages, **fields) -> a published Advisory."""

    def make(*packages, **fields):
        return publish(draft(organisation, triager, list(packages), **fields), triager)

    return make
