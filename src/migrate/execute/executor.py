"""Walk a plan: journal before and after every step, hold the cluster lock, run a wave's nodes side by
side, stop cleanly, resume where the journal says, and roll back from any point. Never prints."""
from __future__ import annotations

import datetime
import secrets
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..errors import EXIT_STOPPED, UserError
from ..kube import AdmissionRefused, NotFound
from ..plan.joined import with_joined_nodes
from ..plan.steps import JOINED_NODES, MIGRATION_LABEL
from ..snapshot import node_facts, pods_by_node
from .context import DRY_SERVER, REAL, StepContext
from .errors import Interrupted, StepFailed
from .events import Event, Emit, ignore
from .journal import Journal, JournalRecord, iso_time
from .kinds import KINDS
from .preview import ServerVerdicts, would

FINISHED = ("done", "noop", "skipped")
WOULD = "would"  # a dry run's outcome for a step it previewed: nothing was changed
# A step the operator skipped in guided mode, or one that needs such a step: not done, so the next run offers
# it again; and a rollback marks it reverted like any other, so nothing the operator skipped outlives a rollback.
DEFERRED = "deferred"
CONTINUE, SKIP, ABORT, ROLLBACK = "continue", "skip", "abort", "rollback"
NOTICE_EVERY = 10.0  # seconds between looks for nodes that joined during the run
LABELLED = "prepare/flannel/label-unmigrated"  # from here on a node without the label is one that joined


class Aborted(UserError):
    """The person guiding the run chose to stop (or to roll back) at a step."""
    exit_code = EXIT_STOPPED

    def __init__(self, message: str, hint: str, *, rollback: bool = False):
        super().__init__(message, hint)
        self.rollback = rollback


@dataclass
class Unit:
    """What runs next: one step on its own, or a wave (its nodes' steps side by side, then its gate)."""
    steps: list            # a lone step, or the wave's steps after its nodes (the health gate)
    wave: object = None
    by_node: dict | None = None


def unit_key(unit: Unit) -> str:
    return f"wave/{unit.wave.index}" if unit.wave is not None else unit.steps[0].id


def units(plan) -> list[Unit]:
    out: list[Unit] = []
    waves = {w.index: w for w in plan.waves}
    current = None
    for step in plan.steps:
        if step.wave is None:
            out.append(Unit([step]))
            current = None
            continue
        if current is None or current.wave.index != step.wave:
            current = Unit([], wave=waves[step.wave], by_node={n: [] for n in waves[step.wave].nodes})
            out.append(current)
        if step.node:
            current.by_node[step.node].append(step)
        else:
            current.steps.append(step)
    return out


class Executor:
    def __init__(self, plan, kube, journal: Journal, *, clock, emit: Emit = ignore, mode=REAL, lock=None,
                 confirm=None, should_stop=lambda: False, audit=None):
        self.sealed, self.kube, self.journal, self.clock, self.emit = plan, kube, journal, clock, emit
        self.audit = audit
        self.mode, self.lock, self.confirm, self._should_stop = mode, lock, confirm, should_stop
        self._journal_lock = threading.Lock()
        self._wave_failed = threading.Event()
        self.joined: list[dict] = journal.joined_nodes() if journal else []
        self.plan = with_joined_nodes(plan, self.joined)  # the sealed plan and the joined nodes' steps
        self.ctx = StepContext(kube, self.plan, clock=clock, emit=emit, mode=mode, tick=self._tick,
                               should_stop=self.should_stop)
        self.state = journal.state() if journal else {}
        self._finished_now: set[str] = set()  # steps this run finished
        self._deferred_now: list = []  # steps this run deferred (the operator skipped them, or what they need)
        self._notice_lock = threading.RLock()
        self._next_notice = float("-inf")
        self.verdicts = ServerVerdicts(emit) if mode == DRY_SERVER else None
        if self.verdicts is not None:
            kube.on_dry_run = self.verdicts

    # ---- plumbing --------------------------------------------------------------------------

    def should_stop(self) -> bool:
        return self._should_stop()

    def _tick(self) -> None:
        if self.lock is not None:
            self.lock.renew_if_due()
        self.notice_joined()

    # ---- nodes that join or leave during the run ---------------------------------------------

    def _step_finished(self, step_id: str) -> bool:
        state = self.state.get(step_id)
        return step_id in self._finished_now or bool(state and state.outcome in FINISHED)

    def notice_joined(self, *, now: bool = False) -> list[str]:
        """Adopt the nodes that joined since the last look: journal each, then label it flannel and claim its
        blocks and VTEP right away (its hand-off comes before finalize). Only in a real run, between prepare's
        labelling of every node and the joined-nodes step; at most every NOTICE_EVERY seconds unless `now`."""
        if self.mode != REAL or self.journal is None or not self._step_finished(LABELLED) \
                or JOINED_NODES not in {s.id for s in self.sealed.steps} or self._step_finished(JOINED_NODES):
            return []
        if not self._notice_lock.acquire(blocking=False):
            return []  # another thread is looking (or this one, from inside an adoption's own waits)
        try:
            if not now and self.clock.now() < self._next_notice:
                return []
            self._next_notice = self.clock.now() + NOTICE_EVERY
            return [self._adopt(node) for node in self._joined_ready()]
        finally:
            self._notice_lock.release()

    def _known_nodes(self) -> set[str]:
        return {n for w in self.plan.waves for n in w.nodes}

    def _joined_ready(self) -> list[dict]:
        """Nodes the plan does not know, without the migration label (so without Flannel), given a podCIDR."""
        known = self._known_nodes()
        found = []
        for node in self.kube.list("/api/v1/nodes", label_selector=f"!{MIGRATION_LABEL}"):
            facts = node_facts(node)
            if facts["name"] not in known and facts["podCIDRs"]:
                # A node Flannel ran on before its affinity came keeps its MAC; a new one gets one as flanneld
                # would make it (pkg/mac: random, locally administered, unicast).
                facts["flannel"]["vtepMAC"] = facts["flannel"]["vtepMAC"] or _new_mac()
                found.append(facts)
        return found

    def _adopt(self, facts: dict) -> str:
        name = facts["name"]
        pods = self.kube.list("/api/v1/pods", field_selector=f"spec.nodeName={name}")
        record = {"node": facts, "pods": pods_by_node(pods).get(name, [])}
        self._write(type="node", outcome="joined", node=record,
                    message=f"{name} joined during the run: its VTEP and blocks are claimed, then it is labelled for "
                            "Flannel; it is handed off to Calico before finalize")
        self.joined.append(record)
        self.plan = self.ctx.plan = with_joined_nodes(self.sealed, self.joined)
        self.emit(Event("node-joined", f"{name} joined the cluster: claiming its VTEP and blocks, then Flannel "
                                       "starts there; it is handed off before finalize", node=name))
        for step in self.plan.steps:
            if step.id.startswith(f"joined/{name}/"):
                self.run_step(step)
        return name

    def _node_gone(self, step) -> bool:
        return bool(step.node) and self.mode == REAL and self.kube.get_optional(f"/api/v1/nodes/{step.node}") is None

    def _write(self, **fields) -> None:
        if self.journal is None:
            return
        with self._journal_lock:
            self.journal.append(JournalRecord(plan=self.plan.digest, time=iso_time(self.clock.now()), **fields))

    def _step_ctx(self, step, attempt: int) -> StepContext:
        def record(mutation: dict) -> None:
            self._write(type="mutation", step=step.id, attempt=attempt, mutation=mutation)
        ctx = self.ctx.for_step(step, record)
        first = self.state.get(step.id)
        ctx.started_at = self.clock.now() if first is None or not first.started else _seconds(first.started)
        ctx.step_started = lambda step_id: (lambda s: _seconds(s.started) if s is not None and s.started else None)(
            self.state.get(step_id))
        return ctx

    # ---- forward ---------------------------------------------------------------------------

    def run(self) -> None:
        """Every step not yet done, in plan order. Raises StepFailed, Interrupted or Aborted."""
        self._write(type="run", outcome="started", message=f"mode {self.mode or 'real'}")
        self.emit(Event("run-started", f"plan {self.plan.digest[:19]}: {len(self.plan.steps)} steps"))
        ran: set[str] = set()
        try:
            while True:
                # Recomputed each time: a node that joins adds its identity steps and a wave of its own.
                unit = next((u for u in units(self.plan) if unit_key(u) not in ran), None)
                if unit is None:
                    break
                if self.notice_joined(now=True):
                    continue  # its claims ran already; its wave comes before the joined-nodes step
                joined_before = len(self.joined)
                if unit.wave is None:
                    self._guarded(unit.steps[0])
                else:
                    self._run_wave(unit)
                ran.add(unit_key(unit))
                if unit_key(unit) == JOINED_NODES and len(self.joined) > joined_before:
                    ran.discard(JOINED_NODES)  # nodes joined while it looked: hand them off, then look again
                    self._finished_now.discard(JOINED_NODES)
        except Interrupted as exc:
            self._write(type="run", outcome="interrupted", message=exc.message)
            raise
        except (StepFailed, UserError) as exc:
            self._write(type="run", outcome="failed", message=exc.line())
            raise
        self._write(type="run", outcome="finished")
        if self.mode == REAL:
            self.emit(Event("run-finished", "every step is done"))
        else:
            self.emit(Event("run-finished", f"preview only ({self.mode} dry run): {len(self._finished_now)} step(s) "
                                            "walked, nothing was changed"))

    def _guarded(self, step) -> None:
        if self.should_stop():
            raise Interrupted(f"stopped before {step.id}", "run `migrate resume PLAN` to continue")
        self._tick()
        self.run_step(step)

    def _run_wave(self, unit: Unit) -> None:
        wave = unit.wave
        pending = {n: [s for s in steps if not self._finished(s)] for n, steps in unit.by_node.items()}
        if any(pending.values()):
            self.emit(Event("wave-started", f"wave {wave.index} ({wave.name}): {', '.join(wave.nodes)}",
                            wave=wave.index))
        if self.confirm is not None or len(wave.nodes) == 1:
            for node in wave.nodes:
                for step in unit.by_node[node]:
                    self._guarded(step)
        else:
            self._wave_failed.clear()
            with ThreadPoolExecutor(max_workers=len(wave.nodes), thread_name_prefix="node") as pool:
                futures = [pool.submit(self._run_node, unit.by_node[n]) for n in wave.nodes]
            errors = [f.exception() for f in futures if f.exception() is not None]
            if errors:  # every node has stopped at a journaled step; report the first cause
                raise next((e for e in errors if isinstance(e, Interrupted)), errors[0])
        for step in unit.steps:
            self._guarded(step)

    def _run_node(self, steps) -> None:
        for step in steps:
            if self._wave_failed.is_set():
                return  # another node of the wave failed: start nothing new
            try:
                self._guarded(step)
            except BaseException:
                self._wave_failed.set()
                raise

    def _finished(self, step) -> bool:
        state = self.state.get(step.id)
        return bool(state and state.outcome in FINISHED and not KINDS[step.kind].always_run)

    def run_step(self, step) -> None:
        """One step: skip it when the journal says done; else check, apply and verify, journaled."""
        kind = KINDS[step.kind]
        if self._finished(step):
            self.emit(Event("step-finished", "done in an earlier run", step=step.id, node=step.node, wave=step.wave,
                            outcome="skipped"))
            return
        if self._node_gone(step):
            message = f"node {step.node} left the cluster: nothing to do there"
            self._write(type="step", step=step.id, outcome="skipped", message=message)
            self._finished_now.add(step.id)
            self.emit(Event("step-finished", message, step=step.id, node=step.node, wave=step.wave, outcome="skipped"))
            return
        blocker = self._deferred_prerequisite(step)
        if blocker is not None and step.node:
            self._defer(step, f"{step.id}: not run, {blocker.id} was skipped; resume offers both again")
            return
        if blocker is not None:
            raise self._failed(step, 0, StepFailed(
                f"{step.id} needs every node's steps before it, and {blocker.id} was skipped",
                "`migrate resume PLAN` offers the skipped steps again (or `migrate rollback PLAN`)"))
        if self.confirm is not None:
            choice = self.confirm(step)
            if choice == SKIP:
                self._defer(step, "skipped by the operator; resume offers it again")
                return
            if choice in (ABORT, ROLLBACK):
                raise Aborted(f"stopped by the operator before {step.id}",
                              "`migrate resume PLAN` continues, `migrate rollback PLAN` undoes",
                              rollback=choice == ROLLBACK)
        if self.audit is not None:
            self.audit.set_step(step.id)
        previous = self.state.get(step.id)
        attempt = (previous.attempts if previous else 0) + 1
        ctx = self._step_ctx(step, attempt)
        self._write(type="step", step=step.id, attempt=attempt, outcome="started")
        self.emit(Event("step-started", step.changes, step=step.id, node=step.node, wave=step.wave))
        if self.verdicts is not None:
            self.verdicts.start(step)
        try:
            reason = kind.check(ctx, step) if self.mode == REAL or kind.always_run else None
            if reason:
                outcome, message = "noop", reason
            else:
                kind.apply(ctx, step)
                kind.verify(ctx, step)
                outcome, message = ("done", ctx.result) if self.mode == REAL else (WOULD, self._preview(step, ctx))
        except Interrupted as exc:
            self._write(type="step", step=step.id, attempt=attempt, outcome="interrupted", message=exc.message)
            raise
        except NotFound as exc:
            if self.mode == REAL:
                raise self._failed(step, attempt, exc) from None
            # A dry run creates nothing, so later steps find missing what earlier ones would create.
            outcome, message = WOULD, (f"{self._preview(step, ctx)}; not validated further: {exc.message} (an "
                                       "earlier step would create it)")
        except AdmissionRefused as exc:
            relabelled = [key[1] for key in self.ctx.cache if isinstance(key, tuple) and key[0] == "namespace-written"
                          and f"in namespace {key[1]}:" in exc.message]
            if self.mode == REAL or not relabelled:
                raise self._failed(step, attempt, exc) from None
            # Judged against labels an earlier step only pretended to change (a dry run persists nothing).
            outcome, message = WOULD, (f"{self._preview(step, ctx)}; not validated further: namespace "
                                       f"{relabelled[0]} is not yet labelled as an earlier step would label it")
        except UserError as exc:
            raise self._failed(step, attempt, exc) from None
        except Exception as exc:
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self._write(type="step", step=step.id, attempt=attempt, outcome="failed", message=detail)
            raise
        self._write(type="step", step=step.id, attempt=attempt, outcome=outcome, message=message)
        self._finished_now.add(step.id)
        self.emit(Event("step-finished", message or step.changes, step=step.id, node=step.node, wave=step.wave,
                        outcome=outcome))

    def _preview(self, step, ctx) -> str:
        """A dry-run step's line: what it would do (the step's own words when it said them), and in a server
        dry run what the API server made of its writes."""
        text = ctx.result if ctx.result.startswith("would") else would(step.changes)
        return text + (f"; {self.verdicts.summary()}" if self.verdicts is not None else "")

    def _deferred_prerequisite(self, step):
        """A step deferred in this run that `step` needs: an earlier step of its node; for a step of no node from
        the waves on (a health gate, finalize), any deferred node step (they need every node handed off)."""
        for earlier in self._deferred_now:
            if step.node and earlier.node == step.node:
                return earlier
            if not step.node and earlier.node and step.phase not in ("gates", "prepare"):
                return earlier
        return None

    def _defer(self, step, message: str) -> None:
        self._deferred_now.append(step)
        self._write(type="step", step=step.id, outcome=DEFERRED, message=message)
        self.emit(Event("step-finished", message, step=step.id, node=step.node, wave=step.wave, outcome=DEFERRED))

    def _failed(self, step, attempt: int, exc: UserError) -> StepFailed:
        failure = exc if isinstance(exc, StepFailed) else StepFailed(f"{step.id}: {exc.message}", exc.hint)
        self._write(type="step", step=step.id, attempt=attempt, outcome="failed", message=failure.line())
        self.emit(Event("step-finished", failure.line(), step=step.id, node=step.node, outcome="failed"))
        return failure

    # ---- backward --------------------------------------------------------------------------

    def rollback(self, to: str | None = None) -> None:
        """Undo, newest first, every step the journal says was started and not yet undone; with `to`,
        only the steps after it."""
        ids = [s.id for s in self.plan.steps]
        if to is not None and to not in ids:
            raise UserError(f"--to {to!r} is not a step of this plan", "see the step ids with `migrate show PLAN`")
        stop_at = ids.index(to) if to is not None else -1
        self._write(type="run", outcome="started", message=f"rollback{' to ' + to if to else ''}")
        self.emit(Event("run-started", f"rollback of plan {self.plan.digest[:19]}" + (f" to {to}" if to else "")))
        try:
            for index in range(len(ids) - 1, stop_at, -1):
                step = self.plan.steps[index]
                state = self.state.get(step.id)
                if state is None or state.outcome in (None, "reverted"):
                    continue
                if not state.started:  # skipped or deferred, never run: nothing to undo, but clear it
                    self._write(type="step", step=step.id, attempt=state.attempts, outcome="reverted",
                                message=f"nothing to undo: it never ran ({state.outcome})")
                    continue
                if self.should_stop():
                    raise Interrupted(f"rollback stopped before undoing {step.id}",
                                      "run `migrate rollback PLAN` again to continue")
                self._tick()
                self.revert_step(step, state)
        except Interrupted as exc:
            self._write(type="run", outcome="interrupted", message=exc.message)
            raise
        except UserError as exc:
            self._write(type="run", outcome="failed", message=exc.line())
            raise
        self._write(type="run", outcome="finished", message="rollback")
        self.emit(Event("run-finished", "rolled back" + (f" to {to}" if to else " completely")))

    def revert_step(self, step, state) -> None:
        if self.audit is not None:
            self.audit.set_step(step.id)
        if self._node_gone(step):  # what it changed went with the node (its Calico objects: kube-controllers)
            message = f"node {step.node} left the cluster: nothing to undo there"
            self._write(type="step", step=step.id, attempt=state.attempts, outcome="reverted", message=message)
            self.emit(Event("step-finished", message, step=step.id, node=step.node, outcome="reverted"))
            return
        ctx = self._step_ctx(step, state.attempts)
        self._write(type="step", step=step.id, attempt=state.attempts, outcome="reverting")
        self.emit(Event("step-started", f"undo: {step.undo}", step=step.id, node=step.node, wave=step.wave))
        try:
            KINDS[step.kind].revert(ctx, step, list(state.mutations))
        except UserError as exc:
            self._write(type="step", step=step.id, attempt=state.attempts, outcome="revert-failed",
                        message=exc.line())
            raise StepFailed(f"undoing {step.id} failed: {exc.message}", exc.hint or
                             "fix the cause, then run `migrate rollback PLAN` again") from None
        self._write(type="step", step=step.id, attempt=state.attempts, outcome="reverted")
        self.emit(Event("step-finished", step.undo, step=step.id, node=step.node, outcome="reverted"))


def _new_mac() -> str:
    first = (secrets.randbits(8) & 0xFE) | 0x02
    return ":".join(f"{b:02x}" for b in [first, *secrets.token_bytes(5)])


def _seconds(value: str) -> float:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
