"""What a check reports: a `Finding` with a stable code, a severity, evidence and a fix."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How bad a finding is; `rank` orders them for `--fail-on`."""

    info = "info"
    warning = "warning"
    error = "error"

    @property
    def rank(self) -> int:
        """0 for info, 1 for warning, 2 for error."""
        return ("info", "warning", "error").index(self.value)


@dataclass(frozen=True)
class Finding:
    """One observation about a domain.

    `evidence` holds the records and answers the check saw (one line each), `fix`
    the record to publish or the change to make, when there is one.
    """

    code: str
    severity: Severity
    message: str
    evidence: tuple[str, ...] = ()
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape: code, severity, message, evidence (list), fix (string or null)."""
        data = asdict(self)
        data["severity"] = self.severity.value
        data["evidence"] = list(self.evidence)
        return data


def error(code: str, message: str, evidence: tuple[str, ...] | list[str] = (),
          fix: str | None = None) -> Finding:
    """An error finding."""
    return Finding(code, Severity.error, message, tuple(evidence), fix)


def warning(code: str, message: str, evidence: tuple[str, ...] | list[str] = (),
            fix: str | None = None) -> Finding:
    """A warning finding."""
    return Finding(code, Severity.warning, message, tuple(evidence), fix)


def info(code: str, message: str, evidence: tuple[str, ...] | list[str] = (),
         fix: str | None = None) -> Finding:
    """An info finding."""
    return Finding(code, Severity.info, message, tuple(evidence), fix)


@dataclass
class DomainReport:
    """Every finding for one domain, in the order the checks produced them."""

    domain: str
    findings: list[Finding] = field(default_factory=list)

    def worst(self) -> Severity | None:
        """The highest severity present, or None when there are no findings."""
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=lambda s: s.rank)

    def at_or_above(self, level: Severity) -> list[Finding]:
        """Findings whose severity is `level` or worse."""
        return [f for f in self.findings if f.severity.rank >= level.rank]

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of docs/audit.md: {"domain", "findings": [...]}."""
        return {"domain": self.domain, "findings": [f.to_dict() for f in self.findings]}
