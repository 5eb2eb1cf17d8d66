"""Hand a file to the system's opener (xdg-open, open, or `tui.opener`).

The opener runs detached, in its own session with no terminal: a viewer that
writes to stdout or waits for input must not draw over the TUI or hang it.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from mailops.errors import ConfigError


def opener_command(configured: str) -> list[str]:
    """The command to run before the file name: `tui.opener` when set, else the
    platform's (`open` on macOS, `xdg-open` elsewhere). ConfigError when there is none."""
    if configured.strip():
        try:
            argv = shlex.split(configured)
        except ValueError as exc:
            raise ConfigError(f"tui.opener {configured!r}: {exc}") from None
        if shutil.which(argv[0]) is None:
            raise ConfigError(f"tui.opener: {argv[0]} not found")
        return argv
    default = "open" if sys.platform == "darwin" else "xdg-open"
    if shutil.which(default) is None:
        raise ConfigError(f"no {default} here: set tui.opener (e.g. MAILOPS_TUI_OPENER=less)")
    return [default]


def open_file(path: Path, configured: str = "") -> None:
    """Start the opener on `path` and return at once."""
    argv = [*opener_command(configured), str(path)]
    subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)
