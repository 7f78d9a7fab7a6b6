"""Signal receivers: the after-commit signals of advisories (and of reports, once the lead adds
``reports.services.report_state_changed``). They only queue work; the services do it.

A receiver runs in the publishing request, after its commit. If queueing fails there, the
publish has still happened, so the publisher must not see an error: the failure is logged, and
``notifications_sweep`` later runs a missing fan-out (from the revision table) and re-sends
pending rows whose task was lost.
"""

import logging

from vulndesk.notifications import services
from vulndesk.notifications.tasks import fan_out_advisory_revision, send_delivery

logger = logging.getLogger(__name__)


def on_revision_published(sender, *, advisory_id: int, revision: int, **kwargs) -> None:
    try:
        fan_out_advisory_revision.enqueue(advisory_id=advisory_id, revision=revision)
    except Exception:
        logger.exception("fan-out of advisory %s revision %s not queued; the sweep will retry", advisory_id,
                         revision)


def on_advisory_withdrawn(sender, *, advisory_id: int, revision: int, **kwargs) -> None:
    on_revision_published(sender, advisory_id=advisory_id, revision=revision)


def on_advisory_scheduled(sender, *, advisory_id: int, **kwargs) -> None:
    """Receiver for ``advisories.hooks.advisory_scheduled`` (to be added by the lead)."""
    try:
        for delivery_id in services.reporter_advisory_scheduled_notices(advisory_id=advisory_id):
            send_delivery.enqueue(delivery_id=delivery_id)
    except Exception:
        logger.exception("reporter notices for scheduled advisory %s failed", advisory_id)


def on_report_state_changed(sender, *, report_id: int, state: str, at=None, **kwargs) -> None:
    """Receiver for ``reports.services.report_state_changed`` (to be added by the lead)."""
    try:
        delivery_id = services.reporter_state_notice(report_id=report_id, state=state, at=at)
        if delivery_id is not None:
            send_delivery.enqueue(delivery_id=delivery_id)
    except Exception:
        logger.exception("reporter notice for report %s (%s) failed", report_id, state)
