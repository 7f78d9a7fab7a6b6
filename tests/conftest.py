"""Shared fixtures. Real database (SQLite per xdist worker), real SMTP on loopback, real clock
seam (core.clock.freeze), real Chromium for tests marked ``browser``."""

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
