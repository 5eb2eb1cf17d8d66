"""Two-stage first pages for a common full-text match or tag.

A planned query (`querysql.planning`) whose every result must match (or, negated,
must not match) a common FTS5 expression or tag gets `Compiled.walk`. Its first
page is then found in two stages (`two_stage`): walk the other conditions along
the sort order a chunk at a time, testing each chunk against the match by rowid
ranges, until the page is full; when the density seen says the walk would be long
(or the ids scatter), the one-query plan finishes the page. A tag's chunk is
filtered inside SQL (`_tag_chunk`: index-only walks for its bounds, then one
statement that returns only the ids the tag keeps); an FTS5 match's chunk comes
back to Python and is tested by ranges (`_hits`). The rows are the same as the
one query gives (tests/test_plan_equivalence.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from mailops.store.querysql import _FTS, Compiled

WALK_FIRST = 256
"""Rows of the sort order in a two-stage page's first chunk (later chunks are sized
from the density seen so far, up to WALK_CHUNK)."""
WALK_CHUNK = 8192
WALK_RATIO = 1.0
"""Walk on while the rows left to walk (estimated from the density of results so far)
are fewer than WALK_RATIO x the ids the one-query plan would fetch first (the match
set or the tag's rows, estimated from their share of the rows walked). Chosen by
measurement (docs/benchmarks.md, section 5)."""
TAG_WALK_RATIO = 3.0
"""WALK_RATIO for a tag's walk: its one-query plan reads the message row of every id
the tag has (about 2 µs each at 1M), while its walk reads the order's index and only
the tag's rows (about 0.6 µs a row walked), so the walk pays for longer."""
WALK_PAGE = 1000
"""Pages longer than this come from the one query (a first screenful is what the
walk is for; its ids are bound one parameter each)."""
RUN_GAP = 1024
"""Ids of a chunk further apart than this are tested as separate rowid ranges."""
RUNS_MAX = 16
"""More ranges than this in a chunk (ids far from the sort order, e.g. old mail
imported late): the one-query plan takes over."""
TAG_SPAN = 4
"""A tag's chunk whose ids spread over more than this many times its size (old mail
imported late) is tested by a probe per id walked, not by reading the tag's index
over the whole spread."""


def _hits(db: sqlite3.Connection, compiled: Compiled, ids: list[int]) -> set[int] | None:
    """Which of `ids` `compiled.walk` matches, by rowid ranges (FTS5 seeks a range; a
    `rowid IN (...)` list would run the whole match once per value); None if the
    ids are too scattered for a few ranges."""
    ordered = sorted(ids)
    runs: list[tuple[int, int]] = []
    low = prev = ordered[0]
    for i in ordered[1:]:
        if i - prev > RUN_GAP:
            runs.append((low, prev))
            low = i
        prev = i
    runs.append((low, prev))
    if len(runs) > RUNS_MAX:
        return None
    found: set[int] = set()
    sql = f"{_FTS} AND rowid BETWEEN ? AND ?"
    for low, high in runs:
        found.update(r[0] for r in db.execute(sql, (compiled.walk, low, high)))
    return found


def _tag_chunk(db: sqlite3.Connection, compiled: Compiled, key: str, where: str,
               where_params: list[Any], order: str,
               after: Callable[[Any, int], tuple[str, list[Any]]],
               size: int) -> tuple[list[tuple[int, bool]], tuple[Any, int] | None]:
    """One chunk of a tag's walk (`compiled.walk_ids`), filtered in SQL: the next
    `size` rows of `messages m` where `where` holds, in `order`. Returns (id, whether
    `compiled.post` holds) for each of them the tag keeps, in no particular order,
    and the chunk's last row as (sort key, id) (None: the order ended within it).

    The chunk's last row and an id range that holds all of its ids come from walks of
    the order's index (ids only); then the tag's index is read over that range, each
    id found checked against the chunk's bounds in the sort order (a row read for the
    tag's few ids, not an index probe for every row walked). When the ids spread over
    more than TAG_SPAN times the chunk's size (old mail imported late), each id walked
    is probed in the tag's index instead."""
    assert compiled.walk_ids is not None
    walked = f"SELECT m.id FROM messages m WHERE ({where})"
    first, end = db.execute(f"SELECT ({walked} {order} LIMIT 1), ({walked} {order} LIMIT 1"
                            " OFFSET ?)", [*where_params, *where_params, size - 1]).fetchone()
    if first is None:
        return [], None
    last: tuple[Any, int] | None = None
    if end is not None:
        last = (db.execute(f"SELECT {key} FROM messages m WHERE m.id = ?", (end,))
                .fetchone()[0], int(end))
    # The walk follows the ids closely (date order is mostly arrival order): guess an
    # id range from the chunk's ends and check it: the chunk's ids all lie in it if and
    # only if the same walk kept to the range ("+": still along the order's index) has
    # the same row at the same place. Else, or for the short last chunk, the exact range.
    fits = False
    if end is not None:
        low, high = min(first, end) - size // 8 - 16, max(first, end) + size // 8 + 16
        fits = db.execute(f"SELECT ({walked} AND +m.id BETWEEN ? AND ? {order} LIMIT 1"
                          " OFFSET ?) IS ?", [*where_params, low, high, size - 1, end]
                          ).fetchone()[0] == 1
    if not fits:
        low, high = db.execute(f"SELECT min(id), max(id) FROM ({walked} {order} LIMIT ?)",
                               [*where_params, size]).fetchone()
    post, post_params = compiled.post, compiled.post_params  # read only for the tag's ids
    if high - low > TAG_SPAN * size:
        rows = db.execute(
            f"SELECT m.id, {post} FROM messages m WHERE m.id IN (SELECT c.id FROM ({walked}"
            f" {order} LIMIT ?) AS c WHERE EXISTS ({compiled.walk_ids.format('c.id', 'c.id')}))",
            [*post_params, *where_params, size, compiled.walk])
    else:  # CROSS JOIN: from the tag's ids, never a walk of the order probing them
        upto, upto_params = "1", list[Any]()
        if last is not None:
            upto, upto_params = after(*last)
            upto = f"NOT ({upto})"
        rows = db.execute(
            f"SELECT m.id, {post} FROM ({compiled.walk_ids.format('?', '?')}) AS t"
            f" CROSS JOIN messages m ON m.id = t.id WHERE ({where}) AND {upto}",
            [*post_params, compiled.walk, low, high, *where_params, *upto_params])
    return [(int(i), bool(ok)) for i, ok in rows], last


def two_stage(db: sqlite3.Connection, compiled: Compiled, *, key: str, order: str,
              conds: list[str], params: list[Any],
              after: Callable[[Any, int], tuple[str, list[Any]]],
              limit: int) -> list[tuple[Any, int]]:
    """The sort key and id of the first `limit` rows of `messages m` where
    `compiled.where` and `conds` hold, in `order` (ORDER BY ...): the same rows in
    the same order as one query gives, found in two stages: walk the ids where
    `compiled.rest` holds along the order a chunk at a time, keeping those the
    match `compiled.walk` finds (or, negated, does not find) among them,
    until the page is full. When the density seen says the walk would be long
    (or the ids scatter), the rest comes from the one query, after the last
    row walked. `after(key, id)` is the condition (and its parameters) for the rows
    strictly after that row in this order; `key` the sort key's SQL over `m`."""
    assert compiled.walk is not None
    out: list[int] = []
    last: tuple[Any, int] | None = None
    walked = tested = 0
    size = WALK_FIRST
    total: int | None = None  # the store's size (max id), read when first needed

    def walk_sql(where: str, where_params: list[Any]) -> tuple[str, list[Any]]:
        more, more_params = after(*last) if last is not None else ("1", [])
        return " AND ".join([where, *conds, more]), [*where_params, *params, *more_params]

    def ids(where: str, where_params: list[Any], n: int) -> list[int]:
        # Ids only: the sort key would read each walked row (3.40 does not take an
        # expression's value from its index), 4 µs a row at 1M instead of 0.1.
        sql, sql_params = walk_sql(where, where_params)
        return [int(r[0]) for r in db.execute(
            f"SELECT m.id FROM messages m WHERE {sql} {order} LIMIT ?", [*sql_params, n])]

    own = not db.in_transaction  # one snapshot for every chunk, as one query has
    if own:
        db.execute("BEGIN")
    try:
        walk_on = True
        while walk_on and len(out) < limit:
            if compiled.walk_ids is not None:  # a tag: the chunk filtered in SQL
                found, end = _tag_chunk(db, compiled, key,
                                        *walk_sql(compiled.rest, compiled.rest_params),
                                        order, after, size)
                tested += len(found)
                out += [i for i, ok in found if ok]
                if end is None or len(out) >= limit:  # the whole order walked, or a page
                    return _ordered(db, key, order, out, limit)
                last = end
            else:
                chunk = ids(compiled.rest, compiled.rest_params, size)
                hits = _hits(db, compiled, chunk) if chunk else set()
                if hits is None:
                    break  # scattered ids: the one query from here
                kept = [i for i in chunk if (i in hits) != compiled.walk_negated]
                tested += len(kept)
                if compiled.post != "1" and kept:
                    passed = {int(r[0]) for r in db.execute(
                        f"SELECT m.id FROM messages m WHERE m.id IN ({', '.join('?' * len(kept))})"
                        f" AND {compiled.post}", [*kept, *compiled.post_params])}
                    kept = [i for i in kept if i in passed]
                out += kept[:limit - len(out)]
                if len(chunk) < size or len(out) >= limit:  # the whole order walked, or a page
                    return _keyed(db, key, out)
                last = (db.execute(f"SELECT {key} FROM messages m WHERE m.id = ?",
                                   (chunk[-1],)).fetchone()[0], chunk[-1])
            walked += size
            if total is None:
                total = int(db.execute("SELECT coalesce(max(id), 0) FROM messages")
                            .fetchone()[0])
            # The one query fetches every id the walk's test keeps (the match set, or
            # the tag's rows): estimated from the share of the rows walked so far.
            density = max(len(out), 1) / walked  # none yet: as if the next were one
            left = (limit - len(out)) / density
            ratio = WALK_RATIO if compiled.walk_ids is None else TAG_WALK_RATIO
            walk_on = left <= ratio * tested / walked * total  # else the one query
            if walk_on:
                size = max(WALK_FIRST, min(WALK_CHUNK, int(left * 1.1) + 16))
        if len(out) < limit:
            out += ids(compiled.fallback or compiled.where,
                       compiled.fallback_params if compiled.fallback else compiled.params,
                       limit - len(out))
        if compiled.walk_ids is not None:
            return _ordered(db, key, order, out, limit)
        return _keyed(db, key, out)
    finally:
        if own:
            db.execute("COMMIT")


def _ordered(db: sqlite3.Connection, key: str, order: str, ids: list[int],
             limit: int) -> list[tuple[Any, int]]:
    """(sort key, id) for the first `limit` of these ids in `order`."""
    if not ids:
        return []
    return [(k, int(i)) for i, k in db.execute(
        f"SELECT m.id, {key} FROM messages m WHERE m.id IN ({', '.join('?' * len(ids))})"
        f" {order} LIMIT ?", [*ids, limit])]


def _keyed(db: sqlite3.Connection, key: str, ids: list[int]) -> list[tuple[Any, int]]:
    """(sort key, id) for these ids, in their order."""
    if not ids:
        return []
    keys = dict(db.execute(f"SELECT m.id, {key} FROM messages m"
                           f" WHERE m.id IN ({', '.join('?' * len(ids))})", ids).fetchall())
    return [(keys[i], i) for i in ids]
