"""Drafts and sent mail kept in the store.

A draft is stored as a whole message (attachments included, Bcc kept as a
header) in the folder "drafts" with the legacy flag "draft" (a maildir export
writes it as D), marked read. Saving again stores the new version and deletes
the old one (`save` returns the new id). Opening a draft for editing writes its
attachments into a directory, because a `compose.Draft` attaches files. Once
sent, the draft is deleted and the message as sent is stored in "sent" with its
envelope (so Bcc recipients stay on record).
"""

from __future__ import annotations

import email.policy
import email.utils
import mimetypes
from email.message import EmailMessage
from pathlib import Path

from mailops.compose import Draft, Outgoing, parse_header
from mailops.errors import SendError, UsageError
from mailops.mime import message_ids, parse_message
from mailops.query import Filter
from mailops.store import MessageRow, Store
from mailops.store.drafts import add_local
from mailops.store.tags import mark
from mailops.view import save_attachments

DRAFTS = "drafts"
SENT = "sent"
DRAFT_FLAG = "draft"
_KEPT_HEADERS = ("In-Reply-To", "References")  # what a reply's draft must keep


def is_draft(row: MessageRow) -> bool:
    """Whether a stored message is a draft (flagged, or filed in "drafts")."""
    return DRAFT_FLAG in row["flags"] or str(row["folder"]).lower() == DRAFTS


def draft_bytes(draft: Draft) -> bytes:
    """The draft as a message: unlike `compose.build_message` it may lack
    recipients and keeps Bcc; attachments are embedded."""
    msg = EmailMessage(policy=email.policy.SMTP)
    try:
        for name, values in (("From", [draft.sender]), ("To", draft.to), ("Cc", draft.cc),
                             ("Bcc", draft.bcc)):
            value = ", ".join(v.strip() for v in values if v.strip())
            if value:
                msg[name] = value
        if draft.subject:
            msg["Subject"] = draft.subject
        msg["Date"] = email.utils.formatdate(localtime=True)
        msg["Message-ID"] = email.utils.make_msgid(domain="draft.mailops.localhost")
        for spec in draft.headers:
            name, value = parse_header(spec)
            msg[name] = value
    except (ValueError, TypeError) as exc:
        raise UsageError(f"bad header in the draft: {exc}") from None
    msg.set_content(draft.body)
    for path in draft.attachments:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SendError(f"cannot read attachment {path}: {exc.strerror or exc}",
                            exit_code=SendError.BUILD) from None
        ctype, encoding = mimetypes.guess_type(path.name)
        if ctype is None or encoding is not None or ctype.startswith(("message/", "multipart/")):
            ctype = "application/octet-stream"  # as compose: exact bytes, base64
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=path.name)
    return msg.as_bytes()


def save(store: Store, draft: Draft, replaces: int | None = None) -> int:
    """Store the draft (replacing the stored draft `replaces`); its new id."""
    return add_local(store, draft_bytes(draft), folder=DRAFTS, flags=[DRAFT_FLAG],
                     replaces=replaces)


def load(store: Store, msg_id: int, attachments_dir: Path) -> Draft:
    """A stored draft to edit; its attachments are written into `attachments_dir`."""
    raw = store.raw(msg_id)
    msg = parse_message(raw)

    def header(name: str) -> str:
        return " ".join(str(msg.get(name, "")).split())

    body_part = msg.get_body(preferencelist=("plain",))
    body = body_part.get_content() if body_part is not None else ""
    attachments = save_attachments(raw, attachments_dir) if msg.is_multipart() else []
    return Draft(sender=header("From"),
                 to=[header("To")] if header("To") else [],
                 cc=[header("Cc")] if header("Cc") else [],
                 bcc=[header("Bcc")] if header("Bcc") else [],
                 subject=header("Subject") or None,
                 body=str(body).replace("\r\n", "\n"), attachments=attachments,
                 headers=[f"{n}: {header(n)}" for n in _KEPT_HEADERS if header(n)])


def list_drafts(store: Store, limit: int = 200) -> list[MessageRow]:
    """The stored drafts, newest first."""
    return store.list(f"folder:{DRAFTS}", limit=limit)


def delete(store: Store, msg_id: int) -> bool:
    """Delete a draft (once sent, or discarded); whether it existed."""
    return store.delete([msg_id]) > 0


def record_sent(store: Store, message: Outgoing, draft_id: int | None = None) -> int:
    """Keep a copy of a sent message in "sent" (with its envelope), delete the draft
    it came from, and mark the stored message it answers (its In-Reply-To) replied,
    also when the reply was finished from a draft in a later session; the copy's id."""
    sent = add_local(store, message.raw, folder=SENT, mail_from=message.mail_from,
                     rcpt_to=message.rcpt_to, replaces=draft_id)
    parents = message_ids(parse_message(message.raw).get("In-Reply-To", ""))
    if parents:
        # a Filter node, not a query string: a Message-ID may hold quotes or spaces
        answered = [int(r["id"]) for r in store.list(Filter("message-id", parents[0]),
                                                     limit=10)]
        if answered:
            mark(store, answered, "replied")
    return sent
