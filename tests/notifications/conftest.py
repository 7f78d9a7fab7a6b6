"""Fixtures for notifications: a real HTTPS webhook receiver on 127.0.0.1 (with its own test
CA), confirmed subscribers made through the real double opt-in, and published advisories made
through the real advisory services. Mail goes through the real SMTP sink (tests/conftest.py)."""

import datetime as dt
import ipaddress
import json
import re
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.factories.core import make_report
from vulndesk.advisories.models import Advisory
from vulndesk.advisories.services import (
    advisory_create,
    advisory_transition,
    advisory_update,
    affected_packages_set,
)
from vulndesk.notifications.models import Subscriber
from vulndesk.notifications.services import subscription_confirm, subscription_request
from vulndesk.reports.services import report_transition

CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
CONFIRM_LINK = re.compile(r"(https?://\S+/subscriptions/confirm/([^/\s]+)/)")
RECEIVER_NAMES = ("hooks.example.test", "localhost")


# --- TLS for the loopback receiver -------------------------------------------------------------

def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@pytest.fixture(scope="session")
def test_tls(tmp_path_factory):
    """A throw-away CA and a server certificate for 127.0.0.1 and hooks.example.test."""
    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("vulndesk test CA")).issuer_name(_name("vulndesk test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(name) for name in RECEIVER_NAMES] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (x509.CertificateBuilder().subject_name(_name("hooks.example.test")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return {"ca": str(ca_file), "cert": str(cert_file), "key": str(key_file)}


class WebhookReceiver:
    """A real HTTPS server on 127.0.0.1 that records every request and answers with the
    statuses queued in ``answers`` (then 200)."""

    def __init__(self, tls):
        self.requests: list[dict] = []
        self.answers: list[int] = []
        self.location = "https://127.0.0.1/internal"
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "13")
                self.end_headers()
                self.wfile.write(b"receiver said")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls["cert"], tls["key"])
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/hooks/vulndesk?source=test"

    def payloads(self) -> list[dict]:
        return [json.loads(request["body"]) for request in self.requests]

    def start(self):
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def loopback_webhooks(settings, test_tls):
    """The two deliberately named settings a loopback receiver needs (test suite only)."""
    settings.NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK_FOR_TESTS = True
    settings.NOTIFICATIONS_WEBHOOK_CA_FILE = test_tls["ca"]
    return settings


@pytest.fixture
def receiver(loopback_webhooks, test_tls):
    server = WebhookReceiver(test_tls)
    server.start()
    yield server
    server.stop()


# --- subscribers and advisories -----------------------------------------------------------------

def confirmation_links(sink, address: str) -> list[tuple[str, str]]:
    """(link, token) of every confirmation mail the sink got for ``address``, oldest first."""
    links = []
    for message in sink.messages:
        if [to.casefold() for to in message["to"]] == [address.casefold()] \
                and message["message"]["Subject"].startswith("Confirm"):
            links.append(CONFIRM_LINK.search(message["message"].get_content()).groups())
    return links


@pytest.fixture
def subscribe(smtp_sink, django_capture_on_commit_callbacks):
    """Subscribe ``address`` through the real double opt-in (mail through the SMTP sink)."""

    def make(organisation, address, *, product=None, confirm=True):
        with django_capture_on_commit_callbacks(execute=True):
            row = subscription_request(organisation=organisation, product=product, address=address)
        if confirm and row.status == Subscriber.Status.PENDING:
            subscription_confirm(token=confirmation_links(smtp_sink, address)[-1][1])
        row.refresh_from_db()
        return row

    return make


def accepted_report(product, triager, **fields):
    report = make_report(product, **fields).report
    report_transition(report=report, actor=triager, to="accepted", cvss_vector=CRITICAL)
    return report


def reviewed_advisory(organisation, triager, product, *, reports=(), title="SQL injection in search",
                      summary="SQLi in the search endpoint") -> Advisory:
    advisory = advisory_create(organisation=organisation, actor=triager, title=title, reports=list(reports))
    affected_packages_set(advisory=advisory, actor=triager, packages=[{
        "ecosystem": "PyPI", "package_name": "acme-shop", "product": product,
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.4.2"}]}], "versions": []}])
    advisory = advisory_update(advisory=advisory, actor=triager, summary=summary, severity="critical")
    return advisory_transition(advisory=advisory, actor=triager, to="in_review")


@pytest.fixture
def publish(django_capture_on_commit_callbacks):
    """Publish (or update) an advisory as staff do; the after-commit signals run, and with the
    immediate task backend so do the fan-out and every send."""

    def run(advisory, actor, *, to="published", changelog=""):
        with django_capture_on_commit_callbacks(execute=True):
            return advisory_transition(advisory=advisory, actor=actor, to=to, changelog=changelog)

    return run
