"""Saved searches: from the config (`[tui.saved_searches]`) and saved in the app.

Searches saved with Ctrl+S go to a small JSON file in the data directory
(`tui-searches.json`, written whole to a temporary file then renamed, so a
crash leaves the old or the new file). A saved name shadows a config one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FILE_NAME = "tui-searches.json"


class SavedSearches:
    """Name -> query, the config's and the user's."""

    def __init__(self, configured: dict[str, str], path: Path | None) -> None:
        self.configured = dict(configured)
        self.path = path
        self.saved: dict[str, str] = {}
        if path is not None and path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}
            if isinstance(data, dict):
                self.saved = {str(k): v for k, v in data.items() if isinstance(v, str)}

    def all(self) -> dict[str, str]:
        """Every saved search, config ones first, then the user's by name."""
        return {**self.configured, **dict(sorted(self.saved.items()))}

    def save(self, name: str, query: str) -> None:
        """Remember a search (OSError if the file cannot be written)."""
        self.saved[name] = query
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.saved, indent=1, sort_keys=True) + "\n",
                       encoding="utf-8")
        os.replace(tmp, self.path)
