"""Writes of the notifications app, one module per topic, re-exported here.

- ``subscriptions``: e-mail subscribers (double opt-in, unsubscribe, purge of stale requests).
- ``webhooks``: an organisation's webhook endpoints (SSRF-checked URL, sealed secret, rotation).
- ``deliveries``: the fan-out of published revisions and reporter events into ``Delivery`` rows,
  and sending one row (claim, send, record, back off or give up).
"""

from vulndesk.notifications.services.deliveries import (  # noqa: F401
    SendResult,
    advisory_revision_fan_out,
    deliveries_due,
    delivery_claim,
    delivery_retry,
    delivery_send,
    fan_outs_missing,
    reporter_advisory_scheduled_notices,
    reporter_state_notice,
    retry_delay,
)
from vulndesk.notifications.services.subscriptions import (  # noqa: F401
    subscribers_purge_expired,
    subscription_confirm,
    subscription_confirmation_send,
    subscription_request,
    subscription_unsubscribe,
)
from vulndesk.notifications.services.webhooks import (  # noqa: F401
    WebhookCreated,
    webhook_create,
    webhook_delete,
    webhook_secret_rotate,
    webhook_update,
)
