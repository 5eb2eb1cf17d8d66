"""Audit runs over time: save each run's reports, and say what changed since the last one.

Two findings are "the same" when their code and normalized message match: the
message's words compared as a set, with plain numbers ("expires in 12 days",
"5.01 seconds") blanked, so a run where only counts, TTL-like figures or the
order of listed hosts differ is no change. Evidence (SMTP banners carry clocks)
is not compared. The same finding at another severity is a severity change.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mailops.store.audits import AuditRun, domain_runs, latest_runs, save_runs

from .findings import DomainReport, Severity
from .runner import ignored

if TYPE_CHECKING:
    from mailops.store import Store

FindingDict = dict[str, Any]
_SPLIT = re.compile(r"[\s,;|()\[\]{}<>=]+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")  # not dotted quads: 127.0.0.2 is a name, not a count


def finding_key(finding: FindingDict) -> str:
    """What identifies a finding across runs: its code and its message's words (sorted,
    numbers blanked), independent of severity, evidence and word order."""
    words = []
    for token in _SPLIT.split(str(finding.get("message", "")).lower()):
        token = token.strip(".:'\"`")
        if token:
            words.append("#" if _NUMBER.fullmatch(token) else token)
    return f"{finding.get('code', '')} {' '.join(sorted(words))}"


def _keyed(findings: Iterable[FindingDict]) -> dict[str, FindingDict]:
    out: dict[str, FindingDict] = {}
    for f in findings:
        key, n = finding_key(f), 1
        while key in out:  # two findings alike in all but numbers: keep both
            n += 1
            key = f"{finding_key(f)} #{n}"
        out[key] = f
    return out


def digest(findings: Iterable[FindingDict]) -> str:
    """SHA-256 of the normalized finding set (keys and severities, in sorted order)."""
    lines = sorted(f"{k}\t{f.get('severity')}" for k, f in _keyed(findings).items())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


@dataclass
class Changes:
    """What differs between a domain's previous run and this one."""

    domain: str
    previous_at: float | None  # None: no earlier run stored (every finding is new)
    findings: list[FindingDict]  # the current findings, all of them
    new: list[FindingDict] = field(default_factory=list)
    resolved: list[FindingDict] = field(default_factory=list)  # as last seen
    # current finding plus "previous_severity"
    severity_changed: list[FindingDict] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether anything appeared, disappeared or changed severity."""
        return bool(self.new or self.resolved or self.severity_changed)

    def at_or_above(self, level: Severity) -> list[FindingDict]:
        """Current findings at `level` or worse (what --fail-on looks at)."""
        return [f for f in self.findings if Severity(f["severity"]).rank >= level.rank]

    def to_dict(self) -> dict[str, Any]:
        """The `--changed --json` shape (docs/audit.md)."""
        return {"domain": self.domain, "previous_run": iso_time(self.previous_at),
                "new": self.new, "resolved": self.resolved,
                "severity_changed": self.severity_changed, "findings": self.findings}


def compare(domain: str, previous: Sequence[FindingDict] | None, current: Sequence[FindingDict],
            previous_at: float | None = None) -> Changes:
    """The changes from `previous` (None: no earlier run) to `current`."""
    before, now = _keyed(previous or []), _keyed(current)
    out = Changes(domain, previous_at, list(current))
    out.new = [f for k, f in now.items() if k not in before]
    out.resolved = [f for k, f in before.items() if k not in now]
    out.severity_changed = [{**f, "previous_severity": before[k]["severity"]}
                            for k, f in now.items()
                            if k in before and before[k]["severity"] != f["severity"]]
    return out


def record(store: Store, reports: Sequence[DomainReport], *, save: bool = True,
           ignore: frozenset[str] = frozenset(), keep: int = 0,
           now: float | None = None) -> list[Changes]:
    """Compare each report with its domain's last stored run, then (with `save`) store
    this run, keeping `keep` runs per domain (0: all). Earlier findings whose code
    `ignore` now suppresses are left out of the comparison, so adding an --ignore does
    not read as a fix."""
    run_at = time.time() if now is None else now
    last = latest_runs(store, [r.domain for r in reports])
    out: list[Changes] = []
    runs: list[AuditRun] = []
    for report in reports:
        current = [f.to_dict() for f in report.findings]
        prev = last.get(report.domain)
        before = None if prev is None else [f for f in prev.findings
                                            if not ignored(str(f.get("code")), ignore)]
        out.append(compare(report.domain, before, current,
                           None if prev is None else prev.run_at))
        runs.append(AuditRun(report.domain, run_at, digest(current), current))
    if save:
        save_runs(store, runs, keep)
    return out


@dataclass
class HistoryEntry:
    """One stored run of a domain and what changed since the run before it."""

    run: AuditRun
    changes: Changes

    def to_dict(self) -> dict[str, Any]:
        """The `--history --json` shape of one run (docs/audit.md)."""
        c = self.changes
        return {"run_at": iso_time(self.run.run_at), "digest": self.run.digest,
                "counts": self.run.counts(), "first": c.previous_at is None,
                "new": c.new, "resolved": c.resolved, "severity_changed": c.severity_changed}


def history(store: Store, domain: str, limit: int | None = None) -> list[HistoryEntry]:
    """A domain's stored runs, oldest first (the last `limit` of them), each compared
    with the run before it."""
    runs = domain_runs(store, domain, None if limit is None else limit + 1)
    entries = []
    for i, run in enumerate(runs):
        prev = runs[i - 1] if i else None
        entries.append(HistoryEntry(run, compare(
            domain, None if prev is None else prev.findings, run.findings,
            None if prev is None else prev.run_at)))
    if limit is not None and len(runs) > limit:
        entries = entries[1:]  # fetched only to compare the oldest shown run with
    return entries


def iso_time(ts: float | None) -> str | None:
    """UTC, ISO 8601 with a Z, to the second (None stays None)."""
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
