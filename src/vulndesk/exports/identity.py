"""Who publishes the documents and where they point: the site's address, the advisory page,
the CSAF publisher namespace and the generator's name and version.

The public site (``vulndesk.public``) owns the advisory pages; until it names a route
``public:advisory`` taking ``identifier``, the address falls back to
``<SITE_URL>/advisories/<identifier>/``."""

from datetime import UTC, datetime
from functools import cache
from importlib.metadata import PackageNotFoundError, version

from django.conf import settings
from django.urls import NoReverseMatch, reverse

ENGINE = "vulndesk"


def site_url() -> str:
    return getattr(settings, "SITE_URL", "http://127.0.0.1:8000").rstrip("/")


def advisory_url(identifier: str) -> str:
    try:
        path = reverse("public:advisory", kwargs={"identifier": identifier})
    except NoReverseMatch:
        path = f"/advisories/{identifier}/"
    return f"{site_url()}{path}"


def publisher_namespace() -> str:
    """CSAF ``publisher.namespace``: a URL under the publisher's control that names it. One
    vulndesk installation publishes for its organisations under its own site URL; the
    publisher's name tells the organisations apart."""
    return f"{site_url()}/"


@cache
def engine_version() -> str:
    try:
        return version("vulndesk")
    except PackageNotFoundError:
        return ""


def timestamp(moment: datetime) -> str:
    """UTC with a Z, as OSV, CSAF and CVE all accept."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
