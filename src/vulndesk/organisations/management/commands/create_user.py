from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from vulndesk.accounts.services import user_create
from vulndesk.core.errors import DomainError
from vulndesk.organisations.models import Organisation, Role
from vulndesk.organisations.services import membership_add


class Command(BaseCommand):
    help = "Create a staff user, optionally as a member of an organisation. Prints a one-time password."

    def add_arguments(self, parser):
        parser.add_argument("email", help="The user's e-mail address (their login).")
        parser.add_argument("--name", default="", help="Display name.")
        parser.add_argument("--organisation", help="Slug of an organisation to join.")
        parser.add_argument("--role", default=Role.TRIAGER, choices=Role.values, help="Role in the organisation.")

    def handle(self, *args, email, name, organisation, role, **options):
        try:
            org = Organisation.objects.get(slug=organisation) if organisation else None
        except Organisation.DoesNotExist:
            raise CommandError(f"No organisation with the slug {organisation!r}.") from None
        try:
            with transaction.atomic():  # no user without the membership that was asked for
                user, password = user_create(email=email, name=name)
                if org:
                    membership_add(organisation=org, user=user, role=role)
        except DomainError as error:
            raise CommandError(error.message) from None
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(f"Created {user.email}" + (f" as {role} of {org.slug}" if org else ""))
        self.stdout.write(f"One-time password: {password}")
