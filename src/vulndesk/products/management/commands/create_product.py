from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from vulndesk.core.errors import DomainError
from vulndesk.organisations.models import Organisation
from vulndesk.products.services import product_create, supported_version_add


class Command(BaseCommand):
    help = "Create a product with the default policy; optionally add supported version ranges."

    def add_arguments(self, parser):
        parser.add_argument("organisation", help="Slug of the organisation.")
        parser.add_argument("slug", help="Product slug, used in the report form URL.")
        parser.add_argument("--name", required=True, help="Display name.")
        parser.add_argument("--repository", default="", help="Repository URL.")
        parser.add_argument("--supported", action="append", default=[], metavar="RANGE",
                            help="A supported version range (repeatable), e.g. 2.x")
        parser.add_argument("--unsupported", action="append", default=[], metavar="RANGE",
                            help="An unsupported version range (repeatable), e.g. 1.x")
        parser.add_argument("--contacts", default="", help="Comma-separated security contact addresses.")

    def handle(self, *args, organisation, slug, name, repository, supported, unsupported, contacts, **options):
        try:
            org = Organisation.objects.get(slug=organisation)
        except Organisation.DoesNotExist:
            raise CommandError(f"No organisation with the slug {organisation!r}.") from None
        try:
            with transaction.atomic():  # a bad version range leaves no half-made product behind
                product = product_create(organisation=org, name=name, slug=slug, repository_url=repository,
                                         security_contacts=contacts)
                for version_range in supported:
                    supported_version_add(product=product, version_range=version_range, is_supported=True)
                for version_range in unsupported:
                    supported_version_add(product=product, version_range=version_range, is_supported=False)
        except DomainError as error:
            raise CommandError(error.message) from None
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(f"Created product {org.slug}/{product.slug}")


