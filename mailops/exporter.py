"""Export stored messages as .eml files, a maildir or an mbox file.

.eml and maildir exports write the exact stored bytes (`Store.raw`), one file per
message, so importing them again gives byte-identical messages (same sha256).
An mbox export goes through the stdlib `mailbox.mbox`, which must quote body
lines starting with "From " as ">From " and ends every message with a newline:
those messages' bytes change, so an mbox is for other mail programs, not for an
exact copy.
"""

from __future__ import annotations

import mailbox
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from mailops.errors import NotFoundError, StoreError, UsageError
from mailops.store import MessageRow, Store


class ExportFormat(StrEnum):
    """Formats `mailops export` writes."""

    eml = "eml"
    mbox = "mbox"
    maildir = "maildir"


@dataclass
class ExportResult:
    """What an export wrote."""

    format: str
    target: str
    exported: int = 0
    bytes: int = 0

    def as_dict(self) -> dict[str, object]:
        """The JSON summary of `mailops export --json`."""
        return {"format": self.format, "to": self.target, "exported": self.exported,
                "bytes": self.bytes}


Progress = Callable[[ExportResult], None]

# Maildir info flags (the part after ":2,") for flag names the store may hold.
_MAILDIR_FLAGS = {"draft": "D", "flagged": "F", "passed": "P", "answered": "R",
                  "replied": "R", "seen": "S", "trashed": "T", "deleted": "T"}


def select_ids(store: Store, query: str | None, limit: int | None) -> list[int]:
    """Ids to export, oldest first: every match, or the newest `limit` (as `ls` lists)."""
    if limit is None:
        return list(store.iter_ids(query))
    return sorted(int(r["id"]) for r in store.list(query, limit=limit))


def _messages(store: Store, ids: list[int]) -> Iterator[tuple[MessageRow, bytes]]:
    for msg_id in ids:
        try:
            row, data = store.get(msg_id), store.raw(msg_id)
        except NotFoundError:
            continue  # deleted (`mailops rm`) while the export ran
        yield row, data


def _write_file(path: Path, data: bytes, mtime: float) -> None:
    """Write via a temporary name and rename, so no reader sees half a message.

    The file's mtime is the message's received time, which import reads back.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.utime(tmp, (mtime, mtime))
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write {path}: {exc.strerror}") from None


def _directory(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} exists and is not a directory")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create {target}: {exc.strerror}") from None


def _hostname() -> str:
    # The maildir spec escapes "/" and ":" in the host part of unique names.
    return socket.gethostname().replace("/", r"\057").replace(":", r"\072") or "localhost"


def _maildir_name(row: MessageRow, counter: int, host: str) -> str:
    """A unique maildir name: time.M<usec>P<pid>Q<n>.host:2,<flags> (sorted flags).

    The time is when the message was received (import reads it back from the name).
    """
    when = float(row["received_at"])
    seconds = int(when)
    usec = int((when - seconds) * 1_000_000)
    # Flags, and the tags import makes of D, P and T (draft, passed, deleted).
    names = [f.lower().lstrip("\\") for f in (*row["flags"], *row["tags"])]
    flags = "".join(sorted({_MAILDIR_FLAGS[n] for n in names if n in _MAILDIR_FLAGS}))
    return f"{seconds}.M{usec}P{os.getpid()}Q{counter}.{host}:2,{flags}"


def _export_eml(store: Store, ids: list[int], target: Path, result: ExportResult,
                progress: Progress | None) -> None:
    _directory(target)
    for row, data in _messages(store, ids):
        _write_file(target / f"{row['id']}.eml", data, row["received_at"])
        result.exported += 1
        result.bytes += len(data)
        if progress is not None:
            progress(result)


def folder_dir(target: Path, folder: str) -> Path:
    """Where a folder's maildir goes in an export by folder: INBOX is `target`
    itself, another folder the directories its name spells below it (work/projects),
    as `mailops import` reads such a tree back. A name part no directory may safely
    have (empty, . or .., hidden, cur/new/tmp, a first Maildir, which import takes
    for ~/Maildir) gets a leading _, so nothing is written outside `target`."""
    if folder.lower() == "inbox":
        return target
    parts = folder.split("/")
    for i, part in enumerate(parts):
        if (part in ("", ".", "..") or part.startswith(".")
                or part.lower() in ("cur", "new", "tmp") or (i == 0 and part.lower() == "maildir")):
            parts[i] = "_" + part
    return target.joinpath(*parts)


def _export_maildir(store: Store, ids: list[int], target: Path, result: ExportResult,
                    progress: Progress | None, by_folder: bool = False) -> None:
    made: set[Path] = set()
    host = _hostname()
    counter = 0
    for row, data in _messages(store, ids):
        box = folder_dir(target, row["folder"]) if by_folder else target
        if box not in made:
            _directory(box)
            for sub in ("cur", "new", "tmp"):
                _directory(box / sub)
            made.add(box)
        counter += 1
        name = _maildir_name(row, counter, host)
        while (box / "cur" / name).exists():  # an earlier export with a reused pid
            counter += 1
            name = _maildir_name(row, counter, host)
        # Maildir delivery: write under tmp/, then rename into cur/ (atomic).
        tmp = box / "tmp" / name.split(":", 1)[0]
        try:
            tmp.write_bytes(data)
            os.utime(tmp, (row["received_at"],) * 2)
            os.replace(tmp, box / "cur" / name)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot write into {box}: {exc.strerror}") from None
        result.exported += 1
        result.bytes += len(data)
        if progress is not None:
            progress(result)


def _from_line(row: MessageRow) -> bytes:
    """The mbox separator: envelope sender and received time (asctime, UTC)."""
    sender = row["mail_from"] or ""
    if not sender or any(c.isspace() for c in sender) or not sender.isprintable():
        sender = "MAILER-DAEMON"
    stamp = time.asctime(time.gmtime(row["received_at"]))
    return f"From {sender} {stamp}\n".encode("utf-8", "replace")


def _export_mbox(store: Store, ids: list[int], target: Path, result: ExportResult,
                 progress: Progress | None) -> None:
    if target.is_dir():
        raise UsageError(f"{target} is a directory; an mbox export writes one file")
    try:
        if target.exists() and target.stat().st_size:
            with open(target, "rb") as fh:
                if fh.read(5) != b"From ":
                    raise UsageError(f"{target} exists and is not an mbox file; not touching it")
        target.parent.mkdir(parents=True, exist_ok=True)
        box = mailbox.mbox(target, factory=None, create=True)
    except OSError as exc:
        raise StoreError(f"cannot open {target}: {exc.strerror}") from None
    try:
        box.lock()
        try:
            for row, data in _messages(store, ids):
                if data.startswith(b"From "):
                    data = b">" + data  # else it would read as the next separator
                # A leading "From " line is the stdlib's way to pass the separator.
                box.add(_from_line(row) + data)
                result.exported += 1
                result.bytes += len(data)
                if progress is not None:
                    progress(result)
            box.flush()
        finally:
            box.unlock()
    except (OSError, mailbox.Error) as exc:
        raise StoreError(f"cannot write {target}: {exc}") from None
    finally:
        box.close()


def export(store: Store, target: str | os.PathLike[str], fmt: ExportFormat | str, *,
           query: str | None = None, limit: int | None = None, ids: list[int] | None = None,
           progress: Progress | None = None, by_folder: bool = False) -> ExportResult:
    """Write the selected messages to `target` in format `fmt`; returns the counts.

    eml: DIR/<id>.eml (an existing file of that name is replaced). maildir: DIR
    with cur/new/tmp, messages in cur/; with `by_folder`, one maildir a folder
    (`folder_dir`), which an import reads back into the same folders. mbox: one
    file, appended to if it exists. `ids` (from `select_ids`) overrides `query`
    and `limit`.
    """
    fmt = ExportFormat(fmt)
    if by_folder and fmt is not ExportFormat.maildir:
        raise UsageError("exporting by folder needs --format maildir")
    path = Path(target)
    if ids is None:
        ids = select_ids(store, query, limit)
    result = ExportResult(fmt.value, str(path))
    if fmt is ExportFormat.maildir:
        _export_maildir(store, ids, path, result, progress, by_folder)
    elif fmt is ExportFormat.eml:
        _export_eml(store, ids, path, result, progress)
    else:
        _export_mbox(store, ids, path, result, progress)
    return result
