"""Time for the executor: real time in production, the simulator's clock in tests and the demo."""
from __future__ import annotations

import threading
import time
from typing import Callable, Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class WallClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class SteppedClock:
    """A clock driven by callables: the simulator's `now` and `advance`, so waits cost no real time."""

    def __init__(self, now: Callable[[], float], advance: Callable[[float], None]):
        self._now, self._advance = now, advance
        self._lock = threading.Lock()  # nodes of a wave wait in threads; the simulation steps one at a time

    def now(self) -> float:
        return self._now()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._advance(max(seconds, 0.0))


def cli_clock() -> Clock:
    """The clock the command line runs on: the wall clock (tests put the simulator's here)."""
    return WallClock()
