"""Builders for valid objects from the fewest fields. They call the real services, so every
object a test gets went through the same rules as production data."""

import itertools

from vulndesk.accounts.services import user_create
from vulndesk.organisations.models import Membership, Organisation, Role
from vulndesk.organisations.services import membership_add, organisation_create
from vulndesk.products.models import Product
from vulndesk.products.services import product_create, supported_version_add
from vulndesk.reports.services import ReportCreated, report_create

_sequence = itertools.count(1)
PASSWORD = "correct-horse-battery-staple-42"


def make_organisation(**fields) -> Organisation:
    n = next(_sequence)
    defaults = {"name": f"Org {n}", "slug": f"org-{n}", "reference_prefix": f"ORG{n}", "time_zone": "Europe/Oslo",
                "holiday_country": "NO"}
    return organisation_create(**(defaults | fields))


def make_product(organisation: Organisation | None = None, **fields) -> Product:
    organisation = organisation or make_organisation()
    n = next(_sequence)
    defaults = {"name": f"Product {n}", "slug": f"product-{n}"}
    product = product_create(organisation=organisation, **(defaults | fields))
    return product


def make_member(organisation: Organisation | None = None, role: str = Role.TRIAGER, **fields) -> Membership:
    organisation = organisation or make_organisation()
    n = next(_sequence)
    user, _ = user_create(email=fields.pop("email", f"user{n}@example.org"), name=fields.pop("name", f"User {n}"),
                          password=PASSWORD)
    return membership_add(organisation=organisation, user=user, role=role)


def make_report(product: Product | None = None, **fields) -> ReportCreated:
    product = product or make_product()
    defaults = {"title": "SQL injection in search", "description": "The q parameter is concatenated into SQL."}
    return report_create(product=product, **(defaults | fields))


def add_versions(product: Product, supported=("2.x",), unsupported=("1.x",)) -> None:
    for version_range in supported:
        supported_version_add(product=product, version_range=version_range, is_supported=True)
    for version_range in unsupported:
        supported_version_add(product=product, version_range=version_range, is_supported=False)


def totp_device_for(user):
    """A confirmed TOTP device for ``user`` (as after enrolment)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="test", confirmed=True)


def totp_code(device) -> str:
    """The device's current code (django-otp reads the real time, as an authenticator app does)."""
    from django_otp.oath import totp

    return str(totp(device.bin_key, device.step, device.t0, device.digits, device.drift)).zfill(device.digits)


def verified_login(client, user):
    """Log ``client`` in as ``user`` with a verified second factor, as the login + 2FA pages would."""
    from django_otp import DEVICE_ID_SESSION_KEY

    device = totp_device_for(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client
