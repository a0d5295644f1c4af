"""The executor never prints: it emits Events, and the CLI decides how to show them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Event:
    kind: str                  # run-started, wave-started, step-started, step-finished, retry, progress, ...
    message: str = ""
    step: str | None = None    # step id
    node: str | None = None
    wave: int | None = None
    outcome: str | None = None  # done, noop, failed, skipped, reverted
    data: dict = field(default_factory=dict)


Emit = Callable[[Event], None]


def ignore(event: Event) -> None:
    """An emitter for callers that do not watch."""
