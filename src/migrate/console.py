"""The one terminal object every command renders through."""
from __future__ import annotations

from rich.console import Console

console = Console(highlight=False, emoji=False)
err_console = Console(stderr=True, highlight=False, emoji=False)
