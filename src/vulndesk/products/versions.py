"""Pure version-range tests for the supported-versions table.

A range is written the way maintainers write it in SECURITY.md:
``2.x`` / ``2.*`` / ``2`` (a release line), ``>=2.0,<3.0`` (PEP 440 specifiers), ``<1.4``,
or one exact version ``1.4.2``. Versions are compared with ``packaging`` (PEP 440), which also
orders the common SemVer shapes (``1.2.3``, ``1.2.3rc1``); a version it cannot parse falls back
to a plain prefix test so ``2024.05-lts`` still lands in ``2024.x``.
"""

import re

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

_LINE = re.compile(r"^v?(\d+(?:\.\d+)*)(?:\.(?:x|\*))?$", re.IGNORECASE)


class InvalidRange(ValueError):
    pass


def _specifier(range_text: str) -> SpecifierSet | None:
    text = range_text.strip()
    line = _LINE.match(text)
    if line and (text.lower().endswith((".x", ".*")) or "." not in text):
        return SpecifierSet(f"=={line.group(1)}.*")
    if text[:1] in "<>=!~":
        try:
            return SpecifierSet(text)
        except InvalidSpecifier as error:
            raise InvalidRange(f"{range_text!r} is not a version range: {error}") from None
    return None


def validate_range(range_text: str) -> None:
    """Raise ``InvalidRange`` with a readable message when ``range_text`` cannot be used."""
    text = range_text.strip()
    if not text:
        raise InvalidRange("A version range cannot be empty.")
    if len(text) > 100 or any(ch.isspace() and ch != " " for ch in text):
        raise InvalidRange("A version range is at most 100 characters on one line.")
    if _specifier(text) is None and any(ch.isspace() or ch in "*^," for ch in text):
        # Neither a line nor a specifier: it would be compared as one exact version and match nothing.
        raise InvalidRange(f"{range_text!r} is not a version range: write 2.x, >=2.0,<3.0 or one version (1.4.2).")


def version_in_range(version: str, range_text: str) -> bool:
    version = version.strip().removeprefix("v").removeprefix("V")
    if not version:
        return False
    spec = _specifier(range_text)
    if spec is None:  # an exact version
        exact = range_text.strip().removeprefix("v").removeprefix("V")
        try:
            return Version(version) == Version(exact)  # PEP 440: 1.0 == 1.0.0
        except InvalidVersion:
            return version == exact
    try:
        parsed = Version(version)
    except InvalidVersion:
        line = _LINE.match(range_text.strip())
        return bool(line) and (version == line.group(1) or version.startswith(line.group(1) + "."))
    return spec.contains(parsed, prereleases=True)
