"""How an affected package's OSV ranges read in other formats. Pure.

OSV describes affected versions as event lists (``introduced``, ``fixed``, ``last_affected``,
``limit``); CSAF and CVE want intervals. ``intervals()`` walks the events in the ecosystem's own
version order (``advisories.ecosystems``, the same order the OSV API evaluates with) and pairs
each ``introduced`` with the end that follows it. GIT ranges are commit lists, not ordered by
value, so their events are paired in the order given.

Identifiers for the other formats:

- ``vers`` strings (the package-url "vers" range specifier, which CSAF 2.0 recommends for
  ``product_version_range``): ``vers:pypi/>=1.0.0|<1.2.3``.
- package URLs (CSAF ``product_identification_helper.purl``, checked by CSAF mandatory test
  6.1.13), per the purl type definitions: PyPI names normalised (lower case, ``_`` -> ``-``),
  npm scopes and Go module paths split into namespace and name, Maven ``group:artifact``.
- CVE 5 ``versionType`` and ``collectionURL`` per ecosystem.
"""

from dataclasses import dataclass
from urllib.parse import quote

from vulndesk.advisories import ecosystems
from vulndesk.core.errors import DomainError

# vers versioning schemes (https://github.com/package-url/purl-spec, VERSION-RANGE-SPEC).
VERS_SCHEME = {"PyPI": "pypi", "npm": "npm", "Go": "golang", "Maven": "maven", "crates.io": "cargo",
               "SemVer": "semver"}
PURL_TYPE = {"PyPI": "pypi", "npm": "npm", "Go": "golang", "Maven": "maven", "crates.io": "cargo"}
# CVE JSON 5 versionType values (the schema's examples: custom, git, maven, python, rpm, semver).
CVE_VERSION_TYPE = {"PyPI": "python", "npm": "semver", "Go": "semver", "Maven": "maven", "crates.io": "semver",
                    "SemVer": "semver", "GIT": "git"}
# CVE JSON 5 collectionURL: where packageName is looked up (URLs from the schema's examples).
CVE_COLLECTION_URL = {"PyPI": "https://pypi.org", "npm": "https://www.npmjs.com", "Go": "https://pkg.go.dev",
                      "Maven": "https://repo.maven.apache.org/maven2", "crates.io": "https://crates.io"}


@dataclass(frozen=True)
class Interval:
    """Affected from ``start`` ("0": from the first version) up to the end the event names."""

    start: str
    end_kind: str | None  # "fixed" | "last_affected" | "limit" | None (still open)
    end: str | None
    repo: str = ""  # GIT ranges only

    @property
    def from_beginning(self) -> bool:
        return self.start == "0"


def intervals(ecosystem: str, ranges) -> list[Interval]:
    found = []
    for item in ranges:
        kind = item.get("type")
        system = "SemVer" if kind == "SEMVER" else ecosystem
        events = list(item.get("events") or ())
        if kind != "GIT":
            events.sort(key=lambda event: _event_key(system, event))
        start = None
        for event in events:
            (name, value), = event.items()
            if name == "introduced":
                if start is None:
                    start = value
            elif start is not None:
                found.append(Interval(start, name, value, item.get("repo", "")))
                start = None
        if start is not None:
            found.append(Interval(start, None, None, item.get("repo", "")))
    return found


def _event_key(system: str, event: dict):
    (name, value), = event.items()
    order = 0 if name == "introduced" else 1
    if value == "0":
        return (0, "", order)
    try:
        return (1, ecosystems.parse(system, value), order)
    except DomainError:  # stored ranges were validated; this only keeps a sort from crashing
        return (2, value, order)


def version_key(ecosystem: str, value: str):
    try:
        return (0, ecosystems.parse(ecosystem, value))
    except DomainError:
        return (1, value)


def vers(ecosystem: str, interval: Interval) -> str:
    """The vers string of one interval; ``*`` means every version."""
    constraints = [] if interval.from_beginning else [f">={interval.start}"]
    if interval.end_kind in {"fixed", "limit"}:
        constraints.append(f"<{interval.end}")
    elif interval.end_kind == "last_affected":
        constraints.append(f"<={interval.end}")
    return f"vers:{VERS_SCHEME.get(ecosystem, 'generic')}/{'|'.join(constraints) or '*'}"


def vers_below(ecosystem: str, version: str) -> str:
    return f"vers:{VERS_SCHEME.get(ecosystem, 'generic')}/<{version}"


def describe(ecosystem: str, interval: Interval) -> str:
    """A range in words, for GIT ranges (commits have no vers scheme) and for remediations."""
    if ecosystem == "GIT":
        start = "from the first commit" if interval.from_beginning else f"from commit {interval.start}"
        end = {"fixed": f"up to commit {interval.end} (which fixes it)",
               "last_affected": f"up to and including commit {interval.end}",
               "limit": f"up to commit {interval.end} (excluded)", None: "onwards"}[interval.end_kind]
        return f"commits {start} {end} in {interval.repo}"
    start = "" if interval.from_beginning else f">= {interval.start}"
    end = {"fixed": f"< {interval.end}", "limit": f"< {interval.end}", "last_affected": f"<= {interval.end}",
           None: ""}[interval.end_kind]
    return ", ".join(part for part in (start, end) if part) or "all versions"


def purl(ecosystem: str, name: str, version: str | None = None) -> str | None:
    """The package URL of a package (and version), or None where no purl type fits."""
    kind = PURL_TYPE.get(ecosystem)
    if kind is None:
        return None
    namespace = ""
    if ecosystem == "PyPI":
        name = name.lower().replace("_", "-")
    elif ecosystem == "npm" and name.startswith("@") and "/" in name:
        namespace, name = name.split("/", 1)
    elif ecosystem == "Go" and "/" in name:
        namespace, name = name.rsplit("/", 1)
    elif ecosystem == "Maven":
        if name.count(":") != 1:
            return None
        namespace, name = name.split(":")
    path = "/".join(quote(segment, safe="") for segment in namespace.split("/") if segment)
    text = f"pkg:{kind}/{path + '/' if path else ''}{quote(name, safe='')}"
    return f"{text}@{quote(version, safe='')}" if version else text
