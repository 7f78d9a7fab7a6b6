"""``{{ text|fold_segments }}``: a mail text split into shown and folded segments
(``mailintake.folding``). Templates render every segment escaped; folded ones in <details>."""

from django import template

from vulndesk.mailintake.folding import fold_quoted

register = template.Library()


@register.filter
def fold_segments(text):
    return fold_quoted(str(text or ""))
