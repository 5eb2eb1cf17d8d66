"""Sorted listings for a virtual message list (the TUI's), paged by keyset.

A list over a million messages shows a window of rows at a time. A listing is
a query and a sort: by date (newest or oldest first), sender, subject or size
(each either way), or conversations ("threads": one row per thread, its newest
matching message, by newest activity). Sequential paging is keyset paging
(`page(after=cursor)`: rows strictly after the cursor's sort key and tie
breaker, so page 10,000 costs what page 1 costs); the other helpers answer what
keyset paging cannot: how many rows there are, the cursor at a given position
(a jump: one OFFSET over keys only), where a known row now sits, a message's
cursor in another sort, and a cursor's counterpart in the opposite order (to
page backwards). Every value is a bound parameter; sort names pick from fixed
SQL fragments. A page (not a threads one) plans as `Store.search` does: a rare term
or folder drives from its index, a common full-text term is found in two stages
(`walk.two_stage`); the rows are the same either way.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mailops.errors import StoreError, UsageError
from mailops.query import Node
from mailops.store import walk
from mailops.store.counters import from_counters, known_empty
from mailops.store.querysql import Compiled, planning
from mailops.store.search import as_node, compile_text
from mailops.store.walk import two_stage

if TYPE_CHECKING:
    from mailops.store.store import MessageRow, Store

_DATE = "coalesce(m.date_ts, m.received_at)"  # the expression messages_date indexes
_THREAD = "coalesce(m.thread_id, -m.id)"  # a message not threaded yet is its own thread
# (thread numbers start at 1: 0 never names one)


@dataclass(frozen=True)
class _Sort:
    key: str  # SQL expression (schema migration 6 indexes the sender/subject/size ones)
    descending: bool
    threads: bool = False


_SORTS: dict[str, _Sort] = {
    "date": _Sort(_DATE, True),
    "oldest": _Sort(_DATE, False),
    "sender": _Sort("m.from_addr COLLATE NOCASE", False),
    "sender-desc": _Sort("m.from_addr COLLATE NOCASE", True),
    "subject": _Sort("m.subject COLLATE NOCASE", False),
    "subject-desc": _Sort("m.subject COLLATE NOCASE", True),
    "size": _Sort("m.size", True),
    "smallest": _Sort("m.size", False),
    "threads": _Sort("t.k", True, threads=True),
    "threads-oldest": _Sort("t.k", False, threads=True),
}
ORDERS = {"date": "oldest", "oldest": "date", "sender": "sender-desc",
          "sender-desc": "sender", "subject": "subject-desc", "subject-desc": "subject",
          "size": "smallest", "smallest": "size", "threads": "threads-oldest",
          "threads-oldest": "threads"}
"""The listing sorts and each one's reverse."""
SORT_LABELS = {"date": "newest first", "oldest": "oldest first", "sender": "by sender",
               "sender-desc": "by sender, Z-A", "subject": "by subject",
               "subject-desc": "by subject, Z-A", "size": "largest first",
               "smallest": "smallest first", "threads": "conversations, newest first",
               "threads-oldest": "conversations, oldest first"}
"""How a status line names each sort."""


def _sort(sort: str) -> _Sort:
    try:
        return _SORTS[sort]
    except KeyError:
        raise UsageError(f"a listing sorts by {', '.join(_SORTS)}, not {sort!r}") from None


def is_threads(sort: str) -> bool:
    """Whether this sort lists conversations (one row per thread)."""
    return _sort(sort).threads


def _rows(store: Store, sql: str, params: list[Any]) -> list[Any]:
    """A query's rows; a database error becomes a StoreError."""
    try:
        return store.db.execute(sql, params).fetchall()
    except sqlite3.Error as exc:
        raise StoreError(f"listing failed: {exc}") from None


def _where(query: str | Node | None, now: datetime | None,
           compiled: Compiled | None = None) -> tuple[str, list[Any]]:
    compiled = compiled or compile_text(query, now)
    if compiled is None or compiled.where == "1":
        return "", []
    return f"({compiled.where})", list(compiled.params)


def _table(query: str | Node | None, sort: str, now: datetime | None,
           compiled: Compiled | None = None) -> tuple[str, str, str, list[Any], _Sort]:
    """The listing as a FROM clause (ending in a WHERE clause) with its sort key and
    tie breaker columns (`compiled`: the query already compiled)."""
    spec = _sort(sort)
    where, params = _where(query, now, compiled)
    if not spec.threads:
        return f"messages m WHERE {where or '1'}", spec.key, "m.id", params, spec
    # One row per thread: its newest matching message, i.e. a matching message no
    # newer matching one of its thread follows. Walked along the date index with
    # one look-up on the thread index per row, so a page costs what a page of
    # messages costs instead of grouping every matching message.
    also = f" AND {where}" if where else ""
    table = (f"(SELECT m.id AS id, m.thread_id AS tid, {_DATE} AS k FROM messages m"
             f" WHERE {where or '1'}) t WHERE NOT EXISTS (SELECT 1 FROM messages m"
             f" WHERE m.thread_id = t.tid AND ({_DATE} > t.k OR ({_DATE} = t.k"
             f" AND m.id > t.id)){also})")
    return table, "t.k", "t.id", [*params, *params], spec


def _after(key: str, tie: str, descending: bool) -> str:
    # `key <= ?` is a range on the sort index; the NOT drops the ties already seen.
    op, same = ("<=", ">=") if descending else (">=", "<=")
    return f"{key} {op} ? AND NOT ({key} = ? AND {tie} {same} ?)"


def encode_cursor(sort: str, key: Any, tie: int) -> str:
    """An opaque cursor for the row with this sort key and tie breaker."""
    data = json.dumps([sort, key, tie], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str) -> tuple[Any, int]:
    """The sort key and tie breaker in a cursor (UsageError if not one for `sort`)."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        data = None
    if (not isinstance(data, list) or len(data) != 3 or data[0] != sort
            or not isinstance(data[2], int) or isinstance(data[1], bool)
            or not isinstance(data[1], (int, float, str)) or abs(data[2]) >= 2**63):
        raise UsageError(f"not a listing cursor for sort {sort}: {cursor[:40]!r}")
    return data[1], data[2]


def page(store: Store, query: str | Node | None = None, *, sort: str = "date",
         after: str | None = None, limit: int = 100,
         now: datetime | None = None) -> list[MessageRow]:
    """One page of the listing, each row with a "cursor" (pass the last as
    `after` for the next page); in a threads sort each row is a thread's newest
    matching message with "thread_count" and "thread_unread"."""
    from mailops.store.store import _LIST_COLUMNS, _row  # the store's own row shape

    spec = _sort(sort)
    node = as_node(query, now)
    try:
        if known_empty(store.db, node):
            return []
    except sqlite3.Error as exc:
        raise StoreError(f"listing failed: {exc}") from None
    compiled = None
    if not spec.threads:  # plans from index counts, as Store.search (querysql.RARE)
        with planning(store.db):
            compiled = compile_text(node, now)
    table, key, tie, params, spec = _table(node, sort, now, compiled)
    position = decode_cursor(sort, after) if after is not None else None
    direction = "DESC" if spec.descending else "ASC"
    order = f"ORDER BY {key} {direction}, {tie} {direction}"
    if compiled is not None and compiled.walk is not None and limit <= walk.WALK_PAGE:
        # A common full-text match: the page in two stages (walk.two_stage).
        conds, cond_params = ["1"], []
        if position is not None:
            conds, cond_params = [_after(key, tie, spec.descending)], [
                position[0], position[0], position[1]]
        try:
            heads = two_stage(store.db, compiled, key=key, order=order, conds=conds,
                              params=cond_params, limit=limit,
                              after=lambda k, i: (_after(key, tie, spec.descending), [k, k, i]))
        except sqlite3.Error as exc:
            raise StoreError(f"listing failed: {exc}") from None
    else:
        cond = ""
        if position is not None:
            cond = " AND " + _after(key, tie, spec.descending)
            params = [*params, position[0], position[0], position[1]]
        heads = _rows(store, f"SELECT {key}, {tie} FROM {table}{cond} {order} LIMIT ?",
                      [*params, limit])
    if not heads:
        return []
    marks = ", ".join("?" * len(heads))
    full: dict[int, MessageRow] = {}
    threads: dict[int, int | None] = {}
    for r in _rows(store, f"SELECT {_LIST_COLUMNS}, m.thread_id AS thread_no FROM messages m"
                          f" WHERE m.id IN ({marks})", [h[1] for h in heads]):
        full[r["id"]], threads[r["id"]] = _row(r), r["thread_no"]
    sizes = _thread_sizes(store, query, threads.values(), now) if spec.threads else {}
    out: list[MessageRow] = []
    for k, msg_id in heads:
        row = full.get(msg_id)
        if row is None:  # deleted between the two queries
            continue
        row["cursor"] = encode_cursor(sort, k, msg_id)
        if spec.threads:
            # A message not threaded yet (a read-only store) is a thread of its own.
            n, unread = sizes.get(threads[msg_id] or 0, (1, 0 if row["read"] else 1))
            row["thread_count"], row["thread_unread"] = n, unread
        out.append(row)
    return out


def _thread_sizes(store: Store, query: str | Node | None, threads: Iterable[int | None],
                  now: datetime | None) -> dict[int, tuple[int, int]]:
    """How many messages of each thread match, and how many of those are unread."""
    wanted = sorted({t for t in threads if t is not None})
    if not wanted:
        return {}
    where, params = _where(query, now)
    marks = ", ".join("?" * len(wanted))
    return {int(t): (int(n), int(u or 0)) for t, n, u in _rows(
        store, f"SELECT m.thread_id, count(*), sum(m.seen = 0) FROM messages m"
               f" WHERE m.thread_id IN ({marks}){' AND ' + where if where else ''}"
               " GROUP BY m.thread_id", [*wanted, *params])}


def count(store: Store, query: str | Node | None = None, *, sort: str = "date",
          now: datetime | None = None) -> int:
    """How many rows the listing has: matching messages, or threads for a threads sort."""
    threads = _sort(sort).threads
    node = as_node(query, now)
    try:
        # A folder, All mail, a tag: from the counters (mailops.store.counters).
        counted = None if threads else from_counters(store.db, node)
        if counted is None and known_empty(store.db, node):
            counted = 0
    except sqlite3.Error as exc:
        raise StoreError(f"listing failed: {exc}") from None
    if counted is not None:
        return counted
    where, params = _where(node, now)
    what = f"count(DISTINCT {_THREAD})" if threads else "count(*)"
    sql = f"SELECT {what} FROM messages m{' WHERE ' + where if where else ''}"
    return int(_rows(store, sql, params)[0][0])


def cursor_at(store: Store, query: str | Node | None, sort: str, position: int, *,
              now: datetime | None = None) -> str | None:
    """The cursor of the row at `position` (0-based) in `sort` order, or None past
    the end. `page(after=cursor)` then continues from the next row."""
    if position < 0:
        _sort(sort)
        return None
    table, key, tie, params, spec = _table(query, sort, now)
    direction = "DESC" if spec.descending else "ASC"
    rows = _rows(store, f"SELECT {key}, {tie} FROM {table}"
                        f" ORDER BY {key} {direction}, {tie} {direction} LIMIT 1 OFFSET ?",
                 [*params, position])
    return None if not rows else encode_cursor(sort, rows[0][0], rows[0][1])


def position_of(store: Store, query: str | Node | None, sort: str, cursor: str, *,
                now: datetime | None = None) -> int:
    """How many rows sort before the row `cursor` was taken from: its position now
    (whether or not that row still exists)."""
    k, t = decode_cursor(sort, cursor)
    table, key, tie, params, spec = _table(query, sort, now)
    # Rows before it are the rows after it in the opposite order.
    cond = _after(key, tie, not spec.descending)
    return int(_rows(store, f"SELECT count(*) FROM {table} AND {cond}",
                     [*params, k, k, t])[0][0])


def cursor_of(store: Store, query: str | Node | None, sort: str, msg_id: int, *,
              now: datetime | None = None) -> str | None:
    """Message `msg_id`'s cursor in `sort` (in a threads sort: its thread's row);
    None if it does not exist (or, for threads, no message of its thread matches)."""
    spec = _sort(sort)
    if not spec.threads:
        rows = _rows(store, f"SELECT {spec.key}, m.id FROM messages m WHERE m.id = ?",
                     [msg_id])
        return None if not rows else encode_cursor(sort, rows[0][0], rows[0][1])
    found = _rows(store, "SELECT m.thread_id FROM messages m WHERE m.id = ?", [msg_id])
    if not found:
        return None
    # By thread number (indexed); a message not threaded yet is its own thread.
    own = ("m.thread_id = ?", found[0][0]) if found[0][0] is not None else ("m.id = ?", msg_id)
    where, params = _where(query, now)
    rows = _rows(store, f"SELECT {_DATE} AS k, m.id FROM messages m WHERE {own[0]}"
                        f"{' AND ' + where if where else ''} ORDER BY k DESC, m.id DESC"
                        " LIMIT 1", [own[1], *params])
    if not rows:
        return None
    return encode_cursor(sort, rows[0][0], rows[0][1])


def reverse_cursor(sort: str, cursor: str) -> str:
    """The same row's cursor for the opposite order (`ORDERS[sort]`)."""
    k, t = decode_cursor(sort, cursor)
    return encode_cursor(ORDERS[sort], k, t)


def iter_ids(store: Store, query: str | Node | None, *, exclude: frozenset[int] = frozenset(),
             chunk: int = 1000, now: datetime | None = None) -> Iterator[int]:
    """Every matching id in id order, a keyset page of ids at a time (a bulk action
    on "all matching": never the whole listing in memory)."""
    where, params = _where(query, now)
    last = 0
    while True:
        rows = _rows(store, f"SELECT m.id FROM messages m WHERE m.id > ?"
                            f"{' AND ' + where if where else ''} ORDER BY m.id LIMIT ?",
                     [last, *params, chunk])
        if not rows:
            return
        last = int(rows[-1][0])
        yield from (int(r[0]) for r in rows if int(r[0]) not in exclude)
