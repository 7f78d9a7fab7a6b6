"""The OSV query index: one row per affected version interval, listed version or commit of a
published advisory, built from ``Advisory.public_document`` (never from the live, possibly
unpublished fields) by the publish hook in ``services``.

Matching a version is a lookup on (ecosystem, package) narrowed by byte sort keys
(``advisories.ecosystems``): a row can only match when ``lower_key <= key <= upper_key``. The
match is then confirmed with the ecosystem's rules on the row's events. Rows of a withdrawn
advisory stay (marked) so that the identifier keeps answering; version queries skip them.
"""

from django.db import models

from vulndesk.advisories.models import Advisory
from vulndesk.organisations.models import Organisation


class RangeKind(models.TextChoices):
    ECOSYSTEM = "ECOSYSTEM", "Ecosystem range"
    SEMVER = "SEMVER", "SemVer range"
    GIT = "GIT", "Git commit"
    VERSION = "VERSION", "Listed version"


class AffectedRangeIndex(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    advisory = models.ForeignKey(Advisory, on_delete=models.CASCADE, related_name="+")
    # Copied from the public document so that querybatch answers {id, modified} from this table.
    osv_id = models.CharField(max_length=60)
    modified = models.CharField(max_length=30)
    ecosystem = models.CharField(max_length=16)
    # Normalised as OSV matches it (PyPI: PEP 503); the repository URL for GIT rows.
    package = models.CharField(max_length=300)
    kind = models.CharField(max_length=10, choices=RangeKind.choices)
    # Whose rules confirm a match: the ecosystem, or SemVer for a SEMVER range in PyPI/Maven.
    comparator = models.CharField(max_length=16)
    events = models.JSONField(default=list, blank=True)  # the whole range's events (ranges only)
    version = models.CharField(max_length=200, blank=True)  # listed version or commit
    # Byte sort keys in the ecosystem's own order; b"" and b"\xff" when any version may match.
    lower_key = models.BinaryField()
    upper_key = models.BinaryField()
    upper_inclusive = models.BooleanField(default=False)
    commit = models.CharField(max_length=64, blank=True)  # lower-case hash, GIT rows only
    # Its first 7 digits (the shortest hash accepted): one IN on this finds a commit whether the
    # advisory or the query abbreviates it; the full comparison follows in Python.
    commit_prefix = models.CharField(max_length=7, blank=True)
    is_withdrawn = models.BooleanField(default=False)

    class Meta:
        indexes = [
            # Lookup by package, range scan on the upper bound (usually the selective one: most
            # intervals end long before the version asked about); lower_key is checked in the index.
            models.Index(fields=["ecosystem", "package", "upper_key", "lower_key"], name="osv_range_lookup"),
            models.Index(fields=["commit_prefix"], name="osv_commit_lookup"),
        ]

    def __str__(self) -> str:
        return f"{self.osv_id} {self.ecosystem}/{self.package} {self.kind}"


class OsvAlias(models.Model):
    """The public aliases (CVE, GHSA) of a published advisory, from its public document, so that
    ``GET vulns/CVE-…`` never sees an alias added to the live fields but not yet published."""

    advisory = models.ForeignKey(Advisory, on_delete=models.CASCADE, related_name="+")
    alias = models.CharField(max_length=60)  # upper-cased for case-insensitive lookups

    class Meta:
        indexes = [models.Index(fields=["alias"], name="osv_alias_lookup")]
        constraints = [models.UniqueConstraint(fields=["advisory", "alias"], name="osv_alias_once")]

    def __str__(self) -> str:
        return self.alias
