"""Listing counts answered from the folder and tag counters instead of the rows.

The TUI sizes its scroll bar with a count of the listing (`listing.count`). For
the views it opens with (a folder, All mail as `-folder:Trash`, a tag, each
optionally unread only), counting the rows reads an index entry of every message
they hold: 100 ms for a folder of 1,000,000. Triggers keep the same numbers in
`folder_counts` and `tag_counts` (schema migration 7), so those views are
answered from there: the same count, from a few rows. A search typed in a view
is counted from the rows.
"""

from __future__ import annotations

import sqlite3

from mailops.query import And, Filter, Node, Not
from mailops.store.querysql import flatten


def from_counters(db: sqlite3.Connection, node: Node | None) -> int | None:
    """The number of messages `node` matches when it is made of folders and negated
    folders (`folder:INBOX`, `-folder:Trash`) or is one tag, each maybe with
    `is:unread` (`node` None: every message); None for any other query (then count
    the rows)."""
    parts, column = _conjuncts(node)
    rest = [p for p in parts if not _is_unread(p)]
    folders = [v for p in rest if (v := _folder(p)) is not None]
    not_folders = [v for p in rest if isinstance(p, Not) and (v := _folder(p.child)) is not None]
    tags = [p.value for p in rest if isinstance(p, Filter) and p.name == "tag"]
    if len(folders) + len(not_folders) + len(tags) != len(rest):
        return None
    if tags:
        if len(rest) > 1:
            return None
        return _tag_count(db, tags[0], column)
    # As the rows' conditions: a message's folder equals each folder and none of the others.
    conds = (["folder = ? COLLATE NOCASE"] * len(folders)
             + ["folder != ? COLLATE NOCASE"] * len(not_folders))
    where = " WHERE " + " AND ".join(conds) if conds else ""
    return _sum(db, f"SELECT sum({column}) FROM folder_counts{where}", folders + not_folders)


def known_empty(db: sqlite3.Connection, node: Node | None) -> bool:
    """Whether the counters show that `node` matches nothing: one of its conjuncts is
    a folder or a tag that holds no messages (no unread ones, with `is:unread`), as
    `tag:work is:unread` after reading them all. Never wrong, as the counters are
    exact and the conjunction matches a subset of each conjunct; a few counter rows
    instead of walking every tagged message (50 ms for a tag of 50,000)."""
    parts, column = _conjuncts(node)
    for part in parts:
        if (folder := _folder(part)) is not None:
            sql = f"SELECT sum({column}) FROM folder_counts WHERE folder = ? COLLATE NOCASE"
            if _sum(db, sql, [folder]) == 0:
                return True
        elif (isinstance(part, Filter) and part.name == "tag"
              and _tag_count(db, part.value, column) == 0):
            return True
    return False


def _conjuncts(node: Node | None) -> tuple[list[Node], str]:
    """A query's conjuncts (none for every message), and the counter column that
    counts them: unread when one of them is `is:unread`, else total."""
    parts: list[Node] = []
    if node is not None:
        node = flatten(node)
        parts = list(node.children) if isinstance(node, And) else [node]
    return parts, "unread" if any(_is_unread(p) for p in parts) else "total"


def _tag_count(db: sqlite3.Connection, tag: str, column: str) -> int:
    return _sum(db, f"SELECT sum({column}) FROM tag_counts WHERE tag = ? COLLATE NOCASE",
                [tag])


def _folder(node: Node) -> str | None:
    return node.value if isinstance(node, Filter) and node.name == "folder" else None


def _is_unread(node: Node) -> bool:
    return isinstance(node, Filter) and node.name == "is" and node.value == "unread"


def _sum(db: sqlite3.Connection, sql: str, params: list[str]) -> int:
    return int(db.execute(sql, params).fetchone()[0] or 0)
