"""Compile a parsed query (mailops.query) into a SQL condition with bound parameters.

Full-text parts become FTS5 MATCH expressions (user text always quoted, so it is
never read as FTS5 syntax) bound as parameters; structured filters become plain
SQL predicates over the `messages` row aliased `m`. Within an AND, every
full-text term is merged into one MATCH so SQLite does one index lookup.
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
_IS = {"read": "m.seen = 1", "unread": "m.seen = 0", "flagged": "m.flagged = 1",
       "unflagged": "m.flagged = 0", "replied": "m.replied = 1",
       "unreplied": "m.replied = 0"}


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
RARE = 2000
"""Fewer matches than this: fetch and sort them all (about 5 µs a row at 1M)
rather than walk the date index probing each row (which reads the whole store
when almost nothing matches: 80-350 ms at 1M)."""


@contextmanager
def planning(db: sqlite3.Connection) -> Iterator[None]:
    """Within this block, compile_query counts (up to RARE, through an index) how
    many rows a term or filter matches and picks the plan from that."""
    token = _DB.set(db)
    try:
        yield
    finally:
        _DB.reset(token)


def _rare(sql: str, param: Any) -> bool:
    """Whether `sql` (one bound parameter, answered from an index) gives < RARE rows."""
    db = _DB.get()
    if db is None:
        return False
    try:
        n = db.execute(f"SELECT count(*) FROM ({sql} LIMIT ?)", (param, RARE)).fetchone()[0]
    except sqlite3.OperationalError:
        return False  # e.g. an FTS5 syntax the run itself will report
    return int(n) < RARE


def _match(expr: str, params: list[Any]) -> str:
    params.append(expr)
    fts = "SELECT rowid FROM texts_fts WHERE texts_fts MATCH ?"
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


def _filter(f: Filter, params: list[Any]) -> str:
    if f.name == "message-id":
        params.append(f.value)
        return "m.message_id = ?"
    if f.name == "folder":
        params.append(f.value)
        return "m.folder = ? COLLATE NOCASE"
    if f.name == "tag":
        if _ID_RANGE.get() is not None or _DB.get() is None:
            # Not planning (counts, listings): the planner drives from the tag index.
            params.append(f.value)
            return ("m.id IN (SELECT msg_id FROM tags WHERE tag = ? COLLATE NOCASE"
                    f"{_within('msg_id')})")
        # A common tag: probe each row walked in date order (primary key msg_id, tag).
        return _indexed("SELECT msg_id FROM tags WHERE tag = ? COLLATE NOCASE", f.value,
                        "EXISTS (SELECT 1 FROM tags t WHERE t.msg_id = m.id"
                        " AND t.tag = ? COLLATE NOCASE)", params)
    if f.name == "is":
        return _IS[f.value]
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
        return _compile(node)
    finally:
        _ID_RANGE.reset(token)


def _compile(node: Node) -> Compiled:
    params: list[Any] = []
    where = _sql(node, params)
    rank: str | None = None
    rest_sql, rest_params = "1", list[Any]()
    if _fts_only(node):
        rank = _fts_expr(node)
    elif isinstance(node, And):
        rank, rest = _split_and(node)
        if rank is not None and rest:
            rest_sql = "(" + " AND ".join(_sql(c, rest_params) for c in rest) + ")"
    return Compiled(where, params, rank, rest_sql, rest_params)
