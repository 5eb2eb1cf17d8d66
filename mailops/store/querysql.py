"""Compile a parsed query (mailops.query) into a SQL condition with bound parameters.

Full-text parts become FTS5 MATCH expressions (user text always quoted, so it is
never read as FTS5 syntax) bound as parameters; structured filters become plain
SQL predicates over the `messages` row aliased `m`. Within an AND, every
full-text term is merged into one MATCH so SQLite does one index lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mailops.errors import UsageError
from mailops.query import And, Filter, Node, Not, Or, Term

# Query field -> FTS5 column (see schema migration 2).
FTS_COLUMNS = {"from": "sender", "to": "recipients", "cc": "cc", "subject": "subject",
               "body": "body", "filename": "filename"}
_HAS_TOKEN = re.compile(r"\w")
_DATE = "coalesce(m.date_ts, m.received_at)"
_IS = {"read": "m.seen = 1", "unread": "m.seen = 0", "flagged": "m.flagged = 1",
       "unflagged": "m.flagged = 0", "replied": "m.replied = 1"}


@dataclass
class Compiled:
    """A WHERE condition over `m`, its parameters, and the MATCH used for ranking."""

    where: str
    params: list[Any] = field(default_factory=list)
    rank_match: str | None = None  # the top-level MATCH, for bm25 and snippets


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


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


def _match(expr: str, params: list[Any]) -> str:
    params.append(expr)
    return "m.id IN (SELECT rowid FROM texts_fts WHERE texts_fts MATCH ?)"


def _filter(f: Filter, params: list[Any]) -> str:
    if f.name == "message-id":
        params.append(f.value)
        return "m.message_id = ?"
    if f.name == "folder":
        params.append(f.value)
        return "m.folder = ? COLLATE NOCASE"
    if f.name == "tag":
        params.append(f.value)
        return "m.id IN (SELECT msg_id FROM tags WHERE tag = ? COLLATE NOCASE)"
    if f.name == "is":
        return _IS[f.value]
    if f.name == "has":
        return "m.attachments > 0"
    if f.name == "larger":
        params.append(int(f.low or 0))
        return "m.size > ?"
    if f.name == "smaller":
        params.append(int(f.low or 0))
        return "m.size < ?"
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
        params.append(int(f.value))
        return "m.thread_id = (SELECT thread_id FROM messages WHERE id = ?)"
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
    # Merge the full-text conjuncts into one MATCH; the rest stay SQL.
    fts: list[Node] = [c for c in node.children if _fts_only(c)]
    negated_fts: list[Node] = [c for c in node.children
                               if isinstance(c, Not) and _fts_only(c.child)]
    rest = [c for c in node.children if c not in fts and c not in negated_fts]
    conds: list[str] = []
    if fts:
        expr = _fts_expr(And(tuple(fts + negated_fts)))
        if expr:
            conds.append(_match(expr, params))
        negated_fts = []
    conds += [_sql(c, params) for c in negated_fts + rest]
    return "(" + " AND ".join(conds) + ")" if conds else "1"


def _rank_match(node: Node) -> str | None:
    """The positive full-text part of the query, for bm25 ranking and snippets."""
    if _fts_only(node):
        return _fts_expr(node)
    if isinstance(node, And):
        fts = [c for c in node.children if _fts_only(c)]
        return _fts_expr(And(tuple(fts))) if fts else None
    return None


def compile_query(node: Node) -> Compiled:
    """The SQL condition for a query AST."""
    params: list[Any] = []
    where = _sql(node, params)
    return Compiled(where, params, _rank_match(node))
