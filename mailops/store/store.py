"""The mail store: raw messages kept byte-for-byte (zstd), summaries, FTS5 search.

One writer and many readers at once: WAL mode, a busy timeout, and short write
transactions. The receive daemon writes raw messages first (`add_raw`, durable
before the SMTP 250) and fills in the parsed columns and the search index later
(`index_pending`), so parsing never sits on the SMTP path.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zstandard

from mailops.errors import NotFoundError, StoreError, StoreOutdated
from mailops.store.crypto import connect
from mailops.store.schema import MIGRATIONS
from mailops.store.tags import apply_ingest, folder_spelling
from mailops.store.threads import NewMessage, thread_of
from mailops.store.threads import assign as assign_thread
from mailops.store.threads import assign_batch as assign_threads
from mailops.store.threads import forget as forget_threads
from mailops.tagging import Tagging

if TYPE_CHECKING:  # the MIME parser costs ~20 ms to import; `ls` never needs it
    from mailops.mime import Parsed
    from mailops.query import Node

_INDEX_BATCH_BYTES = 32 << 20  # raw bytes one index_pending call parses at most (but 1 msg)
_SLIM_KEEP = 4 << 20  # base64 kept per long run for indexing (> 1M characters of text)
# A long run of base64 lines: an attachment (or a huge encoded body). One character
# class, not a repeated line group: SRE would keep state for every repetition.
_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/=\r\n]{%d,}" % _SLIM_KEEP)
_BULK_WAL_PAGES = 10_000  # WAL pages between checkpoints during a bulk import
BULK_FTS_HASH = 8 << 20  # FTS5 pending-entry bytes during a bulk import (a batch's worth)
_FTS_HASH_DEFAULT = 1 << 20  # FTS5's own default hashsize
_BLOB_COPY_MAX = 1 << 20  # compressed bodies above this are written with blob I/O
_LIST_COLUMNS = (
    "m.id, m.message_id, m.date, m.received_at, m.from_addr, m.to_addrs, m.cc_addrs, "
    "m.subject, m.size, m.attachments, m.attachment_names, m.folder, m.flags, m.mail_from, "
    "m.rcpt_to, m.sha256, m.defects, m.indexed, m.source, m.peer, m.seen, m.flagged, "
    "m.replied, "
    # Correlated: one primary-key lookup per row returned (only the page's rows).
    "(SELECT group_concat(t.tag, ',') FROM tags t WHERE t.msg_id = m.id) AS tag_list"
)


@dataclass(frozen=True)
class MailState:
    """Where an imported message was filed and what its reader had done with it
    (maildir folders and flags, mbox Status headers): a new message is unread in
    INBOX. `folder` is as found; the store matches an existing folder's spelling."""

    folder: str = "INBOX"
    seen: bool = False
    flagged: bool = False
    replied: bool = False
    tags: tuple[str, ...] = ()


NEW_MAIL = MailState()


@dataclass
class Incoming:
    """A message as received: raw bytes plus the SMTP envelope (and, when imported,
    the state it was found in: `prepare` and `add_prepared` keep it; `add_raw`, the
    daemon's path, stores new mail, as received mail always is)."""

    raw: bytes
    mail_from: str | None = None
    rcpt_to: list[str] = field(default_factory=list)
    peer: str | None = None
    source: str = "smtp"
    received_at: float = field(default_factory=time.time)
    state: MailState = NEW_MAIL


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
        # The flag columns, named as the exporter's maildir flags, plus legacy values.
        "flags": [*(name for name, col in (("seen", "seen"), ("flagged", "flagged"),
                                           ("replied", "replied")) if r[col]),
                  *(f for f in r["flags"].split(",") if f)],
        "read": bool(r["seen"]),
        "flagged": bool(r["flagged"]),
        "replied": bool(r["replied"]),
        "tags": sorted(r["tag_list"].split(",")) if r["tag_list"] else [],
        "mail_from": r["mail_from"],
        "rcpt_to": json.loads(r["rcpt_to"]),
        "sha256": r["sha256"],
        "defects": json.loads(r["defects"]),
        "indexed": bool(r["indexed"]),
        "source": r["source"],
        "peer": r["peer"],
    }


def _slim_for_index(raw: bytes) -> bytes:
    """The message with every long base64 run cut to its first ~4 MB, for indexing.

    The index needs headers, text and attachment names, not attachment bodies;
    the email parser takes ~10x a message's size in memory, so a 40 MB
    attachment would cost the indexer 400 MB. Text beyond what is kept would
    be cut anyway (the index holds at most 1M characters of body text).
    """
    if len(raw) <= _SLIM_KEEP:
        return raw

    def cut(m: re.Match[bytes]) -> bytes:
        start = m.start()  # slicing raw, not m.group(): no copy of the whole run
        return raw[start: raw.rfind(b"\n", start, start + _SLIM_KEEP) + 1]

    return _BASE64_RUN.sub(cut, raw)


ZSTD_LEVEL = 3  # raw bodies: ~3x smaller than the maildir at ~300 MB/s


@dataclass
class Prepared:
    """A message ready for `Store.add_prepared`: everything but the SQL, computed
    where it is cheapest (import workers compute it in parallel; see `prepare`)."""

    sha256: str
    size: int  # raw bytes
    blob: bytes  # the raw bytes, zstd-compressed
    parsed: Parsed
    summary: tuple[Any, ...]  # the summary columns of `messages`, in _insert_prepared order
    texts: tuple[str, ...]  # the search-index columns of `texts`
    received_at: float
    mail_from: str | None = None
    rcpt_to: list[str] = field(default_factory=list)
    peer: str | None = None
    source: str = "import"
    state: MailState = NEW_MAIL


def prepare(item: Incoming, p: Parsed, compressor: zstandard.ZstdCompressor,
            digest: str | None = None) -> Prepared:
    """Hash, compress and lay out one parsed message for `Store.add_prepared`.

    Pure (no database): import workers run it beside the parser. `compressor`
    should be a `zstandard.ZstdCompressor(level=ZSTD_LEVEL)` of the calling thread.
    """
    summary = (p.message_id, p.date, p.date_ts, p.from_, json.dumps(p.to), json.dumps(p.cc),
               p.subject, len(p.attachments), json.dumps(p.attachments), json.dumps(p.defects),
               p.in_reply_to, json.dumps(p.references))
    # to: searches To, Cc and Bcc; cc: only Cc (the query language's fields).
    texts = (p.subject, p.from_, " ".join([*p.to, *p.cc, *p.bcc]), " ".join(p.cc), p.text,
             " ".join(p.attachments))
    return Prepared(sha256=digest or hashlib.sha256(item.raw).hexdigest(), size=len(item.raw),
                    blob=compressor.compress(item.raw), parsed=p, summary=summary, texts=texts,
                    received_at=item.received_at, mail_from=item.mail_from,
                    rcpt_to=item.rcpt_to, peer=item.peer, source=item.source,
                    state=item.state)


class Store:
    """A connection to one mail store file. Use one Store per thread.

    `tagging` (from config: `Config.tagging`) is what indexing applies to new
    messages: rules, plus-addressing and X-Tags; without it, only the latter two.
    """

    def __init__(self, path: str | Path, *, readonly: bool = False,
                 synchronous: str = "NORMAL", autocheckpoint: int | None = None,
                 tagging: Tagging | None = None) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.tagging = tagging or Tagging()
        try:
            if readonly:
                if not self.path.exists():
                    raise StoreError(f"no mail store at {self.path} (nothing received yet?)")
                self.db = connect(self.path, readonly=True, check_same_thread=False, rows=True)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # Plain stdlib sqlite3, or SQLCipher with the key (mailops.store.crypto).
                self.db = connect(self.path, check_same_thread=False, rows=True)
            self.db.execute("PRAGMA busy_timeout = 30000")
            if not readonly:
                # New stores get incremental auto-vacuum so retention can return space
                # in small steps; it only takes effect before the first table (or
                # after a VACUUM: see docs/retention.md), so it must precede WAL.
                self.db.execute("PRAGMA auto_vacuum = INCREMENTAL")
                self.db.execute("PRAGMA journal_mode = WAL")
                self.db.execute(f"PRAGMA synchronous = {synchronous}")
                if autocheckpoint is not None:  # WAL pages before this connection checkpoints
                    self.db.execute(f"PRAGMA wal_autocheckpoint = {int(autocheckpoint)}")
                self._migrate()
            elif self.schema_version() < len(MIGRATIONS):
                raise StoreOutdated(f"{self.path}: store needs an upgrade; run any writing command")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open mail store {self.path}: {exc}") from None
        self._cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
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
                statement = ""  # split at ";" that end a statement (not in a trigger)
                for part in MIGRATIONS[number].split(";"):
                    statement += part + ";"
                    if sqlite3.complete_statement(statement):
                        if statement.strip(" \n;"):
                            self.db.execute(statement)
                        statement = ""
                if statement.strip(" \n;"):  # unterminated: let SQLite report it
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
        compress = self._cctx.compress
        rows = [(i, compress(i.raw), hashlib.sha256(i.raw).hexdigest()) for i in items]
        self.db.execute("BEGIN IMMEDIATE")
        try:
            # Ids as SQLite would pick them (max + 1, no AUTOINCREMENT), so the whole
            # batch goes in with two executemany calls instead of two calls a message.
            first = int(self.db.execute(
                "SELECT coalesce(max(id), 0) + 1 FROM messages").fetchone()[0])
            ids = list(range(first, first + len(rows)))
            self.db.executemany(
                "INSERT INTO messages (id, received_at, mail_from, rcpt_to, peer, source, size,"
                " sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(msg_id, item.received_at, item.mail_from, json.dumps(item.rcpt_to), item.peer,
                  item.source, len(item.raw), digest)
                 for msg_id, (item, _, digest) in zip(ids, rows, strict=True)])
            small = [(msg_id, blob) for msg_id, (_, blob, _) in zip(ids, rows, strict=True)
                     if len(blob) <= _BLOB_COPY_MAX]
            self.db.executemany("INSERT INTO bodies (id, raw) VALUES (?, ?)", small)
            for msg_id, (_, blob, _) in zip(ids, rows, strict=True):
                if len(blob) > _BLOB_COPY_MAX:
                    self._write_big_blob(msg_id, blob)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return ids

    def _body(self, msg_id: int, size: int) -> bytes | None:
        """A message's compressed body, or None if it is gone."""
        if size <= _BLOB_COPY_MAX or not hasattr(self.db, "blobopen"):  # SQLCipher: no blob I/O
            row = self.db.execute("SELECT raw FROM bodies WHERE id = ?", (msg_id,)).fetchone()
            return None if row is None else bytes(row[0])
        # A SELECT would hold the blob twice (SQLite's copy and Python's).
        try:
            with self.db.blobopen("bodies", "raw", msg_id, readonly=True) as blob:
                return blob.read()
        except sqlite3.OperationalError:  # no such row
            return None

    def _write_big_blob(self, msg_id: int, blob: bytes) -> None:
        # Binding a blob makes SQLite copy it; incremental blob I/O writes it
        # through the page cache instead (one copy less of a 25 MB message).
        if not hasattr(self.db, "blobopen"):  # sqlcipher3 has no blob I/O: bind it
            self.db.execute("INSERT INTO bodies (id, raw) VALUES (?, ?)", (msg_id, blob))
            return
        self.db.execute("INSERT INTO bodies (id, raw) VALUES (?, zeroblob(?))",
                        (msg_id, len(blob)))
        with self.db.blobopen("bodies", "raw", msg_id) as out:
            out.write(blob)

    def add_parsed(self, items: Sequence[tuple[Incoming, Parsed]]) -> list[int]:
        """Store messages already parsed (import): raw, summary and index at once."""
        ids = self.add_prepared([prepare(item, parsed, self._cctx) for item, parsed in items])
        return [i for i in ids if i is not None]

    @contextmanager
    def bulk_writes(self, wal_pages: int = _BULK_WAL_PAGES) -> Iterator[None]:
        """Checkpoint the WAL less often while a bulk import writes (every checkpoint
        syncs the database file: at the default 1,000 pages, one per ~4 MB written).
        Each commit is exactly as durable as before; the WAL grows to ~40 MB.

        The search index keeps up to 8 MB of new entries in memory before writing
        them out (FTS5 `hashsize`, 1 MB by default), so a batch becomes one segment
        instead of several that are then merged: ~15% less index CPU, the same
        entries and results. Restored afterwards (a crash leaves it harmlessly set).
        """
        old = int(self.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        self.db.execute(f"PRAGMA wal_autocheckpoint = {int(wal_pages)}")
        row = self.db.execute("SELECT v FROM texts_fts_config WHERE k = 'hashsize'").fetchone()
        hashsize = self._fts_option("hashsize", BULK_FTS_HASH)
        try:
            yield
        finally:
            self.db.execute(f"PRAGMA wal_autocheckpoint = {old}")
            if hashsize:
                self._fts_option("hashsize", int(row[0]) if row else _FTS_HASH_DEFAULT)
                if row is None:  # as before: no setting, the default
                    self.db.execute("DELETE FROM texts_fts_config WHERE k = 'hashsize'")

    def _fts_option(self, name: str, value: int) -> bool:
        """Set an FTS5 configuration option of the search index (False: this SQLite
        does not know it)."""
        try:
            self.db.execute("INSERT INTO texts_fts (texts_fts, rank) VALUES (?, ?)", (name, value))
        except sqlite3.OperationalError:
            return False
        return True

    def add_prepared(self, items: Sequence[Prepared], *,
                     skip_stored: bool = False) -> list[int | None]:
        """Store prepared messages (see `prepare`) in one transaction: rows, bodies,
        threads, search index and ingest tags. Returns each item's new id, or None
        for one skipped because `skip_stored` is set and its sha256 is already
        stored (checked inside the transaction, so two importers never both add it).

        The bulk path: one statement per table for the whole batch, where the
        daemon's indexer updates rows one by one.
        """
        self.db.execute("BEGIN IMMEDIATE")
        try:
            ids = self._insert_prepared(items, skip_stored)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return ids

    def _insert_prepared(self, items: Sequence[Prepared],
                         skip_stored: bool) -> list[int | None]:
        db = self.db
        stored = self.existing_sha256(i.sha256 for i in items) if skip_stored else set()
        todo = [i for i in items if i.sha256 not in stored]
        # Ids as SQLite would pick them (max + 1), so each table takes one executemany.
        first = int(db.execute("SELECT coalesce(max(id), 0) + 1 FROM messages").fetchone()[0])
        # A search entry above the newest message can only be stale (a crash between
        # writes cannot leave one: one transaction), but unindex it rather than trust that.
        for (stale,) in db.execute("SELECT id FROM texts WHERE id >= ?", (first,)).fetchall():
            self._unindex(stale)
        ids = list(range(first, first + len(todo)))
        rows = list(zip(ids, todo, strict=True))
        # Threaded before the insert (in id order, as one at a time would), so each
        # row is written once with its thread_id.
        threads = assign_threads(db, [NewMessage(
            i.parsed.message_id, i.parsed.references, i.parsed.in_reply_to, i.parsed.subject,
            float(i.received_at if i.parsed.date_ts is None else i.parsed.date_ts))
            for i in todo])
        # Each folder as already spelled in the store (`mv`'s rule: Sent is sent).
        folders = {f: folder_spelling(db, f)[0] for f in {i.state.folder for i in todo}}
        db.executemany(
            "INSERT INTO messages (id, received_at, mail_from, rcpt_to, peer, source, size,"
            " sha256, indexed, message_id, date, date_ts, from_addr, to_addrs, cc_addrs,"
            " subject, attachments, attachment_names, defects, in_reply_to, refs, thread_id,"
            " folder, seen, flagged, replied)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " ?, ?, ?, ?)",
            [(msg_id, i.received_at, i.mail_from,
              json.dumps(i.rcpt_to) if i.rcpt_to else "[]", i.peer, i.source, i.size, i.sha256,
              *i.summary, thread, folders[i.state.folder], int(i.state.seen),
              int(i.state.flagged), int(i.state.replied))
             for (msg_id, i), thread in zip(rows, threads, strict=True)])
        db.executemany("INSERT INTO bodies (id, raw) VALUES (?, ?)",
                       [(msg_id, i.blob) for msg_id, i in rows if len(i.blob) <= _BLOB_COPY_MAX])
        for msg_id, i in rows:
            if len(i.blob) > _BLOB_COPY_MAX:
                self._write_big_blob(msg_id, i.blob)
        texts = [(msg_id, *i.texts) for msg_id, i in rows]
        db.executemany("INSERT INTO texts (id, subject, sender, recipients, cc, body, filename)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?)", texts)
        db.executemany("INSERT INTO texts_fts (rowid, subject, sender, recipients, cc, body,"
                       " filename) VALUES (?, ?, ?, ?, ?, ?, ?)", texts)
        apply_ingest(db, [(msg_id, i.parsed) for msg_id, i in rows], self.tagging,
                     envelopes={msg_id: i.rcpt_to for msg_id, i in rows},
                     found={msg_id: i.state.tags for msg_id, i in rows if i.state.tags})
        new = iter(ids)
        return [None if i.sha256 in stored else next(new) for i in items]

    def _write_summary(self, msg_id: int, p: Parsed) -> None:
        self.db.execute(
            "UPDATE messages SET indexed = 1, message_id = ?, date = ?, date_ts = ?,"
            " from_addr = ?, to_addrs = ?, cc_addrs = ?, subject = ?, attachments = ?,"
            " attachment_names = ?, defects = ?, in_reply_to = ?, refs = ? WHERE id = ?",
            (p.message_id, p.date, p.date_ts, p.from_, json.dumps(p.to), json.dumps(p.cc),
             p.subject, len(p.attachments), json.dumps(p.attachments), json.dumps(p.defects),
             p.in_reply_to, json.dumps(p.references), msg_id),
        )
        # Same transaction: a message is never indexed without its thread.
        assign_thread(self.db, msg_id, p.message_id, p.references, p.in_reply_to, p.subject)
        # to: searches To, Cc and Bcc; cc: only Cc (the query language's fields).
        values = (msg_id, p.subject, p.from_, " ".join([*p.to, *p.cc, *p.bcc]), " ".join(p.cc),
                  p.text, " ".join(p.attachments))
        self._unindex(msg_id)
        self.db.execute(
            "INSERT INTO texts (id, subject, sender, recipients, cc, body, filename)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)", values)
        self.db.execute(
            "INSERT INTO texts_fts (rowid, subject, sender, recipients, cc, body, filename)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)", values)

    def _unindex(self, msg_id: int) -> None:
        """Remove a message's search-index entry (external-content FTS5 needs the
        old values to delete them)."""
        old = self.db.execute(
            "SELECT subject, sender, recipients, cc, body, filename FROM texts WHERE id = ?",
            (msg_id,)).fetchone()
        if old is not None:
            self.db.execute(
                "INSERT INTO texts_fts (texts_fts, rowid, subject, sender, recipients, cc, body,"
                " filename) VALUES ('delete', ?, ?, ?, ?, ?, ?, ?)", (msg_id, *tuple(old)))
            self.db.execute("DELETE FROM texts WHERE id = ?", (msg_id,))

    def pending_count(self) -> int:
        """Messages stored but not yet parsed and indexed."""
        return int(self.db.execute(
            "SELECT count(*) FROM messages WHERE indexed = 0").fetchone()[0])

    def index_pending(self, limit: int = 500) -> int:
        """Parse and index up to `limit` pending messages; returns how many.

        Parsing happens outside the write transaction; rows another indexer
        finished meanwhile are skipped, so concurrent indexers are harmless.
        """
        pending = self.db.execute(
            "SELECT id, size FROM messages WHERE indexed = 0 ORDER BY id LIMIT ?",
            (limit,)).fetchall()
        if not pending:
            return 0
        from mailops.mime import summarize

        # One raw message in memory at a time, and a batch stops after ~32 MB of
        # them: a batch of big messages must not hold them all at once.
        parsed: list[tuple[int, Parsed]] = []
        taken = 0
        for msg_id, size in pending:
            if parsed and taken + size > _INDEX_BATCH_BYTES:
                break
            blob = self._body(msg_id, size)
            if blob is None:  # deleted meanwhile
                continue
            raw = self._dctx.decompress(blob)
            del blob
            raw = _slim_for_index(raw)  # the full copy is freed before parsing
            parsed.append((msg_id, summarize(raw)))
            del raw
            taken += size
        self.db.execute("BEGIN IMMEDIATE")
        try:
            written: list[tuple[int, Parsed]] = []
            for msg_id, p in parsed:
                still = self.db.execute(
                    "SELECT 1 FROM messages WHERE id = ? AND indexed = 0", (msg_id,)).fetchone()
                if still:
                    self._write_summary(msg_id, p)
                    written.append((msg_id, p))
            apply_ingest(self.db, written, self.tagging)
            done = len(written)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return done

    def delete(self, ids: Iterable[int]) -> int:
        """Delete messages by id; returns how many existed."""
        count = 0
        threads: set[int] = set()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for msg_id in ids:
                thread = thread_of(self.db, msg_id)
                if thread is not None:
                    threads.add(thread)
                self._unindex(msg_id)
                self.db.execute("DELETE FROM bodies WHERE id = ?", (msg_id,))
                self.db.execute("DELETE FROM tags WHERE msg_id = ?", (msg_id,))
                cur = self.db.execute("DELETE FROM messages WHERE id = ?", (msg_id,))
                count += cur.rowcount
            forget_threads(self.db, threads)  # the rest of each thread stays together
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

    def search(self, query: str | Node | None = None, *, sort: str = "date", limit: int = 50,
               after: str | None = None, before_id: int | None = None,
               after_id: int | None = None, snippets: bool = False,
               highlight: tuple[str, str] = ("[", "]")) -> list[MessageRow]:
        """One page of messages matching a query, sorted by `sort` (date, oldest,
        relevance). Every row carries a "cursor": pass the last one as `after` for
        the next page. With `snippets`, rows also get "score" and "snippet".
        See mailops.store.search and docs/search.md.
        """
        from mailops.store import search
        from mailops.store.querysql import planning

        with planning(self.db):  # plans chosen from index counts (querysql.RARE)
            return search.run(self.db, _LIST_COLUMNS, _row, query, sort=sort, limit=limit,
                              after=after, before_id=before_id, after_id=after_id,
                              snippets=snippets, highlight=highlight)

    def list(self, query: str | Node | None = None, *, limit: int = 50,
             before_id: int | None = None, after_id: int | None = None,
             oldest_first: bool = False) -> list[MessageRow]:
        """Messages matching a query (mailops.query syntax), newest first by date, or
        in arrival (id) order with `oldest_first`.

        Keyset pagination: pass the last id seen as `before_id` (or `after_id`
        when oldest first) to get the next page without an OFFSET scan.
        """
        return self.search(query, sort="id" if oldest_first else "date", limit=limit,
                           before_id=before_id, after_id=after_id)

    def iter_ids(self, query: str | None = None) -> Iterator[int]:
        """Every matching id, oldest first, in pages."""
        from mailops.query import parse

        # Parsed once, so relative dates (after:7d) mean the same on every page.
        node = parse(query) if query and query.strip() else None
        last = 0
        while True:
            page = self.list(node, limit=1000, after_id=last, oldest_first=True)
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

    def existing_sha256(self, digests: Iterable[str]) -> set[str]:
        """Which of these sha256 digests are already stored (import's batch check)."""
        wanted = list(dict.fromkeys(digests))
        found: set[str] = set()
        # Chunks stay far below SQLite's host-parameter limit.
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            found.update(r[0] for r in self.db.execute(
                f"SELECT sha256 FROM messages WHERE sha256 IN ({marks})", chunk))
        return found

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
