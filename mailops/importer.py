"""Import messages from .eml files, maildirs and mbox files into the store.

Sources are found first (`plan`), then read one message at a time, parsed and
stored in short batched transactions (`run_import`). Import is idempotent: a
message whose exact bytes (sha256) are already stored is skipped, so running
the same import twice adds nothing.

Bytes: an .eml file and a maildir message are stored exactly as they are on
disk. An mbox message is stored as the stdlib `mailbox.mbox` gives it: without
its "From " separator line and the blank line before the next one, with any
">From " quoting left as it is in the file (mboxo and mboxrd cannot be told apart).

Errors: a path given by the caller that does not exist or cannot be read raises
`ImportFailed` before anything is stored; a file that cannot be read inside a
tree is counted as a failure with its reason and the import goes on.
"""

from __future__ import annotations

import calendar
import contextlib
import dataclasses
import gc
import hashlib
import mailbox
import multiprocessing
import os
import re
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

from mailops.errors import ImportFailed, UsageError
from mailops.mime import Parsed, summarize
from mailops.store import Incoming, Store
from mailops.store.store import NEW_MAIL, ZSTD_LEVEL, MailState, Prepared, prepare
from mailops.tagging import normalize_folder

BATCH_MESSAGES = 500
# A batch is also cut at this many bytes so a folder of large attachments
# does not hold gigabytes in memory before a commit.
BATCH_BYTES = 64 * 1024 * 1024
_POOL_MIN = 64  # a batch this big is parsed in worker processes (small imports never start them)
_CHUNK = 25  # messages per task handed to a worker: amortizes the round trip
_AHEAD = 2  # batches being prepared while an older one is written
# The writer (this process) is the pipeline's critical path: it must not wait for
# a CPU behind the workers, which are ahead by _AHEAD batches anyway.
_WORKER_NICE = 3
_MAILDIR_SUBDIRS = ("cur", "new")  # tmp holds deliveries in progress: never read
_READ_AHEAD = 128  # maildir files the kernel is asked to read ahead of the one being read


@dataclass(frozen=True)
class Source:
    """One place messages come from: an .eml file, a maildir or an mbox file."""

    kind: str  # "eml", "maildir" or "mbox"
    path: Path
    size: int  # bytes on disk (a maildir: its messages), for progress
    folder: str = "INBOX"  # a maildir's messages go to this folder


@dataclass(frozen=True)
class Failure:
    """A file or message that could not be imported, and why."""

    origin: str
    reason: str


@dataclass
class Plan:
    """What an import will read: its sources and the failures found while looking."""

    sources: list[Source] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        """Bytes on disk of every source (the progress total)."""
        return sum(s.size for s in self.sources)


@dataclass
class ImportResult:
    """Counts of an import so far (the progress callback sees it grow)."""

    sources: int = 0
    imported: int = 0
    duplicates: int = 0
    failures: list[Failure] = field(default_factory=list)
    bytes_read: int = 0
    total_bytes: int = 0
    first_id: int | None = None
    last_id: int | None = None

    @property
    def failed(self) -> int:
        """How many files or messages could not be imported."""
        return len(self.failures)

    def as_dict(self) -> dict[str, object]:
        """The JSON summary of `mailops import --json`."""
        return {
            "imported": self.imported, "duplicates": self.duplicates, "failed": self.failed,
            "sources": self.sources, "bytes": self.bytes_read,
            "first_id": self.first_id, "last_id": self.last_id,
            "failures": [{"origin": f.origin, "reason": f.reason} for f in self.failures],
        }


Progress = Callable[[ImportResult], None]


@dataclass
class Item:
    """One message read from a source, or the reason it could not be read."""

    origin: str
    raw: bytes | None = None
    error: str | None = None
    size: int = 0  # bytes of the source this item accounts for (progress)
    mail_from: str | None = None
    received_at: float | None = None
    state: MailState = NEW_MAIL


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _is_maildir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in _MAILDIR_SUBDIRS)


# An mbox starts with an envelope line, "From sender asctime" ("... 10:00:00 2023").
_FROM_LINE = re.compile(rb"From \S+ [^\n]*\d\d:\d\d")


# The first line of a message file: a header field (RFC 5322 field name, then a
# colon; obsolete syntax allows blanks before it) or a "From " line (mbox-style).
_MAIL_START = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:|From ")


def _classify(path: Path) -> str | None:
    """What a file is: "mbox" (it starts with an envelope "From " line and is not
    named .eml: an exported message may itself start with "From ", and `export`
    writes NAME.eml, which must import as the same one message), "eml" (one
    message: named .eml, empty, or starting with a header field) or None (not mail:
    a PDF, a picture, notes beside the mail)."""
    if path.suffix.lower() == ".eml":
        return "eml"  # not opened here: read once, when imported
    with open(path, "rb") as fh:
        first = fh.readline(1000)
    if _FROM_LINE.match(first):
        return "mbox"
    if not first or _MAIL_START.match(first):
        return "eml"  # an empty file is reported as such when it is read
    return None


_NOT_MAIL = ("not a mail message (its first line is not a header field;"
             " name it .eml to import it anyway)")


def _maildir_size(path: Path) -> int:
    total = 0
    for sub in _MAILDIR_SUBDIRS:
        try:
            with os.scandir(path / sub) as entries:
                for entry in entries:
                    try:
                        if entry.is_file():
                            total += entry.stat().st_size
                    except OSError:
                        continue  # reported when the message itself is read
        except OSError:
            continue  # reported when the maildir is read
    return total


def _file_source(path: Path, failures: list[Failure]) -> Source | None:
    """Classify one regular file as an mbox or a single message."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            failures.append(Failure(str(path), "not a regular file"))
            return None
        kind = _classify(path)
    except OSError as exc:
        failures.append(Failure(str(path), _reason(exc)))
        return None
    if kind is None:
        failures.append(Failure(str(path), _NOT_MAIL))
        return None
    return Source(kind, path, st.st_size)


def _tree_folder(root: Path, here: Path) -> str:
    """The folder for a maildir or mbox found at `here` while walking `root`: INBOX
    for root itself, else its path below root, as mail programs lay folders out:
    Maildir++ dots dropped (mbsync, offlineimap, dovecot: `.Sent` is Sent,
    `work/.Sent` is work/Sent), an mbox's .mbox suffix and Thunderbird's .sbd
    subfolder directories too (`Archives.sbd/2023` is Archives/2023). A first
    directory named Maildir is the conventional ~/Maildir, whose own messages are
    the INBOX: `backup/Maildir/.Sent` is Sent."""
    parts = [p[1:] if p.startswith(".") else p for p in here.relative_to(root).parts]
    if parts and parts[0].lower() == "maildir":
        parts = parts[1:]
    parts = [p.removesuffix(".sbd") for p in parts[:-1]] + [
        re.sub(r"\.(mbox|mbx)$", "", p, flags=re.IGNORECASE) for p in parts[-1:]]
    try:
        name = normalize_folder("/".join(parts)) if parts else "INBOX"
        return "INBOX" if name.lower() == "inbox" else name
    except UsageError:  # a name no folder may have (control characters): keep it in INBOX
        return "INBOX"


def _walk(root: Path, sources: list[Source], failures: list[Failure]) -> None:
    """Find sources under a directory, in a stable (sorted) order."""

    def on_error(exc: OSError) -> None:
        failures.append(Failure(str(exc.filename or root), _reason(exc)))

    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error):
        here = Path(dirpath)
        # Hidden folders (.git, .notmuch) hold no mail, except Maildir++ subfolders
        # (.Sent, .Archive), which are maildirs themselves.
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") or _is_maildir(here / d))
        if _is_maildir(here):
            sources.append(Source("maildir", here, _maildir_size(here),
                                  _tree_folder(root, here)))
            # Its messages are read through the maildir; files beside cur/new/tmp
            # are the mail server's metadata (dovecot-uidlist, maildirfolder...).
            dirnames[:] = [d for d in dirnames if d not in {"cur", "new", "tmp"}]
            continue
        for name in sorted(filenames):
            if name.startswith(".") or name.endswith(".msf"):
                # Hidden files (.DS_Store, editor swap files) and Thunderbird's
                # summaries of its mbox folders (Inbox.msf) are not mail.
                continue
            source = _file_source(here / name, failures)
            if source is not None and source.kind == "mbox":
                source = dataclasses.replace(source, folder=_tree_folder(root, here / name))
            if source is not None:
                sources.append(source)


def plan(paths: Sequence[str | os.PathLike[str]]) -> Plan:
    """Find every source under `paths`; ImportFailed if a given path cannot be read.

    Every path is checked before anything is read, so a typo imports nothing.
    """
    roots: list[Path] = []
    for given in paths:
        path = Path(given)
        try:
            st = path.stat()
        except OSError as exc:
            raise ImportFailed(f"cannot read {given}: {_reason(exc)}") from None
        if stat.S_ISDIR(st.st_mode):
            if not os.access(path, os.R_OK | os.X_OK):
                raise ImportFailed(f"cannot read {given}: Permission denied")
        elif stat.S_ISREG(st.st_mode):
            if not os.access(path, os.R_OK):
                raise ImportFailed(f"cannot read {given}: Permission denied")
        else:
            raise ImportFailed(f"cannot import {given}: not a file or directory")
        roots.append(path)
    result = Plan()
    for path in roots:
        if path.is_dir():
            _walk(path, result.sources, result.failures)
        else:
            try:
                kind = _classify(path)
            except OSError as exc:
                raise ImportFailed(f"cannot read {path}: {_reason(exc)}") from None
            if kind is None:
                raise ImportFailed(f"cannot import {path}: {_NOT_MAIL}")
            result.sources.append(Source(kind, path, path.stat().st_size))
    return result


def _read_eml(source: Source) -> Iterator[Item]:
    try:
        with open(source.path, "rb") as fh:
            raw = fh.read()
            mtime = os.fstat(fh.fileno()).st_mtime
    except OSError as exc:
        yield Item(str(source.path), error=_reason(exc), size=source.size)
        return
    if not raw:
        yield Item(str(source.path), error="empty file", size=source.size)
        return
    yield Item(str(source.path), raw=raw, size=len(raw), received_at=mtime)


def _maildir_files(path: Path) -> dict[str, str]:
    """A maildir's messages: unique name (the file name before ":") -> file path.

    What `mailbox.Maildir` lists (cur/ then new/, so a name in both is read from
    new/; directories skipped), without its per-message lookups and stat calls.
    """
    files: dict[str, str] = {}
    for sub in _MAILDIR_SUBDIRS:
        folder = os.path.join(path, sub)
        with os.scandir(folder) as entries:
            for entry in entries:
                if not entry.is_dir():
                    files[entry.name.split(":")[0]] = os.path.join(folder, entry.name)
    return files


class _ReadAhead:
    """Asks the kernel to start reading the next files (posix_fadvise WILLNEED), from
    a thread, up to _READ_AHEAD files ahead of the reader: a maildir that is not in
    the page cache (a first import) is then read from disk while earlier messages
    are parsed and written, instead of one file at a time in between. Holds no data
    itself: the pages go to the page cache, so a big file costs no memory here."""

    def __init__(self, paths: list[str]) -> None:
        self._slots = threading.Semaphore(_READ_AHEAD)
        self._stop = threading.Event()
        if hasattr(os, "posix_fadvise"):  # not on macOS: nothing to do there
            threading.Thread(target=self._run, args=(paths,), daemon=True).start()

    def _run(self, paths: list[str]) -> None:
        for path in paths:
            self._slots.acquire()
            if self._stop.is_set():
                return
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue  # reported when the file itself is read
            try:
                with contextlib.suppress(OSError):  # only a hint: the read reports errors
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
            finally:
                os.close(fd)

    def next(self) -> None:
        """The reader moved on to the next file: one more may be read ahead."""
        self._slots.release()

    def close(self) -> None:
        """Stop reading ahead."""
        self._stop.set()
        self._slots.release()


def _read_maildir(source: Source) -> Iterator[Item]:
    try:
        files = _maildir_files(source.path)
    except OSError as exc:
        yield Item(str(source.path), error=_reason(exc), size=source.size)
        return
    keys = sorted(files)  # unique names start with the delivery time
    ahead = _ReadAhead([files[k] for k in keys])
    try:
        yield from _read_maildir_files(source, files, keys, ahead)
    finally:
        ahead.close()


def _read_maildir_files(source: Source, files: dict[str, str], keys: list[str],
                        ahead: _ReadAhead) -> Iterator[Item]:
    for key in keys:
        ahead.next()
        origin = f"{source.path} [{key}]"
        try:
            try:
                with open(files[key], "rb") as fh:  # the file's bytes untouched
                    raw = fh.read()
            except FileNotFoundError:
                # Moved meanwhile (an MUA renaming new/ to cur/, say): look again.
                again = _maildir_files(source.path).get(key)
                if again is None:
                    yield Item(origin, error="message vanished while importing")
                    continue
                with open(again, "rb") as fh:
                    raw = fh.read()
        except OSError as exc:
            yield Item(str(exc.filename or origin), error=_reason(exc))
            continue
        if not raw:
            yield Item(origin, error="empty file")
            continue
        yield Item(origin, raw=raw, size=len(raw), received_at=_maildir_time(key),
                   state=_maildir_state(source.folder, files[key]))


# Maildir info flags (after ":2,") and what each means here: S F R are the store's
# flags; D, P and T become tags, the names notmuch gives them.
_MAILDIR_TAGS = (("D", "draft"), ("P", "passed"), ("T", "deleted"))


def _maildir_state(folder: str, path: str) -> MailState:
    """The folder and flags of a maildir message from its file name."""
    name = os.path.basename(path)
    info = name.partition(":2,")[2] if ":2," in name else ""
    return MailState(folder, seen="S" in info, flagged="F" in info, replied="R" in info,
                     tags=tuple(tag for flag, tag in _MAILDIR_TAGS if flag in info))


_MAILDIR_TIME = re.compile(r"(\d{1,11})(?:\.M(\d{1,6})P)?")


def _maildir_time(key: str) -> float | None:
    """Delivery time from a maildir unique name ("1700000000.M123456P2Q3.host")."""
    found = _MAILDIR_TIME.match(key)
    if found is None:
        return None
    return int(found[1]) + int(found[2] or 0) / 1_000_000


def _parse_from_line(line: bytes) -> tuple[str | None, float | None]:
    """Envelope sender and date of an mbox "From sender asctime" line, when readable."""
    fields = line.decode("utf-8", "replace").split()
    sender = fields[1] if len(fields) > 1 and fields[1] != "MAILER-DAEMON" else None
    if sender is not None and not sender.isprintable():
        sender = None  # control characters would reach the terminal through `ls`
    when: float | None = None
    if len(fields) >= 7:
        # asctime is "Www Mmm dd hh:mm:ss yyyy"; its zone is unknown, read as UTC.
        try:
            when = float(calendar.timegm(time.strptime(" ".join(fields[2:7]),
                                                        "%a %b %d %H:%M:%S %Y")))
        except (ValueError, OverflowError):
            when = None
    return sender, when


# mbox flags as mutt and the stdlib's mailbox.mboxMessage keep them: Status R (read),
# X-Status F (flagged), A (answered), D (deleted), T (draft).
_STATUS = re.compile(rb"^(X-)?Status:[ \t]*([A-Za-z]*)[ \t]*\r?$", re.MULTILINE | re.IGNORECASE)


def _mbox_state(raw: bytes, folder: str) -> MailState:
    """An mbox message's folder, and its flags from its Status and X-Status headers."""
    end = raw.find(b"\n\n")
    head = raw if end < 0 else raw[:end + 1]
    flags = "" if b"tatus:" not in head else "".join(
        m[2].decode("ascii").upper() for m in _STATUS.finditer(head))
    return MailState(folder, seen="R" in flags, flagged="F" in flags, replied="A" in flags,
                     tags=tuple(tag for flag, tag in (("T", "draft"), ("D", "deleted"))
                                if flag in flags))


def _read_mbox(source: Source) -> Iterator[Item]:
    try:
        box = mailbox.mbox(source.path, factory=None, create=False)
    except (OSError, mailbox.Error) as exc:
        yield Item(str(source.path), error=_reason(exc), size=source.size)
        return
    try:
        try:
            keys = box.keys()
        except OSError as exc:
            yield Item(str(source.path), error=_reason(exc), size=source.size)
            return
        for number, key in enumerate(keys, 1):
            origin = f"{source.path} [message {number}]"
            try:
                # from_=True: one read gives the envelope line and the message after it.
                data = box.get_bytes(key, from_=True)
            except OSError as exc:
                yield Item(origin, error=_reason(exc))
                continue
            line, _, raw = data.partition(b"\n")
            sender, when = _parse_from_line(line)
            if not raw.strip():
                yield Item(origin, error="empty message", size=len(data))
                continue
            yield Item(origin, raw=raw, size=len(data), mail_from=sender, received_at=when,
                       state=_mbox_state(raw, source.folder))
    finally:
        box.close()


def iter_items(sources: Sequence[Source]) -> Iterator[Item]:
    """Every message of every source, in order, as bytes or a failure reason."""
    readers = {"eml": _read_eml, "maildir": _read_maildir, "mbox": _read_mbox}
    for source in sources:
        yield from readers[source.kind](source)


def _parse(raw: bytes) -> Parsed:
    try:
        return summarize(raw)
    except Exception as exc:  # summarize must not raise; never lose a message if it does
        return Parsed(defects=[f"unparseable: {type(exc).__name__}"])


# One message for _prepare: raw bytes, sha256, envelope sender, delivery time, state.
_Job = tuple[bytes, str, str | None, float | None, MailState]
_compressor: zstandard.ZstdCompressor | None = None  # this process's (workers have their own)


def _prepare(jobs: list[_Job]) -> list[Prepared]:
    """Parse, compress and lay out messages for the store (in a worker process, or
    here when there is no pool): everything an import does but the SQL."""
    global _compressor
    if _compressor is None:
        _compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    out: list[Prepared] = []
    for raw, digest, mail_from, received_at, state in jobs:
        incoming = Incoming(raw=raw, mail_from=mail_from, source="import", state=state)
        if received_at is not None:
            incoming.received_at = received_at
        out.append(prepare(incoming, _parse(raw), _compressor, digest))
    return out


def _watch_parent(parent: int) -> None:
    """Exit this worker once the importing process is gone (killed, say): forked
    workers hold both ends of their task pipe, so they would never see EOF."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _start_worker(parent: int) -> None:
    # What the worker inherited from the importing process stays put: kept out of
    # the cyclic collector's scans (and its pages unshared) from here on.
    gc.freeze()
    with contextlib.suppress(OSError):
        os.nice(_WORKER_NICE)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


# Parsing allocates many short-lived containers, nearly all freed by reference
# counting; at the default threshold (700) the cyclic collector runs several times
# a message for little (~6% of a worker's CPU, measured). Raised during imports.
_GC_THRESHOLD = (50_000, 20, 20)


@dataclass
class _Batch:
    """One transaction's worth of new messages, being prepared."""

    jobs: list[_Job]
    futures: list[Future[list[Prepared]]] | None = None  # None: prepare in this process
    size: int = 0  # raw bytes


class _Pipeline:
    """Prepares batches in worker processes while earlier ones are written.

    Parsing is most of an import's CPU (the stdlib email parser); the writes
    (SQLite, FTS5) are the rest and can only happen in this process. So up to
    _AHEAD batches are handed to a pool of worker processes (one per CPU,
    started on first use, so small imports never start it) while this process
    reads files, hashes them and writes the oldest batch: both cores stay busy.
    Batches are written in the order they were read; each is one transaction.
    If the pool breaks, preparing goes on in this process.
    """

    def __init__(self, store: Store, result: ImportResult) -> None:
        self.store = store
        self.result = result
        self.queue: deque[_Batch] = deque()
        self.pool: ProcessPoolExecutor | None = None
        # fork, not spawn: spawn re-runs the caller's __main__ module in every worker
        # (a script without a main guard, or stdin, breaks). The workers only parse
        # bytes; they never touch the store's connection.
        self.serial = ((os.cpu_count() or 1) < 2
                       or "fork" not in multiprocessing.get_all_start_methods())

    def submit(self, jobs: list[_Job]) -> None:
        """Queue a batch (already free of duplicates) and write what is due."""
        batch = _Batch(jobs, size=sum(len(j[0]) for j in jobs))
        if not self.serial and (self.pool is not None or len(jobs) >= _POOL_MIN):
            try:
                if self.pool is None:
                    self.pool = ProcessPoolExecutor(
                        max_workers=os.cpu_count(),
                        mp_context=multiprocessing.get_context("fork"),
                        initializer=_start_worker, initargs=(os.getpid(),))
                batch.futures = [self.pool.submit(_prepare, jobs[i:i + _CHUNK])
                                 for i in range(0, len(jobs), _CHUNK)]
            except (BrokenProcessPool, OSError, RuntimeError):
                self.serial = True
        self.queue.append(batch)
        if batch.futures is None:  # prepared here: nothing to wait for, write it all
            self.drain()
            return
        while (len(self.queue) > _AHEAD
               or sum(b.size for b in self.queue) > _AHEAD * BATCH_BYTES):
            self._write_oldest()

    def drain(self) -> None:
        """Write every queued batch."""
        while self.queue:
            self._write_oldest()

    def _write_oldest(self) -> None:
        batch = self.queue.popleft()
        prepared: list[Prepared] = []
        try:
            for future in batch.futures or ():
                prepared += future.result()
        except (BrokenProcessPool, OSError):
            self.serial = True
            batch.futures = None
        if batch.futures is None:
            prepared = _prepare(batch.jobs)
        batch.jobs.clear()  # the raw bytes can go before the write
        ids = self.store.add_prepared(prepared, skip_stored=True)
        added = [i for i in ids if i is not None]
        # Stored by someone else since this batch was checked (another import).
        self.result.duplicates += len(ids) - len(added)
        self.result.imported += len(added)
        if added:
            if self.result.first_id is None:
                self.result.first_id = added[0]
            self.result.last_id = added[-1]

    def close(self) -> None:
        """Stop the worker processes (queued work is dropped)."""
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def run_import(store: Store, import_plan: Plan, *, progress: Progress | None = None,
               batch_messages: int = BATCH_MESSAGES,
               batch_bytes: int = BATCH_BYTES) -> ImportResult:
    """Read, parse and store every message of a plan; returns the counts.

    Each batch is one transaction, so an interrupted import keeps whole batches
    and running it again picks up where it stopped (duplicates are skipped).
    """
    result = ImportResult(sources=len(import_plan.sources),
                          total_bytes=import_plan.total_bytes,
                          failures=list(import_plan.failures))
    pipeline = _Pipeline(store, result)
    threshold = gc.get_threshold()
    gc.set_threshold(*_GC_THRESHOLD)  # forked workers inherit it
    try:
        with store.bulk_writes():
            _read_all(store, import_plan, result, progress, batch_messages, batch_bytes,
                      pipeline)
            pipeline.drain()
    finally:
        gc.set_threshold(*threshold)
        pipeline.close()
    if progress is not None:
        progress(result)
    return result


def _read_all(store: Store, import_plan: Plan, result: ImportResult, progress: Progress | None,
              batch_messages: int, batch_bytes: int, pipeline: _Pipeline) -> None:
    """Read and hash every message; hand batches of new ones to the pipeline."""
    seen: set[str] = set()  # digests queued by this run
    batch: list[_Job] = []
    pending_bytes = 0

    def flush() -> None:
        stored = store.existing_sha256(j[1] for j in batch)
        new: list[_Job] = []
        for job in batch:
            if job[1] in stored or job[1] in seen:
                result.duplicates += 1
            else:
                seen.add(job[1])
                new.append(job)
        if new:
            pipeline.submit(new)
        batch.clear()

    for item in iter_items(import_plan.sources):
        result.bytes_read += item.size
        if item.raw is None:
            result.failures.append(Failure(item.origin, item.error or "unreadable"))
        else:
            batch.append((item.raw, hashlib.sha256(item.raw).hexdigest(), item.mail_from,
                          item.received_at, item.state))
            pending_bytes += len(item.raw)
            if len(batch) >= batch_messages or pending_bytes >= batch_bytes:
                flush()
                pending_bytes = 0
        if progress is not None:
            progress(result)
    if batch:
        flush()


@dataclass(frozen=True)
class Survey:
    """What an import of one source would read: its messages and where they go."""

    source: Source
    messages: int

    def as_dict(self) -> dict[str, object]:
        """One source of `mailops import --dry-run --json`."""
        return {"kind": self.source.kind, "path": str(self.source.path),
                "folder": self.source.folder, "messages": self.messages,
                "bytes": self.source.size}


def survey(import_plan: Plan) -> tuple[list[Survey], list[Failure]]:
    """Count each source's messages without reading them (a dry run): the files of
    a maildir, the entries of an mbox (its "From " lines), one per .eml file.
    Duplicates are only known once the messages are read and hashed."""
    counted: list[Survey] = []
    failures = list(import_plan.failures)
    for source in import_plan.sources:
        try:
            if source.kind == "maildir":
                found = len(_maildir_files(source.path))
            elif source.kind == "mbox":
                box = mailbox.mbox(source.path, factory=None, create=False)
                try:
                    found = len(box.keys())
                finally:
                    box.close()
            else:
                found = 1
        except (OSError, mailbox.Error) as exc:
            failures.append(Failure(str(source.path), _reason(exc)))
            continue
        counted.append(Survey(source, found))
    return counted, failures


def import_paths(store: Store, paths: Sequence[str | os.PathLike[str]], *,
                 progress: Progress | None = None) -> ImportResult:
    """Plan and run an import of `paths` (files, maildirs, mbox files, trees)."""
    return run_import(store, plan(paths), progress=progress)
