"""Faults on demand, seeded so a failing run can be replayed exactly.

API faults are drawn per request by the HTTP server; cluster faults (a calico-node that
never gets Ready, a PDB that never yields, a node that goes NotReady) are read by the
controllers on every pass, so they can be switched on and off while a run is going.
"""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field, fields

_WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class FaultSettings:
    api_error_rate: float = 0.0           # share of API requests that fail
    api_error_codes: list[int] = field(default_factory=lambda: [500, 503, 429])
    retry_after_seconds: int = 1          # sent with 429 and 503
    drop_rate: float = 0.0                # share of requests whose connection is dropped unanswered
    latency_ms: float = 0.0               # added to every API request (real milliseconds)
    applies_to: str = "all"               # all | reads | writes
    calico_never_ready: list[str] = field(default_factory=list)   # node names
    pdb_never_allows: list[str] = field(default_factory=list)     # "namespace/name"
    nodes_not_ready: list[str] = field(default_factory=list)      # node names

    def validate(self) -> None:
        for name in ("api_error_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"faults.{name} must be between 0 and 1, got {value}")
        if self.applies_to not in ("all", "reads", "writes"):
            raise ValueError(f"faults.applies_to must be all, reads or writes, got {self.applies_to!r}")
        bad = [c for c in self.api_error_codes if c not in (429, 500, 502, 503, 504)]
        if bad:
            raise ValueError(f"faults.api_error_codes may hold 429, 500, 502, 503, 504; got {bad}")
        if self.latency_ms < 0 or self.retry_after_seconds < 0:
            raise ValueError("faults.latency_ms and faults.retry_after_seconds cannot be negative")

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class ApiFault:
    kind: str  # "error" or "drop"
    code: int = 0


class Faults:
    def __init__(self, settings: FaultSettings | None = None, seed: int = 0):
        self._settings = settings or FaultSettings()
        self._settings.validate()
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    @property
    def settings(self) -> FaultSettings:
        return self._settings

    def update(self, changes: dict) -> FaultSettings:
        known = {f.name for f in fields(FaultSettings)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        with self._lock:
            merged = FaultSettings(**{**self._settings.as_dict(), **changes})
            merged.validate()
            self._settings = merged
            return merged

    def draw_api_fault(self, method: str) -> ApiFault | None:
        s = self._settings
        is_write = method in _WRITE_METHODS
        if (s.applies_to == "reads" and is_write) or (s.applies_to == "writes" and not is_write):
            return None
        with self._lock:
            if s.drop_rate and self._random.random() < s.drop_rate:
                return ApiFault("drop")
            if s.api_error_rate and self._random.random() < s.api_error_rate:
                return ApiFault("error", self._random.choice(s.api_error_codes))
        return None
