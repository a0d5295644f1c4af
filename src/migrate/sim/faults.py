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
API_ERROR_CODES = (429, 500, 502, 503, 504)


class FaultError(ValueError):
    """A fault setting of the wrong type or out of range; `field` names it."""

    def __init__(self, field_name: str, expected: str):
        super().__init__(f"faults.{field_name}: expected {expected}")
        self.field, self.expected = field_name, expected


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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
    kubelet_unreachable: list[str] = field(default_factory=list)  # node names: pods/log answers 500

    def validate(self) -> None:
        """Raise FaultError naming the first setting that is of the wrong type or out of range."""
        for name in ("api_error_rate", "drop_rate"):
            value = getattr(self, name)
            if not _is_number(value) or not 0.0 <= value <= 1.0:
                raise FaultError(name, f"a number from 0 to 1, got {value!r}")
        if not isinstance(self.api_error_codes, list) or not self.api_error_codes or any(
                isinstance(c, bool) or c not in API_ERROR_CODES for c in self.api_error_codes):
            raise FaultError("api_error_codes", f"a non-empty list of {', '.join(map(str, API_ERROR_CODES))}, "
                                                f"got {self.api_error_codes!r}")
        if isinstance(self.retry_after_seconds, bool) or not isinstance(self.retry_after_seconds, int) \
                or self.retry_after_seconds < 0:
            raise FaultError("retry_after_seconds", f"a whole number of seconds, 0 or more, got {self.retry_after_seconds!r}")
        if not _is_number(self.latency_ms) or self.latency_ms < 0:
            raise FaultError("latency_ms", f"a number of milliseconds, 0 or more, got {self.latency_ms!r}")
        if self.applies_to not in ("all", "reads", "writes"):
            raise FaultError("applies_to", f"all, reads or writes, got {self.applies_to!r}")
        for name, what in (("calico_never_ready", "node names"), ("pdb_never_allows", "NAMESPACE/NAME strings"),
                           ("nodes_not_ready", "node names"), ("kubelet_unreachable", "node names")):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise FaultError(name, f"a list of {what}, got {value!r}")
        bad = [v for v in self.pdb_never_allows if v.count("/") != 1 or "" in v.split("/")]
        if bad:
            raise FaultError("pdb_never_allows", f"a list of NAMESPACE/NAME strings, got {bad[0]!r}")

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
        """Merge `changes` into the settings; nothing changes when any of them is unknown or invalid."""
        if not isinstance(changes, dict):
            raise ValueError(f"the faults body must be a JSON object of settings, got {type(changes).__name__}")
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
