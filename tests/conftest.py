"""Shared fixtures. Real database (SQLite, or PostgreSQL via tests/postgres.py, per xdist worker),
real SMTP on loopback, real clock seam (core.clock.freeze), real Chromium for tests marked
``browser``."""

import os
import socket
import time
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

# pytest-django's live_server and Playwright's sync API share the main thread's event loop.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "1")

from tests.factories.core import (  # noqa: E402,F401
    PASSWORD,
    make_member,
    make_organisation,
    make_product,
    make_report,
    verified_login,
)
from vulndesk.core import clock  # noqa: E402


@pytest.fixture
def frozen_clock():
    """Freeze ``core.clock.now()``; call ``frozen_clock.move(dt)`` / ``.advance(**timedelta)`` to move it."""
    from datetime import timedelta

    class Frozen:
        def __init__(self):
            self.now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday
            clock.freeze(self.now)

        def move(self, at: datetime):
            self.now = at
            clock.freeze(at)

        def advance(self, **delta):
            self.move(self.now + timedelta(**delta))

    frozen = Frozen()
    yield frozen
    clock.freeze(None)


@pytest.fixture
def organisation(db):
    return make_organisation()


@pytest.fixture
def product(organisation):
    return make_product(organisation)


@pytest.fixture
def triager(organisation):
    return make_member(organisation, role="triager")


@pytest.fixture
def owner(organisation):
    return make_member(organisation, role="owner")


@pytest.fixture
def staff_client(client, triager):
    """A triager logged in with password and second factor."""
    return verified_login(client, triager.user)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpSink:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages = []
        self.port = _free_port()  # aiosmtpd cannot bind port 0 itself
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.messages.append({
                    "from": envelope.mail_from,
                    "to": list(envelope.rcpt_tos),
                    "message": message_from_bytes(envelope.content, policy=policy.default),
                })
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self):
        self.controller.start()

    def stop(self):
        self.controller.stop()

    def wait_for(self, count: int, timeout: float = 5.0):
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages


@pytest.fixture
def smtp_sink(settings):
    """Point Django's SMTP backend at a real SMTP server on 127.0.0.1."""
    sink = SmtpSink()
    sink.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = sink.port
    settings.EMAIL_USE_TLS = False
    yield sink
    sink.stop()


BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright launches Debian's Chromium; Playwright's own download is not possible here."""
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium", "args": BROWSER_ARGS}


class _InFlightRequests:
    """Counts requests the live server is still answering. The live server shares the test's
    in-memory SQLite connection; a request still reading when the test ends holds a table lock
    and the flush between tests fails with "database table is locked"."""

    def __init__(self):
        import threading

        self._lock = threading.Lock()
        self.count = 0

    def started(self, **_):
        with self._lock:
            self.count += 1

    def finished(self, **_):
        with self._lock:
            self.count -= 1

    def wait_until_idle(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.count > 0 and time.monotonic() < deadline:
            time.sleep(0.02)


@pytest.fixture(autouse=True)
def _live_server_settles(request):
    """For browser tests: after the test (and its page) ends, wait for the live server's last
    requests to finish before the database is flushed for the next test."""
    if "live_server" not in request.fixturenames:
        yield
        return
    from django.core.signals import request_finished, request_started

    # Set up after the database, so torn down before its flush.
    request.getfixturevalue("transactional_db")
    in_flight = _InFlightRequests()
    request_started.connect(in_flight.started, weak=False)
    request_finished.connect(in_flight.finished, weak=False)
    try:
        yield
        # The page (set up after this fixture) is closed by now, so nothing new starts.
        in_flight.wait_until_idle()
    finally:
        request_started.disconnect(in_flight.started)
        request_finished.disconnect(in_flight.finished)


@pytest.fixture(autouse=True)
def _fresh_key_caches():
    """Data keys are cached per process; test databases roll back and reuse ids, so each test
    starts with empty caches."""
    from vulndesk.organisations.keys import forget_cached_keys

    forget_cached_keys()
    yield
    forget_cached_keys()


@pytest.fixture(autouse=True)
def _fresh_rate_limit_leases():
    """API rate-limit permits are leased per process (core/ratelimit.py); the counters they were
    taken from roll back with each test, so each test starts with none."""
    from vulndesk.core.ratelimit import rate_limit_leases_forget

    rate_limit_leases_forget()
    yield
    rate_limit_leases_forget()


@pytest.fixture(autouse=True)
def _attachment_root(settings, tmp_path):
    settings.ATTACHMENT_ROOT = tmp_path / "attachments"
