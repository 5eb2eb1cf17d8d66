"""Config precedence: defaults < TOML file < MAILOPS_* environment < flags."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Cli

from mailops.config import load_config
from mailops.errors import ConfigError


def test_defaults_file_env_precedence(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[serve]\nmax_size = 1000\nauth = "any"\n')
    cfg = load_config(tmp_path, environ={"MAILOPS_SERVE_MAX_SIZE": "2000"})
    assert cfg.get_int("serve.max_size") == 2000
    assert cfg.sources["serve.max_size"] == "MAILOPS_SERVE_MAX_SIZE"
    assert cfg.get_str("serve.auth") == "any"
    assert cfg.sources["serve.auth"].endswith("config.toml")
    assert cfg.get_list("serve.listen") == ["127.0.0.1:2525"]
    assert cfg.sources["serve.listen"] == "default"
    cfg.set("serve.max_size", 3000, "flag")
    assert cfg.get_int("serve.max_size") == 3000


def test_env_list_and_bool(tmp_path: Path) -> None:
    cfg = load_config(tmp_path, environ={"MAILOPS_SERVE_LISTEN": "127.0.0.1:1, [::1]:2",
                                         "MAILOPS_SERVE_ALLOW_PUBLIC": "yes"})
    assert cfg.get_list("serve.listen") == ["127.0.0.1:1", "[::1]:2"]
    assert cfg.get("serve.allow_public") is True


@pytest.mark.parametrize("text,needle", [
    ("[serve]\nmax_size = 'big'\n", "expected a whole number"),
    ("[serve]\nnope = 1\n", "unknown key 'serve.nope'"),
    ("[serve\n", "invalid TOML"),
])
def test_bad_config_file(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_config(tmp_path, environ={})


def test_home_resolution(tmp_path: Path) -> None:
    cfg = load_config(None, environ={"MAILOPS_HOME": str(tmp_path)})
    assert cfg.paths.config_file.parent == cfg.paths.data_dir  # MAILOPS_HOME read by paths
    # an explicit --home wins over MAILOPS_HOME
    other = tmp_path / "other"
    assert load_config(other, environ={}).paths.store_file == other.resolve() / "mailops.db"


def test_config_show_cli(cli: Cli, home: Path) -> None:
    (home / "config.toml").write_text("[send]\ntimeout = 7\n")
    rows = {r["key"]: r for r in cli.ok("config", "show", "--json",
                                        env={"MAILOPS_SERVE_HOSTNAME": "h.test"}).json()}
    assert rows["send.timeout"]["value"] == 7
    assert rows["send.timeout"]["source"].endswith("config.toml")
    assert rows["serve.hostname"] == {**rows["serve.hostname"], "value": "h.test",
                                      "source": "MAILOPS_SERVE_HOSTNAME"}
    res = cli("config", "show", env={"MAILOPS_SERVE_MAX_SIZE": "lots"})
    assert res.code == 3
    assert res.err.strip().splitlines() == [
        "mailops: error: serve.max_size (from MAILOPS_SERVE_MAX_SIZE): expected a whole number,"
        " got 'lots'"]


def test_global_home_flag(cli: Cli, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    out = cli.ok("--home", str(elsewhere), "config", "path").out
    assert str(elsewhere) in out
