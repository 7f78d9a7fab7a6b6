#!/usr/bin/env python
"""Benchmark the mail intake: messages stored and acknowledged per second, through real SMTP on
loopback, and the peak memory of the processes doing it.

One command builds its own data in a fresh temporary data directory (SQLite, WAL) and runs the
pieces as ``vulndesk serve`` runs them, each its own process: ``vulndesk smtpd`` (the intake
server), ``vulndesk db_worker`` (processing and acknowledgements, on the database task queue).
The benchmark itself is the sending side (``smtplib`` clients in threads) and the reporters'
mailbox (an aiosmtpd sink that counts the acknowledgements).

Phases (each message from its own sender, per-sender and per-IP limits lifted for the run):

* ``plain``: N plain-text reports. Target: >= 100 messages/s on 2 cores.
* ``mixed``: N messages of mixed shapes: 20 % HTML-only, 10 % with a 1 MB attachment (a log file,
  checked by content like a web upload), ``--pgp-percent`` (default 10 %) PGP/MIME, the rest plain.
  A PGP message is what Thunderbird sends: encrypted to the organisation's key and signed by the
  reporter (RFC 3156 sections 4 and 6.2), the reporter's public key attached inside; every third
  one is inline PGP instead. vulndesk decrypts it, checks the signature, keeps the key and
  answers with an acknowledgement encrypted to it; the sink counts those separately.
* ``big``: a few messages near the size limit, to show that memory follows the size limit, not
  the number of messages.

"Stored" is the client's view: the SMTP transaction answered 250 (the message is on disk and
its processing task is queued). "Acknowledged" is the reporter's: the acknowledgement arrived
in the sink. Peak memory is each process's VmHWM (peak RSS) from /proc.

It is a measurement, not a test: it exits 0 whatever the figures (non-zero only when it could
not run). Examples::

    .venv/bin/python benchmarks/bench_mail.py                   # 1,000 plain + 1,000 mixed
    .venv/bin/python benchmarks/bench_mail.py --messages 300 --clients 4 --workers 2
    .venv/bin/python benchmarks/bench_mail.py --help
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import signal
import smtplib
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLAIN_TARGET_PER_S = 100.0
DOMAIN = "bench.example"
SETUP = """
import django
django.setup()
from vulndesk.accounts.services import user_create
from vulndesk.mailintake.services import intake_address_add
from vulndesk.organisations.services import membership_add, organisation_create
from vulndesk.products.services import product_create

organisation = organisation_create(name="Bench", slug="bench", reference_prefix="BENCH", time_zone="Europe/Oslo",
                                   holiday_country="NO")
product = product_create(organisation=organisation, name="Bench Web", slug="web")
user, _ = user_create(email="owner@bench.example", name="Owner", password="Tangerine-Walrus-Oboe-Quilt-7731")
owner = membership_add(organisation=organisation, user=user, role="owner")
intake_address_add(actor=owner, local_part="security", domain="{domain}", product=product)

import os
from pathlib import Path
from vulndesk.pgp.services import organisation_key_generate
key = organisation_key_generate(organisation=organisation, actor=owner, name="Bench security team",
                                email="security@{domain}", years=1)
Path(os.environ["VULNDESK_DATA_DIR"], "organisation-key.asc").write_text(key.public_key)
""".replace("{domain}", DOMAIN)


def log(message: str) -> None:
    print(message, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory_of(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) in KiB."""
    values = {"VmRSS": 0, "VmHWM": 0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in values:
                values[name] = int(rest.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return values


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (load-independent, unlike wall time), with its
    finished children's (the gpg runs of OpenPGP mail; gpg-agent is a daemon and not counted)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def wait_until_idle(pids: list[int], timeout: float = 60.0) -> float:
    """Wait until the workers have started (Django set up, polling an empty queue): their CPU
    time grows by less than 20 ms in 0.5 s. Their start-up is not a cost per message; what
    they first import when the first message comes is, and stays counted."""
    begin = time.monotonic()
    before = [cpu_seconds(pid) for pid in pids]
    while time.monotonic() - begin < timeout:
        time.sleep(0.5)
        after = [cpu_seconds(pid) for pid in pids]
        if all(new - old < 0.02 for old, new in zip(before, after, strict=True)) and time.monotonic() - begin >= 1.0:
            break
        before = after
    return time.monotonic() - begin


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Sink:
    """The reporters' mailbox: counts acknowledgements, keeps nothing else."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.count = 0
        self.encrypted = 0
        self.lock = threading.Lock()
        self.last_at = 0.0
        self.port = free_port()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                if b"Auto-Submitted: auto-replied" in envelope.content:
                    with sink.lock:
                        sink.count += 1
                        sink.encrypted += b"multipart/encrypted" in envelope.content[:4096]
                        sink.last_at = time.perf_counter()
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, server_hostname="sink.local")

    def wait_for(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.count >= count:
                    return True
            time.sleep(0.02)
        return False


class Reporters:
    """The reporters' mail program for PGP messages: a few key pairs in their own GNUPGHOME
    (python-gnupg on the real gpg), the organisation's public key imported."""

    def __init__(self, organisation_key: str, count: int = 4):
        import gnupg

        self.home = Path(tempfile.mkdtemp(prefix="vd-bench-rep-"))
        self.home.chmod(0o700)
        self.gpg = gnupg.GPG(gnupghome=str(self.home), options=["--trust-model", "always"])
        self.organisation = self.gpg.import_keys(organisation_key).fingerprints[0]
        self.keys = []
        for n in range(count):
            fingerprint = self.gpg.gen_key(
                "Key-Type: eddsa\nKey-Curve: ed25519\nKey-Usage: sign\nSubkey-Type: ecdh\nSubkey-Curve: cv25519\n"
                f"Subkey-Usage: encrypt\nName-Real: Bench Reporter {n}\nName-Email: pgp{n}@reporters.example\n"
                "Expire-Date: 0\n%no-protection\n%commit\n").fingerprint
            self.keys.append((fingerprint, self.gpg.export_keys(fingerprint, armor=True)))

    def encrypt(self, data: bytes, signer: str) -> str:
        return str(self.gpg.encrypt(data, [self.organisation], sign=signer, always_trust=True, armor=True))

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"], capture_output=True,
                       check=False)
        shutil.rmtree(self.home, ignore_errors=True)


def pgp_message(message: EmailMessage, text: str, reporters: Reporters, n: int) -> bytes:
    """``message``'s headers over a PGP/MIME (or, every third one, inline PGP) body."""
    fingerprint, public_key = reporters.keys[n % len(reporters.keys)]
    if n % 3 == 2:
        message.set_content(f"Hello,\n\n{reporters.encrypt(text.encode(), fingerprint).strip()}\n\n{public_key}")
        return message.as_bytes(policy=SMTP_POLICY)
    inner = EmailMessage(policy=SMTP_POLICY)
    inner.set_content(text)
    inner.add_attachment(public_key.encode(), maintype="application", subtype="pgp-keys", filename="key.asc")
    del inner["MIME-Version"]
    armored = reporters.encrypt(inner.as_bytes(policy=SMTP_POLICY), fingerprint)
    head = message.as_bytes(policy=SMTP_POLICY).split(b"\r\n\r\n", 1)[0]
    head = b"\r\n".join(line for line in head.split(b"\r\n") if not line.lower().startswith(b"content-"))
    return (head + b'\r\nContent-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="e"\r\n\r\n'
            b"--e\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--e\r\n"
            b'Content-Type: application/octet-stream; name="encrypted.asc"\r\n\r\n'
            + armored.strip().encode() + b"\r\n--e--\r\n")


def build_messages(shape: str, count: int, rng: random.Random, start: int, size_limit: int,
                   pgp_percent: int = 0, reporters: Reporters | None = None) -> list[tuple[str, bytes]]:
    attachment = ("".join(f"{n:08d} GET /search?q=%27+OR+1%3D1-- 200 1532 bytes\n" for n in range(20_000)))
    attachment = attachment[: 1024 * 1024]
    messages = []
    for n in range(start, start + count):
        sender = f"reporter{n}@reporters.example"
        message = EmailMessage()
        message["From"] = f"Reporter {n} <{sender}>"
        message["To"] = f"security@{DOMAIN}"
        message["Subject"] = f"Vulnerability report {n}: SQL injection in search"
        message["Message-ID"] = f"<bench-{n}-{rng.getrandbits(64):x}@reporters.example>"
        message["Date"] = "Mon, 23 Nov 2026 09:00:00 +0000"
        kind = shape
        if shape == "mixed":
            kind = rng.choices(["plain", "html", "attachment", "pgp"], weights=[70 - pgp_percent, 20, 10,
                                                                                 pgp_percent])[0]
        text = (f"Hello,\n\nthe q parameter of /search reaches the SQL query unescaped (report {n}).\n\n"
                "Steps:\n1. GET /search?q=' OR 1=1--\n2. All rows come back.\n\nImpact: read any row.\n\n-- \nReporter\n")
        if kind == "html":
            message.set_content(f"<html><body><p>Hello,</p><p>the <b>q</b> parameter reaches SQL (report {n}).</p>"
                                "<ol><li>GET /search?q=' OR 1=1--</li><li>All rows come back.</li></ol>"
                                "<script>ignored()</script></body></html>", subtype="html")
        elif kind == "pgp" and reporters is not None:
            message.set_content(text)
            messages.append((sender, pgp_message(message, text, reporters, n)))
            continue
        elif kind == "big":
            message.set_content(text)
            message.add_attachment(rng.randbytes(int(size_limit * 0.7)), maintype="application",
                                   subtype="octet-stream", filename="capture.bin")
        else:
            message.set_content(text)
            if kind == "attachment":
                message.add_attachment(attachment, filename="access.log")
        messages.append((sender, message.as_bytes(policy=SMTP_POLICY)))
    return messages


def send_all(port: int, messages: list[tuple[str, bytes]], clients: int) -> tuple[list[float], list[str]]:
    """Send from ``clients`` threads, each on one connection; returns the 250 times and errors."""
    done: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    work = list(enumerate(messages))
    chunks = [work[i::clients] for i in range(clients)]

    def run(chunk):
        client = smtplib.SMTP("127.0.0.1", port, timeout=120)
        try:
            for _, (sender, raw) in chunk:
                try:
                    client.sendmail(sender, [f"security@{DOMAIN}"], raw)
                    with lock:
                        done.append(time.perf_counter())
                except smtplib.SMTPException as error:
                    with lock:
                        errors.append(f"{type(error).__name__}: {error}"[:200])
        finally:
            try:
                client.quit()
            except smtplib.SMTPException:
                pass

    threads = [threading.Thread(target=run, args=(chunk,)) for chunk in chunks if chunk]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000, help="Messages per phase (default 1000).")
    parser.add_argument("--clients", type=int, default=8, help="Concurrent SMTP client connections (default 8).")
    parser.add_argument("--workers", type=int, default=1,
                        help="db_worker processes (default 1, as `vulndesk serve` starts; 0 measures storing only).")
    parser.add_argument("--big", type=int, default=6, help="Messages near the size limit in the last phase (6).")
    parser.add_argument("--phases", default="plain,mixed,big", help="Which phases to run (plain,mixed,big).")
    parser.add_argument("--pgp-percent", type=int, default=10,
                        help="Share (%%) of OpenPGP messages in the mixed phase, 0-70, taken from the plain ones "
                             "(default 10; 0 for the shapes of earlier runs).")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary data directory.")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    if not 0 <= args.pgp_percent <= 70:
        parser.error("--pgp-percent must be between 0 and 70")

    data_dir = Path(tempfile.mkdtemp(prefix="vulndesk-bench-mail-"))
    sink = Sink()
    sink.controller.start()
    smtp_port = free_port()
    (data_dir / "bench_settings.py").write_text(
        "from vulndesk.settings import *  # noqa\n"
        "MAIL_INTAKE_RATE_LIMITS = {'mail_sender': (10**9, 3600), 'mail_ip': (10**9, 3600)}\n"
        f"MAIL_INTAKE_HOSTNAME = 'mx.{DOMAIN}'\n"
        "LOGGING['root']['level'] = 'WARNING'\n"
        "LOGGING['loggers']['django_tasks'] = {'level': 'WARNING'}\n")
    environment = {
        **os.environ, "VULNDESK_DATA_DIR": str(data_dir), "VULNDESK_ENV": "embedded",
        "DJANGO_SETTINGS_MODULE": "bench_settings", "PYTHONPATH": f"{data_dir}{os.pathsep}{ROOT / 'src'}",
        "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(sink.port), "SITE_URL": "https://vulndesk.bench.example",
        "LOG_LEVEL": "WARNING",
    }
    for name in ("DATABASE_URL", "EMAIL_BACKEND", "VULNDESK_KEKS"):
        environment.pop(name, None)
    vulndesk = [sys.executable, "-m", "vulndesk.cli"]
    processes: dict[str, subprocess.Popen] = {}
    reporters: Reporters | None = None
    try:
        log(f"data: {data_dir}")
        started = time.perf_counter()
        subprocess.run([*vulndesk, "migrate", "-v0"], env=environment, check=True)
        subprocess.run([sys.executable, "-c", SETUP], env=environment, check=True)
        log(f"database migrated and set up in {time.perf_counter() - started:.1f} s")
        if args.pgp_percent:
            reporters = Reporters((data_dir / "organisation-key.asc").read_text())

        processes["smtpd"] = subprocess.Popen([*vulndesk, "smtpd", "--port", str(smtp_port)], env=environment,
                                              stdout=subprocess.PIPE, text=True)
        banner = processes["smtpd"].stdout.readline().strip()
        log(banner)
        for n in range(args.workers):
            processes[f"worker{n + 1}"] = subprocess.Popen(
                [*vulndesk, "db_worker", "-v0", "--no-reload", "--no-startup-delay", "--interval", "0.1",
                 "--worker-id", f"bench-{n + 1}"], env=environment)
        waited = wait_until_idle([processes[name].pid for name in processes if name.startswith("worker")])
        log(f"worker(s) started and idle after {waited:.1f} s")

        size_limit = 25 * 1024 * 1024
        rng = random.Random(args.seed)
        acknowledged_before = 0
        encrypted_before = 0
        results = []
        number = 0
        for phase in [p.strip() for p in args.phases.split(",") if p.strip()]:
            count = args.big if phase == "big" else args.messages
            messages = build_messages(phase, count, rng, number, size_limit, args.pgp_percent, reporters)
            number += count
            volume = sum(len(raw) for _, raw in messages)
            log(f"\nphase {phase}: {count} messages, {volume / 1024 / 1024:.1f} MiB, {args.clients} clients, "
                f"{args.workers} worker(s)")
            cpu_before = {name: cpu_seconds(process.pid) for name, process in processes.items()}
            own = resource.getrusage(resource.RUSAGE_SELF)
            own_before = own.ru_utime + own.ru_stime
            begin = time.perf_counter()
            done, errors = send_all(smtp_port, messages, min(args.clients, count))
            stored_at = max(done) if done else begin
            complete = sink.wait_for(acknowledged_before + len(done),
                                     timeout=max(120.0, count * 0.5) if args.workers else 1.0)
            acknowledged_at = sink.last_at if sink.last_at else begin
            acknowledged = sink.count - acknowledged_before
            acknowledged_before = sink.count
            encrypted, encrypted_before = sink.encrypted - encrypted_before, sink.encrypted
            pgp_sent = sum(1 for _, raw in messages if b"multipart/encrypted" in raw[:4096]
                           or b"-----BEGIN PGP MESSAGE-----" in raw)
            stored_rate = len(done) / (stored_at - begin) if done else 0.0
            ack_rate = acknowledged / (acknowledged_at - begin) if acknowledged else 0.0
            cpu = {name: (cpu_seconds(process.pid) - cpu_before[name]) * 1000 / max(len(done), 1)
                   for name, process in processes.items()}
            own = resource.getrusage(resource.RUSAGE_SELF)
            client_cpu = (own.ru_utime + own.ru_stime - own_before) * 1000 / max(len(done), 1)
            server_cpu = sum(cpu.values())
            # What 2 dedicated cores could do: the total work spread over both, but no process
            # faster than its own CPU time allows (each is one Python process on one core).
            ceiling = min(2000 / server_cpu, 1000 / max(cpu.values())) if server_cpu else 0.0
            results.append((phase, count, len(done), stored_rate, acknowledged, ack_rate, errors, complete, server_cpu,
                            ceiling))
            log(f"  stored:       {len(done)}/{count} in {stored_at - begin:6.2f} s = {stored_rate:7.1f} messages/s"
                + (f"   ({len(errors)} refused, e.g. {errors[0]})" if errors else ""))
            log(f"  acknowledged: {acknowledged}/{len(done)} in {acknowledged_at - begin:6.2f} s = "
                f"{ack_rate:7.1f} messages/s{'' if complete else '   (timed out waiting)'}")
            if pgp_sent:
                log(f"  OpenPGP: {pgp_sent} sent encrypted and signed, {encrypted} acknowledgements encrypted back")
            log("  CPU per message: " + ", ".join(f"{name} {value:.1f} ms" for name, value in cpu.items())
                + f" = {server_cpu:.1f} ms; CPU-bound ceiling on 2 dedicated cores ~{ceiling:.0f}/s"
                if server_cpu else "  CPU per message: n/a")
            log(f"  the benchmark itself (SMTP clients and the reporters' mailbox) used {client_cpu:.1f} ms CPU per "
                "message on the same cores")
            log(f"  load average during the phase: {load_average()}")
            for name, process in processes.items():
                memory = memory_of(process.pid)
                log(f"  {name:8} RSS {memory['VmRSS'] / 1024:6.1f} MiB, peak {memory['VmHWM'] / 1024:6.1f} MiB")

        database = sqlite3.connect(data_dir / "vulndesk.sqlite3")
        states = dict(database.execute(
            "select state, count(*) from mailintake_inboundmessage group by state").fetchall())
        reports = database.execute("select count(*) from reports_report").fetchone()[0]
        security = database.execute("select was_decrypted, signature, count(*) from pgp_messagesecurity "
                                    "group by was_decrypted, signature").fetchall()
        attachments = database.execute("select count(*) from attachments_attachment").fetchone()[0]
        database.close()
        log(f"\nstored messages by state: {states}; reports {reports}; attachments {attachments}")
        if security:
            log("OpenPGP results: " + ", ".join(f"{'decrypted' if decrypted else 'not decrypted'}/{signature} "
                                                f"{count}" for decrypted, signature, count in security))
        log("\nsummary")
        for phase, count, stored, stored_rate, acknowledged, ack_rate, _errors, _complete, server_cpu, ceiling in results:
            target = ""
            if phase == "plain":
                target = (f"\n         target >= {PLAIN_TARGET_PER_S:.0f}/s on 2 cores: wall clock here "
                          f"{'met' if ack_rate >= PLAIN_TARGET_PER_S else 'missed'} (load average {load_average()}), "
                          f"CPU-bound ceiling ~{ceiling:.0f}/s {'meets' if ceiling >= PLAIN_TARGET_PER_S else 'misses'} it")
            log(f"  {phase:6} {count:5} sent, {stored:5} stored at {stored_rate:7.1f}/s, {acknowledged:5} "
                f"acknowledged at {ack_rate:7.1f}/s; server CPU {server_cpu:.1f} ms/message{target}")
        peaks = {name: memory_of(process.pid)["VmHWM"] / 1024 for name, process in processes.items()}
        log("  peak RSS: " + ", ".join(f"{name} {value:.0f} MiB" for name, value in peaks.items())
            + f"; benchmark client {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
        log(f"  cores: {os.cpu_count()}")
        return 0
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        sink.controller.stop()
        if reporters is not None:
            reporters.close()
        for home in (data_dir / "gnupg").glob("*"):  # the organisation keyring's gpg-agent
            subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True, check=False)
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
