"""gpg operations on an organisation's keys and on keys reporters gave: open (decrypt) a message,
check a signature, sign, encrypt. Reads key rows; writes nothing.

Opening an encrypted message is split in two, so hostile key material and the organisation's
secret keys never share a keyring:

1. ``gpg --unwrap`` in the organisation's home removes the encryption layer only (it needs the
   secret key; it reads no signature and no attached key);
2. ``gpg --decrypt`` of the unwrapped packets in a throw-away work home holding only the keys
   the reporter gave checks the signature (if any) and yields the plaintext.

Signature verdicts come from gpg's status lines (``--status-fd``), not its human messages:
GOODSIG + VALIDSIG is "verified" and names the primary key's fingerprint; ERRSIG with code 9
(no public key) is "unknown key"; BADSIG is "bad"; EXPKEYSIG, REVKEYSIG and EXPSIG are a key
problem. Trust is ours: only keys the reporter gave are in the work home, so any good signature
there was made with one of them (``--trust-model always`` keeps gpg's web of trust out of it).
"""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings

from vulndesk.core import clock
from vulndesk.pgp.keyring import (
    SecretKeyMaterial,
    gpg_for,
    gpg_run,
    organisation_home,
    status_lines,
    work_home,
)
from vulndesk.pgp.models import MessageSecurity, OrganisationPgpKey, SignatureState

# gpg's hash algorithm ids (RFC 4880 section 9.4) as PGP/MIME names them in micalg (RFC 3156 5).
MICALG = {"2": "pgp-sha1", "8": "pgp-sha256", "9": "pgp-sha384", "10": "pgp-sha512", "11": "pgp-sha224"}
SEVERITY = [SignatureState.NOT_SIGNED, SignatureState.VERIFIED, SignatureState.UNKNOWN_KEY,
            SignatureState.KEY_PROBLEM, SignatureState.ERROR, SignatureState.BAD]


class OperationFailed(Exception):
    """gpg could not do what was asked; ``str()`` says why, in our words (never key material)."""


class Undecryptable(OperationFailed):
    """An encrypted message this organisation cannot open."""


@dataclass
class SignatureCheck:
    state: str = SignatureState.NOT_SIGNED
    fingerprint: str = ""  # the signing key's primary fingerprint, when gpg knew the key
    key_id: str = ""
    key_source: str = ""


@dataclass
class CandidateKeys:
    """Public keys that may have signed a reporter's message: those on file for the report and
    those attached to the message itself."""

    on_file: list[str] = field(default_factory=list)
    attached: list[bytes | str] = field(default_factory=list)


RESULTS = {"GOODSIG", "BADSIG", "ERRSIG", "EXPKEYSIG", "REVKEYSIG", "EXPSIG"}


def signature_from_status(status: list[list[str]]) -> SignatureCheck:
    """The verdict on the signatures in gpg's status lines; with several, the worst counts."""
    checks: list[SignatureCheck] = []
    for keyword, *args in status:
        if keyword == "NEWSIG" or (keyword in RESULTS and not checks):
            checks.append(SignatureCheck(state=SignatureState.ERROR))
        if not checks:
            continue
        current = checks[-1]
        if keyword == "GOODSIG":
            current.state, current.key_id = SignatureState.VERIFIED, args[0]
        elif keyword == "VALIDSIG" and args:
            # The last field is the primary key's fingerprint (the signature may be a subkey's).
            current.fingerprint = args[9] if len(args) >= 10 else args[0]
        elif keyword == "BADSIG":
            current.state, current.key_id = SignatureState.BAD, args[0]
        elif keyword in {"EXPKEYSIG", "REVKEYSIG", "EXPSIG"}:
            current.state, current.key_id = SignatureState.KEY_PROBLEM, args[0]
        elif keyword == "ERRSIG" and args:
            current.key_id = args[0]
            # ERRSIG <keyid> <algo> <hash> <class> <time> <rc> [<fpr>]: rc 9 is "no public key".
            current.state = SignatureState.UNKNOWN_KEY if len(args) > 5 and args[5] == "9" else SignatureState.ERROR
            if len(args) > 6 and args[6] != "-":
                current.fingerprint = args[6]
    if not checks:
        return SignatureCheck()
    return max(checks, key=lambda check: SEVERITY.index(check.state))


# --- the organisation's keys -------------------------------------------------------------------

def organisation_key_rows(organisation_id: int) -> list[OrganisationPgpKey]:
    return list(OrganisationPgpKey.objects.filter(organisation_id=organisation_id).order_by("pk"))


@contextlib.contextmanager
def organisation_gpg(organisation_id: int) -> Iterator[tuple[object, list[OrganisationPgpKey]]]:
    """The organisation's home (current with the database) and its key rows."""
    rows = organisation_key_rows(organisation_id)

    def secrets() -> list[SecretKeyMaterial]:
        return [SecretKeyMaterial(row.pk, row.fingerprint, row.armored_secret, row.passphrase) for row in rows]

    with organisation_home(organisation_id, [(row.pk, row.fingerprint) for row in rows], secrets) as home:
        yield home, rows


def recipients_of(armored: bytes) -> list[str]:
    """The key ids an OpenPGP message is encrypted to (read without any key)."""
    with work_home() as home:
        run = gpg_run(home, ["--list-only", "--decrypt"], data=armored, agent=False)
    return list(dict.fromkeys(words[1].upper() for words in run.status if words[0] == "ENC_TO" and len(words) > 1))


def unwrap(organisation_id: int, armored: bytes) -> bytes:
    """Remove the encryption layer with the organisation's key (raises ``Undecryptable``)."""
    recipients = recipients_of(armored)
    if not recipients:
        raise Undecryptable("The encrypted part is not an OpenPGP message encrypted to a public key "
                            "(damaged, or encrypted with a password).")
    with organisation_gpg(organisation_id) as (home, rows):
        if not rows:
            raise Undecryptable(f"Encrypted to key {', '.join(recipients)}, but this organisation has no OpenPGP "
                                "key in vulndesk yet. Import that key (OpenPGP settings), then open the message again from the quarantine.")
        matching = [row for row in rows if set(row.key_ids.split()) & set(recipients)]
        if not matching:
            raise Undecryptable(f"Encrypted to key {', '.join(recipients)}, which is not one of this organisation's "
                                "keys: the sender used another (or an old) key.")
        for row in matching:
            run = gpg_run(home, ["--output", "-", "--unwrap"], data=armored, passphrase=row.passphrase)
            if run.returncode == 0 and any(words[0] == "DECRYPTION_OKAY" for words in run.status):
                return run.output
    raise Undecryptable("The message is encrypted to this organisation's key but could not be decrypted "
                        "(damaged, or tampered with).")


def sign_detached(organisation_id: int, data: bytes) -> tuple[str, str] | None:
    """(armored detached signature, micalg) by the active key, or None without a usable one (none,
    or expired: the mail then goes encrypted but unsigned rather than not at all)."""
    with organisation_gpg(organisation_id) as (home, rows):
        active = next((row for row in rows if row.state == OrganisationPgpKey.State.ACTIVE and not (
            row.expires_at and row.expires_at <= clock.now())), None)
        if active is None:
            return None
        signed = gpg_for(home, agent=True).sign(data, keyid=active.fingerprint, passphrase=active.passphrase,
                                                 detach=True, clearsign=False, binary=False,
                                                 extra_args=["--digest-algo", "SHA256"])
    if not signed:
        raise OperationFailed(f"The organisation key could not sign ({signed.status}).")
    return str(signed), MICALG.get(str(signed.hash_algo), "pgp-sha256")


# --- work homes: reporters' keys ---------------------------------------------------------------

def _import_candidates(gpg, candidates: CandidateKeys) -> dict[str, str]:
    """Import the candidate keys; returns primary fingerprint -> key source."""
    sources: dict[str, str] = {}
    for source, blocks in ((MessageSecurity.KeySource.ON_FILE, candidates.on_file),
                           (MessageSecurity.KeySource.ATTACHED, candidates.attached)):
        for block in blocks:
            result = gpg.import_keys(block, extra_args=["--import-options", "import-minimal"])
            for fingerprint in result.fingerprints:
                sources.setdefault(fingerprint.upper(), source)
    return sources


def _with_source(check: SignatureCheck, sources: dict[str, str]) -> SignatureCheck:
    check.key_source = sources.get(check.fingerprint.upper(), "") if check.fingerprint else ""
    return check


@dataclass
class Opened:
    plaintext: bytes
    signature: SignatureCheck


def open_packets(data: bytes, candidates: CandidateKeys) -> Opened:
    """The plaintext of unwrapped (or signed, or clear-signed) OpenPGP data, and its signature
    checked against the candidate keys. Raises ``Undecryptable`` when no plaintext comes out."""
    with work_home() as home:
        gpg = gpg_for(home)
        sources = _import_candidates(gpg, candidates)
        result = gpg.decrypt(data)
    status = status_lines(result.stderr or "")
    if not any(words[0] == "PLAINTEXT" for words in status):
        raise Undecryptable("The decrypted data could not be read (damaged, or larger than allowed once "
                            "decompressed).")
    if _over_output_limit(result.data, status):
        raise Undecryptable(f"The decrypted data is larger than allowed once decompressed (more than "
                            f"{settings.PGP_MAX_OUTPUT_BYTES / (1024 * 1024):g} MB); it was not read. The original "
                            "message is kept.")
    return Opened(result.data, _with_source(signature_from_status(status), sources))


def _over_output_limit(plaintext: bytes, status: list[list[str]]) -> bool:
    """gpg stops writing at ``--max-output`` but still says PLAINTEXT and DECRYPTION_OKAY: the cut
    is seen only in the length (what came out reached the limit, or what the literal packet
    announced exceeds it). A cut plaintext must never be filed as if it were the whole."""
    limit = settings.PGP_MAX_OUTPUT_BYTES
    announced = [int(words[1]) for words in status if words[0] == "PLAINTEXT_LENGTH" and len(words) > 1
                 and words[1].isdigit()]
    return len(plaintext) >= limit or any(length > limit for length in announced)


def verify_detached(data: bytes, signature: bytes, candidates: CandidateKeys) -> SignatureCheck:
    with work_home() as home:
        gpg = gpg_for(home)
        sources = _import_candidates(gpg, candidates)
        signature_path = home / "signature.asc"
        signature_path.write_bytes(signature)
        result = gpg.verify_data(str(signature_path), data)
    check = signature_from_status(status_lines(result.stderr or ""))
    if check.state == SignatureState.NOT_SIGNED:  # a signature part gpg found nothing in
        check.state = SignatureState.ERROR
    return _with_source(check, sources)


def encrypt_to(data: bytes, public_keys: list[str]) -> str:
    """Armored OpenPGP message of ``data`` for every key in ``public_keys`` (armored)."""
    with work_home() as home:
        gpg = gpg_for(home)
        fingerprints: list[str] = []
        for block in public_keys:
            fingerprints += gpg.import_keys(block, extra_args=["--import-options", "import-minimal"]).fingerprints
        encrypted = gpg.encrypt(data, list(dict.fromkeys(fingerprints)), always_trust=True, armor=True)
    if not encrypted.ok:
        raise OperationFailed(f"Encryption failed ({encrypted.status}).")
    return str(encrypted)
