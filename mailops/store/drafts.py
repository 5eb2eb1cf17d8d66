"""Messages written here (drafts, copies of sent mail): stored straight into a folder.

`add_local` stores, indexes and files one message in one write transaction, so
a draft is never visible in the INBOX (where indexing files new mail) or
half-indexed; replacing an older draft deletes it after the new copy is stored,
so a crash in between leaves two copies, never none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mailops.store.store import Incoming, prepare
from mailops.store.tags import folder_spelling
from mailops.tagging import normalize_folder

if TYPE_CHECKING:
    from mailops.store.store import Store


def add_local(store: Store, raw: bytes, *, folder: str, flags: Sequence[str] = (),
              mail_from: str | None = None, rcpt_to: Sequence[str] = (),
              replaces: int | None = None) -> int:
    """Store `raw` in `folder` (read, with these legacy flags, e.g. "draft": maildir
    exports write it as the D flag) and return its id; then delete `replaces`."""
    from mailops.mime import summarize

    item = Incoming(raw=raw, mail_from=mail_from, rcpt_to=list(rcpt_to), source="local")
    prepared = prepare(item, summarize(raw), store._cctx)
    db = store.db
    db.execute("BEGIN IMMEDIATE")
    try:
        (msg_id,) = store._insert_prepared([prepared], skip_stored=False)
        assert msg_id is not None
        name, _ = folder_spelling(db, normalize_folder(folder))
        db.execute("UPDATE messages SET folder = ?, flags = ?, seen = 1 WHERE id = ?",
                   (name, ",".join(flags), msg_id))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    if replaces is not None and replaces != msg_id:
        store.delete([replaces])
    return msg_id
