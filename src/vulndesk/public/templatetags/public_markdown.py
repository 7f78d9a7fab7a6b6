"""The one place where vulndesk marks HTML as safe: Markdown after the allow-list sanitiser
(advisories.markdown.render_markdown: raw HTML off, nh3 allow-list, no images, http(s)/mailto
links only). tests/architecture allows mark_safe in this file and nowhere else.

Rendering is memoised per process: a published text changes only with a new revision, and the
largest allowed text (100,000 characters of table) costs seconds of CPU to parse, which an
anonymous visitor must not be able to trigger on every request. The cache holds the sanitised
output of ``render_markdown`` itself, so what is marked safe is still exactly nh3's output.
"""

from functools import lru_cache

from django import template
from django.utils.safestring import mark_safe

from vulndesk.advisories.markdown import render_markdown as render_markdown_uncached

register = template.Library()

# At most 32 texts: worst case about 32 x (100 kB source + 600 kB HTML) per process.
render_markdown = lru_cache(maxsize=32)(render_markdown_uncached)


@register.filter(name="markdown")
def markdown_filter(text: str) -> str:
    return mark_safe(render_markdown(text or ""))  # noqa: S308 - sanitised by nh3 just above
