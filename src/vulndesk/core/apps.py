from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "vulndesk.core"
    label = "core"
