"""mailops: the engine behind the mailops CLI and TUI.

This package imports no UI library (typer, rich, textual); the `mailops.commands`
CLI and the `mailops.tui` app sit on top of it. The contract is checked by
import-linter and by tests/test_layering.py.
"""

__version__ = "0.1.0"
