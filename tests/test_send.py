"""`mailops send` against a real `mailops serve` subprocess (loopback only)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import socket
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
from conftest import Cli, Result, Server, start_server

T = TypeVar("T")


@dataclass
class Catcher:
    """One shared catcher: plain port with STARTTLS, an implicit-TLS port, AUTH any."""

    server: Server
    plain: str
    tls: str
    cert: Path
    cli: Cli


@pytest.fixture(scope="module")
def catcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catcher]:
    home = tmp_path_factory.mktemp("send-home")
    srv = start_server(home, "--starttls", "--auth", "any", "--tls-listen", "127.0.0.1:0")
    # start_server's pid file sits next to its log; it lists every bound address.
    addresses = srv.log.with_suffix(".pid").read_text().split()[1:]
    yield Catcher(srv, addresses[0], addresses[1], home / "tls" / "selfsigned.crt", Cli(home))
    srv.stop()


def send_json(c: Catcher, *args: str, server: str | None = None, **kw: Any) -> dict[str, Any]:
    """Run `mailops send --json` against the catcher; assert success."""
    res = c.cli.ok("send", "--server", server or c.plain, *args, "--json", **kw)
    data: dict[str, Any] = res.json()
    assert data["ok"] is True
    return data


def stored_id(result: dict[str, Any]) -> int:
    """The store id the catcher put in its final 250 reply."""
    m = re.search(r"stored as (\d+)", result["reply"]["text"])
    assert m, result["reply"]
    return int(m.group(1))


def rows(cli: Cli, *msg_ids: int) -> list[dict[str, Any]]:
    """The `ls --json` rows of these messages, in the order asked."""
    by_id = {r["id"]: r for r in cli.ok("ls", "--json", "--limit", "1000").json()}
    return [by_id[i] for i in msg_ids]


def row(cli: Cli, msg_id: int) -> dict[str, Any]:
    """The `ls --json` row of one message."""
    return rows(cli, msg_id)[0]


def run_all(cli: Cli, calls: Sequence[Sequence[str]], **kw: Any) -> list[Result]:
    """Run independent CLI calls at once (each is a subprocess; this keeps the file fast)."""
    return together(*[partial(cli, *args, **kw) for args in calls])


def together(*calls: Callable[[], T]) -> list[T]:
    """Results of independent calls, run concurrently."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda call: call(), calls))


def raw(cli: Cli, msg_id: int) -> bytes:
    return cli.ok("show", str(msg_id), "--raw").stdout_bytes


def fails(res: Result, code: int, *fragments: str) -> str:
    """Assert an error exit: the code, one stderr line, no traceback."""
    assert res.code == code, f"exit {res.code}, wanted {code}\n{res.err}"
    assert "Traceback" not in res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mailops: error: "), res.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def session_log(srv: Server, helo: str) -> str:
    """The daemon's session log line for an EHLO name (written when the session ends)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = [ln for ln in srv.log_text().splitlines() if " session " in ln
                 and f"helo={helo} " in ln]
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no session line for {helo}:\n{srv.log_text()}")


# --- messages ------------------------------------------------------------------------


def test_plain_text_message(catcher: Catcher) -> None:
    out = send_json(catcher, "--from", "Alice <alice@example.test>", "--to", "bob@example.test",
                    "--subject", "plain hello", "--body", "hello from send", "--ehlo", "plain.test")
    r, data = together(partial(row, catcher.cli, stored_id(out)),
                       partial(raw, catcher.cli, stored_id(out)))
    assert r["subject"] == "plain hello"
    assert r["from"] == "Alice <alice@example.test>"
    assert r["to"] == ["bob@example.test"]
    assert r["mail_from"] == "alice@example.test"
    assert r["rcpt_to"] == ["bob@example.test"]
    assert r["message_id"] == out["message_id"]
    assert b"\r\nDate: " in data and b"\r\nMessage-ID: <" + out["message_id"].encode() in data
    assert b"\r\n\r\nhello from send\r\n" in data
    assert out["envelope"] == {"mail_from": "alice@example.test",
                               "rcpt_to": ["bob@example.test"]}
    assert out["reply"]["code"] == 250 and out["size"] == len(data)
    # Default is plain: STARTTLS is offered here but not used unless asked for.
    assert out["tls"] is None
    stages = [s["stage"] for s in out["transcript"]]
    assert stages == ["connect", "ehlo", "mail", "rcpt", "data", "quit"]
    assert out["transcript"][1]["command"] == "EHLO plain.test"
    assert "tls=false" in session_log(catcher.server, "plain.test")


def test_attachments_round_trip(catcher: Catcher, tmp_path: Path) -> None:
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 50)
    text = tmp_path / "notes.txt"
    text.write_bytes("line one\r\nzweite Zeile: grüße\n".encode())
    out = send_json(catcher, "--to", "att@example.test", "--subject", "with attachments",
                    "--body", "see attached", "--attach", str(binary), "--attach", str(text))
    msg_id = str(stored_id(out))
    shown, part, save = run_all(catcher.cli, [
        ("show", msg_id, "--json"), ("show", msg_id, "--part", "2"),
        ("show", msg_id, "--save-attachments", str(tmp_path / "out"))])
    parts = {p["filename"]: p for p in shown.json()["parts"] if p["filename"]}
    assert parts["blob.bin"]["content_type"] == "application/octet-stream"
    assert parts["notes.txt"]["content_type"] == "text/plain"
    assert parts["blob.bin"]["number"] == 2
    assert part.code == 0 and part.stdout_bytes == binary.read_bytes()
    saved = save.out.split()
    assert sorted(Path(p).name for p in saved) == ["blob.bin", "notes.txt"]
    for p in saved:
        assert Path(p).read_bytes() == (tmp_path / Path(p).name).read_bytes()


def test_cc_bcc_envelope_and_comma_lists(catcher: Catcher) -> None:
    res = catcher.cli.ok("send", "--server", catcher.plain, "--to",
                         "a@example.test, Bee <b@example.test>", "--to", "c@example.test",
                         "--cc", "d@example.test", "--bcc", "hidden@example.test",
                         "--subject", "cc and bcc")
    assert res.out.startswith("sent <") and "to 5 recipients via" in res.out
    msg_id = int(re.findall(r"stored as (\d+)", res.out)[0])
    r, data = together(partial(row, catcher.cli, msg_id), partial(raw, catcher.cli, msg_id))
    assert r["rcpt_to"] == ["a@example.test", "b@example.test", "c@example.test",
                            "d@example.test", "hidden@example.test"]
    assert r["cc"] == ["d@example.test"]
    assert b"hidden@example.test" not in data and b"Bcc" not in data
    assert b"To: a@example.test, Bee <b@example.test>, c@example.test\r\n" in data


def test_custom_headers(catcher: Catcher) -> None:
    out, bad = together(
        partial(send_json, catcher, "--to", "h@example.test", "--subject", "replaced",
                "--header", "X-Campaign: spring", "--header", "Subject: from --header",
                "--header", "X-Tag: one", "--header", "X-Tag: two"),
        partial(catcher.cli, "send", "--server", catcher.plain, "--to", "h@example.test",
                "--header", "no colon here"))
    fails(bad, 2, "--header")
    data = raw(catcher.cli, stored_id(out))
    assert b"X-Campaign: spring\r\n" in data
    assert b"X-Tag: one\r\nX-Tag: two\r\n" in data
    assert data.count(b"Subject:") == 1 and b"Subject: from --header\r\n" in data


def test_eml_sent_byte_for_byte(catcher: Catcher, tmp_path: Path) -> None:
    eml = tmp_path / "saved.eml"
    content = (b"From: Saved <saved@example.test>\r\nTo: one@example.test\r\n"
               b"Cc: two@example.test\r\nSubject: saved message\r\n"
               b"Message-ID: <saved-1@example.test>\r\nX-Odd:   spacing kept  \r\n\r\n"
               b"body line\r\n.a line starting with a dot\r\n..two dots\r\n")
    eml.write_bytes(content)
    # The second send's envelope flags override the headers; the bytes stay the same.
    out, out2 = together(partial(send_json, catcher, "--eml", str(eml)),
                         partial(send_json, catcher, "--eml", str(eml), "--from",
                                 "bounce@example.test", "--to", "other@example.test"))
    assert out["message_id"] == "saved-1@example.test"
    first, second = stored_id(out), stored_id(out2)
    raw1, raw2, (r1, r2) = together(partial(raw, catcher.cli, first),
                                    partial(raw, catcher.cli, second),
                                    partial(rows, catcher.cli, first, second))
    assert raw1 == content and raw2 == content
    assert r1["mail_from"] == "saved@example.test"
    assert r1["rcpt_to"] == ["one@example.test", "two@example.test"]
    assert (r2["mail_from"], r2["rcpt_to"]) == ("bounce@example.test", ["other@example.test"])


def test_body_from_file_and_stdin(catcher: Catcher, tmp_path: Path) -> None:
    body = tmp_path / "body.txt"
    body.write_text("grüße aus einer Datei\n.leading dot\n", encoding="utf-8")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9".encode("latin-1"))
    from_file, from_stdin, bad = together(
        partial(send_json, catcher, "--to", "f@example.test", "--body", f"@{body}"),
        partial(send_json, catcher, "--to", "f@example.test", "--body", "-",
                input=b"piped in\nsecond line\n"),
        partial(catcher.cli, "send", "--server", catcher.plain, "--to", "f@example.test",
                "--body", f"@{latin1}"))
    fails(bad, 16, "not UTF-8")
    shown, piped = together(
        partial(catcher.cli.ok, "show", str(stored_id(from_file)), "--json"),
        partial(raw, catcher.cli, stored_id(from_stdin)))
    text = shown.json()["text"]
    assert "grüße aus einer Datei" in text and ".leading dot" in text
    assert b"piped in\r\nsecond line\r\n" in piped


# --- TLS and AUTH --------------------------------------------------------------------


def test_starttls(catcher: Catcher) -> None:
    out, insecure, untrusted = together(
        partial(send_json, catcher, "--to", "t@example.test", "--starttls", "--cafile",
                str(catcher.cert), "--ehlo", "starttls.test"),
        partial(send_json, catcher, "--to", "t@example.test", "--starttls", "--insecure"),
        partial(catcher.cli, "send", "--server", catcher.plain, "--to", "t@example.test",
                "--starttls"))
    assert out["tls"] == insecure["tls"] == "starttls"
    assert [s["stage"] for s in out["transcript"]][:4] == ["connect", "ehlo", "starttls", "ehlo"]
    assert "tls=true" in session_log(catcher.server, "starttls.test")
    # The self-signed certificate is not trusted by default.
    fails(untrusted, 11, "STARTTLS failed", "CERTIFICATE_VERIFY_FAILED")


def test_implicit_tls(catcher: Catcher) -> None:
    out, insecure, untrusted, plain_port = together(
        partial(send_json, catcher, "--to", "i@example.test", "--tls", "--cafile",
                str(catcher.cert), server=catcher.tls),
        partial(send_json, catcher, "--to", "i@example.test", "--tls", "--insecure",
                server=catcher.tls),
        partial(catcher.cli, "send", "--server", catcher.tls, "--to", "i@example.test", "--tls"),
        # Implicit TLS against a plain SMTP port: the handshake fails, not the connection.
        partial(catcher.cli, "send", "--server", catcher.plain, "--to", "i@example.test",
                "--tls", "--insecure"))
    assert out["tls"] == insecure["tls"] == "implicit" and out["reply"]["code"] == 250
    fails(untrusted, 11, "TLS handshake failed", "CERTIFICATE_VERIFY_FAILED")
    fails(plain_port, 11, "TLS handshake failed")


def test_auth_password_from_env(catcher: Catcher) -> None:
    out = send_json(catcher, "--to", "auth@example.test", "--auth-user", "alice",
                    "--ehlo", "auth-env.test", env={"MAILOPS_SMTP_PASSWORD": "s3cret"})
    auth = [s for s in out["transcript"] if s["stage"] == "auth"]
    assert auth[0]["code"] == 235 and "s3cret" not in str(out["transcript"])
    assert "auth=true" in session_log(catcher.server, "auth-env.test")


KEYRING_BACKEND = '''
import os
import keyring.backend
import keyring.errors


class Backend(keyring.backend.KeyringBackend):
    """A keyring that knows one password and records every lookup."""

    priority = 1

    def get_password(self, service, username):
        with open(os.environ["LOOKUP_LOG"], "a") as fh:
            fh.write(f"{service} {username}\\n")
        return "from-keyring" if (service, username) == ("mailops", "kr-user") else None

    def set_password(self, service, username, password):
        raise keyring.errors.PasswordSetError("read-only test keyring")

    def delete_password(self, service, username):
        raise keyring.errors.PasswordDeleteError("read-only test keyring")
'''


def test_auth_password_from_keyring(catcher: Catcher, tmp_path: Path) -> None:
    # keyring's documented PYTHON_KEYRING_BACKEND hook selects a file-free backend:
    # there is no OS keyring (Secret Service, macOS Keychain) in CI.
    (tmp_path / "test_keyring_backend.py").write_text(KEYRING_BACKEND)
    lookups = tmp_path / "lookups.txt"
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
           "PYTHON_KEYRING_BACKEND": "test_keyring_backend.Backend", "LOOKUP_LOG": str(lookups)}
    out = send_json(catcher, "--to", "kr@example.test", "--auth-user", "kr-user",
                    "--ehlo", "auth-keyring.test", env=env)
    assert [s["code"] for s in out["transcript"] if s["stage"] == "auth"] == [235]
    assert lookups.read_text() == "mailops kr-user\n"
    assert "auth=true" in session_log(catcher.server, "auth-keyring.test")
    # The environment variable wins and the keyring is not asked.
    send_json(catcher, "--to", "kr@example.test", "--auth-user", "kr-user",
              env={**env, "MAILOPS_SMTP_PASSWORD": "pw"})
    assert lookups.read_text() == "mailops kr-user\n"
    # No password anywhere and no terminal to ask: exit 12 before connecting.
    fails(catcher.cli("send", "--server", catcher.plain, "--to", "kr@example.test",
                      "--auth-user", "nobody", input=b"", env=env), 12, "no password for nobody")


def test_auth_password_prompt_on_a_terminal(catcher: Catcher) -> None:
    master, slave = pty.openpty()

    def own_terminal() -> None:
        # getpass reads /dev/tty: make the pty the child's controlling terminal.
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    env = {**catcher.cli.env, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailops.commands", "send", "--server", catcher.plain,
         "--to", "tty@example.test", "--auth-user", "tty-user", "--ehlo", "auth-tty.test"],
        stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        preexec_fn=own_terminal)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 30
    while b"password for tty-user" not in seen and time.monotonic() < deadline:
        try:
            seen += os.read(master, 1024)
        except OSError:  # EIO: the child exited without prompting; its stderr says why
            break
    os.write(master, b"typed-secret\n")
    stdout, stderr = proc.communicate(timeout=30)
    os.close(master)
    assert proc.returncode == 0, stderr.decode()
    assert b"typed-secret" not in stdout + stderr + seen
    assert "auth=true" in session_log(catcher.server, "auth-tty.test")


# --- failures and exit codes ---------------------------------------------------------


CHAOS = {
    "mail": ("mail:451:100",),
    "rcpt": ("rcpt:550:100",),
    "data": ("data:554:100",),
    # Seed 1 makes the first RCPT roll fire (refuse) and the second pass.
    "partial": ("rcpt:550:50", "--chaos-seed", "1"),
}


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """One catcher per failure mode, each with its own home, started side by side."""
    def start(name: str) -> Server:
        return start_server(tmp_path_factory.mktemp(f"chaos-{name}"), "--chaos", *CHAOS[name])

    with ThreadPoolExecutor(max_workers=len(CHAOS)) as pool:
        servers = dict(zip(CHAOS, pool.map(start, CHAOS), strict=True))
    yield servers
    for srv in servers.values():
        srv.stop()


@pytest.mark.parametrize(("name", "code", "text"), [
    ("mail", 13, "MAIL FROM refused by 127.0.0.1:{port}: 451 4.3.0 Chaos mode"),
    ("rcpt", 14, "RCPT TO refused by 127.0.0.1:{port}: 550 5.1.1 Chaos mode"),
    ("data", 15, "DATA refused by 127.0.0.1:{port}: 554 5.0.0 Chaos mode"),
])
def test_stage_failures_exit_codes(chaos: dict[str, Server], name: str, code: int,
                                   text: str) -> None:
    srv = chaos[name]
    cli, where = Cli(srv.home), f"{srv.host}:{srv.port}"
    calls = [("send", "--server", where, "--to", "x@example.test,y@example.test", "--json")]
    if name == "rcpt":
        # This catcher offers neither AUTH nor STARTTLS.
        calls += [("send", "--server", where, "--to", "x@example.test", "--auth-user", "u"),
                  ("send", "--server", where, "--to", "x@example.test", "--starttls")]
    res, *more = run_all(cli, calls, env={"MAILOPS_SMTP_PASSWORD": "p"})
    fails(res, code, text.format(port=srv.port))
    # --json still reports the conversation up to the failure.
    report = res.json()
    assert report["ok"] is False and report["exit_code"] == code
    assert report["transcript"][-1]["code"] == int(CHAOS[name][0].split(":")[1])
    if name == "rcpt":
        assert "all 2 recipients refused" in res.err
        fails(more[0], 12, "does not offer AUTH")
        fails(more[1], 11, "does not offer STARTTLS")
    if name == "data":
        assert cli.ok("ls", "--json").json() == []


def test_partial_rcpt_refusal_exits_0(chaos: dict[str, Server]) -> None:
    srv = chaos["partial"]
    cli = Cli(srv.home)
    res = cli.ok("send", "--server", f"{srv.host}:{srv.port}", "--to", "gone@example.test",
                 "--to", "here@example.test", "--json")
    out = res.json()
    assert out["accepted"] == ["here@example.test"]
    assert [r["address"] for r in out["refused"]] == ["gone@example.test"]
    assert res.err.startswith("mailops: warning: RCPT TO <gone@example.test> refused")
    assert row(cli, stored_id(out))["rcpt_to"] == ["here@example.test"]


def test_connect_refused_and_usage_errors(cli: Cli, tmp_path: Path) -> None:
    eml = tmp_path / "m.eml"
    eml.write_bytes(b"From: a@example.test\r\nTo: b@example.test\r\n\r\nhi\r\n")
    # A bound socket that never listens refuses connections; one that listens but never
    # accepts leaves the client waiting for a greeting.
    with socket.socket() as closed, socket.socket() as silent:
        closed.bind(("127.0.0.1", 0))
        where = f"127.0.0.1:{closed.getsockname()[1]}"
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        mute = f"127.0.0.1:{silent.getsockname()[1]}"
        cases: list[tuple[tuple[str, ...], int, tuple[str, ...]]] = [
            (("--to", "x@example.test"), 10, (f"cannot connect to {where}: Connection refused",)),
            (("--server", mute, "--timeout", "1", "--to", "x@example.test"), 10,
             (f"cannot connect to {mute}: no reply within 1s",)),
            (("--server", "127.0.0.1:notaport", "--to", "x@example.test"), 2, ("--server",)),
            (("--server", "[::1", "--to", "x@example.test"), 2, ("--server",)),
            (("--to", "x@example.test", "--attach", str(tmp_path / "missing.pdf")), 16,
             ("cannot read attachment", "missing.pdf")),
            (("--eml", str(tmp_path / "nope.eml")), 16, ("cannot read message file",)),
            (("--eml", str(eml), "--subject", "x"), 2, ("--eml",)),
            (("--subject", "nobody"), 2, ("no recipients",)),
            (("--to", "a@example.test", "--tls", "--starttls"), 2, ("exclude",)),
            (("--to", "not an address"), 2, ("--to",)),
            (("--to", "x@y z"), 2, ("--to",)),
        ]
        results = run_all(cli, [("send", "--server", where, *args) for args, _, _ in cases])
    for (_, code, fragments), res in zip(cases, results, strict=True):
        fails(res, code, *fragments)


def test_help_has_examples(cli: Cli) -> None:
    out = cli.ok("send", "--help").out
    assert "Examples:\n    mailops send --to you@example.test" in out
    assert "--auth-user" in out and "--eml" in out


def test_security_user_and_cafile_from_the_config(catcher: Catcher, tmp_path: Path) -> None:
    """[send] security, user and cafile apply without flags (the TUI sends with the same
    settings); --tls still wins over security = "starttls"."""
    home = tmp_path / "cfg-home"
    home.mkdir()
    (home / "config.toml").write_text(
        f'[send]\nserver = "{catcher.plain}"\nsecurity = "starttls"\nuser = "cfg-user"\n'
        f'cafile = "{catcher.cert}"\n')
    cli = Cli(home)
    env = {"MAILOPS_SMTP_PASSWORD": "s3cret"}
    out = cli.ok("send", "--to", "cfg@example.test", "--ehlo", "cfg-starttls.test", "--json",
                 env=env).json()
    assert out["tls"] == "starttls"
    assert [s["code"] for s in out["transcript"] if s["stage"] == "auth"] == [235]
    assert "tls=true" in session_log(catcher.server, "cfg-starttls.test")
    implicit = cli.ok("send", "--server", catcher.tls, "--tls", "--to", "cfg@example.test",
                      "--json", env=env).json()
    assert implicit["tls"] == "implicit"
    (home / "config.toml").write_text('[send]\nsecurity = "smtps"\n')
    res = cli("send", "--to", "x@example.test", "--body", "hi")
    assert res.code == 3 and "send.security 'smtps'" in res.err and len(res.err.splitlines()) == 1
