"""Receiver of ``reports.services.message_posted`` (sent after commit by ``message_post``).

It only queues the mail. If queueing fails, the message is posted anyway and the periodic sweep
mails it later (``outbound_pending_ids`` finds staff messages without a mail row).
"""

import logging

from vulndesk.mailintake.tasks import send_staff_reply

logger = logging.getLogger(__name__)


def on_message_posted(sender, *, message_id: int, **kwargs) -> None:
    try:
        send_staff_reply.enqueue(message_id=message_id)
    except Exception:
        logger.exception("mail for staff message %s not queued; the sweep will send it", message_id)
