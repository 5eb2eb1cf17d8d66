"""Stored `mailops audit` runs: one row per domain and run, findings kept once per content.

The engine (mailops.audit.history) decides what a run is and how two runs compare;
this module only writes and reads rows. A run's findings are JSON (the `--json`
shape of a finding); identical finding lists, which repeated cron runs produce,
are stored once, keyed by the SHA-256 of their JSON.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mailops.store.store import Store

_CHUNK = 500  # domains per statement, far below SQLite's host-parameter limit


@dataclass
class AuditRun:
    """One domain's result in one audit run."""

    domain: str
    run_at: float  # seconds since the epoch
    digest: str  # hash of the normalized finding set (mailops.audit.history)
    findings: list[dict[str, Any]] = field(default_factory=list)
    id: int = 0  # set once stored; later runs of a domain have larger ids

    def counts(self) -> dict[str, int]:
        """Findings by severity: {"error": n, "warning": n, "info": n}."""
        return {s: sum(f.get("severity") == s for f in self.findings)
                for s in ("error", "warning", "info")}


def save_runs(store: Store, runs: Sequence[AuditRun], keep: int = 0) -> None:
    """Store runs in one write transaction; sets each run's `id`. With `keep` > 0, each
    domain keeps only its `keep` most recent runs (older ones are deleted)."""
    db = store.db
    db.execute("BEGIN IMMEDIATE")
    try:
        for run in runs:
            text = json.dumps(run.findings, separators=(",", ":"), sort_keys=True)
            sha = hashlib.sha256(text.encode()).hexdigest()
            db.execute("INSERT OR IGNORE INTO audit_findings (sha, findings) VALUES (?, ?)",
                       (sha, text))
            n = run.counts()
            cur = db.execute(
                "INSERT INTO audit_runs (domain, run_at, digest, sha, errors, warnings, infos)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run.domain, run.run_at, run.digest, sha, n["error"], n["warning"], n["info"]))
            run.id = int(cur.lastrowid or 0)
        if keep > 0:
            for domain in dict.fromkeys(r.domain for r in runs):
                _prune(db, domain, keep)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _prune(db: Any, domain: str, keep: int) -> None:
    """Delete `domain`'s runs beyond the `keep` most recent, and finding lists no run
    refers to any more."""
    row = db.execute("SELECT id FROM audit_runs WHERE domain = ? ORDER BY id DESC"
                     " LIMIT 1 OFFSET ?", (domain, keep)).fetchone()
    if row is None:
        return
    shas = [r[0] for r in db.execute("SELECT DISTINCT sha FROM audit_runs WHERE domain = ?"
                                     " AND id <= ?", (domain, row[0]))]
    db.execute("DELETE FROM audit_runs WHERE domain = ? AND id <= ?", (domain, row[0]))
    db.executemany("DELETE FROM audit_findings WHERE sha = ? AND NOT EXISTS"
                   " (SELECT 1 FROM audit_runs WHERE sha = ?)", [(x, x) for x in shas])


_SELECT = ("SELECT r.id, r.domain, r.run_at, r.digest, f.findings FROM audit_runs r"
           " JOIN audit_findings f ON f.sha = r.sha")


def _run(row: Any) -> AuditRun:
    return AuditRun(domain=row[1], run_at=float(row[2]), digest=row[3],
                    findings=json.loads(row[4]), id=int(row[0]))


def latest_runs(store: Store, domains: Iterable[str]) -> dict[str, AuditRun]:
    """The most recent stored run of each domain that has one."""
    names = list(dict.fromkeys(domains))
    out: dict[str, AuditRun] = {}
    for start in range(0, len(names), _CHUNK):
        chunk = names[start:start + _CHUNK]
        # Correlated: one (domain, id) index probe per domain, however long its history.
        rows = store.db.execute(
            f"{_SELECT} WHERE r.id IN (SELECT (SELECT max(id) FROM audit_runs x"
            " WHERE x.domain = d.value) FROM json_each(?) d)", (json.dumps(chunk),))
        for row in rows:
            out[row[1]] = _run(row)
    return out


def domain_runs(store: Store, domain: str, limit: int | None = None) -> list[AuditRun]:
    """A domain's stored runs, oldest first; with `limit`, only the most recent ones."""
    rows = store.db.execute(
        f"SELECT * FROM ({_SELECT} WHERE r.domain = ? ORDER BY r.id DESC LIMIT ?)"
        " ORDER BY id", (domain, -1 if limit is None else max(0, limit))).fetchall()
    return [_run(row) for row in rows]


def run_count(store: Store, domain: str) -> int:
    """How many runs of `domain` are stored."""
    return int(store.db.execute("SELECT count(*) FROM audit_runs WHERE domain = ?",
                                (domain,)).fetchone()[0])


def audited_domains(store: Store) -> list[str]:
    """Every domain with at least one stored run, sorted (the (domain, id) index)."""
    return [str(r[0]) for r in store.db.execute(
        "SELECT DISTINCT domain FROM audit_runs ORDER BY domain")]
