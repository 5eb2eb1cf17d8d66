"""Thread bookkeeping in SQL: which thread each message belongs to, kept at ingest.

Tables (schema migration 3): `thread_ids` maps every message-id the store has
seen, a message's own or one named in its References/In-Reply-To (a
placeholder for a missing parent), to a thread number; `thread_subjects`
remembers each thread's normalized subjects and when they were last used, for
the optional subject fallback; `thread_settings` holds that fallback's window,
so every indexer (the daemon's child process too) sees the configured value.

A thread is a connected group: a message joins every thread that shares an id
with it and merges them (the smaller is renumbered), so the grouping does not
depend on the order messages arrive in. All calls run inside the caller's
write transaction (Store._write_summary, Store.delete).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from mailops.errors import NotFoundError, StoreError
from mailops.threads import ThreadMessage, is_reply_subject, normalize_subject, parent_chain

_CHUNK = 500  # ids per IN (...): far below SQLite's host-parameter limit
_DAY = 86400.0
_MESSAGE_COLUMNS = ("id, message_id, refs, in_reply_to, coalesce(date_ts, received_at) AS ts,"
                    " date, from_addr, mail_from, subject, seen, thread_id")


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


def subject_days(db: sqlite3.Connection) -> int:
    """The subject-fallback window in days (0: off)."""
    row = db.execute("SELECT value FROM thread_settings WHERE key = 'subject_days'").fetchone()
    return int(row[0]) if row else 0


def set_subject_days(db: sqlite3.Connection, days: int) -> None:
    """Record the subject-fallback window; writes only when it changes."""
    if subject_days(db) != days:
        db.execute("INSERT OR REPLACE INTO thread_settings (key, value) VALUES ('subject_days', ?)",
                   (str(int(days)),))


def _new_thread_id(db: sqlite3.Connection) -> int:
    # Not the message's own id: ids of deleted newest messages are reused.
    return int(db.execute(
        "SELECT max(coalesce((SELECT max(thread_id) FROM messages), 0),"
        " coalesce((SELECT max(thread_id) FROM thread_ids), 0)) + 1").fetchone()[0])


def _merge(db: sqlite3.Connection, threads: set[int],
           pending: Mapping[int, int] | None = None) -> int:
    """Renumber all but the biggest of these threads into it; returns the survivor.

    `pending`: messages per thread not yet in `messages` (a batch being threaded)."""
    marks = ", ".join("?" * len(threads))
    counts = dict.fromkeys(threads, 0)
    counts.update(db.execute(
        f"SELECT thread_id, count(*) FROM messages WHERE thread_id IN ({marks})"
        " GROUP BY thread_id", list(threads)).fetchall())
    if pending:
        counts = {t: n + pending.get(t, 0) for t, n in counts.items()}
    target = max(threads, key=lambda t: (counts[t], -t))
    for old in threads - {target}:
        db.execute("UPDATE messages SET thread_id = ? WHERE thread_id = ?", (target, old))
        db.execute("UPDATE thread_ids SET thread_id = ? WHERE thread_id = ?", (target, old))
        db.execute(
            "INSERT INTO thread_subjects (subject, thread_id, last)"
            " SELECT subject, ?, last FROM thread_subjects WHERE thread_id = ?"
            " ON CONFLICT (subject, thread_id) DO UPDATE SET last = max(last, excluded.last)",
            (target, old))
        db.execute("DELETE FROM thread_subjects WHERE thread_id = ?", (old,))
    return target


def _by_subject(db: sqlite3.Connection, subject: str, when: float) -> int | None:
    """The most recent thread using this normalized subject within the window."""
    days = subject_days(db)
    norm = normalize_subject(subject)
    if days <= 0 or not norm:
        return None
    row = db.execute(
        "SELECT thread_id FROM thread_subjects WHERE subject = ? AND last BETWEEN ? AND ?"
        " ORDER BY last DESC LIMIT 1", (norm, when - days * _DAY, when + days * _DAY)).fetchone()
    return None if row is None else int(row[0])


def assign(db: sqlite3.Connection, msg_id: int, message_id: str | None, refs: list[str],
           in_reply_to: str | None, subject: str) -> int:
    """Put a just-indexed message into its thread; returns the thread number.

    It joins the thread of every id it shares with what is stored: messages it
    names, placeholders others named, placeholders naming it. Several such
    threads are merged. With none, a reply-looking subject without references
    may join by subject (when the fallback is on); else a new thread starts.
    """
    row = db.execute("SELECT thread_id, coalesce(date_ts, received_at) FROM messages"
                     " WHERE id = ?", (msg_id,)).fetchone()
    if row is None:
        raise StoreError(f"no message with id {msg_id} to thread")
    current, when = row[0], float(row[1])
    named = [i for i in parent_chain(refs, in_reply_to) if i != message_id]
    keys = ([message_id] if message_id else []) + named
    found: set[int] = {int(current)} if current is not None else set()
    for chunk in _chunks(keys):
        marks = ", ".join("?" * len(chunk))
        found.update(int(r[0]) for r in db.execute(
            f"SELECT thread_id FROM thread_ids WHERE message_id IN ({marks})", chunk))
    if not found and not named and is_reply_subject(subject):
        by_subject = _by_subject(db, subject, when)
        if by_subject is not None:
            found.add(by_subject)
    if not found:
        target = _new_thread_id(db)
    elif len(found) == 1:
        target = next(iter(found))
    else:
        target = _merge(db, found)
    db.executemany("INSERT OR REPLACE INTO thread_ids (message_id, thread_id) VALUES (?, ?)",
                   [(k, target) for k in keys])
    db.execute("UPDATE messages SET thread_id = ? WHERE id = ?", (target, msg_id))
    norm = normalize_subject(subject)
    if norm:
        db.execute(
            "INSERT INTO thread_subjects (subject, thread_id, last) VALUES (?, ?, ?)"
            " ON CONFLICT (subject, thread_id) DO UPDATE SET last = max(last, excluded.last)",
            (norm, target, when))
    return target


class NewMessage(NamedTuple):
    """What threading needs of a message about to be stored (see `assign_batch`)."""

    message_id: str | None
    refs: list[str]
    in_reply_to: str | None
    subject: str
    when: float  # Date header, else arrival time: coalesce(date_ts, received_at)


def assign_batch(db: sqlite3.Connection, messages: Sequence[NewMessage]) -> list[int]:
    """Thread messages about to be inserted, in order (the bulk path); returns each
    one's thread number for the insert's thread_id column.

    Every number and row equals what `assign` gives one message at a time after
    the inserts: the batch's ids are looked up in one query and its own rows kept
    here and written at the end. Merges and the subject fallback (both rare) go to
    the database as in `assign`, counting the batch's messages so far.
    """
    chains: list[tuple[list[str], bool]] = []
    for m in messages:
        named = [i for i in parent_chain(m.refs, m.in_reply_to) if i != m.message_id]
        chains.append((([m.message_id] if m.message_id else []) + named, bool(named)))
    wanted = list(dict.fromkeys(k for keys, _ in chains for k in keys))
    loaded: dict[str, int] = {}
    for chunk in _chunks(wanted):
        marks = ", ".join("?" * len(chunk))
        loaded.update((k, int(t)) for k, t in db.execute(
            f"SELECT message_id, thread_id FROM thread_ids WHERE message_id IN ({marks})",
            chunk))
    known = dict(loaded)  # thread_ids as it would be now, for the batch's ids
    threads: list[int] = []  # messages.thread_id of the batch so far
    pending: dict[int, int] = {}  # the batch's messages per thread
    subjects: dict[tuple[str, int], float] = {}  # thread_subjects rows not yet written
    top: int | None = None  # highest thread number in use; None: ask the database
    days: int | None = None

    def flush_subjects() -> None:
        _upsert_subjects(db, [(s, t, last) for (s, t), last in subjects.items()])
        subjects.clear()

    for m, (keys, replies) in zip(messages, chains, strict=True):
        found = {known[k] for k in keys if k in known}
        if not found and not replies and is_reply_subject(m.subject):
            days = subject_days(db) if days is None else days
            if days > 0:
                flush_subjects()  # the lookup must see the batch's subjects so far
                by_subject = _by_subject(db, m.subject, m.when)
                if by_subject is not None:
                    found.add(by_subject)
        if not found:
            if top is None:
                top = max(_new_thread_id(db) - 1, max(threads, default=0),
                          max(known.values(), default=0))
            target = top + 1
        elif len(found) == 1:
            target = next(iter(found))
        else:
            flush_subjects()  # merged in SQL with the stored ones
            target = _merge(db, found, pending)
            gone = found - {target}
            known = {k: target if t in gone else t for k, t in known.items()}
            threads = [target if t in gone else t for t in threads]
            pending[target] = pending.get(target, 0) + sum(pending.pop(t, 0) for t in gone)
            top = None  # the highest number may have been merged away
        for k in keys:
            known[k] = target
        threads.append(target)
        pending[target] = pending.get(target, 0) + 1
        if top is not None and target > top:
            top = target
        norm = normalize_subject(m.subject)
        if norm:
            last = subjects.get((norm, target))
            subjects[(norm, target)] = m.when if last is None else max(last, m.when)
    db.executemany("INSERT OR REPLACE INTO thread_ids (message_id, thread_id) VALUES (?, ?)",
                   [(k, t) for k, t in known.items() if loaded.get(k) != t])
    flush_subjects()
    return threads


def _upsert_subjects(db: sqlite3.Connection, rows: list[tuple[str, int, float]]) -> None:
    db.executemany(
        "INSERT INTO thread_subjects (subject, thread_id, last) VALUES (?, ?, ?)"
        " ON CONFLICT (subject, thread_id) DO UPDATE SET last = max(last, excluded.last)",
        rows)


def thread_of(db: sqlite3.Connection, msg_id: int) -> int | None:
    """A message's thread number (None if it has none yet or does not exist)."""
    row = db.execute("SELECT thread_id FROM messages WHERE id = ?", (msg_id,)).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def forget(db: sqlite3.Connection, threads: Iterable[int]) -> None:
    """After messages of these threads were deleted: drop the ids and subjects no
    remaining message uses. The others stay in their thread (no split), and ids
    they still name stay as placeholders."""
    for thread in set(threads):
        used: set[str] = set()
        subjects: dict[str, float] = {}
        for m in _messages(db, "thread_id = ?", [thread]):
            if m.message_id:
                used.add(m.message_id)
            used.update(parent_chain(m.refs, m.in_reply_to))
            norm = normalize_subject(m.subject)
            if norm:
                subjects[norm] = max(subjects.get(norm, m.when), m.when)
        stale = [r[0] for r in db.execute(
            "SELECT message_id FROM thread_ids WHERE thread_id = ?", (thread,)) if r[0] not in used]
        db.executemany("DELETE FROM thread_ids WHERE message_id = ?", [(s,) for s in stale])
        db.execute("DELETE FROM thread_subjects WHERE thread_id = ?", (thread,))
        db.executemany("INSERT INTO thread_subjects (subject, thread_id, last) VALUES (?, ?, ?)",
                       [(s, thread, last) for s, last in subjects.items()])


def _message(r: sqlite3.Row) -> ThreadMessage:
    return ThreadMessage(
        id=r["id"], message_id=r["message_id"], refs=json.loads(r["refs"]),
        in_reply_to=r["in_reply_to"], when=float(r["ts"]), date=r["date"],
        sender=r["from_addr"] or r["mail_from"] or "", subject=r["subject"],
        seen=bool(r["seen"]))


def _messages(db: sqlite3.Connection, where: str, params: list[Any]) -> list[ThreadMessage]:
    return [_message(r) for r in db.execute(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE {where}", params)]


def thread_messages(db: sqlite3.Connection,
                    msg_id: int) -> tuple[int | None, list[ThreadMessage]]:
    """The thread number and messages of the thread holding message `msg_id`."""
    row = db.execute("SELECT thread_id FROM messages WHERE id = ?", (msg_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no message with id {msg_id}")
    if row[0] is None:  # not indexed yet (a read-only store): a thread of its own
        return None, _messages(db, "id = ?", [msg_id])
    return int(row[0]), _messages(db, "thread_id = ?", [row[0]])


def list_threads(db: sqlite3.Connection, query: str | None, *,
                 limit: int) -> list[tuple[dict[str, Any], list[ThreadMessage]]]:
    """Threads by their newest message, newest first, optionally only those with a
    message matching `query` (mailops.query syntax): a summary and the messages."""
    where, params = "m.thread_id IS NOT NULL", []
    if query and query.strip():
        from mailops.query import parse
        from mailops.store.querysql import compile_query

        compiled = compile_query(parse(query))
        where += (" AND m.thread_id IN (SELECT m.thread_id FROM messages m"
                  f" WHERE {compiled.where})")
        params = list(compiled.params)
    # One max() aggregate: SQLite takes the bare `m.id` from the newest row.
    sql = (f"SELECT m.thread_id, max(coalesce(m.date_ts, m.received_at)) AS newest, m.id,"
           f" count(*) AS n, sum(m.seen = 0) AS unread FROM messages m WHERE {where}"
           " GROUP BY m.thread_id ORDER BY newest DESC, m.thread_id DESC LIMIT ?")
    try:
        heads = db.execute(sql, [*params, limit]).fetchall()
    except sqlite3.OperationalError as exc:
        raise StoreError(f"search failed: {exc}") from None
    members: dict[int, list[ThreadMessage]] = {int(h[0]): [] for h in heads}
    for chunk in _chunks(list(members)):
        marks = ", ".join("?" * len(chunk))
        for r in db.execute(f"SELECT {_MESSAGE_COLUMNS} FROM messages"
                            f" WHERE thread_id IN ({marks})", chunk):
            members[int(r["thread_id"])].append(_message(r))
    out = []
    for thread_id, newest, newest_id, count, unread in heads:
        latest = next(m for m in members[thread_id] if m.id == newest_id)
        out.append(({"thread_id": thread_id, "id": newest_id, "date": latest.date,
                     "newest": newest, "messages": count, "unread": unread},
                    members[thread_id]))
    return out
