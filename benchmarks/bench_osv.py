#!/usr/bin/env python
"""Benchmark the OSV-compatible API: POST /api/osv/v1/query and /querybatch at 100k advisories.

One command builds its own data in a fresh temporary data directory and measures:

* ``POST /api/osv/v1/query``: p50/p95/p99 of sequential single queries (package + version,
  Zipf-skewed over packages as real lock files are, some for packages without advisories, some
  by commit). **Target: p95 < 5 ms.**
* ``POST /api/osv/v1/querybatch`` with 1,000 queries per batch: p50/p95/max per batch.
* ``GET /api/osv/v1/vulns/<id>``: p50/p95.

Served two ways (``--via``): **gunicorn** on a free 127.0.0.1 port started as ``vulndesk serve``
starts it (2 workers x 4 threads, SQLite in WAL mode), a keep-alive ``http.client`` connection
sending one request at a time (the figures include HTTP and JSON on loopback); and **client**,
Django's test ``Client`` in this process (no socket: the server-side cost only). The OSV rate
limiter runs on every request, with its limit lifted (RATE_LIMIT_OSV_PER_MINUTE) so one client
can measure.

**How the data is made (stated because it is not the publish path):** the organisation is made
by the real service; the 100k published advisories (rows with their ``public_document``), their
~300k affected ranges (``AffectedPackage`` rows) and the index rows are **bulk-inserted directly**
with ``bulk_create`` for speed. The index rows are computed by the same code the publish hook
runs (``vulndesk.osv.index.entries_for_document``) from each advisory's public document, so the
index is what publishing would have written. Ecosystems: PyPI, npm, Maven, Go, crates.io and
GIT commits; 1-3 packages per advisory with 1-3 ranges each (introduced/fixed pairs, fixed or
last_affected ends, a few multi-pair ranges, listed versions), packages drawn Zipf-like so a
few packages have hundreds of advisories, as on osv.dev.

It is a measurement, not a test: exit status 0 whatever the figures. Examples::

    .venv/bin/python benchmarks/bench_osv.py                 # 100k advisories, both ways
    .venv/bin/python benchmarks/bench_osv.py --via client --advisories 20000 --explain
    .venv/bin/python benchmarks/bench_osv.py --profile       # pyinstrument of the in-process queries
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _server import children_of, cpu_seconds, free_port, start_gunicorn, stop_gunicorn

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 5.0
ECOSYSTEM_SHARE = [("PyPI", 30), ("npm", 28), ("Maven", 15), ("Go", 12), ("crates.io", 9), ("GIT", 6)]
PACKAGES_PER_ECOSYSTEM = {"PyPI": 6000, "npm": 8000, "Maven": 4000, "Go": 3000, "crates.io": 2000, "GIT": 1}


def log(message: str = "") -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------------------------
# Versions and packages per ecosystem
# --------------------------------------------------------------------------------------------

_CUMULATIVE: dict[int, list[float]] = {}


def zipf_index(rng: random.Random, size: int, offset: int = 30) -> int:
    """An index in [0, size) drawn Zipf-like, weight 1/(index + offset): with 100k advisories the
    most popular PyPI package gets a few hundred advisories and most packages one or none."""
    if size not in _CUMULATIVE:
        total, cumulative = 0.0, []
        for index in range(size):
            total += 1 / (index + offset)
            cumulative.append(total)
        _CUMULATIVE[size] = cumulative
    return rng.choices(range(size), cum_weights=_CUMULATIVE[size])[0]


def package_name(ecosystem: str, index: int) -> str:
    return {"PyPI": f"pylib-{index}", "npm": f"js-lib-{index}", "Maven": f"org.example{index % 97}:artifact-{index}",
            "Go": f"example.org/mod{index}/v2", "crates.io": f"crate_{index}"}[ecosystem]


def version(rng: random.Random, ecosystem: str, major: int, minor: int, patch: int) -> str:
    roll = rng.random()
    if ecosystem == "PyPI":
        if roll < 0.05:
            return f"{major}.{minor}.{patch}rc{rng.randint(1, 3)}"
        if roll < 0.08:
            return f"{major}.{minor}.{patch}.post{rng.randint(1, 2)}"
        return f"{major}.{minor}.{patch}"
    if ecosystem == "Maven":
        if roll < 0.10:
            return f"{major}.{minor}.{patch}.RELEASE"
        if roll < 0.15:
            return f"{major}.{minor}.{patch}-rc{rng.randint(1, 3)}"
        return f"{major}.{minor}.{patch}"
    if roll < 0.05:
        return f"{major}.{minor}.{patch}-beta.{rng.randint(1, 4)}"
    return f"{major}.{minor}.{patch}"


def random_version(rng: random.Random, ecosystem: str) -> str:
    return version(rng, ecosystem, rng.randint(0, 6), rng.randint(0, 20), rng.randint(0, 30))


def version_pair(rng: random.Random, ecosystem: str) -> tuple[str, str]:
    major, minor = rng.randint(0, 6), rng.randint(0, 20)
    start = version(rng, ecosystem, major, minor, rng.randint(0, 10))
    end = version(rng, ecosystem, major, minor, rng.randint(11, 30))
    return start, end


def make_range(rng: random.Random, ecosystem: str) -> dict:
    if ecosystem == "GIT":
        return {"type": "GIT", "repo": f"https://git.example.org/project{rng.randint(0, 500)}.git",
                "events": [{"introduced": f"{rng.getrandbits(160):040x}"}, {"fixed": f"{rng.getrandbits(160):040x}"}]}
    kind = "SEMVER" if ecosystem in ("npm", "crates.io", "Go") else "ECOSYSTEM"
    roll = rng.random()
    if roll < 0.25:
        events = [{"introduced": "0"}, {"fixed": version_pair(rng, ecosystem)[1]}]
    elif roll < 0.35:
        events = [{"introduced": version_pair(rng, ecosystem)[0]}, {"last_affected": version_pair(rng, ecosystem)[1]}]
    elif roll < 0.42:  # two introduced/fixed pairs in one range (a backported fix)
        a, b = version_pair(rng, ecosystem)
        c, d = version(rng, ecosystem, 7, rng.randint(0, 9), 0), version(rng, ecosystem, 7, 9, 40)
        events = [{"introduced": a}, {"fixed": b}, {"introduced": c}, {"fixed": d}]
    elif roll < 0.45:
        events = [{"introduced": version_pair(rng, ecosystem)[0]}]  # not fixed yet
    else:
        a, b = version_pair(rng, ecosystem)
        events = [{"introduced": a}, {"fixed": b}]
    return {"type": kind, "events": events}


def make_document(rng: random.Random, osv_id: str, modified: str, published: str) -> tuple[dict, list[dict]]:
    """(OSV document as documents.osv_document shapes it, affected packages as stored)."""
    ecosystems = [name for name, _ in ECOSYSTEM_SHARE]
    weights = [share for _, share in ECOSYSTEM_SHARE]
    affected, packages = [], []
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
        ecosystem = rng.choices(ecosystems, weights)[0]
        ranges = [make_range(rng, ecosystem) for _ in range(rng.choice([1, 1, 2, 2, 3]))]
        if ecosystem == "GIT":
            affected.append({"ranges": ranges})
            packages.append({"ecosystem": "GIT", "package_name": ranges[0]["repo"], "ranges": ranges, "versions": []})
            continue
        name = package_name(ecosystem, zipf_index(rng, PACKAGES_PER_ECOSYSTEM[ecosystem]))
        versions = [random_version(rng, ecosystem)] if rng.random() < 0.1 else []
        entry = {"package": {"ecosystem": ecosystem, "name": name}, "ranges": ranges}
        if versions:
            entry["versions"] = versions
        affected.append(entry)
        packages.append({"ecosystem": ecosystem, "package_name": name, "ranges": ranges, "versions": versions})
    document = {
        "schema_version": "1.7.5", "id": osv_id, "modified": modified, "published": published,
        "summary": "Denial of service through crafted input",
        "details": "A crafted document makes the parser allocate without bound. " * 4,
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],
        "affected": affected,
        "references": [{"type": "ADVISORY", "url": f"https://security.example.org/{osv_id}"}],
        "database_specific": {"title": "Denial of service", "severity": "high", "cwe_ids": ["CWE-400"],
                              "workarounds": None, "revision": 1},
    }
    return document, packages


# --------------------------------------------------------------------------------------------
# Data build (in-process Django on the temporary data directory)
# --------------------------------------------------------------------------------------------

def django_setup(data_dir: Path) -> None:
    os.environ["VULNDESK_DATA_DIR"] = str(data_dir)
    os.environ["ACCESS_LOG_LEVEL"] = "WARNING"
    os.environ["RATE_LIMIT_OSV_PER_MINUTE"] = "1000000000"
    os.environ["DJANGO_SETTINGS_MODULE"] = "vulndesk.settings"
    for name in ("DATABASE_URL", "VULNDESK_ENV", "DEBUG"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    # The throttle reads settings.RATE_LIMITS["osv"] when the lead has added it; lift it too.
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "osv": (10**9, 60)}
    call_command("migrate", interactive=False, verbosity=0)


def build(advisories: int, seed: int) -> dict:
    from django.db import connection, transaction

    from vulndesk.advisories.models import Advisory, AffectedPackage
    from vulndesk.organisations.services import organisation_create
    from vulndesk.osv.index import aliases_of_document, entries_for_document
    from vulndesk.osv.models import AffectedRangeIndex, OsvAlias

    rng = random.Random(seed)
    organisation = organisation_create(name="Bench", slug="bench", reference_prefix="BENCH")
    started = time.monotonic()
    base = datetime(2023, 1, 1, tzinfo=UTC)
    counts = {"advisories": 0, "packages": 0, "ranges": 0, "index_rows": 0}
    sample: dict = {"osv_ids": [], "aliases": [], "commits": []}
    batch = 5000
    for start in range(0, advisories, batch):
        rows, packages_of = [], []
        for n in range(start, min(start + batch, advisories)):
            year, sequence = 2023 + n * 3 // advisories, n + 1
            identifier = f"BENCH-{year}-{sequence:06d}"
            when = base + timedelta(minutes=15 * n)
            stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
            document, packages = make_document(rng, f"x_{identifier}", stamp, stamp)
            cve = f"CVE-{year}-{100000 + n}" if n % 3 == 0 else ""
            if cve:
                document["aliases"] = [cve]
            rows.append(Advisory(
                organisation=organisation, identifier=identifier, year=year, sequence=sequence, state="published",
                is_public=True, revision=1, title="Denial of service", summary=document["summary"],
                details=document["details"], severity="high", cve_id=cve, public_document=document,
                public_title="Denial of service", public_summary=document["summary"], public_severity="high",
                public_modified_at=when, published_at=when, modified_at=when, created_at=when))
            packages_of.append(packages)
        with transaction.atomic():
            created = Advisory.objects.bulk_create(rows, batch_size=1000)
            affected_rows, index_rows, alias_rows = [], [], []
            for advisory, packages in zip(created, packages_of, strict=True):
                document = advisory.public_document
                for position, package in enumerate(packages):
                    affected_rows.append(AffectedPackage(advisory=advisory, position=position, **package))
                    counts["ranges"] += len(package["ranges"])
                for entry in entries_for_document(document):
                    index_rows.append(AffectedRangeIndex(
                        organisation_id=organisation.pk, advisory_id=advisory.pk, osv_id=document["id"],
                        modified=document["modified"], ecosystem=entry.ecosystem, package=entry.package,
                        kind=entry.kind, comparator=entry.comparator, events=entry.events, version=entry.version,
                        lower_key=entry.lower_key, upper_key=entry.upper_key, upper_inclusive=entry.upper_inclusive,
                        commit=entry.commit, commit_prefix=entry.commit[:7]))
                    if entry.commit and len(sample["commits"]) < 2000:
                        sample["commits"].append(entry.commit)
                alias_rows += [OsvAlias(advisory_id=advisory.pk, alias=alias) for alias in aliases_of_document(document)]
                if len(sample["osv_ids"]) < 5000:
                    sample["osv_ids"].append(document["id"])
                    sample["aliases"] += document.get("aliases", [])
            AffectedPackage.objects.bulk_create(affected_rows, batch_size=2000)
            AffectedRangeIndex.objects.bulk_create(index_rows, batch_size=2000)
            OsvAlias.objects.bulk_create(alias_rows, batch_size=2000)
        counts["advisories"] += len(rows)
        counts["packages"] += len(affected_rows)
        counts["index_rows"] += len(index_rows)
        done = counts["advisories"]
        if done % 20000 == 0 or done == advisories:
            log(f"  {done:,} advisories, {counts['ranges']:,} ranges, {counts['index_rows']:,} index rows "
                f"({time.monotonic() - started:.0f} s)")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    counts["seconds"] = time.monotonic() - started
    return counts | {"sample": sample}


# --------------------------------------------------------------------------------------------
# Query mix
# --------------------------------------------------------------------------------------------

def make_query(rng: random.Random, sample: dict) -> dict:
    roll = rng.random()
    if roll < 0.03 and sample["commits"]:
        return {"commit": rng.choice(sample["commits"])}
    ecosystems = [name for name, _ in ECOSYSTEM_SHARE if name != "GIT"]
    weights = [share for name, share in ECOSYSTEM_SHARE if name != "GIT"]
    ecosystem = rng.choices(ecosystems, weights)[0]
    # Lock files name popular packages more often; 20 % name packages no advisory mentions.
    if roll < 0.23:
        index = PACKAGES_PER_ECOSYSTEM[ecosystem] + rng.randint(0, 10**6)
    else:
        index = zipf_index(rng, PACKAGES_PER_ECOSYSTEM[ecosystem])
    value = random_version(rng, ecosystem)
    if ecosystem == "Go":
        value = "v" + value
    return {"package": {"ecosystem": ecosystem, "name": package_name(ecosystem, index)}, "version": value}


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]

    return {"n": len(ordered), "p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": ordered[-1],
            "mean": statistics.fmean(ordered)}


def show(name: str, figures: dict, extra: str = "") -> None:
    log(f"  {name:<34} n={figures['n']:>5}  p50 {figures['p50']:8.2f} ms  p95 {figures['p95']:8.2f} ms  "
        f"p99 {figures['p99']:8.2f} ms  max {figures['max']:8.2f} ms{extra}")


# --------------------------------------------------------------------------------------------
# Transports: Django's test Client in-process, or http.client to gunicorn
# --------------------------------------------------------------------------------------------

class InProcess:
    name = "Django test Client, in-process"

    def __init__(self):
        from django.test import Client

        self.client = Client()
        self.cpu_ms = None

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        payload = json.dumps(body) if body is not None else None
        started = time.thread_time()  # the view runs in this thread: its CPU, whatever the machine's load
        if method == "GET":
            response = self.client.get(path)
        else:
            response = self.client.post(path, data=payload, content_type="application/json")
        self.cpu_ms = (time.thread_time() - started) * 1000
        return response.status_code, response.content

    def cpu_total(self) -> float:
        return 0.0


class OverHttp:
    name = "gunicorn 2x4 on 127.0.0.1, keep-alive http.client"

    def __init__(self, port: int, server_pid: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.pids = [server_pid, *children_of(server_pid)]
        self.cpu_ms = None

    def cpu_total(self) -> float:
        """CPU seconds used so far by the gunicorn master and workers (from /proc)."""
        return sum(cpu_seconds(pid) for pid in self.pids)

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        self.connection.request(method, path, body=payload, headers=headers)
        response = self.connection.getresponse()
        return response.status, response.read()


def timed(transport, samples: dict, method: str, path: str, body=None) -> tuple[int, bytes]:
    started = time.perf_counter()
    status, content = transport.request(method, path, body)
    samples["wall"].append((time.perf_counter() - started) * 1000)
    if transport.cpu_ms is not None:
        samples["cpu"].append(transport.cpu_ms)
    return status, content


def summarise(transport, samples: dict, cpu_before: float, **extra) -> dict:
    figures = percentiles(samples["wall"]) | extra
    figures["cpu"] = percentiles(samples["cpu"]) if samples["cpu"] else None
    spent = transport.cpu_total() - cpu_before
    figures["server_cpu_ms"] = spent * 1000 / len(samples["wall"]) if spent else None
    return figures


def measure(transport, sample: dict, args, rng: random.Random) -> dict:
    results = {}
    # Warm-up: both gunicorn workers, the SQLite page cache, the version-key cache.
    for _ in range(args.warmup):
        transport.request("POST", "/api/osv/v1/query", make_query(rng, sample))
    load_before = os.getloadavg()[0]

    samples, hits, errors, cpu_before = {"wall": [], "cpu": []}, 0, [], transport.cpu_total()
    for _ in range(args.queries):
        status, content = timed(transport, samples, "POST", "/api/osv/v1/query", make_query(rng, sample))
        if status != 200:
            errors.append((status, content[:200]))
        elif json.loads(content)["vulns"]:
            hits += 1
    results["query"] = summarise(transport, samples, cpu_before, hits=hits, errors=errors)

    samples, matched, errors, cpu_before = {"wall": [], "cpu": []}, 0, [], transport.cpu_total()
    for _ in range(args.batches):
        body = {"queries": [make_query(rng, sample) for _ in range(args.batch_size)]}
        status, content = timed(transport, samples, "POST", "/api/osv/v1/querybatch", body)
        if status != 200:
            errors.append((status, content[:200]))
        else:
            matched += sum(1 for result in json.loads(content)["results"] if result["vulns"])
    results["batch"] = summarise(transport, samples, cpu_before, matched=matched, errors=errors)

    samples, errors, cpu_before = {"wall": [], "cpu": []}, [], transport.cpu_total()
    for _ in range(args.queries // 4):
        asked = rng.choice(sample["osv_ids"] + sample["aliases"])
        status, content = timed(transport, samples, "GET", f"/api/osv/v1/vulns/{asked}")
        if status != 200:
            errors.append((status, content[:200]))
    results["vulns"] = summarise(transport, samples, cpu_before, errors=errors)

    # The public advisory index of the organisation holding all 100k advisories (issue 10:
    # p95 < 100 ms): the first page, and the severity filter.
    samples, errors, cpu_before = {"wall": [], "cpu": []}, [], transport.cpu_total()
    for i in range(args.queries // 4):
        path = "/advisories/bench/" if i % 2 == 0 else "/advisories/bench/?severity=high"
        status, content = timed(transport, samples, "GET", path)
        if status != 200:
            errors.append((status, content[:200]))
    results["index"] = summarise(transport, samples, cpu_before, errors=errors)
    results["load"] = (load_before, os.getloadavg()[0])
    return results


def report(transport_name: str, results: dict, args) -> None:
    log(f"\n{transport_name}  (load average {results['load'][0]:.1f} -> {results['load'][1]:.1f} "
        f"on {os.cpu_count()} CPUs)")
    query = results["query"]
    verdict = "MET" if query["p95"] < TARGET_P95_MS else "MISSED"
    show("POST query", query, f"  ({query['hits']} of {query['n']} matched; target p95 < {TARGET_P95_MS:g} ms: "
                              f"{verdict})")
    batch = results["batch"]
    show(f"POST querybatch ({args.batch_size} queries)", batch,
         f"  ({batch['matched'] / max(1, batch['n']):.0f} queries matched per batch; "
         f"{batch['p50'] / args.batch_size * 1000:.0f} µs per query at p50)")
    show("GET vulns/<id or alias>", results["vulns"])
    index = results["index"]
    show("GET /advisories/<org>/ (public index)", index,
         f"  (target p95 < 100 ms: {'MET' if index['p95'] < 100 else 'MISSED'})")
    for name, label in (("query", "query"), ("batch", "querybatch"), ("vulns", "vulns/<id>"),
                        ("index", "advisory index")):
        figures = results[name]
        if figures["cpu"]:
            show(f"  CPU of the request ({label})", figures["cpu"])
        if figures["server_cpu_ms"]:
            log(f"    {label}: server CPU per request (gunicorn master + workers, mean) "
                f"{figures['server_cpu_ms']:.2f} ms")
        if figures["errors"]:
            log(f"  !! {name}: {len(figures['errors'])} non-200 answers, e.g. {figures['errors'][0]}")


def explain(sample: dict, rng: random.Random) -> None:
    from django.db import connection

    from vulndesk.osv import selectors
    from vulndesk.osv.queries import queries_from_json, query_from_json

    log("\nQuery plans (SQLite EXPLAIN QUERY PLAN)")
    query = query_from_json(make_query(rng, sample) | {"package": {"ecosystem": "PyPI", "name": "pylib-0"},
                                                         "version": "1.2.3"})
    connection.force_debug_cursor = True
    selectors.vulnerabilities_for_query(query=query)
    selectors.vulnerabilities_for_queries(queries=queries_from_json({"queries": [make_query(rng, sample)
                                                                                 for _ in range(3)]}))
    statements = [entry["sql"] for entry in connection.queries[-5:]]
    connection.force_debug_cursor = False
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            log(f"  {sql[:110]}...")
            for row in cursor.fetchall():
                log(f"      {row[-1]}")
    from vulndesk.osv.models import AffectedRangeIndex

    rows = AffectedRangeIndex.objects.filter(ecosystem="PyPI", package="pylib-0").count()
    log(f"  (the most popular PyPI package has {rows} index rows)")


def profile(sample: dict, rng: random.Random, args) -> None:
    from pyinstrument import Profiler

    transport = InProcess()
    for label, path, make_body, count in (
            ("POST query x500", "/api/osv/v1/query", lambda: make_query(rng, sample), 500),
            (f"POST querybatch ({args.batch_size} queries) x5", "/api/osv/v1/querybatch",
             lambda: {"queries": [make_query(rng, sample) for _ in range(args.batch_size)]}, 5)):
        bodies = [make_body() for _ in range(count)]
        profiler = Profiler(interval=0.0002)
        with profiler:
            for body in bodies:
                transport.request("POST", path, body)
        log(f"\nProfile: {label}")
        log(profiler.output_text(unicode=True, color=False, show_all=False))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Data: bulk-inserted advisories and index rows (see the module docstring).")
    parser.add_argument("--advisories", type=int, default=100_000, help="published advisories (default 100,000)")
    parser.add_argument("--queries", type=int, default=3000, help="timed single queries (default 3,000)")
    parser.add_argument("--warmup", type=int, default=300, help="untimed queries first (default 300)")
    parser.add_argument("--batches", type=int, default=20, help="timed querybatch requests (default 20)")
    parser.add_argument("--batch-size", type=int, default=1000, help="queries per batch (default 1,000)")
    parser.add_argument("--via", choices=["gunicorn", "client", "both"], default="both",
                        help="gunicorn on 127.0.0.1, Django's test Client in-process, or both (default)")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--explain", action="store_true", help="print the SQL plans of the query statements")
    parser.add_argument("--profile", action="store_true", help="pyinstrument profile of 500 in-process queries")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    parser.add_argument("--data-dir", type=Path, help="build the data in DIR and keep it; a later run with the same "
                                                      "DIR reuses it (saves the build)")
    parser.add_argument("--nice", type=int, default=0, metavar="N",
                        help="run the measuring process and gunicorn at this niceness (e.g. -10, as root) so "
                             "that other work on a shared machine disturbs the latencies less; the CPU figures "
                             "do not depend on it")
    parser.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                        help="before measuring, wait up to SECONDS for the 1-minute load average to fall below "
                             "the number of CPUs")
    args = parser.parse_args(argv)

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="vulndesk-bench-osv-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    saved = data_dir / "bench_osv_sample.json"
    server = None
    try:
        log(f"Data directory {data_dir}")
        django_setup(data_dir)
        if saved.exists():
            built = json.loads(saved.read_text())
            log(f"Reusing the data built in {data_dir}")
        else:
            log(f"Building {args.advisories:,} published advisories (bulk insert; index rows from "
                "entries_for_document)...")
            built = build(args.advisories, args.seed)
            if args.data_dir:
                saved.write_text(json.dumps(built))
        size = sum(p.stat().st_size for p in data_dir.glob("vulndesk.sqlite3*")) / 2**20
        log(f"Built {built['advisories']:,} advisories, {built['packages']:,} affected packages, "
            f"{built['ranges']:,} ranges, {built['index_rows']:,} index rows in {built['seconds']:.0f} s; "
            f"database {size:.0f} MiB")
        sample = built["sample"]
        if args.wait_quiet:
            deadline = time.monotonic() + args.wait_quiet
            while os.getloadavg()[0] >= (os.cpu_count() or 1) and time.monotonic() < deadline:
                time.sleep(5)
        if args.nice:
            os.setpriority(os.PRIO_PROCESS, 0, args.nice)
        if args.explain:
            explain(sample, random.Random(args.seed + 1))
        if args.profile:
            profile(sample, random.Random(args.seed + 2), args)
        if args.via in ("client", "both"):
            report(InProcess.name, measure(InProcess(), sample, args, random.Random(args.seed + 3)), args)
        if args.via in ("gunicorn", "both"):
            from django.db import connections

            connections.close_all()
            port = free_port()
            # The OSV limit is lifted so one client measures capacity; the limiter still runs.
            server = start_gunicorn(data_dir, port, env={"RATE_LIMIT_OSV_PER_MINUTE": "1000000000",
                                                         "ACCESS_LOG_LEVEL": "WARNING"})
            if args.nice:
                for pid in [server.pid, *children_of(server.pid)]:
                    os.setpriority(os.PRIO_PROCESS, pid, args.nice)
            report(OverHttp.name, measure(OverHttp(port, server.pid), sample, args, random.Random(args.seed + 3)),
                   args)
        log(f"\nMachine: {os.cpu_count()} CPUs; Python {sys.version.split()[0]}; SQLite (WAL), one client, "
            f"sequential requests{f'; niceness {args.nice}' if args.nice else ''}.")
    finally:
        stop_gunicorn(server)
        if args.keep or args.data_dir:
            log(f"Kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    sys.exit(main())
