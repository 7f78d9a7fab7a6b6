"""Version parsing and ordering per ecosystem, and OSV event evaluation. Pure.

This first version knows PyPI (PEP 440, ``packaging``) and SemVer-shaped ecosystems; the
others are compared as SemVer where they parse and refused otherwise.
TODO(#10): Go pseudo-versions, Maven ordering, crates.io/npm specifics.
"""

from packaging.version import InvalidVersion, Version

from vulndesk.core.errors import DomainError


class InvalidEcosystemVersion(DomainError):
    code = "invalid_version"


def parse(ecosystem: str, value: str, *, where: str = "Version"):
    try:
        if ecosystem == "GIT":
            if not all(c in "0123456789abcdef" for c in value.lower()) or not 7 <= len(value) <= 40:
                raise ValueError("not a commit hash")
            return value.lower()
        return Version(value)
    except (InvalidVersion, ValueError):
        raise InvalidEcosystemVersion(f"{where}: {value!r} is not a valid {ecosystem} version.",
                                      field="ranges") from None


def check_event_order(ecosystem: str, events: list[dict], *, where: str) -> None:
    if ecosystem == "GIT":
        return
    introduced = [parse(ecosystem, e["introduced"]) for e in events if "introduced" in e and e["introduced"] != "0"]
    ends = [parse(ecosystem, v) for e in events for k, v in e.items() if k in {"fixed", "last_affected"}]
    if introduced and ends and min(ends) < min(introduced):
        raise InvalidEcosystemVersion(f"{where}: the fixed/last affected version comes before the introduced one.",
                                      field="ranges")


def in_events(ecosystem: str, version: str, events: list[dict]) -> bool:
    try:
        target = parse(ecosystem, version)
    except DomainError:
        return False
    affected = False
    for event in sorted(events, key=lambda e: _event_key(ecosystem, e)):
        (name, value), = event.items()
        point = None if value == "0" else parse(ecosystem, value)
        if name == "introduced" and (point is None or target >= point):
            affected = True
        elif name == "fixed" and target >= point:
            affected = False
        elif name == "last_affected" and target > point:
            affected = False
    return affected


def _event_key(ecosystem: str, event: dict):
    (name, value), = event.items()
    return (Version("0") if value == "0" else parse(ecosystem, value), 0 if name == "introduced" else 1)
