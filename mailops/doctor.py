"""Self-checks behind `mailops doctor`: is this installation able to do its job?"""

from __future__ import annotations

import shutil
import socket
import sqlite3
import sys
from dataclasses import dataclass

from mailops.config import Config
from mailops.errors import MailopsError
from mailops.store import Store


@dataclass
class Check:
    """One doctor finding: ok, warn or fail, with a message."""

    name: str
    status: str
    message: str


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) != 0


def run_checks(cfg: Config) -> list[Check]:
    """Python, SQLite features, the store, the listen port and optional tools."""
    checks = [Check("python", "ok" if sys.version_info >= (3, 11) else "fail",
                    sys.version.split()[0])]
    try:
        db = sqlite3.connect(":memory:")
        db.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 2')")
        db.close()
        checks.append(Check("sqlite", "ok", f"SQLite {sqlite3.sqlite_version} with FTS5"))
    except sqlite3.Error as exc:
        checks.append(Check("sqlite", "fail", f"SQLite {sqlite3.sqlite_version}: {exc}"))
    path = cfg.paths.store_file
    if path.exists():
        try:
            with Store(path, readonly=True) as store:
                stats = store.stats()
                result = store.integrity_check()
            status = "ok" if result == "ok" else "fail"
            checks.append(Check("store", status, f"{path}: {stats['messages']} messages, "
                                f"{stats['file_bytes'] // 1024} KiB, integrity {result}"))
        except MailopsError as exc:
            checks.append(Check("store", "fail", exc.message))
    else:
        checks.append(Check("store", "ok", f"{path} (not created yet)"))
    for spec in cfg.get_list("serve.listen"):
        host, _, port = spec.rpartition(":")
        host = host.strip("[]")
        if port.isdigit():
            free = _port_free(host, int(port))
            checks.append(Check(f"listen {spec}", "ok" if free else "warn",
                                "free" if free else "in use (a mailops serve already running?)"))
    for tool in ("swaks", "smtp-source"):
        found = shutil.which(tool) or shutil.which(f"/usr/sbin/{tool}")
        checks.append(Check(f"tool {tool}", "ok" if found else "warn",
                            found or "not installed (optional, used by the test suite)"))
    return checks
