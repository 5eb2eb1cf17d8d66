"""Positions in a sorted listing, for a virtual message list (the TUI's).

A list over a million messages shows a window of rows at a time. Sequential
paging is keyset paging (`Store.search(after=cursor)`); these helpers answer
what keyset paging cannot: how many rows there are, the cursor at a given
position (a jump to the middle or the end: one OFFSET over the covering date
index, keys only), where a known row now sits (after new mail arrived above
it), and a cursor's counterpart in the opposite order (to page backwards).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mailops.errors import StoreError, UsageError
from mailops.query import Node
from mailops.store.search import compile_text, decode_cursor, encode_cursor

if TYPE_CHECKING:
    from mailops.store.store import Store

_DATE = "coalesce(m.date_ts, m.received_at)"  # the expression messages_date indexes
ORDERS = {"date": "oldest", "oldest": "date"}
"""The listing sorts and each one's reverse."""


def _check(sort: str) -> None:
    if sort not in ORDERS:
        raise UsageError(f"a listing sorts by date or oldest, not {sort!r}")


def _one(store: Store, sql: str, params: list[Any]) -> Any:
    """The first row of a query; a database error becomes a StoreError."""
    try:
        return store.db.execute(sql, params).fetchone()
    except sqlite3.Error as exc:
        raise StoreError(f"listing failed: {exc}") from None


def _where(query: str | Node | None, now: datetime | None) -> tuple[str, list[Any]]:
    compiled = compile_text(query, now)
    if compiled is None or compiled.where == "1":
        return "", []
    return f" WHERE ({compiled.where})", list(compiled.params)


def count(store: Store, query: str | Node | None = None, *,
          now: datetime | None = None) -> int:
    """How many messages match (all of them for no query)."""
    where, params = _where(query, now)
    return int(_one(store, f"SELECT count(*) FROM messages m{where}", params)[0])


def cursor_at(store: Store, query: str | Node | None, sort: str, position: int, *,
              now: datetime | None = None) -> str | None:
    """The cursor of the row at `position` (0-based) in `sort` order, or None past
    the end. `Store.search(after=cursor)` then continues from the next row."""
    _check(sort)
    if position < 0:
        return None
    where, params = _where(query, now)
    direction = "DESC" if sort == "date" else "ASC"
    row = _one(store, f"SELECT {_DATE} AS d, m.id FROM messages m{where}"
               f" ORDER BY {_DATE} {direction}, m.id {direction} LIMIT 1 OFFSET ?",
               [*params, position])
    return None if row is None else encode_cursor(sort, (row[0], row[1]))


def position_of(store: Store, query: str | Node | None, sort: str, cursor: str, *,
                now: datetime | None = None) -> int:
    """How many matching rows sort before the row `cursor` was taken from: its
    position now (whether or not that row still exists)."""
    _check(sort)
    key = decode_cursor(sort, cursor)
    where, params = _where(query, now)
    # The same range form as search's keyset condition, so the date index is used.
    cond = (f"{_DATE} >= ? AND NOT ({_DATE} = ? AND m.id <= ?)" if sort == "date"
            else f"{_DATE} <= ? AND NOT ({_DATE} = ? AND m.id >= ?)")
    where = f"{where} AND {cond}" if where else f" WHERE {cond}"
    return int(_one(store, f"SELECT count(*) FROM messages m{where}",
                    [*params, key[0], key[0], key[1]])[0])


def reverse_cursor(sort: str, cursor: str) -> str:
    """The same row's cursor for the opposite order (`ORDERS[sort]`)."""
    _check(sort)
    return encode_cursor(ORDERS[sort], tuple(decode_cursor(sort, cursor)))
