from django.apps import AppConfig


class ProductsConfig(AppConfig):
    name = "vulndesk.products"
    label = "products"
