"""The mail store: raw messages kept byte-for-byte (zstd), summaries, FTS5 search.

One writer and many readers at once: WAL mode, a busy timeout, and short write
transactions. The receive daemon writes raw messages first (`add_raw`, durable
before the SMTP 250) and fills in the parsed columns and the search index later
(`index_pending`), so parsing never sits on the SMTP path.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

from mailops.errors import NotFoundError, StoreError
from mailops.mime import Parsed, summarize
from mailops.store.fts import match_expression
from mailops.store.schema import MIGRATIONS

_LIST_COLUMNS = (
    "m.id, m.message_id, m.date, m.received_at, m.from_addr, m.to_addrs, m.cc_addrs, "
    "m.subject, m.size, m.attachments, m.attachment_names, m.folder, m.flags, m.mail_from, "
    "m.rcpt_to, m.sha256, m.defects, m.indexed, m.source, m.peer"
)


@dataclass
class Incoming:
    """A message as received: raw bytes plus the SMTP envelope."""

    raw: bytes
    mail_from: str | None = None
    rcpt_to: list[str] = field(default_factory=list)
    peer: str | None = None
    source: str = "smtp"
    received_at: float = field(default_factory=time.time)


MessageRow = dict[str, Any]


def _row(r: sqlite3.Row) -> MessageRow:
    return {
        "id": r["id"],
        "message_id": r["message_id"],
        "date": r["date"],
        "received_at": r["received_at"],
        "from": r["from_addr"],
        "to": json.loads(r["to_addrs"]),
        "cc": json.loads(r["cc_addrs"]),
        "subject": r["subject"],
        "size": r["size"],
        "attachments": r["attachments"],
        "attachment_names": json.loads(r["attachment_names"]),
        "folder": r["folder"],
        "flags": [f for f in r["flags"].split(",") if f],
        "mail_from": r["mail_from"],
        "rcpt_to": json.loads(r["rcpt_to"]),
        "sha256": r["sha256"],
        "defects": json.loads(r["defects"]),
        "indexed": bool(r["indexed"]),
        "source": r["source"],
        "peer": r["peer"],
    }


class Store:
    """A connection to one mail store file. Use one Store per thread."""

    def __init__(self, path: str | Path, *, readonly: bool = False,
                 synchronous: str = "NORMAL") -> None:
        self.path = Path(path)
        self.readonly = readonly
        try:
            if readonly:
                if not self.path.exists():
                    raise StoreError(f"no mail store at {self.path} (nothing received yet?)")
                uri = f"file:{self.path}?mode=ro"
                self.db = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False,
                                          isolation_level=None)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path, timeout=30, check_same_thread=False,
                                          isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA busy_timeout = 30000")
            if not readonly:
                self.db.execute("PRAGMA journal_mode = WAL")
                self.db.execute(f"PRAGMA synchronous = {synchronous}")
                self._migrate()
            elif self.schema_version() < len(MIGRATIONS):
                raise StoreError(f"{self.path}: store needs an upgrade; run any writing command")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open mail store {self.path}: {exc}") from None
        self._cctx = zstandard.ZstdCompressor(level=3)
        self._dctx = zstandard.ZstdDecompressor()

    # -- lifecycle -----------------------------------------------------------------

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema_version(self) -> int:
        """How many migrations this store has had."""
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version()
        if version > len(MIGRATIONS):
            raise StoreError(f"{self.path} was written by a newer mailops (schema {version})")
        for number in range(version, len(MIGRATIONS)):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                # Another process may have migrated while we waited for the lock.
                if self.schema_version() > number:
                    self.db.execute("COMMIT")
                    continue
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number + 1}")
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    # -- writing ------------------------------------------------------------------

    def add_raw(self, items: Sequence[Incoming]) -> list[int]:
        """Store raw messages in one transaction (one fsync); index them later.

        Returns the new ids. When this returns, the messages are durable.
        """
        ids: list[int] = []
        compress = self._cctx.compress
        rows = [(i, compress(i.raw), hashlib.sha256(i.raw).hexdigest()) for i in items]
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for item, blob, digest in rows:
                cur = self.db.execute(
                    "INSERT INTO messages (received_at, mail_from, rcpt_to, peer, source, size,"
                    " sha256) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (item.received_at, item.mail_from, json.dumps(item.rcpt_to), item.peer,
                     item.source, len(item.raw), digest),
                )
                assert cur.lastrowid is not None
                ids.append(cur.lastrowid)
                self.db.execute("INSERT INTO bodies (id, raw) VALUES (?, ?)",
                                (cur.lastrowid, blob))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return ids

    def add_parsed(self, items: Sequence[tuple[Incoming, Parsed]]) -> list[int]:
        """Store messages already parsed (import): raw, summary and index at once."""
        ids: list[int] = []
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for item, parsed in items:
                cur = self.db.execute(
                    "INSERT INTO messages (received_at, mail_from, rcpt_to, peer, source, size,"
                    " sha256) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (item.received_at, item.mail_from, json.dumps(item.rcpt_to), item.peer,
                     item.source, len(item.raw), hashlib.sha256(item.raw).hexdigest()),
                )
                assert cur.lastrowid is not None
                self.db.execute("INSERT INTO bodies (id, raw) VALUES (?, ?)",
                                (cur.lastrowid, self._cctx.compress(item.raw)))
                self._write_summary(cur.lastrowid, parsed)
                ids.append(cur.lastrowid)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return ids

    def _write_summary(self, msg_id: int, p: Parsed) -> None:
        self.db.execute(
            "UPDATE messages SET indexed = 1, message_id = ?, date = ?, date_ts = ?,"
            " from_addr = ?, to_addrs = ?, cc_addrs = ?, subject = ?, attachments = ?,"
            " attachment_names = ?, defects = ? WHERE id = ?",
            (p.message_id, p.date, p.date_ts, p.from_, json.dumps(p.to), json.dumps(p.cc),
             p.subject, len(p.attachments), json.dumps(p.attachments), json.dumps(p.defects),
             msg_id),
        )
        addresses = " ".join([p.from_, *p.to, *p.cc, *p.bcc])
        names = " ".join(p.attachments)
        self.db.execute(
            "INSERT INTO texts (id, subject, addresses, body, attachments) VALUES (?, ?, ?, ?, ?)",
            (msg_id, p.subject, addresses, p.text, names),
        )
        self.db.execute(
            "INSERT INTO texts_fts (rowid, subject, addresses, body, attachments)"
            " VALUES (?, ?, ?, ?, ?)",
            (msg_id, p.subject, addresses, p.text, names),
        )

    def pending_count(self) -> int:
        """Messages stored but not yet parsed and indexed."""
        return int(self.db.execute(
            "SELECT count(*) FROM messages WHERE indexed = 0").fetchone()[0])

    def index_pending(self, limit: int = 500) -> int:
        """Parse and index up to `limit` pending messages; returns how many.

        Parsing happens outside the write transaction; rows another indexer
        finished meanwhile are skipped, so concurrent indexers are harmless.
        """
        rows = self.db.execute(
            "SELECT m.id, b.raw FROM messages m JOIN bodies b ON b.id = m.id"
            " WHERE m.indexed = 0 ORDER BY m.id LIMIT ?", (limit,)).fetchall()
        if not rows:
            return 0
        parsed = [(r["id"], summarize(self._dctx.decompress(r["raw"]))) for r in rows]
        self.db.execute("BEGIN IMMEDIATE")
        try:
            done = 0
            for msg_id, p in parsed:
                still = self.db.execute(
                    "SELECT 1 FROM messages WHERE id = ? AND indexed = 0", (msg_id,)).fetchone()
                if still:
                    self._write_summary(msg_id, p)
                    done += 1
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return done

    def delete(self, ids: Iterable[int]) -> int:
        """Delete messages by id; returns how many existed."""
        count = 0
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for msg_id in ids:
                old = self.db.execute(
                    "SELECT subject, addresses, body, attachments FROM texts WHERE id = ?",
                    (msg_id,)).fetchone()
                if old is not None:
                    self.db.execute(
                        "INSERT INTO texts_fts (texts_fts, rowid, subject, addresses, body,"
                        " attachments) VALUES ('delete', ?, ?, ?, ?, ?)",
                        (msg_id, old["subject"], old["addresses"], old["body"],
                         old["attachments"]))
                    self.db.execute("DELETE FROM texts WHERE id = ?", (msg_id,))
                self.db.execute("DELETE FROM bodies WHERE id = ?", (msg_id,))
                cur = self.db.execute("DELETE FROM messages WHERE id = ?", (msg_id,))
                count += cur.rowcount
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return count

    # -- reading ------------------------------------------------------------------

    def count(self) -> int:
        """How many messages are stored."""
        return int(self.db.execute("SELECT count(*) FROM messages").fetchone()[0])

    def get(self, msg_id: int) -> MessageRow:
        """One message's summary; NotFoundError if there is no such id."""
        r = self.db.execute(f"SELECT {_LIST_COLUMNS} FROM messages m WHERE m.id = ?",
                            (msg_id,)).fetchone()
        if r is None:
            raise NotFoundError(f"no message with id {msg_id}")
        return _row(r)

    def raw(self, msg_id: int) -> bytes:
        """The exact bytes received for a message."""
        r = self.db.execute("SELECT raw FROM bodies WHERE id = ?", (msg_id,)).fetchone()
        if r is None:
            raise NotFoundError(f"no message with id {msg_id}")
        data: bytes = self._dctx.decompress(r["raw"])
        return data

    def list(self, query: str | None = None, *, limit: int = 50,
             before_id: int | None = None, after_id: int | None = None,
             oldest_first: bool = False) -> list[MessageRow]:
        """Messages newest first (or oldest first), optionally matching an FTS query.

        Keyset pagination: pass the last id seen as `before_id` (or `after_id`
        when oldest first) to get the next page without an OFFSET scan.
        """
        where: list[str] = []
        params: list[Any] = []
        join = ""
        if query and query.strip():
            join = "JOIN texts_fts f ON f.rowid = m.id"
            where.append("texts_fts MATCH ?")
            params.append(match_expression(query))
        if before_id is not None:
            where.append("m.id < ?")
            params.append(before_id)
        if after_id is not None:
            where.append("m.id > ?")
            params.append(after_id)
        sql = f"SELECT {_LIST_COLUMNS} FROM messages m {join}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY m.id {'ASC' if oldest_first else 'DESC'} LIMIT ?"
        params.append(limit)
        try:
            return [_row(r) for r in self.db.execute(sql, params)]
        except sqlite3.OperationalError as exc:
            raise StoreError(f"search failed: {exc}") from None

    def iter_ids(self, query: str | None = None) -> Iterator[int]:
        """Every matching id, oldest first, in pages."""
        last = 0
        while True:
            page = self.list(query, limit=1000, after_id=last, oldest_first=True)
            if not page:
                return
            for row in page:
                yield int(row["id"])
            last = int(page[-1]["id"])

    def has_id(self, msg_id: int) -> bool:
        """Whether a message with this id exists."""
        return self.db.execute("SELECT 1 FROM messages WHERE id = ?",
                               (msg_id,)).fetchone() is not None

    def max_id(self) -> int:
        """The newest message id (0 for an empty store)."""
        return int(self.db.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0])

    def has_sha256(self, digest: str) -> bool:
        """Whether a message with these exact bytes is already stored."""
        return self.db.execute("SELECT 1 FROM messages WHERE sha256 = ? LIMIT 1",
                               (digest,)).fetchone() is not None

    def stats(self) -> dict[str, Any]:
        """Counts and sizes for `doctor` and `config show`."""
        row = self.db.execute(
            "SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes,"
            " coalesce(sum(indexed = 0), 0) AS pending FROM messages").fetchone()
        page_size = self.db.execute("PRAGMA page_size").fetchone()[0]
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        return {"messages": row["n"], "raw_bytes": row["bytes"], "pending_index": row["pending"],
                "file_bytes": page_size * pages, "schema_version": self.schema_version(),
                "path": str(self.path)}

    def integrity_check(self) -> str:
        """SQLite's quick_check result ('ok' when healthy)."""
        return str(self.db.execute("PRAGMA quick_check").fetchone()[0])
