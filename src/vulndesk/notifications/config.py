"""Named settings of the notifications app, with their defaults.

Read at call time (``getattr(settings, ...)``), so an operator sets them in the environment-driven
settings module and tests override them with pytest-django's ``settings`` fixture. Each limit
is documented here once (ASVS V2.1.3: every limit is a named setting).
"""

from django.conf import settings

DEFAULTS = {
    # Attempts per delivery (mail or webhook) before it is marked failed ("gave up").
    "NOTIFICATIONS_DELIVERY_MAX_ATTEMPTS": 10,
    # Back-off after the n-th failed attempt: base * 2**(n-1) seconds, at most the maximum.
    # 60 s doubling to 6 h: ten attempts span about eight and a half hours.
    "NOTIFICATIONS_RETRY_BASE_SECONDS": 60,
    "NOTIFICATIONS_RETRY_MAX_SECONDS": 6 * 60 * 60,
    # A worker holds a claimed delivery this long; if it dies mid-send, the sweep retries after.
    "NOTIFICATIONS_SEND_LEASE_SECONDS": 300,
    # Webhook requests: connect + read timeout, seconds.
    "NOTIFICATIONS_WEBHOOK_TIMEOUT_SECONDS": 10,
    # A CA bundle to trust *instead of* the system store for webhook TLS (an internal CA; tests).
    "NOTIFICATIONS_WEBHOOK_CA_FILE": "",
    # Only for the test suite's loopback receiver: lets webhooks reach 127.0.0.0/8 and ::1 on
    # any port. Never set it in production: it opens the SSRF guard to this host's services.
    "NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK_FOR_TESTS": False,
    "NOTIFICATIONS_WEBHOOKS_PER_ORGANISATION": 10,
    # After a secret rotation the old secret also signs deliveries for this long.
    "NOTIFICATIONS_SECRET_OVERLAP_HOURS": 24,
    # Double opt-in: the confirmation link's lifetime, and the least time between two
    # confirmation mails to one address (someone else may be typing it in).
    "NOTIFICATIONS_CONFIRMATION_HOURS": 48,
    "NOTIFICATIONS_CONFIRMATION_RESEND_MINUTES": 10,
    # Subscribe form: (requests, window seconds) per client IP.
    "NOTIFICATIONS_SUBSCRIBE_RATE_LIMIT": (10, 3600),
    # The sweep re-runs the fan-out of revisions published this recently that have none
    # (a signal lost to a crash between the publish commit and the enqueue).
    "NOTIFICATIONS_FAN_OUT_LOOKBACK_HOURS": 48,
}


def setting(name: str):
    return getattr(settings, name, DEFAULTS[name])
