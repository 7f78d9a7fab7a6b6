from django.apps import AppConfig


class CveConfig(AppConfig):
    name = "vulndesk.cve"
    label = "cve"

    def ready(self):
        from vulndesk.advisories import hooks
        from vulndesk.core.periodic import register_periodic
        from vulndesk.cve import receivers
        from vulndesk.cve.models import CnaAccount
        from vulndesk.cve.tasks import cve_records_follow_sweep
        from vulndesk.organisations.sealing import SEALED_MODELS

        # Key rotation re-seals the stored API keys with the rest of the organisation's data.
        if CnaAccount not in SEALED_MODELS:
            SEALED_MODELS.append(CnaAccount)

        # The CVE record follows its advisory: new revisions update it, a withdrawal rejects it.
        hooks.revision_published.connect(receivers.on_revision_published, dispatch_uid="cve.revision_published")
        hooks.advisory_withdrawn.connect(receivers.on_advisory_withdrawn, dispatch_uid="cve.advisory_withdrawn")
        register_periodic(cve_records_follow_sweep)
