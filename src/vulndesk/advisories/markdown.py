"""Markdown for advisories, rendered safely: markdown-it-py with raw HTML off, then the nh3
allow-list sanitiser. No script, no event handlers, no style, no images (a hostile advisory
text must not plant a tracking pixel), links only to http(s) and mailto, with rel=noopener.
Tables are allowed but bounded in size, so a huge table cannot blow up the page."""

import nh3
from markdown_it import MarkdownIt

MAX_SOURCE_CHARS = 100_000
ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
}
_renderer = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")
_renderer.validateLink = lambda url: url.strip().lower().startswith(("http://", "https://", "mailto:", "#", "/"))


def render_markdown(source: str) -> str:
    """Safe HTML for ``source``. The only place in vulndesk whose output is marked safe."""
    source = (source or "")[:MAX_SOURCE_CHARS]
    html = _renderer.render(source)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}, "th": {"align"}, "td": {"align"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
