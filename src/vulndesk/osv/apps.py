from django.apps import AppConfig


class OsvConfig(AppConfig):
    name = "vulndesk.osv"
    label = "osv"

    def ready(self):
        from vulndesk.advisories import hooks
        from vulndesk.osv.services import osv_index_publish, osv_index_withdraw

        if osv_index_publish not in hooks.PUBLISH_HOOKS:
            hooks.PUBLISH_HOOKS.append(osv_index_publish)
        if osv_index_withdraw not in hooks.WITHDRAW_HOOKS:
            hooks.WITHDRAW_HOOKS.append(osv_index_withdraw)
