"""Writes that keep a CVE record in step with its advisory.

* A published advisory whose CVE record was published from here gets a new revision: the record
  is updated from that revision (the same CNA container as the manual Update).
* An advisory is withdrawn while its CVE ID is ours (reserved, or with a published record): the
  ID is REJECTed at CVE Services (``POST cve/<id>/reject`` when there is no record yet, ``PUT``
  when there is one), with the published withdrawal reason.

The advisories app sends ``revision_published`` / ``advisory_withdrawn`` after its commit;
``receivers`` mark the work on the ``CveAssignment`` (``follow_*`` fields, one transaction) and
queue ``tasks.cve_record_follow``. The task does the work once; a failure that may pass (CVE
Services down or erroring) is tried again by the periodic ``cve_records_follow_sweep`` with
growing pauses, up to ``FOLLOW_MAX_ATTEMPTS``; a refusal (4xx, an invalid record, a changed ID)
stops at once. Either way the CVE panel shows the state and the error, and its Update or Reject
button does the same work by hand. Running the task twice is harmless: a lease on the row keeps
two workers apart, and the work itself is idempotent (an update sends the same container; a
reject that finds a record already falls back to replacing it).
"""

import logging
from datetime import timedelta

from django.db import transaction

from vulndesk.advisories.models import Advisory, AdvisoryRevision
from vulndesk.advisories.states import AdvisoryState
from vulndesk.audit.services import audit_record
from vulndesk.core import clock
from vulndesk.core.errors import Conflict, DomainError, NotAllowed, NotFound
from vulndesk.cve import client, records
from vulndesk.cve.models import CveAssignment, CveAssignmentState, RecordFollowAction, RecordFollowState
from vulndesk.cve.services import _account, _container, _organisation_uuid, _require_public, _same_id, _send
from vulndesk.organisations.models import TRIAGE_ROLES, Membership

logger = logging.getLogger("vulndesk.cve")

FOLLOW_MAX_ATTEMPTS = 6
# Pauses before the 2nd, 3rd… try: a few minutes first, then hours (CVE Services outages are
# usually short; the panel shows the error meanwhile).
FOLLOW_PAUSES = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1),
                 timedelta(hours=4))
# A worker holds a row this long while it talks to CVE Services; a worker that dies frees it then.
FOLLOW_LEASE = timedelta(minutes=10)
AUTOMATIC = "vulndesk (CVE record follows the advisory)"


# --- marking the work (receivers) ---------------------------------------------------------------

def cve_record_follow_request(*, advisory_id: int, revision: int, action: str) -> bool:
    """Mark what the record must do after ``revision`` of the advisory. True when there is work
    (the caller queues the task)."""
    now = clock.now()
    with transaction.atomic():
        assignment = CveAssignment.objects.select_for_update().filter(advisory_id=advisory_id).first()
        if assignment is None:
            return False
        if action == RecordFollowAction.UPDATE and assignment.state != CveAssignmentState.PUBLISHED:
            return False  # a reserved ID's first record is published by a person, with its confirmation
        if action == RecordFollowAction.REJECT and assignment.state not in {CveAssignmentState.RESERVED,
                                                                            CveAssignmentState.PUBLISHED}:
            return False
        if assignment.follow_action == RecordFollowAction.REJECT and action == RecordFollowAction.UPDATE:
            return False  # withdrawn is final; a late update signal must not replace the reject
        assignment.follow_state, assignment.follow_action = RecordFollowState.PENDING, action
        assignment.follow_revision, assignment.follow_attempts = revision, 0
        assignment.follow_due_at, assignment.follow_error = now, ""
        assignment.save(update_fields=["follow_state", "follow_action", "follow_revision", "follow_attempts",
                                       "follow_due_at", "follow_error"])
    logger.info("cve.follow_queued organisation=%s advisory=%s action=%s revision=%s", assignment.organisation_id,
                advisory_id, action, revision)
    return True


def cve_records_follow_due(*, limit: int = 200) -> list[int]:
    """Advisory ids whose record work is due (new, a retry whose pause is over, or a lease that
    a dead worker left)."""
    return list(CveAssignment.objects.filter(follow_state=RecordFollowState.PENDING, follow_due_at__lte=clock.now())
                .order_by("follow_due_at").values_list("advisory_id", flat=True)[:limit])


# --- doing it ----------------------------------------------------------------------------------

def _take(advisory_id: int) -> CveAssignment | None:
    """Take the row's due work for FOLLOW_LEASE, or None when there is none (or another worker
    has it)."""
    now = clock.now()
    with transaction.atomic():
        taken = CveAssignment.objects.filter(advisory_id=advisory_id, follow_state=RecordFollowState.PENDING,
                                             follow_due_at__lte=now).update(follow_due_at=now + FOLLOW_LEASE)
    if not taken:
        return None
    return CveAssignment.objects.select_related("advisory__organisation").get(advisory_id=advisory_id)


def _withdrawal_reason(advisory: Advisory) -> str:
    changelog = (AdvisoryRevision.objects.filter(advisory=advisory, revision=advisory.revision)
                 .values_list("changelog", flat=True).first() or "")
    return changelog.removeprefix("Withdrawn:").strip()


def _reject(account, assignment: CveAssignment, advisory: Advisory) -> dict:
    if advisory.state != AdvisoryState.WITHDRAWN:
        raise Conflict("Only the CVE ID of a withdrawn advisory is rejected from here.", field="state")
    _same_id(advisory, assignment)
    container = records.rejected_container(advisory=advisory, organisation_uuid=_organisation_uuid(account),
                                           reason=_withdrawal_reason(advisory))
    cve_id = assignment.cve_id

    def send(api, update: bool):
        # POST creates the rejected record of an ID without one; PUT replaces a record.
        method = api.update_rejected if update else api.reject
        return method(cve_id, dict(container), validate=True)

    has_record = assignment.state == CveAssignmentState.PUBLISHED
    try:
        client.call(account, lambda api: send(api, has_record), operation="reject the CVE ID", subject=cve_id)
    except client.CveServicesRefused as error:
        if has_record or error.service_code != "CVE_RECORD_EXISTS":
            raise
        # A record exists after all: an earlier try went through although its answer was lost,
        # or it was published with another tool. The reject replaces it.
        client.call(account, lambda api: send(api, True), operation="reject the CVE ID", subject=cve_id)
    return container


def _update(account, assignment: CveAssignment, advisory: Advisory) -> dict:
    _same_id(advisory, assignment)
    _require_public(advisory)
    container = _container(account, advisory)
    _send(account, assignment.cve_id, container, update=True)
    return container


def _record_success(assignment: CveAssignment, advisory: Advisory, action: str, container: dict,
                    actor: Membership | None) -> CveAssignment:
    now = clock.now()
    with transaction.atomic():
        assignment = CveAssignment.objects.select_for_update().get(pk=assignment.pk)
        if action == RecordFollowAction.REJECT:
            assignment.state, assignment.record_rejected_at = CveAssignmentState.REJECTED, now
        assignment.record_updated_at, assignment.last_container = now, container
        assignment.record_revision = advisory.revision
        assignment.follow_state, assignment.follow_error, assignment.follow_due_at = RecordFollowState.IN_STEP, "", None
        assignment.follow_attempts = 0
        if actor is not None:
            assignment.updated_by_id = actor.user_id
        assignment.save()
        audit_record(action="cve.reject" if action == RecordFollowAction.REJECT else "cve.update",
                     organisation_id=advisory.organisation_id, actor_id=actor.user_id if actor else None,
                     actor_label=actor.user.display_name if actor else AUTOMATIC, target_type="advisory",
                     target_id=advisory.pk, data={"cve_id": assignment.cve_id, "advisory": advisory.identifier,
                                                  "revision": advisory.revision, "automatic": actor is None})
    logger.info("cve.follow_done organisation=%s advisory=%s action=%s revision=%s", advisory.organisation_id,
                advisory.pk, action, advisory.revision)
    return assignment


def _record_failure(assignment: CveAssignment, error: DomainError, *, may_pass: bool) -> str:
    now = clock.now()
    with transaction.atomic():
        assignment = CveAssignment.objects.select_for_update().get(pk=assignment.pk)
        assignment.follow_attempts += 1
        assignment.follow_error = client.service_text(error.message, 1000)
        if may_pass and assignment.follow_attempts < FOLLOW_MAX_ATTEMPTS:
            pause = FOLLOW_PAUSES[min(assignment.follow_attempts, len(FOLLOW_PAUSES)) - 1]
            assignment.follow_state, assignment.follow_due_at = RecordFollowState.PENDING, now + pause
            outcome = "retry"
        else:
            assignment.follow_state, assignment.follow_due_at = RecordFollowState.FAILED, None
            outcome = "failed"
        assignment.save(update_fields=["follow_attempts", "follow_error", "follow_state", "follow_due_at"])
    logger.warning("cve.follow_%s organisation=%s advisory=%s action=%s attempts=%s error=%s", outcome,
                   assignment.organisation_id, assignment.advisory_id, assignment.follow_action,
                   assignment.follow_attempts, error.code)
    return outcome


def cve_record_follow(*, advisory_id: int) -> str:
    """Do the advisory's due record work once. Returns done, retry, failed or nothing."""
    assignment = _take(advisory_id)
    if assignment is None:
        return "nothing"
    advisory = assignment.advisory
    action = assignment.follow_action
    try:
        account = _account(advisory.organisation_id)
        container = (_reject if action == RecordFollowAction.REJECT else _update)(account, assignment, advisory)
    except client.CveServicesUnavailable as error:
        return _record_failure(assignment, error, may_pass=True)
    except DomainError as error:
        return _record_failure(assignment, error, may_pass=False)
    _record_success(assignment, advisory, action, container, actor=None)
    return "done"


# --- by hand (the CVE panel) ------------------------------------------------------------------------

def cve_id_reject(*, advisory: Advisory, actor: Membership) -> CveAssignment:
    """Reject the withdrawn advisory's CVE ID now: the panel's button, for when the automatic
    reject failed or has not run yet. The UI asks for confirmation first."""
    if actor.organisation_id != advisory.organisation_id:
        raise NotFound
    if actor.role not in TRIAGE_ROLES:
        raise NotAllowed
    advisory = Advisory.objects.select_related("organisation").get(pk=advisory.pk)
    assignment = CveAssignment.objects.filter(advisory_id=advisory.pk).first()
    if assignment is None or assignment.state not in {CveAssignmentState.RESERVED, CveAssignmentState.PUBLISHED}:
        raise Conflict("This advisory has no CVE ID of your CNA to reject.", field="cve_id")
    account = _account(advisory.organisation_id)
    container = _reject(account, assignment, advisory)
    return _record_success(assignment, advisory, RecordFollowAction.REJECT, container, actor=actor)
