"""Background tasks. Each only passes ids to a service and is safe to run twice."""

from django_tasks import task

from vulndesk.mailintake import services


@task()
def process_inbound_messages(message_ids: list[int]) -> dict:
    """The messages stored together in one commit, each processed in its own transaction and
    acknowledged as soon as it is committed (``inbound_process_batch``)."""
    from vulndesk.mailintake.services.inbound import inbound_process_batch

    states: dict[str, int] = {}
    for state in inbound_process_batch(message_ids):
        states[state] = states.get(state, 0) + 1
    return states


@task()
def send_staff_reply(message_id: int) -> str:
    return services.staff_reply_send(message_id=message_id)


@task()
def mail_sweep() -> dict:
    """Periodic (``vulndesk scheduler``): stored-but-unprocessed mail, failed acknowledgements,
    staff replies whose task was lost."""
    result = services.mail_sweep()
    return {"processed": result.processed, "acknowledgements_retried": result.acknowledgements_retried,
            "replies_sent": result.replies_sent}


@task()
def imap_poll_mailbox(mailbox_id: int) -> dict:
    """Import what is new in one IMAP mailbox (a second run at once finds the lease taken)."""
    from vulndesk.mailintake.services.imap import imap_mailbox_poll

    outcome = imap_mailbox_poll(mailbox_id=mailbox_id)
    return {"state": outcome.state, "imported": outcome.imported, "already_stored": outcome.already_stored,
            "too_large": outcome.too_large}


@task()
def imap_poll_due() -> dict:
    """Periodic (``vulndesk scheduler``): queue a poll of every enabled mailbox whose interval
    (longer after failures) has passed. One task per mailbox, so a slow one delays no other."""
    from vulndesk.mailintake.services.imap import imap_mailboxes_due_ids

    due = imap_mailboxes_due_ids()
    for mailbox_id in due:
        imap_poll_mailbox.enqueue(mailbox_id=mailbox_id)
    return {"queued": len(due)}
