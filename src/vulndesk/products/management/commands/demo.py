from django.core.management.base import BaseCommand
from django.db import transaction

from vulndesk.accounts.models import User
from vulndesk.accounts.services import one_time_password, user_create
from vulndesk.mailintake.services import intake_address_add
from vulndesk.organisations.models import Organisation, Role
from vulndesk.organisations.services import membership_add, organisation_create
from vulndesk.products.services import product_create, supported_version_add

DEMO_EMAIL = "admin@demo.example"


class Command(BaseCommand):
    help = ("Create the demo organisation (slug 'demo') with one product and one owner, and print the login. "
            "Does nothing if it exists, unless --reset-password is given.")

    def add_arguments(self, parser):
        parser.add_argument("--reset-password", action="store_true", help="Give the demo user a new one-time password.")

    @transaction.atomic
    def handle(self, *args, reset_password=False, **options):
        user = User.objects.filter(email=DEMO_EMAIL).first()
        if Organisation.objects.filter(slug="demo").exists() and user is not None:
            if not reset_password:
                self.stdout.write(f"Demo organisation exists. Log in as {DEMO_EMAIL} "
                                  "(new password: vulndesk demo --reset-password).")
                return
            password = one_time_password()
            user.set_password(password)
            user.save(update_fields=["password"])
            self._print_login(password)
            return
        organisation = organisation_create(
            name="Demo Organisation", slug="demo", reference_prefix="DEMO", time_zone="Europe/Berlin",
            holiday_country="DE", security_contact_email="security@demo.example",
        )
        product = product_create(
            organisation=organisation, name="Demo App", slug="demo-app",
            repository_url="https://example.org/demo/app", security_contacts="security@demo.example",
            description="A sample product to try vulndesk with.",
        )
        supported_version_add(product=product, version_range="2.x", is_supported=True)
        supported_version_add(product=product, version_range="1.x", is_supported=False)
        user, password = user_create(email=DEMO_EMAIL, name="Demo Admin")
        owner = membership_add(organisation=organisation, user=user, role=Role.OWNER)
        # The mailbox too, so mail to security@demo.example (the SMTP port `serve` prints) files a report.
        intake_address_add(actor=owner, local_part="security", domain="demo.example", product=product)
        self._print_login(password)

    def _print_login(self, password: str) -> None:
        self.stdout.write(self.style.SUCCESS("Demo organisation ready."))
        self.stdout.write(f"  Log in:       {DEMO_EMAIL}")
        self.stdout.write(f"  Password:     {password}   (one-time: shown only now)")
        self.stdout.write("  Report form:  /p/demo/demo-app/report/")
        self.stdout.write("  By e-mail:    security@demo.example (to the SMTP port `vulndesk serve` prints)")
