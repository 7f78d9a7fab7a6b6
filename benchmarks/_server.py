"""Start and stop vulndesk under gunicorn for the benchmark scripts, and read the CPU time of its
processes. One copy of what ``vulndesk serve`` does (keep ``start_gunicorn`` in step with
``core/management/commands/serve.py``), shared by bench_reports.py and bench_osv.py.

Import it before changing ``os.environ``: the server gets the caller's environment as it was
at start (``SERVER_ENVIRON``), plus the overrides a script passes.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SERVER_ENVIRON = dict(os.environ)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children_of(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def start_gunicorn(data_dir: Path, port: int, *, workers: int = 2, threads: int = 4,
                   wsgi: str = "vulndesk.wsgi:application", env: dict[str, str] | None = None,
                   timeout: float = 60.0) -> subprocess.Popen:
    """gunicorn on 127.0.0.1:``port`` serving ``data_dir``, as ``vulndesk serve`` starts it
    (gthread workers, no gunicorn access log: the app writes a redacted one). Returns once
    /healthz answers and every worker has booted; the log goes to ``data_dir/gunicorn.log``."""
    environment = dict(SERVER_ENVIRON, VULNDESK_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="vulndesk.settings")
    for name in ("DATABASE_URL", "VULNDESK_ENV", "DEBUG"):
        environment.pop(name, None)
    environment.update(env or {})
    logfile = open(data_dir / "gunicorn.log", "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", wsgi, "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--threads", str(threads), "--log-level", "warning"],
        env=environment, stdout=logfile, stderr=subprocess.STDOUT, cwd=data_dir, start_new_session=True,
    )
    process.logfile = logfile
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            logfile.close()
            raise RuntimeError(f"gunicorn exited with {process.returncode}; see {data_dir / 'gunicorn.log'}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            answered = connection.getresponse().status == 200
            connection.close()
        except OSError:
            answered = False
        if answered:
            # Each worker imports Django on its own: wait until all have booted.
            while len(children_of(process.pid)) < workers and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)
            return process
        time.sleep(0.2)
    stop_gunicorn(process)
    raise RuntimeError(f"gunicorn did not answer /healthz within {timeout:.0f} s")


def stop_gunicorn(process: subprocess.Popen | None) -> None:
    """SIGTERM (gunicorn's graceful stop), then SIGKILL after 20 s; closes the log."""
    if process is None:
        return
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    logfile = getattr(process, "logfile", None)
    if logfile is not None and not logfile.closed:
        logfile.close()
