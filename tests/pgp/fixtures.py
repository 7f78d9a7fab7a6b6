"""OpenPGP test parts: the reporter's own mail program (python-gnupg on the real gpg, in its own
GNUPGHOME, as a reporter's Thunderbird or mutt would be), and the organisation's key pair.

Keys are generated once per test process (ed25519/cv25519 without protection: milliseconds), and
the organisation's pair is stored per test through the real service, without calling gpg again.
The reporter builds PGP/MIME and inline messages by hand, byte for byte, independently of the
code under test. Import the fixtures into a test module with ``from tests.pgp.fixtures import *``.
"""

import functools
import shutil
import subprocess
import tempfile
from email import message_from_bytes, policy
from email.message import EmailMessage, MIMEPart
from pathlib import Path

import gnupg
import pytest

from vulndesk.pgp import keyring
from vulndesk.pgp.keys import KeyPair, key_pair_generate
from vulndesk.pgp.models import OrganisationPgpKey
from vulndesk.pgp.services import organisation_key_add

__all__ = ["ReporterMailer", "odd_key", "org_key", "org_key_pair", "other_key_pair", "reporter", "stranger",
           "pgp_agents"]

REPORTER_ADDRESS = "alice@reporter.example"


def _params(name: str, email: str, *, subkey: bool = True, extra: str = "") -> str:
    lines = ["Key-Type: eddsa", "Key-Curve: ed25519", "Key-Usage: sign"]
    if subkey:
        lines += ["Subkey-Type: ecdh", "Subkey-Curve: cv25519", "Subkey-Usage: encrypt"]
    lines += [f"Name-Real: {name}", f"Name-Email: {email}", "Expire-Date: 0", extra, "%no-protection", "%commit", ""]
    return "\n".join(line for line in lines if line is not None)


class ReporterMailer:
    """A reporter's mail program: its own keyring, PGP/MIME and inline messages built by hand."""

    def __init__(self, name: str = "Alice Reporter", address: str = REPORTER_ADDRESS):
        self.home = Path(tempfile.mkdtemp(prefix="vd-rep-"))
        self.home.chmod(0o700)
        self.gpg = gnupg.GPG(gnupghome=str(self.home), options=["--trust-model", "always"])
        self.address = address
        self.fingerprint = self.gpg.gen_key(_params(name, address)).fingerprint
        assert self.fingerprint

    def close(self):
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"], capture_output=True,
                       check=False)
        shutil.rmtree(self.home, ignore_errors=True)

    @property
    def public_key(self) -> str:
        return self.gpg.export_keys(self.fingerprint, armor=True)

    def trust(self, armored: str) -> str:
        """Import someone's public key (the organisation's); returns its fingerprint."""
        return self.gpg.import_keys(armored).fingerprints[0]

    # -- building messages --

    @staticmethod
    def entity(text: str, *, attachments: list[tuple[str, bytes, str]] = (), key: str = "",
               subject: str = "") -> bytes:
        """The MIME entity a client encrypts: text, files, optionally the sender's key, and
        protected headers (Subject) when ``subject`` is given."""
        part = MIMEPart(policy=policy.SMTP)
        part.set_content(text, charset="utf-8")
        if attachments or key:
            body = part
            part = MIMEPart(policy=policy.SMTP)
            part.make_mixed()
            part.attach(body)
            for name, content, mime_type in attachments:
                maintype, subtype = mime_type.split("/")
                part.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
            if key:
                key_part = MIMEPart(policy=policy.SMTP)
                key_part.set_content(key.encode(), maintype="application", subtype="pgp-keys", cte="7bit",
                                     filename="OpenPGP_0xALICE.asc")
                part.attach(key_part)
        if subject:
            part.set_param("protected-headers", "v1")
            part["Subject"] = subject
        return part.as_bytes(policy=policy.SMTP)

    def encrypt(self, data: bytes, recipient: str, *, sign: bool = True) -> str:
        result = self.gpg.encrypt(data, [recipient], sign=self.fingerprint if sign else None, always_trust=True,
                                  armor=True)
        assert result.ok, result.status
        return str(result)

    def detached_signature(self, data: bytes) -> str:
        result = self.gpg.sign(data, keyid=self.fingerprint, detach=True, clearsign=False,
                               extra_args=["--digest-algo", "SHA256"])
        assert result, result.status
        return str(result)

    def clearsign(self, text: str) -> str:
        return str(self.gpg.sign(text.encode(), keyid=self.fingerprint, clearsign=True))

    @staticmethod
    def headers(subject: str, *, message_id: str, sender: str = f"Alice Reporter <{REPORTER_ADDRESS}>",
                to: str = "security@acme.test", extra: str = "") -> str:
        return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Mon, 23 Nov 2026 09:00:00 +0000\r\n"
                f"Message-ID: {message_id}\r\n{extra}MIME-Version: 1.0\r\n")

    def pgp_mime_encrypted(self, entity: bytes, recipient: str, *, subject: str = "...", message_id: str,
                           sign: bool = True, **headers) -> bytes:
        """RFC 3156 section 4 (signed and encrypted in one OpenPGP message, section 6.2)."""
        armored = self.encrypt(entity, recipient, sign=sign)
        return (self.headers(subject, message_id=message_id, **headers)
                + 'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="enc-b"\r\n\r\n'
                "This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n"
                "--enc-b\r\nContent-Type: application/pgp-encrypted\r\nContent-Description: PGP/MIME version "
                "identification\r\n\r\nVersion: 1\r\n\r\n"
                '--enc-b\r\nContent-Type: application/octet-stream; name="encrypted.asc"\r\n'
                'Content-Disposition: inline; filename="encrypted.asc"\r\n\r\n'
                f"{armored.strip()}\r\n\r\n--enc-b--\r\n").encode()

    def signed_entity(self, entity: bytes, *, tamper: bool = False) -> bytes:
        """multipart/signed (RFC 3156 section 5) around ``entity``: headers not included."""
        signature = self.detached_signature(entity)
        signed = entity.replace(b"unescaped", b"escaped!!") if tamper else entity
        return (b'Content-Type: multipart/signed; micalg=pgp-sha256; protocol="application/pgp-signature";'
                b' boundary="sig-b"\r\n\r\n--sig-b\r\n' + signed + b"\r\n--sig-b\r\n"
                b'Content-Type: application/pgp-signature; name="signature.asc"\r\n\r\n'
                + signature.strip().encode() + b"\r\n--sig-b--\r\n")

    def pgp_mime_signed(self, entity: bytes, *, subject: str, message_id: str, tamper: bool = False) -> bytes:
        return self.headers(subject, message_id=message_id).encode() + self.signed_entity(entity, tamper=tamper)

    def inline(self, body: str, *, subject: str, message_id: str, **headers) -> bytes:
        message = message_from_bytes(self.headers(subject, message_id=message_id, **headers).encode(),
                                     policy=policy.SMTP)
        out = EmailMessage(policy=policy.SMTP)
        for name, value in message.items():
            if name.lower() != "mime-version":
                out[name] = value
        out.set_content(body, charset="utf-8")
        return out.as_bytes(policy=policy.SMTP)

    # -- reading what vulndesk sends --

    def open(self, message: EmailMessage) -> tuple[bytes, object]:
        """Decrypt a received PGP/MIME mail; returns (the decrypted entity, gpg's result)."""
        assert message.get_content_type() == "multipart/encrypted"
        assert message.get_param("protocol") == "application/pgp-encrypted"
        control, data = list(message.iter_parts())
        assert control.get_content_type() == "application/pgp-encrypted"
        assert b"Version: 1" in control.get_payload(decode=True)
        result = self.gpg.decrypt(data.get_payload(decode=True))
        assert result.ok, result.status
        return result.data, result

    def verify_signed_entity(self, entity: bytes) -> tuple[bytes, object]:
        """(the signed part, gpg's verification) of a multipart/signed entity, cut out byte for
        byte as RFC 3156 says."""
        head, _, body = entity.partition(b"\r\n\r\n")
        boundary = message_from_bytes(head + b"\r\n\r\n", policy=policy.default).get_boundary()
        delimiter = b"\r\n--" + boundary.encode()
        first = body.index(b"--" + boundary.encode() + b"\r\n") + len(boundary) + 4
        end = body.index(delimiter, first)
        signed = body[first:end]
        signature_part = body[end + len(delimiter) + 2: body.index(delimiter + b"--")]
        signature = signature_part.partition(b"\r\n\r\n")[2]
        sig_path = self.home / "check.asc"
        sig_path.write_bytes(signature)
        return signed, self.gpg.verify_data(str(sig_path), signed)


@functools.cache
def odd_key(kind: str) -> str:
    """Armored keys that must be refused (or handled with care), made by gpg itself:
    ``expired`` (created 2020, valid one year), ``sign_only`` (no encryption subkey), ``rsa1024``,
    ``script_uid`` (a user ID with markup), and ``*_secret``: the secret key of one of those."""
    home = Path(tempfile.mkdtemp(prefix="vd-odd-"))
    home.chmod(0o700)
    try:
        gpg = gnupg.GPG(gnupghome=str(home))
        params = {
            "expired": _params("Old Reporter", "old@reporter.example", extra="Creation-Date: 20200101T000000")
            .replace("Expire-Date: 0", "Expire-Date: 1y"),
            "expired_secret": _params("Old Team", "old@acme.test", extra="Creation-Date: 20200101T000000")
            .replace("Expire-Date: 0", "Expire-Date: 1y"),
            "sign_only": _params("Signer Only", "signer@reporter.example", subkey=False),
            "rsa1024": "Key-Type: RSA\nKey-Length: 1024\nName-Real: Weak Key\nName-Email: weak@reporter.example\n"
                       "Expire-Date: 0\n%no-protection\n%commit\n",
            "script_uid": _params("<script>alert(1)</script>", "xss@reporter.example"),
            "script_uid_secret": _params("<script>alert(1)</script> team", "xss@acme.test"),
        }[kind]
        fingerprint = gpg.gen_key(params).fingerprint
        assert fingerprint, kind
        if kind.endswith("_secret"):
            return gpg.export_keys(fingerprint, secret=True, armor=True, passphrase="", expect_passphrase=False)
        return gpg.export_keys(fingerprint, armor=True)
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)


@functools.cache
def _pair(name: str, email: str) -> KeyPair:
    return key_pair_generate(name=name, email=email, years=2)


@pytest.fixture(scope="session")
def org_key_pair() -> KeyPair:
    return _pair("Acme security team", "security@acme.test")


@pytest.fixture(scope="session")
def other_key_pair() -> KeyPair:
    return _pair("Someone else entirely", "security@elsewhere.test")


@pytest.fixture
def org_key(mail_world, org_key_pair) -> OrganisationPgpKey:
    """The mail world's organisation with its key pair stored (and published)."""
    return organisation_key_add(organisation=mail_world.organisation, key_pair=org_key_pair, actor=mail_world.owner,
                                source=OrganisationPgpKey.Source.GENERATED)


@pytest.fixture(scope="session")
def reporter():
    mailer = ReporterMailer()
    yield mailer
    mailer.close()


@pytest.fixture(scope="session")
def stranger():
    mailer = ReporterMailer(name="Mallory Stranger", address="mallory@elsewhere.example")
    yield mailer
    mailer.close()


@pytest.fixture(scope="session", autouse=True)
def pgp_agents():
    """Stop the gpg-agents of the organisation homes this test process started."""
    yield
    keyring.agents_stop_all()
