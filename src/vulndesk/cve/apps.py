from django.apps import AppConfig


class CveConfig(AppConfig):
    name = "vulndesk.cve"
    label = "cve"

    def ready(self):
        from vulndesk.cve.models import CnaAccount
        from vulndesk.organisations.sealing import SEALED_MODELS

        # Key rotation re-seals the stored API keys with the rest of the organisation's data.
        if CnaAccount not in SEALED_MODELS:
            SEALED_MODELS.append(CnaAccount)
