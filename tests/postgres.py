"""A throw-away PostgreSQL cluster for running the test suite on the production database.

Production runs on PostgreSQL (``DATABASE_URL=postgres://...``); the suite runs on it as well as
on SQLite. This module starts a real PostgreSQL server (Debian's ``postgresql`` package,
``scripts/setup.sh --browser`` installs it) the way ``tests/mailintake/dovecot.py`` starts
dovecot: ``initdb`` into a temp dir, a server on loopback on a free port (and a unix socket in the
same dir), trust authentication for one superuser, stopped and deleted at the end.

Run a command against it::

    .venv/bin/python -m tests.postgres -- .venv/bin/pytest -n 2

The command gets ``DATABASE_URL`` pointing at the cluster; pytest-django then creates one
``test_vulndesk[_gwN]`` database per xdist worker and drops it afterwards. The exit status is the
command's.

PostgreSQL refuses to run as root (CI runs as root): then the cluster belongs to and runs as
Debian's ``postgres`` system user (made by the package) via ``runuser``; as any other user it
runs as that user. Durability is switched off (``fsync``, ``synchronous_commit``,
``full_page_writes``): the cluster lives only as long as the test run, and nothing is lost that a
test could observe, because a crash ends the run anyway.
"""

import argparse
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

USER = "vulndesk"
DATABASE = "vulndesk"
SYSTEM_USER_AS_ROOT = "postgres"


class ClusterError(RuntimeError):
    """The cluster could not be set up or started; the message says what to install or read."""


def server_binaries() -> Path:
    """The directory with ``initdb`` and ``pg_ctl``: Debian keeps them out of PATH, under
    /usr/lib/postgresql/<version>/bin (the newest installed version wins); PATH is the fallback
    for other systems."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0)
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    raise ClusterError("PostgreSQL's initdb/pg_ctl not found: install Debian's 'postgresql' package "
                       "(bash scripts/setup.sh --browser does).")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_cluster_owner(argv: list[str]) -> list[str]:
    """argv run as the cluster's owner: ourselves, or the ``postgres`` user when we are root."""
    if os.geteuid() != 0:
        return argv
    try:
        pwd.getpwnam(SYSTEM_USER_AS_ROOT)
    except KeyError:
        raise ClusterError(f"running as root, PostgreSQL needs an unprivileged user: no '{SYSTEM_USER_AS_ROOT}' "
                           "user (Debian's postgresql package creates it).") from None
    # runuser lives in /usr/sbin (util-linux), which a root PATH may lack.
    runuser = shutil.which("runuser") or next((path for path in ("/usr/sbin/runuser", "/sbin/runuser")
                                               if os.access(path, os.X_OK)), None)
    if runuser is None:
        raise ClusterError("running as root, PostgreSQL must run as another user, and runuser (util-linux) "
                           "was not found.")
    return [runuser, "-u", SYSTEM_USER_AS_ROOT, "--", *argv]


def _run(argv: list[str], log: Path) -> None:
    with log.open("ab") as out:
        result = subprocess.run(_as_cluster_owner(argv), stdout=out, stderr=subprocess.STDOUT,  # noqa: S603
                                stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        raise ClusterError(f"{Path(argv[0]).name} failed ({result.returncode}):\n{log.read_text(errors='replace')[-3000:]}")


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a fresh cluster; yield its ``DATABASE_URL``; stop it and delete every file of it."""
    binaries = server_binaries()
    root = Path(tempfile.mkdtemp(prefix="vulndesk-pg-"))
    data, log = root / "data", root / "setup.log"
    try:
        if os.geteuid() == 0:
            owner = pwd.getpwnam(SYSTEM_USER_AS_ROOT)
            os.chown(root, owner.pw_uid, owner.pw_gid)
        _run([str(binaries / "initdb"), "--pgdata", str(data), "--username", USER, "--auth", "trust",
              "--encoding", "UTF8", "--locale", "C.UTF-8", "--no-sync"], log)
        port = _free_port()
        options = " ".join([
            f"-p {port}", "-c listen_addresses=127.0.0.1", f"-c unix_socket_directories={root}",
            "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
            # Each xdist worker holds a connection per live-server thread and per test database.
            "-c max_connections=200", "-c timezone=UTC",
        ])
        _run([str(binaries / "pg_ctl"), "start", "--pgdata", str(data), "--wait", "--timeout", "60",
              "--log", str(root / "server.log"), "-o", options], log)
        try:
            url = f"postgres://{USER}@127.0.0.1:{port}/{DATABASE}"
            _wait_until_accepting(url)
            yield url
        finally:
            with contextlib.suppress(ClusterError):
                _run([str(binaries / "pg_ctl"), "stop", "--pgdata", str(data), "--mode", "fast", "--wait"], log)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _wait_until_accepting(url: str, timeout: float = 30.0) -> None:
    """pg_ctl --wait returns when the server is up; make sure the server answers on TCP and that
    the database the suite names exists (pytest-django connects to it before creating test_*)."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
                exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone()
                if not exists:
                    connection.execute(f'CREATE DATABASE "{DATABASE}"')
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.postgres",
        description="Start a throw-away PostgreSQL cluster on loopback, run COMMAND with DATABASE_URL "
                    "pointing at it, then stop the cluster and delete it. Exits with COMMAND's status.",
        epilog="Example: .venv/bin/python -m tests.postgres -- .venv/bin/pytest -n 2 tests/reports")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run (after --)")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    # A CI timeout or a Ctrl-C ends us with a signal: unwind so the cluster is stopped and deleted.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        with throwaway_cluster() as url:
            print(f"==> PostgreSQL test cluster up at {url}", flush=True)
            return subprocess.run(command, env={**os.environ, "DATABASE_URL": url}, check=False).returncode  # noqa: S603
    except ClusterError as error:
        print(f"tests.postgres: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
