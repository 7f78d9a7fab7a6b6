"""OpenPGP keys: check a key someone gave us, generate the organisation's key pair, import one.

Every check runs gpg in a throw-away work home (``keyring.work_home``), so a key that is refused
leaves nothing behind. The rules (messages are shown to the person who gave the key):

* a reporter's key is one public key (RFC 4880 transferable public key, ASCII-armored), not a
  secret key, not expired or revoked, able to encrypt, of a sound size (RSA/DSA at least 2048
  bits), and at most ``PGP_PUBLIC_KEY_MAX_BYTES`` long; it is stored minimal (third-party
  signatures dropped), so a "key" cannot smuggle megabytes of certifications;
* the organisation's key is one secret key whose secret parts are present (not a stub for a
  smartcard), unexpired, able to sign and to encrypt.

Passphrase strategy: whatever passphrase an imported key had, it is re-protected with a fresh
random 256-bit passphrase before it is exported for storage; generated keys get one from the
start. The database keeps the protected export and the passphrase, both sealed with the
organisation's data key (``OrganisationPgpKey.sealed_secret``); the keyring cache on disk holds
the key only under that passphrase. Nobody ever types it: staff never need it, and an
organisation that wants its key elsewhere exports it from its own copy.
"""

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings

from vulndesk.core import clock
from vulndesk.core.errors import DomainError
from vulndesk.pgp.keyring import agent_stop, gpg_for, gpg_run, work_home

PUBLIC_BLOCK = re.compile(r"-----BEGIN PGP PUBLIC KEY BLOCK-----.*?-----END PGP PUBLIC KEY BLOCK-----", re.S)
SECRET_BLOCK = re.compile(r"-----BEGIN PGP PRIVATE KEY BLOCK-----.*?-----END PGP PRIVATE KEY BLOCK-----", re.S)
# Public-key algorithm ids (RFC 4880 section 9.1, RFC 6637, draft-ietf-openpgp-crypto-refresh).
ALGORITHMS = {"1": "rsa", "2": "rsa", "3": "rsa", "16": "elgamal", "17": "dsa", "18": "ecdh", "19": "ecdsa",
              "22": "eddsa"}
MIN_FACTORING_BITS = 2048  # RSA, DSA, ElGamal below this are refused (NIST SP 800-131A)
INVALID_VALIDITY = {"e": "has expired", "r": "has been revoked", "i": "is invalid", "d": "is disabled"}


class KeyRefused(DomainError):
    """The key cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class PublicKeyInfo:
    fingerprint: str
    user_ids: list[str]
    algorithm: str  # e.g. "ed25519 + cv25519", "rsa4096"
    created_at: datetime
    expires_at: datetime | None
    key_ids: list[str]  # the primary key's and every subkey's 16-hex id (mail names keys by these)
    armored: str  # minimal export: the key, its user IDs and self-signatures only

    @property
    def user_id(self) -> str:
        return self.user_ids[0] if self.user_ids else ""


@dataclass(frozen=True)
class KeyPair:
    public: PublicKeyInfo
    armored_secret: str = field(repr=False)  # protected with ``passphrase``
    passphrase: str = field(repr=False)


def _timestamp(value: str) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value and value.isdigit() else None


def _bits_name(entry: dict) -> str:
    algorithm = ALGORITHMS.get(entry.get("algo", ""), f"algorithm {entry.get('algo', '?')}")
    curve = entry.get("curve") or ""
    return curve if curve else f"{algorithm}{entry.get('length', '')}"


def describe(listing: dict, armored: str) -> PublicKeyInfo:
    """A python-gnupg key listing as our record."""
    subkeys = list((listing.get("subkey_info") or {}).values())
    names = list(dict.fromkeys([_bits_name(listing), *(_bits_name(s) for s in subkeys)]))
    return PublicKeyInfo(
        fingerprint=listing["fingerprint"].upper(), user_ids=[uid[:300] for uid in listing.get("uids", [])][:20],
        algorithm=" + ".join(names)[:60], created_at=_timestamp(listing.get("date", "")) or clock.now(),
        expires_at=_timestamp(listing.get("expires", "")),
        key_ids=[listing["keyid"].upper(), *(s["keyid"].upper() for s in subkeys)], armored=armored,
    )


def _usable(listing: dict, *, what: str, needs: str) -> None:
    """Refuse an expired, revoked or weak key, or one without the capabilities ``needs``
    (gpg's upper-case capability letters: usable by the key as a whole, e.g. "E", "S")."""
    validity = listing.get("trust", "")
    expires = _timestamp(listing.get("expires", ""))
    if expires is not None and (expires <= clock.now() or validity == "e"):
        raise KeyRefused(f"This {what} expired on {expires:%d %b %Y}. Extend it (gpg --quick-set-expire) or give a "
                         "current key.")
    if validity in INVALID_VALIDITY:
        raise KeyRefused(f"This {what} {INVALID_VALIDITY[validity]}. Give a current key.")
    for entry in [listing, *(listing.get("subkey_info") or {}).values()]:
        algorithm = ALGORITHMS.get(entry.get("algo", ""))
        length = int(entry.get("length") or 0)
        if algorithm in {"rsa", "dsa", "elgamal"} and length < MIN_FACTORING_BITS:
            raise KeyRefused(f"This {what} uses {algorithm.upper()} with {length} bits, which is too weak today. "
                             "Give a key of at least 2048 bits, or better an ed25519/cv25519 key.")
    capabilities = listing.get("cap", "")
    if "E" in needs and "E" not in capabilities:
        raise KeyRefused(f"This {what} cannot encrypt (it has no valid encryption subkey). Add one "
                         "(gpg --quick-add-key <fingerprint> cv25519 encr) or give another key.")
    if "S" in needs and "S" not in capabilities:
        raise KeyRefused(f"This {what} cannot sign (it has no valid signing key).")


def _single_block(text: str, *, limit: int, block: re.Pattern, what: str) -> str:
    if len(text.encode("utf-8", "replace")) > limit:
        raise KeyRefused(f"This {what} is too long (at most {limit // 1024} KiB). Export it without third-party "
                         "signatures (gpg --export --export-options export-minimal --armor).")
    blocks = block.findall(text)
    if not blocks:
        raise KeyRefused(f"This is not an ASCII-armored OpenPGP {what}: it must start with the line "
                         f"{block.pattern.split('.*?')[0]}.")
    if len(blocks) > 1:
        raise KeyRefused(f"Give exactly one {what}; this text holds {len(blocks)} key blocks.")
    return blocks[0]


# --- a reporter's public key -------------------------------------------------------------------

def public_key_inspect(text: str) -> PublicKeyInfo:
    """Check a public key someone gave us (form field, mail attachment, key block in a mail)."""
    text = (text or "").strip()
    if SECRET_BLOCK.search(text) or "BEGIN PGP PRIVATE KEY BLOCK" in text:
        raise KeyRefused("This is a private (secret) key. Never send it to anyone: give your public key "
                         "(gpg --export --armor <your e-mail>).")
    armored = _single_block(text, limit=settings.PGP_PUBLIC_KEY_MAX_BYTES, block=PUBLIC_BLOCK, what="public key")
    with work_home() as home:
        gpg = gpg_for(home)
        result = gpg.import_keys(armored, extra_args=["--import-options", "import-minimal"])
        if result.sec_read or result.sec_imported:
            raise KeyRefused("This block holds a secret key. Give the public key only.")
        listings = gpg.list_keys()
        if not listings:
            raise KeyRefused("This key block could not be read as an OpenPGP public key (damaged or incomplete "
                             "armor?). Export it again and paste the whole block.")
        if len(listings) > 1:
            raise KeyRefused(f"Give exactly one public key; this block holds {len(listings)} keys.")
        _usable(listings[0], what="key", needs="E")
        fingerprint = listings[0]["fingerprint"]
        minimal = gpg.export_keys(fingerprint, minimal=True, armor=True)
        return describe(listings[0], minimal)


# --- the organisation's key pair -----------------------------------------------------------------

def _new_passphrase() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def _export_pair(gpg, fingerprint: str, passphrase: str) -> KeyPair:
    listing = next(key for key in gpg.list_keys() if key["fingerprint"] == fingerprint)
    public = gpg.export_keys(fingerprint, minimal=True, armor=True)
    secret = gpg.export_keys(fingerprint, secret=True, armor=True, passphrase=passphrase)
    if "PRIVATE KEY BLOCK" not in secret:
        raise KeyRefused("The secret key could not be exported from the key check (gpg refused it).")
    return KeyPair(public=describe(listing, public), armored_secret=secret, passphrase=passphrase)


def _header_text(value: str, limit: int) -> str:
    # gpg's batch parameters are "Name: value" lines: a line break would start a parameter of its own.
    return " ".join("".join(c if c.isprintable() else " " for c in value).split())[:limit]


def key_pair_generate(*, name: str, email: str = "", years: int = 2) -> KeyPair:
    """A new ed25519 (signing, certifying) + cv25519 (encryption) key pair, valid ``years``."""
    passphrase = _new_passphrase()
    parameters = ["Key-Type: eddsa", "Key-Curve: ed25519", "Key-Usage: sign", "Subkey-Type: ecdh",
                  "Subkey-Curve: cv25519", "Subkey-Usage: encrypt", f"Name-Real: {_header_text(name, 100)}"]
    if email:
        parameters.append(f"Name-Email: {_header_text(email, 254)}")
    parameters += [f"Expire-Date: {int(years)}y" if years else "Expire-Date: 0", f"Passphrase: {passphrase}",
                   "%commit", ""]
    with work_home(agent=True) as home:
        gpg = gpg_for(home, agent=True)
        generated = gpg.gen_key("\n".join(parameters))
        if not generated.fingerprint:
            raise KeyRefused("gpg could not generate the key pair. Check the name and e-mail address.")
        return _export_pair(gpg, generated.fingerprint, passphrase)


def _can_sign(gpg, fingerprint: str, passphrase: str | None) -> bool:
    return bool(gpg.sign(b"vulndesk key check", keyid=fingerprint, passphrase=passphrase, detach=True))


def secret_key_import(*, text: str, passphrase: str = "") -> KeyPair:
    """Check an armored secret key (and the passphrase that opens it, if any) and re-protect it
    with a fresh random passphrase for storage."""
    text = (text or "").strip()
    if PUBLIC_BLOCK.search(text) and not SECRET_BLOCK.search(text):
        raise KeyRefused("This is a public key. Import the secret key (gpg --export-secret-keys --armor "
                         "<fingerprint>); the public key is derived from it.")
    armored = _single_block(text, limit=settings.PGP_SECRET_KEY_MAX_BYTES, block=SECRET_BLOCK, what="secret key")
    with work_home(agent=True) as home:
        gpg = gpg_for(home, agent=True)
        result = gpg.import_keys(armored, passphrase=passphrase or None)
        secret_listings = gpg.list_keys(secret=True)
        if not result.sec_imported or not secret_listings:
            raise KeyRefused("This key block could not be imported as an OpenPGP secret key (damaged, incomplete, "
                             "or the passphrase is wrong).")
        if len(secret_listings) > 1:
            raise KeyRefused(f"Give exactly one secret key; this block holds {len(secret_listings)}.")
        public_listing = gpg.list_keys()[0]
        _usable(public_listing, what="key", needs="ES")
        secret = secret_listings[0]
        fingerprint = secret["fingerprint"]
        parts = [secret, *(secret.get("subkey_info") or {}).values()]
        if not any("e" in p.get("cap", "") and p.get("token") == "+" and p.get("trust") not in INVALID_VALIDITY
                   for p in parts[1:]):
            raise KeyRefused("The secret part of the encryption subkey is missing (is it on a smartcard?). Import a "
                             "key whose secret subkeys are all present.")
        if not any("s" in p.get("cap", "") and p.get("token") == "+" for p in parts):
            raise KeyRefused("The secret part of the signing key is missing (is it on a smartcard?).")
        if not _can_sign(gpg, fingerprint, passphrase or None):
            raise KeyRefused("The passphrase does not open this key. Type the key's passphrase (or leave it empty "
                             "for a key without one).", field="passphrase")
        protected = _reprotect(home, gpg, fingerprint, old=passphrase)
        return _export_pair(gpg, fingerprint, protected)


def _reprotect(home, gpg, fingerprint: str, *, old: str) -> str:
    """Give every secret part of the key a fresh random passphrase (``gpg --passwd``; gpg asks
    for the old passphrase when there is one, then the new one per part) and prove it took:
    the new passphrase signs and decrypts, and a wrong one does not."""
    new = _new_passphrase()
    answers = ([old] if old else []) + [new, new, new]
    gpg_run(home, ["--command-fd", "0", "--passwd", fingerprint], data="\n".join(answers).encode() + b"\n")
    agent_stop(home)  # forget every cached passphrase before checking
    probe = gpg.encrypt(b"vulndesk key check", [fingerprint], always_trust=True, armor=True)
    opened = gpg.decrypt(probe.data, passphrase=new) if probe.ok else None
    agent_stop(home)
    refused_wrong = not _can_sign(gpg, fingerprint, _new_passphrase())
    agent_stop(home)
    if not (opened is not None and opened.ok and refused_wrong and _can_sign(gpg, fingerprint, new)):
        raise KeyRefused("vulndesk could not re-protect this key for storage. If its subkeys have different "
                         "passphrases, give them one passphrase first (gpg --passwd).")
    return new
