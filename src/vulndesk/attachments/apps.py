from django.apps import AppConfig


class AttachmentsConfig(AppConfig):
    name = "vulndesk.attachments"
    label = "attachments"

    def ready(self):
        from vulndesk.attachments.services import attachments_reencrypt
        from vulndesk.organisations.sealing import ROTATION_HOOKS

        if attachments_reencrypt not in ROTATION_HOOKS:
            ROTATION_HOOKS.append(attachments_reencrypt)
