"""`mailops import` / `mailops export` on real files, and `show`'s output options."""

from __future__ import annotations

import hashlib
import mailbox
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from conftest import Cli
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mailops.exporter import export as export_to
from mailops.exporter import folder_dir
from mailops.importer import ImportResult, plan, run_import
from mailops.store import Store


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def msg(subject: str, body: str = "hello\n", *, crlf: bool = False,
        sender: str = "alice@example.test") -> bytes:
    text = (f"From: {sender}\nTo: bob@example.test\nSubject: {subject}\n"
            f"Message-ID: <{subject.replace(' ', '.')}@example.test>\n"
            f"Date: Mon, 02 Jan 2023 10:00:00 +0000\n\n{body}")
    data = text.encode()
    return data.replace(b"\n", b"\r\n") if crlf else data


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def maildir(root: Path) -> Path:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def listing(cli: Cli) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = cli.ok("ls", "--json", "--limit", "100000").json()
    return rows


def stored(cli: Cli) -> dict[str, int]:
    """sha256 -> id of every stored message."""
    return {r["sha256"]: r["id"] for r in listing(cli)}


# Odd but legal (or common) shapes whose bytes must survive import and export.
ODD_MESSAGES = [
    msg("crlf endings", crlf=True),
    msg("no final newline", "no newline at the end"),
    msg("from in body", "first line\nFrom here on it is quoted in mbox\n"),
    msg("eight bit", "caf\xe9 \u2603\n").replace(b"Subject: eight bit",
                                                   b"Subject: caf\xc3\xa9 \xff junk"),
    msg("nul byte", "a\x00b\n"),
    msg("empty body", ""),
    b"Subject: headers only, no separator",
]


def build_tree(root: Path) -> dict[str, bytes]:
    """An import tree: loose .eml files, nested folders, a maildir with a subfolder,
    an mbox, plus things that must be ignored or reported. Returns name -> bytes
    of the messages that must be stored exactly."""
    exact: dict[str, bytes] = {}
    exact["a"] = write(root / "a.eml", msg("loose a")).read_bytes()
    exact["b"] = write(root / "nested" / "deeper" / "b.eml", msg("nested b", crlf=True)) \
        .read_bytes()
    exact["noext"] = write(root / "nested" / "message-without-extension",
                           msg("no extension")).read_bytes()
    md = maildir(root / "Maildir")
    exact["md_new"] = write(md / "new" / "1700000000.M1P1Q1.host", msg("maildir new")) \
        .read_bytes()
    exact["md_cur"] = write(md / "cur" / "1700000001.M2P1Q2.host:2,S", msg("maildir cur")) \
        .read_bytes()
    write(md / "tmp" / "1700000002.M3P1Q3.host", msg("in delivery, never imported"))
    write(md / "dovecot-uidlist", b"3 V1 N4\n")  # maildir metadata, not mail
    sent = maildir(md / ".Sent")
    exact["md_sent"] = write(sent / "cur" / "1700000003.M4P1Q4.host:2,S", msg("sent one")) \
        .read_bytes()
    write(root / "nested" / ".DS_Store", b"\x00\x00\x00\x01Bud1")  # hidden: skipped
    write(root / ".notmuch" / "xapian" / "postlist.glass", b"not mail")  # hidden folder
    mbox_bytes = (b"From alice@example.test Mon Jan  2 10:00:00 2023\n" + msg("mbox one")
                  + b"\nFrom MAILER-DAEMON Mon Jan  2 11:00:00 2023\n" + msg("mbox two")
                  + b"\n")
    write(root / "archives" / "old.mbox", mbox_bytes)
    os.symlink(root / "does-not-exist", root / "nested" / "broken.eml")
    os.mkfifo(root / "nested" / "pipe")  # reading it would block forever
    # Not mail: reported, never stored as a message.
    write(root / "nested" / "report.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    write(root / "notes.txt", b"remember to import the old archive\n")
    # Not named .eml, but mail: a header field first (an MH folder's "1", a Received trace).
    exact["mh"] = write(root / "mh" / "1", b"Received: from x by y; Mon, 2 Jan 2023\n"
                        + msg("mh message")).read_bytes()
    return exact


def test_import_tree_then_reimport_adds_nothing(cli: Cli, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    exact = build_tree(tree)
    res = cli.ok("import", str(tree), "--json")
    summary = res.json()
    assert summary["imported"] == len(exact) + 2  # plus the two mbox messages
    assert summary["duplicates"] == 0
    assert summary["failed"] == 4
    reasons = {Path(f["origin"]).name: f["reason"] for f in summary["failures"]}
    not_mail = ("not a mail message (its first line is not a header field;"
                " name it .eml to import it anyway)")
    assert reasons == {"broken.eml": "No such file or directory", "pipe": "not a regular file",
                       "report.pdf": not_mail, "notes.txt": not_mail}
    assert "broken.eml" in res.err and "Traceback" not in res.err
    listed = cli.ok("ls", "--json").json()
    have = {r["sha256"]: r["id"] for r in listed}
    assert {sha(b) for b in exact.values()} <= set(have)
    # mbox messages are stored as the stdlib gives them: no separator line,
    # no trailing blank line.
    assert sha(msg("mbox one")) in have and sha(msg("mbox two")) in have
    rows = {r["subject"]: r for r in listed}
    assert rows["mbox one"]["mail_from"] == "alice@example.test"
    assert rows["mbox two"]["mail_from"] is None
    assert all(r["source"] == "import" for r in rows.values())
    assert "in delivery, never imported" not in rows
    raw = cli.ok("show", str(have[sha(exact["b"])]), "--raw").stdout_bytes
    assert raw == exact["b"]

    again = cli.ok("import", str(tree), "--json").json()
    assert again["imported"] == 0
    assert again["duplicates"] == summary["imported"]
    human = cli.ok("import", str(tree / "a.eml"))
    assert "imported 0 message(s), skipped 1 duplicate(s), 0 failed" in human.out


def test_import_files_directly_and_duplicates_within_one_run(cli: Cli, tmp_path: Path) -> None:
    one = write(tmp_path / "one.eml", msg("same bytes"))
    copy = write(tmp_path / "elsewhere" / "copy.eml", msg("same bytes"))
    box = write(tmp_path / "box", b"From x@y Mon Jan  2 10:00:00 2023\n" + msg("in box"))
    summary = cli.ok("import", str(one), str(copy), str(box), "--json").json()
    assert (summary["imported"], summary["duplicates"], summary["failed"]) == (2, 1, 0)
    assert summary["sources"] == 3


def test_a_file_that_is_not_mail_exits_6_unless_named_eml(cli: Cli, tmp_path: Path) -> None:
    good = write(tmp_path / "good.eml", msg("would be imported"))
    notes = write(tmp_path / "notes.txt", b"just some notes\n")
    res = cli("import", str(good), str(notes))
    assert res.code == 6
    assert res.err.strip() == (f"mailops: error: cannot import {notes}: not a mail message"
                               " (its first line is not a header field; name it .eml to"
                               " import it anyway)")
    assert cli.ok("ls", "--json").json() == []
    named = notes.rename(tmp_path / "notes.eml")
    assert cli.ok("import", str(good), str(named), "--json").json()["imported"] == 2


def test_missing_path_exits_6_with_one_line_and_imports_nothing(cli: Cli,
                                                               tmp_path: Path) -> None:
    good = write(tmp_path / "good.eml", msg("would be imported"))
    res = cli("import", str(good), str(tmp_path / "nope.eml"))
    assert res.code == 6
    lines = res.err.strip().splitlines()
    assert len(lines) == 1, res.err
    assert lines[0].startswith("mailops: error:") and "nope.eml" in lines[0]
    assert cli.ok("ls", "--json").json() == []


def test_engine_batches_progress_and_counts(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(7):
        write(src / f"{i}.eml", msg(f"batch {i}"))
    write(src / "dup.eml", msg("batch 3"))
    write(src / "empty.eml", b"")
    seen: list[tuple[int, int]] = []

    def progress(r: ImportResult) -> None:
        seen.append((r.imported, r.bytes_read))

    with Store(tmp_path / "s.db") as store:
        found = plan([src])
        assert [s.kind for s in found.sources] == ["eml"] * 9
        result = run_import(store, found, progress=progress, batch_messages=3)
        assert (result.imported, result.duplicates, result.failed) == (7, 1, 1)
        assert result.failures[0].reason == "empty file"
        assert store.count() == 7
        assert store.existing_sha256([sha(msg("batch 0")), "0" * 64]) == {sha(msg("batch 0"))}
    # Batches of 3 commit as they fill: progress saw the count grow in steps.
    assert [n for n, _ in seen][-1] == 7 and 3 in [n for n, _ in seen]
    assert seen[-1][1] == found.total_bytes


def _state(rows: list[dict[str, Any]]) -> dict[str, tuple[str, str, list[str]]]:
    """subject -> (folder, flags as "RFA" letters: read, flagged, answered, tags)."""
    return {r["subject"]: (r["folder"], "".join(
        letter for letter, key in (("R", "read"), ("F", "flagged"), ("A", "replied"))
        if r[key]), r["tags"]) for r in rows}


def test_maildir_folders_and_flags_and_mbox_status_are_imported(cli: Cli,
                                                                tmp_path: Path) -> None:
    tree = tmp_path / "backup"
    md = maildir(tree / "Maildir")  # the conventional ~/Maildir: its messages are INBOX
    write(md / "cur" / "1700000001.M1P1Q1.h:2,S", msg("seen"))
    write(md / "cur" / "1700000002.M1P1Q2.h:2,FR", msg("flagged and replied"))
    write(md / "cur" / "1700000003.M1P1Q3.h:2,", msg("no flags"))
    write(md / "new" / "1700000004.M1P1Q4.h", msg("new mail"))
    write(maildir(md / ".Sent") / "cur" / "1700000005.M1P1Q5.h:2,S", msg("sent"))
    write(maildir(md / ".Archive.2023") / "cur" / "1700000006.M1P1Q6.h:2,DPT", msg("odd"))
    write(maildir(tree / "work" / "projects") / "cur" / "1700000007.M1P1Q7.h:2,RS",
          msg("work"))
    mbox = (b"From x@y Mon Jan  2 10:00:00 2023\n"
            + msg("mbox read").replace(b"\n\n", b"\nStatus: RO\nX-Status: AF\n\n", 1)
            + b"\nFrom x@y Mon Jan  2 11:00:00 2023\n" + msg("mbox unread"))
    write(tmp_path / "given.mbox", mbox)
    # Thunderbird's layout: mbox files named after their folders, subfolders in .sbd
    # directories, .msf summaries beside them (skipped: not mail, not a failure).
    tb = tree / "Local Folders"
    write(tb / "Inbox", b"From x@y Mon Jan  2 10:00:00 2023\n" + msg("tb inbox"))
    write(tb / "Inbox.msf", b"// <!-- <mdb:mork:z v=\"1.4\"/> -->\n")
    write(tb / "Archives.sbd" / "2023", b"From x@y Mon Jan  2 10:00:00 2023\n"
          + msg("tb archived"))
    write(tb / "old.mbox", b"From x@y Mon Jan  2 10:00:00 2023\n" + msg("tb old"))
    # A folder that exists already keeps its spelling (as `mv` does).
    write(tmp_path / "first.eml", msg("first"))
    cli.ok("import", str(tmp_path / "first.eml"))
    cli.ok("mv", "subject:first", "sent")

    # A dry run lists the sources, their folders and message counts, and stores nothing.
    dry = cli.ok("import", str(tree), str(tmp_path / "given.mbox"), "--dry-run", "--json")
    plan = {Path(s["path"]).relative_to(tmp_path).as_posix(): (s["kind"], s["folder"],
                                                                s["messages"])
            for s in dry.json()["sources"]}
    assert plan == {
        "backup/Maildir": ("maildir", "INBOX", 4),
        "backup/Maildir/.Sent": ("maildir", "Sent", 1),
        "backup/Maildir/.Archive.2023": ("maildir", "Archive.2023", 1),
        "backup/work/projects": ("maildir", "work/projects", 1),
        "backup/Local Folders/Inbox": ("mbox", "Local Folders/Inbox", 1),
        "backup/Local Folders/Archives.sbd/2023": ("mbox", "Local Folders/Archives/2023", 1),
        "backup/Local Folders/old.mbox": ("mbox", "Local Folders/old", 1),
        "given.mbox": ("mbox", "INBOX", 2),
    }
    assert dry.json()["messages"] == 12 and dry.json()["failures"] == []
    human = cli.ok("import", str(tree), "--dry-run").out
    assert "work/projects" in human and "would import up to 10 message(s) from 7 source(s)" \
        in human
    assert [r["subject"] for r in listing(cli)] == ["first"]  # nothing imported
    summary = cli.ok("import", str(tree), str(tmp_path / "given.mbox"), "--json").json()
    assert (summary["imported"], summary["failed"]) == (12, 0)
    assert _state(listing(cli)) == {
        "first": ("sent", "", []),
        "seen": ("INBOX", "R", []),
        "flagged and replied": ("INBOX", "FA", []),
        "no flags": ("INBOX", "", []),
        "new mail": ("INBOX", "", []),
        "sent": ("sent", "R", []),
        "odd": ("Archive.2023", "", ["deleted", "draft", "passed"]),
        "work": ("work/projects", "RA", []),
        "mbox read": ("INBOX", "RFA", []),  # an mbox named on the command line: INBOX
        "mbox unread": ("INBOX", "", []),
        "tb inbox": ("Local Folders/Inbox", "", []),
        "tb archived": ("Local Folders/Archives/2023", "", []),
        "tb old": ("Local Folders/old", "", []),
    }
    # The counters the sidebar and `folders` show follow the imported state.
    folders = {f["folder"]: (f["total"], f["unread"])
               for f in cli.ok("folders", "--json").json()}
    assert folders == {"INBOX": (6, 4), "sent": (2, 1), "Archive.2023": (1, 1),
                       "work/projects": (1, 0), "Local Folders/Inbox": (1, 1),
                       "Local Folders/Archives/2023": (1, 1), "Local Folders/old": (1, 1)}
    assert {r["subject"] for r in cli.ok("ls", "is:flagged", "--json").json()} == \
        {"flagged and replied", "mbox read"}
    assert len(cli.ok("search", "tag:draft is:unread", "--json").json()) == 1
    ids = {r["subject"]: r["id"] for r in listing(cli)}
    assert "Mailbox: folder Archive.2023 · tags deleted, draft, passed" in \
        cli.ok("show", str(ids["odd"])).out
    assert "Mailbox: flagged · replied" in cli.ok("show", str(ids["flagged and replied"])).out
    assert "Mailbox:" not in cli.ok("show", str(ids["new mail"])).out  # new mail in INBOX
    assert cli.ok("show", str(ids["sent"]), "--json").json()["mailbox"] == {
        "folder": "sent", "tags": [], "read": True, "flagged": False, "replied": False}

    # A maildir export writes the flags (and D, P, T for those tags) back.
    out = tmp_path / "out"
    cli.ok("export", "--to", str(out), "--format", "maildir")
    home2 = tmp_path / "home2"
    again = Cli(home2)
    again.ok("import", str(out))
    flags = {subject: (state[1], state[2]) for subject, state in _state(listing(again)).items()}
    assert flags == {subject: (state[1], state[2])
                     for subject, state in _state(listing(cli)).items()}
    # By folder: one maildir a folder, which an import reads back into the same folders.
    tree_out = tmp_path / "by-folder"
    cli.ok("export", "--to", str(tree_out), "--format", "maildir", "--folders")
    assert (tree_out / "cur").is_dir() and (tree_out / "Local Folders" / "Archives" / "2023"
                                            / "cur").is_dir()
    third = Cli(tmp_path / "home3")
    third.ok("import", str(tree_out))
    assert _state(listing(third)) == _state(listing(cli))
    bad = cli("export", "--to", str(tmp_path / "x.mbox"), "--format", "mbox", "--folders")
    assert bad.code == 2 and "exporting by folder needs --format maildir" in bad.err


def test_export_eml_and_maildir_roundtrip_byte_for_byte(cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i, data in enumerate(ODD_MESSAGES):
        write(src / f"{i}.eml", data)
    assert cli.ok("import", str(src), "--json").json()["imported"] == len(ODD_MESSAGES)
    rows = listing(cli)
    original = {r["sha256"]: r["id"] for r in rows}
    received = {r["sha256"]: r["received_at"] for r in rows}
    assert set(original) == {sha(m) for m in ODD_MESSAGES}

    eml_dir = tmp_path / "out-eml"
    summary = cli.ok("export", "--to", str(eml_dir), "--json").json()
    assert summary == {"format": "eml", "to": str(eml_dir), "exported": len(ODD_MESSAGES),
                       "bytes": sum(len(m) for m in ODD_MESSAGES)}
    assert sorted(p.name for p in eml_dir.iterdir()) == sorted(
        f"{i}.eml" for i in original.values())
    for digest, msg_id in original.items():
        assert sha((eml_dir / f"{msg_id}.eml").read_bytes()) == digest

    md = tmp_path / "out-md"
    cli.ok("export", "--to", str(md), "--format", "maildir")
    names = [p.name for p in (md / "cur").iterdir()]
    assert len(names) == len(set(names)) == len(ODD_MESSAGES)
    assert all(re.fullmatch(r"\d+\.M\d+P\d+Q\d+\.[^/:]+:2,[A-Z]*", n) for n in names), names
    assert list((md / "new").iterdir()) == [] and list((md / "tmp").iterdir()) == []

    for export in (eml_dir, md):
        fresh = Cli(tmp_path / f"fresh-{export.name}")
        fresh.home.mkdir()
        fresh.ok("import", str(export))
        again = listing(fresh)
        assert {r["sha256"] for r in again} == set(original), export.name
        # The received time travels too (file mtime for .eml, the name for maildir).
        for r in again:
            assert abs(r["received_at"] - received[r["sha256"]]) < 1e-5, export.name


def test_export_mbox_quotes_from_and_reimports(cli: Cli, tmp_path: Path) -> None:
    box_src = write(tmp_path / "in.mbox",
                    b"From sender@example.test Mon Jan  2 10:00:00 2023\n" + msg("envelope"))
    for i, data in enumerate(ODD_MESSAGES[:3]):
        write(tmp_path / "odd" / f"{i}.eml", data)
    cli.ok("import", str(box_src), str(tmp_path / "odd"))
    out = tmp_path / "out" / "all.mbox"
    summary = cli.ok("export", "--to", str(out), "--format", "mbox", "--json").json()
    assert summary["exported"] == 4
    box = mailbox.mbox(out, create=False)
    try:
        got = {m["Subject"]: m for m in box}
        assert len(box) == 4
        assert got["envelope"].get_from().startswith("sender@example.test Mon Jan  2 10:00:00")
        assert got["crlf endings"].get_from().startswith("MAILER-DAEMON ")
        body = box.get_bytes(list(box.keys())[3])
        assert b"\n>From here on" in body  # the stdlib's mbox quoting changes bytes
    finally:
        box.close()
    fresh = Cli(tmp_path / "fresh")
    fresh.home.mkdir()
    assert fresh.ok("import", str(out), "--json").json()["imported"] == 4
    # Messages without "From " lines and ending in a newline come back exactly.
    assert sha(msg("envelope")) in stored(fresh)
    # A second export appends to the mbox.
    cli.ok("export", "envelope", "--to", str(out), "--format", "mbox")
    box = mailbox.mbox(out, create=False)
    assert len(box) == 5
    box.close()
    not_mbox = write(tmp_path / "notes.txt", b"precious notes\n")
    res = cli("export", "--to", str(not_mbox), "--format", "mbox")
    assert res.code == 2 and "not an mbox" in res.err
    assert not_mbox.read_bytes() == b"precious notes\n"


def test_export_query_limit_and_bad_format(cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(5):
        write(src / f"{i}.eml", msg(f"invoice {i}" if i % 2 == 0 else f"note {i}"))
    cli.ok("import", str(src))
    ids = {r["subject"]: r["id"] for r in cli.ok("ls", "--json").json()}
    out = tmp_path / "inv"
    assert cli.ok("export", "invoice", "--to", str(out), "--json").json()["exported"] == 3
    assert {p.name for p in out.iterdir()} == {f"{ids[f'invoice {i}']}.eml" for i in (0, 2, 4)}
    notes = tmp_path / "notes"  # a query starting with "-", between options
    assert cli.ok("export", "-f", "eml", "-invoice", "--to", str(notes),
                  "--json").json()["exported"] == 2
    newest = tmp_path / "newest"
    cli.ok("export", "--limit", "2", "--to", str(newest))
    assert {p.name for p in newest.iterdir()} == {f"{ids['invoice 4']}.eml",
                                                  f"{ids['note 3']}.eml"}
    res = cli("export", "--to", str(tmp_path / "x"), "--format", "pst")
    assert res.code == 2 and "unknown format" in res.err
    afile = write(tmp_path / "afile", b"x")
    res = cli("export", "--to", str(afile))
    assert res.code == 2 and "not a directory" in res.err
    assert "Traceback" not in res.err


def test_help_has_examples(cli: Cli) -> None:
    for command in ("import", "export"):
        out = cli.ok(command, "--help").out
        assert "Example" in out and f"mailops {command} " in out


ATTACHMENT_MESSAGE = b"""\
From: Alice <alice@example.test>
To: bob@example.test
Subject: show options
Message-ID: <show@example.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

Plain body text.
--alt
Content-Type: text/html; charset=utf-8

<html><body><p>HTML <b>body</b> <a href="https://example.test/x">link</a></p></body></html>
--alt--
--outer
Content-Type: application/octet-stream
Content-Disposition: attachment; filename="../../evil"
Content-Transfer-Encoding: base64

ZXZpbCBieXRlcw==
--outer
Content-Type: text/plain
Content-Disposition: attachment; filename="report.txt"

report contents
--outer
Content-Type: application/octet-stream
Content-Disposition: attachment; filename="/etc/passwd"

not the real one
--outer--
"""


def test_show_options(cli: Cli, tmp_path: Path) -> None:
    src = write(tmp_path / "show.eml", ATTACHMENT_MESSAGE)
    cli.ok("import", str(src))
    msg_id = str(cli.ok("ls", "--json").json()[0]["id"])

    headers = cli.ok("show", msg_id, "--headers").stdout_bytes
    assert headers == ATTACHMENT_MESSAGE[: ATTACHMENT_MESSAGE.index(b"\n\n") + 2]

    html = cli.ok("show", msg_id, "--html").out
    assert "<b>body</b>" in html

    shown = cli.ok("show", msg_id, "--json").json()
    numbers = {p["filename"] or p["content_type"]: p["number"] for p in shown["parts"]}
    assert shown["headers"]["subject"] == "show options"
    assert "Plain body text." in shown["text"]
    assert shown["links"] == ["https://example.test/x"]
    assert shown["attachments"] == ["../../evil", "report.txt", "/etc/passwd"]
    assert cli.ok("show", msg_id, "--part", str(numbers["../../evil"])).stdout_bytes \
        == b"evil bytes"
    assert cli.ok("show", msg_id, "--part", str(numbers["text/plain"])).stdout_bytes \
        == b"Plain body text."  # the newline before a boundary belongs to it
    res = cli("show", msg_id, "--part", "99")
    assert res.code == 5 and "no part 99" in res.err

    out = tmp_path / "deep" / "attachments"
    saved = [Path(line) for line in cli.ok("show", msg_id, "--save-attachments", str(out))
             .out.splitlines()]
    assert len(saved) == 3
    for path in saved:
        assert path.resolve().parent == out.resolve(), path
    assert (out / "evil").read_bytes() == b"evil bytes"
    assert (out / "passwd").read_bytes() == b"not the real one"
    assert not (tmp_path / "evil").exists() and not (tmp_path / "deep" / "evil").exists()
    # Saving again never overwrites: new names, same directory.
    again = cli.ok("show", msg_id, "--save-attachments", str(out)).out.splitlines()
    assert {Path(p).resolve().parent for p in again} == {out.resolve()}
    assert len(list(out.iterdir())) == 6


# Messages as a person's mail can be: headers (some folded, some 8-bit), a blank
# line or none, any body bytes (NUL, CR without LF, no final newline), either
# line ending. Not empty (an empty file is not a message).
_HEADER = st.tuples(st.sampled_from(["Subject", "From", "To", "X-Junk", "Content-Type"]),
                    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" ")))
_MESSAGE = st.builds(
    lambda headers, sep, body, crlf: (
        b"".join(k.encode() + b": " + v + b"\n" for k, v in headers) + sep + body
    ).replace(b"\n", b"\r\n" if crlf else b"\n"),
    st.lists(_HEADER, max_size=5), st.sampled_from([b"\n", b""]), st.binary(max_size=300),
    st.booleans()).filter(bool)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_MESSAGE, min_size=1, max_size=6))
@example([b"From someone at the start\nbody\n", b"\r\n", b"x"])
def test_export_then_import_gives_identical_bytes(tmp_path: Path, raws: list[bytes]) -> None:
    """Any messages: import, export as eml and as maildir, import each export into a
    fresh store: the same set of exact bytes every time."""
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    for i, raw in enumerate(raws):
        # As a maildir: an .eml file starting "From " would be read as an mbox.
        write(maildir(work / "src") / "cur" / f"{1700000000 + i}.M{i}P1Q1.test:2,", raw)
    expected = {sha(r): r for r in raws}
    with Store(work / "a.db") as store:
        result = run_import(store, plan([work / "src"]))
        assert (result.imported, result.failed) == (len(expected), 0)
        export_to(store, work / "eml", "eml")
        export_to(store, work / "md", "maildir")
    for name, out in (("eml", work / "eml"), ("md", work / "md")):
        with Store(work / f"{name}.db") as again:
            back = run_import(again, plan([out]))
            assert (back.imported, back.failed) == (len(expected), 0), name
            got = {r["sha256"]: again.raw(r["id"]) for r in again.list(limit=100)}
        assert got == expected, name


@pytest.mark.parametrize("folder,where", [
    ("INBOX", "."), ("inbox", "."), ("Sent", "Sent"), ("work/projects", "work/projects"),
    ("../escape", "_../escape"), ("/abs", "_/abs"), ("a//b", "a/_/b"), (".hidden", "_.hidden"),
    ("x/cur", "x/_cur"), ("Maildir/x", "_Maildir/x"), ("x/Maildir", "x/Maildir"),
])
def test_export_by_folder_stays_inside_the_target(tmp_path: Path, folder: str,
                                                  where: str) -> None:
    target = tmp_path / "out"
    placed = folder_dir(target, folder)
    assert placed == (target / where if where != "." else target)
    assert placed.resolve().is_relative_to(target.resolve())
