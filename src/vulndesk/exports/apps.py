from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "vulndesk.exports"
    label = "exports"
