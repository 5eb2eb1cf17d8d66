"""`python -m mailops.commands` (used by `serve --detach`)."""

from .main import run

run()
