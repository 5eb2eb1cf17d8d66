"""The store's schema as forward migrations, applied in order on open.

`PRAGMA user_version` records how many have run. Never edit a released migration:
append a new one.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: messages (summary columns), bodies (raw bytes, zstd), texts + FTS5 index.
    """
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        received_at REAL NOT NULL,
        mail_from TEXT,
        rcpt_to TEXT NOT NULL DEFAULT '[]',
        peer TEXT,
        source TEXT NOT NULL DEFAULT 'smtp',
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        indexed INTEGER NOT NULL DEFAULT 0,
        message_id TEXT,
        date TEXT,
        date_ts REAL,
        from_addr TEXT NOT NULL DEFAULT '',
        to_addrs TEXT NOT NULL DEFAULT '[]',
        cc_addrs TEXT NOT NULL DEFAULT '[]',
        subject TEXT NOT NULL DEFAULT '',
        attachments INTEGER NOT NULL DEFAULT 0,
        attachment_names TEXT NOT NULL DEFAULT '[]',
        folder TEXT NOT NULL DEFAULT 'INBOX',
        flags TEXT NOT NULL DEFAULT '',
        defects TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX messages_pending ON messages(id) WHERE indexed = 0;
    CREATE INDEX messages_sha256 ON messages(sha256);
    CREATE INDEX messages_message_id ON messages(message_id);
    CREATE TABLE bodies (
        id INTEGER PRIMARY KEY,
        raw BLOB NOT NULL
    );
    CREATE TABLE texts (
        id INTEGER PRIMARY KEY,
        subject TEXT NOT NULL,
        addresses TEXT NOT NULL,
        body TEXT NOT NULL,
        attachments TEXT NOT NULL
    );
    CREATE VIRTUAL TABLE texts_fts USING fts5(
        subject, addresses, body, attachments,
        content='texts', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    );
    """,
    # 2: the mailbox engine. Per-field index columns for the query language
    # (from:, to:, cc:, subject:, body:, filename:), flags as columns, tags,
    # thread bookkeeping. Every message is re-indexed into the new columns.
    """
    DROP TABLE texts_fts;
    DROP TABLE texts;
    CREATE TABLE texts (
        id INTEGER PRIMARY KEY,
        subject TEXT NOT NULL,
        sender TEXT NOT NULL,
        recipients TEXT NOT NULL,
        cc TEXT NOT NULL,
        body TEXT NOT NULL,
        filename TEXT NOT NULL
    );
    CREATE VIRTUAL TABLE texts_fts USING fts5(
        subject, sender, recipients, cc, body, filename,
        content='texts', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    );
    ALTER TABLE messages ADD COLUMN seen INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN flagged INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN replied INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN thread_id INTEGER;
    ALTER TABLE messages ADD COLUMN in_reply_to TEXT;
    ALTER TABLE messages ADD COLUMN refs TEXT NOT NULL DEFAULT '[]';
    CREATE INDEX messages_thread ON messages(thread_id);
    CREATE INDEX messages_date ON messages(coalesce(date_ts, received_at));
    CREATE INDEX messages_folder ON messages(folder);
    CREATE TABLE tags (
        msg_id INTEGER NOT NULL,
        tag TEXT NOT NULL COLLATE NOCASE,
        PRIMARY KEY (msg_id, tag)
    ) WITHOUT ROWID;
    CREATE INDEX tags_by_tag ON tags(tag, msg_id);
    UPDATE messages SET indexed = 0;
    """,
    # 3: conversation threads (mailops/store/threads.py). Every message-id seen,
    # stored or only referenced (a placeholder), maps to a thread; normalized
    # subjects per thread for the subject fallback; the fallback's setting.
    # Messages not yet threaded are re-indexed, which assigns their threads.
    """
    CREATE TABLE thread_ids (
        message_id TEXT PRIMARY KEY,
        thread_id INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX thread_ids_thread ON thread_ids(thread_id);
    CREATE TABLE thread_subjects (
        subject TEXT NOT NULL,
        thread_id INTEGER NOT NULL,
        last REAL NOT NULL,
        PRIMARY KEY (subject, thread_id)
    ) WITHOUT ROWID;
    CREATE INDEX thread_subjects_thread ON thread_subjects(thread_id);
    CREATE TABLE thread_settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    UPDATE messages SET indexed = 0 WHERE thread_id IS NULL;
    """,
    # 4: folder unread counts (`folders`, the TUI's sidebar) from the index alone:
    # (folder, seen) replaces (folder), whose lookups it serves as well.
    """
    CREATE INDEX messages_folder_seen ON messages(folder, seen);
    DROP INDEX messages_folder;
    """,
    # 5: stored `mailops audit` runs (mailops/store/audits.py): one small row per
    # domain and run (`digest`: hash of the normalized finding set); the findings
    # JSON kept once per distinct content (`sha`), since cron runs repeat it.
    """
    CREATE TABLE IF NOT EXISTS audit_runs (
        id INTEGER PRIMARY KEY,
        domain TEXT NOT NULL,
        run_at REAL NOT NULL,
        digest TEXT NOT NULL,
        sha TEXT NOT NULL,
        errors INTEGER NOT NULL,
        warnings INTEGER NOT NULL,
        infos INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS audit_runs_domain ON audit_runs(domain, id);
    CREATE INDEX IF NOT EXISTS audit_runs_sha ON audit_runs(sha);
    CREATE TABLE IF NOT EXISTS audit_findings (
        sha TEXT PRIMARY KEY,
        findings TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 6: the TUI's sorts by sender, subject and size (mailops/store/listing.py):
    # without an index a first page at a million messages sorts them all (~0.8 s).
    """
    CREATE INDEX IF NOT EXISTS messages_sender ON messages(from_addr COLLATE NOCASE);
    CREATE INDEX IF NOT EXISTS messages_subject ON messages(subject COLLATE NOCASE);
    CREATE INDEX IF NOT EXISTS messages_size ON messages(size);
    """,
    # 7: folder and tag totals/unread counts (the TUI's sidebar, `folders`, `tags`)
    # kept by triggers in the writing transaction itself: counting them at a million
    # messages reads every index entry (0.1-0.2 s each). Rows reaching 0 are deleted.
    """
    CREATE TABLE IF NOT EXISTS folder_counts (
        folder TEXT PRIMARY KEY,
        total INTEGER NOT NULL,
        unread INTEGER NOT NULL
    ) WITHOUT ROWID;
    DELETE FROM folder_counts;
    INSERT INTO folder_counts
        SELECT folder, count(*), sum(seen = 0) FROM messages WHERE true GROUP BY folder;
    CREATE TABLE IF NOT EXISTS tag_counts (
        tag TEXT PRIMARY KEY COLLATE NOCASE,
        total INTEGER NOT NULL,
        unread INTEGER NOT NULL
    ) WITHOUT ROWID;
    DELETE FROM tag_counts;
    INSERT INTO tag_counts
        SELECT t.tag, count(*), coalesce(sum(m.seen = 0), 0)
        FROM tags t LEFT JOIN messages m ON m.id = t.msg_id WHERE true GROUP BY t.tag;
    CREATE TRIGGER IF NOT EXISTS counts_message_insert AFTER INSERT ON messages BEGIN
        INSERT INTO folder_counts VALUES (new.folder, 1, new.seen = 0)
            ON CONFLICT (folder) DO UPDATE SET total = total + 1,
                                               unread = unread + (new.seen = 0);
    END;
    CREATE TRIGGER IF NOT EXISTS counts_message_delete AFTER DELETE ON messages BEGIN
        UPDATE folder_counts SET total = total - 1, unread = unread - (old.seen = 0)
            WHERE folder = old.folder;
        DELETE FROM folder_counts WHERE folder = old.folder AND total <= 0;
        UPDATE tag_counts SET unread = unread - (old.seen = 0)
            WHERE tag IN (SELECT tag FROM tags WHERE msg_id = old.id);
    END;
    CREATE TRIGGER IF NOT EXISTS counts_message_update AFTER UPDATE OF folder, seen
            ON messages WHEN old.folder IS NOT new.folder OR old.seen IS NOT new.seen BEGIN
        UPDATE folder_counts SET total = total - 1, unread = unread - (old.seen = 0)
            WHERE folder = old.folder;
        DELETE FROM folder_counts WHERE folder = old.folder AND total <= 0;
        INSERT INTO folder_counts VALUES (new.folder, 1, new.seen = 0)
            ON CONFLICT (folder) DO UPDATE SET total = total + 1,
                                               unread = unread + (new.seen = 0);
        UPDATE tag_counts SET unread = unread + (new.seen = 0) - (old.seen = 0)
            WHERE tag IN (SELECT tag FROM tags WHERE msg_id = new.id);
    END;
    CREATE TRIGGER IF NOT EXISTS counts_tag_insert AFTER INSERT ON tags BEGIN
        INSERT INTO tag_counts VALUES (new.tag, 1, coalesce(
                (SELECT seen = 0 FROM messages WHERE id = new.msg_id), 0))
            ON CONFLICT (tag) DO UPDATE SET total = total + 1, unread = unread + coalesce(
                (SELECT seen = 0 FROM messages WHERE id = new.msg_id), 0);
    END;
    CREATE TRIGGER IF NOT EXISTS counts_tag_delete AFTER DELETE ON tags BEGIN
        UPDATE tag_counts SET total = total - 1, unread = unread - coalesce(
                (SELECT seen = 0 FROM messages WHERE id = old.msg_id), 0)
            WHERE tag = old.tag;
        DELETE FROM tag_counts WHERE tag = old.tag AND total <= 0;
    END;
    """,
    # 8: folders compare case-blind everywhere (`folder:`, `mailops mv`, retention), which
    # a BINARY index cannot serve: a folder's messages were found by reading every row.
    # Since 7 nothing groups by the binary spelling, so the NOCASE index replaces it.
    """
    CREATE INDEX IF NOT EXISTS messages_folder_nocase ON messages(folder COLLATE NOCASE, seen);
    DROP INDEX IF EXISTS messages_folder_seen;
    """,
    # 9: the flags (`is:`) indexed, so a flag few messages have (is:replied, is:flagged,
    # is:unread in an archive) drives from its index instead of a read of every row
    # (0.5 s at 1M), and a tag's rows are checked against a flag without reading them.
    """
    CREATE INDEX IF NOT EXISTS messages_seen ON messages(seen);
    CREATE INDEX IF NOT EXISTS messages_flagged ON messages(id) WHERE flagged = 1;
    CREATE INDEX IF NOT EXISTS messages_replied ON messages(id) WHERE replied = 1;
    """,
)
