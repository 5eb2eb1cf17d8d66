"""Fixtures: an isolated MAILOPS_HOME, the CLI as a subprocess, a live `mailops serve`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent

# CI replays a fixed set of examples so a landing never hinges on a lucky draw;
# local runs keep exploring new ones (and a find becomes a regression test).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def require_tool(name: str) -> str:
    """Path of an external test peer (swaks, smtp-source...).

    Locally a missing tool skips with the apt package to install; in CI (CI=true)
    .ci/run installs them all, so a missing one is a failure, not a skip.
    """
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found:
        return found
    package = {"smtp-source": "postfix", "smtp-sink": "postfix"}.get(name, name)
    if os.environ.get("CI"):
        pytest.fail(f"{name} missing in CI: .ci/run must install the {package} package")
    pytest.skip(f"{name} not installed (apt-get install {package})")


@dataclass
class Result:
    """A finished CLI run."""

    code: int
    out: str
    err: str
    stdout_bytes: bytes

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """Runs `mailops` as a real subprocess against one MAILOPS_HOME."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {**os.environ, "MAILOPS_HOME": str(home), "NO_COLOR": "1",
                    "COLUMNS": "200"}

    def __call__(self, *args: str, input: bytes | None = None, timeout: float = 60,
                 env: dict[str, str] | None = None) -> Result:
        proc = subprocess.run([sys.executable, "-m", "mailops.commands", *args],
                              input=input, capture_output=True, timeout=timeout,
                              env={**self.env, **(env or {})})
        return Result(proc.returncode, proc.stdout.decode("utf-8", "replace"),
                      proc.stderr.decode("utf-8", "replace"), proc.stdout)

    def ok(self, *args: str, **kw: Any) -> Result:
        """Run and assert exit 0."""
        res = self(*args, **kw)
        assert res.code == 0, f"mailops {' '.join(args)} -> {res.code}\n{res.err}"
        return res


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def cli(home: Path) -> Cli:
    return Cli(home)


@dataclass
class Server:
    """A running `mailops serve` subprocess."""

    proc: subprocess.Popen[bytes]
    host: str
    port: int
    home: Path
    log: Path

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(home: Path, *extra: str, ready_timeout: float = 30) -> Server:
    """Start `mailops serve` on a free loopback port and wait until it listens."""
    pidfile = home / f"serve-{time.monotonic_ns()}.pid"
    log = pidfile.with_suffix(".log")
    args = [sys.executable, "-m", "mailops.commands", "serve", "--pidfile", str(pidfile)]
    if not any(a.startswith("--listen") for a in extra):
        args += ["--listen", "127.0.0.1:0"]
    env = {**os.environ, "MAILOPS_HOME": str(home)}
    with open(log, "wb") as fh:
        proc = subprocess.Popen([*args, *extra], stdout=fh, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited {proc.returncode}: {log.read_text()}")
        if pidfile.exists():
            fields = pidfile.read_text().split()
            if len(fields) >= 2:
                host, _, port = fields[1].rpartition(":")
                return Server(proc, host.strip("[]"), int(port), home, log)
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError(f"serve not ready: {log.read_text()}")


@pytest.fixture
def server(home: Path) -> Iterator[Server]:
    srv = start_server(home)
    yield srv
    srv.stop()


class KnotFactory:
    """Starts Knot DNS servers (tests/knotdns.py) and stops them all at teardown.

    Call it like `KnotServer.start`: `knot({"example.test": "@ MX 10 mx"}, signed=...)`.
    """

    def __init__(self, base: Path) -> None:
        self.base = base
        self.servers: list[Any] = []

    def __call__(self, zones: dict[str, str], *, signed: Any = frozenset(),
                 tsig: bool = True, servfail: Any = ()) -> Any:
        from knotdns import KnotServer

        srv = KnotServer(self.base)
        self.servers.append(srv)
        return srv.start(zones, signed=signed, tsig=tsig, servfail=servfail)

    def stop(self) -> None:
        for srv in self.servers:
            srv.stop()


@pytest.fixture
def knot(tmp_path: Path) -> Iterator[KnotFactory]:
    """Factory for Knot DNS servers on loopback, one test long."""
    require_tool("knotd")
    factory = KnotFactory(tmp_path)
    yield factory
    factory.stop()


@pytest.fixture(scope="module")
def knot_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnotFactory]:
    """The same factory, shared by a module's tests (start one server for many cases)."""
    require_tool("knotd")
    factory = KnotFactory(tmp_path_factory.mktemp("knot"))
    yield factory
    factory.stop()
