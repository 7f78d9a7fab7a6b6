"""Version parsing and ordering per ecosystem, and OSV event evaluation. Pure: no database.

Every parsed version carries a **sort key**: bytes whose plain byte order (``memcmp``, which is
how SQLite compares BLOBs and PostgreSQL compares ``bytea``) is the ecosystem's own version
order, and whose equality is the ecosystem's version equality. Python comparisons use the same
key, so the OSV index (``vulndesk.osv``) can narrow matches in SQL and the confirmation in
Python can never disagree with it. Each ecosystem's rules:

* **PyPI**: PEP 440 through ``packaging`` (epochs, pre/post/dev releases, local versions;
  ``1.0 == 1.0.0``). The key is built from ``Version``'s public fields in the order of
  packaging's own ``_cmpkey`` (https://packaging.python.org/en/latest/specifications/version-specifiers/).
* **SemVer**, **crates.io**: SemVer 2.0.0 (https://semver.org, sections 9-11): prerelease
  identifiers compared numerically or in ASCII order, numeric before alphanumeric, a longer
  set of identifiers after its prefix; build metadata ignored for precedence.
* **npm**: SemVer 2.0.0, with the optional ``v`` prefix that node-semver accepts.
* **Go**: module versions (``v`` prefix optional because OSV ranges for Go omit it). Ordered as
  ``golang.org/x/mod/semver.Compare`` orders them: SemVer precedence, so a pseudo-version such
  as ``v0.0.0-20191109021931-daa7c04131f5`` sorts by its base version, then by its 14-digit
  timestamp (``vX.Y.(Z+1)-0.<time>-<hash>`` after ``vX.Y.Z``, before ``vX.Y.(Z+1)``'s
  prereleases). ``+incompatible`` (only for major version 2 and above) is build metadata and
  does not change the order; any other build metadata is not a Go module version.
* **Maven**: the version order specification of the POM reference
  (https://maven.apache.org/pom.html#Version_Order_Specification), as ComparableVersion applies
  it: tokens split on ``.``, ``-`` and digit/letter transitions; ``alpha < beta < milestone <
  rc = cr < snapshot < "" = final = ga = release < sp < other qualifiers (alphabetical) <
  numbers``; ``a1``/``b1``/``m1`` mean alpha/beta/milestone 1; trailing nulls trimmed per
  hyphen group (``1.0.0 == 1 == 1-ga``). Where the written spec contradicts itself
  (``1.foo = 1-foo`` but ".qualifier < -qualifier") we follow ComparableVersion and treat
  ``.foo`` as ``-foo``, which also makes the order a proper total order.
* **GIT**: commit hashes (7 to 64 hex digits, lower-cased). No order: a commit is matched by
  equality (an abbreviated hash matches the full one it begins) with the commits an advisory
  lists as ``introduced`` or ``last_affected`` or in ``versions``; walking the commit graph
  would need the repository.

OSV event semantics (https://ossf.github.io/osv-schema/#evaluation) live in ``in_events``;
``affected_intervals`` turns a range into the disjoint version intervals it covers, for the
index.
"""

from __future__ import annotations

import functools
import re

from packaging.version import InvalidVersion, Version

from vulndesk.core.errors import DomainError

ECOSYSTEMS = ("PyPI", "npm", "Go", "Maven", "crates.io", "SemVer", "GIT")
# Ecosystems whose versions are SemVer 2.0.0 (with their own prefix rules): a range of type
# SEMVER in them is compared with the ecosystem's parser, which accepts plain SemVer too.
SEMVER_FAMILY = frozenset({"npm", "Go", "crates.io", "SemVer"})
MAX_VERSION_LENGTH = 200  # also bounds every number to < 255 digits (one length byte)
INFINITY_KEY = b"\xff"  # sorts after every version key (keys never start with 0xff)
ZERO_KEY = b""  # introduced "0": sorts before every version key


class InvalidEcosystemVersion(DomainError):
    code = "invalid_version"


class UnknownEcosystem(DomainError):
    code = "unknown_ecosystem"


@functools.total_ordering
class ParsedVersion:
    """A version of one ecosystem: the text as given and its byte sort key."""

    __slots__ = ("ecosystem", "text", "key")

    def __init__(self, ecosystem: str, text: str, key: bytes):
        self.ecosystem, self.text, self.key = ecosystem, text, key

    def __eq__(self, other):
        if not isinstance(other, ParsedVersion):
            return NotImplemented
        return self.key == other.key

    def __lt__(self, other):
        if not isinstance(other, ParsedVersion):
            return NotImplemented
        return self.key < other.key

    def __hash__(self):
        return hash(self.key)

    def __str__(self):
        return self.text

    def __repr__(self):
        return f"ParsedVersion({self.ecosystem!r}, {self.text!r})"


class _Malformed(ValueError):
    """Internal: why a text is not a version of the ecosystem (becomes InvalidEcosystemVersion)."""


# --- Byte encodings -------------------------------------------------------------------------

def _number(digits: str) -> bytes:
    """An unsigned decimal as bytes ordered numerically: length byte, then the digits."""
    digits = digits.lstrip("0") or "0"
    return bytes([len(digits)]) + digits.encode("ascii")


_DIGITS = re.compile(r"[0-9]+")


def _is_digits(text: str) -> bool:
    # str.isdigit() is true for other scripts' digits too; versions use ASCII digits only.
    return _DIGITS.fullmatch(text) is not None


# --- SemVer 2.0.0 ---------------------------------------------------------------------------

_IDENT = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER = re.compile(
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    rf"(?:-({_IDENT}(?:\.{_IDENT})*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)


def _semver_parts(text: str) -> tuple[str, str, str, str | None, str | None]:
    match = _SEMVER.fullmatch(text)
    if match is None:
        raise _Malformed("expected MAJOR.MINOR.PATCH[-prerelease][+build], without leading zeros")
    return match.groups()


def _semver_key_of(major: str, minor: str, patch: str, prerelease: str | None) -> bytes:
    key = _number(major) + _number(minor) + _number(patch)
    if prerelease is None:
        return key + b"\x02"  # a release sorts after all its prereleases (spec item 11.3)
    parts = []
    for identifier in prerelease.split("."):
        if _is_digits(identifier):
            parts.append(b"\x01" + _number(identifier))  # numeric identifiers first (11.4.3)
        else:
            parts.append(b"\x02" + identifier.encode("ascii") + b"\x00")  # ASCII order (11.4.2)
    # b"\x00" ends the list: fewer identifiers sort first when the rest are equal (11.4.4).
    return key + b"\x01" + b"".join(parts) + b"\x00"


def _semver_key(text: str) -> bytes:
    major, minor, patch, prerelease, _build = _semver_parts(text)
    return _semver_key_of(major, minor, patch, prerelease)


def _npm_key(text: str) -> bytes:
    return _semver_key(text[1:] if text[:1] in ("v", "V") else text)


def _go_key(text: str) -> bytes:
    major, minor, patch, prerelease, build = _semver_parts(text[1:] if text.startswith("v") else text)
    if build is not None:
        if build != "incompatible":
            raise _Malformed("Go module versions carry no build metadata except +incompatible")
        if int(major) < 2:
            raise _Malformed("+incompatible is only valid from major version 2")
    return _semver_key_of(major, minor, patch, prerelease)


# --- PyPI (PEP 440) -------------------------------------------------------------------------

_PRE = {"a": b"\x01", "b": b"\x02", "rc": b"\x03"}


def _pypi_key(text: str) -> bytes:
    try:
        version = Version(text)
    except InvalidVersion:
        raise _Malformed("not a PEP 440 version") from None
    release = list(version.release)
    while release and release[-1] == 0:  # 1.0 == 1.0.0
        release.pop()
    key = _number(str(version.epoch)) + b"".join(b"\x01" + _number(str(n)) for n in release) + b"\x00"
    if version.pre is None and version.post is None and version.dev is not None:
        key += b"\x00"  # 1.0.dev0 sorts before 1.0a0
    elif version.pre is None:
        key += b"\x02"  # no prerelease: after every prerelease
    else:
        letter, number = version.pre
        key += b"\x01" + _PRE[letter] + _number(str(number))
    key += b"\x00" if version.post is None else b"\x01" + _number(str(version.post))
    key += b"\x02" if version.dev is None else b"\x01" + _number(str(version.dev))
    if version.local is None:
        key += b"\x00"
    else:
        segments = []
        for segment in version.local.split("."):
            if _is_digits(segment):
                segments.append(b"\x02" + _number(segment))  # numbers after strings (PEP 440)
            else:
                segments.append(b"\x01" + segment.encode("ascii") + b"\x00")
        key += b"\x01" + b"".join(segments) + b"\x00"
    return key


# --- Maven ----------------------------------------------------------------------------------

_MAVEN_TEXT = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+~-]*")
_MAVEN_PIECES = re.compile(r"[0-9]+|[^0-9]+")
_MAVEN_BEFORE_RELEASE = {"alpha": b"\x01\x01", "beta": b"\x01\x02", "milestone": b"\x01\x03",
                         "rc": b"\x01\x04", "snapshot": b"\x01\x05"}
_MAVEN_END = b"\x02"  # between the pre-release qualifiers and "" (see the docstring of _maven_key)
_MAVEN_SHORT = {"a": "alpha", "b": "beta", "m": "milestone"}


def maven_tokens(text: str) -> list[tuple[str, str]]:
    """The canonical ``(prefix, value)`` tokens of a Maven version (prefix ``.`` or ``-``)."""
    tokens: list[tuple[str, str]] = []
    chunks = re.split(r"([.-])", text.lower())
    for index in range(0, len(chunks), 2):
        prefix = "." if index == 0 else chunks[index - 1]
        pieces = _MAVEN_PIECES.findall(chunks[index]) or ["0"]  # empty tokens are "0"
        for position, piece in enumerate(pieces):
            if position:
                prefix = "-"  # a digit/letter transition counts as a hyphen
            if _is_digits(piece):
                tokens.append((prefix, piece.lstrip("0") or "0"))
                continue
            if piece == "cr":
                piece = "rc"
            elif piece in ("ga", "final", "release"):
                piece = ""
            elif piece in _MAVEN_SHORT and position + 1 < len(pieces):  # a1 = alpha-1
                piece = _MAVEN_SHORT[piece]
            tokens.append(("-", piece))  # ".foo" is "-foo", as in ComparableVersion
    # Trim trailing nulls ("0" and ""), then again before each remaining hyphen, end to start.
    i = len(tokens) - 1
    while i > 0:
        if tokens[i][1] in ("0", ""):
            tokens.pop(i)
            i -= 1
            continue
        while i >= 0 and tokens[i][0] != "-":
            i -= 1
        i -= 1
    return tokens


def _maven_key(text: str) -> bytes:
    """Each token is encoded so that the byte order is the token order of the specification:
    ``-alpha < -beta < -milestone < -rc < -snapshot < -"" < -sp < -other < -number < .number``.
    A shorter version is compared as if padded with nulls ("0" after ".", "" after "-"). Trailing
    nulls are trimmed per hyphen group, so a null left inside a version is always followed by a
    greater token; hence the end marker sits just below ``-""``: ``1-rc < 1 < 1-sp < 1-1 < 1.1``."""
    if _MAVEN_TEXT.fullmatch(text) is None:
        raise _Malformed("use letters, digits and . - _ + ~, starting with a letter or digit")
    parts = []
    for prefix, value in maven_tokens(text):
        if _is_digits(value):
            parts.append((b"\x07" if prefix == "." else b"\x06") + _number(value))
        elif value in _MAVEN_BEFORE_RELEASE:
            parts.append(_MAVEN_BEFORE_RELEASE[value])
        elif value == "":
            parts.append(b"\x03")
        elif value == "sp":
            parts.append(b"\x04")
        else:
            parts.append(b"\x05" + value.encode("ascii") + b"\x00")
    return b"".join(parts) + _MAVEN_END


# --- GIT ------------------------------------------------------------------------------------

_COMMIT = re.compile(r"[0-9a-f]{7,64}")


def _git_key(text: str) -> bytes:
    if _COMMIT.fullmatch(text.lower()) is None:
        raise _Malformed("a commit hash is 7 to 64 hexadecimal digits")
    return text.lower().encode("ascii")


_PARSERS = {"PyPI": _pypi_key, "npm": _npm_key, "Go": _go_key, "Maven": _maven_key,
            "crates.io": _semver_key, "SemVer": _semver_key, "GIT": _git_key}


# --- Public functions -----------------------------------------------------------------------

def canonical_ecosystem(name) -> str:
    """The ecosystem's OSV spelling (``pypi`` -> ``PyPI``) or UnknownEcosystem."""
    if isinstance(name, str):
        if name in _PARSERS:
            return name
        for known in ECOSYSTEMS:
            if known.lower() == name.lower():
                return known
    shown = f"Unknown ecosystem {name[:40]!r}" if isinstance(name, str) else "Give the ecosystem as a string"
    raise UnknownEcosystem(f"{shown}; use one of {', '.join(ECOSYSTEMS)}.", field="ecosystem")


@functools.lru_cache(maxsize=65536)
def _cached_key(ecosystem: str, value: str) -> bytes:
    return _PARSERS[ecosystem](value)


def parse(ecosystem: str, value: str, *, where: str = "Version") -> ParsedVersion:
    """Parse ``value`` with ``ecosystem``'s rules or raise InvalidEcosystemVersion naming both."""
    if ecosystem not in _PARSERS:
        raise InvalidEcosystemVersion(f"{where}: unknown ecosystem {str(ecosystem)[:40]!r}.", field="ranges")
    if not isinstance(value, str) or not value:
        raise InvalidEcosystemVersion(f"{where}: give a {ecosystem} version.", field="ranges")
    shown = value if len(value) <= 60 else value[:57] + "..."
    if len(value) > MAX_VERSION_LENGTH:
        raise InvalidEcosystemVersion(f"{where}: {shown!r} is not a valid {ecosystem} version (longer than "
                                      f"{MAX_VERSION_LENGTH} characters).", field="ranges")
    # Printable ASCII leaves the space as the only white space to refuse.
    if not value.isascii() or not value.isprintable() or " " in value:
        raise InvalidEcosystemVersion(f"{where}: {shown!r} is not a valid {ecosystem} version (only printable "
                                      "ASCII without spaces).", field="ranges")
    try:
        key = _cached_key(ecosystem, value)
    except _Malformed as reason:
        raise InvalidEcosystemVersion(f"{where}: {shown!r} is not a valid {ecosystem} version ({reason}).",
                                      field="ranges") from None
    return ParsedVersion(ecosystem, value, key)


def version_key(ecosystem: str, value: str) -> bytes:
    """The byte sort key of a version (see the module docstring)."""
    return parse(ecosystem, value).key


def comparator(ecosystem: str, range_type: str) -> str:
    """Which ecosystem's rules compare the versions of a range of ``range_type`` in ``ecosystem``:
    SEMVER ranges use SemVer, except in ecosystems that are SemVer already (Go's OSV ranges are
    SEMVER without the ``v``, which the Go parser accepts)."""
    if range_type == "SEMVER" and ecosystem not in SEMVER_FAMILY:
        return "SemVer"
    return ecosystem


def normalise_package_name(ecosystem: str, name: str) -> str:
    """The name under which OSV matches a package: PyPI names per PEP 503 (case, runs of
    ``-_.``), others exactly as given (npm, Go module paths and Maven coordinates are case
    sensitive), without surrounding spaces."""
    name = name.strip()
    if ecosystem == "PyPI":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name


def _is_infinite_limit(value: str) -> bool:
    return "*" in value  # OSV: a limit containing "*" is infinity


def _point(ecosystem: str, name: str, value: str, where: str) -> ParsedVersion:
    if name == "introduced" and value == "0":
        return ParsedVersion(ecosystem, "0", ZERO_KEY)
    return parse(ecosystem, value, where=f"{where}, {name}")


_SAME_VERSION_ORDER = {"introduced": 0, "fixed": 1, "last_affected": 2}


def _sorted_points(ecosystem: str, events: list[dict], where: str) -> tuple[list[tuple], list]:
    """(sorted [(point, kind)] without limits, [limit points, None for infinity])."""
    points, limits = [], []
    for event in events:
        (name, value), = event.items()
        if name == "limit":
            limits.append(None if _is_infinite_limit(value) else parse(ecosystem, value, where=f"{where}, limit"))
        else:
            points.append((_point(ecosystem, name, value, where), name))
    # Events at the same version: introduced first, so [1.0, fixed 1.0) is empty and
    # [1.0, last_affected 1.0] is the one version; then fixed before last_affected, because a
    # version both fixed and last affected is not affected (OSV's evaluation: fixed switches it off).
    points.sort(key=lambda item: (item[0].key, _SAME_VERSION_ORDER[item[1]]))
    return points, limits


def check_event_order(ecosystem: str, events: list[dict], *, where: str) -> None:
    """Refuse a range whose first fixed/last_affected version comes before its first introduced."""
    if ecosystem == "GIT":
        return
    introduced, ends = [], []
    for event in events:
        (name, value), = event.items()
        if name == "introduced" and value != "0":
            introduced.append(parse(ecosystem, value, where=f"{where}, introduced"))
        elif name in ("fixed", "last_affected"):
            ends.append(parse(ecosystem, value, where=f"{where}, {name}"))
    if introduced and ends and min(ends) < min(introduced):
        raise InvalidEcosystemVersion(f"{where}: the fixed/last affected version comes before the introduced one.",
                                      field="ranges")


def commits_match(left: str, right: str) -> bool:
    """Two commit hashes name the same commit: equal, or one abbreviates the other."""
    left, right = left.lower(), right.lower()
    return left.startswith(right) or right.startswith(left)


def in_events(ecosystem: str, version: str, events: list[dict]) -> bool:
    """Is ``version`` affected by one range's ``events``? OSV's evaluation: the version must be
    below one of the limits (if any), then the events sorted by version switch it on
    (introduced: v >= e) and off (fixed: v >= e; last_affected: v > e). A version that does not
    parse is not affected. For GIT, equality with an introduced or last_affected commit."""
    try:
        target = parse(ecosystem, version)
    except DomainError:
        return False
    if ecosystem == "GIT":
        return any(name in ("introduced", "last_affected") and value != "0" and commits_match(target.text, value)
                   for event in events for name, value in event.items())
    points, limits = _sorted_points(ecosystem, events, "Range")
    if limits and not any(limit is None or target < limit for limit in limits):
        return False
    affected = False
    for point, name in points:
        if name == "introduced":
            if target >= point:
                affected = True
        elif name == "fixed":
            if target >= point:
                affected = False
        elif target > point:  # last_affected
            affected = False
    return affected


def affected_intervals(ecosystem: str, events: list[dict], *, where: str = "Range") -> list[tuple[bytes, bytes, bool]]:
    """The disjoint intervals ``(lower_key, upper_key, upper_inclusive)`` of versions a range
    affects, exactly the versions ``in_events`` accepts: lower bounds inclusive, ``ZERO_KEY`` for
    introduced "0", ``INFINITY_KEY`` for no end. Limits clip the intervals (below the greatest
    limit). Not for GIT ranges, which have no order."""
    points, limits = _sorted_points(ecosystem, events, where)
    ceiling = None
    if limits and None not in limits:
        ceiling = max(limits).key
    intervals, start = [], None
    for point, name in points:
        if name == "introduced":
            if start is None:
                start = point.key
        elif start is not None:
            intervals.append((start, point.key, name == "last_affected"))
            start = None
    if start is not None:
        intervals.append((start, INFINITY_KEY, False))
    if ceiling is not None:
        clipped = []
        for lower, upper, inclusive in intervals:
            if lower >= ceiling:
                continue
            if upper >= ceiling:
                upper, inclusive = ceiling, False
            clipped.append((lower, upper, inclusive))
        intervals = clipped
    return [(lower, upper, inclusive) for lower, upper, inclusive in intervals
            if lower < upper or (lower == upper and inclusive)]
