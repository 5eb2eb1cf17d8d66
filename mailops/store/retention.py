"""SQL for retention: scope scans, sizes and space reclamation (incremental vacuum).

Deleting itself goes through `Store.delete`, which removes rows, bodies, search
entries and tags together.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

from mailops.store.store import Store


class ScopeRow(NamedTuple):
    """The columns retention decides on (and shows in a dry run)."""

    id: int
    received_at: float
    size: int
    folder: str
    sender: str
    subject: str


def scope_rows(store: Store, *, folder: str | None = None,
               tag: str | None = None) -> Iterator[ScopeRow]:
    """Messages of a scope (all, one folder or one tag), newest first."""
    sql = ("SELECT m.id, m.received_at, m.size, m.folder,"
           " coalesce(nullif(m.from_addr, ''), m.mail_from, '') AS sender, m.subject"
           " FROM messages m")
    params: list[str] = []
    if folder is not None:
        sql += " WHERE m.folder = ? COLLATE NOCASE"  # as `mailops mv`: case-blind
        params.append(folder)
    elif tag is not None:
        sql += " WHERE m.id IN (SELECT msg_id FROM tags WHERE tag = ?)"
        params.append(tag)
    sql += " ORDER BY m.received_at DESC, m.id DESC"
    # Streamed, so memory follows what the caller keeps (the doomed few), not the
    # store's size; the read snapshot it holds meanwhile does not block writers.
    for r in store.db.execute(sql, params):
        yield ScopeRow(int(r[0]), float(r[1]), int(r[2]), str(r[3]), str(r[4]), str(r[5]))


def existing_sizes(store: Store, ids: Sequence[int]) -> dict[int, int]:
    """Raw sizes of those ids that still exist."""
    out: dict[int, int] = {}
    for start in range(0, len(ids), 500):  # far below SQLite's parameter limit
        chunk = list(ids[start:start + 500])
        marks = ", ".join("?" * len(chunk))
        out.update((int(r[0]), int(r[1])) for r in store.db.execute(
            f"SELECT id, size FROM messages WHERE id IN ({marks})", chunk))
    return out


def _pragma_int(store: Store, name: str) -> int:
    return int(store.db.execute(f"PRAGMA {name}").fetchone()[0])


def file_bytes(store: Store) -> int:
    """The database's size in bytes (pages times page size; the WAL not counted)."""
    return _pragma_int(store, "page_count") * _pragma_int(store, "page_size")


def free_pages(store: Store) -> int:
    """Pages on the free list (space a vacuum can return)."""
    return _pragma_int(store, "freelist_count")


def is_incremental(store: Store) -> bool:
    """Whether the store uses auto_vacuum=INCREMENTAL (mode 2)."""
    return _pragma_int(store, "auto_vacuum") == 2


def convert_to_incremental(store: Store) -> None:
    """Switch to incremental auto-vacuum; needs one full VACUUM (blocks writers meanwhile)."""
    store.db.execute("PRAGMA auto_vacuum = INCREMENTAL")
    store.db.execute("VACUUM")


def incremental_vacuum(store: Store, pages: int) -> None:
    """Return up to `pages` free pages to the file system in one short transaction."""
    # executescript steps the pragma to completion; execute() would free one page only.
    store.db.executescript(f"PRAGMA incremental_vacuum({int(pages)})")


def checkpoint(store: Store) -> None:
    """Copy the WAL into the database file without waiting for readers or writers
    (the file shrinks once the truncated pages are checkpointed)."""
    store.db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

