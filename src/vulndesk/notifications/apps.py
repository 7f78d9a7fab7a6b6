from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "vulndesk.notifications"
    label = "notifications"
