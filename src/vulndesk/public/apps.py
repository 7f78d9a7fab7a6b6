from django.apps import AppConfig


class PublicConfig(AppConfig):
    name = "vulndesk.public"
    label = "public"

    def ready(self):
        from vulndesk.advisories import hooks
        from vulndesk.public.services import advisory_products_index

        # Inside the publishing transaction: the product index never disagrees with what is public.
        if advisory_products_index not in hooks.PUBLISH_HOOKS:
            hooks.PUBLISH_HOOKS.append(advisory_products_index)
