from django import template
from django.urls import reverse

register = template.Library()


@register.simple_tag
def attachment_download_url(url_name, attachment, url_kwargs):
    return reverse(url_name, kwargs={**url_kwargs, "attachment_id": attachment.pk})
