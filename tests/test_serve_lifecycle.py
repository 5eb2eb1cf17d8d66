"""Starting, stopping and refusing to start `mailops serve`: detach/status/stop,
signals, bind errors and bad options, each with its documented exit code and a
one-line error (never a traceback)."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import Cli, Result, start_server
from serve_support import RawClient, message, sha, stored_raws

from mailops.errors import ServeError, UsageError
from mailops.smtp.chaos import parse_trigger
from mailops.smtp.server import ServeOptions, parse_listen, validate


def one_line_error(res: Result, code: int) -> str:
    """Assert exit `code` with exactly one `mailops: error:` line on stderr; return it."""
    assert res.code == code, (res.code, res.out, res.err)
    assert "Traceback" not in res.err, res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mailops: error: "), res.err
    return lines[0]


def test_detach_status_stop(cli: Cli, home: Path) -> None:
    pidfile = home / "run" / "d.pid"
    res = cli("serve", "--detach", "--pidfile", str(pidfile), "--listen", "127.0.0.1:0")
    assert res.code == 0, res.err
    assert "running in the background" in res.out
    try:
        status = cli("serve", "--status", "--pidfile", str(pidfile))
        assert status.code == 0 and status.out.startswith("running: pid "), status
        info = cli("serve", "--status", "--pidfile", str(pidfile), "--json").json()
        assert info["running"] is True and isinstance(info["pid"], int)
        host, _, port = info["addresses"][0].rpartition(":")
        raw = message("to the detached daemon")
        with smtplib.SMTP(host, int(port)) as smtp:
            smtp.sendmail("a@example.test", ["b@example.test"], raw)
        assert stored_raws(home) == [raw]
        again = cli("serve", "--detach", "--pidfile", str(pidfile), "--listen", "127.0.0.1:0")
        assert "already running" in one_line_error(again, 7)
    finally:
        stop = cli("serve", "--stop", "--pidfile", str(pidfile))
    assert stop.code == 0, stop.err
    assert not pidfile.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(info["pid"], 0)
    after = cli("serve", "--status", "--pidfile", str(pidfile), "--json")
    assert after.code == 1 and after.json()["running"] is False
    one_line_error(cli("serve", "--stop", "--pidfile", str(pidfile)), 1)
    log = pidfile.with_suffix(".log").read_text()
    assert " message " in log and " stopped " in log and "Traceback" not in log


def test_detach_reports_startup_failure(cli: Cli, home: Path) -> None:
    first = start_server(home)
    try:
        pidfile = home / "second.pid"
        res = cli("serve", "--detach", "--pidfile", str(pidfile), "--listen",
                  f"127.0.0.1:{first.port}")
        line = one_line_error(res, 7)
        assert line == ("mailops: error: daemon exited at start: cannot listen on "
                        f"127.0.0.1:{first.port}: address already in use")
        assert not pidfile.exists()
    finally:
        first.stop()


def test_sigterm_mid_stream_exits_0_and_keeps_every_acked_message(home: Path) -> None:
    srv = start_server(home)
    acked: list[bytes] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        i = 0
        while not stop.is_set():
            raw = message(f"sigterm {n} {i}")
            i += 1
            try:
                with smtplib.SMTP(srv.host, srv.port, timeout=10) as smtp:
                    smtp.sendmail("a@example.test", ["b@example.test"], raw)
            except (OSError, smtplib.SMTPException):
                return  # refused or cut off: not acknowledged, so no promise made
            with lock:
                acked.append(raw)

    # A session in the middle of DATA when the signal comes must still get its 250.
    mid = RawClient(srv.host, srv.port)
    mid.cmd("EHLO mid.test")
    mid.cmd("MAIL FROM:<a@example.test>")
    mid.cmd("RCPT TO:<b@example.test>")
    assert mid.cmd("DATA")[0] == 354
    mid_raw = message("in flight at sigterm")
    mid.send(mid_raw[:20])
    idle = RawClient(srv.host, srv.port)
    idle.cmd("EHLO idle.test")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(acked) >= 20, srv.log_text()
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    mid.send(mid_raw[20:] + b".\r\n")
    code, lines = mid.reply()
    assert code == 250, lines
    assert idle.reply()[1] == ["421 4.3.2 Service shutting down"]
    assert srv.proc.wait(timeout=30) == 0
    stop.set()
    for t in threads:
        t.join()
    mid.close()
    idle.close()
    stored = {sha(r) for r in stored_raws(home)}
    assert {sha(r) for r in [*acked, mid_raw]} <= stored
    log = srv.log_text()
    assert "Traceback" not in log and "Task was destroyed" not in log, log
    assert " stopped " in log and log.rstrip().endswith("mailops: stopped"), log


def test_ctrl_c_stops_cleanly(home: Path) -> None:
    srv = start_server(home)
    raw = message("before ctrl-c")
    with smtplib.SMTP(srv.host, srv.port) as smtp:
        smtp.sendmail("a@example.test", ["b@example.test"], raw)
    assert srv.stop(signal.SIGINT) == 0
    assert stored_raws(home) == [raw]
    log = srv.log_text()
    assert "Traceback" not in log and log.rstrip().endswith("mailops: stopped"), log


def test_port_in_use(home: Path, cli: Cli) -> None:
    first = start_server(home)
    try:
        res = cli("serve", "--listen", f"127.0.0.1:{first.port}")
        line = one_line_error(res, 7)
        assert line == (f"mailops: error: cannot listen on 127.0.0.1:{first.port}: "
                        "address already in use")
        assert first.proc.poll() is None
    finally:
        assert first.stop() == 0


@pytest.mark.parametrize("address", ["0.0.0.0:0", "[::]:0"])
def test_non_loopback_bind_is_refused(cli: Cli, address: str) -> None:
    line = one_line_error(cli("serve", "--listen", address), 7)
    assert "not a loopback address" in line and "--allow-public" in line


def test_allow_public_binds_but_we_only_talk_over_loopback(home: Path) -> None:
    srv = start_server(home, "--listen", "0.0.0.0:0", "--allow-public")
    try:
        assert srv.host == "0.0.0.0"
        raw = message("via loopback to a wildcard bind")
        with smtplib.SMTP("127.0.0.1", srv.port) as smtp:
            smtp.sendmail("a@example.test", ["b@example.test"], raw)
        assert stored_raws(home) == [raw]
    finally:
        assert srv.stop() == 0


def test_bad_listen_syntax(cli: Cli) -> None:
    # The parser in-process for the many shapes, the CLI once for the exit code.
    for spec in ("nohost", "127.0.0.1:99999", "[::1]", "::1:2525", "127.0.0.1:²", ":25",
                 "127.0.0.1:-1", "[::1]x:25"):
        with pytest.raises(UsageError, match="HOST:PORT") as info:
            parse_listen(spec)
        assert info.value.exit_code == 2
    assert parse_listen("[::1]:2525").host == "::1"
    assert "HOST:PORT" in one_line_error(cli("serve", "--listen", "::1:2525"), 2)


def test_bad_chaos_spec(cli: Cli) -> None:
    for spec in ("rcpt:451", "nope:451:10", "rcpt:250:10", "rcpt:45:10", "rcpt:451:101",
                 "rcpt:451:nan", "rcpt:451:x", "rcpt:4\uff151:10"):
        with pytest.raises(UsageError, match="--chaos") as info:
            parse_trigger(spec)
        assert info.value.exit_code == 2
    assert parse_trigger("RCPT:451:30%").percent == 30
    line = one_line_error(cli("serve", "--listen", "127.0.0.1:0", "--chaos", "rcpt:451"), 2)
    assert "STAGE:CODE:PERCENT" in line


def test_bad_tls_files(cli: Cli, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    res = cli("serve", "--listen", "127.0.0.1:0", "--starttls", "--tls-cert", str(junk),
              "--tls-key", str(junk))
    assert "cannot load TLS certificate" in one_line_error(res, 7)
    base = ServeOptions(store_path=tmp_path / "m.db", listeners=[parse_listen("127.0.0.1:0")],
                        starttls=True)
    missing = tmp_path / "missing.pem"
    with pytest.raises(ServeError, match="cannot load TLS certificate") as info:
        validate(replace(base, tls_cert=missing, tls_key=missing))
    assert info.value.exit_code == 7
    with pytest.raises(UsageError, match="--tls-key"):
        validate(replace(base, tls_cert=junk))
    with pytest.raises(UsageError, match="--starttls"):
        validate(replace(base, starttls=False, tls_cert=junk, tls_key=junk))


def test_other_bad_options(cli: Cli, tmp_path: Path) -> None:
    base = ServeOptions(store_path=tmp_path / "m.db", listeners=[parse_listen("127.0.0.1:0")])
    for bad in ({"auth": "maybe"}, {"timeout": 0}, {"max_size": 0}, {"max_recipients": -1},
                {"listeners": []}):
        with pytest.raises(UsageError):
            validate(replace(base, **bad))
    for args in (("--log-format", "xml"), ("--loop", "tokio")):
        one_line_error(cli("serve", "--listen", "127.0.0.1:0", *args), 2)


def test_status_without_daemon(cli: Cli, home: Path) -> None:
    res = cli("serve", "--status", "--json")
    assert res.code == 1 and json.loads(res.out)["running"] is False
    assert res.err == ""
