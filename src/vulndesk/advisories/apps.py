from django.apps import AppConfig


class AdvisoriesConfig(AppConfig):
    name = "vulndesk.advisories"
    label = "advisories"

    def ready(self):
        from vulndesk.advisories.tasks import publish_due_advisories
        from vulndesk.core.periodic import register_periodic

        register_periodic(publish_due_advisories)
