"""The durability contract: a 250 reply means the message is on disk.

Clients stream messages at `mailops serve`; the daemon is SIGKILLed mid-stream
(no chance to flush anything), restarted on the same MAILOPS_HOME, and every
message it had acknowledged must be in the store, byte-for-byte, in a store
that passes SQLite's integrity check. Repeated at several kill points.
"""

from __future__ import annotations

import os
import random
import signal
import smtplib
import threading
import time
from pathlib import Path

from conftest import Cli, Server, start_server
from serve_support import message, sha, store_path

from mailops.store import Store

CLIENTS = 6


def _stream(srv: Server, tag: str, acked: dict[str, bytes], lock: threading.Lock,
            stop: threading.Event, rng_seed: int) -> list[threading.Thread]:
    """Start client threads that send until the daemon dies, recording each 250."""

    def client(n: int) -> None:
        rng = random.Random(rng_seed * 100 + n)
        i = 0
        while not stop.is_set():
            try:
                with smtplib.SMTP(srv.host, srv.port, timeout=10) as smtp:
                    for _ in range(rng.randint(1, 5)):  # several messages per session
                        # Mixed sizes: some messages are written while others wait.
                        body = os.urandom(rng.choice([16, 600, 20_000, 200_000])).hex()
                        lines = "".join(body[j:j + 76] + "\r\n" for j in range(0, len(body), 76))
                        raw = message(f"{tag} {n} {i}", body=lines)
                        i += 1
                        smtp.sendmail("a@example.test", ["b@example.test"], raw)
                        with lock:  # sendmail returned: the server said 250
                            acked[sha(raw)] = raw
            except (OSError, smtplib.SMTPException):
                if srv.proc.poll() is not None:
                    return  # killed: whatever was not acknowledged carries no promise
                time.sleep(0.01)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    return threads


def _check_store(home: Path, acked: dict[str, bytes]) -> int:
    with Store(store_path(home)) as store:
        assert store.integrity_check() == "ok"
        by_sha: dict[str, int] = {}
        for msg_id in store.iter_ids():
            by_sha[store.get(msg_id)["sha256"]] = msg_id
        missing = set(acked) - set(by_sha)
        assert not missing, f"{len(missing)} acknowledged messages lost"
        for digest, raw in acked.items():
            stored = store.raw(by_sha[digest])
            assert stored == raw and sha(stored) == digest
        return len(by_sha)


def test_kill_9_never_loses_an_acknowledged_message(home: Path) -> None:
    acked: dict[str, bytes] = {}
    lock = threading.Lock()
    rng = random.Random(5)
    for round_no, threshold in enumerate((15, 60, 140)):
        srv = start_server(home)
        stop = threading.Event()
        threads = _stream(srv, f"round{round_no}", acked, lock, stop, round_no)
        deadline = time.monotonic() + 30
        while len(acked) < threshold and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.05))  # land the kill at an arbitrary moment
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait(timeout=10)
        stop.set()
        for t in threads:
            t.join(timeout=15)
        assert len(acked) >= threshold, srv.log_text()
        with lock:
            snapshot = dict(acked)
        stored = _check_store(home, snapshot)
        # Messages stored but never acknowledged (killed before the 250 went out)
        # are allowed: the promise is only one way.
        assert stored >= len(snapshot)

    # The restarted daemon serves on the same store, and the CLI sees everything.
    srv = start_server(home)
    try:
        with smtplib.SMTP(srv.host, srv.port) as smtp:
            final = message("after the last kill")
            smtp.sendmail("a@example.test", ["b@example.test"], final)
        acked[sha(final)] = final
    finally:
        assert srv.stop() == 0
    _check_store(home, acked)
    rows = Cli(home).ok("ls", "--json", "--limit", "100000").json()
    subjects = {r["subject"] for r in rows}
    assert "after the last kill" in subjects
    assert all(r["indexed"] for r in rows)
