"""Views of a stored message for display: readable text, headers, parts, attachments."""

from __future__ import annotations

import os
import re
from email.message import Message
from pathlib import Path
from typing import Any

from mailops.authresults import auth_results
from mailops.errors import NotFoundError, StoreError
from mailops.htmltext import html_to_text
from mailops.mime import clean, parse_message, summarize
from mailops.store import MessageRow


def header_block(raw: bytes) -> bytes:
    """The raw header section (up to the first empty line)."""
    m = re.search(rb"\r?\n\r?\n", raw)
    return raw[: m.end()] if m else raw


def _leaves(raw: bytes) -> list[Message]:
    return [p for p in parse_message(raw).walk() if not p.is_multipart()]


def part_content(raw: bytes, number: int) -> bytes:
    """The decoded content of leaf part `number` (1-based, as `show --json` lists)."""
    leaves = _leaves(raw)
    if not 1 <= number <= len(leaves):
        raise NotFoundError(f"no part {number}: this message has {len(leaves)} part(s)")
    payload = leaves[number - 1].get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def html_part(raw: bytes) -> str:
    """The first text/html part, decoded."""
    for part in _leaves(raw):
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                try:
                    charset = part.get_content_charset() or "utf-8"
                    return clean(payload.decode(charset, errors="replace"))
                except Exception:  # unknown, NUL-bearing or non-text codecs ("hex", "idna")
                    return clean(payload.decode("utf-8", errors="replace"))
    raise NotFoundError("this message has no HTML part")


_MAX_NAME_BYTES = 200  # below the usual 255-byte file name limit, room for "-N"


def _safe_name(name: str, fallback: str) -> str:
    base = os.path.basename(name.replace("\\", "/")).strip().lstrip(".")
    base = re.sub(r"[\x00-\x1f/]", "_", base)
    base = clean(base)
    if len(base.encode()) > _MAX_NAME_BYTES:  # a long name must not fail the write
        stem, dot, suffix = base.rpartition(".")
        suffix = f".{suffix}" if dot and len(suffix.encode()) <= 16 else ""
        keep = (stem if suffix else base).encode()[: _MAX_NAME_BYTES - len(suffix.encode())]
        base = keep.decode("utf-8", "ignore") + suffix
    return base or fallback


def _attachments(raw: bytes) -> list[tuple[Message, str]]:
    """The attachment leaves with the file name each gets on disk (made safe)."""
    out: list[tuple[Message, str]] = []
    for number, part in enumerate(_leaves(raw), 1):
        try:
            filename = part.get_filename()
        except Exception:
            filename = None
        if not filename and part.get_content_disposition() != "attachment":
            continue
        out.append((part, _safe_name(filename or "", f"part{number}.bin")))
    return out


def _write_new(directory: Path, name: str, part: Message) -> Path:
    """Write a part's decoded content as `name` in `directory`, never overwriting."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create {directory}: {exc.strerror}") from None
    target = directory / name
    stem, suffix, n = target.stem, target.suffix, 1
    while target.exists():
        target = directory / f"{stem}-{n}{suffix}"
        n += 1
    payload = part.get_payload(decode=True)
    try:
        target.write_bytes(payload if isinstance(payload, bytes) else b"")
    except OSError as exc:
        raise StoreError(f"cannot write {target}: {exc.strerror}") from None
    return target


def save_attachments(raw: bytes, directory: Path) -> list[Path]:
    """Write every attachment into `directory`; never outside it, never overwriting."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create {directory}: {exc.strerror}") from None
    return [_write_new(directory, name, part) for part, name in _attachments(raw)]


def save_attachment(raw: bytes, index: int, directory: Path) -> Path:
    """Write attachment `index` (1-based, in the order the reader lists them) into
    `directory`, e.g. to hand it to an opener."""
    found = _attachments(raw)
    if not 1 <= index <= len(found):
        raise NotFoundError(f"no attachment {index}: this message has {len(found)}")
    part, name = found[index - 1]
    return _write_new(directory, name, part)


def readable(row: MessageRow, raw: bytes) -> dict[str, Any]:
    """Headers, text, links, parts and defects for the human view and `show --json`."""
    parsed = summarize(raw)
    links: list[str] = []
    if parsed.has_html:
        try:
            links = [clean(link) for link in html_to_text(html_part(raw))[1]]
        except NotFoundError:
            links = []
    headers = {"from": parsed.from_, "to": ", ".join(parsed.to), "cc": ", ".join(parsed.cc),
               "date": parsed.date or "", "subject": parsed.subject,
               "message-id": parsed.message_id or ""}
    return {
        "id": row["id"], "headers": headers, "text": parsed.text, "links": links,
        "attachments": parsed.attachments, "defects": parsed.defects,
        "parts": [{"number": p.number, "content_type": p.content_type, "filename": p.filename,
                   "size": p.size, "disposition": p.disposition} for p in parsed.parts],
        "envelope": {"mail_from": row["mail_from"], "rcpt_to": row["rcpt_to"],
                     "peer": row["peer"], "source": row["source"]},
        "mailbox": {"folder": row["folder"], "tags": row["tags"], "read": row["read"],
                    "flagged": row["flagged"], "replied": row["replied"]},
        "size": row["size"], "sha256": row["sha256"],
        "auth": [r.as_dict() for r in auth_results(raw)],
    }


def auth_summary(auth: list[dict[str, str]]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The readable view's "auth" grouped per header writer: [(authserv_id,
    [(method, result), ...])], in header order (the topmost, latest hop first)."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for r in auth:
        groups.setdefault(r["authserv_id"], []).append((r["method"], r["result"]))
    return list(groups.items())
