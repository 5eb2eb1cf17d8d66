"""Tags, folders and flags: changing them, counting them, and auto-tagging at ingest.

Changes take message ids (the CLI resolves a query to ids with `Store.iter_ids`,
the TUI has its selection) and run in one write transaction each; ids that
vanished meanwhile are skipped. `apply_ingest` runs inside the indexer's
transaction, right after a message's summary and search text are written, so a
message is never visible indexed but untagged.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mailops.errors import UsageError
from mailops.tagging import Tagging, header_tags, normalize_folder, normalize_tag, plus_tags

if TYPE_CHECKING:
    from mailops.mime import Parsed
    from mailops.store.store import Store

_CHUNK = 500  # ids per statement, far below SQLite's host-parameter limit
# mark's words -> (column, value); is:read and friends in queries read the same columns.
MARKS = {"read": ("seen", 1), "unread": ("seen", 0), "flagged": ("flagged", 1),
         "unflagged": ("flagged", 0), "replied": ("replied", 1), "unreplied": ("replied", 0)}


@dataclass
class Change:
    """What a tag, mv or mark did (or, with dry_run, would do)."""

    matched: int = 0  # messages selected that still exist
    changed: int = 0  # messages whose tags/folder/flags differ afterwards
    added: dict[str, int] = field(default_factory=dict)  # tag -> messages that gained it
    removed: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The `--json` summary."""
        return {"matched": self.matched, "changed": self.changed, "added": self.added,
                "removed": self.removed, "dry_run": self.dry_run}


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    chunk: list[int] = []
    for i in ids:
        chunk.append(int(i))
        if len(chunk) >= _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _marks(n: int) -> str:
    return ", ".join("?" * n)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (a no-op for dry runs)."""

    def __init__(self, db: sqlite3.Connection, active: bool = True) -> None:
        self.db = db
        self.active = active

    def __enter__(self) -> None:
        if self.active:
            self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *rest: object) -> None:
        if self.active:
            self.db.execute("ROLLBACK" if kind is not None else "COMMIT")


def change_tags(store: Store, ids: Iterable[int], add: Sequence[str] = (),
                remove: Sequence[str] = (), *, dry_run: bool = False) -> Change:
    """Add and remove tags on messages; a tag both added and removed is a UsageError."""
    plus = list(dict.fromkeys(normalize_tag(t) for t in add))
    minus = list(dict.fromkeys(normalize_tag(t) for t in remove))
    both = set(plus) & set(minus)
    if both:
        raise UsageError(f"tag {sorted(both)[0]!r} is both added and removed")
    if not plus and not minus:
        raise UsageError("give at least one +TAG or -TAG")
    db = store.db
    out = Change(added=dict.fromkeys(plus, 0), removed=dict.fromkeys(minus, 0),
                 dry_run=dry_run)
    with _Transaction(db, not dry_run):
        for chunk in _chunks(ids):
            marks = _marks(len(chunk))
            present = [r[0] for r in db.execute(
                f"SELECT id FROM messages WHERE id IN ({marks})", chunk)]
            have: dict[int, set[str]] = {i: set() for i in present}
            for msg_id, tag in db.execute(
                    f"SELECT msg_id, tag FROM tags WHERE msg_id IN ({marks})", chunk):
                if msg_id in have:
                    have[msg_id].add(tag.lower())
            inserts: list[tuple[int, str]] = []
            deletes: list[tuple[int, str]] = []
            for msg_id, current in have.items():
                new = [t for t in plus if t not in current]
                old = [t for t in minus if t in current]
                inserts += [(msg_id, t) for t in new]
                deletes += [(msg_id, t) for t in old]
                for t in new:
                    out.added[t] += 1
                for t in old:
                    out.removed[t] += 1
                out.changed += bool(new or old)
            out.matched += len(have)
            if not dry_run:
                db.executemany("INSERT OR IGNORE INTO tags (msg_id, tag) VALUES (?, ?)",
                               inserts)
                db.executemany("DELETE FROM tags WHERE msg_id = ? AND tag = ?", deletes)
    return out


def folder_spelling(db: sqlite3.Connection, folder: str) -> tuple[str, bool]:
    """An existing folder's spelling when `folder` differs only in case; and whether
    the folder exists at all (INBOX always does)."""
    if folder.lower() == "inbox":
        return "INBOX", True
    row = db.execute("SELECT folder FROM messages WHERE folder = ? COLLATE NOCASE LIMIT 1",
                     (folder,)).fetchone()
    return (str(row[0]), True) if row else (folder, False)


def move(store: Store, ids: Iterable[int], folder: str, *,
         dry_run: bool = False) -> tuple[Change, str, bool]:
    """Move messages to a folder (made on first use; a name differing only in case
    from an existing folder means that folder). Returns the change, the folder's
    name as stored, and whether this made it (a folder exists while it holds mail)."""
    db = store.db
    with _Transaction(db, not dry_run):
        name, exists = folder_spelling(db, normalize_folder(folder))
        out = _set_column(db, ids, "folder", name, dry_run)
    return out, name, not exists and out.changed > 0


def _set_column(db: sqlite3.Connection, ids: Iterable[int], column: str, value: object,
                dry_run: bool) -> Change:
    """Set `column` (a fixed name, never user input) to `value` on the given messages,
    counting matches and actual changes (a dry run only counts)."""
    out = Change(dry_run=dry_run)
    for chunk in _chunks(ids):
        marks = _marks(len(chunk))
        out.matched += int(db.execute(
            f"SELECT count(*) FROM messages WHERE id IN ({marks})", chunk).fetchone()[0])
        if dry_run:
            out.changed += int(db.execute(
                f"SELECT count(*) FROM messages WHERE id IN ({marks}) AND {column} != ?",
                [*chunk, value]).fetchone()[0])
        else:
            out.changed += db.execute(
                f"UPDATE messages SET {column} = ? WHERE id IN ({marks}) AND {column} != ?",
                [value, *chunk, value]).rowcount
    return out


def mark(store: Store, ids: Iterable[int], what: str, *, dry_run: bool = False) -> Change:
    """Set or clear a flag: read, unread, flagged, unflagged, replied, unreplied."""
    if what not in MARKS:
        raise UsageError(f"cannot mark {what!r}: expected one of {', '.join(MARKS)}")
    column, value = MARKS[what]
    with _Transaction(store.db, not dry_run):
        return _set_column(store.db, ids, column, value, dry_run)


def tag_counts(store: Store) -> list[dict[str, Any]]:
    """Every tag in use with its message count and unread count, by name."""
    # Kept by triggers (schema migration 7): counting at a million messages read
    # every tag and read message (~0.2 s).
    return [{"tag": tag, "count": int(n), "unread": int(unread)}
            for tag, n, unread in store.db.execute(
                "SELECT tag, total, unread FROM tag_counts WHERE total > 0 ORDER BY tag")]


def folder_counts(store: Store) -> list[dict[str, Any]]:
    """Every folder with its total and unread counts; INBOX first and always present."""
    # Kept by triggers (schema migration 7) instead of a 0.1 s index scan at 1M.
    counts = {str(r[0]): (int(r[1]), int(r[2])) for r in store.db.execute(
        "SELECT folder, total, unread FROM folder_counts WHERE total > 0")}
    counts.setdefault("INBOX", (0, 0))
    names = sorted(counts, key=lambda f: (f != "INBOX", f.lower(), f))
    return [{"folder": f, "total": counts[f][0], "unread": counts[f][1]} for f in names]


def apply_ingest(db: sqlite3.Connection, items: Sequence[tuple[int, Parsed]],
                 tagging: Tagging, *, envelopes: Mapping[int, list[str]] | None = None,
                 found: Mapping[int, Sequence[str]] | None = None) -> None:
    """Tag freshly indexed messages (call inside the indexing transaction).

    First the tags an import `found` (maildir flags: draft, passed, deleted),
    plus-addressing (`user+tag@`, header or envelope recipients) and the X-Tags
    header, then each rule in order, so a rule's query can see tags given
    before it (`tag:x`). Every matching rule adds its tags; of the matching rules
    that name a folder, the last decides (general rules first, specific ones after).
    `envelopes`: each message's envelope recipients, when the caller has them (else
    they are read from the stored rows).
    """
    if not items:
        return
    ids = [msg_id for msg_id, _ in items]
    rows: list[tuple[int, str]] = [(msg_id, t) for msg_id, tags in (found or {}).items()
                                   for t in tags]
    if tagging.plus_addressing or tagging.header:
        if tagging.plus_addressing and envelopes is None:
            envelopes = {}
            for chunk in _chunks(ids):
                envelopes.update((i, json.loads(r or "[]")) for i, r in db.execute(
                    f"SELECT id, rcpt_to FROM messages WHERE id IN ({_marks(len(chunk))})",
                    chunk))
        for msg_id, p in items:
            given: list[str] = []
            if tagging.plus_addressing:
                addresses = [*(envelopes or {}).get(msg_id, ()), *p.to, *p.cc, *p.bcc]
                if any("+" in a for a in addresses):  # what plus_tags looks for
                    given += plus_tags(addresses)
            if tagging.header and p.x_tags:
                given += header_tags(p.x_tags)
            if given:
                rows += [(msg_id, t) for t in dict.fromkeys(given)]
    db.executemany("INSERT OR IGNORE INTO tags (msg_id, tag) VALUES (?, ?)", rows)
    if not tagging.rules:
        return
    from mailops.query import parse
    from mailops.store.querysql import compile_query

    for rule in tagging.rules:
        # Parsed per batch, not once: relative dates (after:7d) stay relative.
        node = parse(rule.query)
        matched: list[int] = []
        for chunk in _chunks(ids):
            compiled = compile_query(node, id_range=(min(chunk), max(chunk)))
            matched += [r[0] for r in db.execute(
                f"SELECT m.id FROM messages m WHERE m.id IN ({_marks(len(chunk))})"
                f" AND ({compiled.where})", [*chunk, *compiled.params])]
        if not matched:
            continue
        db.executemany("INSERT OR IGNORE INTO tags (msg_id, tag) VALUES (?, ?)",
                       [(i, t) for i in matched for t in rule.tags])
        if rule.folder is not None:
            name = folder_spelling(db, rule.folder)[0]
            for chunk in _chunks(matched):
                db.execute(f"UPDATE messages SET folder = ? WHERE id IN ({_marks(len(chunk))})",
                           [name, *chunk])
