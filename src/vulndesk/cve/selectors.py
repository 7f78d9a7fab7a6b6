"""Reads for the CVE pages, scoped by the acting member's organisation. Nothing here decrypts the
API key: pages only say whether one is stored."""

from dataclasses import dataclass

from vulndesk.advisories.models import Advisory
from vulndesk.advisories.states import AdvisoryState
from vulndesk.core import clock
from vulndesk.core.errors import NotFound
from vulndesk.cve.models import STALE_CLAIM, CnaAccount, CveAssignment, CveAssignmentState
from vulndesk.organisations.models import SETTINGS_ROLES, TRIAGE_ROLES, Membership


def cna_account_for_member(*, member: Membership) -> CnaAccount | None:
    return CnaAccount.objects.filter(organisation_id=member.organisation_id).first()


def cve_assignment_for_advisory(*, member: Membership, advisory: Advisory) -> CveAssignment | None:
    return CveAssignment.objects.filter(organisation_id=member.organisation_id, advisory_id=advisory.pk).first()


@dataclass
class CvePanel:
    """What the CVE panel of an advisory shows and offers."""

    advisory: Advisory
    status: str  # none | reserving | unconfirmed | reserved | published | rejected | elsewhere
    cve_id: str
    assignment: CveAssignment | None
    account_status: str  # missing | disabled | ready
    remaining_quota: int | None
    can_act: bool
    can_configure: bool
    can_follow: bool = False  # may update or reject the record (triage roles), whatever the advisory's state
    mismatch: str = ""  # the ID reserved for the advisory when its cve_id was edited by hand
    error: str = ""
    message: str = ""
    elsewhere_value: str = ""

    @property
    def can_reserve(self) -> bool:
        return self.can_act and self.status in {"none", "unconfirmed"} and self.account_status == "ready"

    @property
    def can_publish(self) -> bool:
        return (self.can_act and self.status == "reserved" and self.account_status == "ready" and not self.mismatch
                and self.advisory_is_public)

    @property
    def can_update(self) -> bool:
        return (self.can_act and self.status == "published" and self.account_status == "ready" and not self.mismatch
                and self.advisory_is_public)

    @property
    def can_reject(self) -> bool:
        """By hand, once the advisory is withdrawn (normally it happens by itself, see follow.py)."""
        return (self.can_follow and self.advisory.state == AdvisoryState.WITHDRAWN
                and self.status in {"reserved", "published"} and self.account_status == "ready" and not self.mismatch)

    @property
    def follow_state(self) -> str:
        return self.assignment.follow_state if self.assignment is not None else ""

    @property
    def follow_is_reject(self) -> bool:
        return self.assignment is not None and self.assignment.follow_action == "reject"

    @property
    def can_record_elsewhere(self) -> bool:
        return self.can_act and self.status in {"none", "elsewhere"}

    @property
    def alias_pending(self) -> bool:
        """The advisory is public but its published revision does not list the CVE ID yet."""
        document = self.advisory.public_document or {}
        return bool(self.cve_id and self.advisory.is_public and self.cve_id not in (document.get("aliases") or []))

    @property
    def advisory_is_public(self) -> bool:
        return self.advisory.is_public and self.advisory.state in {AdvisoryState.PUBLISHED, AdvisoryState.UPDATED}


def cve_panel_for(*, member: Membership, advisory: Advisory, error: str = "", message: str = "",
                  elsewhere_value: str = "") -> CvePanel:
    if advisory.organisation_id != member.organisation_id:
        raise NotFound  # callers load it through advisory_for_member; this is defence in depth
    account = cna_account_for_member(member=member)
    assignment = cve_assignment_for_advisory(member=member, advisory=advisory)
    if account is None or not account.has_api_key:
        account_status = "missing"
    else:
        account_status = "ready" if account.is_enabled else "disabled"
    status, cve_id, mismatch = "none", advisory.cve_id, ""
    if assignment is not None and assignment.state == CveAssignmentState.RESERVING:
        if assignment.claimed_at >= clock.now() - STALE_CLAIM:
            status = "reserving"
        elif assignment.reserve_attempted_at is not None:
            status = "unconfirmed"  # the request died mid-way: the next reserve asks first
    elif assignment is not None and assignment.state == CveAssignmentState.UNCONFIRMED:
        status = "unconfirmed"
    elif assignment is not None and assignment.is_ours:
        status = assignment.state
        cve_id = assignment.cve_id
        if advisory.cve_id != assignment.cve_id:
            mismatch = assignment.cve_id
    if status == "none" and advisory.cve_id:
        status = "elsewhere"  # recorded as assigned elsewhere, or typed into the advisory by hand
    return CvePanel(
        advisory=advisory, status=status, cve_id=cve_id, assignment=assignment, account_status=account_status,
        remaining_quota=account.remaining_quota if account is not None else None,
        can_act=member.role in TRIAGE_ROLES and advisory.state != AdvisoryState.WITHDRAWN,
        can_configure=member.role in SETTINGS_ROLES, can_follow=member.role in TRIAGE_ROLES, mismatch=mismatch,
        error=error, message=message,
        elsewhere_value=elsewhere_value,
    )
