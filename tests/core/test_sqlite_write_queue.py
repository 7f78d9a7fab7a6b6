"""The SQLite backend (core/sqlite/base.py) queues write transactions: the threads of a process
on a lock, the processes on an flock of ``<database>-writelock``. Threads write one after
another without losing an update or meeting "database is locked", a writer waits while another
process holds the file lock and starts the moment it is released, the queue is given back
however a transaction ends, a thread waits for its process's writers no longer than the
timeout, and in-memory databases are left alone. Real SQLite files, real threads."""

import fcntl
import os
import threading
import time

import pytest
from django.db import OperationalError, connections
from django.db.utils import ConnectionHandler

from vulndesk.core.sqlite.base import DatabaseWrapper

# Unblocks database access; the tests below use their own SQLite files besides the test database.
pytestmark = pytest.mark.django_db


@pytest.fixture
def database(tmp_path, settings):
    """A connection handler for a fresh SQLite file, configured like production."""
    options = dict(settings.DATABASES["default"].get("OPTIONS", {}))
    options.update({"transaction_mode": "IMMEDIATE", "timeout": 5,
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;"})
    handler = ConnectionHandler({"default": {"ENGINE": "vulndesk.core.sqlite", "NAME": str(tmp_path / "q.sqlite3"),
                                             "OPTIONS": options}})
    setup = handler["default"]
    with setup.cursor() as cursor:
        cursor.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        cursor.execute("INSERT INTO counter (id, n) VALUES (1, 0)")
    yield handler
    handler.close_all()


def write(db, work):
    """What transaction.atomic does on SQLite: BEGIN IMMEDIATE, work, COMMIT (or ROLLBACK)."""
    db.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    try:
        with db.cursor() as cursor:
            work(cursor)
        db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.set_autocommit(True)


@pytest.mark.skipif("connections['default'].vendor != 'sqlite'",
                    reason="tests the SQLite backend: this run's database is not SQLite (the rest of this "
                           "module uses SQLite files of its own; tests/core/test_database_settings.py checks "
                           "which backend each DATABASE_URL gets)")
def test_the_sqlite_settings_use_this_backend():
    assert isinstance(connections["default"], DatabaseWrapper)
    assert connections["default"].vendor == "sqlite"


def test_threads_write_one_after_another_and_lose_no_update(database):
    inside, most_inside, errors = [0], [0], []
    guard = threading.Lock()

    def increment(cursor):
        with guard:
            inside[0] += 1
            most_inside[0] = max(most_inside[0], inside[0])
        cursor.execute("SELECT n FROM counter WHERE id = 1")
        value = cursor.fetchone()[0]
        time.sleep(0.0005)  # a read-modify-write that would lose updates if two overlapped
        cursor.execute("UPDATE counter SET n = %s WHERE id = 1", [value + 1])
        with guard:
            inside[0] -= 1

    def worker():
        db = database["default"]
        try:
            for _ in range(40):
                write(db, increment)
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)
        finally:
            db.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert most_inside[0] == 1
    with database["default"].cursor() as cursor:
        cursor.execute("SELECT n FROM counter WHERE id = 1")
        assert cursor.fetchone()[0] == 8 * 40


def test_a_writer_waits_while_another_process_holds_the_file_lock(database, tmp_path):
    # Another open file description of the lock file stands for another process.
    other_process = os.open(str(tmp_path / "q.sqlite3-writelock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(other_process, fcntl.LOCK_EX)
    done = threading.Event()

    def writer():
        db = database["default"]
        write(db, lambda cursor: cursor.execute("UPDATE counter SET n = n + 1 WHERE id = 1"))
        db.close()
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert not done.wait(0.5)  # queued behind the other process, not polling SQLite
    fcntl.flock(other_process, fcntl.LOCK_UN)
    os.close(other_process)
    assert done.wait(5)
    thread.join()
    with database["default"].cursor() as cursor:
        cursor.execute("SELECT n FROM counter WHERE id = 1")
        assert cursor.fetchone()[0] == 1


def test_a_write_outside_a_transaction_waits_its_turn_and_a_read_does_not(database, tmp_path):
    other_process = os.open(str(tmp_path / "q.sqlite3-writelock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(other_process, fcntl.LOCK_EX)
    done, read = threading.Event(), threading.Event()

    def autocommit_writer():
        db = database["default"]
        with db.cursor() as cursor:
            cursor.execute("SELECT n FROM counter WHERE id = 1")
            cursor.fetchone()
            read.set()
            cursor.execute("UPDATE counter SET n = n + 1 WHERE id = 1")  # autocommit: its own transaction
        db.close()
        done.set()

    thread = threading.Thread(target=autocommit_writer)
    thread.start()
    assert read.wait(2)  # a read goes straight through
    assert not done.wait(0.5)  # the write is queued behind the other process
    fcntl.flock(other_process, fcntl.LOCK_UN)
    os.close(other_process)
    assert done.wait(5)
    thread.join()
    with database["default"].cursor() as cursor:
        cursor.execute("SELECT n FROM counter WHERE id = 1")
        assert cursor.fetchone()[0] == 1
    # The queue was given back: a transaction gets it at once.
    write(database["default"], lambda cursor: cursor.execute("UPDATE counter SET n = n + 1 WHERE id = 1"))


def test_a_failed_transaction_gives_the_queue_back(database):
    db = database["default"]

    def fail(cursor):
        cursor.execute("UPDATE counter SET n = 99 WHERE id = 1")
        raise ValueError("refused")

    with pytest.raises(ValueError):
        write(db, fail)
    write(db, lambda cursor: cursor.execute("UPDATE counter SET n = n + 1 WHERE id = 1"))

    with db.cursor() as cursor:
        cursor.execute("SELECT n FROM counter WHERE id = 1")
        assert cursor.fetchone()[0] == 1
    assert db._write_queue_held is None


def test_closing_a_connection_inside_a_transaction_gives_the_queue_back(database):
    first = database["default"]
    first.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    assert first._write_queue_held is not None
    first.close()

    done = []
    other = threading.Thread(target=lambda: (write(database["default"], lambda c: c.execute("SELECT 1")),
                                             done.append(True)))
    other.start()
    other.join(timeout=10)
    assert done == [True]


def test_a_writer_waits_no_longer_than_the_timeout(database):
    holder = database["default"]
    holder.settings_dict["OPTIONS"]["timeout"] = 0.2
    holder.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    failures = []

    def blocked():
        db = database["default"]
        started = time.monotonic()
        try:
            write(db, lambda cursor: cursor.execute("SELECT 1"))
        except OperationalError as error:
            failures.append((str(error), time.monotonic() - started))
        finally:
            db.close()

    thread = threading.Thread(target=blocked)
    thread.start()
    thread.join(timeout=10)
    holder.rollback()
    holder.set_autocommit(True)

    assert len(failures) == 1
    message, waited = failures[0]
    assert "waited for this process's other writers" in message and 0.15 <= waited < 5


def test_in_memory_databases_and_deferred_transactions_are_not_queued(tmp_path):
    memory = ConnectionHandler({"default": {"ENGINE": "vulndesk.core.sqlite", "NAME": ":memory:",
                                            "OPTIONS": {"transaction_mode": "IMMEDIATE"}}})["default"]
    deferred = ConnectionHandler({"default": {"ENGINE": "vulndesk.core.sqlite", "NAME": str(tmp_path / "d.sqlite3"),
                                              "OPTIONS": {}}})["default"]
    for db in (memory, deferred):
        db.ensure_connection()
        db.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
        assert db._write_queue_held is None
        db.rollback()
        db.set_autocommit(True)
        db.close()
