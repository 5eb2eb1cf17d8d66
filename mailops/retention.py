"""Retention: delete the oldest messages beyond a count, age or size limit.

A policy is a list of rules. Each rule has a scope (the whole store, one folder
or one tag) and any of three limits: `max_messages` (keep the newest N),
`max_age` (keep what was received within this long) and `max_size` (keep the
newest messages whose raw sizes add up to at most this). What a rule drops is
always the oldest end of its scope, ordered by `received_at` (the SMTP arrival
time, or the original delivery time of imported mail).

Deletion runs in small write transactions with pauses between them, so a
running daemon keeps storing mail while retention works, and a run killed at
any point leaves a consistent store that the next run finishes. Freed space is
returned to the file system with `PRAGMA incremental_vacuum` in small steps.

This module is cheap to import (the config loader uses its parsers); the store
is imported only when retention runs.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailops.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from mailops.config import Config
    from mailops.store import Store

# "m" is a month (30 days), as in the query language's after:3m; minutes are "min".
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|min|m|h|d|w|y)\s*", re.IGNORECASE)
_DURATION_UNITS = {"s": 1, "sec": 1, "min": 60, "m": 30 * 86400, "h": 3600, "d": 86400,
                   "w": 7 * 86400, "y": 365 * 86400}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_DURATION_HELP = "a duration like 30d (units s, min, h, d, w, m = 30 days, y)"
_SIZE_HELP = "a size like 500M (bytes, or K, M, G, T: powers of 1024)"
_LIMIT_KEYS = ("max_messages", "max_age", "max_size")
_SCOPE_KEYS = ("folder", "tag")

DEFAULT_BATCH = 200  # messages per delete transaction
_BATCH_BYTES = 32 << 20  # raw bytes per delete transaction at most (but one message)
_VACUUM_PAGES = 1024  # pages freed per incremental_vacuum step (4 MiB at 4 KiB pages)


# -- parsing -------------------------------------------------------------------------


def parse_duration(text: str) -> float:
    """Seconds in a duration like "30d", "12h", "90m", "2w", "1y"; ValueError if bad."""
    m = _DURATION.fullmatch(text)
    if m is None or float(m.group(1)) <= 0:
        raise ValueError(f"expected {_DURATION_HELP}, got {text!r}")
    return float(m.group(1)) * _DURATION_UNITS[m.group(2).lower()]


def parse_size(value: str | int) -> int:
    """Bytes in a size like "500M", "1.5G", "64k" or a plain byte count; ValueError if bad."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"expected {_SIZE_HELP}, got {value!r}")
        return value
    m = _SIZE.fullmatch(str(value))
    if m is None or float(m.group(1)) <= 0:
        raise ValueError(f"expected {_SIZE_HELP}, got {value!r}")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])


def parse_count(value: str | int) -> int:
    """A positive message count; ValueError if bad."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise ValueError(f"expected a positive whole number, got {value!r}")


def format_duration(seconds: float) -> str:
    """The largest exact unit: 2592000 -> "30d"."""
    for unit in ("y", "w", "d", "h", "m"):
        size = _DURATION_UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def format_size(size: int) -> str:
    """The largest exact binary unit: 524288000 -> "500M"."""
    for unit in ("T", "G", "M", "K"):
        step = _SIZE_UNITS[unit.lower()]
        if size >= step and size % step == 0:
            return f"{size // step}{unit}"
    return str(size)


# -- config validation (called by mailops.config while loading) ---------------------


def _config_value(parse: Callable[[Any], Any], value: Any, where: str) -> Any:
    if isinstance(value, str) and not value.strip():  # MAILOPS_RETENTION_MAX_AGE= unsets
        return None
    try:
        parse(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return value.strip() if isinstance(value, str) else value


def check_count_setting(value: Any, where: str) -> Any:
    """Validate retention.max_messages (a positive int; env strings are converted)."""
    checked = _config_value(parse_count, value, where)
    return None if checked is None else parse_count(checked)


def check_duration_setting(value: Any, where: str) -> Any:
    """Validate a duration setting ("30d"); the text is kept as written."""
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected {_DURATION_HELP}, got {value!r}")
    return _config_value(parse_duration, value, where)


def check_size_setting(value: Any, where: str) -> Any:
    """Validate a size setting ("500M" or a byte count); kept as written."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return _config_value(parse_size, value, where)


def check_rules_setting(value: Any, where: str) -> Any:
    """Validate `[[retention.rules]]`: a list of tables, each with exactly one of
    folder/tag and at least one limit. From the environment it is JSON text.

    Errors name the entry: `retention.rules[2].max_age (from FILE): ...`.
    """
    if isinstance(value, str):
        if not value.strip():
            return []
        try:
            value = json.loads(value)
        except ValueError:
            raise ConfigError(f"{where}: expected a JSON list of rules, got {value!r}") from None
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected [[retention.rules]] tables, got {value!r}")
    key, _, origin = where.partition(" ")
    rules: list[dict[str, Any]] = []
    for number, entry in enumerate(value, 1):
        name = f"{key}[{number}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{name} {origin}: expected a table, got {entry!r}")
        unknown = sorted(set(entry) - set(_LIMIT_KEYS) - set(_SCOPE_KEYS))
        if unknown:
            raise ConfigError(f"{name} {origin}: unknown key {unknown[0]!r} (known: "
                              f"{', '.join(_SCOPE_KEYS + _LIMIT_KEYS)})")
        scopes = [k for k in _SCOPE_KEYS if k in entry]
        if len(scopes) != 1:
            raise ConfigError(f"{name} {origin}: give exactly one of folder or tag")
        scope = entry[scopes[0]]
        if not isinstance(scope, str) or not scope.strip():
            raise ConfigError(f"{name}.{scopes[0]} {origin}: expected a name, got {scope!r}")
        if not any(k in entry for k in _LIMIT_KEYS):
            raise ConfigError(f"{name} {origin}: give max_messages, max_age or max_size")
        checks = {"max_messages": check_count_setting, "max_age": check_duration_setting,
                  "max_size": check_size_setting}
        rule: dict[str, Any] = {scopes[0]: scope}
        for limit in _LIMIT_KEYS:
            if limit in entry:
                checked = checks[limit](entry[limit], f"{name}.{limit} {origin}")
                if checked is None:
                    raise ConfigError(f"{name}.{limit} {origin}: empty value")
                rule[limit] = checked
        rules.append(rule)
    return rules


# -- policies ------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One scope and its limits. No folder and no tag: the whole store."""

    max_messages: int | None = None
    max_age: float | None = None  # seconds
    max_size: int | None = None  # raw bytes
    folder: str | None = None
    tag: str | None = None

    @property
    def scope(self) -> str:
        """"all", "folder=NAME" or "tag=NAME"."""
        if self.folder is not None:
            return f"folder={self.folder}"
        if self.tag is not None:
            return f"tag={self.tag}"
        return "all"

    @property
    def has_limits(self) -> bool:
        """Whether any limit is set."""
        return any(v is not None for v in (self.max_messages, self.max_age, self.max_size))

    def describe(self) -> dict[str, Any]:
        """The rule for people and JSON: {"scope": ..., "max_age": "30d", ...}."""
        return {"scope": self.scope, "max_messages": self.max_messages,
                "max_age": None if self.max_age is None else format_duration(self.max_age),
                "max_size": None if self.max_size is None else format_size(self.max_size)}


@dataclass(frozen=True)
class Policy:
    """Rules applied in order: folder and tag rules first, then the global one."""

    rules: tuple[Rule, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when no rule has a limit (nothing would ever be deleted)."""
        return not any(r.has_limits for r in self.rules)

    def only(self, folder: str | None = None, tag: str | None = None) -> Policy:
        """The rules for one folder or tag only."""
        def same(a: str | None, b: str | None) -> bool:  # folders and tags are case-blind
            return a is not None and b is not None and a.lower() == b.lower()

        return Policy(tuple(r for r in self.rules if same(r.folder, folder) or same(r.tag, tag)))


def _rule_from_values(values: dict[str, Any]) -> Rule:
    def opt(key: str, parse: Callable[[Any], Any]) -> Any:
        value = values.get(key)
        return None if value is None else parse(value)

    return Rule(max_messages=opt("max_messages", parse_count),
                max_age=opt("max_age", parse_duration), max_size=opt("max_size", parse_size),
                folder=values.get("folder"), tag=values.get("tag"))


def policy_from_config(cfg: Config) -> Policy:
    """The policy in `[retention]` and `[[retention.rules]]` (already validated at load)."""
    scoped = [_rule_from_values(r) for r in cfg.get("retention.rules") or []]
    overall = _rule_from_values({k: cfg.get(f"retention.{k}") for k in _LIMIT_KEYS})
    return Policy(tuple(scoped) + ((overall,) if overall.has_limits else ()))


def policy_from_flags(max_messages: int | None = None, max_age: str | None = None,
                      max_size: str | None = None, folder: str | None = None,
                      tag: str | None = None) -> Policy:
    """A one-rule policy from command-line values; UsageError (exit 2) if one is bad."""
    if folder is not None and tag is not None:
        raise UsageError("give --folder or --tag, not both")
    def flag(name: str, parse: Callable[[Any], Any], value: Any) -> Any:
        try:
            return None if value is None else parse(value)
        except ValueError as exc:
            raise UsageError(f"{name}: {exc}") from None

    return Policy((Rule(max_messages=flag("--max-messages", parse_count, max_messages),
                        max_age=flag("--max-age", parse_duration, max_age),
                        max_size=flag("--max-size", parse_size, max_size),
                        folder=folder, tag=tag),))


# -- planning and applying -----------------------------------------------------------


@dataclass
class Doomed:
    """A message a rule removes, and why."""

    id: int
    received_at: float
    size: int
    folder: str
    sender: str
    subject: str
    scope: str
    reason: str  # max_messages, max_age or max_size


@dataclass
class RetentionResult:
    """What a retention run did (or, with dry_run, would do)."""

    dry_run: bool
    messages: int = 0  # deleted (or to delete)
    raw_bytes: int = 0  # their raw sizes
    file_bytes_before: int = 0
    file_bytes_after: int = 0
    vacuum: str = "none"  # incremental, converted, skipped, not-incremental, none
    complete: bool = True  # False if stopped early (the next run continues)
    rules: list[dict[str, Any]] = field(default_factory=list)
    items: list[Doomed] = field(default_factory=list)  # dry runs only

    @property
    def file_bytes_freed(self) -> int:
        """Bytes the store file shrank by."""
        return max(0, self.file_bytes_before - self.file_bytes_after)

    def as_dict(self) -> dict[str, Any]:
        """JSON shape (docs/retention.md)."""
        out: dict[str, Any] = {
            "dry_run": self.dry_run, "messages": self.messages, "raw_bytes": self.raw_bytes,
            "file_bytes_before": self.file_bytes_before,
            "file_bytes_after": self.file_bytes_after,
            "file_bytes_freed": self.file_bytes_freed, "vacuum": self.vacuum,
            "complete": self.complete, "rules": self.rules}
        if self.dry_run:
            out["items"] = [asdict(i) for i in self.items]
        return out


def plan(store: Store, policy: Policy, now: float | None = None) -> list[Doomed]:
    """The messages the policy removes, oldest first. Reads only."""
    from mailops.store import retention as sql

    now = time.time() if now is None else now
    doomed: dict[int, Doomed] = {}
    for rule in policy.rules:
        if not rule.has_limits:
            continue
        cutoff = None if rule.max_age is None else now - rule.max_age
        kept = kept_bytes = 0
        cut_reason: str | None = None  # once one goes, every older one goes too
        for row in sql.scope_rows(store, folder=rule.folder, tag=rule.tag):
            if row.id in doomed:
                continue
            reason = None
            if cutoff is not None and row.received_at < cutoff:
                reason = "max_age"
            elif cut_reason is not None:
                reason = cut_reason
            elif rule.max_messages is not None and kept >= rule.max_messages:
                reason = cut_reason = "max_messages"
            elif rule.max_size is not None and kept_bytes + row.size > rule.max_size:
                reason = cut_reason = "max_size"
            if reason is None:
                kept += 1
                kept_bytes += row.size
                continue
            doomed[row.id] = Doomed(row.id, row.received_at, row.size, row.folder,
                                    row.sender, row.subject, rule.scope, reason)
    return sorted(doomed.values(), key=lambda d: (d.received_at, d.id))


def _batches(items: Sequence[Doomed], size: int) -> list[list[Doomed]]:
    out: list[list[Doomed]] = []
    current: list[Doomed] = []
    taken = 0
    for item in items:
        if current and (len(current) >= size or taken + item.size > _BATCH_BYTES):
            out.append(current)
            current, taken = [], 0
        current.append(item)
        taken += item.size
    if current:
        out.append(current)
    return out


def _pause(busy: float, stop: threading.Event | None) -> bool:
    """Leave the write lock free for at least as long as we held it (with jitter, so
    a writer backing off in SQLite's busy handler does not keep missing the gap).
    Returns True if asked to stop."""
    delay = max(0.01, busy) * (1 + random.random())
    if stop is not None:
        return stop.wait(delay)
    time.sleep(delay)
    return False


def reclaim(store: Store, *, convert: bool, stop: threading.Event | None = None) -> str:
    """Return free pages to the file system without holding the write lock for long.

    An incremental store frees `_VACUUM_PAGES` pages per short transaction. A store
    created before incremental auto-vacuum is converted with one full VACUUM when
    `convert` is set (that blocks writers while it runs); otherwise it is left as it
    is (its free pages are reused by new mail) and "not-incremental" is returned.
    """
    from mailops.store import retention as sql

    if not sql.is_incremental(store):
        if not convert:
            return "not-incremental"
        sql.convert_to_incremental(store)
        sql.checkpoint(store)
        return "converted"
    free = sql.free_pages(store)
    while free:
        started = time.monotonic()
        sql.incremental_vacuum(store, _VACUUM_PAGES)
        left = sql.free_pages(store)
        if left >= free or _pause(time.monotonic() - started, stop):
            break  # no progress (never loop forever), or asked to stop
        free = left
    sql.checkpoint(store)
    return "incremental"


def apply_retention(store_path: str | Path, policy: Policy, *, now: float | None = None,
                    dry_run: bool = False, batch_size: int = DEFAULT_BATCH,
                    reclaim_space: bool = True, convert: bool = False,
                    stop: threading.Event | None = None,
                    progress: Callable[[int, int], None] | None = None) -> RetentionResult:
    """Apply a retention policy to the store at `store_path` and reclaim the space.

    Safe from any thread or process while the daemon runs: it opens its own
    connection, deletes at most `batch_size` messages per transaction and pauses
    between transactions. Setting `stop` ends the run after the current batch
    (`complete` is then False); the next run picks up where it stopped.
    `convert=True` allows the one-time full VACUUM that switches an old store to
    incremental auto-vacuum (the CLI does this; the daemon should not).
    `progress(done, total)` is called after each batch.
    """
    from mailops.store import Store
    from mailops.store import retention as sql

    result = RetentionResult(dry_run=dry_run)
    path = Path(store_path)
    if not path.exists():
        return result
    with Store(path) as store:
        result.file_bytes_before = result.file_bytes_after = sql.file_bytes(store)
        doomed = plan(store, policy, now)
        result.rules = [{**r.describe(), "messages": 0, "raw_bytes": 0}
                        for r in policy.rules if r.has_limits]
        by_scope = {r["scope"]: r for r in result.rules}
        if dry_run:
            result.items = doomed
            result.messages = len(doomed)
            result.raw_bytes = sum(d.size for d in doomed)
            for d in doomed:
                by_scope[d.scope]["messages"] += 1
                by_scope[d.scope]["raw_bytes"] += d.size
            result.vacuum = "skipped"
            return result
        batches = _batches(doomed, max(1, batch_size))
        for number, batch in enumerate(batches, 1):
            started = time.monotonic()
            sizes = sql.existing_sizes(store, [d.id for d in batch])
            result.messages += store.delete([d.id for d in batch])
            for d in batch:
                if d.id in sizes:
                    result.raw_bytes += sizes[d.id]
                    by_scope[d.scope]["messages"] += 1
                    by_scope[d.scope]["raw_bytes"] += sizes[d.id]
            if progress is not None:
                progress(result.messages, len(doomed))
            if number < len(batches) and _pause(time.monotonic() - started, stop):
                result.complete = False
                break
        if reclaim_space and result.complete:
            result.vacuum = reclaim(store, convert=convert, stop=stop)
        result.file_bytes_after = sql.file_bytes(store)
    return result


def vacuum_store(store_path: str | Path) -> RetentionResult:
    """Reclaim free space now (`mailops store vacuum`), converting the store to
    incremental auto-vacuum first if needed."""
    from mailops.store import Store
    from mailops.store import retention as sql

    result = RetentionResult(dry_run=False)
    with Store(store_path) as store:
        result.file_bytes_before = sql.file_bytes(store)
        result.vacuum = reclaim(store, convert=True)
        result.file_bytes_after = sql.file_bytes(store)
    return result
