"""The simulated clock. Everything in the simulator asks it the time; nothing sleeps on it.

Scaled mode runs `time_scale` simulated seconds per real second (for `sim serve` and the
demo). Manual mode (time_scale 0) only moves when told to, which is what tests use to be
deterministic and instant.
"""
from __future__ import annotations

import datetime as dt
import functools
import threading
import time

# A fixed epoch keeps seeded runs reproducible (timestamps, ages, journal diffs).
DEFAULT_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc).timestamp()


class SimClock:
    def __init__(self, time_scale: float = 1.0, epoch: float = DEFAULT_EPOCH):
        if time_scale < 0:
            raise ValueError("time scale must be zero (manual) or positive")
        self.time_scale = time_scale
        self._epoch = epoch
        self._real_start = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    @property
    def manual(self) -> bool:
        return self.time_scale == 0

    def now(self) -> float:
        """Simulated seconds since the Unix epoch."""
        with self._lock:
            scaled = (time.monotonic() - self._real_start) * self.time_scale
            return self._epoch + scaled + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock does not run backwards")
        with self._lock:
            self._offset += seconds

    def real_seconds(self, sim_seconds: float) -> float:
        """How long a simulated interval takes in real time (infinite in manual mode)."""
        return float("inf") if self.manual else sim_seconds / self.time_scale


@functools.lru_cache(maxsize=4096)  # controllers stamp many objects with the same `now`
def rfc3339(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
