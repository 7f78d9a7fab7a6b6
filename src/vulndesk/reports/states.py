"""The report lifecycle as a table. Pure: no database, no clock.

    new -> acknowledged -> triaged (accepted | duplicate | invalid | out_of_scope | wont_fix)
        accepted -> fixing -> fixed -> disclosed

A triage verdict other than *accepted* can be reopened (back to acknowledged) when it was
wrong; an accepted report can still turn out to be a duplicate or a won't-fix; a fix that
regresses goes back from fixed to fixing. Publishing an advisory discloses a fixed report, or
a won't-fix one (the advisory then names last_affected versions). *disclosed* is final.
"""

from django.db import models

from vulndesk.core.errors import Conflict


class ReportState(models.TextChoices):
    NEW = "new", "New"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    ACCEPTED = "accepted", "Accepted"
    DUPLICATE = "duplicate", "Duplicate"
    INVALID = "invalid", "Invalid"
    OUT_OF_SCOPE = "out_of_scope", "Out of scope"
    WONT_FIX = "wont_fix", "Won't fix"
    FIXING = "fixing", "Fixing"
    FIXED = "fixed", "Fixed"
    DISCLOSED = "disclosed", "Disclosed"


S = ReportState
TRIAGE_VERDICTS = frozenset({S.ACCEPTED, S.DUPLICATE, S.INVALID, S.OUT_OF_SCOPE, S.WONT_FIX})
# Closed: no clock runs and the report leaves the default queue.
CLOSED_STATES = frozenset({S.DUPLICATE, S.INVALID, S.OUT_OF_SCOPE, S.WONT_FIX, S.DISCLOSED})
OPEN_STATES = frozenset(set(S) - CLOSED_STATES)

TRANSITIONS: dict[ReportState, frozenset[ReportState]] = {
    S.NEW: frozenset({S.ACKNOWLEDGED}),
    S.ACKNOWLEDGED: TRIAGE_VERDICTS,
    S.ACCEPTED: frozenset({S.FIXING, S.DUPLICATE, S.WONT_FIX}),
    S.DUPLICATE: frozenset({S.ACKNOWLEDGED}),
    S.INVALID: frozenset({S.ACKNOWLEDGED}),
    S.OUT_OF_SCOPE: frozenset({S.ACKNOWLEDGED}),
    # A won't-fix can still be disclosed: an advisory with last_affected and no fixed version.
    S.WONT_FIX: frozenset({S.ACKNOWLEDGED, S.DISCLOSED}),
    S.FIXING: frozenset({S.FIXED}),
    S.FIXED: frozenset({S.DISCLOSED, S.FIXING}),
    S.DISCLOSED: frozenset(),
}

# The verb shown on the button that moves a report into each state.
ACTION_LABELS: dict[ReportState, str] = {
    S.ACKNOWLEDGED: "Acknowledge",
    S.ACCEPTED: "Accept",
    S.DUPLICATE: "Mark duplicate",
    S.INVALID: "Mark invalid",
    S.OUT_OF_SCOPE: "Out of scope",
    S.WONT_FIX: "Won't fix",
    S.FIXING: "Start fixing",
    S.FIXED: "Mark fixed",
    S.DISCLOSED: "Mark disclosed",
}


class InvalidTransition(Conflict):
    code = "invalid_transition"


def allowed_transitions(current: str) -> list[ReportState]:
    """States reachable from ``current``, in lifecycle order (for buttons and error messages)."""
    targets = TRANSITIONS[ReportState(current)]
    return [state for state in ReportState if state in targets]


def transition_check(current: str, target: str) -> None:
    """Raise ``InvalidTransition`` unless ``current -> target`` is in the table."""
    try:
        current_state, target_state = ReportState(current), ReportState(target)
    except ValueError:
        raise InvalidTransition(f"{target!r} is not a report state.", field="state") from None
    if target_state not in TRANSITIONS[current_state]:
        allowed = ", ".join(state.label for state in allowed_transitions(current_state)) or "none (final state)"
        raise InvalidTransition(
            f"A report that is {current_state.label.lower()} cannot become {target_state.label.lower()}. "
            f"Allowed next: {allowed}.",
            field="state",
        )
