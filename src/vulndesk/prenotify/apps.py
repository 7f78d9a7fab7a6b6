from django.apps import AppConfig


class PrenotifyConfig(AppConfig):
    name = "vulndesk.prenotify"
    label = "prenotify"
