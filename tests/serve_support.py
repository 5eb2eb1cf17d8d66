"""Helpers for the `mailops serve` tests: a raw SMTP client, messages, store reads."""

from __future__ import annotations

import hashlib
import json
import smtplib
import socket
from pathlib import Path

from conftest import Server

from mailops.paths import resolve_paths
from mailops.store import Store


class RawClient:
    """A line-level SMTP client on a plain socket, for what smtplib will not send."""

    def __init__(self, host: str, port: int, timeout: float = 10) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self._buf = b""
        self.greeting = self.reply()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _line(self) -> bytes:
        while b"\r\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed by server; partial: {self._buf!r}")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\r\n")
        return line

    def reply(self) -> tuple[int, list[str]]:
        """One complete (possibly multi-line) reply: code and the text lines."""
        lines: list[str] = []
        while True:
            line = self._line().decode("utf-8", "replace")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), lines

    def cmd(self, line: bytes | str) -> tuple[int, list[str]]:
        """Send one command line (CRLF added) and read its reply."""
        data = line.encode() if isinstance(line, str) else line
        self.send(data + b"\r\n")
        return self.reply()

    def closed(self) -> bool:
        """Whether the server has closed the connection (EOF, nothing buffered)."""
        try:
            return not self._buf and self.sock.recv(1) == b""
        except OSError:
            return True

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def message(subject: str, body: str = "hello\r\n", *, sender: str = "a@example.test",
            to: str = "b@example.test") -> bytes:
    """A small RFC 5322 message with CRLF line ends, as the server will store it."""
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@example.test>\r\n\r\n{body}").encode()


def sha(raw: bytes) -> str:
    """sha256 hex digest (what the store records per message)."""
    return hashlib.sha256(raw).hexdigest()


def store_path(home: Path) -> Path:
    """The store file under a MAILOPS_HOME."""
    return resolve_paths(home).store_file


def stored_raws(home: Path) -> list[bytes]:
    """Every stored message's raw bytes, oldest first."""
    path = store_path(home)
    if not path.exists():
        return []
    with Store(path) as store:
        return [store.raw(i) for i in store.iter_ids()]


def send_one(host: str, port: int, subject: str) -> bytes:
    """Deliver one normal message with smtplib (raises if refused); returns its bytes."""
    raw = message(subject)
    with smtplib.SMTP(host, port, timeout=30) as smtp:
        smtp.sendmail("a@example.test", ["b@example.test"], raw)
    return raw


def assert_serving(host: str, port: int, home: Path, subject: str) -> None:
    """The daemon still accepts and stores a normal message."""
    raw = send_one(host, port, subject)
    assert raw in stored_raws(home)


def listening_addresses(srv: Server) -> list[str]:
    """Every bound HOST:PORT, from the daemon's text `listening` log line."""
    for line in srv.log_text().splitlines():
        if " listening " in line:
            start = line.index("addresses=") + len("addresses=")
            return list(json.JSONDecoder().raw_decode(line, start)[0])
    raise AssertionError(f"no listening line in log:\n{srv.log_text()}")


def port_of(address: str) -> int:
    """The port of a HOST:PORT or [V6]:PORT string."""
    return int(address.rpartition(":")[2])
