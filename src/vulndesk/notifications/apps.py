from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "vulndesk.notifications"
    label = "notifications"

    def ready(self):
        from vulndesk.advisories import hooks
        from vulndesk.core.periodic import register_periodic
        from vulndesk.notifications import receivers
        from vulndesk.notifications.models import Subscriber, Webhook
        from vulndesk.notifications.tasks import notifications_sweep
        from vulndesk.organisations.sealing import SEALED_MODELS
        from vulndesk.reports import services as report_services

        # Key rotation re-seals subscriber addresses and webhook URLs/secrets too.
        SEALED_MODELS.extend(model for model in (Subscriber, Webhook) if model not in SEALED_MODELS)

        hooks.revision_published.connect(receivers.on_revision_published,
                                         dispatch_uid="notifications.revision_published")
        hooks.advisory_withdrawn.connect(receivers.on_advisory_withdrawn,
                                         dispatch_uid="notifications.advisory_withdrawn")
        hooks.advisory_scheduled.connect(receivers.on_advisory_scheduled,
                                         dispatch_uid="notifications.advisory_scheduled")
        report_services.report_state_changed.connect(receivers.on_report_state_changed,
                                                     dispatch_uid="notifications.report_state")

        register_periodic(notifications_sweep)
