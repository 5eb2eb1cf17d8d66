"""Effective configuration: defaults, then the TOML file, then `MAILOPS_*`
environment variables, then command-line flags, each overriding the one before.

Every value remembers where it came from so `mailops config show` can explain it.
Keys are dotted (`serve.max_size`); the environment variable of a key is
`MAILOPS_` + the key upper-cased with dots as underscores (`MAILOPS_SERVE_MAX_SIZE`).
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mailops.errors import ConfigError
from mailops.paths import Paths, resolve_paths
from mailops.retention import (
    check_count_setting,
    check_duration_setting,
    check_rules_setting,
    check_size_setting,
)
from mailops.tagging import Rule, Tagging, parse_rules


@dataclass(frozen=True)
class Setting:
    """One known configuration key."""

    key: str
    kind: type  # int, str, bool or list (of str)
    default: Any
    help: str
    # Validates and normalizes a value instead of `kind` (args: value, "key (from SOURCE)").
    check: Callable[[Any, str], Any] | None = None

    @property
    def env_var(self) -> str:
        """The environment variable that overrides this key."""
        return "MAILOPS_" + self.key.upper().replace(".", "_")


def _workers_setting(value: Any, where: str) -> str:
    """serve.workers: `auto` or a whole number (TOML `workers = 3` or a string)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto" or (text.isascii() and text.isdigit()):
            return text
    raise ConfigError(f"{where}: expected auto or a whole number, got {value!r}")


SETTINGS: tuple[Setting, ...] = (
    Setting("serve.listen", list, ["127.0.0.1:2525"], "HOST:PORT addresses to listen on"),
    Setting("serve.hostname", str, "mailops.localhost", "name in the SMTP banner and EHLO"),
    Setting("serve.max_size", int, 25 * 1024 * 1024, "largest accepted message, bytes"),
    Setting("serve.max_recipients", int, 1000, "most RCPT TO per message"),
    Setting("serve.auth", str, "none", "SMTP AUTH: none or any"),
    Setting("serve.command_timeout", int, 300, "seconds a client may take per command"),
    Setting("serve.allow_public", bool, False, "allow binding non-loopback addresses"),
    Setting("serve.log_format", str, "text", "log lines: text or json"),
    Setting("serve.workers", str, "auto",
            "SMTP processes: a number, or auto (2 with 2+ CPUs, else 1)",
            check=_workers_setting),
    Setting("send.server", str, "127.0.0.1:2525", "default SMTP server for `send`"),
    Setting("send.from", str, "mailops@localhost", "default envelope and From address"),
    Setting("send.timeout", int, 30, "seconds to wait for each SMTP step"),
    Setting("send.security", str, "plain",
            "plain, starttls (required) or tls (implicit, SMTPS) for `send` and the TUI"),
    Setting("send.user", str, "", "AUTH user for `send` and the TUI (password: "
            "$MAILOPS_SMTP_PASSWORD or the keyring)"),
    Setting("send.cafile", str, "", "PEM file of CAs to trust for the server's certificate"),
    Setting("tags.plus_addressing", bool, True,
            "at ingest, tag mail to user+TAG@domain with TAG (docs/tags.md)"),
    Setting("tags.x_tags", bool, True, "at ingest, tag mail with its X-Tags header's tags"),
    Setting("threads.subject_days", int, 0,
            "a 'Re:' without references joins the newest thread with its subject within"
            " N days (0: off; docs/threads.md)"),
    # Retention (docs/retention.md): unset limits are None; rules come from
    # [[retention.rules]] tables (or JSON in MAILOPS_RETENTION_RULES).
    Setting("retention.max_messages", int, None, "keep at most N messages (oldest go first)",
            check_count_setting),
    Setting("retention.max_age", str, None, "delete messages older than this, e.g. 30d",
            check_duration_setting),
    Setting("retention.max_size", str, None, "keep at most this much raw mail, e.g. 500M",
            check_size_setting),
    Setting("retention.rules", list, [], "per-folder or per-tag limits",
            check_rules_setting),
    Setting("retention.interval", str, "1h", "how often the daemon applies retention",
            check_duration_setting),
    # Per-domain selectors come from [audit.domains."example.org"] tables (docs/audit.md).
    Setting("audit.selectors", list, [],
            "DKIM selectors `mailops audit` checks for every domain, besides --selector"),
    Setting("audit.keep_runs", int, 1000,
            "stored `mailops audit` runs kept per domain, newest first (0: all)"),
    # Defaults of `mailops audit` and of the TUI's domain-health re-runs; flags win.
    Setting("audit.nameservers", list, [],
            "resolvers (IP[:PORT]) audits ask (default: the system's)"),
    Setting("audit.timeout", int, 5, "seconds one DNS lookup of an audit may take"),
    Setting("audit.smtp", bool, True, "audits probe each MX host over SMTP"),
    Setting("audit.dnssec", bool, True, "audits check DNSSEC"),
    Setting("audit.trust_anchor", str, None,
            "file of DS/DNSKEY records audits trust (default: the root's)"),
    Setting("audit.dnsbl", list, [], "DNS blocklist zones audits look MX hosts up in"),
    # Saved searches come from a [tui.saved_searches] table (docs/tui.md).
    Setting("tui.theme", str, "textual-dark",
            "`mailops tui` colours: a Textual theme, e.g. textual-light (Ctrl+T toggles)"),
    Setting("tui.opener", str, "",
            "command the TUI opens attachments with (default: xdg-open, or open on macOS)"),
)
_BY_KEY = {s.key: s for s in SETTINGS}


@dataclass
class Config:
    """The effective configuration plus the origin of each value."""

    paths: Paths
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()  # config.toml's [[rules]] (not a flat key)
    rules_source: str = "default"
    # [audit.domains."D"] selectors = [...]: domain (lower case, no final dot) -> selectors
    audit_domains: dict[str, list[str]] = field(default_factory=dict)
    audit_domains_source: str = "default"
    # [tui.saved_searches] NAME = "query": the TUI sidebar's saved searches
    saved_searches: dict[str, str] = field(default_factory=dict)

    @property
    def tagging(self) -> Tagging:
        """What indexing applies to new messages (pass to `Store(tagging=...)`)."""
        return Tagging(self.rules, bool(self.values["tags.plus_addressing"]),
                       bool(self.values["tags.x_tags"]))

    def get(self, key: str) -> Any:
        """The effective value of a known key."""
        return self.values[key]

    def get_int(self, key: str) -> int:
        """A key declared as int."""
        value = self.values[key]
        assert isinstance(value, int)
        return value

    def get_str(self, key: str) -> str:
        """A key declared as str."""
        return str(self.values[key])

    def get_list(self, key: str) -> list[str]:
        """A key declared as a list of strings."""
        return list(self.values[key])

    def set(self, key: str, value: Any, source: str) -> None:
        """Override a key (flags use this), checking its type."""
        self.values[key] = _coerce(_setting(key), value, source)
        self.sources[key] = source

    def rows(self) -> list[dict[str, Any]]:
        """Every key with its value and origin, for `config show`."""
        return [
            {"key": s.key, "value": self.values[s.key], "source": self.sources[s.key],
             "env": s.env_var, "help": s.help}
            for s in SETTINGS
        ] + [  # one row per auto-tagging rule, after the flat keys
            {"key": f"rules[{n}]", "value": _describe_rule(r), "source": self.rules_source,
             "env": "", "help": f"auto-tagging rule ({r.name})"}
            for n, r in enumerate(self.rules, 1)
        ] + [
            {"key": f'audit.domains."{d}".selectors', "value": sel,
             "source": self.audit_domains_source, "env": "",
             "help": f"DKIM selectors `mailops audit` checks for {d}"}
            for d, sel in self.audit_domains.items()
        ]


def _describe_rule(rule: Rule) -> str:
    parts = [rule.query, "->", *(f"+{t}" for t in rule.tags)]
    if rule.folder is not None:
        parts.append(f"folder={rule.folder}")
    return " ".join(parts)


def _setting(key: str) -> Setting:
    try:
        return _BY_KEY[key]
    except KeyError:
        raise ConfigError(f"unknown config key {key!r}") from None


def _coerce(setting: Setting, value: Any, source: str) -> Any:
    """Check or convert a value to the setting's kind; strings come from env vars."""
    kind = setting.kind
    where = f"{setting.key} (from {source})"
    if setting.check is not None:
        return setting.check(value, where)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on", "0", "false",
                                                         "no", "off"}:
            return value.lower() in {"1", "true", "yes", "on"}
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return int(value.strip())
        raise ConfigError(f"{where}: expected a whole number, got {value!r}")
    if kind is list:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
    if isinstance(value, str):
        return value
    raise ConfigError(f"{where}: expected a string, got {value!r}")


def _audit_domains(value: Any, where: str) -> dict[str, list[str]]:
    """[audit.domains."example.org"] tables: each holds only `selectors`, a list of names."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: audit.domains must be a table of domains")
    out: dict[str, list[str]] = {}
    for domain, table in value.items():
        name = str(domain).strip().rstrip(".").lower()
        if not name or not isinstance(table, Mapping) or set(table) - {"selectors"}:
            raise ConfigError(f"{where}: [audit.domains.\"{domain}\"] takes only "
                              "selectors = [...]")
        selectors = table.get("selectors", [])
        if not isinstance(selectors, list) or not all(isinstance(x, str) for x in selectors):
            raise ConfigError(f"{where}: audit.domains.\"{domain}\".selectors: expected a "
                              "list of strings")
        out[name] = [x.strip() for x in selectors if x.strip()]
    return out


def _saved_searches(value: Any, where: str) -> dict[str, str]:
    """[tui.saved_searches]: NAME = "query" pairs (queries are checked when used)."""
    if not isinstance(value, Mapping) or not all(
            isinstance(q, str) and str(n).strip() for n, q in value.items()):
        raise ConfigError(f"{where}: [tui.saved_searches] takes NAME = \"query\" pairs")
    return {str(n).strip(): q for n, q in value.items()}


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, key + "."))
        else:
            out[key] = value
    return out


def load_config(home: str | os.PathLike[str] | None = None,
                environ: Mapping[str, str] | None = None) -> Config:
    """Build the effective config from defaults, the TOML file and the environment."""
    env = os.environ if environ is None else environ
    paths = resolve_paths(home, env)
    cfg = Config(paths)
    for s in SETTINGS:
        cfg.values[s.key] = s.default
        cfg.sources[s.key] = "default"
    cfile = paths.config_file
    if cfile.exists():
        try:
            data = tomllib.loads(cfile.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {cfile}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{cfile}: invalid TOML: {exc}") from None
        if "rules" in data:  # an array of tables, not a flat key
            cfg.rules = parse_rules(data.pop("rules"), str(cfile))
            cfg.rules_source = str(cfile)
        audit = data.get("audit")
        if isinstance(audit, dict) and "domains" in audit:  # keyed by domain, not flat keys
            cfg.audit_domains = _audit_domains(audit.pop("domains"), str(cfile))
            cfg.audit_domains_source = str(cfile)
        tui = data.get("tui")
        if isinstance(tui, dict) and "saved_searches" in tui:  # keyed by name
            cfg.saved_searches = _saved_searches(tui.pop("saved_searches"), str(cfile))
        for key, value in _flatten(data).items():
            if key not in _BY_KEY:
                raise ConfigError(f"{cfile}: unknown key {key!r}")
            cfg.set(key, value, str(cfile))
    for s in SETTINGS:
        if s.env_var in env:
            cfg.set(s.key, env[s.env_var], s.env_var)
    return cfg
