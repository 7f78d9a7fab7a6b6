from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "vulndesk.reports"
    label = "reports"

    def ready(self):
        from vulndesk.organisations.sealing import SEALED_MODELS
        from vulndesk.reports.models import Message, Report

        SEALED_MODELS.extend(model for model in (Report, Message) if model not in SEALED_MODELS)

        from vulndesk.core.periodic import register_periodic
        from vulndesk.reports.tasks import sla_sweep

        register_periodic(sla_sweep)
