"""`mailops serve` as a real subprocess, fed by real SMTP clients."""

from __future__ import annotations

import smtplib
import subprocess
from email.message import EmailMessage

from conftest import Cli, Server, require_tool


def test_smtplib_message_is_stored_byte_for_byte(server: Server, cli: Cli) -> None:
    raw = (b"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\n"
           b"Subject: first\r\nMessage-ID: <m1@example.test>\r\n\r\nhello there\r\n")
    with smtplib.SMTP(server.host, server.port) as smtp:
        code, _ = smtp.ehlo("client.test")
        assert code == 250
        smtp.sendmail("alice@example.test", ["bob@example.test"], raw)
    rows = cli.ok("ls", "--json").json()
    assert len(rows) == 1
    row = rows[0]
    assert row["subject"] == "first"
    assert row["message_id"] == "m1@example.test"
    assert row["from"] == "Alice <alice@example.test>"
    assert row["to"] == ["bob@example.test"]
    assert row["size"] == len(raw)
    assert cli.ok("show", str(row["id"]), "--raw").stdout_bytes == raw


def test_ehlo_advertises_extensions(server: Server) -> None:
    with smtplib.SMTP(server.host, server.port) as smtp:
        smtp.ehlo("client.test")
        for ext in ("size", "8bitmime", "smtputf8", "pipelining", "enhancedstatuscodes"):
            assert smtp.has_extn(ext), ext
        assert not smtp.has_extn("auth")
        assert int(smtp.esmtp_features["size"]) == 25 * 1024 * 1024


def test_swaks_delivery(server: Server, cli: Cli) -> None:
    swaks = require_tool("swaks")
    out = subprocess.run(
        [swaks, "--server", server.host, "--port", str(server.port), "--from", "a@example.test",
         "--to", "b@example.test,c@example.test", "--header", "Subject: swaks test",
         "--body", "body from swaks"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "250 2.0.0 OK: stored as" in out.stdout
    rows = cli.ok("search", "swaks", "--json").json()
    assert [r["subject"] for r in rows] == ["swaks test"]
    assert rows[0]["rcpt_to"] == ["b@example.test", "c@example.test"]


def test_smtp_source_burst(server: Server, cli: Cli) -> None:
    source = require_tool("smtp-source")
    out = subprocess.run([source, "-s", "4", "-m", "200", "-l", "2000", "-f", "src@example.test",
                          "-t", "dst@example.test", f"{server.host}:{server.port}"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = cli.ok("ls", "--json", "--limit", "1000").json()
    assert len(rows) == 200
    assert all(r["mail_from"] == "src@example.test" for r in rows)


def test_oversize_message_gets_552_and_session_stays_usable(home, cli: Cli) -> None:
    from conftest import start_server

    srv = start_server(home, "--max-size", "10000")
    try:
        with smtplib.SMTP(srv.host, srv.port) as smtp:
            smtp.ehlo("client.test")
            big = EmailMessage()
            big["Subject"] = "big"
            big.set_content("x" * 20000)
            try:
                smtp.send_message(big, "a@example.test", ["b@example.test"])
                raise AssertionError("oversize message was accepted")
            except smtplib.SMTPDataError as exc:
                assert exc.smtp_code == 552
            except smtplib.SMTPSenderRefused as exc:
                assert exc.smtp_code == 552
            small = EmailMessage()
            small["Subject"] = "small"
            small.set_content("fits")
            smtp.send_message(small, "a@example.test", ["b@example.test"])
        rows = cli.ok("ls", "--json").json()
        assert [r["subject"] for r in rows] == ["small"]
    finally:
        srv.stop()
