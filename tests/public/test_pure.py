"""Pure helpers of the public site: cursors, OSV event intervals, Markdown escaping."""

from datetime import UTC, datetime

import pytest

from vulndesk.public.pagination import Cursor, cursor_decode
from vulndesk.public.presentation import Interval, advisory_view, intervals
from vulndesk.public.security_md import markdown_code, markdown_text


def test_a_cursor_survives_the_round_trip_to_the_microsecond():
    cursor = Cursor(datetime(2026, 11, 23, 9, 0, 0, 123456, tzinfo=UTC), 42)
    assert cursor_decode(cursor.encode()) == cursor


@pytest.mark.parametrize("text", ["", None, "abc", "1.2.3", "1.", ".1", "-1.2", "1" * 18 + ".1", "1.2 ", "1e5.2"])
def test_a_malformed_cursor_is_none(text):
    assert cursor_decode(text) is None


@pytest.mark.parametrize(("events", "expected"), [
    ([{"introduced": "0"}, {"fixed": "1.2.3"}], [Interval("0", fixed="1.2.3")]),
    ([{"introduced": "1.0"}, {"last_affected": "1.4"}], [Interval("1.0", last_affected="1.4")]),
    ([{"introduced": "1.0"}], [Interval("1.0")]),
    ([{"introduced": "1.0"}, {"fixed": "1.1"}, {"introduced": "2.0"}, {"fixed": "2.3"}],
     [Interval("1.0", fixed="1.1"), Interval("2.0", fixed="2.3")]),
    ([{"introduced": "0"}, {"limit": "3.0"}], [Interval("0", limit="3.0")]),
    ([{"fixed": "1.0"}], [Interval("0", fixed="1.0")]),
    ([{"introduced": "1.0"}, {"introduced": "2.0"}, {"fixed": "2.1"}], [Interval("1.0"), Interval("2.0", fixed="2.1")]),
    (["junk", {"a": 1, "b": 2}], []),
])
def test_osv_events_become_introduced_to_end_intervals(events, expected):
    assert intervals(events) == expected


def test_the_view_drops_reference_urls_that_are_not_http():
    view = advisory_view({"references": [{"type": "WEB", "url": "javascript:alert(1)"},
                                         {"type": "FIX", "url": "https://example.org/fix"},
                                         {"type": "WEB", "url": "https://example.org/a b"}]})
    assert [(r.label, r.url) for r in view.references] == [("Fix", "https://example.org/fix")]


def test_markdown_escaping_keeps_staff_text_literal():
    assert markdown_text("a*b*_c_ [x](y) <b>&amp;") == "a\\*b\\*\\_c\\_ \\[x\\](y) \\<b\\>\\&amp;"
    assert markdown_text("two\nlines\u202e") == "two lines"
    assert markdown_code("1.x`|`2.x") == "`1.x'\\|'2.x`"
