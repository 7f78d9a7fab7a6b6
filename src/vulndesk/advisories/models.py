"""Advisories: what is published about a fixed (or unfixable) vulnerability.

An advisory points at the reports it discloses, lists the affected packages with version
ranges per ecosystem (OSV's model: introduced / fixed / last_affected events), and keeps every
published revision. Drafts are embargoed data until published.
"""

from django.conf import settings
from django.db import models

from vulndesk.advisories.states import PUBLIC_STATES, AdvisoryState
from vulndesk.organisations.models import Organisation
from vulndesk.products.models import Product
from vulndesk.reports.models import Report
from vulndesk.reports.severity import Severity


class Ecosystem(models.TextChoices):
    """OSV ecosystem names (stored values appear in exports and the OSV API: never rename)."""

    PYPI = "PyPI", "PyPI"
    NPM = "npm", "npm"
    GO = "Go", "Go"
    MAVEN = "Maven", "Maven"
    CRATES = "crates.io", "crates.io"
    SEMVER = "SemVer", "Plain SemVer"
    GIT = "GIT", "Git commits"


class Advisory(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="advisories")
    # Our identifier: <ORG PREFIX>-<YEAR>-<NNNN>, e.g. ACME-2026-0007.
    identifier = models.CharField(max_length=40, unique=True)
    year = models.PositiveIntegerField()
    sequence = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=AdvisoryState.choices, default=AdvisoryState.DRAFT)
    is_public = models.BooleanField(default=False)  # published, updated or withdrawn
    revision = models.PositiveIntegerField(default=0)  # published revisions so far

    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=500, blank=True)
    details = models.TextField(blank=True, max_length=100_000, help_text="Markdown; rendered safely.")
    workarounds = models.TextField(blank=True, max_length=20_000)
    severity = models.CharField(max_length=10, choices=Severity.choices, blank=True)
    cvss3_vector = models.CharField(max_length=300, blank=True)
    cvss4_vector = models.CharField(max_length=300, blank=True)
    cwe_ids = models.JSONField(default=list, blank=True)  # [79, 89]
    # [{"name": "Jane Doe", "type": "FINDER"}] (OSV credit types)
    credits = models.JSONField(default=list, blank=True)
    # [{"type": "WEB", "url": "https://…"}] (OSV reference types)
    references = models.JSONField(default=list, blank=True)
    cve_id = models.CharField(max_length=20, blank=True)
    ghsa_id = models.CharField(max_length=30, blank=True)

    # The public face: copied from the latest published revision at publish time. Public pages,
    # feeds, search and the OSV API read only these, never the live (possibly unpublished) fields.
    public_document = models.JSONField(null=True, blank=True)  # OSV document of the latest revision
    public_title = models.CharField(max_length=200, blank=True)
    public_summary = models.CharField(max_length=500, blank=True)
    public_severity = models.CharField(max_length=10, choices=Severity.choices, blank=True)
    public_modified_at = models.DateTimeField(null=True, blank=True)
    public_product_ids = models.JSONField(default=list, blank=True)

    reports = models.ManyToManyField(Report, blank=True, related_name="advisories")
    embargo_until = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    modified_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "year", "sequence"], name="advisory_sequence_per_year"),
        ]
        indexes = [
            models.Index(fields=["organisation", "is_public", "published_at", "id"], name="advisory_public_index"),
            models.Index(fields=["organisation", "is_public", "public_severity", "published_at", "id"],
                         name="advisory_public_severity"),
            models.Index(fields=["organisation", "is_public", "public_modified_at", "id"], name="advisory_public_feed"),
            models.Index(fields=["organisation", "state", "modified_at"], name="advisory_staff_list"),
            models.Index(fields=["state", "embargo_until"], name="advisory_due_to_publish"),
        ]

    def __str__(self) -> str:
        return self.identifier

    @property
    def aliases(self) -> list[str]:
        return [alias for alias in (self.cve_id, self.ghsa_id) if alias]

    @property
    def is_visible_publicly(self) -> bool:
        return self.state in PUBLIC_STATES


class AffectedPackage(models.Model):
    """One package an advisory affects, with OSV-shaped ranges:
    ``[{"type": "ECOSYSTEM"|"SEMVER"|"GIT", "repo"?: url, "events": [{"introduced": "0"}, {"fixed": "1.2.3"}]}]``."""

    advisory = models.ForeignKey(Advisory, on_delete=models.CASCADE, related_name="affected")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    ecosystem = models.CharField(max_length=16, choices=Ecosystem.choices)
    package_name = models.CharField(max_length=214)
    ranges = models.JSONField(default=list)
    versions = models.JSONField(default=list, blank=True)  # explicitly listed affected versions
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]


class AdvisoryRevision(models.Model):
    """Every published revision, frozen: what was public, when, and why it changed."""

    advisory = models.ForeignKey(Advisory, on_delete=models.CASCADE, related_name="revisions")
    revision = models.PositiveIntegerField()
    published_at = models.DateTimeField()
    changelog = models.CharField(max_length=1000, blank=True)
    snapshot = models.JSONField()  # the OSV document of that revision
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["revision"]
        constraints = [models.UniqueConstraint(fields=["advisory", "revision"], name="advisory_revision_once")]
