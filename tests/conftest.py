"""Shared fixtures. Real database (SQLite, or PostgreSQL via tests/postgres.py, per xdist worker),
real SMTP on loopback, real clock seam (core.clock.freeze), real Chromium for tests marked
``browser``."""

import os
import socket
import threading
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


class _LiveServerGate:
    """The live server's requests, let in only while a test runs.

    The live server shares the test's in-memory SQLite connection. A request it is still
    answering when the test ends (htmx loads of the last page), or one that reaches Django only
    after the page closed (sent, then queued behind the accept loop), reads while the database
    is flushed for the next test: the flush fails ("database table is locked") and the next test
    finds the last one's rows. So after each test the gate closes: requests already inside are
    waited for, later ones are refused before they touch the database (the live server answers
    them with its own 500). The test client's requests never pass here."""

    def __init__(self):
        self._lock = threading.Lock()
        self._open = False
        self._answering: set[int] = set()  # threads answering a live-server request

    @property
    def inside(self) -> int:
        return len(self._answering)

    def started(self, environ=None, **_):
        # wsgiref's server (the live server) names itself; the test client's requests do not.
        if not (environ or {}).get("SERVER_SOFTWARE", "").startswith("WSGIServer"):
            return
        with self._lock:
            if not self._open:
                raise RuntimeError("live server request after its test ended: refused (tests/conftest.py)")
            self._answering.add(threading.get_ident())

    def finished(self, **_):
        with self._lock:
            self._answering.discard(threading.get_ident())

    def open(self) -> None:
        with self._lock:
            self._open = True

    def close_and_wait(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._open = False
        deadline = time.monotonic() + timeout
        while self.inside > 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        # A cursor left mid-statement by a request and kept alive only by a reference cycle (an
        # exception's traceback, say) also holds a table lock until the cycle collector frees it.
        import gc

        gc.collect()


_live_server_gate = _LiveServerGate()


@pytest.fixture(autouse=True)
def _live_server_settles(request):
    """For live-server tests: once the test (and its page) ends, the live server's requests are
    waited for and new ones refused, before the database is flushed for the next test."""
    if "live_server" not in request.fixturenames:
        yield
        return
    from django.core.signals import request_finished, request_started

    request_started.connect(_live_server_gate.started, weak=False, dispatch_uid="tests.live_server_gate")
    request_finished.connect(_live_server_gate.finished, weak=False, dispatch_uid="tests.live_server_gate")
    # Set up after the database, so torn down before its flush.
    request.getfixturevalue("transactional_db")
    _live_server_gate.open()
    try:
        yield
    finally:
        _live_server_gate.close_and_wait()


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
