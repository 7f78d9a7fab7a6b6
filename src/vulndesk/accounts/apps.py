from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "vulndesk.accounts"
    label = "accounts"

    def ready(self):
        from vulndesk.accounts import schema, signals  # noqa: F401  (registers extensions and receivers)
