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
"""

import contextlib
import fcntl
import os
import threading

from django.db import OperationalError
from django.db.backends.sqlite3 import base

_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLAC")  # the first six characters of a write


class _WriteQueue:
    """One per database file and process: a thread lock, then an exclusive flock."""

    def __init__(self, path: str):
        self.path = path
        self.threads = threading.Lock()
        self.fd: int | None = None
        self.fd_pid = 0

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

    def leave(self) -> None:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            self.threads.release()

    @contextlib.contextmanager
    def turn(self, timeout: float):
        self.enter(timeout)
        try:
            yield
        finally:
            self.leave()


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
        return _write_queue(str(self.settings_dict["NAME"])).turn(self._queue_timeout())

    def _queue_timeout(self) -> float:
        return float(self.settings_dict["OPTIONS"].get("timeout", 5))

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

    def _leave_write_queue(self):
        queue, self._write_queue_held = self._write_queue_held, None
        if queue is not None:
            queue.leave()

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._leave_write_queue()

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
