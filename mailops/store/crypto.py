"""The one place a store (or backup) database file is opened, with its key if any.

Plain stores use the stdlib `sqlite3`, untouched. Encrypted stores (a marker
beside the file, see mailops.keys) use SQLCipher through `sqlcipher3`, a fork
of the stdlib module with the same API: the whole file (tables, FTS index,
WAL pages) is AES-256 encrypted and every page carries an HMAC.

The key is checked by reading the schema before anything else runs, so a wrong
or missing key fails with StoreKeyError and leaves every file untouched.
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from mailops.errors import StoreKeyError
from mailops.keys import Key, Marker, drop_cached, load_key, read_marker

_grafted = False


def _sqlcipher() -> Any:
    """The sqlcipher3 DB-API module (imported on first use: plain stores never pay)."""
    global _grafted
    from sqlcipher3 import dbapi2

    if not _grafted:
        # sqlcipher3 has its own exception classes. Giving each the stdlib class of
        # the same name as an extra base lets every `except sqlite3.X` in the store
        # (and in callers) handle both kinds of connection alike. (Error itself keeps
        # its base: Python refuses that swap, and nothing raises a bare Error.)
        for name in ("InterfaceError", "DatabaseError"):
            getattr(dbapi2, name).__bases__ = (dbapi2.Error, getattr(sqlite3, name))
        for name in ("DataError", "OperationalError", "IntegrityError", "InternalError",
                     "ProgrammingError", "NotSupportedError"):
            getattr(dbapi2, name).__bases__ = (dbapi2.DatabaseError, getattr(sqlite3, name))
        _grafted = True
    return dbapi2


def key_pragma(key: Key) -> str:
    """The PRAGMA that applies `key` (PRAGMAs take no bound parameters)."""
    if key.raw is not None:
        return f"PRAGMA key = \"x'{key.raw.hex()}'\""  # raw key: no KDF, see mailops.keys
    assert key.passphrase is not None
    return "PRAGMA key = '" + key.passphrase.replace("'", "''") + "'"


def connect(path: Path, *, marker: Marker | None = None, find_marker: bool = True,
            readonly: bool = False, timeout: float = 30.0, check_same_thread: bool = True,
            rows: bool = False) -> sqlite3.Connection:
    """Open the database file `path` in autocommit mode (isolation_level None).

    The key comes from `marker`, else (with `find_marker`) from the marker beside
    `path`; without either the file is opened as a plain SQLite database. `rows`
    sets a Row factory. StoreKeyError when the key is missing or wrong.
    """
    if marker is None and find_marker:
        marker = read_marker(path)
    target = ("file:" + urllib.parse.quote(str(path)) + "?mode=ro") if readonly else str(path)
    if marker is None:
        db = sqlite3.connect(target, uri=readonly, timeout=timeout,
                             check_same_thread=check_same_thread, isolation_level=None)
        if rows:
            db.row_factory = sqlite3.Row
        return db
    key = load_key(marker)
    dbapi2 = _sqlcipher()
    conn = dbapi2.connect(target, uri=readonly, timeout=timeout,
                          check_same_thread=check_same_thread, isolation_level=None)
    try:
        # SQLCipher logs a failed page HMAC to stderr; the error below says it in one line.
        conn.execute("PRAGMA cipher_log_level = NONE").fetchall()
        conn.execute(key_pragma(key))
        # Reading page 1 proves the key before any statement could write.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except dbapi2.DatabaseError as exc:
        conn.close()
        drop_cached(marker)
        if "not a database" in str(exc):
            raise StoreKeyError(f"cannot decrypt {path}: wrong key, or a damaged file (key "
                                f"source: {marker.describe()})") from None
        raise
    # Decrypting is the cost of a page read: keep more decrypted pages in memory
    # (16 MB at most, grown only as pages are read).
    conn.execute("PRAGMA cache_size = -16000")
    # Temporary tables, big sorts and VACUUM's copy are not encrypted on disk: keep
    # them in memory (this build's default, made explicit for any other build).
    conn.execute("PRAGMA temp_store = MEMORY")
    if rows:
        conn.row_factory = dbapi2.Row
    # Same API as sqlite3.Connection (sqlcipher3 is a fork of the stdlib module).
    return cast(sqlite3.Connection, conn)


def looks_plain(path: Path) -> bool:
    """Whether `path` starts like an unencrypted SQLite file (a SQLCipher file starts
    with its random salt instead)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def encrypt_copy(plain: Path, dest: Path, key: Key, user_version: int,
                 swap: Callable[[int], None]) -> None:
    """Write an encrypted copy of the plain database `plain` to the new file `dest`
    (SQLCipher's sqlcipher_export), then call `swap` with how many messages
    `plain` holds, while still holding an exclusive lock on `plain`, so nobody
    writes to it between copy and swap.

    sqlite3.OperationalError ("database is locked") when another connection has
    `plain` open, as leaving WAL mode needs exclusive access.
    """
    dbapi2 = _sqlcipher()
    db = dbapi2.connect(str(plain), isolation_level=None, timeout=2.0)
    try:
        db.execute("PRAGMA cipher_log_level = NONE").fetchall()
        if str(db.execute("PRAGMA journal_mode = DELETE").fetchone()[0]).lower() != "delete":
            raise sqlite3.OperationalError("database is locked")
        db.execute("PRAGMA temp_store = MEMORY")
        # ATTACH's KEY clause takes the same forms as PRAGMA key (raw or passphrase).
        db.execute(f"ATTACH DATABASE ? AS enc KEY {key_pragma(key).split('=', 1)[1]}",
                   (str(dest),))
        db.execute("PRAGMA enc.auto_vacuum = INCREMENTAL")  # as new stores get
        db.execute("BEGIN EXCLUSIVE")
        try:
            db.execute("SELECT sqlcipher_export('enc')").fetchall()
            db.execute(f"PRAGMA enc.user_version = {int(user_version)}")  # not exported
            count = int(db.execute("SELECT count(*) FROM main.messages").fetchone()[0])
            db.execute("COMMIT")
            db.execute("DETACH DATABASE enc")
            db.execute("BEGIN EXCLUSIVE")  # main only, now: held until swapped
            swap(count)
        finally:
            if db.in_transaction:
                db.execute("ROLLBACK")
    finally:
        db.close()
