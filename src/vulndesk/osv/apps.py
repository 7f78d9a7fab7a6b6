from django.apps import AppConfig


class OsvConfig(AppConfig):
    name = "vulndesk.osv"
    label = "osv"
