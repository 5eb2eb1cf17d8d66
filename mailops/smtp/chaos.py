"""Chaos mode: answer an SMTP stage with an error at a given probability.

A trigger is `STAGE:CODE:PERCENT`, e.g. `rcpt:451:30` makes 30% of RCPT TO
commands fail with 451. Applications under test use it to exercise their retry
and bounce handling, as Mailpit's chaos feature does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from mailops.errors import UsageError
from mailops.smtp.codes import CHAOS, enhanced_for

STAGES = ("connect", "helo", "mail", "rcpt", "data", "auth")


@dataclass(frozen=True)
class Trigger:
    """One chaos trigger."""

    stage: str
    code: int
    percent: float

    def reply(self) -> str:
        """The error reply this trigger sends."""
        return CHAOS.format(code=self.code, enhanced=enhanced_for(self.code), stage=self.stage)


def parse_trigger(spec: str) -> Trigger:
    """Parse `STAGE:CODE:PERCENT`; UsageError names what is wrong."""
    parts = spec.split(":")
    if len(parts) != 3:
        raise UsageError(f"--chaos {spec!r}: expected STAGE:CODE:PERCENT, e.g. rcpt:451:30")
    stage, code_s, pct_s = (p.strip().lower() for p in parts)
    if stage not in STAGES:
        raise UsageError(f"--chaos {spec!r}: stage must be one of {', '.join(STAGES)}")
    if not (code_s.isascii() and code_s.isdigit() and len(code_s) == 3 and code_s[0] in "45"):
        raise UsageError(f"--chaos {spec!r}: code must be a 4xx or 5xx reply code")
    try:
        pct = float(pct_s.rstrip("%"))
    except ValueError:
        pct = -1.0
    if not 0 <= pct <= 100:  # also rejects nan and inf
        raise UsageError(f"--chaos {spec!r}: percent must be between 0 and 100")
    return Trigger(stage, int(code_s), pct)


class Chaos:
    """A set of triggers; `fire(stage)` returns the error reply to send, if any."""

    def __init__(self, triggers: list[Trigger], seed: int | None = None) -> None:
        self.triggers = {t.stage: t for t in triggers}
        self._random = random.Random(seed)

    def fire(self, stage: str) -> str | None:
        """Roll the dice for a stage."""
        trigger = self.triggers.get(stage)
        if trigger and self._random.random() * 100 < trigger.percent:
            return trigger.reply()
        return None
