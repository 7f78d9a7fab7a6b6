"""Checkpoints of the write-ahead log run outside the write queue (core/sqlite/base.py): the
connections raise SQLite's automatic checkpoint (it ran inside a COMMIT, holding every other
writer up) to a safety net for large write turns, and a process checkpoints after every
CHECKPOINT_EVERY_WRITES write turns, once it has given its turn back. The log stays bounded;
nothing written is lost. Real SQLite files."""

import sqlite3
import threading

import pytest
from django.db.utils import ConnectionHandler

from vulndesk.core.sqlite import base

pytestmark = pytest.mark.django_db  # unblocks database access; these tests use their own files

BLOB = "x" * 6000  # two pages and more per row: each commit appends several WAL frames


@pytest.fixture
def database(tmp_path):
    """A connection handler for a fresh SQLite file, configured like production (whatever this
    run's own database is)."""
    options = {"transaction_mode": "IMMEDIATE", "timeout": 5,
               "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;"}
    path = tmp_path / "wal.sqlite3"
    handler = ConnectionHandler({"default": {"ENGINE": "vulndesk.core.sqlite", "NAME": str(path), "OPTIONS": options}})
    with handler["default"].cursor() as cursor:
        cursor.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    yield handler, path
    handler.close_all()


def write_transactions(db, n: int) -> None:
    for _ in range(n):
        db.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
        with db.cursor() as cursor:
            cursor.execute("INSERT INTO item (body) VALUES (%s)", [BLOB])
        db.commit()
        db.set_autocommit(True)


def test_the_connections_leave_checkpoints_to_the_backend(database):
    handler, _ = database
    with handler["default"].cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        assert cursor.fetchone() == (base.WAL_SAFETY_NET_PAGES,)


def test_large_write_turns_are_bounded_by_the_safety_net(tmp_path, monkeypatch):
    """A bulk load writes few, large turns: the counted checkpoint would come after 20 of them,
    SQLite's own (the safety net) comes as soon as the log passes it."""
    monkeypatch.setattr(base, "WAL_SAFETY_NET_PAGES", 100)
    monkeypatch.setattr(base, "CHECKPOINT_EVERY_WRITES", 10_000)  # only the safety net is left
    options = {"transaction_mode": "IMMEDIATE", "timeout": 5,
               "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;"}
    path = tmp_path / "bulk.sqlite3"
    handler = ConnectionHandler({"default": {"ENGINE": "vulndesk.core.sqlite", "NAME": str(path), "OPTIONS": options}})
    db = handler["default"]
    with db.cursor() as cursor:
        cursor.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")

    def bulk_turn():  # ~40 rows of two pages and more: about the safety net's size
        db.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
        with db.cursor() as cursor:
            cursor.executemany("INSERT INTO item (body) VALUES (%s)", [[BLOB]] * 40)
        db.commit()
        db.set_autocommit(True)

    bulk_turn()
    wal = path.with_name(path.name + "-wal")
    one_turn = wal.stat().st_size
    for _ in range(15):
        bulk_turn()
    assert wal.stat().st_size <= 3 * one_turn  # not fifteen turns' worth
    handler.close_all()
    with sqlite3.connect(path) as reader:
        assert reader.execute("SELECT count(*) FROM item").fetchone() == (16 * 40,)


def test_the_log_stays_bounded_and_keeps_every_row(database):
    handler, path = database
    db = handler["default"]
    write_transactions(db, base.CHECKPOINT_EVERY_WRITES)
    wal = path.with_name(path.name + "-wal")
    one_round = wal.stat().st_size  # the log after one round of writes, then checkpointed

    write_transactions(db, 10 * base.CHECKPOINT_EVERY_WRITES)

    # Without checkpoints the log would hold all eleven rounds; checkpointed, the writers start
    # it over from the beginning and it never grows much past one round.
    assert wal.stat().st_size <= 2 * one_round
    handler.close_all()
    with sqlite3.connect(path) as reader:
        assert reader.execute("SELECT count(*), min(length(body)) FROM item").fetchone() == (
            11 * base.CHECKPOINT_EVERY_WRITES, len(BLOB))


def test_autocommit_writes_count_towards_the_checkpoint_too(database, monkeypatch):
    handler, _ = database
    db = handler["default"]
    checkpoints = []
    monkeypatch.setattr(base.DatabaseWrapper, "checkpoint", lambda self: checkpoints.append(self))
    with db.cursor() as cursor:
        for _ in range(base.CHECKPOINT_EVERY_WRITES):
            cursor.execute("INSERT INTO item (body) VALUES (%s)", ["autocommit"])
        cursor.execute("SELECT count(*) FROM item")  # a read is no write turn
    assert len(checkpoints) == 1


def test_the_checkpoint_runs_after_the_write_turn_is_given_back(database, monkeypatch):
    handler, path = database
    db = handler["default"]
    queue = base._write_queue(str(path))
    held_during_checkpoint = []
    checkpoint = base.DatabaseWrapper.checkpoint

    def observed(self):
        held_during_checkpoint.append(queue.threads.locked())
        return checkpoint(self)

    monkeypatch.setattr(base.DatabaseWrapper, "checkpoint", observed)
    write_transactions(db, 3 * base.CHECKPOINT_EVERY_WRITES)
    assert held_during_checkpoint == [False, False, False]


def test_threads_writing_at_once_checkpoint_once_per_round_and_lose_nothing(database, monkeypatch):
    handler, path = database
    calls = []
    checkpoint = base.DatabaseWrapper.checkpoint

    def counted(self):
        calls.append(1)
        return checkpoint(self)

    monkeypatch.setattr(base.DatabaseWrapper, "checkpoint", counted)
    before = base._write_queue(str(path)).writes

    def worker():
        try:
            write_transactions(handler["default"], base.CHECKPOINT_EVERY_WRITES)
        finally:
            handler["default"].close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(calls) == (before + 4 * base.CHECKPOINT_EVERY_WRITES) // base.CHECKPOINT_EVERY_WRITES
    handler.close_all()
    with sqlite3.connect(path) as reader:
        assert reader.execute("SELECT count(*) FROM item").fetchone() == (4 * base.CHECKPOINT_EVERY_WRITES,)
