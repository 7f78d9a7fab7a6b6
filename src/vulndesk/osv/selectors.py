"""Reads for the OSV API. Public and anonymous: every answer comes from published advisories
only (index rows exist only for them, and documents are read from ``public_document`` of rows
with ``is_public``), so an embargoed draft is invisible here whatever the request.

Version matching never walks a package's advisories in Python. One SQL statement takes the
queries as a VALUES table and joins it to the index on (ecosystem, package), keeping only rows
whose key interval holds the version's key (index ``osv_range_lookup``: equality on the
package, a range scan on ``upper_key``, ``lower_key`` checked in the index). For rows keyed in
the ecosystem's own order that interval test *is* the ecosystem's rule (the keys are built by
``advisories.ecosystems`` and tested against ``in_events``); rows that span every version (a
SEMVER range in PyPI or Maven) are confirmed with the range's events in Python
(``queries.row_matches``). A querybatch of 1,000 is one statement for its version queries, one
for package-only queries and one for commits.

Documents are returned as the stored JSON text, spliced into the response without decoding and
re-encoding them (they are the bulk of a response).
"""

import json

from django.db import connection

from vulndesk.advisories.models import Advisory
from vulndesk.core.errors import NotFound
from vulndesk.osv.models import AffectedRangeIndex, OsvAlias
from vulndesk.osv.queries import Query, row_matches

# No statement binds more than ~4,000 parameters (SQLite allows 32,766; PostgreSQL 65,535).
_CHUNK = 1000


def _as_text(value) -> str:
    # SQLite hands back the stored JSON text; PostgreSQL's jsonb may arrive decoded.
    return value if isinstance(value, str) else json.dumps(value)


def documents_json(advisory_ids) -> list[str]:
    """The public documents (JSON text) of these advisories if public, ordered by id. One
    statement through the cursor: the ORM's per-call overhead was a third of a query's time."""
    ids = [int(advisory_id) for advisory_id in advisory_ids]
    if not ids:
        return []
    table = Advisory._meta.db_table
    sql = (f"SELECT public_document FROM {table} WHERE id IN ({', '.join(['%s'] * len(ids))}) "  # noqa: S608
           "AND is_public = %s AND public_document IS NOT NULL ORDER BY identifier")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*ids, True])
        return [_as_text(text) for text, in cursor.fetchall() if text not in (None, "null")]


def vulnerability_json(*, identifier: str) -> str:
    """The public OSV document (JSON text) for our id (``x_ACME-2026-0001``), our identifier
    without the ``x_`` prefix, or a CVE/GHSA alias of its published revision. When advisories
    share an alias, one not withdrawn wins, then the most recently modified."""
    if not isinstance(identifier, str) or not 1 <= len(identifier) <= 60 or not identifier.isprintable():
        raise NotFound
    own = identifier[2:] if identifier[:2].lower() == "x_" else identifier
    found = documents_json(Advisory.objects.filter(identifier=own.upper(), is_public=True)
                           .values_list("pk", flat=True)[:1])
    if found:
        return found[0]
    advisory_ids = OsvAlias.objects.filter(alias=identifier.upper()).values_list("advisory_id", flat=True)[:50]
    documents = [(json.loads(text), text) for text in documents_json(advisory_ids)]
    if not documents:
        raise NotFound
    return max(documents, key=lambda pair: (not pair[0].get("withdrawn"), pair[0].get("modified", "")))[1]


def vulnerability_document(*, identifier: str) -> dict:
    return json.loads(vulnerability_json(identifier=identifier))


def _commit_rows(commits: list[str]) -> list[tuple]:
    """(commit, advisory_id, osv_id, modified) of the GIT rows sharing the first 7 digits with
    any of ``commits`` (one indexed IN); ``_commit_matches`` then compares the whole hashes."""
    prefixes = sorted({commit[:7] for commit in commits})
    rows: list[tuple] = []
    for start in range(0, len(prefixes), _CHUNK):
        rows += list(AffectedRangeIndex.objects.filter(commit_prefix__in=prefixes[start:start + _CHUNK], kind="GIT",
                                                        is_withdrawn=False, advisory__is_public=True)
                     .values_list("commit", "advisory_id", "osv_id", "modified"))
    return rows


def _commit_matches(commit: str, stored: str) -> bool:
    return stored.startswith(commit) or commit.startswith(stored)


def _version_rows(keyed: list[tuple[int, Query]], *, with_keys: bool) -> list[tuple]:
    """(position, advisory_id, osv_id, modified, comparator, events) of the index rows that
    match each query, in one statement per chunk. ``events`` is only read for rows that need
    the Python check (JSON text on SQLite, decoded on PostgreSQL), NULL otherwise. No join to
    the advisories: index rows exist only for published advisories (written in the publishing
    transaction), and the join cost a third of a querybatch."""
    index_table = AffectedRangeIndex._meta.db_table
    key_filter = ("AND r.upper_key >= q.version_key AND r.lower_key <= q.version_key "
                  "AND (r.upper_key > q.version_key OR r.upper_inclusive) " if with_keys else "")
    found: list[tuple] = []
    for start in range(0, len(keyed), _CHUNK):
        chunk = keyed[start:start + _CHUNK]
        params: list = []
        for position, query in chunk:
            params += [position, query.ecosystem, query.package, query.key if with_keys else b""]
        # Only placeholders and our own table name are formatted into the statement.
        sql = (f"WITH q(position, ecosystem, package, version_key) AS "  # noqa: S608
               f"(VALUES {', '.join(['(%s, %s, %s, %s)'] * len(chunk))}) "
               f"SELECT q.position, r.advisory_id, r.osv_id, r.modified, r.comparator, "
               f"CASE WHEN r.comparator = q.ecosystem THEN NULL ELSE r.events END "
               f"FROM q JOIN {index_table} r ON r.ecosystem = q.ecosystem AND r.package = q.package {key_filter}"
               f"WHERE r.is_withdrawn = %s")
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, False])
            found += cursor.fetchall()
    return found


def _matches(queries: list[Query]) -> list[dict[int, tuple[str, str]]]:
    """For each query: {advisory_id: (osv_id, modified)} of the advisories it matches."""
    results: list[dict[int, tuple[str, str]]] = [{} for _ in queries]
    with_version = [(position, query) for position, query in enumerate(queries) if query.key is not None]
    package_only = [(position, query) for position, query in enumerate(queries)
                    if not query.commit and query.key is None]
    for keyed, with_keys in ((with_version, True), (package_only, False)):
        if not keyed:
            continue
        for position, advisory_id, osv_id, modified, comparator, events in _version_rows(keyed, with_keys=with_keys):
            found = results[position]
            if advisory_id not in found and row_matches(queries[position], comparator=comparator, events=events):
                found[advisory_id] = (osv_id, modified)
    commits = [(position, query.commit) for position, query in enumerate(queries) if query.commit]
    if commits:
        by_prefix: dict[str, list[tuple]] = {}
        for row in _commit_rows([commit for _, commit in commits]):
            by_prefix.setdefault(row[0][:7], []).append(row)
        for position, commit in commits:
            for stored, advisory_id, osv_id, modified in by_prefix.get(commit[:7], ()):
                if _commit_matches(commit, stored):
                    results[position][advisory_id] = (osv_id, modified)
    return results


def vulnerabilities_for_query(*, query: Query) -> list[str]:
    """The OSV documents (JSON text, ordered by id) of the published, not withdrawn, advisories
    that ``query`` matches."""
    return documents_json(_matches([query])[0])


def vulnerabilities_for_queries(*, queries: list[Query]) -> list[list[dict]]:
    """For each query, ``[{"id", "modified"}]`` of the advisories it matches (querybatch)."""
    return [[{"id": osv_id, "modified": modified} for osv_id, modified in sorted(found.values())]
            for found in _matches(queries)]
