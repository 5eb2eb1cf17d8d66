"""Where mailops keeps its config and data.

`MAILOPS_HOME=DIR` (or the CLI's `--home DIR`) puts both in DIR so tests, CI and
several instances never touch the user's real data; otherwise the platform's
config and data directories are used (via platformdirs).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "mailops"


@dataclass(frozen=True)
class Paths:
    """Resolved locations of the config file and the data directory."""

    config_dir: Path
    data_dir: Path
    source: str  # "MAILOPS_HOME", "--home" or "platform"

    @property
    def config_file(self) -> Path:
        """The TOML config file (it need not exist)."""
        return self.config_dir / "config.toml"

    @property
    def store_file(self) -> Path:
        """The SQLite mail store."""
        return self.data_dir / "mailops.db"

    @property
    def run_dir(self) -> Path:
        """Pid files and other runtime state of detached daemons."""
        return self.data_dir / "run"


def resolve_paths(home: str | os.PathLike[str] | None = None,
                  environ: Mapping[str, str] | None = None) -> Paths:
    """Resolve paths: an explicit home, then `MAILOPS_HOME`, then platform dirs."""
    if home is not None:
        root = Path(home).expanduser().resolve()
        return Paths(root, root, "--home")
    env = (os.environ if environ is None else environ).get("MAILOPS_HOME")
    if env:
        root = Path(env).expanduser().resolve()
        return Paths(root, root, "MAILOPS_HOME")
    import platformdirs  # lazy: keeps `mailops --help` fast

    return Paths(
        Path(platformdirs.user_config_dir(APP_NAME)),
        Path(platformdirs.user_data_dir(APP_NAME)),
        "platform",
    )
