"""The mail intake under test: our real SMTP server on a free loopback port (in a thread, with
its own database connections, hence transactional tests), ``smtplib`` as the sending client,
and the shared ``smtp_sink`` as the reporter's mailbox for what we send back."""

import contextlib
import io
import os
import smtplib
import sqlite3
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from urllib.parse import quote

import pytest
from django.db import connection

from tests.factories.core import make_member, make_organisation, make_product
from vulndesk.mailintake.server import MailServer
from vulndesk.mailintake.services import intake_address_add

REPORTER = "alice@reporter.example"


@dataclass
class MailWorld:
    organisation: object
    product: object
    other_product: object
    owner: object
    triager: object
    address: object


@pytest.fixture
def mail_world(transactional_db):
    organisation = make_organisation(name="Acme", slug="acme", reference_prefix="ACME")
    product = make_product(organisation, name="Acme Web", slug="web")
    other = make_product(organisation, name="Acme API", slug="api")
    owner = make_member(organisation, role="owner")
    triager = make_member(organisation, role="triager")
    address = intake_address_add(actor=owner, local_part="security", domain="acme.test", product=product)
    return MailWorld(organisation, product, other, owner, triager, address)


class Mailer:
    """smtplib against our server: ``send`` returns nothing on 250 and raises smtplib's
    exception (with the server's code and text) on a refusal."""

    def __init__(self, port: int):
        self.port = port

    def connect(self) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.port, timeout=30)

    def send(self, message, *, mail_from: str = REPORTER, to: str | list[str] = "security@acme.test") -> None:
        raw = wire(message) if isinstance(message, EmailMessage) else message
        with self.connect() as client:
            client.sendmail(mail_from, [to] if isinstance(to, str) else to, raw)


@pytest.fixture
def message_posted():
    """``reports.services.message_posted`` (sent after commit by message_post) once the lead has
    added it; until then a signal of the same shape with our receiver connected. Tests send it
    themselves after a staff message, as message_post will."""
    from django.dispatch import Signal

    from vulndesk.mailintake.receivers import on_message_posted
    from vulndesk.reports import services as report_services

    signal = getattr(report_services, "message_posted", None)
    if signal is not None:
        yield signal
        return
    signal = Signal()
    signal.connect(on_message_posted, dispatch_uid="tests.mailintake.message_posted")
    yield signal
    signal.disconnect(dispatch_uid="tests.mailintake.message_posted")


@pytest.fixture
def mail_server(mail_world, smtp_sink, settings):
    server = MailServer(host="127.0.0.1", port=0).start()
    yield Mailer(server.port)
    server.stop()


def mail(subject: str = "SQL injection in /search", body: str = "The q parameter reaches SQL unescaped.", *,
         sender: str = f"Alice Reporter <{REPORTER}>", to: str = "security@acme.test", message_id: str | None = None,
         **headers) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = "Mon, 23 Nov 2026 09:00:00 +0000"
    message["Message-ID"] = message_id or f"<{abs(hash((subject, body, sender)))}@reporter.example>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


def wire(message: EmailMessage) -> bytes:
    """The message as a mail client puts it on the wire (CRLF line endings)."""
    return message.as_bytes(policy=policy.SMTP)


def png_bytes() -> bytes:
    from PIL import Image

    output = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(output, format="PNG")
    return output.getvalue()


def sent_to(sink, address: str) -> list:
    return [item["message"] for item in sink.messages if address in item["to"]]


def receive(message, *, to: str = "security@acme.test", mail_from: str = REPORTER):
    """Hand a message to the store exactly as the SMTP server does after DATA (its processing
    then runs as queued), for tests about what happens after receipt."""
    from vulndesk.mailintake.models import InboundMessage
    from vulndesk.mailintake.routing import route_for_recipient
    from vulndesk.mailintake.services import Delivery, inbound_store_batch

    [[message_id]] = inbound_store_batch([Delivery(raw=wire(message), envelope_from=mail_from, recipients=[to],
                                                   routes=[route_for_recipient(to)], peer_ip="192.0.2.7")])
    return InboundMessage.objects.get(pk=message_id)


# --- IMAP polling: a real dovecot on loopback (tests/mailintake/dovecot.py) --------------------

@pytest.fixture(scope="session")
def dovecot():
    """One dovecot per test process (each xdist worker its own ports and maildirs)."""
    from tests.mailintake.dovecot import Dovecot

    server = Dovecot().start()
    yield server
    server.stop()


@pytest.fixture
def imap_account(dovecot):
    """A fresh, empty mailbox on the test dovecot."""
    import secrets

    from tests.mailintake.dovecot import ImapAccount

    return ImapAccount(dovecot, username=f"security-{secrets.token_hex(6)}")


@dataclass
class DiskDatabase:
    """The database a restarted process finds: ``url`` for its ``DATABASE_URL``, ``rows(sql)``
    to look at it afterwards over a connection of its own."""

    url: str
    path: str | None = None  # the SQLite copy, if this run is on SQLite

    def rows(self, sql: str) -> list[tuple]:
        if self.path is not None:
            with contextlib.closing(sqlite3.connect(self.path, timeout=20)) as db:
                return db.execute(sql).fetchall()
        import psycopg

        with psycopg.connect(self.url.replace("postgres://", "postgresql://", 1), autocommit=True) as db:
            return db.execute(sql).fetchall()


def database_on_disk(path) -> DiskDatabase:
    """The test database as it is now, as a restarted process would find it. SQLite: copied to
    ``path`` (the test database is in memory, invisible to other processes). PostgreSQL: the
    test database itself, since these tests are transactional and everything is committed."""
    connection.ensure_connection()
    if connection.vendor == "sqlite":
        target = sqlite3.connect(path)
        connection.connection.backup(target)
        target.close()
        return DiskDatabase(url=f"sqlite:///{path}", path=str(path))
    database = connection.settings_dict
    credentials = quote(database["USER"], safe="") + (":" + quote(database["PASSWORD"], safe="")
                                                      if database["PASSWORD"] else "")
    return DiskDatabase(url=f"postgres://{credentials}@{database['HOST']}:{database['PORT']}/{database['NAME']}")


def command_environment(database: DiskDatabase, settings, smtp_sink) -> dict:
    """Environment for a `vulndesk` command run as its own process on ``database``, mailing
    through the real SMTP sink."""
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "vulndesk.settings", "VULNDESK_ENV": "embedded",
                   "DATABASE_URL": database.url, "VULNDESK_DATA_DIR": str(settings.DATA_DIR),
                   "ATTACHMENT_ROOT": str(settings.ATTACHMENT_ROOT), "EMAIL_HOST": "127.0.0.1",
                   "EMAIL_PORT": str(smtp_sink.port), "SITE_URL": settings.SITE_URL, "LOG_LEVEL": "WARNING",
                   # The test dovecot is on loopback, allowed as an operator allows an internal server.
                   "MAIL_INTAKE_IMAP_ALLOWED_NETWORKS": ",".join(settings.MAIL_INTAKE_IMAP_ALLOWED_NETWORKS)}
    environment.pop("EMAIL_BACKEND", None)
    return environment
