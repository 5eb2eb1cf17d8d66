"""Backup, verification and restore of the mail store.

- `backup_store` takes a consistent online copy (SQLite's backup API, one
  snapshot) while the daemon keeps writing, into a temporary file that is
  checked, fsynced and renamed into place: a backup file either is complete or
  does not exist.
- `verify_backup` runs SQLite's full integrity check, cross-checks messages
  against bodies and decompresses every body to compare it with its sha256.
- `restore_store` verifies a backup and swaps it in for the store, keeping the
  previous store as `<store>.bak`. It refuses while another process (a daemon)
  has the store open, and refuses to replace a store holding messages unless
  forced.

An encrypted store's backup is encrypted with the same key and gets a copy of
the store's key marker beside it (`<backup>.encryption.json`, no secret in
it); verify and restore read that marker, or else the store's own.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mailops.errors import BackupError, RestoreRefused, StoreError, StoreKeyError
from mailops.keys import Marker, read_marker, write_marker

_LIST_MAX = 20  # ids listed per kind of problem (the counts are always complete)


@dataclass
class BackupResult:
    """A finished backup."""

    path: str
    messages: int
    raw_bytes: int
    file_bytes: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """JSON shape (docs/backup.md)."""
        return asdict(self)


@dataclass
class VerifyResult:
    """What `verify_backup` found; `ok` when `problems` is empty."""

    path: str
    integrity: str = "ok"
    schema_version: int = 0
    messages: int = 0
    bodies: int = 0
    raw_bytes: int = 0
    indexed: int = 0
    hashes_checked: int = 0
    missing_bodies: list[int] = field(default_factory=list)
    orphan_bodies: list[int] = field(default_factory=list)
    hash_mismatches: list[int] = field(default_factory=list)
    unreadable_bodies: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """JSON shape (docs/backup.md)."""
        return {"ok": self.ok, **asdict(self)}


@dataclass
class RestoreResult:
    """A finished restore."""

    backup: str
    store: str
    messages: int
    previous: str | None  # where the replaced store was kept
    previous_messages: int | None

    def as_dict(self) -> dict[str, Any]:
        """JSON shape (docs/backup.md)."""
        return asdict(self)


def _fsync_path(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_db_files(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()


def _file_marker(path: Path, store_path: Path | None) -> Marker | None:
    """The key marker of a backup file: its own, else (for an encrypted-looking
    file) the store's, else None (a plain file)."""
    from mailops.store.crypto import looks_plain

    marker = read_marker(path)
    if marker is None and store_path is not None and path.exists() and not looks_plain(path):
        marker = read_marker(store_path)
    return marker


def _hint(path: Path, marker: Marker | None) -> str:
    """What to say when a file without a key does not open and is not plain SQLite."""
    from mailops.store.crypto import looks_plain

    if marker is not None or looks_plain(path):
        return ""
    return " (if it is an encrypted backup, put its .encryption.json marker beside it)"


@contextlib.contextmanager
def _backup_file(path: Path, marker: Marker | None = None) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a backup file; BackupError (one line) if it is
    missing or not a mailops store, StoreKeyError if its key is wrong or missing."""
    from mailops.store import backup as sql

    if not path.exists():
        raise BackupError(f"no backup file at {path}")
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    try:
        db = sql.open_readonly(path, marker)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open backup {path}: {exc}{_hint(path, marker)}") from None
    try:
        try:
            if not sql.has_store_tables(db):
                raise BackupError(f"{path} is not a mailops backup (no messages table)")
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{path} is not a mailops backup: {exc}{_hint(path, marker)}"
                              ) from None
        yield db
    finally:
        db.close()


def _default_name(directory: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    candidate = directory / f"mailops-{stamp}.db"
    n = 1
    while candidate.exists():
        candidate = directory / f"mailops-{stamp}-{n}.db"
        n += 1
    return candidate


def backup_store(store_path: Path, dest: Path, *, force: bool = False) -> BackupResult:
    """Copy the store to `dest` (a file, or a directory for `mailops-<UTC time>.db`).

    Safe while the daemon writes: the copy is one snapshot, and only readers are
    involved, so ingest is not blocked. Refuses to overwrite an existing file
    unless `force`. The copy is quick-checked before it is renamed into place.
    """
    from mailops.store import Store
    from mailops.store import backup as sql

    if dest.is_dir():
        dest = _default_name(dest)
    elif dest.exists() and not force:
        raise BackupError(f"{dest} exists; use --force to overwrite it")
    if not dest.parent.is_dir():
        raise BackupError(f"cannot write {dest}: no such directory {dest.parent}")
    if dest.resolve() == store_path.resolve():
        raise BackupError(f"{dest} is the store itself")
    started = time.monotonic()
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    marker = read_marker(store_path)  # an encrypted store's copy keeps its key
    try:
        with Store(store_path, readonly=True) as store:
            try:
                sql.copy_database(store.db, tmp, marker)
            except sqlite3.OperationalError as exc:
                raise BackupError(f"cannot write {dest}: {exc}") from None
        with contextlib.closing(sql.open_readonly(tmp, marker)) as copy:
            check = sql.quick_check(copy)
            numbers = sql.counts(copy)
        if check != "ok":
            raise BackupError(f"the copy failed its integrity check: {check}")
        _fsync_path(tmp)
        write_marker(dest, marker)  # first: an encrypted backup is never without it
        os.replace(tmp, dest)
        _fsync_path(dest.parent, directory=True)
    except OSError as exc:
        raise BackupError(f"cannot write {dest}: {exc.strerror or exc}") from None
    finally:
        _remove_db_files(tmp)
    return BackupResult(str(dest), numbers["messages"], numbers["raw_bytes"],
                        dest.stat().st_size, round(time.monotonic() - started, 3))


def verify_backup(path: Path, store_path: Path | None = None) -> VerifyResult:
    """Check a backup (or any store file): integrity, counts and every body's sha256.

    BackupError if the file is missing or not a mailops store at all; otherwise
    every finding is in the result's `problems` (empty when it is sound). An
    encrypted backup without its own marker is opened with `store_path`'s key.
    """
    import zstandard

    from mailops.store import backup as sql

    result = VerifyResult(str(path))
    with _backup_file(path, _file_marker(path, store_path)) as db:
        try:
            # A report line can hold several lines of its own ("*** in database main
            # ***\nPage 3: ..."): flattened, so every problem is one line.
            lines = [part.strip() for line in sql.integrity(db) for part in line.splitlines()
                     if part.strip() and not part.startswith("***")]
            result.integrity = "ok" if lines == ["ok"] else "; ".join(lines)
            if result.integrity != "ok":
                more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
                result.problems.append(f"integrity check failed: {lines[0]}{more}")
            result.schema_version = sql.schema_version(db)
            numbers = sql.counts(db)
            result.messages, result.bodies = numbers["messages"], numbers["bodies"]
            result.raw_bytes, result.indexed = numbers["raw_bytes"], numbers["indexed"]
            result.missing_bodies = sql.missing_bodies(db)
            result.orphan_bodies = sql.orphan_bodies(db)
            dctx = zstandard.ZstdDecompressor()
            for row in sql.iter_bodies(db):
                result.hashes_checked += 1
                try:
                    raw = dctx.decompress(row.blob)
                except zstandard.ZstdError:
                    result.unreadable_bodies.append(row.id)
                    continue
                if hashlib.sha256(raw).hexdigest() != row.sha256 or len(raw) != row.size:
                    result.hash_mismatches.append(row.id)
        except sqlite3.DatabaseError as exc:
            result.problems.append(f"cannot read it: {exc}")
    for name, ids in (("messages without a body", result.missing_bodies),
                      ("bodies without a message", result.orphan_bodies),
                      ("bodies that do not decompress", result.unreadable_bodies),
                      ("bodies whose sha256 or size differs", result.hash_mismatches)):
        if ids:
            shown = ", ".join(map(str, ids[:_LIST_MAX])) + (", ..." if len(ids) > _LIST_MAX
                                                             else "")
            result.problems.append(f"{name}: {len(ids)} (ids {shown})")
    return result


def _bak_path(store_path: Path) -> Path:
    candidate = Path(f"{store_path}.bak")
    n = 1
    while candidate.exists():
        candidate = Path(f"{store_path}.bak.{n}")
        n += 1
    return candidate


def restore_store(backup: Path, store_path: Path, *, force: bool = False) -> RestoreResult:
    """Replace the store with a verified backup; the old store is kept as `.bak`.

    Refuses (RestoreRefused, exit 20) while another process has the store open
    (stop the daemon first), and when the store holds messages unless `force`.
    A backup that fails verification is never restored (BackupError, exit 9).
    """
    from mailops.store import Store
    from mailops.store import backup as sql
    from mailops.store.schema import MIGRATIONS

    marker = _file_marker(backup, store_path)
    report = verify_backup(backup, store_path)
    if not report.ok:
        raise BackupError(f"{backup} fails verification: {report.problems[0]}"
                          " (details: mailops backup --verify FILE)")
    if report.schema_version > len(MIGRATIONS):
        raise BackupError(f"{backup} was written by a newer mailops "
                          f"(schema {report.schema_version})")
    store_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = store_path.parent / f".{store_path.name}.restore-{os.getpid()}"
    previous: Path | None = None
    previous_messages: int | None = None
    try:
        with _backup_file(backup, marker) as src:
            sql.copy_database(src, tmp, marker)
        _fsync_path(tmp)
        if store_path.exists():
            previous, previous_messages = _set_aside(store_path, force=force,
                                                     swap_in=tmp, marker=marker)
        else:
            write_marker(store_path, marker)
            os.replace(tmp, store_path)
        _fsync_path(store_path.parent, directory=True)
    except OSError as exc:
        raise BackupError(f"cannot restore into {store_path}: {exc.strerror or exc}") from None
    finally:
        _remove_db_files(tmp)
    with Store(store_path) as store:  # back to WAL; migrates an older backup
        messages = store.count()
    return RestoreResult(str(backup), str(store_path), messages,
                         None if previous is None else str(previous), previous_messages)


def _set_aside(store_path: Path, *, force: bool, swap_in: Path,
               marker: Marker | None) -> tuple[Path, int | None]:
    """Move the current store to `.bak` and `swap_in` (keyed by `marker`) to its
    place, holding an exclusive lock on the old store so nobody reads or writes it
    meanwhile. Each file's key marker moves with it."""
    from mailops.store import backup as sql

    old_marker = read_marker(store_path)
    try:
        db = sql.claim_exclusive(store_path, marker=old_marker)
    except StoreKeyError as exc:  # its key is gone: like a damaged store, --force replaces it
        db = None
        reason = exc.message
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise RestoreRefused(f"{store_path} is in use by another process (a running "
                                 "`mailops serve`?); stop it and retry") from None
        db = None
        reason = str(exc)
    except sqlite3.DatabaseError as exc:  # the store is damaged: restoring is the fix
        db = None
        reason = str(exc)
    count: int | None = None
    if db is not None:
        try:
            count = sql.message_count(db)
        except sqlite3.DatabaseError as exc:
            reason = str(exc)
            with contextlib.suppress(sqlite3.DatabaseError):
                if not sql.has_store_tables(db):  # an empty file, not a damaged store
                    count = 0
        if count and not force:
            sql.release(db, back_to_wal=True)
            raise RestoreRefused(f"{store_path} holds {count} message(s); use --force to "
                                 "replace it (it is kept as a .bak file)")
    if count is None and not force:
        if db is not None:
            sql.release(db, back_to_wal=True)
        raise RestoreRefused(f"{store_path} cannot be read ({reason}); use --force to "
                             "replace it (it is kept as a .bak file)")
    bak = _bak_path(store_path)
    try:
        os.replace(store_path, bak)
        # The old store's WAL files must not meet the restored one. (A -journal here
        # is our own connection's, from locking an empty file: rollback removes it.)
        for suffix in ("-wal", "-shm"):
            old = Path(f"{store_path}{suffix}")
            if old.exists():
                os.replace(old, Path(f"{bak}{suffix}"))
        write_marker(bak, old_marker)
        write_marker(store_path, marker)
        os.replace(swap_in, store_path)
    finally:
        if db is not None:
            sql.release(db, back_to_wal=False)
    return bak, count


def check_store_path(path: Path) -> None:
    """StoreError unless a store file exists at `path` (for one-line CLI errors)."""
    if not path.exists():
        raise StoreError(f"no mail store at {path} (nothing received yet?)")
