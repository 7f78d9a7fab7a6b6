"""Advisories built through the real services: drafted, given packages and a summary,
reviewed, scheduled under an embargo and published by the periodic task, as staff would."""

from datetime import timedelta

import pytest

from vulndesk.advisories.services import (
    advisories_publish_due,
    advisory_create,
    advisory_transition,
    advisory_update,
    affected_packages_set,
)
from vulndesk.advisories.states import AdvisoryState


def pypi_package(product=None, name="acme-lib", introduced="0", fixed="1.2.3"):
    return {"ecosystem": "PyPI", "package_name": name, "product": product,
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": introduced}, {"fixed": fixed}]}]}


def advisory_draft(organisation, actor, product=None, *, title="Stored XSS in comments", summary="Comments are not escaped.",
                   severity="high", packages=None, **fields):
    advisory = advisory_create(organisation=organisation, actor=actor, title=title)
    affected_packages_set(advisory=advisory, actor=actor, packages=packages or [pypi_package(product)])
    return advisory_update(advisory=advisory, actor=actor, summary=summary, severity=severity, **fields)


def advisory_published(organisation, actor, product=None, **fields):
    advisory = advisory_draft(organisation, actor, product, **fields)
    advisory_transition(advisory=advisory, actor=actor, to=AdvisoryState.IN_REVIEW)
    return advisory_transition(advisory=advisory, actor=actor, to=AdvisoryState.PUBLISHED)


def advisory_scheduled(organisation, actor, product=None, *, embargo_days=2, now, **fields):
    advisory = advisory_draft(organisation, actor, product, embargo_until=now + timedelta(days=embargo_days), **fields)
    advisory_transition(advisory=advisory, actor=actor, to=AdvisoryState.IN_REVIEW)
    return advisory_transition(advisory=advisory, actor=actor, to=AdvisoryState.SCHEDULED)


@pytest.fixture
def publish_due():
    return advisories_publish_due
