from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "vulndesk.exports"
    label = "exports"

    def ready(self):
        from vulndesk.advisories import hooks
        from vulndesk.exports.services import exports_check_publish

        # Refuse a publish (or withdrawal) whose documents fail their schemas. Registered once,
        # however often ready() runs.
        for registry in (hooks.PUBLISH_HOOKS, hooks.WITHDRAW_HOOKS):
            if exports_check_publish not in registry:
                registry.append(exports_check_publish)
