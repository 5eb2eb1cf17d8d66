"""`mailops serve --workers N`: several SMTP processes on one port, one writer.

Every message lands exactly once whichever process took its connection; the
durability contract holds when the main process is SIGKILLed (and no worker
outlives it); SIGTERM, --status and --stop act on the whole group; a crashed
worker is logged and replaced.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import smtplib
import ssl
import threading
import time
from pathlib import Path

import pytest
from conftest import Cli, Server, start_server
from serve_support import listening_addresses, message, port_of, sha, stored_raws
from test_durability import _check_store, _stream

from mailops.errors import UsageError
from mailops.paths import resolve_paths
from mailops.smtp.server import resolve_workers


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as fh:
            out += [int(p) for p in fh.read().split()]
    return out


def worker_pids(pid: int) -> list[int]:
    """The SMTP worker processes of a daemon (not its indexer child)."""
    found = []
    for child in _children(pid):
        # OSError: the child exited meanwhile.
        with contextlib.suppress(OSError), open(f"/proc/{child}/cmdline", "rb") as fh:
            if b"mailops.smtp.workers" in fh.read():
                found.append(child)
    return found


def gone(pid: int) -> bool:
    """Whether a process has exited (a zombie nobody reaped yet counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in {"Z", "X"}
    except OSError:
        return True


def wait_gone(pids: list[int], timeout: float = 10) -> list[int]:
    """The pids still running after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(gone(p) for p in pids):
        time.sleep(0.02)
    return [p for p in pids if not gone(p)]


def sessions_by_process(log: str) -> set[str]:
    """The process numbers ("1", "2"...) that logged a stored message."""
    return set(re.findall(r" message session=(\d+)\.\d+ ", log))


def until_worker_serves(srv: Server, tag: str, timeout: float = 30,
                        process: str | None = None) -> list[bytes]:
    """Send messages until a worker process (`process`, or any) stored one; returns
    what was sent. With workers, the main process accepts no SMTP itself."""
    sent: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = [message(f"{tag} {len(sent) + i}") for i in range(8)]

        def send(raw: bytes) -> None:
            with smtplib.SMTP(srv.host, srv.port, timeout=30) as smtp:
                smtp.sendmail("a@example.test", ["b@example.test"], raw)

        threads = [threading.Thread(target=send, args=(raw,)) for raw in batch]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sent += batch
        seen = sessions_by_process(srv.log_text())
        if (process in seen) if process is not None else seen:
            return sent
    raise AssertionError(f"no worker process stored a message:\n{srv.log_text()}")


def test_tls_auth_and_limits_in_every_process(home: Path) -> None:
    srv = start_server(home, "--workers", "2", "--starttls", "--tls-listen", "127.0.0.1:0",
                       "--auth", "any", "--max-recipients", "2")
    try:
        plain, tls = (port_of(a) for a in listening_addresses(srv))
        context = ssl.create_default_context(cafile=str(home / "tls" / "selfsigned.crt"))
        seen: set[str] = set()
        deadline = time.monotonic() + 30
        n = 0
        while seen != {"1", "2"}:
            assert time.monotonic() < deadline, srv.log_text()
            n += 1
            with smtplib.SMTP("127.0.0.1", plain, timeout=30) as smtp:
                smtp.starttls(context=context)
                smtp.login("user", "secret")
                refused = smtp.sendmail("a@example.test", [f"r{i}@example.test" for i in range(3)],
                                        message(f"starttls {n}"))
                assert list(refused) == ["r2@example.test"]  # 452 past --max-recipients
            with smtplib.SMTP_SSL("127.0.0.1", tls, context=context, timeout=30) as smtp:
                smtp.login("user", "secret")
                smtp.sendmail("a@example.test", ["b@example.test"], message(f"smtps {n}"))
            lines = [ln for ln in srv.log_text().splitlines() if " session session=" in ln]
            seen = {re.findall(r"session=(\d+)\.", ln)[0] for ln in lines
                    if "tls=true" in ln and "auth=true" in ln and "messages=1" in ln}
    finally:
        assert srv.stop() == 0
    assert len(stored_raws(home)) == 2 * n


def test_resolve_workers() -> None:
    assert resolve_workers("1") == 1 and resolve_workers(3) == 3
    assert resolve_workers("auto") == (2 if (os.cpu_count() or 1) >= 2 else 1)
    assert resolve_workers("auto", chaos_seed=7) == 1  # a seeded chaos sequence is per process
    for bad in ("0", "-1", "many", "65", ""):
        with pytest.raises(UsageError):
            resolve_workers(bad)


def test_workers_from_the_config_file(home: Path) -> None:
    config = resolve_paths(home).config_file
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[serve]\nworkers = 1\n")  # a TOML integer, not only "1"
    srv = start_server(home)
    try:
        assert worker_pids(srv.proc.pid) == []
        until_ready = message("one process")
        with smtplib.SMTP(srv.host, srv.port, timeout=30) as smtp:
            smtp.sendmail("a@example.test", ["b@example.test"], until_ready)
    finally:
        assert srv.stop() == 0
    log = srv.log_text()
    assert " workers=1" in log and " message session=1 " in log  # plain session numbers


def test_bad_workers_option_is_a_usage_error(cli: Cli) -> None:
    res = cli("serve", "--workers", "zero", "--listen", "127.0.0.1:0")
    assert res.code == 2 and "--workers" in res.err and "Traceback" not in res.err


def test_many_concurrent_clients_land_exactly_once(home: Path) -> None:
    srv = start_server(home, "--workers", "2")
    try:
        assert len(worker_pids(srv.proc.pid)) == 2
        # both workers up and taking connections (the kernel picks who accepts)
        sent = until_worker_serves(srv, "warm-up", process="1")
        sent += until_worker_serves(srv, "warm-up 2", process="2")
        raws: list[bytes] = []
        lock = threading.Lock()
        errors: list[BaseException] = []

        def client(n: int) -> None:
            try:
                with smtplib.SMTP(srv.host, srv.port, timeout=30) as smtp:
                    for i in range(15):
                        raw = message(f"client {n} message {i}")
                        smtp.sendmail("a@example.test", ["b@example.test"], raw)
                        with lock:
                            raws.append(raw)
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
    finally:
        assert srv.stop() == 0
    stored = stored_raws(home)
    expected = sent + raws
    assert len(raws) == 16 * 15
    assert sorted(stored) == sorted(expected)  # every message exactly once
    log = srv.log_text()
    numbers = re.findall(r" session session=(\S+) ", log)
    assert len(numbers) == len(set(numbers)), "session numbers repeat across processes"
    assert sessions_by_process(log) == {"1", "2"}
    ids = [int(i) for i in re.findall(r" message session=\S+ id=(\d+) ", log)]
    assert sorted(ids) == list(range(1, len(expected) + 1))
    assert "Traceback" not in log and "worker_exited" not in log


def test_sigkill_of_the_main_process_loses_nothing_and_leaves_no_worker(home: Path) -> None:
    acked: dict[str, bytes] = {}
    lock = threading.Lock()
    srv = start_server(home, "--workers", "3")
    workers = worker_pids(srv.proc.pid)
    assert len(workers) == 3
    for raw in until_worker_serves(srv, "before"):
        acked[sha(raw)] = raw
    stop = threading.Event()
    threads = _stream(srv, "kill", acked, lock, stop, 11)
    deadline = time.monotonic() + 30
    while len(acked) < 120 and time.monotonic() < deadline:
        time.sleep(0.005)
    children = _children(srv.proc.pid)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(timeout=10)
    stop.set()
    for t in threads:
        t.join(timeout=15)
    assert len(acked) >= 120, srv.log_text()
    assert not wait_gone(workers), "worker processes outlived the main process"
    # The indexer child finishes what is pending, then exits (its stdin closed).
    assert not wait_gone(children, timeout=60)
    with lock:
        snapshot = dict(acked)
    assert _check_store(home, snapshot) >= len(snapshot)
    # A restarted daemon serves the same store.
    again = start_server(home, "--workers", "2")
    try:
        for raw in until_worker_serves(again, "after"):
            snapshot[sha(raw)] = raw
    finally:
        assert again.stop() == 0
    _check_store(home, snapshot)


def test_sigterm_stops_every_process_with_exit_0(home: Path) -> None:
    srv = start_server(home, "--workers", "2")
    sent = until_worker_serves(srv, "term")
    children = _children(srv.proc.pid)
    assert len(worker_pids(srv.proc.pid)) == 2
    assert srv.stop(signal.SIGTERM) == 0
    assert not wait_gone(children)
    assert sorted(stored_raws(home)) == sorted(sent)
    log = srv.log_text()
    assert " stopped " in log and "Traceback" not in log and "worker_exited" not in log


def test_a_crashed_worker_is_logged_and_replaced(home: Path) -> None:
    srv = start_server(home, "--workers", "2")
    try:
        until_worker_serves(srv, "first")
        before = worker_pids(srv.proc.pid)
        old = before[0]
        os.kill(old, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
                old in worker_pids(srv.proc.pid) or len(worker_pids(srv.proc.pid)) < 2):
            time.sleep(0.05)
        (new,) = set(worker_pids(srv.proc.pid)) - set(before)
        assert new != old
        assert re.search(rf"error worker_exited worker=\d pid={old} code=-9 action=restart",
                         srv.log_text()), srv.log_text()
        # The replacement numbers its sessions "3.N" (workers 1 and 2 came first).
        until_worker_serves(srv, "second", process="3")
    finally:
        assert srv.stop() == 0


def test_detach_status_stop_with_workers(cli: Cli, home: Path) -> None:
    pidfile = home / "run" / "w.pid"
    res = cli("serve", "--detach", "--pidfile", str(pidfile), "--listen", "127.0.0.1:0",
              "--workers", "2")
    assert res.code == 0, res.err
    info = cli("serve", "--status", "--pidfile", str(pidfile), "--json").json()
    assert info["running"] is True
    main = info["pid"]
    workers = worker_pids(main)
    assert len(workers) == 2
    host, _, port = info["addresses"][0].rpartition(":")
    with smtplib.SMTP(host, int(port)) as smtp:
        smtp.sendmail("a@example.test", ["b@example.test"], message("detached"))
    stop = cli("serve", "--stop", "--pidfile", str(pidfile))
    assert stop.code == 0, stop.err
    assert gone(main) and not wait_gone(workers)
    assert cli("serve", "--status", "--pidfile", str(pidfile)).code == 1
    assert stored_raws(home) == [message("detached")]
