"""`mailops serve` speaks ESMTP correctly: extensions, enhanced codes, UTF-8, 8-bit,
TLS, AUTH, recipient limits, chaos, listeners and structured logs.

Every test talks to a real `mailops serve` subprocess over loopback.
"""

from __future__ import annotations

import base64
import json
import re
import smtplib
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Cli, Server, require_tool, start_server
from serve_support import RawClient, listening_addresses, message, port_of, sha, stored_raws


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One default daemon for the tests that need no special flags (start-up costs ~1 s)."""
    home = tmp_path_factory.mktemp("shared-home")
    srv = start_server(home)
    yield srv
    assert srv.stop() == 0


ENHANCED = re.compile(r"^\d{3}[ -][245]\.\d{1,3}\.\d{1,3} ")


def test_default_listen_address_is_loopback_2525(cli: Cli) -> None:
    rows = {r["key"]: r for r in cli.ok("config", "show", "--json").json()}
    assert rows["serve.listen"]["value"] == ["127.0.0.1:2525"]
    assert rows["serve.max_size"]["value"] == 25 * 1024 * 1024


def test_greeting_and_ehlo_lines_have_no_enhanced_codes(shared: Server) -> None:
    with RawClient(shared.host, shared.port) as c:
        code, lines = c.greeting
        assert code == 220 and not ENHANCED.match(lines[0])
        code, lines = c.cmd("EHLO client.test")
        assert code == 250
        assert all(not ENHANCED.match(line) for line in lines), lines
        keywords = {line[4:].split()[0].upper() for line in lines[1:]}
        assert {"SIZE", "8BITMIME", "SMTPUTF8", "PIPELINING", "ENHANCEDSTATUSCODES"} <= keywords
        assert "AUTH" not in keywords and "STARTTLS" not in keywords
        assert f"250-SIZE {25 * 1024 * 1024}" in lines
        code, lines = c.cmd("HELO client.test")
        assert code == 250 and not ENHANCED.match(lines[0])


def test_other_replies_carry_enhanced_codes(shared: Server) -> None:
    with RawClient(shared.host, shared.port) as c:
        c.cmd("EHLO client.test")
        replies = {
            "MAIL": c.cmd("MAIL FROM:<a@example.test>"),
            "RCPT": c.cmd("RCPT TO:<b@example.test>"),
            "NOOP": c.cmd("NOOP"),
            "VRFY": c.cmd("VRFY b@example.test"),
            "BOGUS": c.cmd("BOGUS"),
            "RSET": c.cmd("RSET"),
            "RCPT-early": c.cmd("RCPT TO:<b@example.test>"),
            "MAIL-big": c.cmd(f"MAIL FROM:<a@example.test> SIZE={26 * 1024 * 1024}"),
        }
        for name, (_, lines) in replies.items():
            assert ENHANCED.match(lines[-1]), (name, lines)
        assert replies["MAIL"][1] == ["250 2.1.0 OK"]
        assert replies["RCPT"][1] == ["250 2.1.5 OK"]
        assert replies["RCPT-early"][0] == 503
        assert replies["MAIL-big"][1][0].startswith("552 5.3.4 ")
        c.cmd("MAIL FROM:<a@example.test>")
        c.cmd("RCPT TO:<b@example.test>")
        assert c.cmd("DATA")[0] == 354
        code, lines = c.cmd(message("enhanced") + b".")
        assert code == 250 and lines[0].startswith("250 2.0.0 OK: stored as ")
        assert c.cmd("QUIT")[1] == ["221 2.0.0 Bye"]


def test_pipelined_commands_get_replies_in_order(shared: Server) -> None:
    raw = message("pipelined")
    with RawClient(shared.host, shared.port) as c:
        c.cmd("EHLO client.test")
        c.send(b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\n"
               b"RCPT TO:<c@example.test>\r\nDATA\r\n")
        assert [c.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
        c.send(raw + b".\r\nNOOP\r\nQUIT\r\n")
        assert [c.reply()[0] for _ in range(3)] == [250, 250, 221]
    assert raw in stored_raws(shared.home)


def test_smtputf8_address_and_utf8_headers_are_stored(shared: Server) -> None:
    raw = ("From: Jürgen <jürgen@exämple.test>\r\nTo: zoë@exämple.test\r\n"
           "Subject: Grüße ✓ 日本\r\nMessage-ID: <utf8@example.test>\r\n\r\n"
           "Bonjour, ça va?\r\n").encode()
    with smtplib.SMTP(shared.host, shared.port) as smtp:
        smtp.ehlo("client.test")
        assert smtp.has_extn("smtputf8")
        refused = smtp.sendmail("jürgen@exämple.test", ["zoë@exämple.test"], raw,
                                mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        assert refused == {}
    cli = Cli(shared.home)
    rows = [r for r in cli.ok("ls", "--json", "--limit", "1000").json()
            if r["message_id"] == "utf8@example.test"]
    assert len(rows) == 1
    row = rows[0]
    assert row["mail_from"] == "jürgen@exämple.test"
    assert row["rcpt_to"] == ["zoë@exämple.test"]
    assert row["subject"] == "Grüße ✓ 日本"
    assert cli.ok("show", str(row["id"]), "--raw").stdout_bytes == raw


def test_8bit_body_is_stored_byte_for_byte(shared: Server) -> None:
    # Every byte value except CR and LF, in short lines; lines starting with "."
    # exercise dot-stuffing, which must be undone exactly.
    octets = bytes(b for b in range(256) if b not in (10, 13))
    body = b"".join(octets[i:i + 60] + b"\r\n" for i in range(0, len(octets), 60))
    body += b".leading dot\r\n..two dots\r\n.\t\r\n\r\n\r\n"
    raw = (b"From: a@example.test\r\nTo: b@example.test\r\nSubject: 8bit\r\n"
           b"Content-Type: text/plain; charset=iso-8859-1\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body)
    with smtplib.SMTP(shared.host, shared.port) as smtp:
        smtp.ehlo("client.test")
        assert smtp.has_extn("8bitmime")
        smtp.sendmail("a@example.test", ["b@example.test"], raw, mail_options=["BODY=8BITMIME"])
    assert sha(raw) in {sha(r) for r in stored_raws(shared.home)}


def test_starttls_with_generated_certificate(home: Path) -> None:
    srv = start_server(home, "--starttls")
    try:
        cert = home / "tls" / "selfsigned.crt"
        assert cert.exists()
        context = ssl.create_default_context(cafile=str(cert))  # verifies the generated cert
        raw = message("over starttls")
        with smtplib.SMTP(srv.host, srv.port) as smtp:
            smtp.ehlo("client.test")
            assert smtp.has_extn("starttls")
            code, _ = smtp.starttls(context=context)
            assert code == 220
            smtp.ehlo("client.test")
            assert not smtp.has_extn("starttls")
            assert smtp.sock is not None and isinstance(smtp.sock, ssl.SSLSocket)
            smtp.sendmail("a@example.test", ["b@example.test"], raw)
        assert stored_raws(home) == [raw]
    finally:
        srv.stop()
    assert re.search(r" session .*tls=true", srv.log_text()), srv.log_text()


def test_implicit_tls_with_given_certificate(home: Path, tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    srv = start_server(home, "--tls-listen", "127.0.0.1:0", "--tls-cert", str(cert),
                       "--tls-key", str(key))
    try:
        plain, tls = listening_addresses(srv)
        assert port_of(plain) == srv.port
        context = ssl.create_default_context(cafile=str(cert))
        raw = message("implicit tls")
        with smtplib.SMTP_SSL("127.0.0.1", port_of(tls), context=context) as smtp:
            smtp.ehlo("client.test")
            assert not smtp.has_extn("starttls")
            smtp.sendmail("a@example.test", ["b@example.test"], raw)
        assert stored_raws(home) == [raw]
        assert not (home / "tls" / "selfsigned.crt").exists()  # the given cert was used
    finally:
        srv.stop()
    assert re.search(r" session .*tls=true", srv.log_text()), srv.log_text()


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_any_accepts_plain_and_login(home: Path, mechanism: str) -> None:
    srv = start_server(home, "--auth", "any")
    try:
        with smtplib.SMTP(srv.host, srv.port) as smtp:
            smtp.ehlo("client.test")
            assert set(smtp.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}
            smtp.user, smtp.password = "someone", "any password"
            method = smtp.auth_plain if mechanism == "PLAIN" else smtp.auth_login
            code, text = smtp.auth(mechanism, method)
            assert (code, text) == (235, b"2.7.0 Authentication successful")
            smtp.sendmail("a@example.test", ["b@example.test"], message(f"auth {mechanism}"))
        assert len(stored_raws(home)) == 1
    finally:
        srv.stop()
    assert re.search(r" session .*auth=true", srv.log_text()), srv.log_text()


def test_auth_none_does_not_advertise_and_refuses(shared: Server) -> None:
    with RawClient(shared.host, shared.port) as c:
        _, lines = c.cmd("EHLO client.test")
        assert not any("AUTH" in line for line in lines)
        token = base64.b64encode(b"\0user\0pass").decode()
        code, lines = c.cmd(f"AUTH PLAIN {token}")
        assert code == 502 and lines[0].startswith("502 5.5.1 ")
        assert c.cmd("AUTH LOGIN")[0] == 502
        assert c.cmd("MAIL FROM:<a@example.test>")[0] == 250  # session still fine


def test_max_recipients(home: Path) -> None:
    srv = start_server(home, "--max-recipients", "5")
    try:
        with RawClient(srv.host, srv.port) as c:
            c.cmd("EHLO client.test")
            c.cmd("MAIL FROM:<a@example.test>")
            codes = [c.cmd(f"RCPT TO:<r{i}@example.test>")[0] for i in range(6)]
            assert codes == [250] * 5 + [452]
            assert c.cmd("RCPT TO:<r7@example.test>")[1] == ["452 4.5.3 Too many recipients"]
            assert c.cmd("DATA")[0] == 354
            assert c.cmd(message("five") + b".")[0] == 250
        with RawClient(srv.host, srv.port) as c:  # the limit is per message, not per daemon
            c.cmd("EHLO client.test")
            c.cmd("MAIL FROM:<a@example.test>")
            assert c.cmd("RCPT TO:<again@example.test>")[0] == 250
    finally:
        srv.stop()


# Stage -> (code used for it, how far a session gets before that stage answers).
CHAOS_CODES = {"connect": 421, "helo": 554, "mail": 451, "rcpt": 550, "data": 452, "auth": 454}


def _dialog(c: RawClient) -> dict[str, tuple[int, list[str]]]:
    """Run every stage once, recording each stage's reply (stops at a failure that
    makes the next stage meaningless)."""
    out = {"connect": c.greeting}
    if out["connect"][0] != 220:
        return out
    out["helo"] = c.cmd("EHLO client.test")
    if out["helo"][0] != 250:
        return out
    out["auth"] = c.cmd("AUTH PLAIN " + base64.b64encode(b"\0u\0p").decode())
    out["mail"] = c.cmd("MAIL FROM:<a@example.test>")
    if out["mail"][0] != 250:
        return out
    out["rcpt"] = c.cmd("RCPT TO:<b@example.test>")
    if out["rcpt"][0] != 250:
        return out
    assert c.cmd("DATA")[0] == 354
    out["data"] = c.cmd(message("chaos") + b".")
    return out


@pytest.mark.parametrize("stage", list(CHAOS_CODES))
def test_chaos_at_100_percent_fails_exactly_that_stage(home: Path, stage: str) -> None:
    code = CHAOS_CODES[stage]
    srv = start_server(home, "--auth", "any", "--chaos", f"{stage}:{code}:100",
                       "--chaos-seed", "7")
    try:
        for _ in range(3):
            with RawClient(srv.host, srv.port) as c:
                replies = _dialog(c)
                got, lines = replies[stage]
                assert got == code, replies
                assert re.match(rf"^{code} {str(code)[0]}\.\d+\.\d+ Chaos mode: .*{stage}",
                                lines[-1]), lines
                for other, (other_code, _) in replies.items():
                    if other != stage:
                        assert other_code in (220, 235, 250), replies
                if stage == "connect":
                    assert c.closed()
        # A failed AUTH does not stop a session: the catcher needs no login.
        assert len(stored_raws(home)) == (3 if stage == "auth" else 0)
    finally:
        srv.stop()


def test_chaos_at_0_percent_never_fires(home: Path) -> None:
    flags = [a for stage in CHAOS_CODES for a in ("--chaos", f"{stage}:{CHAOS_CODES[stage]}:0")]
    srv = start_server(home, "--auth", "any", "--chaos-seed", "7", *flags)
    try:
        for _ in range(5):
            with RawClient(srv.host, srv.port) as c:
                replies = _dialog(c)
                assert [r[0] for r in replies.values()] == [220, 250, 235, 250, 250, 250]
        assert len(stored_raws(home)) == 5
    finally:
        srv.stop()


def test_chaos_with_a_seed_is_repeatable(home: Path) -> None:
    def pattern() -> list[int]:
        srv = start_server(home, "--chaos", "rcpt:451:50", "--chaos-seed", "42")
        try:
            with RawClient(srv.host, srv.port) as c:
                c.cmd("EHLO client.test")
                c.cmd("MAIL FROM:<a@example.test>")
                return [c.cmd(f"RCPT TO:<r{i}@example.test>")[0] for i in range(40)]
        finally:
            srv.stop()

    first = pattern()
    assert set(first) == {250, 451}
    assert pattern() == first


def test_ipv6_and_a_second_listener(home: Path) -> None:
    srv = start_server(home, "--listen", "[::1]:0", "--listen", "127.0.0.1:0")
    try:
        v6, v4 = listening_addresses(srv)
        assert v6.startswith("[::1]:") and v4.startswith("127.0.0.1:")
        assert srv.host == "::1"
        with smtplib.SMTP("::1", port_of(v6)) as smtp:
            smtp.sendmail("a@example.test", ["b@example.test"], message("over v6"))
        with smtplib.SMTP("127.0.0.1", port_of(v4)) as smtp:
            smtp.sendmail("a@example.test", ["b@example.test"], message("over v4"))
    finally:
        srv.stop()
    cli = Cli(home)
    peers = sorted(r["peer"] for r in cli.ok("ls", "--json").json())
    assert peers[0].startswith("127.0.0.1:") and peers[1].startswith("[::1]:"), peers


def test_json_log_lines(home: Path) -> None:
    srv = start_server(home, "--log-format", "json")
    try:
        for i in range(2):
            with smtplib.SMTP(srv.host, srv.port) as smtp:
                smtp.ehlo("json.client")
                smtp.sendmail("a@example.test", ["b@example.test", "c@example.test"],
                              message(f"json {i}"))
        with RawClient(srv.host, srv.port) as c:  # a session without a message
            c.cmd("EHLO quiet.client")
            c.cmd("QUIT")
    finally:
        assert srv.stop() == 0
    lines = [ln for ln in srv.log_text().splitlines() if ln.startswith("{")]
    records = [json.loads(ln) for ln in lines]
    by_event: dict[str, list[dict[str, object]]] = {}
    for rec in records:
        assert {"ts", "level", "event"} <= rec.keys()
        by_event.setdefault(str(rec["event"]), []).append(rec)
    assert len(by_event["listening"]) == 1 and len(by_event["stopped"]) == 1
    messages, sessions = by_event["message"], by_event["session"]
    assert len(messages) == 2 and len(sessions) == 3
    for msg in messages:
        assert msg["rcpt"] == 2 and msg["mail_from"] == "a@example.test"
        assert isinstance(msg["id"], int) and isinstance(msg["size"], int)
        session = next(s for s in sessions if s["session"] == msg["session"])
        assert session["messages"] == 1 and session["helo"] == "json.client"
        assert session["end"] == "quit" and session["tls"] is False
    quiet = next(s for s in sessions if s["helo"] == "quiet.client")
    assert quiet["messages"] == 0


@pytest.mark.parametrize("mode", ["starttls", "tls-on-connect"])
def test_swaks_tls_and_auth(home: Path, mode: str) -> None:
    swaks = require_tool("swaks")
    srv = start_server(home, "--starttls", "--tls-listen", "127.0.0.1:0", "--auth", "any")
    try:
        plain, tls = listening_addresses(srv)
        port, flag, mech = ((port_of(plain), "--tls", "LOGIN") if mode == "starttls"
                            else (port_of(tls), "--tls-on-connect", "PLAIN"))
        out = subprocess.run(
            [swaks, "--server", "127.0.0.1", "--port", str(port), flag, "--auth", mech,
             "--auth-user", "app", "--auth-password", "secret", "--from", "app@example.test",
             "--to", "you@example.test", "--header", f"Subject: swaks {mode}",
             "--body", "über 8-bit"],
            capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "235 2.7.0 Authentication successful" in out.stdout
        assert re.search(r"<~ +250 2\.0\.0 OK: stored as \d+", out.stdout), out.stdout
    finally:
        srv.stop()
    rows = Cli(home).ok("ls", "--json").json()
    assert [r["subject"] for r in rows] == [f"swaks {mode}"]
    assert re.search(r" session .*tls=true auth=true messages=1", srv.log_text())
