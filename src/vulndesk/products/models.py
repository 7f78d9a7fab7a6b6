"""Products, the versions a product supports, its release plan and its security policy.

The policy here is the promise published in SECURITY.md; the SLA clocks in ``reports`` are
computed from the same rows, so the published promise and the enforced one cannot drift.
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from vulndesk.organisations.models import Organisation


class Product(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="products")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=50)
    description = models.TextField(blank=True, max_length=2000)
    repository_url = models.URLField("repository URL", blank=True)
    # Comma-separated addresses that receive SLA reminders when a report has no assignee.
    security_contacts = models.CharField(max_length=1000, blank=True)
    accepts_reports = models.BooleanField(default=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "slug"], name="product_slug_unique_per_organisation"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def security_contact_list(self) -> list[str]:
        return [address.strip() for address in self.security_contacts.split(",") if address.strip()]


class SupportedVersion(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="supported_versions")
    version_range = models.CharField(max_length=100, help_text="e.g. 2.x, >=2.0,<3.0 or 1.4.2")
    is_supported = models.BooleanField(default=True)
    end_of_support_on = models.DateField(null=True, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["product", "version_range"], name="supported_version_unique_range"),
        ]

    def __str__(self) -> str:
        return f"{self.version_range} ({'supported' if self.is_supported else 'unsupported'})"


class Release(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="releases")
    version = models.CharField(max_length=100)
    planned_on = models.DateField(null=True, blank=True)
    shipped_on = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True, max_length=2000)

    class Meta:
        ordering = ["planned_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["product", "version"], name="release_version_unique_per_product"),
        ]
        indexes = [models.Index(fields=["product", "shipped_on", "planned_on"], name="release_next_planned")]

    def __str__(self) -> str:
        return self.version


def _hours(default: int, maximum: int = 24 * 365):
    return models.PositiveIntegerField(default=default, validators=[MinValueValidator(1), MaxValueValidator(maximum)])


class Policy(models.Model):
    """Per-product SLA targets. Defaults are the common SECURITY.md promise:
    acknowledge within 48 hours, assess within 5 business days, resolve Critical in 72 hours,
    High in 2 weeks, Medium in 4 weeks, Low in the next planned release."""

    product = models.OneToOneField(Product, on_delete=models.CASCADE, related_name="policy")
    acknowledgement_hours = _hours(48)
    assessment_business_days = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(60)]
    )
    critical_resolution_hours = _hours(72)
    high_resolution_days = models.PositiveIntegerField(default=14, validators=[MinValueValidator(1), MaxValueValidator(365)])
    medium_resolution_days = models.PositiveIntegerField(default=28, validators=[MinValueValidator(1), MaxValueValidator(365)])
    # Low: fixed in the next planned release. When off, Low uses low_resolution_days instead.
    low_in_next_release = models.BooleanField(default=True)
    low_resolution_days = models.PositiveIntegerField(default=90, validators=[MinValueValidator(1), MaxValueValidator(730)])
    # Coordinated disclosure: an accepted report is disclosed at the latest this many days after it
    # was received (the common 90-day practice); extendable per report with the reporter's agreement.
    disclosure_days = models.PositiveIntegerField(default=90, validators=[MinValueValidator(7), MaxValueValidator(730)])
    # Fraction of a window after which a reminder goes out (the "at risk" point).
    reminder_fraction_percent = models.PositiveIntegerField(
        default=75, validators=[MinValueValidator(10), MaxValueValidator(95)]
    )

    def __str__(self) -> str:
        return f"Policy for {self.product}"
