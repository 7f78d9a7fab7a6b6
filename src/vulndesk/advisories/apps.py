from django.apps import AppConfig


class AdvisoriesConfig(AppConfig):
    name = "vulndesk.advisories"
    label = "advisories"

    def ready(self):
        from vulndesk.advisories.models import Advisory
        from vulndesk.advisories.tasks import publish_due_advisories
        from vulndesk.core.periodic import register_periodic
        from vulndesk.organisations.sealing import SEALED_MODELS

        register_periodic(publish_due_advisories)
        # Key rotation re-seals the advisories' working text with the rest of the organisation's data.
        if Advisory not in SEALED_MODELS:
            SEALED_MODELS.append(Advisory)
