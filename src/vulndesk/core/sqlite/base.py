"""Django's SQLite backend, with write transactions queued instead of polling for the lock.

Every atomic block on SQLite starts with BEGIN IMMEDIATE (settings: ``transaction_mode``), so
a writer takes SQLite's single write lock when it begins. A writer that finds it taken is left
to SQLite's busy handler, which sleeps and retries after 1, 2, 5, 10, 15 … 100 ms: it wakes long
after the lock is free, and the writers that waited longest sleep longest. Here a writer first
waits its turn among the threads of its process (a lock with the database's timeout), then
among the processes using the database file (``flock`` on ``<database>-writelock``, which the
kernel hands over the moment it is released, and frees if a process dies), and only then
sends BEGIN IMMEDIATE, which then finds the lock free.

Measured with benchmarks/bench_reports.py (1,000 reports; 3,000 API-token creates, then 30
batches of 100, from 8 clients) on the quiet 2-core machine, gunicorn 2 workers x 4 threads,
the same application code otherwise:

* SQLite's busy handler alone: 131 creates/s, p99 767 ms; batches 1,069 reports/s.
* a per-process thread lock only: 154-168 creates/s, p99 480-660 ms (each worker still spent
  ~7 s in SQLite's busy sleeps for 1,500 creates).
* thread lock + flock across processes (this module): 166-174 creates/s, p99 132 ms; batches
  1,254-1,324 reports/s; busy sleeps ~0.2 s per worker.

Waiting: a thread waits for its process's other writers as long as the database's busy
timeout (``OPTIONS["timeout"]``), then fails the way SQLite does ("database is locked"). The
one thread per process that waits on ``flock`` waits until the holder commits, rolls back,
closes or dies; a transaction stuck for longer than the timeout therefore holds up the others
in their queue, where they fail after the timeout as they would on SQLite's own lock.
A write outside a transaction (autocommit: INSERT, UPDATE, DELETE, REPLACE, e.g. django-tasks-db
marking a task done) waits in the same queue for the one statement. Measured with
benchmarks/bench_mail.py (1,000 plain messages, 1 worker): these writes slept in SQLite's busy
handler for ~15 % of the worker's wall time while smtpd committed; queued, acknowledgements went
from 87-100 to 102-106 messages/s. Deferred transactions still meet SQLite's busy handler.
In-memory databases (the test suite) are left as Django has them.

Checkpoints outside the queue. SQLite copies the write-ahead log back into the database file
(a checkpoint: ~1,000 pages and two fsyncs) from inside the COMMIT that crosses
``wal_autocheckpoint`` pages, so that commit held the write queue for milliseconds while every
other writer waited: one API create writes ~43 WAL pages, a checkpoint fell on every ~23rd
create and the commit's p99 was 7.5 ms against a p50 of 0.19 ms (100k reports). Here the
connections raise the automatic checkpoint to a safety net (``WAL_SAFETY_NET_PAGES``) and the
process runs a PASSIVE checkpoint (which takes no write lock and lets writers go on appending)
after every ``CHECKPOINT_EVERY_WRITES`` of its write turns, *after* giving the turn back. Routine
writes keep the log far below the safety net, so it fires only when write turns are large (bulk
loads, key rotation, re-indexing: 20 turns of thousands of rows each would otherwise let the log
grow to hundreds of MB before the next counted checkpoint).
"""

import contextlib
import fcntl
import os
import sqlite3
import threading

from django.db import OperationalError
from django.db.backends.sqlite3 import base

_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLAC")  # the first six characters of a write
# Write turns of a process between its checkpoints: ~20 creates are ~900 WAL pages, about
# SQLite's own default of 1,000 pages (a batch of 100 writes more per turn; it is checkpointed
# as soon as it is due, whatever its size, so the log stays bounded either way).
CHECKPOINT_EVERY_WRITES = 20
# SQLite's own checkpoint, kept as a bound for large write turns: ~40 MB of 4 KiB pages, ten times
# what the counted checkpoints let the log reach under routine writes.
WAL_SAFETY_NET_PAGES = 10_000


class _WriteQueue:
    """One per database file and process: a thread lock, then an exclusive flock."""

    def __init__(self, path: str):
        self.path = path
        self.threads = threading.Lock()
        self.fd: int | None = None
        self.fd_pid = 0
        self.writes = 0  # write turns since this process's last checkpoint (under ``threads``)

    def enter(self, timeout: float) -> None:
        if not self.threads.acquire(timeout=timeout):
            raise OperationalError("database is locked (waited for this process's other writers)")
        try:
            if self.fd is None or self.fd_pid != os.getpid():
                # A descriptor inherited through fork shares its lock with the parent: reopen.
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                self.fd_pid = os.getpid()
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            self.threads.release()
            raise

    def leave(self, *, wrote: bool = False) -> bool:
        """Give the turn back; True when this caller should now run the process's checkpoint."""
        due = False
        try:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            if wrote:
                self.writes += 1
                if self.writes >= CHECKPOINT_EVERY_WRITES:
                    self.writes, due = 0, True
            self.threads.release()
        return due

    @contextlib.contextmanager
    def turn(self, timeout: float, database: "DatabaseWrapper"):
        self.enter(timeout)
        wrote = False
        try:
            yield
            wrote = True
        finally:
            due = self.leave(wrote=wrote)
        if due:
            database.checkpoint()


_queues: dict[str, _WriteQueue] = {}
_queues_guard = threading.Lock()


def _write_queue(database: str) -> _WriteQueue:
    with _queues_guard:
        queue = _queues.get(database)
        if queue is None:
            queue = _queues[database] = _WriteQueue(f"{database}-writelock")
        return queue


class _QueuedCursor(base.SQLiteCursorWrapper):
    """Runs an autocommit write (its own implicit transaction) with the write queue held."""

    database: "DatabaseWrapper"

    def execute(self, query, params=None):
        with self.database.autocommit_write_turn(query):
            return super().execute(query, params)

    def executemany(self, query, param_list):
        with self.database.autocommit_write_turn(query):
            return super().executemany(query, param_list)


class DatabaseWrapper(base.DatabaseWrapper):
    _write_queue_held: _WriteQueue | None = None

    def create_cursor(self, name=None):
        if not self._queues_writes():
            return super().create_cursor(name)
        cursor = self.connection.cursor(factory=_QueuedCursor)
        cursor.database = self
        return cursor

    def autocommit_write_turn(self, query: str):
        """The write queue for ``query`` when it is a write outside any transaction; else nothing."""
        if (self._write_queue_held is not None or self.in_atomic_block or not self.get_autocommit()
                or query.lstrip()[:6].upper() not in _WRITE_VERBS):
            return contextlib.nullcontext()
        return _write_queue(str(self.settings_dict["NAME"])).turn(self._queue_timeout(), self)

    def _queue_timeout(self) -> float:
        return float(self.settings_dict["OPTIONS"].get("timeout", 5))

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        if self._queues_writes():
            connection.execute(f"PRAGMA wal_autocheckpoint={int(WAL_SAFETY_NET_PAGES)}")  # see checkpoint()
        return connection

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file without holding the write queue.
        PASSIVE: never waits for readers or writers; what it cannot copy now, the next one will.
        On the raw connection, so that it is not one of the request's counted queries."""
        try:
            self.connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:  # e.g. closed meanwhile; the next checkpoint (or the last close) catches up
            pass

    def _queues_writes(self) -> bool:
        mode = getattr(self, "transaction_mode", None) or ""
        return mode.upper() in {"IMMEDIATE", "EXCLUSIVE"} and not self.is_in_memory_db()

    def _start_transaction_under_autocommit(self):
        if not self._queues_writes():
            return super()._start_transaction_under_autocommit()
        queue = _write_queue(str(self.settings_dict["NAME"]))
        queue.enter(timeout=self._queue_timeout())
        self._write_queue_held = queue
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._leave_write_queue()
            raise

    def _leave_write_queue(self, *, wrote: bool = False) -> bool:
        queue, self._write_queue_held = self._write_queue_held, None
        return queue is not None and queue.leave(wrote=wrote)

    def _commit(self):
        committed = False
        try:
            result = super()._commit()
            committed = True
            return result
        finally:
            if self._leave_write_queue(wrote=committed):
                self.checkpoint()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._leave_write_queue()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._leave_write_queue()
