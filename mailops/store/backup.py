"""SQL for backup, verification and restore: online copies and exclusive access.

Copies use SQLite's backup API in a single step: it reads one consistent
snapshot (a WAL read transaction), so the daemon keeps writing meanwhile and
the copy holds exactly the messages committed when it started.

An encrypted store's copy is encrypted with the same key: SQLCipher decrypts
each page from the source and encrypts it for the destination (its own salt).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from mailops.keys import Marker
from mailops.store.crypto import connect


class BodyRow(NamedTuple):
    """A message's recorded digest and size with its compressed body."""

    id: int
    sha256: str
    size: int
    blob: bytes


def open_readonly(path: Path, marker: Marker | None = None) -> sqlite3.Connection:
    """A read-only connection, keyed by `marker` when given (sqlite3.Error if the
    file is not a database, StoreKeyError if the key is wrong)."""
    db = connect(path, marker=marker, find_marker=False, readonly=True)
    db.execute("PRAGMA busy_timeout = 30000")
    return db


def copy_database(src: sqlite3.Connection, dest: Path, marker: Marker | None = None) -> None:
    """Copy `src` into a new file `dest` from one snapshot; the copy uses a rollback
    journal, so it is one self-contained file (no -wal beside it). With `marker`
    (the key `src` was opened with) the copy is encrypted with the same key."""
    out = connect(dest, marker=marker, find_marker=False)
    try:
        src.backup(out)  # pages=-1: the whole database in one step, one snapshot
        out.execute("PRAGMA journal_mode = DELETE").fetchall()
    finally:
        out.close()


def has_store_tables(db: sqlite3.Connection) -> bool:
    """Whether the database has the store's messages and bodies tables."""
    names = {r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('messages', 'bodies')")}
    return names == {"messages", "bodies"}


def integrity(db: sqlite3.Connection, limit: int = 20) -> list[str]:
    """PRAGMA integrity_check's lines (["ok"] when healthy): the full check, which
    also cross-checks every index against its table."""
    return [str(r[0]) for r in db.execute(f"PRAGMA integrity_check({int(limit)})")]


def quick_check(db: sqlite3.Connection) -> str:
    """PRAGMA quick_check's first line ('ok' when healthy)."""
    return str(db.execute("PRAGMA quick_check").fetchone()[0])


def schema_version(db: sqlite3.Connection) -> int:
    """The store's user_version (how many migrations it has had)."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def counts(db: sqlite3.Connection) -> dict[str, int]:
    """Messages, bodies, raw bytes, indexed messages and search-text rows."""
    row = db.execute(
        "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM bodies),"
        " (SELECT coalesce(sum(size), 0) FROM messages),"
        " (SELECT coalesce(sum(indexed), 0) FROM messages)").fetchone()
    return {"messages": int(row[0]), "bodies": int(row[1]), "raw_bytes": int(row[2]),
            "indexed": int(row[3])}


def missing_bodies(db: sqlite3.Connection) -> list[int]:
    """Message ids without a body."""
    return [int(r[0]) for r in db.execute(
        "SELECT m.id FROM messages m LEFT JOIN bodies b ON b.id = m.id WHERE b.id IS NULL")]


def orphan_bodies(db: sqlite3.Connection) -> list[int]:
    """Body ids without a message."""
    return [int(r[0]) for r in db.execute(
        "SELECT b.id FROM bodies b LEFT JOIN messages m ON m.id = b.id WHERE m.id IS NULL")]


def iter_bodies(db: sqlite3.Connection) -> Iterator[BodyRow]:
    """Every message with its compressed body, in id order, one row in memory at a time."""
    for r in db.execute("SELECT m.id, m.sha256, m.size, b.raw FROM messages m"
                        " JOIN bodies b ON b.id = m.id ORDER BY m.id"):
        yield BodyRow(int(r[0]), str(r[1]), int(r[2]), bytes(r[3]))


def claim_exclusive(path: Path, timeout: float = 2.0,
                    marker: Marker | None = None) -> sqlite3.Connection:
    """Take a store for replacing: no other connection may have it open.

    Leaving WAL mode needs exclusive access, so it fails (sqlite3.OperationalError,
    "database is locked") while any other process, such as a running daemon or its
    indexer, has the store open. On success the returned connection holds an
    EXCLUSIVE lock (rollback-journal mode) until `release` is called, so nobody can
    start reading or writing while the file is swapped.
    """
    db = connect(path, marker=marker, find_marker=False, timeout=timeout)
    try:
        mode = str(db.execute("PRAGMA journal_mode = DELETE").fetchone()[0]).lower()
        if mode != "delete":
            raise sqlite3.OperationalError("database is locked")
        db.execute("BEGIN EXCLUSIVE")
    except BaseException:
        db.close()
        raise
    return db


def message_count(db: sqlite3.Connection) -> int:
    """How many messages a store holds."""
    return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])


def release(db: sqlite3.Connection, *, back_to_wal: bool) -> None:
    """End `claim_exclusive`; `back_to_wal` when the store stays in place."""
    try:
        db.execute("ROLLBACK")
        if back_to_wal:
            db.execute("PRAGMA journal_mode = WAL").fetchall()
    finally:
        db.close()
