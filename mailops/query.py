"""The mailops query language: parse a search string into a small AST.

Pure and separate from SQL: `parse()` turns text into nodes (or raises a
QuerySyntaxError naming the position and what was expected); the store compiles
nodes into one FTS5 MATCH plus bound SQL parameters. docs/search.md documents
every operator.

    query   := or EOF
    or      := and ("OR" and)*
    and     := unary (["AND"] unary)*
    unary   := ("NOT" | "-") unary | primary
    primary := "(" or ")" | FIELD ":" value | WORD | "PHRASE"
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mailops.errors import UsageError

TEXT_FIELDS = {"from": "from", "to": "to", "cc": "cc", "subject": "subject", "body": "body",
               "filename": "filename"}
"""Field names that search the full-text index, mapped to index columns."""

FILTER_FIELDS = {"message-id", "id", "tag", "folder", "in", "is", "has", "larger", "smaller",
                 "before", "after", "date", "thread"}
IS_VALUES = {"read", "unread", "flagged", "unflagged", "replied", "unreplied"}
HAS_VALUES = {"attachment"}


class QuerySyntaxError(UsageError):
    """A query that cannot be parsed; `position` is a 0-based character offset."""

    def __init__(self, query: str, position: int, expected: str) -> None:
        self.query = query
        self.position = position
        self.expected = expected
        near = query[position:position + 20] or "end of query"
        super().__init__(f"query syntax error at position {position + 1} (near {near!r}): "
                         f"expected {expected}")


@dataclass(frozen=True)
class Term:
    """Full-text: a word, a "phrase" or a prefix*, optionally limited to one field."""

    text: str
    field: str | None = None
    kind: str = "word"  # word | phrase | prefix


@dataclass(frozen=True)
class Filter:
    """A structured condition: is:unread, larger:2M, after:7d, tag:x, ..."""

    name: str
    value: str
    low: float | None = None  # resolved numbers for sizes and dates
    high: float | None = None


@dataclass(frozen=True)
class And:
    """All of the children."""

    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """Any of the children."""

    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """Not the child."""

    child: Node


Node = Term | Filter | And | Or | Not

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<phrase>"(?:[^"]|"")*")
  | (?P<badquote>")
  | (?P<field>[A-Za-z][A-Za-z-]*):
  | (?P<minus>-(?=[^\s)]))
  | (?P<word>[^\s()"]+)
""", re.VERBOSE)


@dataclass
class _Tok:
    kind: str
    text: str
    pos: int


def _tokens(query: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if m is None:  # unreachable with the catch-all word rule; kept for safety
            raise QuerySyntaxError(query, pos, "a word")
        kind = m.lastgroup or "word"
        if kind != "ws":
            text = m.group(kind)
            if kind == "badquote":
                raise QuerySyntaxError(query, len(query), 'a closing quote (")')
            if kind == "word" and text in {"OR", "AND", "NOT"}:
                kind = text.lower()
            out.append(_Tok(kind, text, m.start()))
        pos = m.end()
    out.append(_Tok("eof", "", len(query)))
    return out


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([kmgKMG]?)[bB]?$")
_REL = re.compile(r"^(\d+)([hdwmy])$")


def parse_size(text: str) -> int:
    """`2M` -> 2097152; suffixes k, M, G are powers of 1024; no suffix is bytes."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(text)
    scale = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2).lower()]
    return int(float(m.group(1)) * scale)


def date_interval(text: str, now: datetime | None = None) -> tuple[float, float]:
    """The [start, end) Unix-time interval a date word names (UTC).

    ISO dates (`2026-03-01`, `2026-03`, `2026`, `2026-03-01T10:00`), `today`,
    `yesterday`, and relative `7d`, `12h`, `2w`, `3m` (30 days), `1y` (365 days),
    which run from that long ago until now.
    """
    now = now or datetime.now(UTC)
    low = text.lower()
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if low == "today":
        return day.timestamp(), (day + timedelta(days=1)).timestamp()
    if low == "yesterday":
        return (day - timedelta(days=1)).timestamp(), day.timestamp()
    rel = _REL.match(low)
    if rel:
        n = int(rel.group(1))
        unit = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1),
                "m": timedelta(days=30), "y": timedelta(days=365)}[rel.group(2)]
        return (now - n * unit).timestamp(), now.timestamp() + 1
    for fmt, step in (("%Y-%m-%dT%H:%M:%S", timedelta(seconds=1)),
                      ("%Y-%m-%dT%H:%M", timedelta(minutes=1)),
                      ("%Y-%m-%d", timedelta(days=1))):
        with contextlib.suppress(ValueError):  # not this format: try the next
            start = datetime.strptime(text, fmt).replace(tzinfo=UTC)
            return start.timestamp(), (start + step).timestamp()
    m = re.fullmatch(r"(\d{4})(?:-(\d{2}))?", text)
    if m:
        year, month = int(m.group(1)), int(m.group(2) or 0)
        with contextlib.suppress(ValueError):  # month 13 and the like: not a date
            if month:
                start = datetime(year, month, 1, tzinfo=UTC)
                end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
            else:
                start = datetime(year, 1, 1, tzinfo=UTC)
                end = datetime(year + 1, 1, 1, tzinfo=UTC)
            return start.timestamp(), end.timestamp()
    raise ValueError(text)


class _Parser:
    def __init__(self, query: str, now: datetime | None) -> None:
        self.query = query
        self.toks = _tokens(query)
        self.i = 0
        self.now = now

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, expected: str, tok: _Tok | None = None) -> QuerySyntaxError:
        return QuerySyntaxError(self.query, (tok or self.tok).pos, expected)

    def parse(self) -> Node:
        if self.tok.kind == "eof":
            raise self.fail("a search term")
        node = self.parse_or()
        if self.tok.kind != "eof":
            raise self.fail("OR, a search term or the end of the query")
        return node

    def parse_or(self) -> Node:
        parts = [self.parse_and()]
        while self.tok.kind == "or":
            self.take()
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def parse_and(self) -> Node:
        parts = [self.parse_unary()]
        while self.tok.kind not in {"eof", "or", "rparen"}:
            if self.tok.kind == "and":
                self.take()
            parts.append(self.parse_unary())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def parse_unary(self) -> Node:
        if self.tok.kind in {"not", "minus"}:
            self.take()
            return Not(self.parse_unary())
        return self.parse_primary()

    def parse_primary(self) -> Node:
        tok = self.tok
        if tok.kind == "lparen":
            self.take()
            if self.tok.kind == "rparen":
                raise self.fail("a search term inside the parentheses")
            node = self.parse_or()
            if self.tok.kind != "rparen":
                raise self.fail("a closing parenthesis")
            self.take()
            return node
        if tok.kind == "phrase":
            self.take()
            return _phrase(tok.text, None)
        if tok.kind == "field":
            return self.parse_field()
        if tok.kind in {"word", "and", "or", "not"}:
            if tok.kind != "word":
                raise self.fail("a search term", tok)
            self.take()
            return _word(tok.text, None)
        if tok.kind == "eof":
            raise self.fail("a search term")
        raise self.fail("a search term", tok)

    def parse_field(self) -> Node:
        ftok = self.take()
        name = ftok.text.lower()
        vtok = self.tok
        known = name in TEXT_FIELDS or name in FILTER_FIELDS
        glued = vtok.pos == ftok.pos + len(ftok.text) + 1
        if not known:  # "re:", "http://x": not a field, just text
            if glued and vtok.kind in {"word", "and", "or", "not"}:
                self.take()
                return _word(f"{ftok.text}:{vtok.text}", None)
            return _word(ftok.text, None)
        if not glued or vtok.kind not in {"word", "phrase", "and", "or", "not", "minus"}:
            raise self.fail(f"a value right after {name}:")
        self.take()
        if vtok.kind == "minus":  # "-" glued to a value: take the next word as well
            nxt = self.take()
            value = "-" + nxt.text
        else:
            value = vtok.text
        if name in TEXT_FIELDS:
            if vtok.kind == "phrase":
                return _phrase(value, TEXT_FIELDS[name])
            return _word(value, TEXT_FIELDS[name])
        if vtok.kind == "phrase":
            value = value[1:-1].replace('""', '"')
        return self.filter(name, value, vtok)

    def filter(self, name: str, value: str, vtok: _Tok) -> Filter:
        if name in {"id", "message-id"}:
            return Filter("message-id", value.strip("<>"))
        if name in {"folder", "in"}:
            if vtok.kind != "phrase" and value.endswith("*"):  # folder:Archive* (any case)
                if len(value) == 1:
                    raise self.fail(f"a folder name before the * after {name}:", vtok)
                return Filter("folder-prefix", value[:-1])
            return Filter("folder", value)
        if name == "is":
            if value.lower() not in IS_VALUES:
                raise self.fail(f"one of {', '.join(sorted(IS_VALUES))} after is:", vtok)
            return Filter("is", value.lower())
        if name == "has":
            if value.lower() not in HAS_VALUES:
                raise self.fail("attachment after has:", vtok)
            return Filter("has", value.lower())
        if name in {"larger", "smaller"}:
            try:
                size = parse_size(value)
            except ValueError:
                raise self.fail(f"a size like 200k or 2M after {name}:", vtok) from None
            return Filter(name, value, low=float(size))
        if name in {"before", "after", "date"}:
            try:
                if name == "date" and ".." in value:
                    a, _, b = value.partition("..")
                    low = date_interval(a, self.now)[0] if a else None
                    high = date_interval(b, self.now)[1] if b else None
                else:
                    low, high = date_interval(value, self.now)
            except ValueError:
                raise self.fail(f"a date (2026-03-01, 7d, yesterday) after {name}:",
                                vtok) from None
            if name == "before":
                return Filter("date", value, None, low)
            if name == "after":
                return Filter("date", value, low, None)
            return Filter("date", value, low, high)
        if name == "thread":
            if not value.isdigit():
                raise self.fail("a message id number after thread:", vtok)
            return Filter("thread", value)
        return Filter(name, value)  # tag


def _word(text: str, field: str | None) -> Term:
    if text.endswith("*") and len(text.rstrip("*")) > 0:
        return Term(text.rstrip("*"), field, "prefix")
    return Term(text, field, "word")


def _phrase(text: str, field: str | None) -> Term:
    return Term(text[1:-1].replace('""', '"'), field, "phrase")


def parse(query: str, now: datetime | None = None) -> Node:
    """Parse a query string into an AST; QuerySyntaxError on bad input."""
    return _Parser(query, now).parse()
