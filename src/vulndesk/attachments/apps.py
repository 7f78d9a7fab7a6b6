from django.apps import AppConfig


class AttachmentsConfig(AppConfig):
    name = "vulndesk.attachments"
    label = "attachments"
