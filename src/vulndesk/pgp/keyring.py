"""Where gpg runs: one GNUPGHOME per organisation, and short-lived work homes.

* **Organisation home** (``<PGP_HOME>/<organisation id>/``, mode 0700): the organisation's secret
  keys (active and retired, so mail encrypted to a retired key still opens), held by that home's
  own gpg-agent. It is a *cache*: the database is the source of truth (``OrganisationPgpKey``
  rows hold the sealed keys). A marker file names the rows the home was built from; when it
  differs from the database (a key added or retired elsewhere, a restored backup, a reused id
  in a test database) the home is wiped and rebuilt under an exclusive lock. Operations hold a
  shared lock, so a rebuild never pulls a home from under a running gpg. Homes of different
  organisations share nothing (tenant isolation: a decryption can only ever use one
  organisation's keys).
* **Work homes** (``<PGP_HOME>/w/<random>/``): throw-away homes for everything that touches
  keys sent by strangers (checking a reporter's key, verifying a signature, encrypting to a
  reporter). Hostile key material never enters an organisation home, and these homes run with
  ``--no-autostart`` (no agent) unless they hold a secret key being generated or imported.

Passphrases: every secret key in a home is protected by a random 256-bit passphrase that exists
only sealed in the database (see ``pgp.keys``). A copy of the data directory alone therefore
opens no key. Because the passphrase has full entropy, key stretching buys nothing, so agents
use the smallest S2K count: each operation costs milliseconds, not the default ~100 ms.

gpg never reaches the network (``--disable-dirmngr``, no key retrieval), runs with ``--batch``
and ``--pinentry-mode loopback`` (passphrases on a pipe, never a prompt), and decompresses at most
``PGP_MAX_OUTPUT_BYTES`` (a compressed "bomb" stops there).
"""

import contextlib
import copy
import fcntl
import hashlib
import logging
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import gnupg
from django.conf import settings

logger = logging.getLogger(__name__)

MARKER = "vulndesk-keyring"
AGENT_CONF = (
    "# Written by vulndesk. Passphrases are random 256-bit strings: stretching adds nothing.\n"
    "s2k-count 65536\n"
    "allow-loopback-pinentry\n"
)
GPG_TIMEOUT_SECONDS = 60


def home_root() -> Path:
    return Path(settings.PGP_HOME)


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)  # gpg refuses (or warns about) homes others can read
    return path


def _options(*, agent: bool) -> list[str]:
    options = ["--trust-model", "always",  # trust is decided by us, by fingerprint, not by a web of trust
               "--no-auto-key-retrieve", "--no-auto-key-import", "--no-auto-key-locate", "--disable-dirmngr",
               "--no-greeting", "--no-permission-warning", "--max-output", str(settings.PGP_MAX_OUTPUT_BYTES),
               "--pinentry-mode", "loopback"]
    if not agent:
        options.append("--no-autostart")
    return options


_base: gnupg.GPG | None = None


def gpg_for(home: Path, *, agent: bool = False, keyring: list[Path] | None = None) -> gnupg.GPG:
    """A python-gnupg handle on ``home``. python-gnupg runs ``gpg --list-config`` in its
    constructor; one probe instance is made per process and copied for each home instead."""
    global _base
    if _base is None:
        probe = _private_dir(home_root() / "probe")
        _base = gnupg.GPG(gpgbinary=settings.PGP_GPG_BINARY, gnupghome=str(probe), options=_options(agent=False))
    handle = copy.copy(_base)
    handle.gnupghome = str(home)
    handle.options = _options(agent=agent)
    handle.keyring = [str(path) for path in keyring] if keyring else None
    handle.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    return handle


@dataclass(frozen=True)
class GpgRun:
    returncode: int
    output: bytes
    status: list[list[str]]  # "[GNUPG:] KEYWORD args" lines, split


def gpg_run(home: Path, args: list[str], *, data: bytes = b"", passphrase: str | None = None,
            agent: bool = True) -> GpgRun:
    """Run gpg directly, for the two commands python-gnupg does not offer (``--unwrap`` and
    ``--passwd``). No shell; the passphrase travels first on stdin (``--passphrase-fd 0``)."""
    command = [settings.PGP_GPG_BINARY, "--homedir", str(home), "--batch", "--no-tty", "--status-fd", "2",
               *_options(agent=agent)]
    stdin = data
    if passphrase is not None:
        command += ["--passphrase-fd", "0"]
        stdin = passphrase.encode() + b"\n" + data
    # No shell, a fixed binary from settings, arguments built here: nothing of the mail is executed.
    completed = subprocess.run([*command, *args], input=stdin, capture_output=True,  # noqa: S603
                               timeout=GPG_TIMEOUT_SECONDS, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}, check=False)
    return GpgRun(completed.returncode, completed.stdout, status_lines(completed.stderr.decode("latin-1")))


def status_lines(stderr: str) -> list[list[str]]:
    """gpg's machine-readable status lines (``--status-fd``), each split into words."""
    return [line[9:].split() for line in stderr.splitlines() if line.startswith("[GNUPG:] ")]


def agent_stop(home: Path) -> None:
    """Stop the gpg-agent of a home, if one runs. Asked of gpgconf rather than guessed from a
    socket file: with /run/user/<uid> present, gpg puts the sockets there instead."""
    if not home.is_dir():
        return
    gpgconf = str(Path(settings.PGP_GPG_BINARY).with_name("gpgconf")) if "/" in settings.PGP_GPG_BINARY else "gpgconf"
    subprocess.run([gpgconf, "--homedir", str(home), "--kill", "gpg-agent"],  # noqa: S603,S607 (gnupg's own tool)
                   capture_output=True, timeout=GPG_TIMEOUT_SECONDS, check=False)


def agents_stop_all() -> None:
    """Stop every agent under the root (test teardown, and ``serve`` shutdown if wanted)."""
    root = home_root()
    if not root.is_dir():
        return
    for home in [*root.iterdir(), *(root / "w").glob("*")]:
        if home.is_dir() and home.name not in {"w", "locks", "probe"}:
            agent_stop(home)


# --- work homes -----------------------------------------------------------------------------

@contextlib.contextmanager
def work_home(*, agent: bool = False) -> Iterator[Path]:
    """A fresh, private, empty GNUPGHOME, removed afterwards (with its agent, if it started one).
    Names are short on purpose: the agent's socket path must stay under ~100 bytes."""
    home = _private_dir(home_root() / "w" / secrets.token_hex(4))
    try:
        if agent:
            (home / "gpg-agent.conf").write_text(AGENT_CONF)
        yield home
    finally:
        if agent:  # the others run with --no-autostart: no agent to stop
            agent_stop(home)
        shutil.rmtree(home, ignore_errors=True)


# --- organisation homes ----------------------------------------------------------------------

@dataclass(frozen=True)
class SecretKeyMaterial:
    row_id: int
    fingerprint: str
    armored_secret: str
    passphrase: str = field(repr=False)


def _marker(organisation_id: int, rows: list[tuple[int, str]]) -> str:
    listing = ",".join(f"{row_id}:{fingerprint}" for row_id, fingerprint in sorted(rows))
    return hashlib.sha256(f"vulndesk keyring v1|{organisation_id}|{listing}".encode()).hexdigest()


@contextlib.contextmanager
def _locked(organisation_id: int, mode: int) -> Iterator[None]:
    lock_path = _private_dir(home_root() / "locks") / f"{organisation_id}.lock"
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, mode)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def organisation_home(organisation_id: int, rows: list[tuple[int, str]],
                      load_secrets: Callable[[], list[SecretKeyMaterial]]) -> Iterator[Path]:
    """The organisation's home, current with ``rows`` ((row id, fingerprint) of every stored
    key), held under a shared lock for the caller's gpg calls. ``load_secrets`` is called only
    when the home must be (re)built, so the sealed keys are opened only then."""
    home = home_root() / str(int(organisation_id))
    expected = _marker(organisation_id, rows)
    while True:
        with _locked(organisation_id, fcntl.LOCK_SH):
            if _marker_of(home) == expected:
                yield home
                return
        with _locked(organisation_id, fcntl.LOCK_EX):
            if _marker_of(home) != expected:
                _rebuild(home, expected, load_secrets())


def _marker_of(home: Path) -> str:
    try:
        return (home / MARKER).read_text().strip()
    except OSError:
        return ""


class KeyringError(Exception):
    """gpg could not do what was asked; the message is ours and names no secret."""


def _rebuild(home: Path, marker: str, keys: list[SecretKeyMaterial]) -> None:
    agent_stop(home)
    shutil.rmtree(home, ignore_errors=True)
    _private_dir(home)
    (home / "gpg-agent.conf").write_text(AGENT_CONF)
    gpg = gpg_for(home, agent=True)
    for key in keys:
        result = gpg.import_keys(key.armored_secret, passphrase=key.passphrase)
        if not result.sec_imported:
            raise KeyringError(f"key row {key.row_id} could not be imported into the organisation keyring")
    (home / MARKER).write_text(marker + "\n")
    logger.info("OpenPGP keyring of organisation %s rebuilt with %s key(s)", home.name, len(keys))
