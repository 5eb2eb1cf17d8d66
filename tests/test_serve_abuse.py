"""`mailops serve` under hostile or broken clients: every abuse gets a proper reply
(or a clean disconnect), and afterwards the daemon still serves a normal message."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Server, require_tool, start_server
from serve_support import (
    RawClient,
    assert_serving,
    listening_addresses,
    message,
    port_of,
    send_one,
    sha,
    store_path,
    stored_raws,
)

from mailops.store import Store


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One daemon with default limits that every abuse below is thrown at in turn."""
    home = tmp_path_factory.mktemp("abuse-home")
    srv = start_server(home)
    yield srv
    assert srv.proc.poll() is None, srv.log_text()
    assert srv.stop() == 0
    assert "Traceback" not in srv.log_text(), srv.log_text()


def still_serving(srv: Server, label: str) -> None:
    assert srv.proc.poll() is None, f"daemon died after {label}:\n{srv.log_text()}"
    assert_serving(srv.host, srv.port, srv.home, f"after {label}")


def test_overlong_command_line(shared: Server) -> None:
    with RawClient(shared.host, shared.port) as c:
        c.cmd("EHLO client.test")
        for size in (1001, 5000, 200_000):
            code, lines = c.cmd(b"MAIL FROM:<" + b"a" * size + b"@example.test>")
            assert code == 500 and lines[0].startswith("500 5.5."), lines
        assert c.cmd("NOOP")[0] == 250  # the session resynchronised on the next line
        assert c.cmd("MAIL FROM:<a@example.test>")[0] == 250
    still_serving(shared, "overlong command")


def test_commands_out_of_order(shared: Server) -> None:
    with RawClient(shared.host, shared.port) as c:
        assert c.cmd("MAIL FROM:<a@example.test>")[0] == 503  # before EHLO
        c.cmd("EHLO client.test")
        assert c.cmd("DATA")[0] == 503  # before MAIL
        assert c.cmd("RCPT TO:<b@example.test>")[0] == 503  # before MAIL
        assert c.cmd("MAIL FROM:<a@example.test>")[0] == 250
        assert c.cmd("MAIL FROM:<a@example.test>")[0] == 503  # nested MAIL
        assert c.cmd("DATA")[0] == 503  # before RCPT
        assert c.cmd("RCPT TO:<b@example.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        raw = message("after disorder")
        assert c.cmd(raw + b".")[0] == 250
        for code, lines in (c.cmd("DATA"), c.cmd("RCPT TO:<b@example.test>")):
            assert code == 503 and re.match(r"^503 5\.5\.\d ", lines[0]), lines
    assert raw in stored_raws(shared.home)
    still_serving(shared, "commands out of order")


def test_thousands_of_recipients(shared: Server) -> None:
    with RawClient(shared.host, shared.port, timeout=60) as c:
        c.cmd("EHLO client.test")
        c.cmd("MAIL FROM:<a@example.test>")
        c.send(b"".join(f"RCPT TO:<r{i}@example.test>\r\n".encode() for i in range(3000)))
        codes = [c.reply()[0] for _ in range(3000)]
        assert codes == [250] * 1000 + [452] * 2000
        assert c.cmd("DATA")[0] == 354
        raw = message("three thousand recipients")
        code, lines = c.cmd(raw + b".")
        assert code == 250, lines
        msg_id = int(lines[0].rsplit(" ", 1)[1])
    with Store(store_path(shared.home)) as store:
        row = store.get(msg_id)
        assert len(row["rcpt_to"]) == 1000 and row["rcpt_to"][-1] == "r999@example.test"
        assert store.raw(msg_id) == raw
    still_serving(shared, "3000 recipients")


def test_binary_garbage_and_nul_bytes(shared: Server) -> None:
    rng = random.Random(1)
    garbage = [b"\x00\x00\x00", b"\x00EHLO x", b"\xff\xfe\xfd\xfc", b"\x1b[2J\x07",
               bytes(rng.randrange(256) for _ in range(300)).replace(b"\n", b"")]
    with RawClient(shared.host, shared.port) as c:
        for junk in garbage:
            c.send(junk + b"\r\n")
            try:
                code, lines = c.reply()
            except ConnectionError:
                break  # too many bogus commands: the server may hang up, which is fine
            assert 500 <= code < 600, lines
            # Replies never echo control characters back.
            assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", lines[0]), lines
    # NUL and invalid UTF-8 inside an otherwise valid dialog.
    with RawClient(shared.host, shared.port) as c:
        c.cmd("EHLO client.test")
        assert c.cmd(b"MAIL FROM:<a\x00b@example.test>")[1][0].startswith("553 5.1.3 ")
        assert c.cmd(b"MAIL FROM:<a\x1bb@example.test>")[0] == 553
        assert c.cmd(b"MAIL FROM:<\xff\xfe@example.test>")[0] == 250
        assert c.cmd(b"RCPT TO:<nul\x00@example.test>")[0] == 553
        assert c.cmd(b"RCPT TO:<\xc3x@example.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        raw = message("invalid utf-8 envelope") + b"bytes \x00 and \xff\r\n"
        code, lines = c.cmd(raw + b".")
        assert code == 250, lines  # stored, with U+FFFD for the undecodable bytes
        msg_id = int(lines[0].rsplit(" ", 1)[1])
    with Store(store_path(shared.home)) as store:
        row = store.get(msg_id)
        assert row["mail_from"] == "\ufffd\ufffd@example.test"
        assert row["rcpt_to"] == ["\ufffdx@example.test"]
        assert store.raw(msg_id) == raw
    still_serving(shared, "binary garbage")


def test_garbage_instead_of_tls_handshake(home: Path) -> None:
    srv = start_server(home, "--starttls", "--tls-listen", "127.0.0.1:0", "--timeout", "1")
    try:
        tls_port = port_of(listening_addresses(srv)[1])
        with RawClient(srv.host, srv.port) as c:
            c.cmd("EHLO client.test")
            assert c.cmd("STARTTLS")[0] == 220
            c.send(b"this is not a TLS ClientHello\r\n" * 3)
            assert c.closed()
        for payload in (b"EHLO plain.test\r\n", b""):  # plaintext, then silence
            s = socket.create_connection((srv.host, tls_port), timeout=10)
            s.sendall(payload)
            start = time.monotonic()
            with contextlib.suppress(ConnectionResetError):  # reset counts as dropped
                while s.recv(4096):
                    continue
            assert time.monotonic() - start < 5  # dropped, not left hanging
            s.close()
        still_serving(srv, "garbage after STARTTLS")
    finally:
        assert srv.stop() == 0
    assert "Traceback" not in srv.log_text(), srv.log_text()


def test_oversize_then_normal_message_in_one_session(home: Path) -> None:
    srv = start_server(home, "--max-size", "10000")
    try:
        with RawClient(srv.host, srv.port) as c:
            c.cmd("EHLO client.test")
            code, lines = c.cmd("MAIL FROM:<a@example.test> SIZE=20000")  # declared too big
            assert code == 552 and lines[0].startswith("552 5.3.4 ")
            assert c.cmd("MAIL FROM:<a@example.test>")[0] == 250  # undeclared: found in DATA
            assert c.cmd("RCPT TO:<b@example.test>")[0] == 250
            assert c.cmd("DATA")[0] == 354
            big = message("too big", body="x" * 70 + "\r\n") * 200
            code, lines = c.cmd(big + b".")
            assert code == 552 and lines[0].startswith("552 5.3.4 "), lines
            assert c.cmd("MAIL FROM:<a@example.test>")[0] == 250
            assert c.cmd("RCPT TO:<b@example.test>")[0] == 250
            assert c.cmd("DATA")[0] == 354
            small = message("fits")
            assert c.cmd(small + b".")[0] == 250
        assert stored_raws(home) == [small]
        still_serving(srv, "oversize message")
    finally:
        srv.stop()


def test_idle_client_is_dropped_while_others_are_served(home: Path) -> None:
    srv = start_server(home, "--timeout", "1")
    try:
        silent = RawClient(srv.host, srv.port)
        stalled = RawClient(srv.host, srv.port)  # stops sending in the middle of DATA
        stalled.cmd("EHLO stalled.test")
        stalled.cmd("MAIL FROM:<a@example.test>")
        stalled.cmd("RCPT TO:<b@example.test>")
        assert stalled.cmd("DATA")[0] == 354
        stalled.send(b"Subject: half\r\n")
        start = time.monotonic()
        with RawClient(srv.host, srv.port) as busy:
            busy.cmd("EHLO busy.test")
            while time.monotonic() - start < 2.2:  # commands keep the busy client alive
                assert busy.cmd("NOOP")[0] == 250
                time.sleep(0.3)
            for client in (silent, stalled):
                _, lines = client.reply()
                assert lines == ["421 4.4.2 Idle timeout, closing connection"]
                assert client.closed()
            assert busy.cmd("MAIL FROM:<a@example.test>")[0] == 250
            assert busy.cmd("RCPT TO:<b@example.test>")[0] == 250
            assert busy.cmd("DATA")[0] == 354
            raw = message("while others idle")
            assert busy.cmd(raw + b".")[0] == 250
        silent.close()
        stalled.close()
        assert stored_raws(home) == [raw]
        still_serving(srv, "idle clients")
    finally:
        srv.stop()
    assert len(re.findall(r" session .*end=timeout", srv.log_text())) == 2, srv.log_text()


def test_slow_but_steady_data_is_not_cut_off(home: Path) -> None:
    srv = start_server(home, "--timeout", "1")
    try:
        with RawClient(srv.host, srv.port) as c:
            c.cmd("EHLO slow.test")
            c.cmd("MAIL FROM:<a@example.test>")
            c.cmd("RCPT TO:<b@example.test>")
            assert c.cmd("DATA")[0] == 354
            raw = message("slow upload", body="".join(f"line {i}\r\n" for i in range(8)))
            lines = raw.split(b"\r\n")
            for line in lines[:-1]:  # ~2.4 s in all, never 1 s idle
                c.send(line + b"\r\n")
                time.sleep(0.15)
            assert c.cmd(b".")[0] == 250
        assert stored_raws(home) == [raw]
    finally:
        srv.stop()


async def _one_session(host: str, port: int, raw: bytes) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        async def reply() -> int:
            while True:
                line = await reader.readline()
                if not line:
                    raise ConnectionError("closed")
                if line[3:4] != b"-":
                    return int(line[:3])

        assert await reply() == 220
        writer.write(b"EHLO many.test\r\n")
        assert await reply() == 250
        writer.write(b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n")
        assert [await reply() for _ in range(3)] == [250, 250, 354]
        writer.write(raw + b".\r\nQUIT\r\n")
        code = await reply()
        await reply()
        return code
    finally:
        writer.close()


def test_200_concurrent_connections(shared: Server) -> None:
    raws = [message(f"concurrent {i} {os.urandom(4).hex()}") for i in range(200)]

    async def run_all() -> list[int]:
        return await asyncio.gather(*(_one_session(shared.host, shared.port, r) for r in raws))

    codes = asyncio.run(asyncio.wait_for(run_all(), timeout=60))
    assert codes == [250] * 200
    stored = {sha(r) for r in stored_raws(shared.home)}
    assert {sha(r) for r in raws} <= stored
    still_serving(shared, "200 concurrent connections")


def test_abrupt_disconnects_mid_command_and_mid_data(shared: Server) -> None:
    def hang_up(payload: bytes) -> None:
        c = RawClient(shared.host, shared.port)
        c.send(payload)
        c.close()

    threads = [threading.Thread(target=hang_up, args=(p,)) for p in (
        b"EHLO x\r\nMAIL FROM:<a@example.test>",
        b"EHLO x\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\nSubj",
        b"",
    ) * 10]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    still_serving(shared, "abrupt disconnects")
    before = len(stored_raws(shared.home))
    send_one(shared.host, shared.port, "one more")
    assert len(stored_raws(shared.home)) == before + 1


def test_smtp_source_sessions_at_the_recipient_limit(shared: Server) -> None:
    # Postfix's load generator: 20 parallel sessions, every message with exactly
    # the default 1000 recipients, pipelined.
    source = require_tool("smtp-source")
    before = len(stored_raws(shared.home))
    out = subprocess.run([source, "-s", "20", "-m", "40", "-l", "30000", "-r", "1000",
                          "-f", "src@example.test", "-t", "dst@example.test",
                          f"{shared.host}:{shared.port}"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    with Store(store_path(shared.home)) as store:
        assert store.count() == before + 40
        newest = store.get(store.max_id())
        assert len(newest["rcpt_to"]) == 1000 and newest["mail_from"] == "src@example.test"
    still_serving(shared, "smtp-source at the recipient limit")
