"""Validation and matching of affected version ranges (OSV's model).

A range is ``{"type": "ECOSYSTEM"|"SEMVER"|"GIT", "repo": url (GIT only), "events": [...]}``
with events ``{"introduced": v}``, ``{"fixed": v}``, ``{"last_affected": v}`` (a range has
either fixed or last_affected ends, never both), as in the OSV schema. Versions are compared
with each ecosystem's own rules (``ecosystems``).
"""

from vulndesk.advisories import ecosystems
from vulndesk.core.errors import DomainError

RANGE_TYPES = {"ECOSYSTEM", "SEMVER", "GIT"}
EVENT_KINDS = {"introduced", "fixed", "last_affected", "limit"}
MAX_RANGES, MAX_EVENTS, MAX_VERSIONS = 50, 100, 1000


class InvalidRange(DomainError):
    code = "invalid_range"


def validate_affected(*, ecosystem: str, package_name: str, ranges: list, versions: list) -> tuple[list, list]:
    """Return normalised (ranges, versions) or raise InvalidRange naming what is wrong."""
    if not isinstance(package_name, str) or not package_name.strip() or len(package_name) > 214:
        raise InvalidRange("Give the package name (at most 214 characters).", field="package_name")
    if not isinstance(ranges, list) or not isinstance(versions, list):
        raise InvalidRange("Ranges and versions must be lists.", field="ranges")
    if not ranges and not versions:
        raise InvalidRange("Give at least one range or one affected version.", field="ranges")
    if len(ranges) > MAX_RANGES or len(versions) > MAX_VERSIONS:
        raise InvalidRange(f"At most {MAX_RANGES} ranges and {MAX_VERSIONS} listed versions.", field="ranges")
    normalised = []
    for index, item in enumerate(ranges, start=1):
        where = f"Range {index}"
        if not isinstance(item, dict) or item.get("type") not in RANGE_TYPES:
            raise InvalidRange(f"{where}: type must be ECOSYSTEM, SEMVER or GIT.", field="ranges")
        kind = item["type"]
        if (kind == "GIT") != (ecosystem == "GIT"):
            raise InvalidRange(f"{where}: GIT ranges belong to the GIT ecosystem only.", field="ranges")
        if kind == "GIT" and not str(item.get("repo", "")).startswith(("https://", "http://", "git://")):
            raise InvalidRange(f"{where}: a GIT range needs the repository URL.", field="ranges")
        events = item.get("events")
        if not isinstance(events, list) or not events or len(events) > MAX_EVENTS:
            raise InvalidRange(f"{where}: give 1 to {MAX_EVENTS} events.", field="ranges")
        clean_events = []
        for event in events:
            if not isinstance(event, dict) or len(event) != 1 or next(iter(event)) not in EVENT_KINDS:
                raise InvalidRange(f"{where}: each event is one of introduced, fixed, last_affected, limit.",
                                   field="ranges")
            (name, value), = event.items()
            if not isinstance(value, str) or not value.strip():
                raise InvalidRange(f"{where}: {name} needs a version.", field="ranges")
            value = value.strip()
            if not (name == "introduced" and value == "0"):
                ecosystems.parse(ecosystem if kind != "SEMVER" else "SemVer", value, where=f"{where}, {name}")
            clean_events.append({name: value})
        names = [next(iter(e)) for e in clean_events]
        if "introduced" not in names:
            raise InvalidRange(f"{where}: a range needs an introduced event (use \"0\" for all versions).",
                               field="ranges")
        if "fixed" in names and "last_affected" in names:
            raise InvalidRange(f"{where}: use either fixed or last_affected events, not both.", field="ranges")
        ecosystems.check_event_order(ecosystem if kind != "SEMVER" else "SemVer", clean_events, where=where)
        normalised.append({"type": kind, **({"repo": item["repo"]} if kind == "GIT" else {}), "events": clean_events})
    clean_versions = []
    for value in versions:
        if not isinstance(value, str) or not value.strip():
            raise InvalidRange("Listed versions must be non-empty text.", field="versions")
        ecosystems.parse(ecosystem, value.strip(), where="Listed version")
        clean_versions.append(value.strip())
    return normalised, clean_versions


def is_affected(*, ecosystem: str, version: str, ranges: list, versions: list) -> bool:
    """Does ``version`` fall in any range (or the explicit list)? OSV's evaluation rules."""
    if version in versions:
        return True
    for item in ranges:
        system = "SemVer" if item["type"] == "SEMVER" else ecosystem
        if item["type"] == "GIT":
            continue  # commit ranges are answered by the OSV API's commit query
        if ecosystems.in_events(system, version, item["events"]):
            return True
    return False
