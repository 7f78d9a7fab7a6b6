"""Writes for advisories: drafting (from accepted reports or in-house), editing, affected
packages, the review/schedule/publish lifecycle with the embargo, revisions and withdrawal.

Invariants: nothing becomes public except through ``_publish`` (one transaction: revision
snapshot, state, linked reports disclosed, index hooks, audit); publishing before the embargo
needs ``override_reason``; every change is audited. Callers pass the acting Membership, or
``None`` for the system (the scheduled publisher).
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Max

from vulndesk.advisories import hooks
from vulndesk.advisories.documents import osv_document
from vulndesk.advisories.models import (
    DRAFT_TEXT_LIMITS,
    SEALED_DRAFT_FIELDS,
    Advisory,
    AdvisoryRevision,
    AffectedPackage,
    Ecosystem,
)
from vulndesk.advisories.ranges import validate_affected
from vulndesk.advisories.states import AdvisoryState, advisory_transition_check
from vulndesk.audit.services import audit_record
from vulndesk.core import clock
from vulndesk.core.errors import DomainError, NotAllowed, NotFound
from vulndesk.organisations.models import TRIAGE_ROLES, Membership, Organisation
from vulndesk.reports.models import Report
from vulndesk.reports.services import report_transition
from vulndesk.reports.severity import cvss_score
from vulndesk.reports.states import TRANSITIONS, ReportState

EDITABLE_FIELDS = {"title", "summary", "details", "workarounds", "severity", "cvss3_vector", "cvss4_vector",
                   "cwe_ids", "credits", "references", "cve_id", "ghsa_id", "embargo_until"}
CREDIT_TYPES = {"FINDER", "REPORTER", "ANALYST", "COORDINATOR", "REMEDIATION_DEVELOPER", "REMEDIATION_REVIEWER",
                "REMEDIATION_VERIFIER", "TOOL", "SPONSOR", "OTHER"}
REFERENCE_TYPES = {"ADVISORY", "ARTICLE", "DETECTION", "DISCUSSION", "REPORT", "FIX", "INTRODUCED", "PACKAGE",
                   "EVIDENCE", "WEB"}


def _check(actor: Membership | None, organisation_id: int) -> None:
    if actor is None:
        return
    if actor.organisation_id != organisation_id:
        raise NotFound
    if actor.role not in TRIAGE_ROLES:
        raise NotAllowed


def _audit(action: str, advisory: Advisory, actor: Membership | None, **data) -> None:
    audit_record(action=action, organisation_id=advisory.organisation_id, actor_id=actor.user_id if actor else None,
                 actor_label=actor.user.display_name if actor else "system", target_type="advisory",
                 target_id=advisory.pk, data=data)


def _next_identifier(organisation: Organisation, year: int) -> tuple[int, str]:
    last = Advisory.objects.filter(organisation=organisation, year=year).aggregate(n=Max("sequence"))["n"] or 0
    sequence = last + 1
    return sequence, f"{organisation.reference_prefix}-{year}-{sequence:04d}"


@transaction.atomic
def advisory_create(*, organisation: Organisation, actor: Membership | None, title: str,
                    reports: list[Report] = ()) -> Advisory:
    """A draft, prefilled from accepted reports: severity and CVSS, CWE, products, and credit
    for each reporter who gave a handle (the name they chose for credit)."""
    _check(actor, organisation.pk)
    if not title.strip():
        raise DomainError("An advisory needs a title.", field="title")
    for report in reports:
        if report.organisation_id != organisation.pk:
            raise NotFound
        if report.state not in {ReportState.ACCEPTED, ReportState.FIXING, ReportState.FIXED, ReportState.WONT_FIX}:
            raise DomainError(f"{report.reference} is {report.get_state_display().lower()}; only accepted reports "
                              "can be disclosed in an advisory.", field="reports")
    Organisation.objects.select_for_update().filter(pk=organisation.pk).first()  # serialise numbering
    now = clock.now()
    sequence, identifier = _next_identifier(organisation, now.year)
    advisory = Advisory(organisation=organisation, identifier=identifier, year=now.year, sequence=sequence,
                        title=title.strip()[:200], modified_at=now, created_at=now,
                        created_by_id=actor.user_id if actor else None)
    if reports:
        lead = max(reports, key=lambda r: float(r.cvss_score or 0))
        advisory.severity = lead.severity
        advisory.cvss3_vector, advisory.cvss4_vector = lead.cvss3_vector, lead.cvss4_vector
        advisory.cwe_ids = sorted({r.cwe_id for r in reports if r.cwe_id})
        advisory.credits = [{"name": r.reporter_handle, "type": "FINDER"} for r in reports if r.reporter_handle]
    advisory.full_clean()
    advisory.save()
    if reports:
        advisory.reports.set(reports)
        for position, product in enumerate({r.product_id: r.product for r in reports}.values()):
            AffectedPackage.objects.create(advisory=advisory, product=product, ecosystem=Ecosystem.SEMVER,
                                           package_name=product.slug, position=position,
                                           ranges=[{"type": "SEMVER", "events": [{"introduced": "0"}]}])
    _audit("advisory.create", advisory, actor, reports=[r.pk for r in reports])
    return advisory


def _clean_credits(credits) -> list[dict]:
    if not isinstance(credits, list) or len(credits) > 50:
        raise DomainError("Credits are a list of at most 50 entries.", field="credits")
    clean = []
    for credit in credits:
        name = str(credit.get("name", "")).strip() if isinstance(credit, dict) else ""
        kind = str(credit.get("type", "FINDER")).upper() if isinstance(credit, dict) else ""
        if not name or len(name) > 200 or kind not in CREDIT_TYPES:
            raise DomainError(f"A credit needs a name and a type ({', '.join(sorted(CREDIT_TYPES))}).",
                              field="credits")
        clean.append({"name": name, "type": kind})
    return clean


def _clean_references(references) -> list[dict]:
    if not isinstance(references, list) or len(references) > 100:
        raise DomainError("References are a list of at most 100 entries.", field="references")
    clean = []
    for reference in references:
        url = str(reference.get("url", "")).strip() if isinstance(reference, dict) else ""
        kind = str(reference.get("type", "WEB")).upper() if isinstance(reference, dict) else ""
        if not url.startswith(("https://", "http://")) or len(url) > 2000 or any(c.isspace() for c in url):
            raise DomainError(f"A reference is an http(s) URL without spaces: {url[:80]!r}.", field="references")
        if kind not in REFERENCE_TYPES:
            raise DomainError(f"Unknown reference type {kind!r}.", field="references")
        clean.append({"type": kind, "url": url})
    return clean


@transaction.atomic
def advisory_update(*, advisory: Advisory, actor: Membership, **fields) -> Advisory:
    """Edit an advisory. On a published one the edits wait for the next revision: the public
    side keeps showing the last published snapshot until ``advisory_publish_revision``."""
    _check(actor, advisory.organisation_id)
    # Work on the row as it is now (a caller's copy may predate a publish) and write only the
    # edited fields, so an edit can never overwrite the lifecycle or the public face.
    advisory = Advisory.objects.select_for_update().get(pk=advisory.pk)
    if advisory.state == AdvisoryState.WITHDRAWN:
        raise DomainError("A withdrawn advisory cannot be edited.", field="state")
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise DomainError(f"{', '.join(sorted(unknown))} cannot be changed here.", field=sorted(unknown)[0])
    if "credits" in fields:
        fields["credits"] = _clean_credits(fields["credits"])
    if "references" in fields:
        fields["references"] = _clean_references(fields["references"])
    if "cwe_ids" in fields:
        ids = fields["cwe_ids"]
        if not isinstance(ids, list) or not all(isinstance(i, int) and 1 <= i <= 99999 for i in ids):
            raise DomainError("CWE ids are numbers such as 79.", field="cwe_ids")
        fields["cwe_ids"] = sorted(set(ids))
    for name in ("cvss3_vector", "cvss4_vector"):
        if fields.get(name):
            score = cvss_score(fields[name])
            expected = "3.1" if name == "cvss3_vector" else "4.0"
            if score.version != expected:
                raise DomainError(f"This field takes a CVSS {expected} vector.", field=name)
            fields[name] = score.vector
    if "embargo_until" in fields and fields["embargo_until"] is not None:
        if fields["embargo_until"] <= clock.now() and advisory.state not in {AdvisoryState.PUBLISHED,
                                                                              AdvisoryState.UPDATED}:
            raise DomainError("The embargo date must be in the future.", field="embargo_until")
    for name, limit in DRAFT_TEXT_LIMITS.items():
        if name in fields:
            fields[name] = str(fields[name] or "")
            if len(fields[name]) > limit:
                raise DomainError(f"The {name} is at most {limit:,} characters.", field=name)
    if "title" in fields and not fields["title"].strip():
        raise DomainError("An advisory needs a title.", field="title")
    for name, value in fields.items():
        setattr(advisory, name, value)
    advisory.modified_at = clock.now()
    advisory.full_clean()
    # The sealed fields live in one column, which save() re-seals (organisations.sealing).
    columns = {name for name in fields if name not in SEALED_DRAFT_FIELDS}
    advisory.save(update_fields=[*columns, "modified_at"])
    _audit("advisory.update", advisory, actor, fields=sorted(fields))
    return advisory


@transaction.atomic
def affected_packages_set(*, advisory: Advisory, actor: Membership, packages: list[dict]) -> list[AffectedPackage]:
    """Replace the affected packages. Each: ecosystem, package_name, ranges, versions, product?"""
    _check(actor, advisory.organisation_id)
    if advisory.state == AdvisoryState.WITHDRAWN:
        raise DomainError("A withdrawn advisory cannot be edited.", field="state")
    if len(packages) > 100:
        raise DomainError("At most 100 affected packages.", field="affected")
    rows = []
    for position, entry in enumerate(packages):
        ecosystem = entry.get("ecosystem")
        if ecosystem not in Ecosystem.values:
            raise DomainError(f"Unknown ecosystem {ecosystem!r}; use one of {', '.join(Ecosystem.values)}.",
                              field="ecosystem")
        ranges, versions = validate_affected(ecosystem=ecosystem, package_name=entry.get("package_name", ""),
                                             ranges=entry.get("ranges", []), versions=entry.get("versions", []))
        product = entry.get("product")
        if product is not None and product.organisation_id != advisory.organisation_id:
            raise NotFound
        rows.append(AffectedPackage(advisory=advisory, product=product, ecosystem=ecosystem,
                                    package_name=entry["package_name"].strip(), ranges=ranges, versions=versions,
                                    position=position))
    advisory.affected.all().delete()
    AffectedPackage.objects.bulk_create(rows)
    advisory.modified_at = clock.now()
    advisory.save(update_fields=["modified_at"])
    _audit("advisory.affected_set", advisory, actor, packages=len(rows))
    return rows


def _ready_for_review(advisory: Advisory) -> None:
    missing = [label for label, ok in (("a summary", advisory.summary), ("a severity", advisory.severity),
                                        ("an affected package", advisory.affected.exists())) if not ok]
    if missing:
        raise DomainError(f"Before review the advisory needs {', '.join(missing)}.", field="state")


def _disclose_reports(advisory: Advisory, actor: Membership | None) -> None:
    for report in advisory.reports.select_related("product__policy", "organisation"):
        if report.state == ReportState.DISCLOSED:
            continue
        if ReportState.DISCLOSED in TRANSITIONS[ReportState(report.state)]:
            report_transition(report=report, actor=None, to=ReportState.DISCLOSED,
                              reason=f"advisory {advisory.identifier} published")


def _set_public_face(advisory: Advisory, document: dict, now: datetime) -> None:
    advisory.public_document = document
    advisory.public_title = advisory.title
    advisory.public_summary = advisory.summary
    advisory.public_severity = advisory.severity
    advisory.public_modified_at = now
    advisory.public_product_ids = sorted({p.product_id for p in advisory.affected.all() if p.product_id})


def _publish(advisory: Advisory, actor: Membership | None, *, changelog: str, now: datetime) -> AdvisoryRevision:
    first = advisory.revision == 0
    advisory.revision += 1
    advisory.published_at = advisory.published_at or now
    advisory.modified_at = now
    advisory.state = AdvisoryState.PUBLISHED if first else AdvisoryState.UPDATED
    advisory.is_public = True
    advisory.save()
    document = osv_document(advisory, modified=now, published=advisory.published_at)
    _set_public_face(advisory, document, now)
    advisory.save()
    revision = AdvisoryRevision.objects.create(
        advisory=advisory, revision=advisory.revision, published_at=now,
        changelog=changelog or ("Initial publication" if first else ""),
        snapshot=document, published_by_id=actor.user_id if actor else None,
    )
    _disclose_reports(advisory, actor)
    for hook in hooks.PUBLISH_HOOKS:
        hook(advisory, revision)
    advisory_id, number = advisory.pk, revision.revision
    transaction.on_commit(lambda: hooks.revision_published.send(sender=Advisory, advisory_id=advisory_id,
                                                                 revision=number))
    return revision


@transaction.atomic
def advisory_transition(*, advisory: Advisory, actor: Membership | None, to: str, override_reason: str = "",
                        changelog: str = "") -> Advisory:
    _check(actor, advisory.organisation_id)
    advisory = Advisory.objects.select_for_update().get(pk=advisory.pk)
    advisory_transition_check(advisory.state, to)
    now = clock.now()
    previous = advisory.state
    if to == AdvisoryState.IN_REVIEW and previous == AdvisoryState.DRAFT:
        _ready_for_review(advisory)
    if to == AdvisoryState.SCHEDULED:
        if advisory.embargo_until is None or advisory.embargo_until <= now:
            raise DomainError("Set an embargo date in the future before scheduling.", field="embargo_until")
    if to in {AdvisoryState.PUBLISHED, AdvisoryState.UPDATED}:
        early = advisory.embargo_until is not None and now < advisory.embargo_until and previous != AdvisoryState.PUBLISHED \
            and previous != AdvisoryState.UPDATED
        if early and not override_reason.strip():
            raise DomainError(
                f"The embargo lasts until {advisory.embargo_until:%Y-%m-%d %H:%M} UTC. Publishing before it needs "
                "an override with a reason.", field="override_reason")
        if to == AdvisoryState.UPDATED and not changelog.strip():
            raise DomainError("Say what changed in this revision.", field="changelog")
        _publish(advisory, actor, changelog=changelog, now=now)
        if early:
            _audit("advisory.publish_early", advisory, actor, reason=override_reason.strip()[:500],
                   embargo_until=advisory.embargo_until.isoformat())
    else:
        advisory.state = to
        advisory.modified_at = now
        advisory.save(update_fields=["state", "modified_at"])
        if to == AdvisoryState.SCHEDULED:
            advisory_id = advisory.pk
            transaction.on_commit(lambda: hooks.advisory_scheduled.send(sender=Advisory, advisory_id=advisory_id))
    _audit("advisory.transition", advisory, actor, **{"from": previous, "to": to})
    return advisory


@transaction.atomic
def advisory_withdraw(*, advisory: Advisory, actor: Membership, reason: str) -> Advisory:
    _check(actor, advisory.organisation_id)
    advisory = Advisory.objects.select_for_update().get(pk=advisory.pk)
    advisory_transition_check(advisory.state, AdvisoryState.WITHDRAWN)
    if not reason.strip():
        raise DomainError("Say why the advisory is withdrawn; the reason is published.", field="reason")
    now = clock.now()
    advisory.withdrawn_at = now
    advisory.state = AdvisoryState.WITHDRAWN
    advisory.revision += 1
    advisory.modified_at = now
    advisory.save()
    document = osv_document(advisory, modified=now, published=advisory.published_at)
    # A withdrawn advisory stays visible with its withdrawal date (OSV "withdrawn"); its
    # content is the last published one, not any unpublished edits.
    published = dict(advisory.public_document or document)
    published["withdrawn"], published["modified"] = document["withdrawn"], document["modified"]
    advisory.public_document, advisory.public_modified_at = published, now
    advisory.save(update_fields=["public_document", "public_modified_at"])
    AdvisoryRevision.objects.create(advisory=advisory, revision=advisory.revision, published_at=now,
                                    changelog=f"Withdrawn: {reason.strip()[:900]}", snapshot=published,
                                    published_by_id=actor.user_id)
    for hook in hooks.WITHDRAW_HOOKS:
        hook(advisory)
    advisory_id, number = advisory.pk, advisory.revision
    transaction.on_commit(lambda: hooks.advisory_withdrawn.send(sender=Advisory, advisory_id=advisory_id,
                                                                revision=number))
    _audit("advisory.withdraw", advisory, actor, reason=reason.strip()[:500])
    return advisory


def advisories_publish_due(*, now: datetime | None = None) -> list[str]:
    """Publish every scheduled advisory whose embargo has passed. Never before: the query
    compares with the clock, and each publish re-checks under a row lock."""
    now = now or clock.now()
    published = []
    due = Advisory.objects.filter(state=AdvisoryState.SCHEDULED, embargo_until__lte=now).values_list("pk", flat=True)
    for advisory_id in list(due[:200]):
        with transaction.atomic():
            advisory = Advisory.objects.select_for_update().get(pk=advisory_id)
            if advisory.state != AdvisoryState.SCHEDULED or advisory.embargo_until > now:
                continue
            advisory_transition(advisory=advisory, actor=None, to=AdvisoryState.PUBLISHED)
            published.append(advisory.identifier)
    return published
