"""The control loop: store events in, controllers and timers out, on the simulated clock.

Controllers are informer-style: `on_event` marks what changed, `sync` reconciles only
that, and `ctx.timers` wakes them at a simulated time. One pass holds the store lock,
so a pass sees and leaves a consistent cluster.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import traceback
from collections import deque
from dataclasses import dataclass
from typing import Callable

from .store import WatchEvent

MAX_ROUNDS_PER_PASS = 50
MAX_ERRORS_KEPT = 200

log = logging.getLogger("migrate.sim")


@dataclass(frozen=True)
class ComponentError:
    """An exception a controller, kubelet, agent or timer raised, as its log line would say it."""
    time: float          # simulated seconds
    component: str       # the controller's class name, "timer", or what the component calls itself
    message: str         # "ExceptionType: text"
    traceback: str


class ErrorLog:
    """What the real components do with an unexpected error: log it (utilruntime.HandleError in
    k8s.io/apimachinery pkg/util/runtime/runtime.go) and carry on. The most recent ones are kept
    for tests to read (`SimCluster.errors`)."""

    def __init__(self, clock):
        self.clock = clock
        self.recent: deque[ComponentError] = deque(maxlen=MAX_ERRORS_KEPT)

    def record(self, component: str, exc: BaseException) -> None:
        message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.recent.append(ComponentError(self.clock.now(), component, message, text))
        log.error("simulated %s failed: %s", component, message, exc_info=exc)


class Timers:
    def __init__(self):
        self._heap: list[tuple[float, int, Callable[[float], None]]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()

    def call_at(self, when: float, action: Callable[[float], None]) -> None:
        with self._lock:
            heapq.heappush(self._heap, (when, next(self._seq), action))

    def next_due(self) -> float | None:
        with self._lock:
            return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[Callable[[float], None]]:
        due = []
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                due.append(heapq.heappop(self._heap)[2])
        return due


class Controller:
    """Base for the simulator's controllers."""

    def __init__(self, ctx):
        self.ctx = ctx

    def on_event(self, event: WatchEvent) -> None:
        pass

    def sync(self, now: float) -> None:
        pass


class ControlLoop:
    def __init__(self, store, clock):
        self.store = store
        self.clock = clock
        self.timers = Timers()
        self.controllers: list[Controller] = []
        self._events: deque[WatchEvent] = deque()
        store.listeners.append(self._events.append)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self.errors = ErrorLog(clock)

    def run_pass(self) -> None:
        """Fire due timers and let every controller react until nothing more changes. What one of
        them raises is logged and the rest go on, as each real component runs on its own."""
        with self.store.lock:
            now = self.clock.now()
            for action in self.timers.pop_due(now):
                try:
                    action(now)
                except Exception as exc:
                    self.errors.record("timer", exc)
            for _ in range(MAX_ROUNDS_PER_PASS):
                while self._events:
                    event = self._events.popleft()
                    for controller in self.controllers:
                        try:
                            controller.on_event(event)
                        except Exception as exc:
                            self.errors.record(type(controller).__name__, exc)
                for controller in self.controllers:
                    try:
                        controller.sync(now)
                    except Exception as exc:
                        self.errors.record(type(controller).__name__, exc)
                if not self._events:
                    break

    def advance(self, seconds: float, step: float = 1.0) -> None:
        """Manual mode: move the clock forward, running every timer that falls due on the way."""
        target = self.clock.now() + seconds
        self.run_pass()
        while True:
            due = self.timers.next_due()
            now = self.clock.now()
            next_stop = min(target, now + step) if due is None else min(target, max(due, now), now + step)
            if next_stop > now:
                self.clock.advance(next_stop - now)
            self.run_pass()
            if self.clock.now() >= target:
                break

    def run_until(self, predicate: Callable[[], bool], timeout: float = 600.0, step: float = 1.0) -> bool:
        """Manual mode: advance until predicate() holds or `timeout` simulated seconds pass."""
        deadline = self.clock.now() + timeout
        self.run_pass()
        while not predicate():
            if self.clock.now() >= deadline:
                return False
            self.advance(min(step, deadline - self.clock.now()), step)
        return True

    # ---- scaled mode ---------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run_forever, name="sim-control-loop", daemon=True)
        self._thread.start()

    def _run_forever(self) -> None:
        seen_rv = -1
        while not self._stop.is_set():
            try:
                self.run_pass()
            except BaseException as exc:  # surfaced to tests and `sim serve` instead of dying silently
                self.error = exc
                raise
            seen_rv = self.store.resource_version
            due = self.timers.next_due()
            wait = 0.05
            if due is not None:
                wait = max(0.0, min(wait, self.clock.real_seconds(due - self.clock.now())))
            if wait and not self._events:
                self.store.wait_for_change(seen_rv, wait)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
