"""The report lifecycle table, one case per (from, to) pair of ReportState."""

import itertools

import pytest

from vulndesk.core.errors import Conflict
from vulndesk.reports.states import (
    CLOSED_STATES,
    OPEN_STATES,
    TRANSITIONS,
    TRIAGE_VERDICTS,
    InvalidTransition,
    ReportState,
    allowed_transitions,
    transition_check,
)

S = ReportState

# Written out by hand from the lifecycle in states.py's docstring, so a change to TRANSITIONS
# that nobody meant shows up here as a failing row.
LEGAL = {
    (S.NEW, S.ACKNOWLEDGED),
    (S.ACKNOWLEDGED, S.ACCEPTED),
    (S.ACKNOWLEDGED, S.DUPLICATE),
    (S.ACKNOWLEDGED, S.INVALID),
    (S.ACKNOWLEDGED, S.OUT_OF_SCOPE),
    (S.ACKNOWLEDGED, S.WONT_FIX),
    (S.ACCEPTED, S.FIXING),
    (S.ACCEPTED, S.DUPLICATE),
    (S.ACCEPTED, S.WONT_FIX),
    (S.DUPLICATE, S.ACKNOWLEDGED),
    (S.INVALID, S.ACKNOWLEDGED),
    (S.OUT_OF_SCOPE, S.ACKNOWLEDGED),
    (S.WONT_FIX, S.ACKNOWLEDGED),
    (S.WONT_FIX, S.DISCLOSED),
    (S.FIXING, S.FIXED),
    (S.FIXED, S.DISCLOSED),
    (S.FIXED, S.FIXING),
}
ALL_PAIRS = list(itertools.product(ReportState, ReportState))
ILLEGAL = [pair for pair in ALL_PAIRS if pair not in LEGAL]


def _pair_id(pair):
    return f"{pair[0].value}->{pair[1].value}"


def test_the_table_has_a_row_for_every_state_and_only_the_legal_pairs():
    assert set(TRANSITIONS) == set(ReportState)
    assert {(source, target) for source, targets in TRANSITIONS.items() for target in targets} == LEGAL


@pytest.mark.parametrize("pair", sorted(LEGAL), ids=_pair_id)
def test_a_legal_transition_passes_the_check(pair):
    source, target = pair
    assert transition_check(source, target) is None
    # Stored values (plain strings from the database) work as well as the enum members.
    assert transition_check(source.value, target.value) is None


@pytest.mark.parametrize("pair", ILLEGAL, ids=_pair_id)
def test_an_illegal_transition_raises_invalid_transition_naming_the_allowed_next_states(pair):
    source, target = pair
    with pytest.raises(InvalidTransition) as raised:
        transition_check(source.value, target.value)
    message = raised.value.message
    assert f"cannot become {target.label.lower()}" in message
    assert f"that is {source.label.lower()}" in message
    allowed = [state.label for state in ReportState if (source, state) in LEGAL]
    if allowed:
        assert f"Allowed next: {', '.join(allowed)}." in message
    else:
        assert "Allowed next: none (final state)." in message
    assert raised.value.field == "state"


def test_invalid_transition_is_a_conflict_answered_with_409():
    assert issubclass(InvalidTransition, Conflict)
    assert InvalidTransition.status_code == 409


@pytest.mark.parametrize("bad", ["closed", "", "ACCEPTED"])
def test_an_unknown_target_state_is_refused_with_invalid_transition(bad):
    with pytest.raises(InvalidTransition) as raised:
        transition_check(S.ACKNOWLEDGED, bad)
    assert "is not a report state" in raised.value.message


def test_an_unknown_current_state_is_refused_with_invalid_transition():
    with pytest.raises(InvalidTransition, match="is not a report state"):
        transition_check("archived", S.ACKNOWLEDGED)


def test_allowed_transitions_are_listed_in_lifecycle_order():
    assert allowed_transitions(S.ACKNOWLEDGED) == [S.ACCEPTED, S.DUPLICATE, S.INVALID, S.OUT_OF_SCOPE, S.WONT_FIX]
    assert allowed_transitions(S.FIXED) == [S.FIXING, S.DISCLOSED]
    assert allowed_transitions(S.DISCLOSED) == []


def test_disclosed_is_the_only_final_state():
    assert [state for state in ReportState if not TRANSITIONS[state]] == [S.DISCLOSED]


def test_every_closed_verdict_except_disclosed_can_be_reopened():
    for state in CLOSED_STATES - {S.DISCLOSED}:
        assert S.ACKNOWLEDGED in TRANSITIONS[state], state


def test_open_and_closed_states_partition_the_lifecycle():
    assert OPEN_STATES | CLOSED_STATES == set(ReportState)
    assert not OPEN_STATES & CLOSED_STATES
    assert S.ACCEPTED in TRIAGE_VERDICTS and S.ACCEPTED in OPEN_STATES
