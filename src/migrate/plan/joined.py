"""The plan as the executor runs it once nodes joined mid-run: a pure function of the sealed plan and the
joined nodes the journal recorded, so every run, resume, status and rollback sees the same steps.

Each joined node's identity steps (labelled flannel, its blocks and VTEP claimed) sit beside the planned
nodes' in prepare, so a rollback undoes them with theirs, once every node is back on Flannel; its hand-off
steps sit in waves of their own just before the `waves/joined-nodes` step, so finalize finds every node on
Calico. The digest stays the sealed plan's: the journal and the lock still name the plan that was approved.
"""
from __future__ import annotations

from dataclasses import replace

from . import steps as build
from .model import Plan, Wave

IDENTITY_BEFORE = "prepare/flannel/keep-off-migrated"


def with_joined_nodes(plan: Plan, joined: list[dict]) -> Plan:
    """`joined`: the journal's records of joined nodes, in order, each {"node": snapshot facts, "pods": [...]}."""
    ids = {s.id for s in plan.steps}
    if not joined or build.JOINED_NODES not in ids:
        return plan
    hand_off = plan.step(build.JOINED_NODES).params
    identity = [s for facts in joined
                for s in build.joined_identity_steps(facts["node"], plan.options, hand_off["flannel"])]
    planned = sum(len(w.nodes) for w in plan.waves)
    total = planned + len(joined)
    size = max(1, int(hand_off["maxUnavailableNodes"]))
    waves, wave_steps = list(plan.waves), []
    first_index = max((w.index for w in plan.waves), default=-1) + 1
    for k in range(0, len(joined), size):
        chunk = joined[k:k + size]
        index = first_index + k // size
        wave = Wave(index=index, name=f"joined-{k // size + 1}", nodes=tuple(f["node"]["name"] for f in chunk))
        waves.append(wave)
        for facts in chunk:
            content = {"flannel": hand_off["flannel"], "pods": {facts["node"]["name"]: facts.get("pods") or []},
                       "networkPolicies": []}
            wave_steps += build.node_steps(facts["node"], index, plan.options, content)
        wave_steps.append(build.health_gate(index, wave.name, planned + k + len(chunk), total))
    steps: list = []
    for step in plan.steps:
        if step.id == IDENTITY_BEFORE:
            steps += identity
        if step.id == build.JOINED_NODES:
            steps += wave_steps
        steps.append(step)
    return replace(plan, steps=tuple(steps), waves=tuple(waves))
