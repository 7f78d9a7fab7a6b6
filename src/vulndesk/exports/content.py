"""What every export is built from: one advisory's content in one *edition*. Pure (no queries
beyond the advisory's own relations, no clock).

Two editions, so that nothing unpublished leaks into a published document:

- ``published``: read from the public face only (``Advisory.public_document``, the frozen OSV
  document of the latest revision, and the ``AdvisoryRevision`` rows). This is what the publish
  hook validates (the public face has just been set when it runs) and what staff download for
  a public advisory by default. Pending staff edits are invisible here.
- ``draft``: read from the live, editable fields. Staff preview what the *next* revision will
  look like; its tracking says ``draft`` and names the pending revision number. This is the
  default for an advisory that has never been published.

The OSV snapshot carries everything the other formats need (title, severity, CWE ids and
workarounds live in its ``database_specific``), so both editions go through the same builders.
A GIT package has no OSV ``package``; in both editions it is named by its repository URL.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from vulndesk.advisories.models import Advisory
from vulndesk.core.errors import DomainError

PUBLISHED, DRAFT = "published", "draft"
EDITIONS = (PUBLISHED, DRAFT)


@dataclass(frozen=True)
class Package:
    ecosystem: str
    name: str
    ranges: tuple[dict, ...]
    versions: tuple[str, ...]


@dataclass(frozen=True)
class Revision:
    number: int
    date: datetime
    summary: str


@dataclass(frozen=True)
class AdvisoryContent:
    edition: str
    identifier: str
    organisation_name: str
    title: str
    summary: str
    details: str
    workarounds: str
    severity: str
    cvss3_vector: str
    cvss4_vector: str
    cwe_ids: tuple[int, ...]
    credits: tuple[dict, ...]
    references: tuple[dict, ...]
    cve_id: str
    ghsa_id: str
    packages: tuple[Package, ...]
    published_at: datetime | None
    modified_at: datetime
    withdrawn_at: datetime | None
    # Released revisions, plus (draft edition with pending edits) the revision being prepared.
    revisions: tuple[Revision, ...]
    is_final: bool  # False: a draft of a revision that is not published yet

    @property
    def version(self) -> int:
        return self.revisions[-1].number


class EditionUnavailable(DomainError):
    status_code = 404
    code = "edition_unavailable"


def default_edition(advisory: Advisory) -> str:
    return PUBLISHED if advisory.is_public else DRAFT


def has_pending_edits(advisory: Advisory) -> bool:
    """Live fields changed since the public face was last set (``advisory_update`` moves
    ``modified_at``; publishing and withdrawing set both to the same instant)."""
    return advisory.public_modified_at is None or advisory.modified_at > advisory.public_modified_at


def advisory_content(advisory: Advisory, *, edition: str) -> AdvisoryContent:
    if edition == PUBLISHED:
        return published_content(advisory)
    if edition == DRAFT:
        return draft_content(advisory)
    raise EditionUnavailable(f"Unknown edition {edition!r}; use {' or '.join(EDITIONS)}.", field="edition")


def _released(advisory: Advisory) -> list[Revision]:
    return [Revision(number=row.revision, date=row.published_at,
                     summary=(row.changelog or ("Initial publication" if row.revision == 1 else f"Revision {row.revision}")))
            for row in sorted(advisory.revisions.all(), key=lambda r: r.revision)]


def published_content(advisory: Advisory) -> AdvisoryContent:
    document = advisory.public_document
    if not advisory.is_public or not document:
        raise EditionUnavailable("This advisory has not been published yet; only its draft can be exported.",
                                 field="edition")
    specific = document.get("database_specific") or {}
    aliases = document.get("aliases") or []
    severities = {entry["type"]: entry["score"] for entry in document.get("severity") or []}
    packages = []
    for entry in document.get("affected") or []:
        ranges = tuple(entry.get("ranges") or ())
        package = entry.get("package")
        if package:
            packages.append(Package(package["ecosystem"], package["name"], ranges, tuple(entry.get("versions") or ())))
        else:  # GIT: OSV puts the repository in the range instead of naming a package
            packages.append(Package("GIT", _repository(ranges), ranges, tuple(entry.get("versions") or ())))
    revisions = _released(advisory)
    return AdvisoryContent(
        edition=PUBLISHED,
        identifier=advisory.identifier,
        organisation_name=advisory.organisation.name,
        title=specific.get("title") or document.get("summary") or advisory.identifier,
        summary=document.get("summary") or "",
        details=document.get("details") or "",
        workarounds=specific.get("workarounds") or "",
        severity=specific.get("severity") or "",
        cvss3_vector=severities.get("CVSS_V3", ""),
        cvss4_vector=severities.get("CVSS_V4", ""),
        cwe_ids=tuple(int(str(cwe).removeprefix("CWE-")) for cwe in specific.get("cwe_ids") or ()),
        credits=tuple(document.get("credits") or ()),
        references=tuple(document.get("references") or ()),
        cve_id=next((alias for alias in aliases if alias.startswith("CVE-")), ""),
        ghsa_id=next((alias for alias in aliases if alias.startswith("GHSA-")), ""),
        packages=tuple(packages),
        published_at=_parse(document.get("published")),
        modified_at=_parse(document["modified"]),
        withdrawn_at=_parse(document.get("withdrawn")),
        revisions=tuple(revisions),
        is_final=True,
    )


def draft_content(advisory: Advisory) -> AdvisoryContent:
    revisions = _released(advisory)
    pending = not advisory.is_public or has_pending_edits(advisory)
    if pending:
        revisions.append(Revision(number=advisory.revision + 1, date=advisory.modified_at,
                                  summary=f"Draft of revision {advisory.revision + 1}, not published."))
    packages = tuple(
        Package(row.ecosystem, _repository(row.ranges) if row.ecosystem == "GIT" else row.package_name,
                tuple(row.ranges), tuple(row.versions))
        for row in advisory.affected.all())
    return AdvisoryContent(
        edition=DRAFT,
        identifier=advisory.identifier,
        organisation_name=advisory.organisation.name,
        title=advisory.title,
        summary=advisory.summary or advisory.title,
        details=advisory.details,
        workarounds=advisory.workarounds,
        severity=advisory.severity,
        cvss3_vector=advisory.cvss3_vector,
        cvss4_vector=advisory.cvss4_vector,
        cwe_ids=tuple(advisory.cwe_ids),
        credits=tuple(advisory.credits),
        references=tuple(advisory.references),
        cve_id=advisory.cve_id,
        ghsa_id=advisory.ghsa_id,
        packages=packages,
        published_at=advisory.published_at,
        modified_at=advisory.modified_at,
        withdrawn_at=advisory.withdrawn_at,
        revisions=tuple(revisions),
        is_final=not pending,
    )


def _repository(ranges) -> str:
    return next((item["repo"] for item in ranges if item.get("repo")), "") or "repository"


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
