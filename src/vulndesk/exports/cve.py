"""CVE JSON 5.1 documents of an advisory: the CNA container (the payload ``cvelib``'s
``CveApi.publish(cve_id, container)`` sends to CVE Services) and a full CVE record around it.
Pure functions of an ``AdvisoryContent``.

Choices, following the CVE Record Format 5.1.1 (cvelib's bundled schema) and the CVE
Program's CNA rules:

- ``providerMetadata.orgId`` is the CNA's UUID at CVE Services. Callers that know it (the
  ``cve`` app, from its CNA settings) pass it; otherwise it is left out, as ``cvelib`` fills it
  in from ``GET org/<short_name>`` when publishing. Validation puts a placeholder in its place.
- ``affected``: one entry per package with ``defaultStatus: unaffected`` and one version entry
  per interval (``lessThan`` for fixed/limit ends, ``lessThanOrEqual`` for last_affected, ``*``
  for an open end) plus each explicitly listed version. Package registries get
  ``collectionURL`` + ``packageName``; GIT ranges name the ``repo``.
- ``metrics``: CVSS 3.1 from ``cvss``'s ``as_json(minimal=True)``; CVSS 4.0 built by hand
  (``cvss``'s v4 JSON writes ``"version": "4"`` and mixed-case severities, which the schema
  refuses).
- ``descriptions``: the summary, followed by the details, within the schema's 4,096
  characters (longer details are cut and point to the advisory page).
- ``references``: the advisory's references (OSV types mapped to CVE tags) and always the
  advisory page itself, so the required non-empty list is never empty.
"""


from cvss import CVSS3, CVSS4

from vulndesk.exports import packages as pk
from vulndesk.exports.content import AdvisoryContent
from vulndesk.exports.cwe import cwe_name
from vulndesk.exports.identity import ENGINE, advisory_url, engine_version, timestamp

DATA_VERSION = "5.1"
MAX_DESCRIPTION = 4096
REFERENCE_TAGS = {"ADVISORY": "third-party-advisory", "ARTICLE": "technical-description", "DETECTION": "signature",
                  "DISCUSSION": "mailing-list", "REPORT": "issue-tracking", "FIX": "patch", "PACKAGE": "product",
                  "EVIDENCE": "exploit", "INTRODUCED": "related"}
CREDIT_TYPES = {"FINDER": "finder", "REPORTER": "reporter", "ANALYST": "analyst", "COORDINATOR": "coordinator",
                "REMEDIATION_DEVELOPER": "remediation developer", "REMEDIATION_REVIEWER": "remediation reviewer",
                "REMEDIATION_VERIFIER": "remediation verifier", "TOOL": "tool", "SPONSOR": "sponsor", "OTHER": "other"}


def cve_cna_container(content: AdvisoryContent, *, org_id: str | None = None) -> dict:
    container: dict = {}
    if org_id:
        container["providerMetadata"] = {"orgId": org_id}
    container["title"] = content.title[:256]
    container["descriptions"] = [{"lang": "en", "value": _description(content)}]
    container["affected"] = [_affected(content, package) for package in content.packages]
    problems = [{"lang": "en", "type": "CWE", "cweId": f"CWE-{number}",
                 "description": f"CWE-{number} {cwe_name(number)}" if cwe_name(number) else f"CWE-{number}"}
                for number in content.cwe_ids]
    if problems:
        container["problemTypes"] = [{"descriptions": problems}]
    metrics = []
    if content.cvss4_vector:
        score = CVSS4(content.cvss4_vector)
        metrics.append({"format": "CVSS", "scenarios": [{"lang": "en", "value": "GENERAL"}], "cvssV4_0": {
            "version": "4.0", "vectorString": score.clean_vector(), "baseScore": float(score.base_score),
            "baseSeverity": score.severity.upper()}})
    if content.cvss3_vector:
        metrics.append({"format": "CVSS", "scenarios": [{"lang": "en", "value": "GENERAL"}],
                        "cvssV3_1": CVSS3(content.cvss3_vector).as_json(minimal=True)})
    if metrics:
        container["metrics"] = metrics
    solutions = _solutions(content)
    if solutions:
        container["solutions"] = [{"lang": "en", "value": text} for text in solutions]
    if content.workarounds.strip():
        container["workarounds"] = [{"lang": "en", "value": content.workarounds.strip()[:MAX_DESCRIPTION]}]
    credits = [{"lang": "en", "value": c["name"], "type": CREDIT_TYPES.get(c.get("type") or "FINDER", "other")}
               for c in content.credits]
    if credits:
        container["credits"] = _unique(credits)
    container["references"] = _references(content)
    if content.published_at:
        container["datePublic"] = timestamp(content.published_at)
    container["source"] = {"advisory": content.identifier, "discovery": "UNKNOWN"}
    container["x_generator"] = {"engine": f"{ENGINE} {engine_version()}".strip()}
    return container


def cve_record(content: AdvisoryContent, *, cve_id: str, org_id: str, short_name: str = "") -> dict:
    """The full published CVE record (CVE Record Format 5.1), as CVE Services would return it."""
    metadata = {"cveId": cve_id, "assignerOrgId": org_id, "state": "PUBLISHED"}
    if short_name:
        metadata["assignerShortName"] = short_name
    if content.published_at:
        metadata["datePublished"] = timestamp(content.published_at)
    metadata["dateUpdated"] = timestamp(content.modified_at)
    return {"dataType": "CVE_RECORD", "dataVersion": DATA_VERSION, "cveMetadata": metadata,
            "containers": {"cna": cve_cna_container(content, org_id=org_id)}}


def _description(content: AdvisoryContent) -> str:
    text = content.summary or content.title
    details = content.details.strip()
    if details:
        text = f"{text}\n\n{details}"
    if len(text) > MAX_DESCRIPTION:
        tail = f"… (continued at {advisory_url(content.identifier)})"
        text = text[: MAX_DESCRIPTION - len(tail)].rstrip() + tail
    return text


def _affected(content: AdvisoryContent, package) -> dict:
    entry: dict = {"vendor": content.organisation_name, "product": package.name}
    if package.ecosystem in pk.CVE_COLLECTION_URL:
        entry["collectionURL"] = pk.CVE_COLLECTION_URL[package.ecosystem]
        entry["packageName"] = package.name
    repos = [item["repo"] for item in package.ranges if item.get("repo")]
    if repos:
        entry["repo"] = repos[0]
    version_type = pk.CVE_VERSION_TYPE.get(package.ecosystem, "custom")
    versions = []
    for interval in pk.intervals(package.ecosystem, package.ranges):
        row = {"version": interval.start, "status": "affected", "versionType": version_type}
        if interval.end_kind in {"fixed", "limit"}:
            row["lessThan"] = interval.end
        elif interval.end_kind == "last_affected":
            row["lessThanOrEqual"] = interval.end
        else:
            row["lessThan"] = "*"
        versions.append(row)
    versions += [{"version": listed, "status": "affected", "versionType": version_type} for listed in package.versions]
    entry["versions"] = _unique(versions)
    entry["defaultStatus"] = "unaffected"
    return entry


def _solutions(content: AdvisoryContent) -> list[str]:
    lines = []
    for package in content.packages:
        fixed = sorted({i.end for i in pk.intervals(package.ecosystem, package.ranges) if i.end_kind == "fixed"},
                       key=lambda v: pk.version_key(package.ecosystem, v))
        if fixed and package.ecosystem == "GIT":
            lines.append(f"Apply commit {', '.join(fixed)} of {package.name}.")
        elif len(fixed) == 1:
            lines.append(f"Update {package.name} ({package.ecosystem}) to version {fixed[0]} or later.")
        elif fixed:
            lines.append(f"Update {package.name} ({package.ecosystem}) to a fixed version: {', '.join(fixed)} "
                         "(the first fixed version of the release line you use, or later).")
    return lines


def _references(content: AdvisoryContent) -> list[dict]:
    found = [{"url": advisory_url(content.identifier), "name": f"Advisory {content.identifier}",
              "tags": ["vendor-advisory"]}]
    seen = {found[0]["url"]}
    for reference in content.references:
        if reference["url"] in seen:
            continue
        seen.add(reference["url"])
        row = {"url": reference["url"]}
        tag = REFERENCE_TAGS.get(reference.get("type"))
        if tag:
            row["tags"] = [tag]
        found.append(row)
    return found[:512]


def _unique(rows: list[dict]) -> list[dict]:
    unique = []
    for row in rows:
        if row not in unique:
            unique.append(row)
    return unique
