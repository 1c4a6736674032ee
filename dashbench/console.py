"""The rich console every command prints through."""

import sys

from rich.console import Console


def make_console() -> Console:
    # Logs and CI are not terminals: give tables room instead of rich's 80-column default.
    return Console() if sys.stdout.isatty() else Console(width=160)
