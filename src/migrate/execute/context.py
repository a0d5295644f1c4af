"""What a step works with: reads through kube access, writes that are journaled before they are sent,
waits on the executor's clock, and the run's mode (real, client dry-run, server dry-run)."""
from __future__ import annotations

import copy
from typing import Callable

from ..kube import NotFound
from .errors import Interrupted, StepFailed
from .events import Event, Emit

REAL, DRY_CLIENT, DRY_SERVER = None, "client", "server"


def pre_image(patch, current):
    """The values a merge patch will overwrite, as a merge patch that puts them back (None: was absent)."""
    if not isinstance(patch, dict) or not isinstance(current, dict):
        return copy.deepcopy(current)
    return {key: (pre_image(value, current[key]) if key in current else None) for key, value in patch.items()}


class StepContext:
    """One step's view of the run. `record` is called with each mutation before it is sent."""

    def __init__(self, kube, plan, *, clock, emit: Emit, mode: str | None = REAL,
                 record: Callable[[dict], None] = lambda mutation: None,
                 tick: Callable[[], None] = lambda: None, should_stop: Callable[[], bool] = lambda: False,
                 step=None):
        self.kube, self.plan, self.clock, self.emit, self.mode = kube, plan, clock, emit, mode
        self._record, self._tick, self.should_stop, self.step = record, tick, should_stop, step
        self.cache: dict = {}  # per-run reads shared by steps (e.g. the live snapshot)
        self.started_at = 0.0  # when this step first started (clock seconds), across resumes
        self.result = ""       # what a step found, journaled as its outcome's message (e.g. readings)
        # when another step (by id) last started, per the journal (clock seconds), or None if it never did
        self.step_started: Callable[[str], float | None] = lambda step_id: None

    def for_step(self, step, record: Callable[[dict], None]) -> "StepContext":
        ctx = StepContext(self.kube, self.plan, clock=self.clock, emit=self.emit, mode=self.mode, record=record,
                          tick=self._tick, should_stop=self.should_stop, step=step)
        ctx.cache = self.cache
        return ctx

    @property
    def dry_run(self) -> str | None:
        """The dryRun query value writes carry: All in server dry-run."""
        return "All" if self.mode == DRY_SERVER else None

    @property
    def writes(self) -> bool:
        """Whether writes reach the API server at all (not in client dry-run)."""
        return self.mode != DRY_CLIENT

    def say(self, message: str, **data) -> None:
        step = self.step
        self.emit(Event("progress", message, step=step.id if step else None, node=step.node if step else None,
                        data=data))

    # ---- writes --------------------------------------------------------------------------

    def create(self, path: str, body: dict) -> dict:
        """POST body to the collection at path; journaled as a create, undone by deleting it."""
        name = body["metadata"]["name"]
        if not self.writes:
            self.say(f"would create {path}/{name}")
            return body
        if self.mode == REAL:
            self._record({"action": "create", "path": f"{path}/{name}", "before": None})
        created = self.kube.create(path, body, dry_run=self.dry_run)
        return created

    def patch(self, path: str, patch: dict, *, current: dict | None = None) -> dict:
        """A merge patch; journaled with the pre-image of every field it touches."""
        current = current if current is not None else self.kube.get(path)
        if not self.writes:
            self.say(f"would patch {path} with {patch}")
            return current
        if self.mode == REAL:
            self._record({"action": "patch", "path": path, "patchType": "merge", "patch": patch,
                          "before": pre_image(patch, current)})
        return self.kube.patch(path, patch, dry_run=self.dry_run)

    def delete(self, path: str, *, current: dict | None = None, **options) -> dict | None:
        """DELETE; journaled with the whole object so rollback can re-create it. Absent: nothing to do."""
        try:
            current = current if current is not None else self.kube.get(path)
        except NotFound:
            return None
        if not self.writes:
            self.say(f"would delete {path}")
            return current
        if self.mode == REAL:
            self._record({"action": "delete", "path": path, "before": current})
        try:
            return self.kube.delete(path, dry_run=self.dry_run, uid=current["metadata"].get("uid"), **options)
        except NotFound:
            return None

    # ---- waiting -------------------------------------------------------------------------

    def wait_for(self, condition: Callable[[], object], *, timeout: float, what: str, hint: str,
                 interval: float = 2.0):
        """Poll `condition` until it returns something truthy; StepFailed after `timeout` seconds."""
        if not self.writes or self.mode == DRY_SERVER:
            self.say(f"would wait up to {timeout:.0f}s for {what}")
            return None
        deadline = self.clock.now() + timeout
        while True:
            result = condition()
            if result:
                return result
            if self.should_stop():
                raise Interrupted(f"stopped while waiting for {what}", "run `migrate resume PLAN` to continue")
            if self.clock.now() >= deadline:
                raise StepFailed(f"timed out after {timeout:.0f}s waiting for {what}", hint)
            self._tick()
            self.clock.sleep(interval)
