"""The OSV document of an advisory: the public, machine-readable form of one revision.

Every published revision is frozen as this document (``AdvisoryRevision.snapshot``); public
pages, the feed and the OSV API read snapshots only, so nothing unpublished can leak through
them. The ``x_`` id prefix marks a local database that is not a registered OSV home database
(OSV specification, unreleased main after 1.7.5); CVE and GHSA ids are aliases.
"""

from datetime import UTC, datetime

from vulndesk.advisories.models import Advisory

OSV_SCHEMA_VERSION = "1.7.5"


def osv_id(advisory: Advisory) -> str:
    return f"x_{advisory.identifier}"


def osv_document(advisory: Advisory, *, modified: datetime, published: datetime | None) -> dict:
    document: dict = {
        "schema_version": OSV_SCHEMA_VERSION,
        "id": osv_id(advisory),
        "modified": _utc(modified),
        "published": _utc(published or modified),
        "summary": advisory.summary or advisory.title,
        "details": advisory.details,
    }
    if advisory.aliases:
        document["aliases"] = advisory.aliases
    if advisory.withdrawn_at:
        document["withdrawn"] = _utc(advisory.withdrawn_at)
    severity = []
    if advisory.cvss3_vector:
        severity.append({"type": "CVSS_V3", "score": advisory.cvss3_vector})
    if advisory.cvss4_vector:
        severity.append({"type": "CVSS_V4", "score": advisory.cvss4_vector})
    if severity:
        document["severity"] = severity
    affected = []
    for package in advisory.affected.all():
        entry: dict = {"package": {"ecosystem": package.ecosystem, "name": package.package_name}}
        if package.ecosystem in {"GIT", "SemVer"}:
            # Not OSV ecosystems: Git ranges stand alone, and a plain-SemVer product (no package
            # registry) is named in database_specific; its SEMVER ranges are valid OSV on their own.
            entry = {} if package.ecosystem == "GIT" else {"database_specific": {"product": package.package_name}}
        if package.ranges:
            entry["ranges"] = package.ranges
        if package.versions:
            entry["versions"] = package.versions
        affected.append(entry)
    if affected:
        document["affected"] = affected
    if advisory.references:
        document["references"] = advisory.references
    if advisory.credits:
        document["credits"] = [{"name": c["name"], **({"type": c["type"]} if c.get("type") else {})}
                               for c in advisory.credits]
    document["database_specific"] = {
        "title": advisory.title,
        "severity": advisory.severity or None,
        "cwe_ids": [f"CWE-{cwe}" for cwe in advisory.cwe_ids],
        "workarounds": advisory.workarounds or None,
        "revision": advisory.revision,
    }
    return document


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
