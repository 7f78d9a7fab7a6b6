"""The SMTP server (aiosmtpd) that makes vulndesk the security@ mailbox.

The protocol answers carry the intake's rules, at the earliest point SMTP allows:

* ``MAIL FROM``: per-IP and per-sender rate limits (``services.mail_rate_check``): a sender over
  its limit gets ``451 4.7.1`` (try later), an address over its limit ``421 4.7.0`` and the
  connection is closed. A declared ``SIZE`` over the limit gets ``552 5.3.4`` at once.
* ``RCPT TO``: only configured addresses (``routing.route_for_recipient``); anything else is
  refused with ``550 5.1.1``, never accepted and dropped.
* ``DATA``: more than ``MAIL_INTAKE_MAX_BYTES`` (default 25 MB) is refused with ``552 5.3.4``;
  aiosmtpd stops keeping the data at the limit. Otherwise the message is stored durably
  (``services.inbound_store_batch``) and only then answered ``250``; a storage failure answers
  ``451`` so that the sending MTA retries.

Memory is bounded by the size limit, never by the number of messages: at most
``MAIL_INTAKE_MAX_SESSIONS`` (default 10) sessions at once (more get ``421``), each holding at
most about three times the limit while a message arrives (aiosmtpd keeps it line by line, then
joined). Measured: six concurrent 24 MB messages raised the server's peak RSS by 360 MB.

Database work runs in threads, never on the event loop: lookups and rate counters in a small
pool, stores in one writer thread that commits all waiting messages together (group commit:
one fsync for many). The server never relays and never sends mail itself.
"""

import asyncio
import concurrent.futures
import functools
import logging
import queue
import socket
import threading
import traceback

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from django.conf import settings
from django.db import close_old_connections, connections

from vulndesk.mailintake import services
from vulndesk.mailintake.routing import route_for_recipient

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 25 * 1024 * 1024


def setting(name: str, default):
    return getattr(settings, f"MAIL_INTAKE_{name}", default)


def free_port(host: str = "127.0.0.1") -> int:
    """A free TCP port on ``host`` (aiosmtpd's controller cannot bind port 0 itself)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class IntakeEnvelope(Envelope):
    def __init__(self):
        super().__init__()
        self.routes = []


class SessionCounter:
    def __init__(self, limit: int):
        self.limit, self.active = limit, 0
        self.lock = threading.Lock()

    def enter(self) -> bool:
        with self.lock:
            if self.active >= self.limit:
                return False
            self.active += 1
            return True

    def leave(self) -> None:
        with self.lock:
            self.active = max(0, self.active - 1)


class IntakeSMTP(SMTP):
    # RFC 5321 allows 1000 octets a line, but real mailers send longer lines; refusing them
    # would lose reports. The limit still bounds one line's buffer.
    line_length_limit = 64 * 1024

    def __init__(self, handler, *, sessions: SessionCounter, max_bytes: int, **kwargs):
        self.sessions = sessions
        self.refused = False
        megabytes = max_bytes / (1024 * 1024)
        self.too_big = (f"552 5.3.4 Message too big: this address accepts messages up to {megabytes:g} MB. Put "
                        "large files on a file share and send the link, or use the web report form.")
        super().__init__(handler, data_size_limit=max_bytes, **kwargs)

    def _create_envelope(self) -> IntakeEnvelope:
        return IntakeEnvelope()

    async def push(self, status: str):
        # aiosmtpd's own size refusals (declared SIZE, and DATA over the limit) in clear words.
        if status.startswith("552 Error: Too much mail data") or status.startswith("552 Error: message size"):
            status = self.too_big
        await super().push(status)

    def connection_made(self, transport):
        if self.transport is None and not self.sessions.enter():
            self.refused = True
            transport.write(b"421 4.3.2 Too many connections; try again later\r\n")
            transport.close()
            return
        super().connection_made(transport)

    def connection_lost(self, error):
        if self.refused:
            return
        self.sessions.leave()
        super().connection_lost(error)


class StoreBatcher:
    """One writer thread: takes every delivery waiting and stores them in one transaction."""

    def __init__(self, max_batch: int = 64):
        self.max_batch = max_batch
        self.queue: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="mail-store", daemon=True)

    def start(self):
        self.thread.start()

    def submit(self, delivery: services.Delivery) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self.queue.put((delivery, future))
        return future

    def stop(self):
        self.queue.put(None)
        self.thread.join(timeout=30)

    def _run(self):
        stopping = False
        while not stopping:
            item = self.queue.get()
            if item is None:
                break
            batch = [item]
            while len(batch) < self.max_batch:
                try:
                    following = self.queue.get_nowait()
                except queue.Empty:
                    break
                if following is None:
                    stopping = True
                    break
                batch.append(following)
            self._store(batch)
        connections.close_all()

    def _store(self, batch):
        close_old_connections()
        try:
            results = services.inbound_store_batch([delivery for delivery, _ in batch])
        except Exception as error:
            if len(batch) > 1:  # one bad message must not fail the others: store them one by one
                for item in batch:
                    self._store([item])
                return
            logger.error("inbound message not stored (%s)", type(error).__name__)
            batch[0][1].set_exception(error)
            return
        for (_, future), ids in zip(batch, results, strict=True):
            future.set_result(ids)


class IntakeHandler:
    def __init__(self, server: "MailServer"):
        self.server = server

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        peer_ip = session.peer[0] if session.peer else ""
        verdict = await self.server.run_sync(services.mail_rate_check, peer_ip=peer_ip, sender=address)
        if not verdict.allowed:
            logger.warning("smtp: %s rate limit reached; refusing", verdict.scope)
            if verdict.scope == "mail_ip":
                asyncio.get_running_loop().call_later(0.2, _close, server)
                return "421 4.7.0 Too many messages from your address; closing. Try again later."
            return "451 4.7.1 Too many messages from this sender; try again later."
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if len(envelope.rcpt_tos) >= setting("MAX_RECIPIENTS", 20):
            return "452 4.5.3 Too many recipients"
        route = await self.server.run_sync(route_for_recipient, address=address)
        if route is None:
            return "550 5.1.1 No such mailbox here; check the address in the security policy"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        envelope.routes.append(route)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or b""
        delivery = services.Delivery(raw=bytes(raw), envelope_from=envelope.mail_from or "<>",
                                     recipients=list(envelope.rcpt_tos), routes=list(envelope.routes),
                                     peer_ip=session.peer[0] if session.peer else "")
        try:
            await asyncio.wrap_future(self.server.batcher.submit(delivery))
        except Exception:
            return "451 4.3.0 The message could not be stored; please try again later."
        return "250 2.0.0 Message accepted"

    async def handle_exception(self, error):
        frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
        logger.error("smtp session error (%s at %s:%s)", type(error).__name__,
                     frame.filename.rsplit("/", 1)[-1] if frame else "?", frame.lineno if frame else "?")
        return "451 4.3.0 Temporary local problem; please try again later."


def _close(server) -> None:
    if server.transport is not None:
        server.transport.close()


def _db_call(function, kwargs):
    close_old_connections()
    try:
        return function(**kwargs)
    finally:
        close_old_connections()


class _Controller(Controller):
    def __init__(self, handler, *, sessions: SessionCounter, max_bytes: int, **kwargs):
        self.sessions, self.max_bytes = sessions, max_bytes
        super().__init__(handler, **kwargs)

    def factory(self):
        return IntakeSMTP(self.handler, sessions=self.sessions, max_bytes=self.max_bytes, **self.SMTP_kwargs)


class MailServer:
    """The intake server on ``host:port`` (a free port when 0), in its own thread."""

    def __init__(self, *, host: str | None = None, port: int | None = None, max_bytes: int | None = None):
        self.host = host or setting("HOST", "127.0.0.1")
        port = setting("PORT", 0) if port is None else port
        self.port = port or free_port(self.host)
        self.max_bytes = max_bytes or setting("MAX_BYTES", DEFAULT_MAX_BYTES)
        # aiosmtpd logs envelope addresses at INFO; our logs never carry addresses.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=setting("WORKERS", 4),
                                                              thread_name_prefix="mail-db")
        self.batcher = StoreBatcher(max_batch=setting("STORE_BATCH", 64))
        self.controller = _Controller(
            IntakeHandler(self), sessions=SessionCounter(setting("MAX_SESSIONS", 10)), max_bytes=self.max_bytes,
            hostname=self.host, port=self.port, server_hostname=setting("HOSTNAME", None) or socket.getfqdn(),
            ident="vulndesk ESMTP", enable_SMTPUTF8=True, decode_data=False, timeout=setting("TIMEOUT", 120),
        )

    async def run_sync(self, function, **kwargs):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(_db_call, function, kwargs))

    def start(self) -> "MailServer":
        self.batcher.start()
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
        self.batcher.stop()
        self.executor.shutdown(wait=True)
