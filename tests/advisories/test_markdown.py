"""Advisory Markdown renders inert: no script, no event handlers, no raw HTML, no remote
images, only http(s)/mailto links, and bounded input."""

from html.parser import HTMLParser

import pytest

from vulndesk.advisories.markdown import ALLOWED_TAGS, MAX_SOURCE_CHARS, render_markdown


class _Markup(HTMLParser):
    """Collects the real tags and attributes of rendered HTML (escaped text is not markup)."""

    def __init__(self):
        super().__init__()
        self.tags, self.attributes = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(attrs)


def markup(html: str) -> _Markup:
    parser = _Markup()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("source", [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[data](data:text/html;base64,PHNjcmlwdD4=)",
    "![pixel](https://evil.example/p.png)",
    '<a href="https://x" onclick="alert(1)">x</a>',
    "<iframe src=https://evil.example></iframe>",
    "<svg onload=alert(1)>",
    '<div style="position:fixed">overlay</div>',
    "[x](JaVaScRiPt:alert(1))",
    "<form action=https://evil.example><input></form>",
])
def test_hostile_markdown_renders_inert(source):
    found = markup(render_markdown(source))
    assert set(found.tags) <= ALLOWED_TAGS, found.tags
    for name, value in found.attributes:
        assert name in {"href", "title", "rel", "align"}, name
        if name == "href":
            assert value.lower().startswith(("http://", "https://", "mailto:", "#", "/")), value


def test_ordinary_markdown_keeps_its_structure_and_safe_links():
    html = render_markdown("## Impact\n\n**High**: see [the fix](https://example.org/fix) and `code`.\n\n"
                           "| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<h2>Impact</h2>" in html and "<strong>High</strong>" in html and "<code>code</code>" in html
    assert '<a href="https://example.org/fix" rel="noopener noreferrer nofollow">the fix</a>' in html
    assert "<table>" in html and "<td>1</td>" in html


def test_a_huge_table_is_cut_to_the_size_limit():
    source = "| a | b |\n|---|---|\n" + "| x | y |\n" * 200_000
    html = render_markdown(source)
    assert len(source) > MAX_SOURCE_CHARS
    assert html.count("<tr>") < MAX_SOURCE_CHARS // 8
