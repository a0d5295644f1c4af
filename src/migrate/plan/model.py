"""The plan: plain, frozen data. A step says what it changes, how to tell it is done and how to undo it.

The executor finds a step's behaviour by its `kind`; everything a reviewer needs to approve it is in
the step itself, in words (`changes`, `check`, `undo`) and in parameters.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace

SCHEMA = "migrate.plan/v1"

GATES, PREPARE, WAVES, FINALIZE, POST_VERIFY = "gates", "prepare", "waves", "finalize", "post-verify"
PHASES = (GATES, PREPARE, WAVES, FINALIZE, POST_VERIFY)


@dataclass(frozen=True)
class PlanStep:
    id: str        # stable: node/worker-3/drain
    kind: str      # what the executor runs: cordon, drain, ...
    phase: str
    target: str    # the object it acts on: Node/worker-3, DaemonSet/kube-flannel/kube-flannel-ds
    changes: str   # what it changes, in words
    check: str     # how the executor tells it is already done
    undo: str      # how it is undone, or why it cannot be
    reversible: bool = True
    runbook: str | None = None  # where a person finds the manual procedure when undo is not automatic
    params: dict = field(default_factory=dict)
    wave: int | None = None
    node: str | None = None

    def as_dict(self) -> dict:
        data = {"id": self.id, "kind": self.kind, "phase": self.phase, "target": self.target}
        if self.wave is not None:
            data["wave"] = self.wave
        if self.node is not None:
            data["node"] = self.node
        data.update(changes=self.changes, check=self.check, undo=self.undo, reversible=self.reversible)
        if self.runbook:
            data["runbook"] = self.runbook
        if self.params:
            data["params"] = self.params
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "PlanStep":
        return cls(id=data["id"], kind=data["kind"], phase=data["phase"], target=data["target"],
                   changes=data["changes"], check=data["check"], undo=data["undo"],
                   reversible=bool(data.get("reversible", True)), runbook=data.get("runbook"),
                   params=data.get("params") or {}, wave=data.get("wave"), node=data.get("node"))


@dataclass(frozen=True)
class Wave:
    index: int
    name: str              # canary, wave-1, control-plane-1
    nodes: tuple[str, ...]  # handed off concurrently

    def as_dict(self) -> dict:
        return {"index": self.index, "name": self.name, "nodes": list(self.nodes)}


@dataclass(frozen=True)
class Plan:
    """A migration plan bound to the snapshot it was built from. `digest` covers everything else."""
    cluster_id: str
    snapshot_digest: str
    snapshot_captured_at: str
    options: dict
    findings: tuple[dict, ...]
    waves: tuple[Wave, ...]
    steps: tuple[PlanStep, ...]
    digest: str = ""
    schema: str = SCHEMA

    def body(self) -> dict:
        """Everything the digest covers, as plain data (the file's content minus the digest)."""
        return {"schema": self.schema,
                "snapshot": {"clusterId": self.cluster_id, "digest": self.snapshot_digest,
                             "capturedAt": self.snapshot_captured_at},
                "options": self.options, "findings": list(self.findings),
                "waves": [w.as_dict() for w in self.waves], "steps": [s.as_dict() for s in self.steps]}

    def step(self, step_id: str) -> PlanStep:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def steps_in(self, phase: str) -> list[PlanStep]:
        return [s for s in self.steps if s.phase == phase]


def body_digest(body: dict) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def sealed(plan: Plan) -> Plan:
    """The plan with its digest filled in."""
    return replace(plan, digest=body_digest(plan.body()))
