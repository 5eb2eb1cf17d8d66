"""`mailops tui --serve`: a `mailops serve` child process for the app's lifetime.

The catcher runs as a subprocess (`python -m mailops.commands serve`), not a
thread of the app: it is exactly the engine server `mailops serve` runs, with
its durability unchanged (a message is committed to the store before its
`250 OK`; on stop, what was accepted is written before the process exits), its
own signal handling and indexer, and its log lines kept out of the terminal (a
log file next to its pid file). The app shows its mail like any other
`mailops serve`'s: the poll notices new rows. Stopping sends SIGTERM, the same
graceful stop as Ctrl-C on `mailops serve`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mailops.errors import ServeError


class Catcher:
    """One `mailops serve` child: start it, read where it listens, stop it."""

    def __init__(self, run_dir: Path, *, listen: str | None = None,
                 home: Path | None = None) -> None:
        self.run_dir = run_dir
        self.listen = listen
        self.home = home  # MAILOPS_HOME for the child (None: inherit the environment)
        self.pidfile = run_dir / f"tui-serve-{os.getpid()}.pid"
        self.log = run_dir / "tui-serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.addresses: list[str] = []

    def start(self, timeout: float = 30.0) -> list[str]:
        """Start the server and wait until it listens; its addresses (ServeError if
        it exits first, with the last line of its log)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.pidfile.unlink(missing_ok=True)
        args = [sys.executable, "-m", "mailops.commands", "serve", "--pidfile",
                str(self.pidfile)]
        if self.listen:
            args += ["--listen", self.listen]
        env = dict(os.environ)
        if self.home is not None:
            env["MAILOPS_HOME"] = str(self.home)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                lines = self.log.read_text(errors="replace").strip().splitlines()
                self.proc = None
                raise ServeError(f"the catcher did not start: {lines[-1] if lines else '?'}")
            fields = self.pidfile.read_text().split() if self.pidfile.exists() else []
            if len(fields) >= 2:
                self.addresses = fields[1:]
                return self.addresses
            time.sleep(0.02)
        self.stop()
        raise ServeError(f"the catcher did not listen within {timeout:.0f} s (log: {self.log})")

    def stop(self, timeout: float = 30.0) -> None:
        """Stop gracefully (SIGTERM: accepted mail is written first); kill if stuck."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
