"""Tag and folder names, and the auto-tagging rules applied when a message is indexed.

Pure (no SQL): the store applies these in mailops/store/tags.py. Tags are
case-insensitive (kept lower-case) ASCII words; rules come from config.toml's
`[[rules]]` tables and are checked when the config loads, so a bad rule fails
`mailops serve` at start rather than silently at ingest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mailops.errors import ConfigError, UsageError

# ASCII only: SQLite's NOCASE folds ASCII letters only, so `tag:Ä` could not find `ä`.
# No ':', '(', ')', '"' or ',' so every tag can be written as `tag:NAME` in a query
# and in an X-Tags header; no leading '+'/'-' (the `mailops tag` syntax).
_TAG = re.compile(r"[a-z0-9_][a-z0-9_.\-/]{0,63}")
_PLUS = re.compile(r"[^\s<>@,+]+\+([^\s<>@]+)@")
_FOLDER_BAD = re.compile(r"[\x00-\x1f\x7f]")


def tag_problem(name: str) -> str | None:
    """Why `name` is not a valid tag (None when it is)."""
    if not name:
        return "a tag name cannot be empty"
    if any(c.isspace() for c in name):
        return f"tag {name!r} contains a space"
    if not _TAG.fullmatch(name.lower()):
        return (f"tag {name!r} is not valid: use 1-64 ASCII letters, digits and _ . - / "
                "(starting with a letter, digit or _)")
    return None


def normalize_tag(name: str) -> str:
    """The stored (lower-case) form of a tag; UsageError if it is not valid."""
    problem = tag_problem(name)
    if problem:
        raise UsageError(problem)
    return name.lower()


def normalize_folder(name: str) -> str:
    """A folder name as given, trimmed; UsageError if empty or holding control characters."""
    folder = name.strip()
    if not folder:
        raise UsageError("a folder name cannot be empty")
    if _FOLDER_BAD.search(folder) or len(folder) > 200:
        raise UsageError(f"folder {name!r} is not valid: no control characters, at most "
                         "200 characters")
    return folder


def plus_tags(addresses: Iterable[str]) -> list[str]:
    """Tags from plus-addressing: `user+tag@domain` gives `tag` (invalid ones are skipped)."""
    found: list[str] = []
    for address in addresses:
        for m in _PLUS.finditer(address):
            tag = m.group(1).lower()
            if tag_problem(tag) is None:
                found.append(tag)
    return list(dict.fromkeys(found))


def header_tags(values: Iterable[str]) -> list[str]:
    """Tags from `X-Tags: a, b` header values (comma or space separated; invalid skipped)."""
    found = [t.lower() for v in values for t in re.split(r"[,\s]+", v) if t]
    return list(dict.fromkeys(t for t in found if tag_problem(t) is None))


@dataclass(frozen=True)
class Rule:
    """One auto-tagging rule: messages matching `query` get `tags` (and `folder`)."""

    name: str  # for messages: "rule 2" or the rule's own `name`
    query: str
    tags: tuple[str, ...] = ()
    folder: str | None = None


@dataclass(frozen=True)
class Tagging:
    """Everything indexing needs to tag a new message."""

    rules: tuple[Rule, ...] = ()
    plus_addressing: bool = True
    header: bool = True  # the X-Tags header


_RULE_KEYS = {"name", "query", "tags", "folder"}


def parse_rules(value: Any, where: str) -> tuple[Rule, ...]:
    """Check config's `[[rules]]` array of tables; ConfigError naming the bad rule."""
    from mailops.query import QuerySyntaxError, parse

    if not isinstance(value, list):
        raise ConfigError(f"{where}: rules must be an array of tables ([[rules]])")
    rules: list[Rule] = []
    for number, entry in enumerate(value, 1):
        label = f"{where}: rule {number}"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{label}: expected a table with query and tags")
        if isinstance(entry.get("name"), str) and entry["name"].strip():
            label += f" ({entry['name'].strip()})"
        unknown = sorted(set(entry) - _RULE_KEYS)
        if unknown:
            raise ConfigError(f"{label}: unknown key {unknown[0]!r} "
                              f"(expected {', '.join(sorted(_RULE_KEYS))})")
        query = entry.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ConfigError(f"{label}: query must be a non-empty string")
        try:
            parse(query)
        except QuerySyntaxError as exc:
            raise ConfigError(f"{label}: bad query {query!r}: {exc.message}") from None
        tags = entry.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ConfigError(f"{label}: tags must be a list of strings")
        for t in tags:
            problem = tag_problem(t)
            if problem:
                raise ConfigError(f"{label}: {problem}")
        folder = entry.get("folder")
        if folder is not None:
            if not isinstance(folder, str):
                raise ConfigError(f"{label}: folder must be a string")
            try:
                folder = normalize_folder(folder)
            except UsageError as exc:
                raise ConfigError(f"{label}: {exc.message}") from None
        if not tags and folder is None:
            raise ConfigError(f"{label}: give tags, a folder or both")
        name = entry.get("name")
        rules.append(Rule(name.strip() if isinstance(name, str) and name.strip()
                          else f"rule {number}", query,
                          tuple(dict.fromkeys(t.lower() for t in tags)), folder))
    return tuple(rules)
