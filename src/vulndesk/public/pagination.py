"""Keyset pagination for public lists, newest first on (published_at, id).

An offset page at 100k rows makes the database count past every earlier row; a keyset page
starts at the index entry of the cursor, so page 400 costs what page 1 costs. The cursor is
plain text (``<microseconds since the epoch>.<id>``): it names a position, not a secret, and a
malformed one is ignored (the first page), never an error page.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Q, QuerySet

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"^(\d{1,17})\.(\d{1,12})$")


@dataclass(frozen=True)
class Cursor:
    at: datetime
    id: int

    def encode(self) -> str:
        return f"{(self.at - EPOCH) // timedelta(microseconds=1)}.{self.id}"


def cursor_decode(text: str | None) -> Cursor | None:
    match = _CURSOR.match(text or "")
    if match is None:
        return None
    return Cursor(EPOCH + timedelta(microseconds=int(match.group(1))), int(match.group(2)))


@dataclass(frozen=True)
class Page:
    items: list
    older: str | None  # cursor of the next page (older items), None on the last page
    newer: str | None  # cursor of the previous page (newer items), None on the first page


def keyset_query(rows: QuerySet, *, at_field: str, id_field: str, after: Cursor | None = None,
                 before: Cursor | None = None, size: int = 25) -> QuerySet:
    """``size + 1`` rows past the cursor, in walking order: newest first, or oldest first when
    going back (``before``). The bound on ``at_field`` alone repeats what the OR says, because
    SQLite cannot take an index range out of an OR: with it, a deep page reads the index from
    the cursor on instead of from the newest row."""
    if before is not None:
        rows = rows.filter(Q(**{f"{at_field}__gt": before.at}) | Q(**{at_field: before.at, f"{id_field}__gt": before.id}),
                           **{f"{at_field}__gte": before.at})
        return rows.order_by(at_field, id_field)[: size + 1]
    if after is not None:
        rows = rows.filter(Q(**{f"{at_field}__lt": after.at}) | Q(**{at_field: after.at, f"{id_field}__lt": after.id}),
                           **{f"{at_field}__lte": after.at})
    return rows.order_by(f"-{at_field}", f"-{id_field}")[: size + 1]


def keyset_page(rows: QuerySet, *, at_field: str, id_field: str, key, after: Cursor | None = None,
                before: Cursor | None = None, size: int = 25) -> Page:
    """One page of ``rows`` newest first. ``after``: items older than the cursor (next page);
    ``before``: items newer than it (previous page). ``key(item) -> Cursor`` reads an item's position."""
    chunk = list(keyset_query(rows, at_field=at_field, id_field=id_field, after=after, before=before, size=size))
    if before is not None:
        items = list(reversed(chunk[:size]))
        return Page(items, older=key(items[-1]).encode() if items else None,
                    newer=key(items[0]).encode() if items and len(chunk) > size else None)
    items = chunk[:size]
    return Page(items, older=key(items[-1]).encode() if len(chunk) > size else None,
                newer=key(items[0]).encode() if items and after is not None else None)
