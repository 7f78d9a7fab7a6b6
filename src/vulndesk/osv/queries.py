"""The OSV API's query language, read from request JSON, and the final match check. Pure.

A query is ``{"package": {"ecosystem": e, "name": n}, "version": v}`` (``version`` may be left
out: every advisory of the package), or ``{"commit": hash}``, as osv.dev's ``/v1/query``
(https://google.github.io/osv.dev/post-v1-query/). Input is checked here by hand rather than by
a DRF serializer: a querybatch holds up to 1,000 of them and serializers cost ~40 µs each.
Every refusal names the query and the field (``queries[12].version: ...``).
"""

import json
import re
from dataclasses import dataclass

from vulndesk.advisories import ecosystems
from vulndesk.core.errors import DomainError

MAX_BATCH = 1000
MAX_NAME_LENGTH = 300
_COMMIT = re.compile(r"[0-9a-fA-F]{7,64}")
_QUERY_FIELDS = {"package", "version", "commit", "page_token"}
_PACKAGE_FIELDS = {"ecosystem", "name", "purl"}


class InvalidQuery(DomainError):
    code = "invalid_query"


@dataclass(frozen=True)
class Query:
    ecosystem: str = ""
    package: str = ""  # normalised name
    version: str | None = None
    key: bytes | None = None  # the version's byte sort key in the ecosystem's order
    commit: str = ""  # lower-case hash


def _text(value, where: str, *, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidQuery(f"{where}: give a non-empty string.", field=where)
    if len(value) > limit or not value.isprintable():
        raise InvalidQuery(f"{where}: at most {limit} printable characters.", field=where)
    return value


def query_from_json(data, *, where: str = "query") -> Query:
    if not isinstance(data, dict):
        raise InvalidQuery(f"{where}: a query is a JSON object.", field=where)
    unknown = sorted(str(key)[:40] for key in data if key not in _QUERY_FIELDS)
    if unknown:
        raise InvalidQuery(f"{where}: unknown field {unknown[0]!r}; use package and version, or commit.",
                           field=where)
    if "commit" in data:
        if "package" in data or "version" in data:
            raise InvalidQuery(f"{where}: give either a commit or a package and version, not both.", field=where)
        commit = data["commit"]
        if not isinstance(commit, str) or _COMMIT.fullmatch(commit) is None:
            raise InvalidQuery(f"{where}.commit: a commit hash is 7 to 64 hexadecimal digits.",
                               field=f"{where}.commit")
        return Query(commit=commit.lower())
    package = data.get("package")
    if not isinstance(package, dict):
        raise InvalidQuery(f"{where}: give a package ({{\"ecosystem\", \"name\"}}) and a version, or a commit.",
                           field=f"{where}.package")
    unknown = sorted(str(key)[:40] for key in package if key not in _PACKAGE_FIELDS)
    if unknown:
        raise InvalidQuery(f"{where}.package: unknown field {unknown[0]!r}.", field=f"{where}.package")
    if "purl" in package:
        raise InvalidQuery(f"{where}.package: purl is not supported here; give ecosystem and name.",
                           field=f"{where}.package.purl")
    try:
        ecosystem = ecosystems.canonical_ecosystem(package.get("ecosystem"))
    except DomainError as error:
        raise InvalidQuery(f"{where}.package.ecosystem: {error.message}", field=f"{where}.package.ecosystem") from None
    if ecosystem == "GIT":
        raise InvalidQuery(f"{where}: query Git commits with {{\"commit\": hash}}.", field=f"{where}.package.ecosystem")
    name = ecosystems.normalise_package_name(ecosystem, _text(package.get("name"), f"{where}.package.name",
                                                              limit=MAX_NAME_LENGTH))
    version = data.get("version")
    if version is None:
        return Query(ecosystem=ecosystem, package=name)
    try:
        parsed = ecosystems.parse(ecosystem, version, where=f"{where}.version")
    except DomainError as error:
        raise InvalidQuery(error.message, field=f"{where}.version") from None
    return Query(ecosystem=ecosystem, package=name, version=version, key=parsed.key)


def queries_from_json(data) -> list[Query]:
    if not isinstance(data, dict) or set(data) != {"queries"} or not isinstance(data["queries"], list):
        raise InvalidQuery('Send {"queries": [query, ...]}.', field="queries")
    if len(data["queries"]) > MAX_BATCH:
        raise InvalidQuery(f"At most {MAX_BATCH} queries per batch (got {len(data['queries'])}).", field="queries")
    return [query_from_json(item, where=f"queries[{index}]") for index, item in enumerate(data["queries"])]


def row_matches(query: Query, *, comparator: str, events) -> bool:
    """Confirm an index row that passed the SQL filter. Rows keyed in the query ecosystem's own
    order were decided exactly by their interval keys; a row spanning every version (a SEMVER
    range in PyPI or Maven) is checked with its range's events under ``comparator``'s rules."""
    if query.version is None or comparator == query.ecosystem:
        return True
    if isinstance(events, str | bytes):
        events = json.loads(events)
    return ecosystems.in_events(comparator, query.version, events)
