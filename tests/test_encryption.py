"""Encryption at rest: `mailops init --encrypt`, key sources, wrong keys, no plaintext."""

from __future__ import annotations

import base64
import json
import os
import smtplib
import sqlite3
import stat
import time
from pathlib import Path

import pytest
from conftest import Cli, start_server
from serve_support import message

WORD = "xylophonically"  # in every body: must never appear on disk in clear
SUBJECT = "Quokka itinerary"

KEYRING_BACKEND = '''
import json
import os

import keyring.backend


class Backend(keyring.backend.KeyringBackend):
    """A keyring kept in the JSON file $TEST_KEYRING_FILE (no OS keyring in CI)."""

    priority = 1

    def _load(self):
        path = os.environ["TEST_KEYRING_FILE"]
        return json.load(open(path)) if os.path.exists(path) else {}

    def get_password(self, service, username):
        return self._load().get(f"{service} {username}")

    def set_password(self, service, username, password):
        data = self._load()
        data[f"{service} {username}"] = password
        json.dump(data, open(os.environ["TEST_KEYRING_FILE"], "w"))

    def delete_password(self, service, username):
        data = self._load()
        data.pop(f"{service} {username}", None)
        json.dump(data, open(os.environ["TEST_KEYRING_FILE"], "w"))
'''


def one_line_error(err: str, code_text: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mailops: error:"), err
    assert code_text in lines[0], err


def files_of(home: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of the store with its bytes and mtime (to prove nothing changed)."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(home.iterdir()) if p.is_file() and p.name.startswith("mailops.db")}


def assert_no_plaintext(*paths: Path) -> None:
    for path in paths:
        data = path.read_bytes()
        for needle in (WORD, SUBJECT, "example.test"):
            assert needle.encode() not in data, f"{needle!r} in clear in {path.name}"


def write_eml(folder: Path, n: int, prefix: str) -> Path:
    folder.mkdir()
    for i in range(n):
        (folder / f"{i}.eml").write_bytes(message(f"{SUBJECT} {prefix} {i}",
                                                  f"{WORD} {prefix} {i}\r\n" * 30))
    return folder


def search_ids(cli: Cli, query: str, env: dict[str, str] | None = None) -> list[int]:
    return sorted(r["id"] for r in cli.ok("search", query, "--json", env=env).json())


def test_served_mail_and_backups_hold_no_plaintext(cli: Cli, home: Path,
                                                   tmp_path: Path) -> None:
    key = tmp_path / "keys" / "store.key"
    out = cli.ok("init", "--encrypt", "--key-file", str(key), "--json").json()
    assert out["encrypted"] and out["key_source"] == "keyfile"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    marker = (home / "mailops.db.encryption.json").read_text()
    assert key.read_text().strip() not in marker  # where the key is, never the key
    # Over 1 MB compressed (random data does not compress): the big-body path.
    big = message("big one", base64.encodebytes(os.urandom(1_200_000)).decode()
                  .replace("\n", "\r\n"))
    srv = start_server(home)
    try:
        with smtplib.SMTP(srv.host, srv.port, timeout=30) as smtp:
            for i in range(5):
                smtp.sendmail("a@example.test", ["b@example.test"],
                              message(f"{SUBJECT} {i}", f"{WORD} number {i}\r\n" * 40))
            smtp.sendmail("a@example.test", ["b@example.test"], big)
        deadline = time.monotonic() + 30  # the indexer child catches up
        while len(search_ids(cli, WORD)) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert search_ids(cli, WORD) == [1, 2, 3, 4, 5]
        assert search_ids(cli, "subject:quokka") == [1, 2, 3, 4, 5]
        assert cli.ok("show", "6", "--raw").stdout_bytes == big
        # While the daemon runs: the database, its WAL and shared memory.
        live = [p for p in home.iterdir() if p.name.startswith("mailops.db")]
        assert {p.name for p in live} >= {"mailops.db", "mailops.db-wal"}
        assert_no_plaintext(*live)
        backups = tmp_path / "backups"
        backups.mkdir()
        copy = Path(cli.ok("backup", str(backups), "--json").json()["path"])
        # SQLCipher's "database is locked" is handled as sqlite3's: refused, exit 20.
        res = cli("restore", str(copy), "--force")
        assert res.code == 20, res.err
        one_line_error(res.err, "in use by another process")
    finally:
        srv.stop()
    assert_no_plaintext(copy)
    assert Path(f"{copy}.encryption.json").exists()
    report = cli.ok("backup", "--verify", str(copy), "--json").json()
    assert report["ok"] and report["messages"] == 6 and report["hashes_checked"] == 6
    assert cli.ok("restore", str(copy), "--force").out.startswith("restored 6 message(s)")
    assert (home / "mailops.db.bak.encryption.json").exists()  # the old store stays openable
    assert search_ids(cli, WORD) == [1, 2, 3, 4, 5]
    assert_no_plaintext(home / "mailops.db")
    # A key file others can read is refused before it is used.
    key.chmod(0o644)
    res = cli("ls")
    assert res.code == 24
    one_line_error(res.err, "chmod 600")


def test_keyring_key_and_missing_or_wrong_key_change_nothing(cli: Cli, home: Path,
                                                             tmp_path: Path) -> None:
    (tmp_path / "test_keyring_backend.py").write_text(KEYRING_BACKEND)
    ring = tmp_path / "keyring.json"
    cli.env.update({"PYTHONPATH": os.pathsep.join([str(tmp_path),
                                                   os.environ.get("PYTHONPATH", "")]),
                    "PYTHON_KEYRING_BACKEND": "test_keyring_backend.Backend",
                    "TEST_KEYRING_FILE": str(ring)})
    cli.ok("init", "--encrypt")
    store_id = json.loads((home / "mailops.db.encryption.json").read_text())["store_id"]
    entries = json.loads(ring.read_text())
    assert list(entries) == [f"mailops store-{store_id}"]
    assert len(bytes.fromhex(entries[f"mailops store-{store_id}"])) == 32
    cli.ok("import", str(write_eml(tmp_path / "a", 3, "a")))
    assert search_ids(cli, WORD) == [1, 2, 3]
    assert_no_plaintext(*(p for p in home.iterdir() if p.name.startswith("mailops.db")))
    before = files_of(home)
    later = write_eml(tmp_path / "b", 2, "b")
    dest = tmp_path / "backup.db"
    ring.write_text("{}")  # the key is gone
    for args in (("ls",), ("import", str(later)), ("backup", str(dest))):
        res = cli(*args)
        assert res.code == 24, (args, res.err)
        one_line_error(res.err, "no key for this store in the OS keyring")
    ring.write_text(json.dumps({f"mailops store-{store_id}": os.urandom(32).hex()}))
    for args in (("search", WORD), ("import", str(later))):
        res = cli(*args)
        assert res.code == 24, (args, res.err)
        one_line_error(res.err, "wrong key")
    assert files_of(home) == before and not dest.exists()
    ring.write_text(json.dumps(entries))  # the right key again
    cli.ok("import", str(later))
    assert search_ids(cli, WORD) == [1, 2, 3, 4, 5]


def test_passphrase_from_the_environment(cli: Cli, home: Path, tmp_path: Path) -> None:
    cli.env.pop("MAILOPS_PASSPHRASE", None)
    good = {"MAILOPS_PASSPHRASE": "correct horse 'battery' staple"}
    cli.ok("init", "--encrypt", "--key-source", "passphrase", env=good)
    cli.ok("import", str(write_eml(tmp_path / "a", 2, "a")), env=good)
    assert search_ids(cli, WORD, env=good) == [1, 2]
    before = files_of(home)
    res = cli("ls", env={"MAILOPS_PASSPHRASE": "Correct horse 'battery' staple"})
    assert res.code == 24
    one_line_error(res.err, "wrong key")
    res = cli("ls", input=b"")  # no variable, and stdin is not a terminal
    assert res.code == 24
    one_line_error(res.err, "set MAILOPS_PASSPHRASE")
    assert files_of(home) == before
    copy = tmp_path / "copy.db"
    cli.ok("backup", str(copy), env=good)
    assert_no_plaintext(copy, *(p for p in home.iterdir() if p.name.startswith("mailops.db")))
    assert cli.ok("backup", "--verify", str(copy), "--json", env=good).json()["messages"] == 2
    res = cli("backup", "--verify", str(copy), env={"MAILOPS_PASSPHRASE": "nope"})
    assert res.code == 24


def test_init_choices_and_refusals(cli: Cli, home: Path, tmp_path: Path) -> None:
    assert cli("init", "--key-source", "keyring").code == 2  # needs --encrypt
    loose = tmp_path / "loose.key"
    loose.write_text(os.urandom(32).hex() + "\n")
    loose.chmod(0o644)
    res = cli("init", "--encrypt", "--key-file", str(loose))
    assert res.code == 24
    one_line_error(res.err, "readable by others")
    assert not any(home.iterdir())  # nothing half-made
    loose.chmod(0o600)  # an existing key file is reused, e.g. to restore elsewhere
    assert "existing key file" in cli.ok("init", "--encrypt", "--key-file", str(loose)).out
    res = cli("init")
    assert res.code == 4
    one_line_error(res.err, "already exists")
    plain = Cli(tmp_path / "plain")
    plain.ok("init")
    assert (tmp_path / "plain" / "mailops.db").read_bytes()[:16] == b"SQLite format 3\x00"
    assert not (tmp_path / "plain" / "mailops.db.encryption.json").exists()


def test_sqlcipher_errors_are_caught_as_sqlite3_errors() -> None:
    # The store's `except sqlite3.X` handlers must see SQLCipher connections' errors.
    from mailops.store.crypto import _sqlcipher

    db = _sqlcipher().connect(":memory:")
    with pytest.raises(sqlite3.OperationalError):
        db.execute("SELEC 1")
    db.execute("CREATE TABLE t (x UNIQUE)")
    db.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO t VALUES (1)")
    db.close()


def test_convert_a_plain_store_in_place(cli: Cli, home: Path, tmp_path: Path) -> None:
    cli.ok("import", str(write_eml(tmp_path / "a", 3, "a")))
    cli.ok("tag", WORD, "+kept")
    key = tmp_path / "store.key"
    with sqlite3.connect(home / "mailops.db") as other:  # another process has it open
        other.execute("SELECT count(*) FROM messages").fetchone()
        res = cli("init", "--encrypt", "--key-file", str(key), "--convert")
        assert res.code == 20, res.err
        one_line_error(res.err, "in use by another process")
    other.close()
    assert not (home / "mailops.db.encryption.json").exists()
    out = cli.ok("init", "--encrypt", "--key-file", str(key), "--convert", "--json").json()
    assert out["converted"] and "3 messages" in out["note"]
    assert search_ids(cli, f"{WORD} tag:kept") == [1, 2, 3]  # index and tags came along
    assert_no_plaintext(*(p for p in home.iterdir() if p.name.startswith("mailops.db")))
