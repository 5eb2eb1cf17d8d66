"""DKIM key rotation as resumable steps (docs/dkim.md#rotation):

1. `keygen`  make the new selector's key (kept if it exists),
2. `publish` put its TXT record in the zone by an RFC 2136 update with TSIG,
3. `wait`    until the authoritative server answers with it,
4. `switch`  make the new selector the one `dkim sign` uses,
5. `revoke`  after the grace period, publish the old selector with an empty `p=`.

Completed steps are recorded in `DATA/dkim/DOMAIN/rotate-NEW.json` after each one, so
a run that is killed continues where it stopped; each step also checks the live state
first, so redoing a step that had finished but was not recorded changes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.name

from mailops.dkim import keystore
from mailops.dkim.ddns import find_zone, replace_txt
from mailops.dkim.keys import (
    KeyType,
    check_domain,
    check_selector,
    generate_private_key,
    parse_tags,
    record_name,
    revoked_txt,
)
from mailops.dkim.lookup import Nameserver, query_txt
from mailops.dkim.tsig import TsigKey
from mailops.errors import DkimError, DkimRotateError

STEPS = ("keygen", "publish", "wait", "switch", "revoke")


@dataclass(frozen=True)
class RotationOptions:
    """What to rotate and how."""

    domain: str
    old: str
    new: str
    nameserver: Nameserver
    tsig: TsigKey | None  # None only for a dry run
    zone: str | None = None
    ttl: int = 3600
    key_type: KeyType = "rsa"
    bits: int = 2048
    grace: float = 0.0  # seconds between switch and revoke
    wait_timeout: float = 120.0
    poll_interval: float = 1.0
    # more servers that must show the new key before the switch: secondaries, or the
    # resolvers receivers use (the primary alone says nothing about what they see)
    wait_on: tuple[Nameserver, ...] = ()


@dataclass
class StepOutcome:
    """What a step did: `done` (changed something), `already` (nothing to change),
    `planned` (dry run), `waiting` (the grace period runs) or `recorded` (done before)."""

    step: str
    status: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        """JSON-ready fields."""
        return {"step": self.step, "status": self.status, "detail": self.detail}


@dataclass
class RotationState:
    """The state file: which steps finished, and when."""

    path: Path
    domain: str
    old: str
    new: str
    done: dict[str, float] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, domain: str, old: str, new: str) -> RotationState:
        """Read the state of a rotation (empty when it never ran)."""
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path, domain, old, new)
        except (OSError, ValueError) as exc:
            raise DkimRotateError(f"cannot read the rotation state {path}: {exc}") from None
        if data.get("old") != old:
            raise DkimRotateError(f"{path} records a rotation from {data.get('old')!r} to "
                                  f"{new!r}, not from {old!r}")
        done = {str(k): float(v) for k, v in dict(data.get("done", {})).items()}
        return cls(path, domain, old, new, done)

    def record(self, step: str) -> None:
        """Mark a step finished (atomically rewrites the file)."""
        self.done[step] = time.time()
        data = {"domain": self.domain, "old": self.old, "new": self.new, "done": self.done}
        keystore.write_private(self.path, json.dumps(data, indent=2).encode(), 0o644)


def state_file(data_dir: Path, domain: str, new: str) -> Path:
    """Where the rotation to selector `new` keeps its progress."""
    return keystore.dkim_dir(data_dir) / check_domain(domain) / f"rotate-{check_selector(new)}.json"


def recorded_old(data_dir: Path, domain: str, new: str) -> str | None:
    """The old selector of a rotation to `new` already under way, if any."""
    try:
        data = json.loads(state_file(data_dir, domain, new).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    old = data.get("old") if isinstance(data, dict) else None
    return old if isinstance(old, str) else None


class Rotation:
    """One rotation from `old` to `new`; `run` does (or with dry_run, plans) its steps."""

    def __init__(self, data_dir: Path, opts: RotationOptions,
                 log: Callable[[StepOutcome], None] | None = None) -> None:
        self.data_dir = data_dir
        self.opts = opts
        self.domain = check_domain(opts.domain)
        self.old, self.new = check_selector(opts.old), check_selector(opts.new)
        if self.old == self.new:
            raise DkimRotateError("--old and --new are the same selector")
        self.state = RotationState.load(state_file(data_dir, self.domain, self.new),
                                        self.domain, self.old, self.new)
        self.log = log or (lambda outcome: None)
        self._zone: dns.name.Name | None = None

    def run(self, *, dry_run: bool = False, max_steps: int | None = None) -> list[StepOutcome]:
        """Do the steps not yet recorded, in order; stop after `max_steps` of them, or at
        a revoke still inside its grace period. A dry run only reads."""
        outcomes: list[StepOutcome] = []
        taken = 0
        for step in STEPS:
            if step in self.state.done:
                outcome = StepOutcome(step, "recorded", "finished in an earlier run")
            elif max_steps is not None and taken >= max_steps:
                break
            else:
                outcome = getattr(self, f"_{step}")(dry_run)
                taken += 1
                if outcome.status in {"done", "already"}:
                    self.state.record(step)
            outcomes.append(outcome)
            self.log(outcome)
            if outcome.status == "waiting":
                break
        return outcomes

    @property
    def complete(self) -> bool:
        """Every step is recorded as finished."""
        return all(step in self.state.done for step in STEPS)

    # --- the steps ---------------------------------------------------------------

    def _new_txt(self) -> str:
        stored = keystore.describe_key(self.data_dir, self.domain, self.new)
        if stored is None:
            raise DkimRotateError(f"no key for {self.new}: the keygen step has not run")
        return stored.txt

    def _zone_name(self) -> dns.name.Name:
        if self._zone is None:
            self._zone = (dns.name.from_text(self.opts.zone) if self.opts.zone else
                          find_zone(record_name(self.domain, self.new), self.opts.nameserver))
        return self._zone

    def _tsig(self) -> TsigKey:
        if self.opts.tsig is None:
            raise DkimRotateError("a TSIG key is needed (--tsig-key-file)")
        return self.opts.tsig

    def _keygen(self, dry_run: bool) -> StepOutcome:
        stored = keystore.describe_key(self.data_dir, self.domain, self.new)
        if stored is not None:
            return StepOutcome("keygen", "already",
                               f"{self.new} has a {stored.key_type} key ({stored.bits} bits)")
        what = f"{self.opts.key_type} key" + (f" ({self.opts.bits} bits)"
                                              if self.opts.key_type == "rsa" else "")
        if dry_run:
            return StepOutcome("keygen", "planned", f"generate a new {what} for {self.new}")
        pem = generate_private_key(self.opts.key_type, self.opts.bits)
        keystore.save_key(self.data_dir, self.domain, self.new, pem)
        return StepOutcome("keygen", "done", f"generated a new {what} for {self.new}")

    def _publish(self, dry_run: bool) -> StepOutcome:
        name = record_name(self.domain, self.new)
        if dry_run and keystore.describe_key(self.data_dir, self.domain, self.new) is None:
            return StepOutcome("publish", "planned", f"add the new key's TXT at {name}")
        text = self._new_txt()
        if query_txt(self.opts.nameserver, name) == [text]:
            return StepOutcome("publish", "already", f"{name} already has the new key")
        if dry_run:
            return StepOutcome("publish", "planned",
                               f"replace the TXT at {name} by the new key (RFC 2136)")
        replace_txt(self._zone_name(), name, text, self.opts.ttl, self.opts.nameserver,
                    self._tsig())
        return StepOutcome("publish", "done", f"published the new key at {name}")

    def _wait(self, dry_run: bool) -> StepOutcome:
        name = record_name(self.domain, self.new)
        servers = list(dict.fromkeys((self.opts.nameserver, *self.opts.wait_on)))
        listed = ", ".join(str(s) for s in servers)
        if dry_run:
            return StepOutcome("wait", "planned", f"wait until {listed} answer{_s(servers)} "
                               f"{name} with the new key (up to {self.opts.wait_timeout:g} s)")
        text = self._new_txt()
        deadline = time.monotonic() + self.opts.wait_timeout
        while lagging := [s for s in servers if _answer(s, name) != [text]]:
            if time.monotonic() >= deadline:
                behind = ", ".join(str(s) for s in lagging)
                raise DkimRotateError(f"{behind} still do{'es' if len(lagging) == 1 else ''} "
                                      f"not answer {name} with the new key after "
                                      f"{self.opts.wait_timeout:g} s")
            time.sleep(self.opts.poll_interval)
        return StepOutcome("wait", "done", f"{listed} answer{_s(servers)} {name} with the "
                           "new key")

    def _switch(self, dry_run: bool) -> StepOutcome:
        active = keystore.active_selectors(self.data_dir).get(self.domain)
        if active == self.new:
            return StepOutcome("switch", "already", f"{self.new} already signs {self.domain}")
        if dry_run:
            return StepOutcome("switch", "planned",
                               f"sign {self.domain} with {self.new} instead of {active}")
        keystore.set_active_selector(self.data_dir, self.domain, self.new)
        return StepOutcome("switch", "done", f"{self.domain} is now signed with {self.new}")

    def _revoke(self, dry_run: bool) -> StepOutcome:
        name = record_name(self.domain, self.old)
        switched = self.state.done.get("switch")
        ready_at = (switched if switched is not None else time.time()) + self.opts.grace
        if ready_at > time.time():
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ready_at))
            return StepOutcome("revoke", "waiting" if not dry_run else "planned",
                               f"keep {name} published until {when} (grace period) for "
                               "mail signed with it in transit; run again after that")
        current = query_txt(self.opts.nameserver, name)
        key_type = self._old_key_type(current)
        text = revoked_txt(key_type)
        if current == [text]:
            return StepOutcome("revoke", "already", f"{name} is already revoked")
        if dry_run:
            return StepOutcome("revoke", "planned", f"publish {text!r} at {name} (RFC 2136)")
        replace_txt(self._zone_name(), name, text, self.opts.ttl, self.opts.nameserver,
                    self._tsig())
        return StepOutcome("revoke", "done", f"revoked {name} (empty p=)")

    def _old_key_type(self, current: list[str]) -> KeyType:
        stored = keystore.describe_key(self.data_dir, self.domain, self.old)
        if stored is not None:
            return stored.key_type
        for text in current:
            if parse_tags(text).get("k") == "ed25519":
                return "ed25519"
        return "rsa"


def _s(servers: list[Nameserver]) -> str:
    return "s" if len(servers) == 1 else ""


def _answer(server: Nameserver, name: dns.name.Name) -> list[str] | None:
    """The TXT strings `server` gives for `name`; None while it cannot be asked (a
    secondary restarting is "not yet", not a failed rotation)."""
    try:
        return query_txt(server, name, timeout=2.0)
    except DkimError:
        return None
