"""Rate limits for intake, login, token and API endpoints, shared by every worker process.

Counters live in the database (not a per-process cache) so two gunicorn workers cannot each
allow the full rate: a fixed window per (scope, client), incremented atomically with an UPDATE.
Limits are named settings (``RATE_LIMITS``), each ``(requests, window_seconds)``. A refused
request gets HTTP 429 with ``Retry-After``.
"""

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.shortcuts import render
from rest_framework.throttling import BaseThrottle

from vulndesk.core import clock
from vulndesk.core.models import RateCounter


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after: int  # seconds until the window resets (0 when allowed)


def client_ip(request) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is written by the client unless a trusted proxy
    # overwrites it, and then the proxy sets REMOTE_ADDR for us (ASVS V4.1.3).
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _key(scope: str, ident: str) -> str:
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:{ident}".encode()).hexdigest()[:40]
    return f"{scope}:{digest}"[:100]


def rate_limit_hit(*, scope: str, ident: str | list[str], limit: int | None = None,
                   window: int | None = None) -> RateDecision:
    """Count one request of each identity in ``ident`` under ``scope`` (in one transaction);
    refuse when any of them has passed the window's limit."""
    if limit is None or window is None:
        limit, window = settings.RATE_LIMITS[scope]
    idents = [ident] if isinstance(ident, str) else ident
    now = clock.now()
    epoch = int(now.timestamp())
    window_start = datetime.fromtimestamp(epoch - epoch % window, tz=UTC)
    keys = [_key(scope, item) for item in idents]
    with transaction.atomic():
        for key in keys:
            updated = RateCounter.objects.filter(key=key, window_start=window_start).update(count=F("count") + 1)
            if not updated:
                try:
                    with transaction.atomic():
                        RateCounter.objects.create(key=key, window_start=window_start, count=1)
                except IntegrityError:  # another worker created it first
                    RateCounter.objects.filter(key=key, window_start=window_start).update(count=F("count") + 1)
        highest = max(RateCounter.objects.filter(key__in=keys, window_start=window_start)
                      .values_list("count", flat=True), default=0)
    if highest > limit:
        retry_after = math.ceil((window_start + timedelta(seconds=window) - now).total_seconds())
        return RateDecision(False, max(retry_after, 1))
    return RateDecision(True, 0)


def rate_counters_prune(*, older_than: timedelta = timedelta(days=1)) -> int:
    deleted, _ = RateCounter.objects.filter(window_start__lt=clock.now() - older_than).delete()
    return deleted


def too_many_requests(request, retry_after: int):
    response = render(request, "core/429.html", {"retry_after": retry_after, "minutes": math.ceil(retry_after / 60)},
                      status=429)
    response["Retry-After"] = str(retry_after)
    return response


def rate_limited(scope: str, *, methods: tuple[str, ...] = ("POST",)):
    """HTML view decorator: limit ``methods`` per client IP under ``scope``."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method in methods:
                decision = rate_limit_hit(scope=scope, ident=client_ip(request))
                if not decision.allowed:
                    return too_many_requests(request, decision.retry_after)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


class ScopedRateThrottle(BaseThrottle):
    """DRF throttle on the same counters: per account (user or API token) *and* per IP.
    A view names its scope in ``throttle_scope``; views without one use "api"."""

    def allow_request(self, request, view):
        scope = getattr(view, "throttle_scope", "api")
        self._wait = 0
        idents = [f"ip:{client_ip(request)}"]
        if getattr(request, "auth", None) is not None and hasattr(request.auth, "token_hash"):
            idents.append(f"token:{request.auth.pk}")
        elif request.user is not None and getattr(request.user, "is_authenticated", False):
            idents.append(f"user:{request.user.pk}")
        decision = rate_limit_hit(scope=scope, ident=idents)
        self._wait = decision.retry_after
        return decision.allowed

    def wait(self):
        return self._wait
