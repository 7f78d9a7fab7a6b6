"""Leased permits for high rate limits (core/ratelimit.py): a process takes permits from the
shared database counter several at a time and spends them from memory. The shared limit still
holds across processes (never more than the limit in a window), a client is refused at most
(lease - 1) x (other processes) requests early, permits never outlive their window, and low
limits keep one database write per request."""

import json

import pytest

from vulndesk.core import ratelimit
from vulndesk.core.models import RateCounter
from vulndesk.core.ratelimit import lease_size, rate_limit_hit, rate_limit_leases_forget


@pytest.fixture(autouse=True)
def _fresh_leases(frozen_clock):
    rate_limit_leases_forget()
    yield
    rate_limit_leases_forget()


class Processes:
    """Stand-ins for worker processes: each has its own permits, all share the database."""

    def __init__(self, monkeypatch, count: int):
        self.monkeypatch = monkeypatch
        self.leases = [ratelimit._PermitLeases() for _ in range(count)]

    def hit(self, process: int, **kwargs):
        self.monkeypatch.setattr(ratelimit, "_leases", self.leases[process])
        return rate_limit_hit(**kwargs)


def test_lease_size_is_one_below_the_threshold_and_bounded_above():
    assert [lease_size(n) for n in (1, 10, 99, 100, 600, 1200, 5000, 10**9)] == [1, 1, 1, 1, 6, 12, 50, 50]


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_the_shared_limit_is_never_exceeded_however_the_requests_spread_over_processes(db, monkeypatch, workers):
    processes = Processes(monkeypatch, workers)
    limit, lease = 600, lease_size(600)

    allowed = sum(processes.hit(n % workers, scope="api", ident="user:1", limit=limit, window=60, lease=lease).allowed
                  for n in range(limit + 200))

    assert limit - (lease - 1) * (workers - 1) <= allowed <= limit


def test_one_process_allows_exactly_the_limit_then_refuses_with_retry_after(db):
    decisions = [rate_limit_hit(scope="api", ident="user:1", limit=120, window=60, lease=lease_size(120))
                 for _ in range(125)]

    assert [d.allowed for d in decisions] == [True] * 120 + [False] * 5
    assert all(1 <= d.retry_after <= 60 for d in decisions[120:])


def test_the_database_is_written_once_per_lease_not_once_per_request(db, django_assert_max_num_queries):
    rate_limit_hit(scope="api", ident="user:1", limit=600, window=60, lease=6)  # takes a lease of 6

    with django_assert_max_num_queries(0):
        for _ in range(5):
            assert rate_limit_hit(scope="api", ident="user:1", limit=600, window=60, lease=6).allowed
    assert RateCounter.objects.get().count == 6


def test_every_identity_of_a_request_must_have_a_permit(db):
    for _ in range(200):
        assert rate_limit_hit(scope="api", ident=["ip:a", "user:1"], limit=200, window=60, lease=2).allowed

    assert not rate_limit_hit(scope="api", ident=["ip:b", "user:1"], limit=200, window=60, lease=2).allowed
    assert not rate_limit_hit(scope="api", ident=["ip:a", "user:2"], limit=200, window=60, lease=2).allowed
    assert rate_limit_hit(scope="api", ident=["ip:b", "user:2"], limit=200, window=60, lease=2).allowed


def test_permits_of_a_past_window_are_not_spent_in_the_next(db, frozen_clock):
    for _ in range(200):
        rate_limit_hit(scope="api", ident="user:1", limit=200, window=60, lease=2)
    assert not rate_limit_hit(scope="api", ident="user:1", limit=200, window=60, lease=2).allowed

    frozen_clock.advance(seconds=60)

    assert rate_limit_hit(scope="api", ident="user:1", limit=200, window=60, lease=2).allowed
    window_counts = sorted(RateCounter.objects.values_list("count", flat=True))
    assert window_counts[0] == 2  # the new window started its own count with one lease


def test_the_permit_store_stays_bounded(db, monkeypatch):
    monkeypatch.setattr(ratelimit, "_LEASES_MAX_ENTRIES", 50)
    for n in range(200):
        rate_limit_hit(scope="api", ident=f"ip:{n}", limit=600, window=60, lease=6)

    assert len(ratelimit._leases._permits) <= 51


def test_the_api_refuses_past_a_leased_limit_with_429(staff_client, organisation, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api": (200, 60)}  # a lease of 2
    url = f"/api/v1/organisations/{organisation.slug}/reports/?q=nothing"

    statuses = [staff_client.get(url).status_code for _ in range(202)]

    assert statuses[:200] == [200] * 200
    assert statuses[200:] == [429, 429]


def test_a_refused_batch_of_api_creates_files_nothing(staff_client, organisation, product, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api": (100, 60)}  # exact: one write per request
    url = f"/api/v1/organisations/{organisation.slug}/reports/"
    body = json.dumps({"product": product.slug, "title": "t", "description": "d"})

    statuses = [staff_client.post(url, body, content_type="application/json").status_code for _ in range(101)]

    assert statuses.count(201) == 100 and statuses[-1] == 429
