from django.apps import AppConfig


class CveConfig(AppConfig):
    name = "vulndesk.cve"
    label = "cve"
