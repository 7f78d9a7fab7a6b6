"""Writes for CVE IDs: the CNA settings, reserving an ID for an advisory, publishing and updating
its CVE record at CVE Services, and recording an ID another CNA assigned.

Network calls never run inside a database transaction: each action checks what it can first,
then calls CVE Services (``client.call``: bounded retries, clear errors), then records the
outcome in one transaction with its audit entry. A reservation is claimed in the database before
the call (``CveAssignment`` in state ``reserving``), so two clicks cannot reserve two IDs.

The advisory's ``cve_id`` is set through ``advisories.services.advisory_update``, which audits it
as an advisory edit; our own audit entries say where the ID came from. The API key is never
logged or audited: entries say only whether it was replaced.
"""

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from cvelib.cve_api import CveRecordValidationError
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from vulndesk.advisories.models import Advisory
from vulndesk.advisories.services import advisory_update
from vulndesk.advisories.states import AdvisoryState
from vulndesk.audit.services import audit_record
from vulndesk.core import clock
from vulndesk.core.errors import Conflict, DomainError, NotAllowed, NotFound
from vulndesk.cve import client, records, rules
from vulndesk.cve.models import (
    STALE_CLAIM,
    CnaAccount,
    CveAssignment,
    CveAssignmentState,
    RecordFollowAction,
    RecordFollowState,
)
from vulndesk.organisations.models import SETTINGS_ROLES, TRIAGE_ROLES, Membership, Organisation

logger = logging.getLogger("vulndesk.cve")


class CveServicesNotConfigured(DomainError):
    status_code = 409
    code = "cve_services_not_configured"


def _check(actor: Membership, organisation_id: int, roles) -> None:
    if actor.organisation_id != organisation_id:  # defence in depth; access.py is the gate
        raise NotFound
    if actor.role not in roles:
        raise NotAllowed


def _audit(action: str, *, actor: Membership, organisation_id: int, target_type: str, target_id, **data) -> None:
    audit_record(action=action, organisation_id=organisation_id, actor_id=actor.user_id,
                 actor_label=actor.user.display_name, target_type=target_type, target_id=target_id, data=data)


# --- CNA settings ----------------------------------------------------------------------------------

@transaction.atomic
def cna_account_save(*, organisation: Organisation, actor: Membership, endpoint_url: str, short_name: str,
                     username: str, api_key: str = "", is_enabled: bool = True) -> CnaAccount:
    """Create or change the organisation's CNA account. An empty ``api_key`` keeps the stored one."""
    _check(actor, organisation.pk, SETTINGS_ROLES)
    now = clock.now()
    account = CnaAccount.objects.select_for_update().filter(organisation=organisation).first()
    created = account is None
    if created:
        account = CnaAccount(organisation=organisation, created_at=now)
    values = {
        "endpoint_url": rules.endpoint_url_clean(endpoint_url),
        "short_name": rules.short_name_clean(short_name),
        "username": (username or "").strip(),
        "is_enabled": bool(is_enabled),
    }
    try:
        validate_email(values["username"])
    except ValidationError:
        raise rules.InvalidCnaSetting("Give the CVE Services user (an e-mail address).", field="username") from None
    if api_key:
        api_key = rules.api_key_clean(api_key)
    elif created:
        raise rules.InvalidCnaSetting("Give the API key CVE Services issued for this user.", field="api_key")
    changed = sorted(name for name, value in values.items() if created or getattr(account, name) != value)
    for name, value in values.items():
        setattr(account, name, value)
    if api_key:
        account.api_key = api_key  # sealed on save, bound to this organisation's row
    if {"short_name", "endpoint_url"} & set(changed):
        account.remaining_quota = None
    account.updated_by_id, account.updated_at = actor.user_id, now
    account.save()
    _audit("cve.account_save", actor=actor, organisation_id=organisation.pk, target_type="cna_account",
           target_id=account.pk, created=created, fields=changed, api_key_replaced=bool(api_key))
    return account


@dataclass(frozen=True)
class ConnectionCheck:
    organisation_name: str
    id_quota: int | None
    available: int | None


def cna_account_check(*, organisation: Organisation, actor: Membership) -> ConnectionCheck:
    """Ask CVE Services who we are and how much quota is left (no change at CVE Services)."""
    _check(actor, organisation.pk, SETTINGS_ROLES)
    account = _account(organisation.pk, require_enabled=False)
    org = client.call(account, lambda api: api.show_org(), operation="read the CNA's organisation",
                      subject=f"the CNA short name {account.short_name!r}")
    quota = client.call(account, lambda api: api.quota(), operation="read the CVE ID quota")
    quota = quota if isinstance(quota, dict) else {}
    id_quota, available = (value if isinstance(value, int) and value >= 0 else None
                           for value in (quota.get("id_quota"), quota.get("available")))
    with transaction.atomic():
        CnaAccount.objects.filter(pk=account.pk).update(remaining_quota=available)
    name = org.get("name") if isinstance(org, dict) else ""
    return ConnectionCheck(organisation_name=client.service_text(name, 200), id_quota=id_quota, available=available)


def _account(organisation_id: int, *, require_enabled: bool = True) -> CnaAccount:
    account = CnaAccount.objects.filter(organisation_id=organisation_id).first()
    if account is None or not account.has_api_key or not account.api_key:
        raise CveServicesNotConfigured("CVE Services is not set up for this organisation yet: an owner or security "
                                       "manager enters the CNA account in the CNA settings.")
    if require_enabled and not account.is_enabled:
        raise CveServicesNotConfigured("CVE Services is switched off in the CNA settings.")
    return account


# --- reserve ---------------------------------------------------------------------------------------
#
# POST /cve-id is not idempotent: each call that CVE Services processes takes an ID from the
# CNA's quota, and a gateway can lose the answer after it did. So the request is never repeated
# blindly. Before it goes out, the IDs our CVE Services user reserved in a window before now are
# listed and stored with the attempt (``reserve_seen_ids``, ``reserve_attempted_at``); when the
# answer is lost, the same listing is asked again, and a new ID reserved by our user that no
# advisory holds is the one the lost request reserved: it is adopted. Only when the listing shows
# that nothing was reserved is the request sent again (bounded, with back-off). When CVE Services
# cannot even be asked, the attempt stays recorded (state ``unconfirmed``) and the next reserve
# asks before it sends anything.

# How far back the listing looks: covers the time between our attempt and CVE Services' own
# clock stamping the reservation, whatever the skew between the two clocks.
RESERVE_WINDOW = timedelta(minutes=30)
RESERVE_LISTING_LIMIT = 1000


class _OutcomeUnknown(Exception):
    """A reservation request may have been processed and CVE Services could not be asked."""


def _claim(advisory: Advisory, actor: Membership) -> tuple[CveAssignment, bool]:
    """Claim the advisory's reservation. Returns the assignment and whether an earlier attempt's
    outcome must be found out first (a request that died mid-way, or an unconfirmed one)."""
    now = clock.now()
    with transaction.atomic():
        locked = Advisory.objects.select_for_update().get(pk=advisory.pk)
        if locked.state == AdvisoryState.WITHDRAWN:
            raise Conflict("A withdrawn advisory does not get a CVE ID.", field="cve_id")
        assignment = CveAssignment.objects.select_for_update().filter(advisory=locked).first()
        pending = False
        if assignment is not None:
            stale = assignment.state == CveAssignmentState.RESERVING and assignment.claimed_at < now - STALE_CLAIM
            unconfirmed = assignment.state == CveAssignmentState.UNCONFIRMED
            if not stale and not unconfirmed and assignment.state != CveAssignmentState.ELSEWHERE:
                if assignment.state == CveAssignmentState.RESERVING:
                    raise Conflict("A CVE ID is being reserved for this advisory right now.", field="cve_id")
                raise Conflict(f"This advisory already has {assignment.cve_id}.", field="cve_id")
            pending = (stale or unconfirmed) and assignment.reserve_attempted_at is not None
        taking_over = assignment is not None and assignment.state in {CveAssignmentState.RESERVING,
                                                                      CveAssignmentState.UNCONFIRMED}
        if locked.cve_id and not taking_over:
            raise Conflict(f"This advisory already has {locked.cve_id}. Clear it in the advisory first to reserve a "
                           "new one.", field="cve_id")
        try:
            with transaction.atomic():
                if assignment is None:
                    assignment = CveAssignment.objects.create(
                        organisation_id=locked.organisation_id, advisory=locked, state=CveAssignmentState.RESERVING,
                        claimed_at=now, updated_by_id=actor.user_id)
                else:
                    assignment.state, assignment.cve_id, assignment.claimed_at = CveAssignmentState.RESERVING, "", now
                    assignment.updated_by_id = actor.user_id
                    if not pending:
                        assignment.reserve_attempted_at, assignment.reserve_seen_ids = None, []
                    assignment.save()
        except IntegrityError:  # another request claimed it between our read and write
            raise Conflict("A CVE ID is being reserved for this advisory right now.", field="cve_id") from None
    return assignment, pending


def _release(assignment: CveAssignment) -> None:
    """Give the claim up: nothing was reserved (CVE Services refused, or said so when asked)."""
    with transaction.atomic():
        CveAssignment.objects.filter(pk=assignment.pk, state=CveAssignmentState.RESERVING).delete()


def _leave_unconfirmed(assignment: CveAssignment) -> None:
    with transaction.atomic():
        CveAssignment.objects.filter(pk=assignment.pk, state=CveAssignmentState.RESERVING).update(
            state=CveAssignmentState.UNCONFIRMED)


def _reserved_id(answer) -> tuple[str, int | None]:
    ids = answer.get("cve_ids") if isinstance(answer, dict) else None
    first = ids[0] if isinstance(ids, list) and ids and isinstance(ids[0], dict) else {}
    try:
        cve_id = rules.cve_id_clean(str(first.get("cve_id", "")), current_year=clock.now().year)
    except rules.InvalidCveId:
        # A 200 without a usable ID: the reservation may well have happened.
        raise client.CveServicesAnswerLost("CVE Services answered the reservation without a valid CVE ID.") from None
    meta = answer.get("meta") if isinstance(answer.get("meta"), dict) else {}
    quota = meta.get("remaining_quota")
    return cve_id, quota if isinstance(quota, int) and quota >= 0 else None


def _reserved_by_us(account: CnaAccount, since) -> list[dict]:
    """Our CVE Services user's IDs still in the RESERVED state, reserved since ``since``."""
    def listing(api):
        rows = api.list_cves(year=str(since.year), state="RESERVED", reserved_gt=since)
        return [row for row, _ in zip(rows, range(RESERVE_LISTING_LIMIT), strict=False)]

    rows = client.call(account, listing, operation="list the CNA's reserved CVE IDs")
    mine = []
    for row in rows if isinstance(rows, list) else []:
        requested_by = row.get("requested_by") if isinstance(row, dict) else None
        if isinstance(requested_by, dict) and str(requested_by.get("user", "")).lower() == account.username.lower():
            mine.append(row)
    return mine


def _record_attempt(account: CnaAccount, assignment: CveAssignment) -> None:
    """Before a reservation request goes out: what our user holds already, stored with the time."""
    now = clock.now()
    seen = sorted({str(row.get("cve_id", "")) for row in _reserved_by_us(account, now - RESERVE_WINDOW)})
    with transaction.atomic():
        assignment.reserve_attempted_at, assignment.reserve_seen_ids = now, seen
        assignment.save(update_fields=["reserve_attempted_at", "reserve_seen_ids"])


def _reconcile(account: CnaAccount, assignment: CveAssignment) -> str | None:
    """The ID the recorded attempt reserved, or None when CVE Services shows it reserved nothing.
    Raises _OutcomeUnknown when CVE Services cannot be asked."""
    since = assignment.reserve_attempted_at - RESERVE_WINDOW
    try:
        rows = _reserved_by_us(account, since)
    except client.CveServicesError as error:
        raise _OutcomeUnknown(error.message) from None
    seen = set(assignment.reserve_seen_ids or [])
    candidates = sorted((str(row.get("reserved", "")), str(row.get("cve_id", ""))) for row in rows
                        if str(row.get("cve_id", "")) not in seen)
    held = set(CveAssignment.objects.filter(organisation_id=assignment.organisation_id,
                                            cve_id__in=[cve_id for _, cve_id in candidates])
               .values_list("cve_id", flat=True))
    for _, cve_id in candidates:
        if cve_id in held:
            continue
        try:
            return rules.cve_id_clean(cve_id, current_year=clock.now().year)
        except rules.InvalidCveId:
            continue
    return None


def _reserve_at_cve_services(account: CnaAccount, assignment: CveAssignment, *,
                             pending: bool) -> tuple[str, int | None, bool]:
    """Returns (CVE ID, remaining quota if known, whether it was found by asking after a lost
    answer). Raises a CveServicesError when nothing was reserved, _OutcomeUnknown when that is not
    known."""
    if pending:
        found = _reconcile(account, assignment)
        if found:
            return found, None, True
    tries = max(1, int(getattr(settings, "CVE_SERVICES_TRIES", 3)))
    backoff = float(getattr(settings, "CVE_SERVICES_BACKOFF_SECONDS", 0.5))
    for attempt in range(1, tries + 1):
        _record_attempt(account, assignment)
        year = str(assignment.reserve_attempted_at.year)
        try:
            answer = client.call(account, lambda api, year=year: api.reserve(1, False, year),
                                 operation="reserve a CVE ID", retry=False)
            cve_id, remaining = _reserved_id(answer)
            return cve_id, remaining, False
        except client.CveServicesAnswerLost as lost:
            found = _reconcile(account, assignment)
            logger.warning("cve.reserve_answer_lost organisation=%s advisory=%s attempt=%s found=%s",
                           assignment.organisation_id, assignment.advisory_id, attempt, bool(found))
            if found:
                return found, None, True
            if attempt == tries:
                raise client.CveServicesUnavailable(
                    f"{lost.message} This happened {tries} times in a row; CVE Services shows that no ID was "
                    "reserved. Try again later.") from None
        time.sleep(backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover


def cve_id_reserve(*, advisory: Advisory, actor: Membership) -> CveAssignment:
    """Reserve one CVE ID for this year at CVE Services and give it to the advisory. Never takes
    a second ID for one advisory, even when answers are lost (see above)."""
    _check(actor, advisory.organisation_id, TRIAGE_ROLES)
    account = _account(advisory.organisation_id)
    assignment, pending = _claim(advisory, actor)
    try:
        cve_id, remaining, reconciled = _reserve_at_cve_services(account, assignment, pending=pending)
    except _OutcomeUnknown as unknown:
        _leave_unconfirmed(assignment)
        logger.error("cve.reserve_unconfirmed organisation=%s advisory=%s", advisory.organisation_id, advisory.pk)
        raise client.CveServicesUnavailable(
            "CVE Services did not answer the reservation, and could not be asked whether it reserved an ID "
            f"({unknown}). Press Reserve again later: it first asks CVE Services, and adopts the ID if one was "
            "reserved, so no second ID is taken.") from None
    except BaseException:
        _release(assignment)
        raise
    try:
        with transaction.atomic():
            advisory = Advisory.objects.select_for_update().get(pk=advisory.pk)
            advisory_update(advisory=advisory, actor=actor, cve_id=cve_id)
            now = clock.now()
            assignment.cve_id, assignment.state = cve_id, CveAssignmentState.RESERVED
            assignment.reserved_at = assignment.claimed_at = now
            assignment.record_published_at = assignment.record_updated_at = None
            assignment.last_container = None
            assignment.reserve_seen_ids = []
            assignment.save()
            if remaining is not None:
                CnaAccount.objects.filter(pk=account.pk).update(remaining_quota=remaining)
            data = {"cve_id": cve_id, "advisory": advisory.identifier}
            if reconciled:
                data["found_after_lost_answer"] = True
            _audit("cve.reserve", actor=actor, organisation_id=advisory.organisation_id, target_type="advisory",
                   target_id=advisory.pk, **data)
    except DomainError as error:
        _release(assignment)
        logger.error("cve.reserve_not_recorded organisation=%s advisory=%s cve_id=%s",
                     advisory.organisation_id, advisory.pk, cve_id)
        raise Conflict(f"CVE Services reserved {cve_id} for your CNA, but it could not be given to this advisory: "
                       f"{error.message} The ID stays reserved at CVE Services.", field="cve_id") from None
    return assignment


# --- assigned elsewhere ----------------------------------------------------------------------------

@transaction.atomic
def cve_id_record_elsewhere(*, advisory: Advisory, actor: Membership, cve_id: str) -> CveAssignment:
    """Record a CVE ID another CNA (or MITRE) assigned. Its record is theirs to publish."""
    _check(actor, advisory.organisation_id, TRIAGE_ROLES)
    cve_id = rules.cve_id_clean(cve_id, current_year=clock.now().year)
    advisory = Advisory.objects.select_for_update().get(pk=advisory.pk)
    assignment = CveAssignment.objects.select_for_update().filter(advisory=advisory).first()
    if assignment is not None and assignment.state != CveAssignmentState.ELSEWHERE:
        if assignment.state == CveAssignmentState.RESERVING:
            raise Conflict("A CVE ID is being reserved for this advisory right now.", field="cve_id")
        if assignment.state == CveAssignmentState.UNCONFIRMED:
            raise Conflict("CVE Services may have reserved an ID for this advisory. Press Reserve to find out "
                           "first; it takes no second ID.", field="cve_id")
        raise Conflict(f"This advisory has {assignment.cve_id}, reserved through CVE Services by your CNA; it cannot "
                       "be replaced here.", field="cve_id")
    previous = advisory.cve_id
    advisory_update(advisory=advisory, actor=actor, cve_id=cve_id)
    now = clock.now()
    if assignment is None:
        assignment = CveAssignment(organisation_id=advisory.organisation_id, advisory=advisory)
    assignment.cve_id, assignment.state, assignment.claimed_at = cve_id, CveAssignmentState.ELSEWHERE, now
    assignment.updated_by_id = actor.user_id
    assignment.save()
    _audit("cve.record_elsewhere", actor=actor, organisation_id=advisory.organisation_id, target_type="advisory",
           target_id=advisory.pk, cve_id=cve_id, previous=previous, advisory=advisory.identifier)
    return assignment


# --- publish and update the CVE record ----------------------------------------------------------------

def _fresh(advisory: Advisory) -> tuple[Advisory, CveAssignment | None]:
    """The advisory as stored now (the caller's copy may predate a reservation) and its assignment."""
    advisory = Advisory.objects.select_related("organisation").get(pk=advisory.pk)
    return advisory, CveAssignment.objects.filter(advisory_id=advisory.pk).first()


def _same_id(advisory: Advisory, assignment: CveAssignment) -> None:
    if advisory.cve_id != assignment.cve_id:
        raise Conflict(f"The advisory's CVE ID was changed by hand to {advisory.cve_id or 'nothing'}, but "
                       f"{assignment.cve_id} is the one reserved for it. Put {assignment.cve_id} back in the advisory "
                       "first.", field="cve_id")


def _require_public(advisory: Advisory) -> None:
    """The record describes what is public: the advisory must be published, and the record is
    built from its published revision only (``records.cna_container``)."""
    if advisory.state == AdvisoryState.WITHDRAWN:
        raise Conflict("The advisory is withdrawn: its CVE ID is rejected instead (the CVE panel shows how far "
                       "that got).", field="state")
    if not advisory.is_public or advisory.state not in {AdvisoryState.PUBLISHED, AdvisoryState.UPDATED} \
            or not advisory.public_document:
        raise Conflict("Publish the advisory first: the CVE record makes the vulnerability public, so it is built "
                       "from the published advisory only.", field="state")


def _organisation_uuid(account: CnaAccount) -> str:
    org = client.call(account, lambda api: api.show_org(), operation="read the CNA's organisation",
                      subject=f"the CNA short name {account.short_name!r}")
    organisation_uuid = str(org.get("UUID", "")) if isinstance(org, dict) else ""
    if not organisation_uuid:
        raise client.CveServicesUnavailable("CVE Services did not say which organisation id the CNA has.")
    return organisation_uuid


def _container(account: CnaAccount, advisory: Advisory) -> dict:
    container = records.cna_container(advisory=advisory, organisation_uuid=_organisation_uuid(account))
    records.container_check(container)
    return container


def _send(account: CnaAccount, cve_id: str, container: dict, *, update: bool) -> None:
    operation = "update the CVE record" if update else "publish the CVE record"

    def send(api):
        # providerMetadata is set, so cvelib adds nothing but validates once more.
        method = api.update_published if update else api.publish
        return method(cve_id, dict(container), validate=True)

    try:
        client.call(account, send, operation=operation, subject=cve_id)
    except CveRecordValidationError:  # pragma: no cover - container_check ran on the same schema
        raise records.CveRecordInvalid("The CVE record does not pass the CVE JSON 5.1 schema.") from None


def cve_record_publish(*, advisory: Advisory, actor: Membership) -> CveAssignment:
    """Publish the CVE record of the advisory's reserved ID, from its published revision."""
    _check(actor, advisory.organisation_id, TRIAGE_ROLES)
    advisory, assignment = _fresh(advisory)
    if assignment is None or not assignment.cve_id:
        raise Conflict("Reserve a CVE ID for this advisory first.", field="cve_id")
    if assignment.state == CveAssignmentState.ELSEWHERE:
        raise Conflict(f"{assignment.cve_id} was assigned by another CNA, which publishes its record.", field="cve_id")
    if assignment.state == CveAssignmentState.PUBLISHED:
        raise Conflict(f"The record of {assignment.cve_id} is already published; use Update.", field="cve_id")
    if assignment.state != CveAssignmentState.RESERVED:
        raise Conflict("A CVE ID is being reserved for this advisory right now.", field="cve_id")
    _same_id(advisory, assignment)
    _require_public(advisory)
    account = _account(advisory.organisation_id)
    container = _container(account, advisory)
    try:
        _send(account, assignment.cve_id, container, update=False)
    except client.CveServicesRefused as error:
        if error.service_code != "CVE_RECORD_EXISTS":
            raise
        # Our ID already has a record: an earlier try went through although its answer was lost
        # (a gateway error, then the retry), or it was published with another tool. The advisory
        # is the source of truth, so its record replaces that one.
        _send(account, assignment.cve_id, container, update=True)
    with transaction.atomic():
        assignment = CveAssignment.objects.select_for_update().get(pk=assignment.pk)
        now = clock.now()
        assignment.state = CveAssignmentState.PUBLISHED
        assignment.record_published_at = assignment.record_updated_at = now
        assignment.last_container, assignment.updated_by_id = container, actor.user_id
        assignment.record_revision = advisory.revision
        assignment.save()
        _audit("cve.publish", actor=actor, organisation_id=advisory.organisation_id, target_type="advisory",
               target_id=advisory.pk, cve_id=assignment.cve_id, advisory=advisory.identifier,
               revision=advisory.revision)
    return assignment


def cve_record_update(*, advisory: Advisory, actor: Membership) -> CveAssignment:
    """Send the advisory's latest published revision as the new CNA container of its record."""
    _check(actor, advisory.organisation_id, TRIAGE_ROLES)
    advisory, assignment = _fresh(advisory)
    if assignment is None or assignment.state != CveAssignmentState.PUBLISHED:
        raise Conflict("Only a CVE record published from here can be updated from here; publish it first.",
                       field="cve_id")
    _same_id(advisory, assignment)
    _require_public(advisory)
    account = _account(advisory.organisation_id)
    container = _container(account, advisory)
    _send(account, assignment.cve_id, container, update=True)
    with transaction.atomic():
        assignment = CveAssignment.objects.select_for_update().get(pk=assignment.pk)
        assignment.record_updated_at = clock.now()
        assignment.last_container, assignment.updated_by_id = container, actor.user_id
        assignment.record_revision = advisory.revision
        if assignment.follow_action != RecordFollowAction.REJECT:
            # Done by hand: whatever the automatic update still had to do (or failed at) is done.
            assignment.follow_state, assignment.follow_error = RecordFollowState.IN_STEP, ""
            assignment.follow_due_at, assignment.follow_attempts = None, 0
        assignment.save()
        _audit("cve.update", actor=actor, organisation_id=advisory.organisation_id, target_type="advisory",
               target_id=advisory.pk, cve_id=assignment.cve_id, advisory=advisory.identifier,
               revision=advisory.revision)
    return assignment
