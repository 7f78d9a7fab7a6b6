"""Tenants and who belongs to them. Every row of every domain app hangs off an Organisation."""

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.functional import cached_property


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known IANA time zone (e.g. Europe/Oslo).")


def validate_holiday_country(value: str) -> None:
    import holidays

    if value and value.upper() not in holidays.list_supported_countries():
        raise ValidationError(f"{value!r} is not a country code that the holidays calendar knows (e.g. NO, DE, US).")


class Role(models.TextChoices):
    """Least privilege, most to least. Stored values appear in the API: never rename them."""

    OWNER = "owner", "Owner"
    SECURITY_MANAGER = "security_manager", "Security manager"
    TRIAGER = "triager", "Triager"
    DEVELOPER = "developer", "Developer"
    VIEWER = "viewer", "Viewer"
    CI_UPLOADER = "ci_uploader", "CI uploader"


# Who may do what. Kept here, beside the roles, so one look shows the whole policy.
TRIAGE_ROLES = frozenset({Role.OWNER, Role.SECURITY_MANAGER, Role.TRIAGER})
SETTINGS_ROLES = frozenset({Role.OWNER, Role.SECURITY_MANAGER})
READ_ROLES = frozenset({Role.OWNER, Role.SECURITY_MANAGER, Role.TRIAGER, Role.DEVELOPER, Role.VIEWER})
SUBMIT_ROLES = frozenset({Role.OWNER, Role.SECURITY_MANAGER, Role.TRIAGER, Role.CI_UPLOADER})


class Organisation(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=50, unique=True)
    # Report references read "<prefix>-<number>", e.g. ACME-42.
    reference_prefix = models.CharField(
        max_length=12,
        validators=[RegexValidator(r"^[A-Z][A-Z0-9]{1,11}$", "2-12 capital letters or digits, starting with a letter.")],
    )
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    holiday_country = models.CharField(
        max_length=3, blank=True, default="", validators=[validate_holiday_country],
        help_text="ISO country code whose public holidays are not business days. Empty: weekends only.",
    )
    holiday_subdivision = models.CharField(max_length=10, blank=True, default="")
    security_contact_email = models.EmailField(blank=True)
    # Next report number; incremented under a row lock by report_create.
    last_report_number = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # holidays raises NotImplementedError for a region it does not know, and only when the
        # first deadline is computed; refuse the region here instead.
        import holidays

        if not self.holiday_subdivision:
            return
        if not self.holiday_country:
            raise ValidationError({"holiday_subdivision": "A holiday region needs a holiday country."})
        regions = holidays.list_supported_countries().get(self.holiday_country.upper())
        if regions is not None and self.holiday_subdivision.upper() not in {r.upper() for r in regions}:
            raise ValidationError({"holiday_subdivision": (
                f"{self.holiday_subdivision!r} is not a region of {self.holiday_country.upper()} that the holidays "
                f"calendar knows (e.g. {', '.join(regions[:3])})."
            )})


class Membership(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)
    # Per-product least privilege: a member scoped to products sees only their reports.
    # The flag saves the scope query for the common, unscoped member.
    is_product_scoped = models.BooleanField(default=False)
    products = models.ManyToManyField("products.Product", blank=True, related_name="scoped_memberships")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "user"], name="membership_one_per_organisation"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.organisation}"

    @property
    def can_triage(self) -> bool:
        return self.role in TRIAGE_ROLES

    @property
    def can_manage_settings(self) -> bool:
        return self.role in SETTINGS_ROLES

    @cached_property
    def product_scope(self) -> frozenset[int] | None:
        """Ids of the products this member may see, or None for all of the organisation's."""
        if not self.is_product_scoped or self.pk is None:
            return None
        return frozenset(self.products.values_list("id", flat=True))

    @property
    def sees_only_assigned(self) -> bool:
        # A developer sees only the reports assigned to them.
        return self.role == Role.DEVELOPER


class OrganisationKey(models.Model):
    """One data key (DEK) of an organisation, stored wrapped by the key-encryption key.
    The newest version encrypts; older versions only decrypt until rotation re-encrypted
    every row that used them, then they are retired."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="keys")
    version = models.PositiveIntegerField()
    kek_id = models.CharField(max_length=32)
    wrapped_key = models.BinaryField()
    created_at = models.DateTimeField()
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "version"], name="organisation_key_version")]
