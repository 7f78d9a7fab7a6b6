"""Background tasks. Each loads ids and calls a service, and is safe to run twice."""

from django_tasks import task

from vulndesk.notifications import services


@task()
def fan_out_advisory_revision(advisory_id: int, revision: int) -> int:
    """Create the deliveries of a published revision (one transaction), then queue each send."""
    pending = services.advisory_revision_fan_out(advisory_id=advisory_id, revision=revision)
    for delivery_id in pending:
        send_delivery.enqueue(delivery_id=delivery_id)
    return len(pending)


@task()
def send_delivery(delivery_id: int) -> str:
    return services.delivery_send(delivery_id=delivery_id)


@task()
def send_subscription_confirmation(subscriber_id: int) -> bool:
    return services.subscription_confirmation_send(subscriber_id=subscriber_id)


@task()
def notifications_sweep() -> dict:
    """Periodic (``vulndesk scheduler``): fan out revisions whose signal was lost, re-send what
    is due (back-off passed, or a worker died holding it), forget unconfirmed subscriptions."""
    missing = services.fan_outs_missing()
    for advisory_id, revision in missing:
        fan_out_advisory_revision.enqueue(advisory_id=advisory_id, revision=revision)
    due = services.deliveries_due()
    for delivery_id in due:
        send_delivery.enqueue(delivery_id=delivery_id)
    purged = services.subscribers_purge_expired()
    return {"fan_outs": len(missing), "due": len(due), "purged": purged}
