from django.apps import AppConfig


class PrenotifyConfig(AppConfig):
    name = "vulndesk.prenotify"
    label = "prenotify"

    def ready(self):
        from vulndesk.organisations.sealing import SEALED_MODELS
        from vulndesk.prenotify.models import DownstreamContact, PreNotification

        # Key rotation re-seals contacts and recipients with the rest of the organisation's data.
        SEALED_MODELS.extend(model for model in (DownstreamContact, PreNotification) if model not in SEALED_MODELS)
