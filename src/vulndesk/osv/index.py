"""What the OSV index holds for one published OSV document. Pure: document in, entries out.

Each affected package contributes, per range, one entry per disjoint interval of versions the
range covers (``ecosystems.affected_intervals``), one entry per listed version, and, for GIT
ranges, one entry per commit named as introduced or last_affected (commits have no order here:
equality only). A SEMVER range in an ecosystem whose own order is not SemVer (PyPI, Maven)
cannot be keyed in that ecosystem's order, so its entry spans every version and the match is
decided by SemVer rules at query time.
"""

from dataclasses import dataclass

from vulndesk.advisories import ecosystems
from vulndesk.advisories.ecosystems import INFINITY_KEY, ZERO_KEY, InvalidEcosystemVersion
from vulndesk.osv.models import RangeKind

MAX_PACKAGE_LENGTH = 300


@dataclass(frozen=True)
class IndexEntry:
    ecosystem: str
    package: str
    kind: str
    comparator: str
    events: list
    version: str
    lower_key: bytes
    upper_key: bytes
    upper_inclusive: bool
    commit: str


def _commit_entry(repo: str, value: str, where: str) -> IndexEntry:
    commit = ecosystems.parse("GIT", value, where=where).text.lower()
    return IndexEntry("GIT", repo[:MAX_PACKAGE_LENGTH], RangeKind.GIT, "GIT", [], commit, b"", b"", False, commit)


def _package_of(affected: dict) -> tuple[str, str]:
    """(ecosystem, normalised name) of an ``affected`` entry. ``documents.osv_document`` writes
    no ``package`` for our two non-OSV ecosystems: GIT entries stand alone (their ranges carry
    the repository) and a plain-SemVer product is named in ``database_specific.product``."""
    package = affected.get("package")
    if isinstance(package, dict):
        ecosystem = ecosystems.canonical_ecosystem(package.get("ecosystem"))
        return ecosystem, ecosystems.normalise_package_name(ecosystem, str(package.get("name", "")))
    product = (affected.get("database_specific") or {}).get("product")
    if isinstance(product, str) and product.strip():
        return "SemVer", ecosystems.normalise_package_name("SemVer", product)
    return "GIT", ""


def entries_for_document(document: dict) -> list[IndexEntry]:
    """The index entries of an OSV document; raises InvalidEcosystemVersion (a DomainError,
    which refuses the publish) when a version cannot be read with its ecosystem's rules."""
    entries: list[IndexEntry] = []
    for number, affected in enumerate(document.get("affected") or [], start=1):
        ecosystem, name = _package_of(affected)
        if len(name) > MAX_PACKAGE_LENGTH:
            raise InvalidEcosystemVersion(f"Affected package {number}: the name is too long to index.",
                                          field="package_name")
        for range_number, item in enumerate(affected.get("ranges") or [], start=1):
            where = f"Affected package {number}, range {range_number}"
            events = item.get("events") or []
            if item.get("type") == "GIT":
                repo = str(item.get("repo", ""))
                entries += [_commit_entry(repo, value, where) for event in events
                            for kind, value in event.items()
                            if kind in ("introduced", "last_affected") and value != "0"]
                continue
            if ecosystem == "GIT":
                continue  # a version range with no package to query it by
            comparator = ecosystems.comparator(ecosystem, item.get("type", "ECOSYSTEM"))
            kind = RangeKind.SEMVER if item.get("type") == "SEMVER" else RangeKind.ECOSYSTEM
            intervals = ecosystems.affected_intervals(comparator, events, where=where)
            if comparator != ecosystem:
                # Keys in another order than the ecosystem's: let every version through to the check.
                intervals = [(ZERO_KEY, INFINITY_KEY, False)] if intervals else []
            entries += [IndexEntry(ecosystem, name, kind, comparator, events, "", lower, upper, inclusive, "")
                        for lower, upper, inclusive in intervals]
        for value in affected.get("versions") or []:
            where = f"Affected package {number}, listed version"
            if ecosystem == "GIT":
                entries.append(_commit_entry(str(affected.get("repo", "")), value, where))
                continue
            key = ecosystems.parse(ecosystem, value, where=where).key
            entries.append(IndexEntry(ecosystem, name, RangeKind.VERSION, ecosystem, [], value, key, key, True, ""))
    return entries


def aliases_of_document(document: dict) -> list[str]:
    """The document's aliases, upper-cased (CVE and GHSA ids are case-insensitive), once each."""
    return sorted({str(alias).strip().upper()[:60] for alias in document.get("aliases") or [] if str(alias).strip()})
