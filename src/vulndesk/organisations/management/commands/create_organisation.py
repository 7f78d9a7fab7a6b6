from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from vulndesk.core.errors import DomainError
from vulndesk.organisations.services import organisation_create


class Command(BaseCommand):
    help = "Create an organisation (a tenant) with its time zone and holiday calendar."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="Short name used in URLs, e.g. acme.")
        parser.add_argument("--name", required=True, help="Display name, e.g. 'Acme Corp'.")
        parser.add_argument("--prefix", required=True, help="Report reference prefix, e.g. ACME (ACME-42).")
        parser.add_argument("--time-zone", default="UTC", help="IANA time zone for deadlines, e.g. Europe/Oslo.")
        parser.add_argument("--holidays", default="", help="Country code whose public holidays are days off, e.g. NO.")
        parser.add_argument("--subdivision", default="", help="Region code for regional holidays, e.g. BY.")

    def handle(self, *args, slug, name, prefix, time_zone, holidays, subdivision, **options):
        try:
            organisation = organisation_create(
                name=name, slug=slug, reference_prefix=prefix, time_zone=time_zone,
                holiday_country=holidays, holiday_subdivision=subdivision,
            )
        except DomainError as error:
            raise CommandError(error.message) from None
        except ValidationError as error:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())) from None
        self.stdout.write(f"Created organisation {organisation.slug} ({organisation.name})")
