"""Advisories: what is published about a fixed (or unfixable) vulnerability.

An advisory points at the reports it discloses, lists the affected packages with version
ranges per ecosystem (OSV's model: introduced / fixed / last_affected events), and keeps every
published revision. Drafts are embargoed data until published.
"""

from django.conf import settings
from django.db import models

from vulndesk.advisories.states import PUBLIC_STATES, AdvisoryState
from vulndesk.organisations.models import Organisation
from vulndesk.organisations.sealing import SealedModel, SealedText
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


class SealedList(property):
    """A list kept inside a sealed column, like ``SealedText`` (an empty list when unset)."""

    def __init__(self, column: str, key: str):
        text = SealedText(column, key)
        super().__init__(lambda obj: list(text.fget(obj) or []),
                         lambda obj, value: text.fset(obj, list(value or [])),
                         doc=f"Plaintext list {key!r}, stored encrypted in {column}.")


# What an advisory keeps sealed, and the lengths its columns used to enforce.
SEALED_DRAFT_FIELDS = frozenset({"title", "summary", "details", "workarounds", "credits", "references"})
DRAFT_TEXT_LIMITS = {"title": 200, "summary": 500, "details": 100_000, "workarounds": 20_000}


class Advisory(SealedModel):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="advisories")
    # Our identifier: <ORG PREFIX>-<YEAR>-<NNNN>, e.g. ACME-2026-0007.
    identifier = models.CharField(max_length=40, unique=True)
    year = models.PositiveIntegerField()
    sequence = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=AdvisoryState.choices, default=AdvisoryState.DRAFT)
    is_public = models.BooleanField(default=False)  # published, updated or withdrawn
    revision = models.PositiveIntegerField(default=0)  # published revisions so far

    # The working text, sealed with the organisation's data key (organisations.sealing): until it
    # is published it is the most sensitive data vulndesk holds, and the database alone must not
    # reveal it. What was published is in the public_* face below, in clear, as it is public.
    # Lengths are checked by services.py (DRAFT_TEXT_LIMITS), since these are not columns.
    sealed_draft = models.TextField(default="", blank=True)
    title = SealedText("sealed_draft", "title")
    summary = SealedText("sealed_draft", "summary")
    details = SealedText("sealed_draft", "details")  # Markdown; rendered safely
    workarounds = SealedText("sealed_draft", "workarounds")
    severity = models.CharField(max_length=10, choices=Severity.choices, blank=True)
    cvss3_vector = models.CharField(max_length=300, blank=True)
    cvss4_vector = models.CharField(max_length=300, blank=True)
    cwe_ids = models.JSONField(default=list, blank=True)  # [79, 89]
    # Sealed too: credits name people, references often point at the unreleased fix.
    # [{"name": "Jane Doe", "type": "FINDER"}] (OSV credit types)
    credits = SealedList("sealed_draft", "credits")
    # [{"type": "WEB", "url": "https://…"}] (OSV reference types)
    references = SealedList("sealed_draft", "references")
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

    sealed_columns = ("sealed_draft",)

    def __str__(self) -> str:
        return self.identifier

    def sealing_organisation_id(self) -> int:
        return self.organisation_id

    def sealing_aad(self, column: str) -> str:
        # The identifier is unique and set before the first save (unlike the pk).
        return f"advisory:{self.organisation_id}:{self.identifier}:{column}"

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
