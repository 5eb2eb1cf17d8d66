"""Backup (online, while the daemon writes), verification and restore."""

from __future__ import annotations

import hashlib
import smtplib
import sqlite3
import threading
import time
from pathlib import Path

import zstandard
from conftest import Cli, Server, start_server
from serve_support import message, store_path


def import_messages(cli: Cli, tmp_path: Path, n: int, prefix: str = "old") -> None:
    folder = tmp_path / f"eml-{prefix}"
    folder.mkdir()
    for i in range(n):
        (folder / f"{i}.eml").write_bytes(message(f"{prefix} {i}", f"body {i}\r\n" * 20))
    cli.ok("import", str(folder))


def digests(path: Path) -> dict[int, str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        out = {int(r[0]): str(r[1]) for r in db.execute("SELECT id, sha256 FROM messages")}
    db.close()
    return out


def one_line_error(err: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mailops: error:"), err


def test_backup_while_the_daemon_ingests(cli: Cli, home: Path, server: Server,
                                         tmp_path: Path) -> None:
    import_messages(cli, tmp_path, 200)
    sent: list[str] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def stream() -> None:
        try:
            with smtplib.SMTP(server.host, server.port, timeout=30) as smtp:
                while not stop.is_set():
                    subject = f"live {len(sent)}"
                    smtp.sendmail("a@example.test", ["b@example.test"],
                                  message(subject, ("x" * 70 + "\r\n") * 70))
                    sent.append(subject)
        except BaseException as exc:  # reported below
            failures.append(exc)

    sender = threading.Thread(target=stream)
    sender.start()
    copies = []
    try:
        time.sleep(0.3)
        for n in range(3):
            before = len(sent)
            dest = tmp_path / f"copy{n}.db"
            res = cli.ok("backup", str(dest), "--json").json()
            after = len(sent)
            assert res["path"] == str(dest)
            # One snapshot: everything acknowledged before the backup began is in it.
            assert 200 + before <= res["messages"] <= 200 + after + 1
            copies.append((dest, res["messages"]))
            time.sleep(0.2)
    finally:
        stop.set()
        sender.join(timeout=60)
    assert not failures, failures
    assert len(sent) > 20  # the daemon kept accepting mail meanwhile

    live = digests(store_path(home))
    for dest, count in copies:
        assert not Path(f"{dest}-wal").exists()  # one self-contained file
        with sqlite3.connect(f"file:{dest}?mode=ro", uri=True) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == count
        db.close()
        check = cli.ok("backup", "--verify", str(dest), "--json").json()
        assert check["ok"] is True and check["messages"] == count
        assert check["hashes_checked"] == count and check["problems"] == []
        copied = digests(dest)
        assert all(live[i] == d for i, d in copied.items())  # same messages, same bytes
    assert copies[0][1] < copies[-1][1]


def test_backup_into_a_directory_and_overwrite_rules(cli: Cli, tmp_path: Path) -> None:
    import_messages(cli, tmp_path, 3)
    out = tmp_path / "backups"
    out.mkdir()
    first = cli.ok("backup", str(out), "--json").json()
    second = cli.ok("backup", str(out), "--json").json()
    name = Path(first["path"]).name
    assert name.startswith("mailops-") and name.endswith("Z.db")
    assert first["path"] != second["path"] and first["messages"] == 3
    res = cli("backup", first["path"])
    assert res.code == 9 and "--force" in res.err
    one_line_error(res.err)
    cli.ok("backup", first["path"], "--force")
    res = cli("backup", str(tmp_path / "no" / "such" / "dir.db"))
    assert res.code == 9
    one_line_error(res.err)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [name, Path(second["path"]).name])  # no temporary files left


def test_backup_without_a_store(cli: Cli, tmp_path: Path) -> None:
    res = cli("backup", str(tmp_path / "x.db"))
    assert res.code == 4
    one_line_error(res.err)


def test_verify_finds_damage(cli: Cli, tmp_path: Path) -> None:
    import_messages(cli, tmp_path, 5)
    good = tmp_path / "good.db"
    cli.ok("backup", str(good))
    res = cli.ok("backup", "--verify", str(good))
    assert res.out.startswith("ok:") and "5 message(s)" in res.out

    # A body replaced by other (valid) bytes: its sha256 no longer matches.
    swapped = tmp_path / "swapped.db"
    swapped.write_bytes(good.read_bytes())
    with sqlite3.connect(swapped) as db:
        db.execute("UPDATE bodies SET raw = ? WHERE id = 2",
                   (zstandard.ZstdCompressor().compress(b"not the message"),))
        db.execute("UPDATE bodies SET raw = ? WHERE id = 3", (b"garbage",))
        db.execute("DELETE FROM bodies WHERE id = 4")
    db.close()
    res = cli("backup", "--verify", str(swapped), "--json")
    assert res.code == 9
    one_line_error(res.err)
    report = res.json()
    assert report["ok"] is False
    assert report["hash_mismatches"] == [2]
    assert report["unreadable_bodies"] == [3]
    assert report["missing_bodies"] == [4]
    assert "damaged" in res.err and "2 more problem(s)" in res.err

    # Flipped bytes in the middle of the file: one line, exit 9, no traceback.
    broken = tmp_path / "broken.db"
    data = bytearray(good.read_bytes())
    for at in range(4096, len(data), 4096):  # the header of every page after the first
        data[at:at + 8] = b"\xff" * 8
    broken.write_bytes(bytes(data))
    res = cli("backup", "--verify", str(broken))
    assert res.code == 9 and "Traceback" not in res.err
    one_line_error(res.err)

    for bad, needle in ((tmp_path / "missing.db", "no backup file"),
                        (tmp_path / "text.db", "not a mailops backup")):
        if bad.name == "text.db":
            bad.write_text("hello, I am not a database\n" * 100)
        res = cli("backup", "--verify", str(bad))
        assert res.code == 9 and needle in res.err
        one_line_error(res.err)
    res = cli("restore", str(tmp_path / "missing.db"))
    assert res.code == 9 and "no backup file" in res.err


def test_restore_round_trip_and_refusals(cli: Cli, home: Path, tmp_path: Path) -> None:
    import_messages(cli, tmp_path, 4, prefix="first")
    backup = tmp_path / "b.db"
    cli.ok("backup", str(backup))
    before = digests(store_path(home))
    import_messages(cli, tmp_path, 3, prefix="later")

    res = cli("restore", str(backup))
    assert res.code == 20 and "7 message(s)" in res.err and "--force" in res.err
    one_line_error(res.err)
    assert len(digests(store_path(home))) == 7  # untouched

    done = cli.ok("restore", str(backup), "--force", "--json").json()
    assert done["messages"] == 4 and done["previous_messages"] == 7
    assert done["previous"] == f"{store_path(home)}.bak"
    assert digests(store_path(home)) == before
    assert len(digests(Path(done["previous"]))) == 7  # the replaced store is kept
    subjects = {r["subject"] for r in cli.ok("ls", "--json").json()}
    assert subjects == {f"first {i}" for i in range(4)}
    assert cli.ok("search", "first", "--json").json()  # the index came back too

    # A second restore keeps the first .bak and adds .bak.1.
    again = cli.ok("restore", str(backup), "--force", "--json").json()
    assert again["previous"] == f"{store_path(home)}.bak.1"

    # A damaged backup is never restored.
    bad = tmp_path / "bad.db"
    bad.write_bytes(backup.read_bytes())
    with sqlite3.connect(bad) as db:
        db.execute("UPDATE messages SET sha256 = 'x' WHERE id = 1")
    db.close()
    res = cli("restore", str(bad), "--force")
    assert res.code == 9 and "fails verification" in res.err
    one_line_error(res.err)
    assert digests(store_path(home)) == before


def test_restore_into_a_fresh_home(cli: Cli, tmp_path: Path) -> None:
    import_messages(cli, tmp_path, 2)
    backup = tmp_path / "b.db"
    cli.ok("backup", str(backup))
    other = Cli(tmp_path / "other-home")
    other.home.mkdir()
    done = other.ok("restore", str(backup), "--json").json()
    assert done["messages"] == 2 and done["previous"] is None
    assert len(other.ok("ls", "--json").json()) == 2
    assert other.ok("backup", "--verify", str(store_path(other.home))).out.startswith("ok:")


def test_restore_refuses_while_the_daemon_runs(cli: Cli, home: Path, tmp_path: Path) -> None:
    import_messages(cli, tmp_path, 2)
    backup = tmp_path / "b.db"
    cli.ok("backup", str(backup))
    srv = start_server(home)
    try:
        res = cli("restore", str(backup), "--force")
        assert res.code == 20 and "in use" in res.err
        one_line_error(res.err)
        with smtplib.SMTP(srv.host, srv.port, timeout=30) as smtp:  # still serving
            smtp.sendmail("a@example.test", ["b@example.test"], message("after refusal"))
    finally:
        assert srv.stop() == 0
    done = cli.ok("restore", str(backup), "--force", "--json").json()
    assert done["messages"] == 2 and done["previous_messages"] == 3
    srv = start_server(home)  # the daemon runs on the restored store
    try:
        with smtplib.SMTP(srv.host, srv.port, timeout=30) as smtp:
            smtp.sendmail("a@example.test", ["b@example.test"], message("after restore"))
        cli.ok("wait", "after restore", "--timeout", "30")
    finally:
        srv.stop()
    with sqlite3.connect(store_path(home)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 3
        raw = db.execute("SELECT sha256 FROM messages ORDER BY id DESC").fetchone()[0]
    db.close()
    assert raw == hashlib.sha256(message("after restore")).hexdigest()
