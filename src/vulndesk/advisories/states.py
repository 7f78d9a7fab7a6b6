"""The advisory lifecycle as a table. Pure.

    draft -> in_review -> scheduled -> published -> updated (each new revision) | withdrawn

A review can send a draft back; a scheduled advisory can be unscheduled. Publishing before the
embargo needs an explicit override with a reason (services check that, not this table).
"""

from django.db import models

from vulndesk.core.errors import Conflict


class AdvisoryState(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    SCHEDULED = "scheduled", "Scheduled"
    PUBLISHED = "published", "Published"
    UPDATED = "updated", "Updated"
    WITHDRAWN = "withdrawn", "Withdrawn"


A = AdvisoryState
PUBLIC_STATES = frozenset({A.PUBLISHED, A.UPDATED, A.WITHDRAWN})
TRANSITIONS: dict[AdvisoryState, frozenset[AdvisoryState]] = {
    A.DRAFT: frozenset({A.IN_REVIEW}),
    A.IN_REVIEW: frozenset({A.DRAFT, A.SCHEDULED, A.PUBLISHED}),
    A.SCHEDULED: frozenset({A.IN_REVIEW, A.PUBLISHED}),
    A.PUBLISHED: frozenset({A.UPDATED, A.WITHDRAWN}),
    A.UPDATED: frozenset({A.UPDATED, A.WITHDRAWN}),
    A.WITHDRAWN: frozenset(),
}


class InvalidAdvisoryTransition(Conflict):
    code = "invalid_transition"


def advisory_transition_check(current: str, target: str) -> None:
    try:
        current_state, target_state = AdvisoryState(current), AdvisoryState(target)
    except ValueError:
        raise InvalidAdvisoryTransition(f"{target!r} is not an advisory state.", field="state") from None
    if target_state not in TRANSITIONS[current_state]:
        allowed = ", ".join(s.label.lower() for s in AdvisoryState if s in TRANSITIONS[current_state]) or "none"
        raise InvalidAdvisoryTransition(
            f"An advisory that is {current_state.label.lower()} cannot become {target_state.label.lower()}. "
            f"Allowed next: {allowed}.", field="state")
