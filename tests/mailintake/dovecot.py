"""A real dovecot IMAP server on loopback for the polling tests (Debian's ``dovecot-imapd``;
``scripts/setup.sh --browser`` installs it). Not a fake: the tests talk to the real thing.

Each pytest process (each xdist worker) starts its own: a minimal ``dovecot.conf`` in a temp
dir, listening on 127.0.0.1 on two free ports, one plain (with STARTTLS offered) and one with
TLS from the start, both with a self-signed certificate made here for ``localhost`` and
127.0.0.1. Any user name logs in with ``PASSWORD`` (a static passdb), and each user is a fresh
maildir, so every test takes a new user and sees only its own mail. dovecot runs in the
foreground as our child and is stopped at the end of the session.

Run as root, dovecot's login and internal processes use Debian's ``dovenull`` and ``dovecot``
users and the mail belongs to ``nobody``; run as another user, everything runs as that user.
"""

import contextlib
import grp
import imaplib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
PASSWORD = "dovecot-test-password"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def self_signed_certificate(directory: Path) -> tuple[Path, Path, str]:
    """(certificate file, key file, certificate PEM) for localhost and 127.0.0.1."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_text(pem)
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return cert_file, key_file, pem


CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
first_valid_uid = 1
first_valid_gid = 1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={root}/mail/%n
}}
mail_location = maildir:~/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {plain_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


class Dovecot:
    def __init__(self):
        # Short path: dovecot's unix sockets live under it (108-byte limit).
        self.root = Path(tempfile.mkdtemp(prefix="vd-dovecot-"))
        self.root.chmod(0o755)  # the mail user must reach its maildir
        self.process: subprocess.Popen | None = None
        self.plain_port = self.tls_port = 0
        self.certificate_pem = ""

    def start(self) -> "Dovecot":
        if not os.path.exists(DOVECOT):
            raise RuntimeError("dovecot is not installed: run `bash scripts/setup.sh --browser` "
                               "(apt-get install dovecot-imapd)")
        for directory in ("run", "state", "mail"):
            (self.root / directory).mkdir(exist_ok=True)
        cert, key, self.certificate_pem = self_signed_certificate(self.root)
        if os.geteuid() == 0:
            login_user, internal_user, internal_group = "dovenull", "dovecot", "dovecot"
            mail = pwd.getpwnam("nobody")
            mail_uid, mail_gid = mail.pw_uid, mail.pw_gid
            os.chown(self.root / "mail", mail_uid, mail_gid)
        else:
            login_user = internal_user = pwd.getpwuid(os.getuid()).pw_name
            internal_group = grp.getgrgid(os.getgid()).gr_name
            mail_uid, mail_gid = os.getuid(), os.getgid()
        for _attempt in range(3):
            self.plain_port, self.tls_port = _free_port(), _free_port()
            (self.root / "dovecot.conf").write_text(CONFIG.format(
                root=self.root, login_user=login_user, internal_user=internal_user, internal_group=internal_group,
                cert=cert, key=key,
                password=PASSWORD, mail_uid=mail_uid, mail_gid=mail_gid,
                plain_port=self.plain_port, tls_port=self.tls_port))
            self.process = subprocess.Popen([DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if self._wait_until_listening():
                return self
            self.stop(remove=False)
        raise RuntimeError(f"dovecot did not start: {self.log()[-2000:]}")

    def _wait_until_listening(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.plain_port), 0.5) as sock:
                if sock.recv(100).startswith(b"* OK"):
                    # Ours, not a server that took the port first (ours would have exited).
                    time.sleep(0.1)
                    return self.process.poll() is None
            time.sleep(0.05)
        return False

    def log(self) -> str:
        path = self.root / "dovecot.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        if self.process is not None and self.process.poll() is not None and self.process.stderr:
            text += self.process.stderr.read().decode(errors="replace")
        return text

    def stop(self, *, remove: bool = True) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class ImapAccount:
    """One fresh mailbox on the test dovecot, and the test's own view of it (plain imaplib,
    nothing of vulndesk), to put mail in and to look at what vulndesk did."""

    server: Dovecot
    username: str
    password: str = PASSWORD

    @property
    def port(self) -> int:
        return self.server.plain_port

    @property
    def tls_port(self) -> int:
        return self.server.tls_port

    @contextlib.contextmanager
    def client(self):
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        try:
            client.login(self.username, self.password)
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def append(self, *raws: bytes, folder: str = "INBOX") -> None:
        with self.client() as client:
            for raw in raws:
                status, data = client.append(_quoted(folder), None, None, raw)
                assert status == "OK", data

    def create_folder(self, folder: str) -> None:
        with self.client() as client:
            status, data = client.create(_quoted(folder))
            assert status == "OK", data

    def search(self, criteria: str = "ALL", folder: str = "INBOX") -> list[int]:
        with self.client() as client:
            status, _ = client.select(_quoted(folder), readonly=True)
            assert status == "OK"
            status, data = client.uid("SEARCH", criteria)
            assert status == "OK", data
            return sorted(int(uid) for uid in data[0].split())

    def flags(self, folder: str = "INBOX") -> dict[int, set[str]]:
        """uid -> flags and keywords."""
        with self.client() as client:
            client.select(_quoted(folder), readonly=True)
            status, data = client.uid("FETCH", "1:*", "(UID FLAGS)")
            result = {}
            for line in data:
                if not line:
                    continue
                found = re.search(rb"UID (\d+) FLAGS \(([^)]*)\)", line) or re.search(
                    rb"FLAGS \(([^)]*)\) UID (\d+)", line)
                if found and found.re.pattern.startswith(rb"UID"):
                    result[int(found.group(1))] = set(found.group(2).decode().split())
                elif found:
                    result[int(found.group(2))] = set(found.group(1).decode().split())
            return result


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
