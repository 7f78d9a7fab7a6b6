"""Rate limits for intake, login, token and API endpoints, shared by every worker process.

Counters live in the database (not a per-process cache) so two gunicorn workers cannot each
allow the full rate: a fixed window per (scope, client), incremented atomically with an UPDATE.
Limits are named settings (``RATE_LIMITS``), each ``(requests, window_seconds)``. A refused
request gets HTTP 429 with ``Retry-After``.

Leased permits for high limits. Counting every API request in the database costs a write
transaction per request (SQLite's single write lock taken twice per API create; the limiter
was ~0.6 ms of the create's ~5.4 ms in-process CPU). The DRF throttle (``ScopedRateThrottle``)
therefore passes ``lease_size(limit)``: a scope whose limit is at least ``LEASE_MIN_LIMIT``
(the API, 600/minute) takes its permits from the shared counter in *leases*: a
process adds ``lease_size(limit)`` to the counter in one UPDATE, gets back how many of those
are still under the limit, and spends them from memory. Multi-process semantics:

* the shared limit is a ceiling that holds exactly: the permits handed out across all
  processes in a window never exceed the limit (each lease is counted before it is spent);
* a client may be refused up to ``(lease - 1) * (processes - 1)`` requests *before* the limit,
  when other processes still hold unspent permits of the same window (with the default API
  limit of 600/minute, a lease is 6: at most 5 requests early per other worker);
* permits not spent by the end of their window are dropped, never carried over.

Limits below ``LEASE_MIN_LIMIT`` (the report form, login, tokens, e-mail) keep one counted
request per database write, exact to the request.
"""

import hashlib
import math
import threading
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


LEASE_MIN_LIMIT = 100  # limits below this count every request in the database
LEASE_MAX = 50
_LEASES_MAX_ENTRIES = 10_000


def lease_size(limit: int) -> int:
    """Permits a process takes from the shared counter at once: 1 % of the limit, at most 50."""
    if limit < LEASE_MIN_LIMIT:
        return 1
    return max(1, min(LEASE_MAX, limit // 100))


def _window(now: datetime, window: int) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % window, tz=UTC)


def _refused(window_start: datetime, window: int, now: datetime) -> RateDecision:
    retry_after = math.ceil((window_start + timedelta(seconds=window) - now).total_seconds())
    return RateDecision(False, max(retry_after, 1))


def _counter_add(key: str, window_start: datetime, amount: int) -> int:
    """Add ``amount`` to one window's shared counter; returns the new count. Call inside a
    transaction (the UPDATE and the read see the same row)."""
    counters = RateCounter.objects.filter(key=key, window_start=window_start)
    if not counters.update(count=F("count") + amount):
        try:
            with transaction.atomic():
                RateCounter.objects.create(key=key, window_start=window_start, count=amount)
                return amount
        except IntegrityError:  # another worker created it first
            counters.update(count=F("count") + amount)
    return counters.values_list("count", flat=True).get()


class _PermitLeases:
    """The permits this process holds, per (counter key, window, limit). Thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._permits: dict[tuple[str, datetime, int], int] = {}

    def take(self, slots: list[tuple[str, datetime, int]]) -> list[tuple[str, datetime, int]]:
        """Spend one permit of every slot if all have one; else return the slots without."""
        with self._lock:
            empty = [slot for slot in slots if self._permits.get(slot, 0) <= 0]
            if not empty:
                for slot in slots:
                    self._permits[slot] -= 1
            return empty

    def add(self, granted: dict[tuple[str, datetime, int], int], current_window: datetime) -> None:
        with self._lock:
            if len(self._permits) > _LEASES_MAX_ENTRIES:
                # Memory stays bounded: permits of past windows are worthless; drop them.
                self._permits = {slot: n for slot, n in self._permits.items() if slot[1] >= current_window}
                if len(self._permits) > _LEASES_MAX_ENTRIES:
                    self._permits.clear()  # dropping permits only ever refuses earlier
            for slot, n in granted.items():
                self._permits[slot] = self._permits.get(slot, 0) + n

    def forget(self) -> None:
        with self._lock:
            self._permits.clear()


_leases = _PermitLeases()


def rate_limit_leases_forget() -> None:
    """Drop this process's unspent permits (tests; nothing else needs it)."""
    _leases.forget()


def rate_limit_hit(*, scope: str, ident: str | list[str], limit: int | None = None,
                   window: int | None = None, lease: int = 1) -> RateDecision:
    """Count one request of each identity in ``ident`` under ``scope`` (in one transaction);
    refuse when any of them has passed the window's limit. ``lease`` > 1 takes permits from the
    shared counter that many at a time (see the module docstring)."""
    if limit is None or window is None:
        limit, window = settings.RATE_LIMITS[scope]
    idents = [ident] if isinstance(ident, str) else ident
    now = clock.now()
    window_start = _window(now, window)
    keys = [_key(scope, item) for item in idents]
    if lease > 1:
        return _leased_hit(keys, limit, window, window_start, now, lease)
    with transaction.atomic():
        highest = max(_counter_add(key, window_start, 1) for key in keys)
    if highest > limit:
        return _refused(window_start, window, now)
    return RateDecision(True, 0)


def _leased_hit(keys: list[str], limit: int, window: int, window_start: datetime, now: datetime,
                lease: int) -> RateDecision:
    slots = [(key, window_start, limit) for key in keys]
    for _ in range(3):  # other threads of this process may spend a fresh lease first
        empty = _leases.take(slots)
        if not empty:
            return RateDecision(True, 0)
        with transaction.atomic():
            # Of the ``lease`` permits just counted, those still under the limit are ours.
            granted = {slot: max(0, min(lease, limit - (_counter_add(slot[0], window_start, lease) - lease)))
                       for slot in empty}
        _leases.add(granted, window_start)
        if not all(granted.values()):
            return _refused(window_start, window, now)
    return _refused(window_start, window, now)


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
        limit, window = settings.RATE_LIMITS[scope]
        decision = rate_limit_hit(scope=scope, ident=idents, limit=limit, window=window, lease=lease_size(limit))
        self._wait = decision.retry_after
        return decision.allowed

    def wait(self):
        return self._wait
