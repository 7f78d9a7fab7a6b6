"""The published OSV document of an advisory, shaped for the public page. Pure.

Reads only the document (``Advisory.public_document`` or a revision's snapshot), so whatever
the page shows was published. Links leave the page only for http(s) URLs.
"""

from dataclasses import dataclass
from datetime import datetime

from vulndesk.core.errors import DomainError
from vulndesk.reports.severity import cvss_score

CVSS_LABELS = {"CVSS_V2": "CVSS 2.0", "CVSS_V3": "CVSS 3.1", "CVSS_V4": "CVSS 4.0"}
ECOSYSTEM_LABELS = {"SemVer": "Plain SemVer", "GIT": "Git commits"}
RANGE_END_EVENTS = ("fixed", "last_affected", "limit")


@dataclass(frozen=True)
class Interval:
    introduced: str = ""
    fixed: str = ""
    last_affected: str = ""
    limit: str = ""


@dataclass(frozen=True)
class AffectedRange:
    kind: str  # ECOSYSTEM, SEMVER or GIT
    repo: str
    intervals: list[Interval]


@dataclass(frozen=True)
class AffectedEntry:
    ecosystem: str
    ecosystem_label: str
    name: str
    ranges: list[AffectedRange]
    versions: list[str]


@dataclass(frozen=True)
class SeverityScore:
    label: str
    vector: str
    score: str  # "9.8", or "" when the vector cannot be scored here
    severity: str


@dataclass(frozen=True)
class Link:
    label: str
    url: str
    kind: str = ""


@dataclass(frozen=True)
class AdvisoryView:
    title: str
    summary: str
    details: str
    workarounds: str
    severity: str
    scores: list[SeverityScore]
    cwes: list[Link]
    affected: list[AffectedEntry]
    credits: list[tuple[str, str]]
    references: list[Link]
    aliases: list[Link]
    withdrawn: datetime | None
    revision: int | None
    osv_id: str


def parse_time(value) -> datetime | None:
    """An OSV RFC 3339 time ("2026-11-23T09:00:00Z"), or None."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def is_web_url(url) -> bool:
    return isinstance(url, str) and url.lower().startswith(("https://", "http://")) and not any(
        c.isspace() for c in url)


def intervals(events: list[dict]) -> list[Interval]:
    """OSV events in order -> (introduced, end) pairs: each introduced opens an interval, the
    next fixed / last_affected / limit closes it. An interval still open at the end is
    "affected from here on" (no fix yet)."""
    result, current = [], None
    for event in events or []:
        if not isinstance(event, dict) or len(event) != 1:
            continue
        (name, value), = event.items()
        if name == "introduced":
            if current is not None:
                result.append(current)
            current = Interval(introduced=str(value))
        elif name in RANGE_END_EVENTS:
            base = current or Interval(introduced="0")
            result.append(Interval(**{**base.__dict__, name: str(value)}))
            current = None
    if current is not None:
        result.append(current)
    return result


def _affected(document: dict) -> list[AffectedEntry]:
    entries = []
    for entry in document.get("affected") or []:
        package = entry.get("package") or {}
        ranges = [AffectedRange(kind=str(item.get("type", "")), repo=str(item.get("repo", "")),
                                intervals=intervals(item.get("events", [])))
                  for item in entry.get("ranges") or []]
        ecosystem = str(package.get("ecosystem") or ("GIT" if any(r.kind == "GIT" for r in ranges) else ""))
        entries.append(AffectedEntry(
            ecosystem=ecosystem, ecosystem_label=ECOSYSTEM_LABELS.get(ecosystem, ecosystem),
            name=str(package.get("name") or ", ".join(r.repo for r in ranges if r.repo)),
            ranges=ranges, versions=[str(v) for v in entry.get("versions") or []]))
    return entries


def _scores(document: dict) -> list[SeverityScore]:
    scores = []
    for item in document.get("severity") or []:
        vector = str(item.get("score", ""))
        try:
            parsed = cvss_score(vector)
            score, severity = str(parsed.score), parsed.severity.value
        except DomainError:
            score, severity = "", ""
        scores.append(SeverityScore(label=CVSS_LABELS.get(item.get("type"), str(item.get("type", ""))),
                                    vector=vector, score=score, severity=severity))
    return scores


def _cwes(ids) -> list[Link]:
    links = []
    for cwe in ids or []:
        number = str(cwe).upper().removeprefix("CWE-")
        if number.isdigit():
            links.append(Link(f"CWE-{number}", f"https://cwe.mitre.org/data/definitions/{number}.html"))
    return links


def alias_link(alias: str) -> Link:
    if alias.startswith("CVE-"):
        return Link(alias, f"https://www.cve.org/CVERecord?id={alias}", "CVE")
    if alias.startswith("GHSA-"):
        return Link(alias, f"https://github.com/advisories/{alias}", "GitHub")
    return Link(alias, "", "Alias")


def label(constant: str) -> str:
    """OSV's upper-case constants as words: REMEDIATION_DEVELOPER -> "Remediation developer"."""
    return str(constant).replace("_", " ").capitalize()


def advisory_view(document: dict, *, title: str = "") -> AdvisoryView:
    document = document or {}
    specific = document.get("database_specific") or {}
    return AdvisoryView(
        title=title or str(specific.get("title") or document.get("summary") or ""),
        summary=str(document.get("summary") or ""),
        details=str(document.get("details") or ""),
        workarounds=str(specific.get("workarounds") or ""),
        severity=str(specific.get("severity") or ""),
        scores=_scores(document),
        cwes=_cwes(specific.get("cwe_ids")),
        affected=_affected(document),
        credits=[(str(c.get("name", "")), label(c["type"]) if c.get("type") else "")
                 for c in document.get("credits") or [] if c.get("name")],
        references=[Link(label(r.get("type", "WEB")), r["url"]) for r in document.get("references") or []
                    if is_web_url(r.get("url"))],
        aliases=[alias_link(str(a)) for a in document.get("aliases") or []],
        withdrawn=parse_time(document.get("withdrawn")),
        revision=specific.get("revision"),
        osv_id=str(document.get("id") or ""),
    )
