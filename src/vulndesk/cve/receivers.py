"""Receivers of the advisories' after-commit signals: they mark what the CVE record must do and
queue the task; ``follow`` does the work. A receiver runs in the publishing (or withdrawing)
request after its commit: if marking or queueing fails, that change has still happened, so the
person must not see an error. It is logged, and ``cve_records_follow_sweep`` runs marked work
whose task was lost."""

import logging

from vulndesk.cve import follow
from vulndesk.cve.models import RecordFollowAction
from vulndesk.cve.tasks import cve_record_follow

logger = logging.getLogger("vulndesk.cve")


def _request(advisory_id: int, revision: int, action: str) -> None:
    try:
        if follow.cve_record_follow_request(advisory_id=advisory_id, revision=revision, action=action):
            cve_record_follow.enqueue(advisory_id=advisory_id)
    except Exception:  # never fail the publish after its commit: see the module docstring
        logger.exception("cve.follow_not_queued advisory=%s action=%s; the sweep retries", advisory_id, action)


def on_revision_published(sender, *, advisory_id: int, revision: int, **kwargs) -> None:
    _request(advisory_id, revision, RecordFollowAction.UPDATE)


def on_advisory_withdrawn(sender, *, advisory_id: int, revision: int, **kwargs) -> None:
    _request(advisory_id, revision, RecordFollowAction.REJECT)
