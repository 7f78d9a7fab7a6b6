#!/usr/bin/env python
"""Benchmark vulndesk's report intake and triage queue against the project's targets.

One command builds its own data in a fresh temporary data directory, serves it with gunicorn
exactly as ``vulndesk serve`` does (2 workers x 4 threads, SQLite in WAL mode), logs in as a
staff member and measures, over loopback only:

* API create throughput, two figures printed apart: single creates (N POSTs to
  /api/v1/organisations/<org>/reports/) and batch creates (POSTs of 100 reports each to
  .../reports/batch/), from concurrent keep-alive clients authenticated with an API token per
  product as CI is (``--auth jwt`` or ``session`` for the others); every answer must be 201.
  Target: >= 600 reports/s. The server CPU per report is printed too: it is the figure to
  compare on a shared machine.
* Latency of the staff triage queue page (/o/<org>/reports/) and of the filtered API list, for
  a set of realistic filters, sequential requests after warm-up, every answer must be 200.
  Target: p95 < 50 ms at 100k reports, < 100 ms at 1M reports.
* Memory: peak RSS of the loader and of the gunicorn workers (and their growth during the run).

It is a measurement, not a test: it exits 0 whatever the figures (non-zero only when it could
not run). Examples::

    .venv/bin/python benchmarks/bench_reports.py                      # 100k reports
    .venv/bin/python benchmarks/bench_reports.py --reports 1000000    # the 1M case
    .venv/bin/python benchmarks/bench_reports.py --explain            # + query counts and plans

Bulk rows (reports, timelines, word-search token rows) are written with executemany (secondary
indexes dropped during the load and rebuilt with the exact SQL of the migrations); the state
counters are then recounted by the real service; the organisation, products, policies, releases,
users and API tokens are made through the real services. The create path is measured through
the real API.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import math
import os
import random
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import UTC, date, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path

from _server import CLK_TCK, children_of, cpu_seconds, free_port, start_gunicorn, stop_gunicorn

ROOT = Path(__file__).resolve().parent.parent
ORG_SLUG = "bench"
ORG_PREFIX = "BENCH"
STAFF_EMAIL = "bench-owner@bench.example"
STAFF_PASSWORD = "Correct-Horse-Battery-Staple-9281"
CREATE_TARGET_PER_S = 600.0
AUTH_LABELS = {"token": "API token", "jwt": "JWT", "session": "browser session"}
NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)  # as vulndesk.reports.models.NO_DEADLINE
SPAN_DAYS = 3 * 365
BATCH = 5000

# --------------------------------------------------------------------------------------------
# Vocabulary for realistic-looking rows. "injection" is a common title word (~12 % of titles),
# "pollution" a rare one (~0.3 %), "typosquatting" is in none (a search that scans everything).
# --------------------------------------------------------------------------------------------
VULNS = [
    ("SQL injection", 8), ("Stored XSS", 8), ("Reflected XSS", 8), ("CSRF", 5), ("SSRF", 5),
    ("Path traversal", 5), ("Open redirect", 6), ("IDOR", 8), ("Authentication bypass", 4),
    ("Privilege escalation", 4), ("Remote code execution", 3), ("Insecure deserialization", 2),
    ("XML external entity injection", 2), ("Command injection", 3), ("Information disclosure", 10),
    ("Missing rate limiting", 6), ("Session fixation", 2), ("Clickjacking", 4), ("Denial of service", 5),
    ("Prototype pollution", 0.3),
]
COMMON_WORD, RARE_WORD, NO_MATCH_WORD = "injection", "pollution", "typosquatting"
COMPONENTS = [
    "login form", "search endpoint", "file upload", "password reset", "admin panel", "REST API",
    "GraphQL endpoint", "CSV export", "invoice PDF", "profile page", "comment editor", "webhook handler",
    "OAuth callback", "SAML login", "image resizer", "markdown renderer", "mobile app API", "billing page",
    "team invitations", "audit log viewer", "notification settings", "report builder", "SSO bridge",
    "attachment preview", "API token page", "two-factor setup", "support chat widget", "sitemap generator",
]
SUFFIXES = [
    "", "", "", "via crafted Host header", "via SVG upload", "in legacy v1 route", "when SSO is enabled",
    "through the redirect parameter", "with a long Unicode name", "on the staging mirror",
    "for invited users", "after password change", "in the Android app", "behind the CDN",
]
SENTENCES = [
    "The parameter is concatenated into the query without escaping.",
    "An attacker can craft a link that runs script in the victim's session.",
    "I confirmed this on the production host with a test account I own.",
    "The server follows redirects to internal addresses such as 169.254.169.254.",
    "No authorisation check is made on the object id in the URL.",
    "Sending the request twice with a different id returns another customer's invoice.",
    "The response includes a stack trace with file paths and library versions.",
    "Uploading a file named ../../etc/passwd writes outside the upload directory.",
    "The session cookie is not rotated after login.",
    "The token in the reset e-mail never expires and can be reused.",
    "Rendering a comment with an SVG image executes the onload handler.",
    "The endpoint accepts unlimited attempts, so the 6-digit code can be brute forced in hours.",
    "The XML parser resolves external entities and returns the file content in the error message.",
    "Setting __proto__ in the JSON body changes the behaviour of every later request.",
    "A 10 MB header makes the worker spend 100 % CPU for several seconds.",
    "The page can be framed by any origin, so a click on it can be hijacked.",
    "Proof of concept: curl -s 'https://example.test/api/v2/search?q=1%27%20OR%20%271%27=%271'.",
    "Impact: full read access to the customer database.",
    "Tested with Firefox 128 and Chromium 131 on Linux.",
    "I have not shared this with anyone else and will wait for your fix before publishing.",
]
REPORTER_NAMES = ["Ada", "Grace Hopper", "", "Lin", "M. Keller", "Sam O.", "", "Priya", "Jonas", "Chen Wei"]
VERSIONS = ["", "", "2.4.1", "2.3", "2.5.0", "2.1.7", "1.9.2", "1.8", "3.0.0rc1", "2.4.0"]
CWES = [79, 89, 22, 287, 352, 918, 502, 78, 200, 611, 1321, 601, 639, 307, 400, None, None, None]
SOURCES = [("web", 55), ("email", 25), ("api", 15), ("scanner", 5)]
CVSS_VECTORS = [
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
    "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
    "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:L/I:L/A:N",
    "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N",
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N",
]
SEVERITY_WEIGHTS = [("critical", 5), ("high", 20), ("medium", 40), ("low", 30), ("none", 5)]
PRODUCTS = [  # slug, name, weight
    ("web-app", "Web App", 30), ("mobile-api", "Mobile API", 18), ("android", "Android App", 12),
    ("ios", "iOS App", 10), ("billing", "Billing", 10), ("sso", "SSO Bridge", 8), ("cli", "CLI", 7),
    ("docs-site", "Docs Site", 5),
]
N_STAFF = 10  # assignees besides the owner

# State by age of the report (days since received): older reports are mostly closed.
STATE_BY_AGE = [
    (2, [("new", 30), ("acknowledged", 60), ("invalid", 10)]),
    (14, [("acknowledged", 50), ("accepted", 15), ("fixing", 5), ("invalid", 15), ("duplicate", 10),
          ("out_of_scope", 5)]),
    (90, [("acknowledged", 5), ("accepted", 15), ("fixing", 20), ("fixed", 10), ("disclosed", 10),
          ("invalid", 18), ("duplicate", 12), ("out_of_scope", 5), ("wont_fix", 5)]),
    (365, [("accepted", 3), ("fixing", 5), ("fixed", 4), ("disclosed", 50), ("invalid", 18), ("duplicate", 12),
           ("out_of_scope", 5), ("wont_fix", 3)]),
    (10**9, [("fixing", 1), ("fixed", 1), ("disclosed", 60), ("invalid", 20), ("duplicate", 12),
             ("out_of_scope", 4), ("wont_fix", 2)]),
]
CLOSED = {"duplicate", "invalid", "out_of_scope", "wont_fix", "disclosed"}
VERDICTS = {"duplicate", "invalid", "out_of_scope", "wont_fix"}
RESOLUTION_STATES = {"accepted", "fixing", "fixed", "disclosed"}


def log(message: str) -> None:
    print(message, flush=True)


def dbtime(moment: datetime) -> str:
    """A UTC datetime as Django's SQLite backend stores it."""
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds")


def weighted(choices):
    values = [value for value, _ in choices]
    total = float(sum(weight for _, weight in choices))
    cumulative, running = [], 0.0
    for _, weight in choices:
        running += weight / total
        cumulative.append(running)
    return values, cumulative


def pick(rng: random.Random, table) -> object:
    values, cumulative = table
    x = rng.random()
    for value, edge in zip(values, cumulative, strict=True):
        if x < edge:
            return value
    return values[-1]


def add_business_days(start: datetime, days: int) -> datetime:
    """Approximation of the service's business-day deadline (weekends only) for bulk rows."""
    moment = start
    if moment.weekday() >= 5:
        moment = (moment + timedelta(days=7 - moment.weekday())).replace(hour=0, minute=0, second=0)
    added = 0
    while added < days:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            added += 1
    return moment


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, math.ceil(p / 100 * len(ordered)) - 1)
    return ordered[rank]


def memory_of(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (peak RSS), RssAnon (heap and stacks) and RssFile (mapped files: SQLite's
    mmap of the database counts here) of a process, in KiB; 0 when unknown."""
    values = {"VmRSS": 0, "VmHWM": 0, "RssAnon": 0, "RssFile": 0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in values:
                values[key] = int(rest.split()[0])
    except (OSError, ValueError):
        pass
    return values


class MemorySampler(threading.Thread):
    """Samples the workers' memory four times a second; keeps each worker's peak anonymous RSS."""

    def __init__(self, pids: list[int]):
        super().__init__(daemon=True)
        self.pids = pids
        self.first = {pid: memory_of(pid) for pid in pids}
        self.peak_anon = {pid: self.first[pid]["RssAnon"] for pid in pids}
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.wait(0.25):
            for pid in self.pids:
                self.peak_anon[pid] = max(self.peak_anon[pid], memory_of(pid)["RssAnon"])

    def stop(self):
        self.stopping.set()
        self.join(timeout=2)


def wait_quiet(max_seconds: float, threshold_cores: float = 0.25) -> float:
    """Wait (at most ``max_seconds``) until other processes use less than ``threshold_cores``;
    returns the last measured foreign load. A shared machine otherwise distorts latencies."""
    deadline = time.monotonic() + max_seconds
    waited = False
    while True:
        with CpuMeter([]) as meter:
            time.sleep(1.0)
        if meter.foreign_cores() < threshold_cores or time.monotonic() >= deadline:
            if waited:
                log(f"    (waited for a quiet machine; other processes now use {meter.foreign_cores():.2f} cores)")
            return meter.foreign_cores()
        waited = True
        time.sleep(2.0)


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used (every core), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(x) for x in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLK_TCK


class CpuMeter:
    """CPU used by the server workers, by this process, and by everything else on the machine
    during a phase. Other helpers' test runs on a shared machine show up as "foreign"."""

    def __init__(self, pids: list[int]):
        self.pids = pids

    def __enter__(self):
        self.wall = time.perf_counter()
        self.server = sum(cpu_seconds(pid) for pid in self.pids)
        self.me = time.process_time()
        self.machine = machine_busy_seconds()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.server = sum(cpu_seconds(pid) for pid in self.pids) - self.server
        self.me = time.process_time() - self.me
        self.machine = machine_busy_seconds() - self.machine
        self.foreign = max(0.0, self.machine - self.server - self.me)
        return False

    def foreign_cores(self) -> float:
        return self.foreign / self.wall if self.wall else 0.0


# --------------------------------------------------------------------------------------------
# Data build
# --------------------------------------------------------------------------------------------

def django_setup(data_dir: Path, keep_rate_limit: bool) -> None:
    os.environ["VULNDESK_DATA_DIR"] = str(data_dir)
    os.environ["ACCESS_LOG_LEVEL"] = "WARNING"  # the in-process diagnostics need no access log
    if not keep_rate_limit:
        os.environ["RATE_LIMIT_API_PER_MINUTE"] = "1000000000"
    os.environ["DJANGO_SETTINGS_MODULE"] = "vulndesk.settings"
    for name in ("DATABASE_URL", "VULNDESK_ENV", "DEBUG"):
        os.environ.pop(name, None)
    import django

    django.setup()


def build_fixed_rows(rng: random.Random) -> dict:
    """Organisation, products, policies, releases and staff through the real services."""
    from django.core.management import call_command

    from vulndesk.accounts.services import user_create
    from vulndesk.organisations.models import Role
    from vulndesk.organisations.services import membership_add, organisation_create
    from vulndesk.products.services import product_create, release_plan, supported_version_add

    call_command("migrate", interactive=False, verbosity=0)
    organisation = organisation_create(
        name="Bench Organisation", slug=ORG_SLUG, reference_prefix=ORG_PREFIX, time_zone="Europe/Berlin",
        holiday_country="DE", security_contact_email="security@bench.example",
    )
    products = []
    today = date.today()
    for slug, name, _ in PRODUCTS:
        product = product_create(organisation=organisation, name=name, slug=slug,
                                 security_contacts=f"security+{slug}@bench.example")
        supported_version_add(product=product, version_range="2.x", is_supported=True)
        supported_version_add(product=product, version_range="3.x", is_supported=True)
        supported_version_add(product=product, version_range="1.x", is_supported=False)
        for k in range(3):
            release_plan(product=product, version=f"2.{6 + k}.0", planned_on=today + timedelta(days=30 * (k + 1)))
        products.append(product)
    owner, _ = user_create(email=STAFF_EMAIL, name="Bench Owner", password=STAFF_PASSWORD)
    membership_add(organisation=organisation, user=owner, role=Role.OWNER)
    staff = []
    for k in range(N_STAFF):
        user, _ = user_create(email=f"staff{k}@bench.example", name=f"Staff Member {k}",
                              password=STAFF_PASSWORD)
        membership_add(organisation=organisation, user=user,
                       role=Role.TRIAGER if k < 6 else (Role.DEVELOPER if k < 9 else Role.SECURITY_MANAGER))
        staff.append(user)
    enrol_second_factor(owner)
    return {
        "organisation_id": organisation.pk,
        "product_ids": [p.pk for p in products],
        "owner_id": owner.pk,
        "staff": [(u.pk, u.display_name) for u in staff],
    }


def enrol_second_factor(user) -> None:
    """Give the bench user a confirmed TOTP device through the real enrolment services, when
    this version of vulndesk has two-factor authentication (login then asks for a code)."""
    try:
        from vulndesk.accounts import twofactor
    except ImportError:
        return
    device = twofactor.totp_enrolment_start(user=user)
    twofactor.totp_enrolment_confirm(user=user, device=device, code=totp_code(user.pk, steps_ahead=0))


def totp_code(user_id: int, steps_ahead: int = 1) -> str | None:
    """The current (or a following) TOTP code of the user's device, as an authenticator app shows it.
    A code is accepted once: login uses the next time step so it never repeats the enrolment code."""
    try:
        from django_otp.oath import TOTP
        from django_otp.plugins.otp_totp.models import TOTPDevice
    except ImportError:
        return None
    device = TOTPDevice.objects.filter(user_id=user_id).order_by("-confirmed", "-id").first()
    if device is None:
        return None
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def row_stream(n: int, fixed: dict, now: datetime, rng: random.Random, first_id: int):
    """Yields (report_row, [timeline rows]) in received order. Pure Python, bounded memory."""
    from vulndesk.reports.severity import cvss_score

    by_severity: dict[str, list[tuple[str, float, str]]] = {}
    for vector in CVSS_VECTORS:
        score = cvss_score(vector)
        version_cols = ("4" if score.version == "4.0" else "3")
        by_severity.setdefault(str(score.severity), []).append((score.vector, score.score, version_cols))
    vulns, components, suffixes = weighted(VULNS), COMPONENTS, SUFFIXES
    state_tables = [(limit, weighted(table)) for limit, table in STATE_BY_AGE]
    severities = weighted(SEVERITY_WEIGHTS)
    sources = weighted(SOURCES)
    products = weighted([(pid, w) for pid, (_, _, w) in zip(fixed["product_ids"], PRODUCTS, strict=True)])
    staff = fixed["staff"]
    staff_weights = weighted([(s, 1.0 / (k + 1)) for k, s in enumerate(staff)])
    descriptions = [" ".join(rng.choice(SENTENCES) for _ in range(rng.randint(3, 20))) for _ in range(400)]
    steps = [" ".join(f"{k + 1}. {rng.choice(SENTENCES)}" for k in range(rng.randint(2, 6))) for _ in range(200)]
    impacts = [rng.choice(SENTENCES) for _ in range(50)]
    org_id = fixed["organisation_id"]
    start = now - timedelta(days=SPAN_DAYS)
    span_seconds = SPAN_DAYS * 86400.0

    for i in range(n):
        rid = first_id + i
        received = start + timedelta(seconds=(i + rng.random()) / n * span_seconds - 3600)
        age_days = (now - received).total_seconds() / 86400
        state = pick(rng, next(table for limit, table in state_tables if age_days < limit))
        source = pick(rng, sources)
        vuln = pick(rng, vulns)
        title = f"{vuln} in {rng.choice(components)}"
        suffix = rng.choice(suffixes)
        if suffix:
            title = f"{title} {suffix}"
        version = rng.choice(VERSIONS)
        # severity
        if state in RESOLUTION_STATES or state == "wont_fix":
            severity = pick(rng, severities)
        elif state == "duplicate":
            severity = pick(rng, severities) if rng.random() < 0.3 else ""
        elif state in {"new", "acknowledged"}:
            severity = pick(rng, severities) if rng.random() < 0.15 else ""
        else:
            severity = pick(rng, severities) if rng.random() < 0.05 else ""
        cvss3_vector = cvss4_vector = ""
        cvss3_score = cvss4_score = None
        override = ""
        if severity:
            candidates = by_severity.get(severity)
            if candidates and rng.random() < 0.9:
                vector, score, version_cols = rng.choice(candidates)
                if version_cols == "4":
                    cvss4_vector, cvss4_score = vector, score
                else:
                    cvss3_vector, cvss3_score = vector, score
            else:
                override = "Severity set by the triager without a vector."
        # clocks
        ack_due = received + timedelta(hours=48)
        if state == "new":
            acked = None
        elif source in {"web", "api"} or rng.random() < 0.5:
            acked = received
        else:
            acked = received + timedelta(hours=rng.uniform(1, 60))
        assess_due = add_business_days(received, 5)
        assessed = None
        if state not in {"new", "acknowledged"}:
            assessed = received + timedelta(hours=rng.uniform(4, 24 * 9))
        started = res_due = fixed_at = disclosed_at = None
        waiting = False
        if state in RESOLUTION_STATES or (state in {"wont_fix", "duplicate"} and severity and rng.random() < 0.3):
            started = assessed
            if severity == "critical":
                res_due = started + timedelta(hours=72)
            elif severity == "high":
                res_due = started + timedelta(days=14)
            elif severity == "medium":
                res_due = started + timedelta(days=28)
            elif state != "disclosed" and state != "fixed" and rng.random() < 0.15:
                waiting = True
            else:
                res_due = started + timedelta(days=rng.uniform(14, 75))
            if state in {"fixed", "disclosed"}:
                window = (res_due - started) if res_due else timedelta(days=40)
                fixed_at = started + window * rng.uniform(0.2, 1.3)
                fixed_at = min(fixed_at, now - timedelta(minutes=5))
            if state == "disclosed":
                disclosed_at = min(fixed_at + timedelta(days=rng.uniform(7, 90)), now - timedelta(minutes=1))
        is_open = state not in CLOSED
        # running clocks, misses (as the SLA sweep would have recorded them), derived columns
        ack_missed = acked is not None and acked > ack_due
        assess_missed = assessed is not None and assessed > assess_due
        res_missed = bool(fixed_at and res_due and fixed_at > res_due)
        running = []
        if is_open:
            if acked is None:
                running.append(("ack", received, ack_due))
            if assessed is None:
                running.append(("assess", received, assess_due))
            if res_due is not None and fixed_at is None and started:
                running.append(("res", started, res_due))
        next_due = min((due for _, _, due in running), default=None)
        checks = []
        for clock_name, clock_start, due in running:
            remind = clock_start + (due - clock_start) * 75 / 100
            if now < remind:
                checks.append(remind)
            elif now < due:
                checks.append(due)
            elif clock_name == "ack":
                ack_missed = True
            elif clock_name == "assess":
                assess_missed = True
            else:
                res_missed = True
        next_check = min(checks, default=None)
        # assignee
        p_assigned = {"new": 0.05, "acknowledged": 0.4}.get(state, 0.8 if is_open else 0.7)
        assignee = pick(rng, staff_weights) if rng.random() < p_assigned else None
        duplicate_of = rng.randint(first_id, rid - 1) if state == "duplicate" and rid > first_id else None
        last_change = max(t for t in (received, acked, assessed, fixed_at, disclosed_at) if t is not None)
        reporter = rng.choice(REPORTER_NAMES)
        row = {
            "id": rid, "organisation_id": org_id, "product_id": pick(rng, products), "number": i + 1,
            "title": title, "description": rng.choice(descriptions), "affected_versions": version,
            "steps_to_reproduce": rng.choice(steps) if rng.random() < 0.7 else "",
            "impact": rng.choice(impacts) if rng.random() < 0.6 else "", "suggested_fix": "",
            "reporter_name": reporter,
            "reporter_email": f"researcher{rng.randint(1, 5000)}@example.net" if rng.random() < 0.8 else "",
            "reporter_handle": f"@{reporter.split()[0].lower()}" if reporter and rng.random() < 0.3 else "",
            "source": source, "tracking_token_hash": hashlib.sha256(f"bench-{rid}-{rng.random()}".encode()).hexdigest(),
            "state": state, "is_open": is_open, "duplicate_of_id": duplicate_of,
            "assignee_id": assignee[0] if assignee else None,
            "cvss3_vector": cvss3_vector, "cvss3_score": cvss3_score, "cvss4_vector": cvss4_vector,
            "cvss4_score": cvss4_score, "severity": severity, "severity_override_reason": override,
            "cwe_id": rng.choice(CWES), "is_unsupported_version": version.startswith("1."),
            "received_at": received, "acknowledgement_due_at": ack_due, "acknowledged_at": acked,
            "assessment_due_at": assess_due, "assessed_at": assessed, "resolution_started_at": started,
            "resolution_due_at": res_due, "resolution_waiting_for_release": waiting, "fixed_at": fixed_at,
            "disclosed_at": disclosed_at, "acknowledgement_missed": ack_missed, "assessment_missed": assess_missed,
            "resolution_missed": res_missed, "next_due_at": next_due or NO_DEADLINE,
            "next_check_at": next_check or NO_DEADLINE, "created_at": received, "updated_at": last_change,
        }
        # timeline events: (kind, actor_id, actor_label, at, data, is_public)
        events = [("received", None, "reporter", received, {"source": source}, True)]
        if acked:
            events.append(("state_changed", None, "system", acked, {"from": "new", "to": "acknowledged"}, True))
        actor = assignee or staff[0]
        if assignee:
            events.append(("assignee_changed", staff[0][0], staff[0][1], acked or received,
                           {"from": None, "to": assignee[1]}, False))
        if assessed:
            verdict = "accepted" if state in RESOLUTION_STATES or (started and state not in VERDICTS) else state
            events.append(("state_changed", actor[0], actor[1], assessed, {"from": "acknowledged", "to": verdict}, True))
            if severity:
                events.append(("severity_changed", actor[0], actor[1], assessed,
                               {"from": "", "to": severity, "cvss_vector": cvss3_vector or cvss4_vector,
                                "override_reason": override}, False))
            if started:
                events.append(("deadline_changed", actor[0], actor[1], assessed,
                               {"clock": "resolution", "from": None, "to": res_due.isoformat() if res_due else None,
                                "waiting_for_release": waiting}, False))
        if state in {"fixing", "fixed", "disclosed"}:
            events.append(("state_changed", actor[0], actor[1], started + timedelta(hours=2),
                           {"from": "accepted", "to": "fixing"}, True))
        if fixed_at:
            events.append(("state_changed", actor[0], actor[1], fixed_at, {"from": "fixing", "to": "fixed"}, True))
        if disclosed_at:
            events.append(("state_changed", actor[0], actor[1], disclosed_at, {"from": "fixed", "to": "disclosed"}, True))
        yield row, events


class RowEncoder:
    """Turns plain values into the column values of a model's table the way the ORM would, so it
    follows the model whatever its columns are. A model with encrypted attributes is instantiated
    and sealed by its own code; each value then goes through its field's database preparation
    (datetimes, booleans and JSON the cheap way, everything else through ``get_db_prep_save``)."""

    def __init__(self, model):
        from django.db import connection, models

        self.model = model
        self.fields = list(model._meta.concrete_fields)
        known = {f.name for f in model._meta.get_fields()} | {f.attname for f in self.fields}
        self.known = known | set(model._meta._property_names)
        self.sealed = hasattr(model, "seal_pending")
        self.sql = (f'INSERT INTO "{model._meta.db_table}" ({", ".join(chr(34) + f.column + chr(34) for f in self.fields)}) '
                    f"VALUES ({', '.join('?' * len(self.fields))})")
        ops = connection.ops

        def converter(field):
            if isinstance(field, models.DateTimeField):
                return lambda v: None if v is None else ops.adapt_datetimefield_value(v)
            if isinstance(field, models.BooleanField):
                return lambda v: None if v is None else bool(v)
            if type(field) in (models.CharField, models.TextField, models.SlugField, models.EmailField,
                               models.IntegerField, models.PositiveIntegerField, models.BigIntegerField,
                               models.AutoField, models.BigAutoField, models.ForeignKey):
                return lambda v: v
            return lambda v, f=field: f.get_db_prep_save(v, connection)

        self.converters = [converter(f) for f in self.fields]
        self.defaults = [f.get_default() if f.has_default() else None for f in self.fields]

    def encode(self, values: dict) -> tuple:
        if self.sealed:
            instance = self.model(**{k: v for k, v in values.items() if k in self.known})
            instance.seal_pending()
            return tuple(conv(getattr(instance, f.attname)) for f, conv in zip(self.fields, self.converters, strict=True))
        out = []
        for f, conv, default in zip(self.fields, self.converters, self.defaults, strict=True):
            value = values.get(f.attname, values.get(f.name, default))
            out.append(conv(value))
        return tuple(out)


def bulk_load(db_path: Path, n: int, fixed: dict, seed: int) -> dict:
    """Stream ``n`` reports, their timelines and their word-search token rows into the database
    in batches; then the state counters are recounted by the real service."""
    from django.db import connection

    from vulndesk.reports.models import Report, ReportSearchToken, TimelineEvent, search_token_values
    from vulndesk.reports.services import report_state_counts_rebuild

    rng = random.Random(seed)
    reports_encoder, events_encoder = RowEncoder(Report), RowEncoder(TimelineEvent)
    if any(f.name not in {"id", "report", "kind", "actor", "actor_label", "at", "data", "is_public"}
           and not f.has_default() and not f.null for f in events_encoder.fields):
        raise SystemExit("TimelineEvent has a new required field; teach row_stream about it")
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute("PRAGMA temp_store=FILE")  # index rebuild sorts spill to disk: the loader's memory stays bounded
    tables = (Report._meta.db_table, TimelineEvent._meta.db_table, ReportSearchToken._meta.db_table)
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL AND tbl_name IN (?, ?, ?)",
        tables,
    ).fetchall()
    # The token rows mirror each report's blind index (search_index), as Report.save writes them.
    tokens_sql = (f'INSERT INTO "{tables[2]}" (organisation_id, token, report_id) VALUES (?, ?, ?)')
    search_index_at = [f.attname for f in reports_encoder.fields].index("search_index")
    id_at = [f.attname for f in reports_encoder.fields].index("id")
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    first_id = (conn.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{tables[0]}"').fetchone()[0]) + 1
    now = datetime.now(UTC)
    reports, events, tokens, n_events, n_tokens, states = [], [], [], 0, 0, {}
    started = time.perf_counter()

    def flush():
        conn.execute("BEGIN")
        conn.executemany(reports_encoder.sql, reports)
        conn.executemany(events_encoder.sql, events)
        conn.executemany(tokens_sql, tokens)
        conn.execute("COMMIT")
        reports.clear()
        events.clear()
        tokens.clear()

    for k, (row, timeline) in enumerate(row_stream(n, fixed, now, rng, first_id), 1):
        encoded = reports_encoder.encode(row)
        reports.append(encoded)
        for token in search_token_values(encoded[search_index_at]):
            tokens.append((fixed["organisation_id"], token, encoded[id_at]))
        n_tokens += len(search_token_values(encoded[search_index_at]))
        for kind, actor_id, label, at, data, public in timeline:
            events.append(events_encoder.encode({"report_id": row["id"], "kind": kind, "actor_id": actor_id,
                                                 "actor_label": label, "at": at, "data": data, "is_public": public}))
        n_events += len(timeline)
        states[row["state"]] = states.get(row["state"], 0) + 1
        if len(reports) >= BATCH:
            flush()
            if k % (BATCH * 20) == 0:
                log(f"    {k:,} reports ({time.perf_counter() - started:.0f} s)")
    if reports:
        flush()
    inserted = time.perf_counter() - started
    log(f"    rows written in {inserted:.1f} s; rebuilding {len(indexes)} indexes")
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("UPDATE organisations_organisation SET last_report_number = last_report_number + ? WHERE id = ?",
                 (n, fixed["organisation_id"]))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    connection.close()
    index_s = time.perf_counter() - started - inserted
    report_state_counts_rebuild()  # the queue header's counters, by the real service
    connection.close()
    return {"events": n_events, "tokens": n_tokens, "states": states, "insert_s": inserted, "index_s": index_s}


def pick_parameters(db_path: Path, fixed: dict, total: int) -> dict:
    """Filter values and cursors for the scenarios, read from the built data."""
    conn = sqlite3.connect(db_path)
    org = fixed["organisation_id"]
    product_slug = conn.execute(
        "SELECT p.slug FROM products_product p JOIN reports_report r ON r.product_id = p.id "
        "WHERE r.is_open = 1 GROUP BY p.slug ORDER BY COUNT(*) DESC LIMIT 1 OFFSET 1"
    ).fetchone()[0]
    assignee = conn.execute(
        "SELECT assignee_id FROM reports_report WHERE is_open = 1 AND assignee_id IS NOT NULL "
        "GROUP BY assignee_id ORDER BY COUNT(*) DESC LIMIT 1"
    ).fetchone()[0]
    ref_row = conn.execute(
        "SELECT number FROM reports_report WHERE organisation_id = ? AND is_open = 1 ORDER BY next_due_at, id "
        "LIMIT 1 OFFSET ?", (org, max(0, conn.execute(
            "SELECT COUNT(*) FROM reports_report WHERE is_open = 1").fetchone()[0] // 2))
    ).fetchone()

    def cursor_at(where: str, fraction: float) -> str:
        count = conn.execute(f"SELECT COUNT(*) FROM reports_report WHERE organisation_id = ? {where}", (org,)).fetchone()[0]
        due, rid = conn.execute(
            f"SELECT next_due_at, id FROM reports_report WHERE organisation_id = ? {where} "
            "ORDER BY next_due_at, id LIMIT 1 OFFSET ?", (org, int(count * fraction))
        ).fetchone()
        moment = datetime.fromisoformat(due).replace(tzinfo=UTC)
        raw = json.dumps([moment.isoformat(), rid]).encode()  # as selectors._cursor_encode does
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    counts = {
        "open": conn.execute("SELECT COUNT(*) FROM reports_report WHERE is_open = 1").fetchone()[0],
        "overdue_open": conn.execute(
            "SELECT COUNT(*) FROM reports_report WHERE is_open = 1 AND next_due_at < ?", (dbtime(datetime.now(UTC)),)
        ).fetchone()[0],
    }
    params = {
        "product": product_slug,
        "assignee": str(assignee),
        "reference": f"{ORG_PREFIX}-{ref_row[0]}",
        "cursor_open": cursor_at("AND is_open = 1", 0.6),
        "cursor_all": cursor_at("", 0.5),
        "counts": counts,
    }
    conn.close()
    return params


def scenarios(p: dict) -> list[tuple[str, str]]:
    """(name, query string) for every list scenario; run against the HTML page and the API."""
    return [
        ("open queue (default)", ""),
        ("severity=high", "severity=high"),
        ("overdue=1", "overdue=1"),
        ("state=acknowledged", "state=acknowledged"),
        ("product+assignee", f"product={p['product']}&assignee={p['assignee']}"),
        ("assignee=none", "assignee=none"),
        (f"q={COMMON_WORD} (common)", f"q={COMMON_WORD}"),
        (f"q={RARE_WORD} (rare)", f"q={RARE_WORD}"),
        ("q=<reference>", f"q={p['reference']}"),
        ("state=all&severity=critical", "state=all&severity=critical"),
        (f"state=all&q={RARE_WORD}", f"state=all&q={RARE_WORD}"),
        (f"state=all&q={NO_MATCH_WORD} (no match)", f"state=all&q={NO_MATCH_WORD}"),
        ("deep page, open (cursor)", f"cursor={p['cursor_open']}"),
        ("deep page, state=all (cursor)", f"state=all&cursor={p['cursor_all']}"),
    ]


# --------------------------------------------------------------------------------------------
# HTTP client (http.client, keep-alive, manual cookies: small and cheap on the client side)
# --------------------------------------------------------------------------------------------

class Client:
    def __init__(self, port: int, cookies: dict | None = None):
        self.port = port
        self.cookies = dict(cookies or {})
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in range(2):
            try:
                started = time.perf_counter()
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                elapsed = time.perf_counter() - started
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection; reconnect once.
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(header)
            for key, morsel in cookie.items():
                self.cookies[key] = morsel.value
        return response.status, response.headers, data, elapsed

    def close(self):
        self.conn.close()


def _form_token(page: bytes) -> str:
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if match is None:
        raise RuntimeError(f"no CSRF token in {page[:300]!r}")
    return match.group(1).decode()


def login(port: int, owner_id: int) -> dict:
    """Log in like a browser: password form, then the second factor when one is asked for."""
    client = Client(port)
    status, _, page, _ = client.request("GET", "/accounts/login/")
    if status != 200:
        raise RuntimeError(f"GET /accounts/login/ answered {status}")
    body = urllib.parse.urlencode({"username": STAFF_EMAIL, "password": STAFF_PASSWORD,
                                   "csrfmiddlewaretoken": _form_token(page), "next": ""}).encode()
    form_headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, headers, page, _ = client.request(
        "POST", "/accounts/login/", body, form_headers | {"Referer": f"http://127.0.0.1:{port}/accounts/login/"})
    for _ in range(5):  # follow the redirect chain (second factor, then the organisation home)
        if status not in (301, 302, 303):
            break
        location = urllib.parse.urlsplit(headers["Location"])
        path = location.path + (f"?{location.query}" if location.query else "")
        status, headers, page, _ = client.request("GET", path)
        if status == 200 and b'name="code"' in page:
            code = totp_code(owner_id, steps_ahead=1)
            body = urllib.parse.urlencode({"code": code, "csrfmiddlewaretoken": _form_token(page)}).encode()
            status, headers, page, _ = client.request(
                "POST", path, body, form_headers | {"Referer": f"http://127.0.0.1:{port}{path}"})
    probe, _, page, _ = client.request("GET", f"/o/{ORG_SLUG}/reports/?q=login-probe")
    if probe != 200 or "sessionid" not in client.cookies:
        raise RuntimeError(f"login failed: queue page answered {probe}: {page[:300]!r}")
    client.close()
    return client.cookies


def start_server(data_dir: Path, port: int, workers: int, threads: int,
                 keep_rate_limit: bool = False, wsgi: str = "vulndesk.wsgi:application"):
    # One client measures the server's capacity, so the per-account API limit (default
    # 600/minute) is lifted; the limiter itself still runs on every API call (it then leases
    # its permits 50 at a time: core/ratelimit.py). The access log stays on, as in production.
    env = {} if keep_rate_limit else {"RATE_LIMIT_API_PER_MINUTE": "1000000000"}
    return start_gunicorn(data_dir, port, workers=workers, threads=threads, wsgi=wsgi, env=env)


stop_server = stop_gunicorn


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------

def measure_list(port: int, cookies: dict, path: str, n: int, warmup: int, max_seconds: float,
                 worker_pids: list[int]) -> dict:
    client = Client(port, cookies)
    bad, rows, size = [], None, 0
    for _ in range(warmup):
        client.request("GET", path, headers={"Accept": "*/*"})
    latencies = []
    deadline = time.monotonic() + max_seconds
    meter = CpuMeter(worker_pids).__enter__()
    for k in range(n):
        status, _, body, elapsed = client.request("GET", path, headers={"Accept": "*/*"})
        latencies.append(elapsed)
        if status != 200:
            bad.append((status, body[:200]))
        if k == 0:
            size = len(body)
            if body.startswith(b"{"):
                rows = len(json.loads(body).get("results", []))
            else:
                rows = body.count(b"<tr class=")
        if time.monotonic() > deadline:
            break
    meter.__exit__(None, None, None)
    client.close()
    return {"n": len(latencies), "p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99), "max": max(latencies), "bad": bad, "rows": rows, "bytes": size,
            "server_cpu_ms": meter.server / len(latencies) * 1000, "foreign_cores": meter.foreign_cores()}


def create_fields(rng: random.Random, k: int) -> dict:
    """One scanner-like report: product, title, text, sometimes a CVSS vector and a CWE."""
    vuln = pick(rng, weighted(VULNS))
    payload = {
        "product": rng.choice(PRODUCTS)[0],
        "title": f"{vuln} in {rng.choice(COMPONENTS)} #{k}",
        "description": " ".join(rng.choice(SENTENCES) for _ in range(rng.randint(4, 14))),
        "affected_versions": rng.choice(VERSIONS),
        "steps_to_reproduce": " ".join(f"{i + 1}. {rng.choice(SENTENCES)}" for i in range(3)),
        "impact": rng.choice(SENTENCES),
        "reporter_name": rng.choice(REPORTER_NAMES),
        "reporter_email": f"scanner{rng.randint(1, 99)}@example.net",
        "source": rng.choice(["api", "scanner"]),
    }
    if rng.random() < 0.5:
        payload["cvss_vector"] = rng.choice(CVSS_VECTORS)
    if rng.random() < 0.5:
        payload["cwe_id"] = rng.choice([79, 89, 22, 918])
    return payload


class Credentials:
    """How the create clients authenticate: ``token`` (an API token per product, as CI does),
    ``jwt`` (a Bearer access token of the owner, as a script acting as a person does) or
    ``session`` (the browser login's cookie and CSRF header)."""

    def __init__(self, kind: str, port: int, cookies: dict, fixed: dict):
        self.kind, self.cookies = kind, {}
        base = {"Content-Type": "application/json", "Accept": "application/json"}
        if kind == "session":
            self.cookies = cookies
            self.headers = {slug: base | {"X-CSRFToken": cookies["csrftoken"], "Referer": f"http://127.0.0.1:{port}/"}
                            for slug, _, _ in PRODUCTS}
        elif kind == "jwt":
            access = jwt_access_token(port, fixed["owner_id"])
            self.headers = {slug: base | {"Authorization": f"Bearer {access}"} for slug, _, _ in PRODUCTS}
        else:
            self.headers = {slug: base | {"Authorization": f"Token {raw}"}
                            for slug, raw in api_tokens(fixed["owner_id"]).items()}


def api_tokens(owner_id: int) -> dict[str, str]:
    """A report:create API token for each product, made by the owner through the real service."""
    from django.db import connection

    from vulndesk.accounts.api_tokens import api_token_create
    from vulndesk.accounts.models import User
    from vulndesk.products.models import Product

    owner = User.objects.get(pk=owner_id)
    tokens = {}
    for product in Product.objects.select_related("organisation").filter(organisation__slug=ORG_SLUG):
        _, raw = api_token_create(organisation=product.organisation, product=product, permission="report:create",
                                  name="bench", lifetime_days=1, created_by=owner)
        tokens[product.slug] = raw
    connection.close()
    return tokens


def jwt_access_token(port: int, owner_id: int) -> str:
    """Obtain a JWT pair with the password and a fresh one-time code (each code works once)."""
    from django.db import connection
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user_id=owner_id, confirmed=True).first()
    connection.close()
    step = int(time.time() - device.t0) // device.step
    # The login used the next step's code: wait until a later code falls in the accepted window.
    while device.last_t is not None and step + device.tolerance <= device.last_t:
        time.sleep(1.0)
        step = int(time.time() - device.t0) // device.step
    ahead = max(0, (device.last_t or -1) + 1 - step)
    client = Client(port)
    body = json.dumps({"email": STAFF_EMAIL, "password": STAFF_PASSWORD,
                       "otp": totp_code(owner_id, steps_ahead=ahead)}).encode()
    status, _, answer, _ = client.request("POST", "/api/v1/auth/token/", body, {"Content-Type": "application/json"})
    client.close()
    if status != 200:
        raise RuntimeError(f"JWT obtain answered {status}: {answer[:200]!r}")
    return json.loads(answer)["access"]


def single_requests(rng: random.Random, n: int, credentials: Credentials, start: int = 0) -> list[tuple]:
    """(path, body, headers, reports in it) for ``n`` single creates."""
    path = f"/api/v1/organisations/{ORG_SLUG}/reports/"
    requests = []
    for k in range(start, start + n):
        fields = create_fields(rng, k)
        requests.append((path, json.dumps(fields).encode(), credentials.headers[fields["product"]], 1))
    return requests


def batch_requests(rng: random.Random, n_batches: int, size: int, credentials: Credentials,
                   start: int = 0) -> list[tuple]:
    """(path, body, headers, reports in it) for ``n_batches`` batches of ``size`` reports of one product each."""
    path = f"/api/v1/organisations/{ORG_SLUG}/reports/batch/"
    requests = []
    for b in range(n_batches):
        product = pick(rng, weighted([(slug, w) for slug, _, w in PRODUCTS]))
        items = []
        for k in range(size):
            fields = create_fields(rng, start + b * size + k)
            del fields["product"]
            items.append(fields)
        body = json.dumps({"product": product, "reports": items}).encode()
        requests.append((path, body, credentials.headers[product], size))
    return requests


def measure_creates(port: int, credentials: Credentials, requests: list[tuple], clients: int,
                    warmup: list[tuple], worker_pids: list[int]) -> dict:
    """Send ``requests`` from ``clients`` keep-alive clients; every answer must be 201."""
    lock = threading.Lock()
    next_index = [0]
    latencies: list[float] = []
    bad: list[tuple[int, bytes]] = []
    errors: list[str] = []
    created = [0]
    barrier = threading.Barrier(clients + 1)

    def worker():
        client = Client(port, credentials.cookies)
        mine, my_bad, my_reports = [], [], 0
        barrier.wait()
        try:
            while True:
                with lock:
                    index = next_index[0]
                    next_index[0] += 1
                if index >= len(requests):
                    break
                path, body, headers, n_reports = requests[index]
                status, _, answer, elapsed = client.request("POST", path, body, headers)
                mine.append(elapsed)
                if status != 201:
                    my_bad.append((status, answer[:300]))
                else:
                    my_reports += n_reports
        except Exception as error:  # noqa: BLE001 - reported, not hidden
            errors.append(repr(error))
        finally:
            client.close()
            with lock:
                latencies.extend(mine)
                bad.extend(my_bad)
                created[0] += my_reports

    if warmup:
        warm = [Client(port, credentials.cookies) for _ in range(clients)]
        for k, (path, body, headers, _) in enumerate(warmup):
            warm[k % clients].request("POST", path, body, headers)
        for client in warm:
            client.close()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    with CpuMeter(worker_pids) as meter:
        barrier.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join(timeout=900)
        wall = time.perf_counter() - started
    ok = len(latencies) - len(bad)
    reports = max(1, created[0])
    return {"n": len(latencies), "ok": ok, "reports": created[0], "wall": wall,
            "rate": created[0] / wall if wall else 0.0, "requests_rate": ok / wall if wall else 0.0,
            "server_cpu_ms": meter.server / reports * 1000, "client_cpu_ms": meter.me / reports * 1000,
            "server_cpu_ms_per_request": meter.server / max(1, len(latencies)) * 1000,
            "server_cores": meter.server / meter.wall, "foreign_cores": meter.foreign_cores(),
            "p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "p99": percentile(latencies, 99),
            "bad": bad, "errors": errors}


def explain(organisation_slug: str, owner_id: int, query_strings: list[tuple[str, str]]) -> None:
    """In-process diagnostics for each scenario: queries per request (by table), time in SQL,
    time outside SQL (view, serializer, template), and the plan of every query on reports_report."""
    from django.db import connection
    from django.test import Client as DjangoClient

    from vulndesk.accounts.models import User

    client = DjangoClient()
    client.force_login(User.objects.get(pk=owner_id))
    session = client.session
    try:  # a session that passed the second factor, as the real login makes it
        from django_otp import DEVICE_ID_SESSION_KEY
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device = TOTPDevice.objects.filter(user_id=owner_id, confirmed=True).first()
        if device is not None:
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()
    except ImportError:
        pass
    log("\nDiagnostics (in-process, Django test client, median of 5 requests after 2 warm-ups):")
    seen_plans: set[str] = set()
    for surface, base in (("page", f"/o/{organisation_slug}/reports/"),
                          ("api ", f"/api/v1/organisations/{organisation_slug}/reports/")):
        for name, qs in query_strings:
            url = f"{base}?{qs}" if qs else base
            try:
                for _ in range(2):
                    client.get(url)
            except Exception as error:  # noqa: BLE001 - a diagnostic must not end the run
                log(f"  {surface} {name:32} failed: {error!r}")
                continue
            runs = []
            for _ in range(5):
                queries: list[tuple[str, float]] = []

                def timed(execute, sql, params, many, context, queries=queries):
                    started = time.perf_counter()
                    try:
                        return execute(sql, params, many, context)
                    finally:
                        queries.append((sql, params, time.perf_counter() - started))

                with connection.execute_wrapper(timed):
                    started = time.perf_counter()
                    response = client.get(url)
                    total = time.perf_counter() - started
                runs.append((total, queries, response.status_code))
            runs.sort(key=lambda run: run[0])
            total, queries, status = runs[len(runs) // 2]
            sql_time = sum(q[2] for q in queries)
            tables: dict[str, int] = {}
            for sql, _, _ in queries:
                match = re.search(r'FROM "(\w+)"', sql) or re.match(r'(\w+ \w*)', sql)
                key = match.group(1) if match else sql[:20]
                tables[key] = tables.get(key, 0) + 1
            log(f"  {surface} {name:32} {status}  {len(queries):3d} queries  total {total * 1000:6.1f} ms  "
                f"(execute() calls {sql_time * 1000:.1f} ms; the report queries re-run with their fetch below)")
            log(f"        queries by table: {', '.join(f'{t} x{n}' for t, n in sorted(tables.items(), key=lambda kv: -kv[1]))}")
            for sql, params, _ in queries:
                if not sql.startswith("SELECT") or 'FROM "reports_report"' not in sql:
                    continue
                with connection.cursor() as cursor:
                    cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
                    plan = " | ".join(row[-1] for row in cursor.fetchall())
                    started = time.perf_counter()  # execute() alone stops at the first row: time the fetch too
                    cursor.execute(sql, params)
                    n_rows = len(cursor.fetchall())
                    elapsed = time.perf_counter() - started
                shape = re.sub(r"SELECT .*? FROM", "SELECT ... FROM", sql, count=1)
                log(f"        {elapsed * 1000:6.2f} ms  {n_rows:3d} rows  plan: {plan}")
                if shape not in seen_plans:
                    seen_plans.add(shape)
                    log(f"                   sql: {shape[:500]}  params={list(params)[:8]}")


# --------------------------------------------------------------------------------------------

def source_version() -> str:
    """The commit of the code measured, and whether src/ has uncommitted changes (read-only git)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--shortstat", "HEAD", "--", "src"], cwd=ROOT, capture_output=True,
                               text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head or 'unknown'}{' + uncommitted: ' + dirty if dirty else ''}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark report creation and the triage queue of vulndesk (gunicorn + SQLite, loopback only).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--reports", type=int, default=100_000,
                        help="bulk reports to build (use 1000000 for the 1M case)")
    parser.add_argument("--creates", type=int, default=3000, help="reports to create through the API")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients for the create run")
    parser.add_argument("--requests", type=int, default=200, help="measured requests per list scenario")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up requests per list scenario")
    parser.add_argument("--max-seconds", type=float, default=60.0,
                        help="cap on the measured time per list scenario (fewer requests are then reported)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (vulndesk serve: 2)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (vulndesk serve: 4)")
    parser.add_argument("--wsgi", default="vulndesk.wsgi:application",
                        help="WSGI app for gunicorn (a wrapper module on PYTHONPATH can add probes)")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--data-dir", type=Path,
                        help="use this data dir instead of a temporary one; a dataset built there before "
                             "(same --reports) is reused, and the dir is kept")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    parser.add_argument("--skip-lists", action="store_true", help="skip the list latency measurements")
    parser.add_argument("--skip-creates", action="store_true", help="skip the create throughput measurement")
    parser.add_argument("--only", action="append", default=[], metavar="SUBSTRING",
                        help="run only list scenarios whose name contains SUBSTRING (repeatable)")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="before each list scenario and the create run, wait up to SECONDS for other "
                             "processes to leave the CPUs (shared machines)")
    parser.add_argument("--keep-rate-limit", action="store_true",
                        help="keep vulndesk's default API rate limit (600/min per account) instead of lifting it")
    parser.add_argument("--create-warmup", type=int, default=100, help="untimed creates before the create run")
    parser.add_argument("--auth", choices=sorted(AUTH_LABELS), default="token",
                        help="how the create clients authenticate: an API token per product (CI), a JWT of the owner "
                             "(a script acting as a person) or the browser session (cookie + CSRF header); the list "
                             "scenarios always use the browser session")
    parser.add_argument("--batches", type=int, default=30, help="batch creates to send (POST .../reports/batch/)")
    parser.add_argument("--batch-size", type=int, default=100, help="reports per batch (the API takes 1 to 100)")
    parser.add_argument("--skip-batch", action="store_true", help="skip the batch create measurement")
    parser.add_argument("--analyze", action="store_true",
                        help="run ANALYZE after the build (vulndesk itself does not; shows the planner effect)")
    parser.add_argument("--explain", action="store_true",
                        help="after the run, print queries per request, SQL time and plans (in-process)")
    args = parser.parse_args(argv)
    if args.reports < 1000:
        parser.error("--reports must be at least 1000")

    temporary = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="vulndesk-bench-")) if temporary else args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    server = None
    figures: dict = {}
    try:
        django_setup(data_dir, args.keep_rate_limit)
        db_path = data_dir / "vulndesk.sqlite3"
        marker = data_dir / "bench-dataset.json"
        log(f"vulndesk benchmark: {args.reports:,} reports, data dir {data_dir}")
        log(f"  code: {source_version()}")
        if marker.exists() and json.loads(marker.read_text()).get("reports") == args.reports:
            fixed = json.loads(marker.read_text())["fixed"]
            build = json.loads(marker.read_text())["build"]
            log(f"  reusing the dataset built before (build took {build['total_s']:.1f} s); applying new migrations")
            from django.core.management import call_command
            from django.db import connection

            call_command("migrate", interactive=False, verbosity=0)  # as `vulndesk serve` does at start
            connection.close()
        else:
            if db_path.exists():
                raise SystemExit(f"{data_dir} holds a database that is not a {args.reports:,}-report dataset")
            started = time.perf_counter()
            log("  building: migrate + organisation, products, staff through the services")
            fixed = build_fixed_rows(random.Random(args.seed))
            from django.db import connection

            connection.close()
            log(f"  building: {args.reports:,} reports + timelines (batches of {BATCH:,})")
            loaded = bulk_load(db_path, args.reports, fixed, args.seed)
            if args.analyze:
                sqlite3.connect(db_path).execute("ANALYZE").connection.close()
            build = {"total_s": time.perf_counter() - started, **loaded,
                     "db_mb": db_path.stat().st_size / 2**20}
            marker.write_text(json.dumps({"reports": args.reports, "fixed": fixed, "build": build}))
        figures["build"] = build
        figures["loader_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        params = pick_parameters(db_path, fixed, args.reports)
        log(f"  built in {build['total_s']:.1f} s (rows {build['insert_s']:.1f} s, indexes {build['index_s']:.1f} s), "
            f"db {build['db_mb']:.0f} MiB, {build['events']:,} timeline events, {build.get('tokens', 0):,} search tokens, "
            f"{params['counts']['open']:,} open ({params['counts']['overdue_open']:,} overdue); "
            f"loader peak RSS {figures['loader_maxrss_mb']:.0f} MiB")
        log(f"  states: {', '.join(f'{k} {v:,}' for k, v in sorted(build['states'].items(), key=lambda kv: -kv[1]))}")

        port = free_port()
        server = start_server(data_dir, port, args.workers, args.threads, args.keep_rate_limit, args.wsgi)
        workers = children_of(server.pid)
        log(f"  gunicorn on 127.0.0.1:{port} (pid {server.pid}, workers {workers}, "
            f"{args.workers} workers x {args.threads} threads)")
        cookies = login(port, fixed["owner_id"])
        sampler = MemorySampler(workers)
        sampler.start()

        chosen = scenarios(params)
        if args.only:
            chosen = [s for s in chosen if any(o in s[0] for o in args.only)]
        list_results = []
        if not args.skip_lists:
            log(f"  measuring {len(chosen)} list scenarios x (page, api), {args.requests} requests each "
                f"after {args.warmup} warm-up")
            for name, qs in chosen:
                for surface, base in (("page", f"/o/{ORG_SLUG}/reports/"),
                                      ("api", f"/api/v1/organisations/{ORG_SLUG}/reports/")):
                    path = f"{base}?{qs}" if qs else base
                    if args.wait_quiet:
                        wait_quiet(args.wait_quiet)
                    result = measure_list(port, cookies, path, args.requests, args.warmup, args.max_seconds, workers)
                    list_results.append((surface, name, result))
                    log(f"    {surface:4} {name:32} p50 {result['p50'] * 1000:7.1f} ms  p95 {result['p95'] * 1000:7.1f} ms"
                        f"  rows {result['rows']}  server CPU {result['server_cpu_ms']:.1f} ms/req"
                        f"  other load {result['foreign_cores']:.2f} cores")
        anon_after_lists = {pid: memory_of(pid)["RssAnon"] for pid in workers}

        creates = []  # (label, figures)
        if not (args.skip_creates and args.skip_batch):
            credentials = Credentials(args.auth, port, cookies, fixed)
            rng = random.Random(args.seed + 1)
            warmup = single_requests(random.Random(args.seed + 2), args.create_warmup, credentials, start=10**6)
        if not args.skip_creates:
            if args.wait_quiet:
                wait_quiet(args.wait_quiet)
            log(f"  measuring {args.creates:,} single API creates from {args.clients} concurrent clients "
                f"(auth: {AUTH_LABELS[args.auth]})")
            measured = measure_creates(port, credentials, single_requests(rng, args.creates, credentials),
                                       args.clients, warmup, workers)
            creates.append(("single", f"API create, single (POST .../reports/, auth: {AUTH_LABELS[args.auth]})",
                            measured))
        if not args.skip_batch:
            if args.wait_quiet:
                wait_quiet(args.wait_quiet)
            log(f"  measuring {args.batches:,} batch creates of {args.batch_size} reports from {args.clients} "
                f"concurrent clients (auth: {AUTH_LABELS[args.auth]})")
            batch_warmup = batch_requests(random.Random(args.seed + 3), 4, args.batch_size, credentials, start=2 * 10**6)
            measured = measure_creates(port, credentials,
                                       batch_requests(rng, args.batches, args.batch_size, credentials, start=10**5),
                                       args.clients, batch_warmup, workers)
            creates.append(("batch", f"API create, batch of {args.batch_size} (POST .../reports/batch/, auth: "
                                     f"{AUTH_LABELS[args.auth]})", measured))
        sampler.stop()
        worker_mem = {pid: memory_of(pid) for pid in workers}
        master_mem = memory_of(server.pid)
        stop_server(server)
        server = None

        # ---- report --------------------------------------------------------------------------
        target_ms = 50.0 if args.reports <= 100_000 else 100.0
        log("")
        log("=" * 100)
        log(f"vulndesk benchmark results: {args.reports:,} bulk reports, gunicorn {args.workers}x{args.threads}, "
            f"SQLite WAL, {os.cpu_count()} CPUs; code {source_version()}")
        log("=" * 100)
        log(f"Data build: {build['total_s']:.1f} s  (rows {build['insert_s']:.1f} s + indexes {build['index_s']:.1f} s), "
            f"{build['db_mb']:.0f} MiB, loader peak RSS {figures['loader_maxrss_mb']:.0f} MiB")
        for kind, label, create in creates:
            verdict = "MET" if create["rate"] >= CREATE_TARGET_PER_S and not create["bad"] else "MISSED"
            unit = "create" if kind == "single" else "report"
            log("")
            log(f"{label}")
            log(f"  answers    {create['ok']:,}/{create['n']:,} requests answered 201 ({create['reports']:,} reports) "
                f"in {create['wall']:.2f} s from {args.clients} clients")
            log(f"  throughput {create['rate']:8.1f} reports/s"
                + (f" ({create['requests_rate']:.1f} batches/s)" if kind == "batch" else "")
                + f"   target >= {CREATE_TARGET_PER_S:.0f} reports/s   {verdict}")
            log(f"  latency    p50 {create['p50'] * 1000:.1f} ms  p95 {create['p95'] * 1000:.1f} ms  "
                f"p99 {create['p99'] * 1000:.1f} ms per request")
            log(f"  CPU        server {create['server_cpu_ms']:.2f} ms/{unit} ({create['server_cores']:.2f} cores busy), "
                f"client {create['client_cpu_ms']:.2f} ms/{unit}, other processes {create['foreign_cores']:.2f} cores")
            for status, body in create["bad"][:3]:
                log(f"  non-201: {status} {body!r}")
            for error in create["errors"][:3]:
                log(f"  client error: {error}")
        if list_results:
            log("")
            log(f"List latency (sequential, ms; target p95 < {target_ms:.0f} ms at this size)")
            log(f"  {'surface':7} {'scenario':32} {'n':>4} {'rows':>5} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} "
                f"{'cpu/req':>7} {'other':>5}  target")
            met = missed = 0
            for surface, name, r in list_results:
                ok = r["p95"] * 1000 < target_ms and not r["bad"]
                met, missed = met + ok, missed + (not ok)
                flag = "met" if ok else ("MISSED" if not r["bad"] else f"MISSED ({len(r['bad'])} non-200)")
                log(f"  {surface:7} {name:32} {r['n']:4d} {r['rows'] if r['rows'] is not None else '-':>5} "
                    f"{r['p50'] * 1000:7.1f} {r['p95'] * 1000:7.1f} {r['p99'] * 1000:7.1f} {r['max'] * 1000:7.1f} "
                    f"{r['server_cpu_ms']:7.1f} {r['foreign_cores']:5.2f}  {flag}")
                for status, body in r["bad"][:1]:
                    log(f"      non-200: {status} {body!r}")
            log(f"  {met} met, {missed} missed.  cpu/req: server CPU ms per request; other: cores used by "
                "other processes meanwhile (> 0.2 means the figures are disturbed)")
        log("")
        log("Memory per gunicorn worker (anon = Python heap; file = SQLite's mmap of the database and libraries)")
        for pid, mem in worker_mem.items():
            start = sampler.first[pid]["RssAnon"]
            log(f"  worker {pid}: anon {start / 1024:6.1f} MiB after login -> {anon_after_lists[pid] / 1024:6.1f} after "
                f"lists -> {mem['RssAnon'] / 1024:6.1f} at the end, peak {sampler.peak_anon[pid] / 1024:6.1f} MiB; "
                f"file {mem['RssFile'] / 1024:6.1f} MiB; peak RSS {mem['VmHWM'] / 1024:6.1f} MiB")
        log(f"  gunicorn master: RSS {master_mem['VmRSS'] / 1024:.1f} MiB; loader (this process) peak "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
        log("=" * 100)

        if args.explain:
            explain(ORG_SLUG, fixed["owner_id"], chosen)
    except KeyboardInterrupt:
        log("interrupted")
    finally:
        stop_server(server)
        if temporary and not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        elif temporary:
            log(f"data dir kept: {data_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
