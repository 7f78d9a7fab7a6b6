"""Writes for the OSV index. Only the advisories publish/withdraw hooks call these (inside the
publishing transaction), so the index can never disagree with what is published: a draft or
scheduled advisory has no rows, a new revision replaces its advisory's rows, a withdrawal marks
them. The index is derived data rebuilt from ``public_document``, so these writes are not
audited (the publish or withdrawal that triggers them is).
"""

from django.db import transaction

from vulndesk.advisories.models import Advisory
from vulndesk.advisories.states import PUBLIC_STATES, AdvisoryState
from vulndesk.osv.index import aliases_of_document, entries_for_document
from vulndesk.osv.models import AffectedRangeIndex, OsvAlias


def _rows(advisory: Advisory, document: dict) -> list[AffectedRangeIndex]:
    withdrawn = advisory.state == AdvisoryState.WITHDRAWN or bool(document.get("withdrawn"))
    return [AffectedRangeIndex(organisation_id=advisory.organisation_id, advisory_id=advisory.pk,
                               osv_id=document["id"], modified=document.get("modified", ""),
                               ecosystem=entry.ecosystem, package=entry.package, kind=entry.kind,
                               comparator=entry.comparator, events=entry.events, version=entry.version,
                               lower_key=entry.lower_key, upper_key=entry.upper_key,
                               upper_inclusive=entry.upper_inclusive, commit=entry.commit,
                               commit_prefix=entry.commit[:7],
                               is_withdrawn=withdrawn)
            for entry in entries_for_document(document)]


@transaction.atomic
def osv_index_publish(advisory: Advisory, revision=None) -> int:
    """PUBLISH_HOOKS entry: replace the advisory's rows with those of its public document.
    Raises InvalidEcosystemVersion (refusing the publish) if a version cannot be indexed."""
    document = advisory.public_document
    if not advisory.is_public or not document:
        return 0
    rows = _rows(advisory, document)
    AffectedRangeIndex.objects.filter(advisory_id=advisory.pk).delete()
    AffectedRangeIndex.objects.bulk_create(rows, batch_size=500)
    OsvAlias.objects.filter(advisory_id=advisory.pk).delete()
    OsvAlias.objects.bulk_create([OsvAlias(advisory_id=advisory.pk, alias=alias)
                                  for alias in aliases_of_document(document)])
    return len(rows)


@transaction.atomic
def osv_index_withdraw(advisory: Advisory) -> int:
    """WITHDRAW_HOOKS entry: keep the rows (the id still answers) but mark them withdrawn, so
    version and commit queries no longer return the advisory, as on osv.dev."""
    document = advisory.public_document or {}
    return AffectedRangeIndex.objects.filter(advisory_id=advisory.pk).update(
        is_withdrawn=True, modified=document.get("modified", ""))


def osv_index_rebuild() -> int:
    """Rebuild the rows of every public advisory (after an upgrade or a change of version rules).
    One transaction per advisory, so a long rebuild does not hold the write lock."""
    count = 0
    ids = Advisory.objects.filter(is_public=True, state__in=PUBLIC_STATES).values_list("pk", flat=True)
    for advisory_id in list(ids):
        with transaction.atomic():
            advisory = Advisory.objects.filter(pk=advisory_id).first()
            if advisory is not None:
                count += osv_index_publish(advisory)
    return count
