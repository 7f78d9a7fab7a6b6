from django import template
from django.template import TemplateDoesNotExist
from django.template.loader import get_template

register = template.Library()


@register.simple_tag(takes_context=True)
def panel(context, template_name: str):
    """Render another app's panel for the advisory page if that app provides it. Apps built on
    advisories (exports, CVE, pre-notification) add panels without advisories importing them."""
    try:
        tpl = get_template(template_name)
    except TemplateDoesNotExist:
        return ""
    return tpl.render(context.flatten(), context.get("request"))
