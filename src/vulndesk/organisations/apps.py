from django.apps import AppConfig


class OrganisationsConfig(AppConfig):
    name = "vulndesk.organisations"
    label = "organisations"
