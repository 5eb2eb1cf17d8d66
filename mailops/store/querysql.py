"""Compile a parsed query (mailops.query) into a SQL condition with bound parameters.

Full-text parts become FTS5 MATCH expressions (user text always quoted, so it is
never read as FTS5 syntax) bound as parameters; structured filters become plain
SQL predicates over the `messages` row aliased `m`. Within an AND, every
full-text term is merged into one MATCH so SQLite does one index lookup. A first
page for a common match is found in two stages by mailops.store.walk.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from mailops.errors import UsageError
from mailops.query import And, Filter, Node, Not, Or, Term

# Query field -> FTS5 column (see schema migration 2).
FTS_COLUMNS = {"from": "sender", "to": "recipients", "cc": "cc", "subject": "subject",
               "body": "body", "filename": "filename"}
# A letter or digit: what the unicode61 tokenizer keeps ("_" and punctuation separate).
_HAS_TOKEN = re.compile(r"[^\W_]")
_DATE = "coalesce(m.date_ts, m.received_at)"
# is:NAME -> (column, value). Indexed (schema migration 9): seen, and the flagged and
# replied messages (partial indexes: a message imported unflagged costs them nothing).
_IS = {"read": ("seen", 1), "unread": ("seen", 0), "flagged": ("flagged", 1),
       "unflagged": ("flagged", 0), "replied": ("replied", 1), "unreplied": ("replied", 0)}


@dataclass
class Compiled:
    """A WHERE condition over `m`, its parameters, and the MATCH used for ranking.

    `rank_match` is set when every result must match one FTS5 expression (the
    query is full-text only, or full-text ANDed with filters); then `rest` and
    `rest_params` are the other conditions, for a query that joins the index
    on `rank_match` directly (bm25 ranking, snippets).
    """

    where: str
    params: list[Any] = field(default_factory=list)
    rank_match: str | None = None
    rest: str = "1"
    rest_params: list[Any] = field(default_factory=list)
    walk: str | None = None
    """Set when planning judged this FTS5 expression (or, with `walk_ids`, tag) common
    and every result must match it or, with `walk_negated`, must not: a first page
    is then found in two stages (`walk.two_stage`): `rest` along the sort order, each
    chunk tested against `walk`."""
    walk_negated: bool = False
    walk_ids: str | None = None
    """The ids (column `id`) the tag `walk` has, as a template whose two `{}` are the
    lowest and highest id (parameters: walk, then any the bounds take): a tag's chunks
    are filtered inside SQL (`walk._tag_chunk`); None: `walk` is an FTS5 expression."""
    fallback: str | None = None
    """The one query's condition when it is not `where` (a tag driving from its index)."""
    fallback_params: list[Any] = field(default_factory=list)
    post: str = "1"
    """Conditions tested only on the ids a walk keeps (not on every row walked)."""
    post_params: list[Any] = field(default_factory=list)


def _quote(text: str) -> str:
    # FTS5 ends a string at NUL ("unterminated string"); a NUL separates tokens anyway.
    return '"' + text.replace("\x00", " ").replace('"', '""') + '"'


def _fts_term(t: Term) -> str | None:
    if not _HAS_TOKEN.search(t.text):
        return None  # punctuation only: the tokenizer would give FTS5 an empty phrase
    expr = _quote(t.text) + (" *" if t.kind == "prefix" else "")
    if t.field:
        return f"{FTS_COLUMNS[t.field]} : {expr}"
    return expr


def _fts_only(node: Node) -> bool:
    """Whether a subtree can be one FTS5 expression (FTS5 has no unary NOT)."""
    if isinstance(node, Term):
        return True
    if isinstance(node, Or):
        return all(_fts_only(c) for c in node.children)
    if isinstance(node, And):
        positives = [c for c in node.children if not isinstance(c, Not)]
        return bool(positives) and all(
            _fts_only(c.child if isinstance(c, Not) else c) for c in node.children)
    return False


def _fts_expr(node: Node) -> str | None:
    """The FTS5 expression of an `_fts_only` subtree (None if it has no tokens)."""
    if isinstance(node, Term):
        return _fts_term(node)
    if isinstance(node, Or):
        parts = [p for p in (_fts_expr(c) for c in node.children) if p]
        return "(" + " OR ".join(parts) + ")" if parts else None
    assert isinstance(node, And)
    pos = [p for p in (_fts_expr(c) for c in node.children if not isinstance(c, Not)) if p]
    neg = [p for p in (_fts_expr(c.child) for c in node.children if isinstance(c, Not)) if p]
    if not pos:
        return None
    expr = "(" + " AND ".join(pos) + ")"
    for n in neg:
        expr += f" NOT {n}"
    return "(" + expr + ")"


# Set by compile_query(id_range=...): id subqueries then seek a small id range
# instead of running over the whole store (auto-tag rules check one batch).
_ID_RANGE: ContextVar[tuple[int, int] | None] = ContextVar("_ID_RANGE", default=None)


def _within(column: str) -> str:
    bounds = _ID_RANGE.get()
    return "" if bounds is None else f" AND {column} BETWEEN {int(bounds[0])} AND {int(bounds[1])}"


# Set by `planning(db)` (Store.search): filters whose index says they match few
# rows then drive the query from that index instead of walking the date order.
_DB: ContextVar[sqlite3.Connection | None] = ContextVar("_DB", default=None)
# The counts already made in this planning block: a term compiles more than once
# (the condition, then the ranking/two-stage parts) but is counted once. None: rare;
# else the share estimate of `_common` (1.0 for what is not a full-text match).
_COUNTED: ContextVar[dict[tuple[str, Any], float | None] | None] = ContextVar(
    "_COUNTED", default=None)
RARE = 2000
"""Fewer matches than this: fetch and sort them all (about 5 µs a row at 1M)
rather than walk the date index probing each row (which reads the whole store
when almost nothing matches: 80-350 ms at 1M)."""


# False while compiling a tag walk's fallback: `tag:` then drives from the tag index.
_TAG_PLANS: ContextVar[bool] = ContextVar("_TAG_PLANS", default=True)


@contextmanager
def planning(db: sqlite3.Connection) -> Iterator[None]:
    """Within this block, compile_query counts (up to RARE, through an index) how
    many rows a term or filter matches and picks the plan from that."""
    token, counted = _DB.set(db), _COUNTED.set({})
    try:
        yield
    finally:
        _COUNTED.reset(counted)
        _DB.reset(token)


def _rare(sql: str, param: Any) -> bool:
    """Whether `sql` (one bound parameter, answered from an index) gives < RARE rows."""
    return _common(sql, param) is None


def _common(sql: str, param: Any) -> float | None:
    """None when `sql` gives fewer than RARE rows; otherwise, for the full-text match
    (`_FTS`), the share of the newest messages that match it (RARE over the ids from
    its RARE-th newest match up: the same index work as counting to RARE), else 1.0."""
    db = _DB.get()
    if db is None:
        return 1.0
    counted = _COUNTED.get()
    if counted is not None and (sql, param) in counted:
        return counted[sql, param]
    share: float | None
    try:
        if sql == _FTS:  # FTS5 reads its rowids newest first as cheaply as oldest first
            row = db.execute(f"{sql} ORDER BY rowid DESC LIMIT 1 OFFSET ?",
                             (param, RARE - 1)).fetchone()
            top = db.execute("SELECT max(id) FROM messages").fetchone()[0]
            share = None if row is None else RARE / max(int(top) - int(row[0]) + 1, RARE)
        else:
            args = (RARE,) if param is None else (param, RARE)  # None: sql binds nothing
            n = db.execute(f"SELECT count(*) FROM ({sql} LIMIT ?)", args).fetchone()[0]
            share = None if int(n) < RARE else 1.0
    except sqlite3.OperationalError:
        return 1.0  # e.g. an FTS5 syntax the run itself will report
    if counted is not None:
        counted[sql, param] = share
    return share


_FTS = "SELECT rowid FROM texts_fts WHERE texts_fts MATCH ?"
WALK_MIN = 50.0
"""A common FTS5 match gets the two-stage page only when share² x store size is at
least this (its share of the newest mail, from `_common`'s count): a page of 50 (the
CLI's) walks about 50 / share rows, the one query fetches share x size ids, and the
walk pays while the first is no more than the second (as walk.WALK_RATIO = 1 judges
from the rows walked; 0.7% at 1M). Below it the walk's first chunk is wasted: it finds
too little, and the one query follows anyway (+1-5 ms at 0.3-0.8%, 1M)."""


def _walk_pays(share: float) -> bool:
    """Whether a first page walks a match with this share of the newest mail (WALK_MIN)."""
    db = _DB.get()
    assert db is not None
    size = int(db.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0])
    return share * share * size >= WALK_MIN


_TAG = "SELECT msg_id FROM tags WHERE tag = ? COLLATE NOCASE"
_TAG_IDS = ("SELECT msg_id AS id FROM tags WHERE tag = ? COLLATE NOCASE"
            " AND msg_id BETWEEN {} AND {}")


def _match(expr: str, params: list[Any]) -> str:
    params.append(expr)
    fts = _FTS
    if _ID_RANGE.get() is not None:
        return f"m.id IN ({fts}{_within('rowid')})"
    if _rare(fts, expr):
        return f"m.id IN ({fts})"  # few matches: drive from the index, sort them
    # "+m.id": walk the date index and probe the match set, rather than fetch every
    # match and sort them all; a common word has tens of thousands (5 ms vs 35 ms at 50k).
    return f"+m.id IN ({fts})"


def _indexed(sql: str, value: Any, where: str, params: list[Any]) -> str:
    """`where` over `m`, or, when the indexed `sql` finds few rows, `m.id IN (sql)`."""
    params.append(value)
    return f"m.id IN ({sql})" if _rare(sql, value) else where


_MAX_CHAR = "\U0010ffff"  # the last code point: the upper bound of a prefix range


def _filter(f: Filter, params: list[Any]) -> str:
    if f.name == "message-id":
        params.append(f.value)
        return "m.message_id = ?"
    if f.name == "folder":
        # Checked on each row walked ("+": never the folder index, which SQLite would
        # otherwise pick for a sorted page and then fetch and sort the whole folder: 3 s
        # for INBOX at 1M); when planning, a small folder drives from the NOCASE folder
        # index (migration 8) instead.
        if _ID_RANGE.get() is not None or _DB.get() is None:
            params.append(f.value)
            return "+m.folder = ? COLLATE NOCASE"
        return _indexed("SELECT id FROM messages WHERE folder = ? COLLATE NOCASE", f.value,
                        "+m.folder = ? COLLATE NOCASE", params)
    if f.name == "folder-prefix":
        # Every folder whose name starts with the prefix, in any case (Archive* finds
        # Archive/2023): a NOCASE range, so a small set drives from the folder index
        # as one folder does. No valid UTF-8 text sorts at or after U+10FFFF.
        params += [f.value, f.value + _MAX_CHAR]
        counted = ("SELECT id FROM messages WHERE folder >= ?1 COLLATE NOCASE"
                   " AND folder < ?1 || char(1114111) COLLATE NOCASE")
        if _ID_RANGE.get() is None and _DB.get() is not None and _rare(counted, f.value):
            return ("m.id IN (SELECT id FROM messages WHERE folder >= ? COLLATE NOCASE"
                    " AND folder < ? COLLATE NOCASE)")
        return "(+m.folder >= ? COLLATE NOCASE AND +m.folder < ? COLLATE NOCASE)"
    if f.name == "tag":
        if _ID_RANGE.get() is not None or _DB.get() is None or not _TAG_PLANS.get():
            # Not planning (counts), or a tag walk's fallback: drive from the tag index.
            params.append(f.value)
            return ("m.id IN (SELECT msg_id FROM tags WHERE tag = ? COLLATE NOCASE"
                    f"{_within('msg_id')})")
        # A common tag: probe each row walked in date order (primary key msg_id, tag).
        return _indexed(_TAG, f.value,
                        "EXISTS (SELECT 1 FROM tags t WHERE t.msg_id = m.id"
                        " AND t.tag = ? COLLATE NOCASE)", params)
    if f.name == "is":
        column, value = _IS[f.value]  # literals: a partial index serves only those
        cond = f"m.{column} = {value}"
        indexed = column == "seen" or value == 1
        if _ID_RANGE.get() is not None or _DB.get() is None or not indexed:
            # "+": checked on each row, never the flag's index (which SQLite would pick
            # for a sorted page, then fetch and sort every unread message).
            return f"+{cond}"
        if not _TAG_PLANS.get():  # a tag walk's fallback: each tagged id is looked up
            return cond  # in the flag's index, not its row read
        sql = f"SELECT id FROM messages WHERE {column} = {value}"
        return f"m.id IN ({sql})" if _rare(sql, None) else f"+{cond}"
    if f.name == "has":
        return "m.attachments > 0"
    if f.name in ("larger", "smaller"):
        op = ">" if f.name == "larger" else "<"
        return _indexed(f"SELECT id FROM messages WHERE size {op} ?", int(f.low or 0),
                        f"m.size {op} ?", params)
    if f.name == "date":
        conds = []
        if f.low is not None:
            params.append(f.low)
            conds.append(f"{_DATE} >= ?")
        if f.high is not None:
            params.append(f.high)
            conds.append(f"{_DATE} < ?")
        return " AND ".join(conds) or "1"
    if f.name == "thread":
        # The message itself counts even before threading has assigned thread ids.
        params += [int(f.value), int(f.value)]
        return ("(m.id = ? OR m.thread_id = (SELECT thread_id FROM messages WHERE id = ?"
                " AND thread_id IS NOT NULL))")
    raise UsageError(f"unknown filter {f.name}:")


def _sql(node: Node, params: list[Any]) -> str:
    if _fts_only(node):
        expr = _fts_expr(node)
        return _match(expr, params) if expr else "1"
    if isinstance(node, Filter):
        return _filter(node, params)
    if isinstance(node, Not):
        return f"NOT ({_sql(node.child, params)})"
    if isinstance(node, Or):
        return "(" + " OR ".join(_sql(c, params) for c in node.children) + ")"
    assert isinstance(node, And)
    expr, rest = _split_and(node)
    conds = [_match(expr, params)] if expr else []
    conds += [_sql(c, params) for c in rest]
    return "(" + " AND ".join(conds) + ")" if conds else "1"


def _split_and(node: And) -> tuple[str | None, list[Node]]:
    """One FTS5 expression for an AND's full-text conjuncts (negated ones included),
    and the conjuncts left to plain SQL."""
    fts = [c for c in node.children if _fts_only(c)]
    negated: list[Node] = [c for c in node.children
                           if isinstance(c, Not) and _fts_only(c.child)]
    rest = [c for c in node.children if not _fts_only(c) and c not in negated]
    expr = _fts_expr(And(tuple(fts + negated))) if fts else None
    if expr is None:  # no positive token to anchor FTS5's binary NOT: negate in SQL
        rest = negated + rest
    return expr, rest


def compile_query(node: Node, id_range: tuple[int, int] | None = None) -> Compiled:
    """The SQL condition for a query AST; `id_range` bounds it to ids low..high."""
    token = _ID_RANGE.set(id_range)
    try:
        return _compile(flatten(node))
    finally:
        _ID_RANGE.reset(token)


def flatten(node: Node) -> Node:
    """The same query with ANDs inside an AND spliced into it (a scope ANDed with a
    query, `(a b) c`): the plans look at a conjunction's direct children."""
    if not isinstance(node, And) or not any(isinstance(c, And) for c in node.children):
        return node
    children: list[Node] = []
    for c in node.children:
        c = flatten(c)
        children += c.children if isinstance(c, And) else (c,)
    return And(tuple(children))


def _compile(node: Node) -> Compiled:
    params: list[Any] = []
    where = _sql(node, params)
    rank: str | None = None
    rest_sql, rest_params = "1", list[Any]()
    driven = False  # another condition drives the query from its index: no walk
    if _fts_only(node):
        rank = _fts_expr(node)
    elif isinstance(node, And):
        rank, rest = _split_and(node)
        if rank is not None and rest:
            rest_sql, rest_params, driven = _conjunction(rest)
    if _DB.get() is None or _ID_RANGE.get() is not None:
        return Compiled(where, params, rank, rest_sql, rest_params)
    if rank is not None:  # the same count `_match` made: a common match
        share = None if driven else _common(_FTS, rank)
        walk = rank if share is not None and _walk_pays(share) else None
        return Compiled(where, params, rank, rest_sql, rest_params, walk)
    anti = _negated(node)
    if anti is not None and not _rare(_FTS, anti[0]):  # a common word excluded
        rest_sql, rest_params, driven = _conjunction(anti[1])
        if not driven:
            return Compiled(where, params, None, rest_sql, rest_params, anti[0], True)
    return _tag_walk(node, where, params)


def _tag_walk(node: Node, where: str, params: list[Any]) -> Compiled:
    """For a query ANDing a common tag with filters (`tag:work is:unread`): walk the
    filters in sort order testing chunks against the tag's ids, and when that finds
    too little, finish from the tag index (not a walk of the whole store)."""
    children = [node] if isinstance(node, Filter) else (
        list(node.children) if isinstance(node, And) else [])
    tag = next((c for c in children if isinstance(c, Filter) and c.name == "tag"
                and not _rare(_TAG, c.value)), None)
    if tag is None:
        return Compiled(where, params)
    # Date ranges bound the walk on the date index; the other filters (flags, sizes)
    # read the row, so they are checked only on the tag's ids (a tag is 5% of a chunk).
    others = [c for c in children if c is not tag]
    ranged: list[Node] = [c for c in others if isinstance(c, Filter) and c.name == "date"]
    rest_sql, rest_params, driven = _conjunction(ranged)
    post_sql, post_params, post_driven = _conjunction([c for c in others if c not in ranged])
    if driven or post_driven:
        return Compiled(where, params)
    fallback_params: list[Any] = []
    token = _TAG_PLANS.set(False)  # the tag as `m.id IN (tag index)`
    try:
        fallback = _sql(node, fallback_params)
    finally:
        _TAG_PLANS.reset(token)
    return Compiled(where, params, None, rest_sql, rest_params, tag.value,
                    walk_ids=_TAG_IDS, fallback=fallback,
                    fallback_params=fallback_params, post=post_sql, post_params=post_params)


def _conjunction(nodes: list[Node]) -> tuple[str, list[Any], bool]:
    """The AND of these conditions, its parameters, and whether one of them drives
    the query from an index (`m.id IN (...)`: a rare term or filter, a tag)."""
    params: list[Any] = []
    parts = [_sql(c, params) for c in nodes]
    if not parts:
        return "1", params, False
    return ("(" + " AND ".join(parts) + ")", params,
            any(p.startswith("m.id IN (") for p in parts))


def _negated(node: Node) -> tuple[str, list[Node]] | None:
    """For a query whose full-text parts are all negated (`NOT budget`, `-from:alice
    has:attachment`): one FTS5 expression no result matches, and the other conjuncts."""
    if isinstance(node, Not) and _fts_only(node.child):
        parts, others = [node.child], []
    elif isinstance(node, And) and not any(_fts_only(c) for c in node.children):
        parts = [c.child for c in node.children if isinstance(c, Not) and _fts_only(c.child)]
        others = [c for c in node.children if not (isinstance(c, Not) and _fts_only(c.child))]
    else:
        return None
    exprs = [e for e in (_fts_expr(p) for p in parts) if e]
    if not exprs or len(exprs) < len(parts):  # NOT of no token excludes everything
        return None
    return (exprs[0] if len(exprs) == 1 else "((" + ") OR (".join(exprs) + "))"), others

