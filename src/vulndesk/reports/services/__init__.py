"""Writes for reports. Every change of state, severity, assignee or deadline passes here, so the
timeline and the audit trail miss none.

Callers pass the acting ``Membership`` (from ``organisations.access``) or ``None`` for the
reporter and the system; each service re-checks that the actor belongs to the report's
organisation (defence in depth, the gate is access.py) and may act with their role.
Time comes from ``core.clock``; deadline rules from ``reports.deadlines``.

By topic (re-exported here, so callers import from ``vulndesk.reports.services``):

* ``common``: actor checks, timeline and audit helpers, derived deadlines, the signals;
* ``creation``: one report or a batch, with clocks, timeline, audit, tokens and counts;
* ``counts``: per-state counters and word-search token rows (and their rebuild);
* ``triage``: severity, transitions, assignment, CWE, reads, disclosure extensions;
* ``messages``: the private thread with the reporter;
* ``sweep``: release planning and the periodic SLA sweep.
"""

from vulndesk.reports.services.common import (
    message_posted,
    report_state_changed,
    running_clocks,
)
from vulndesk.reports.services.counts import (
    report_search_tokens_rebuild,
    report_state_counts_rebuild,
)
from vulndesk.reports.services.creation import (
    BatchInvalid,
    ReportCreated,
    ReportSubmission,
    report_create,
    reports_create,
)
from vulndesk.reports.services.messages import (
    MESSAGE_MAX_CHARS,
    message_post,
    reporter_message_post,
)
from vulndesk.reports.services.sweep import (
    SweepResult,
    deadlines_sweep,
    reports_waiting_for_release_schedule,
)
from vulndesk.reports.services.triage import (
    report_assign,
    report_cwe_set,
    report_disclosure_extend,
    report_read_record,
    report_severity_change,
    report_transition,
)

__all__ = [
    "BatchInvalid",
    "MESSAGE_MAX_CHARS",
    "ReportCreated",
    "ReportSubmission",
    "SweepResult",
    "deadlines_sweep",
    "message_post",
    "message_posted",
    "report_assign",
    "report_create",
    "report_cwe_set",
    "report_disclosure_extend",
    "report_read_record",
    "report_search_tokens_rebuild",
    "report_severity_change",
    "report_state_changed",
    "report_state_counts_rebuild",
    "report_transition",
    "reporter_message_post",
    "reports_create",
    "reports_waiting_for_release_schedule",
    "running_clocks",
]
