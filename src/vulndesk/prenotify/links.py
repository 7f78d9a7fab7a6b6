"""When a private embargo link may show the draft. Pure: every input is passed in.

* Revoked (by staff, by removing the contact, by a new link to the same recipient, or because
  the mail was never delivered): closed.
* The advisory is public (published, updated or withdrawn): closed; the recipient is pointed to
  the public page, which is the one source of truth from then on.
* Past ``expires_at``, or past the advisory's embargo date if that was moved earlier after
  sending: closed. An embargo moved *later* does not stretch a link; staff send a new one.

``link_expiry`` is the rule for a new link: only a non-public advisory with an embargo date in
the future is shared, and the link expires at the embargo or earlier, never later.
"""

from datetime import datetime
from enum import StrEnum

from vulndesk.core.errors import DomainError
from vulndesk.reports.presentation import format_local


class LinkStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"
    PUBLIC = "public"


def effective_expiry(*, expires_at: datetime, embargo_until: datetime | None) -> datetime:
    if embargo_until is None:
        return expires_at
    return min(expires_at, embargo_until)


def link_status(*, revoked_at: datetime | None, expires_at: datetime, embargo_until: datetime | None,
                advisory_is_public: bool, now: datetime) -> LinkStatus:
    if revoked_at is not None:
        return LinkStatus.REVOKED
    if advisory_is_public:
        return LinkStatus.PUBLIC
    if now >= effective_expiry(expires_at=expires_at, embargo_until=embargo_until):
        return LinkStatus.EXPIRED
    return LinkStatus.ACTIVE


def advisory_is_public(advisory) -> bool:
    """Published, updated or withdrawn: the public page speaks for it now."""
    return bool(advisory.is_public) or advisory.is_visible_publicly


def link_expiry(*, advisory, expires_at: datetime | None, now: datetime) -> datetime:
    """The link's expiry: the embargo date, or an earlier time the sender chose. Raises
    DomainError when the advisory cannot be pre-notified or the time is out of bounds."""
    if advisory_is_public(advisory):
        raise DomainError(f"{advisory.identifier} is already public: share its public page instead.", field="state")
    if advisory.embargo_until is None:
        raise DomainError("Set the advisory's embargo date first: recipients must know until when to keep it "
                          "private, and their links expire then.", field="embargo_until")
    if advisory.embargo_until <= now:
        raise DomainError("The embargo date has passed. Move it into the future (or publish) before "
                          "pre-notifying.", field="embargo_until")
    expires = expires_at or advisory.embargo_until
    if expires <= now:
        raise DomainError("Choose an expiry in the future.", field="expires_at")
    if expires > advisory.embargo_until:
        raise DomainError(f"A link cannot outlive the embargo ({format_local(advisory.embargo_until, 'UTC')}). "
                          "Choose an earlier time or leave the field empty.", field="expires_at")
    return expires
