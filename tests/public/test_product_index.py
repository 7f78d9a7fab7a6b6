"""The per-product index of public advisories follows the published product list: filled
inside the publishing transaction, replaced by each revision, back-filled for older rows."""

import importlib

from django.apps import apps

from tests.factories.core import make_product
from tests.public.conftest import advisory_draft, advisory_published, pypi_package
from vulndesk.advisories.services import advisory_transition, affected_packages_set
from vulndesk.advisories.states import AdvisoryState
from vulndesk.public.models import PublicAdvisoryProduct


def indexed(advisory) -> set[int]:
    return set(PublicAdvisoryProduct.objects.filter(advisory=advisory).values_list("product_id", flat=True))


def test_only_published_product_lists_reach_the_index(frozen_clock, organisation, triager):
    web, api = make_product(organisation), make_product(organisation)
    draft = advisory_draft(organisation, triager, web)
    assert indexed(draft) == set()
    advisory = advisory_published(organisation, triager, web)
    assert indexed(advisory) == {web.pk}
    # An unpublished change of products waits for the next revision.
    affected_packages_set(advisory=advisory, actor=triager, packages=[pypi_package(api, name="api")])
    assert indexed(advisory) == {web.pk}
    advisory_transition(advisory=advisory, actor=triager, to=AdvisoryState.UPDATED, changelog="Moved to the API")
    assert indexed(advisory) == {api.pk}
    row = PublicAdvisoryProduct.objects.get(advisory=advisory)
    assert row.published_at == advisory.published_at and row.organisation_id == organisation.pk


def test_the_backfill_migration_indexes_advisories_published_before_the_hook(frozen_clock, organisation, triager):
    web, api = make_product(organisation), make_product(organisation)
    advisory = advisory_published(organisation, triager, packages=[pypi_package(web, name="w"),
                                                                   pypi_package(api, name="a")])
    PublicAdvisoryProduct.objects.all().delete()
    migration = importlib.import_module("vulndesk.public.migrations.0002_backfill_product_index")
    migration.backfill(apps, None)
    migration.backfill(apps, None)  # safe to run twice
    assert indexed(advisory) == {web.pk, api.pk}
