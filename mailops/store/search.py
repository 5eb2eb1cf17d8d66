"""Run a parsed query against the store: sorting, keyset cursors, bm25 scores, snippets.

`Store.search` and `Store.list` call `run`; all search SQL lives here. Pages are
keyset pages: a cursor records the sort key of a row (date and id, or score,
date and id), and the next page asks for rows strictly after it, so page 1000
costs what page 1 costs (no OFFSET). A common full-text term's page (date, oldest
or id order) is found in two stages (`walk.two_stage`), the same rows as the
one query gives.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from mailops.errors import StoreError, UsageError
from mailops.query import Node, parse
from mailops.store import walk
from mailops.store.counters import known_empty
from mailops.store.querysql import Compiled, compile_query
from mailops.store.walk import two_stage

SORTS = ("date", "oldest", "relevance", "id")
"""date: newest first; oldest: oldest first; relevance: bm25 (date when the query has
no full-text term); id: arrival order (internal: wait, rm and export walk it)."""

_DATE = "coalesce(m.date_ts, m.received_at)"
# bm25 weights per FTS column (subject, sender, recipients, cc, body, filename):
# a hit in the subject or the sender says more than one deep in the body.
_BM25 = "bm25(texts_fts, 8.0, 5.0, 3.0, 2.0, 1.0, 4.0)"
_CODES = {"date": "d", "oldest": "o", "relevance": "r", "id": "i"}
HIGHLIGHT = ("[", "]")
"""Default snippet markers around matched terms."""


def encode_cursor(sort: str, key: tuple[Any, ...]) -> str:
    """An opaque, URL-safe cursor for the row with this sort key."""
    data = json.dumps([_CODES[sort], *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str) -> list[Any]:
    """The sort key inside a cursor; UsageError if it is not one of ours for `sort`."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        # Numbers SQLite can bind: a forged cursor must not raise OverflowError.
        ok = isinstance(data, list) and all(
            isinstance(v, int | float) and not isinstance(v, bool) and abs(v) < 2**62
            for v in data[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        ok = False
    if not ok or not data or data[0] not in _CODES.values():
        raise UsageError(f"not a valid cursor: {cursor[:40]!r} (take it from --json output)")
    if data[0] != _CODES[sort]:
        named = next(k for k, v in _CODES.items() if v == data[0])
        raise UsageError(f"this cursor is for --sort {named}, not --sort {sort}")
    want = 3 if sort == "relevance" else 2 if sort in {"date", "oldest"} else 1
    if len(data) - 1 != want:
        raise UsageError(f"not a valid cursor: {cursor[:40]!r} (take it from --json output)")
    return list(data[1:])


def as_node(query: str | Node | None, now: datetime | None = None) -> Node | None:
    """A query as its parsed tree; None for no query (everything): "" is everything."""
    if query is None or (isinstance(query, str) and not query.strip()):
        return None
    return parse(query, now) if isinstance(query, str) else query


def compile_text(query: str | Node | None, now: datetime | None = None) -> Compiled | None:
    """Parse (if needed) and compile a query; None for no query (everything)."""
    node = as_node(query, now)
    return None if node is None else compile_query(node)


def run(db: sqlite3.Connection, columns: str, make_row: Callable[[sqlite3.Row], dict[str, Any]],
        query: str | Node | None, *, sort: str = "date", limit: int = 50,
        after: str | None = None, before_id: int | None = None, after_id: int | None = None,
        snippets: bool = False, highlight: tuple[str, str] = HIGHLIGHT,
        now: datetime | None = None) -> list[dict[str, Any]]:
    """One page of matching rows, each with a "cursor"; with `snippets` also
    "score" (higher is better; null without a full-text term) and "snippet"."""
    if sort not in SORTS:
        raise UsageError(f"unknown sort {sort!r}: use date, oldest or relevance")
    node = as_node(query, now)
    try:
        if known_empty(db, node):
            return []
    except sqlite3.OperationalError as exc:
        raise StoreError(f"search failed: {exc}") from None
    compiled = compile_text(node, now)
    rank = compiled.rank_match if compiled else None
    if sort == "relevance" and rank is None:
        sort = "date"  # nothing to rank by; a relevance cursor then carries a date key
    key = decode_cursor(sort, after) if after else None
    where: list[str] = []
    params: list[Any] = []
    if sort == "relevance":
        assert compiled is not None and rank is not None
        sql = (f"SELECT {columns}, {_DATE} AS sort_date, {_BM25} AS sort_score"
               " FROM texts_fts JOIN messages m ON m.id = texts_fts.rowid")
        where.append("texts_fts MATCH ?")
        params.append(rank)
        if compiled.rest != "1":
            where.append(compiled.rest)
            params += compiled.rest_params
        order = "sort_score, sort_date DESC, m.id DESC"
        if key:
            where.append(f"({_BM25} > ? OR ({_BM25} = ? AND ({_DATE} < ?"
                         f" OR ({_DATE} = ? AND m.id < ?))))")
            params += [key[0], key[0], key[1], key[1], key[2]]
    else:
        sql = f"SELECT {columns}, {_DATE} AS sort_date FROM messages m"
        order, after_row = _order(sort)
        if key:
            cond, cond_params = after_row(key)
            where.append(cond)
            params += cond_params
    if before_id is not None:
        where.append("m.id < ?")
        params.append(before_id)
    if after_id is not None:
        where.append("m.id > ?")
        params.append(after_id)
    try:
        if (sort != "relevance" and compiled is not None and compiled.walk is not None
                and limit <= walk.WALK_PAGE):
            # A common full-text match or tag: the page in two stages (walk.two_stage).
            heads = two_stage(db, compiled, key="m.id" if sort == "id" else _DATE,
                              order=f"ORDER BY {order}", conds=where or ["1"], params=params,
                              after=lambda k, i: after_row((i,) if sort == "id" else (k, i)),
                              limit=limit)
            raw_rows = _by_ids(db, sql, [i for _, i in heads])
        else:
            if sort != "relevance" and compiled is not None and compiled.where != "1":
                where.insert(0, compiled.where)
                params[:0] = compiled.params
            if where:
                sql += " WHERE " + " AND ".join(where)
            sql += f" ORDER BY {order} LIMIT ?"
            raw_rows = db.execute(sql, [*params, limit]).fetchall()
        rows = []
        for r in raw_rows:
            row = make_row(r)
            if sort == "relevance":
                sort_key: tuple[Any, ...] = (r["sort_score"], r["sort_date"], r["id"])
            elif sort == "id":
                sort_key = (r["id"],)
            else:
                sort_key = (r["sort_date"], r["id"])
            row["cursor"] = encode_cursor(sort, sort_key)
            rows.append(row)
        if snippets:
            _add_snippets(db, rows, rank, highlight)
    except sqlite3.OperationalError as exc:
        raise StoreError(f"search failed: {exc}") from None
    return rows


def _order(sort: str) -> tuple[str, Callable[[Sequence[Any]], tuple[str, list[Any]]]]:
    """ORDER BY of a non-relevance sort, and the condition for the rows strictly after
    a row's sort key ((date, id), or (id,) for the id sort)."""
    if sort == "id":
        return "m.id", lambda k: ("m.id > ?", [k[0]])
    # `date <= ?` is a range on the date index; the NOT drops the ties already seen.
    op, tie, direction = ("<=", ">=", "DESC") if sort == "date" else (">=", "<=", "ASC")
    return (f"{_DATE} {direction}, m.id {direction}",
            lambda k: (f"{_DATE} {op} ? AND NOT ({_DATE} = ? AND m.id {tie} ?)",
                       [k[0], k[0], k[1]]))


def _by_ids(db: sqlite3.Connection, sql: str, ids: list[int]) -> list[sqlite3.Row]:
    """The rows of `sql` (over `m`, no WHERE yet) for these ids, in this order."""
    if not ids:
        return []
    found = {int(r["id"]): r for r in db.execute(
        f"{sql} WHERE m.id IN ({', '.join('?' * len(ids))})", ids)}
    return [found[i] for i in ids if i in found]


_BODY_COLUMN = 4  # texts_fts(subject, sender, recipients, cc, body, filename)


def _add_snippets(db: sqlite3.Connection, rows: list[dict[str, Any]], rank: str | None,
                  highlight: tuple[str, str]) -> None:
    """Fill "score" and "snippet" for one page (a second, rowid-bounded FTS query)."""
    found: dict[int, tuple[float, str]] = {}
    if rank is not None and rows:
        ids = [int(r["id"]) for r in rows]
        marks = ", ".join("?" * len(ids))
        # FTS5 runs the whole MATCH once per value of a `rowid IN (...)` constraint
        # (80 ms a page for a common word); a rowid range is one pass, and "+rowid"
        # keeps the IN list a plain filter on it.
        # The snippet comes from the body when a term matched there: the best column
        # (-1) is often the subject, which every listing shows beside it already.
        for r in db.execute(
                f"SELECT rowid, {_BM25} AS score,"
                f" snippet(texts_fts, {_BODY_COLUMN}, ?, ?, '…', 12) AS body,"
                " snippet(texts_fts, -1, ?, ?, '…', 12) AS snip"
                " FROM texts_fts WHERE texts_fts MATCH ? AND rowid BETWEEN ? AND ?"
                f" AND +rowid IN ({marks})",
                [*highlight, *highlight, rank, min(ids), max(ids), *ids]):
            best = str(r["body"]) if highlight[0] in str(r["body"]) else str(r["snip"])
            # One line: bodies keep their line breaks, a listing cell cannot.
            found[int(r["rowid"])] = (float(r["score"]), " ".join(best.split()))
    for row in rows:
        score, snip = found.get(int(row["id"]), (None, None))
        # bm25 is lower-is-better; scripts expect higher-is-better.
        row["score"] = None if score is None else round(-score, 6)
        row["snippet"] = snip
