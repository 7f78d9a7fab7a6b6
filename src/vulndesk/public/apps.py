from django.apps import AppConfig


class PublicConfig(AppConfig):
    name = "vulndesk.public"
    label = "public"
