"""Which nodes move together: one canary first, then small zone-interleaved waves, control plane last."""
from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass, field

from ..labels import selector_matches
from ..snapshot import REPLICATED_WORKLOADS
from .model import Wave
from .options import PlanOptionError, per_zone_limit


def natural_key(name: str) -> list:
    """worker-2 before worker-10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def plan_waves(nodes: list[dict], pods_by_node: dict, *, max_unavailable: int, canaries: int, node_order: str,
               explicit_order: tuple[str, ...] = (), budgets: "ReplicaBudgets | None" = None) -> list[Wave]:
    if explicit_order:
        return _explicit(nodes, explicit_order, max_unavailable, canaries)
    budgets = budgets or ReplicaBudgets()
    workers = [n for n in nodes if not n.get("roles")]
    control_plane = [n for n in nodes if n.get("roles")]
    limits = zone_limits(workers)
    canary_nodes = _pick_canaries(workers, pods_by_node, canaries, budgets)
    chosen = {n["name"] for n in canary_nodes}
    rest = [n for n in workers if n["name"] not in chosen]
    waves = [Wave(0, "canary", tuple(n["name"] for n in canary_nodes))] if canary_nodes else []
    sequence = _interleaved(rest) if node_order == "zone-interleaved" else sorted(rest, key=lambda n: natural_key(n["name"]))
    for group in _fill(sequence, max_unavailable, limits, budgets):
        waves.append(Wave(len(waves), f"wave-{sum(w.name.startswith('wave-') for w in waves) + 1}", group))
    cp_sequence = (_interleaved(control_plane) if node_order == "zone-interleaved"
                   else sorted(control_plane, key=lambda n: natural_key(n["name"])))
    for i, node in enumerate(cp_sequence, 1):  # one at a time: etcd and the API server keep their quorum
        waves.append(Wave(len(waves), f"control-plane-{i}", (node["name"],)))
    return waves


def zone_limits(workers: list[dict]) -> dict[str, int]:
    """Per zone, how many of its workers may be out at once (control-plane nodes go one at a time anyway)."""
    sizes = Counter(_zone(n) for n in workers)
    return {zone: per_zone_limit(size) for zone, size in sizes.items()}


def _zone(node: dict) -> str:
    return node.get("zone") or ""


def _pick_canaries(workers: list[dict], pods_by_node: dict, count: int, budgets: "ReplicaBudgets") -> list[dict]:
    """Ready, schedulable workers with the fewest pods a drain moves (least at stake), from distinct zones."""
    def at_stake(node):
        moved = sum(p["kind"] not in ("daemonset", "mirror") for p in pods_by_node.get(node["name"], []))
        return (node.get("ready") != "True", bool(node.get("unschedulable")), moved, natural_key(node["name"]))
    picked, zones, drained = [], set(), Counter()
    ranked = sorted(workers, key=at_stake)
    for node in ranked:
        if len(picked) < count and _zone(node) not in zones and budgets.fits(node["name"], drained):
            picked.append(node)
            zones.add(_zone(node))
            budgets.take(node["name"], drained)
    for node in ranked:  # fewer zones than canaries: fill from the same ranking
        if len(picked) < count and node not in picked and budgets.fits(node["name"], drained):
            picked.append(node)
            budgets.take(node["name"], drained)
    return picked


def _interleaved(nodes: list[dict]) -> list[dict]:
    """Round-robin over zones (each in natural name order), so consecutive nodes sit in different zones."""
    by_zone: dict[str, deque] = {}
    for node in sorted(nodes, key=lambda n: natural_key(n["name"])):
        by_zone.setdefault(_zone(node), deque()).append(node)
    queues = [by_zone[z] for z in sorted(by_zone)]
    sequence = []
    while queues:
        for queue in queues:
            sequence.append(queue.popleft())
        queues = [q for q in queues if q]
    return sequence


def _fill(sequence: list[dict], capacity: int, limits: dict[str, int],
          budgets: "ReplicaBudgets") -> list[tuple[str, ...]]:
    """Cut the sequence into waves of at most limits[zone] nodes per zone, growing 2, 4, 8... up to
    `capacity` (slow start: a fault the canary missed shows on a few nodes, not on a tenth of the cluster),
    and draining no more ready replicas of a workload than its budget (a node that would waits for a later wave)."""
    remaining, waves = deque(sequence), []
    left = Counter(_zone(n) for n in sequence)
    while remaining:
        size = min(capacity, 2 ** (len(waves) + 1))
        wave, per_zone, deferred, drained = [], Counter(), [], Counter()
        while remaining and len(wave) < size:
            node = remaining.popleft()
            zone = _zone(node)
            if per_zone[zone] < limits.get(zone, 1) and (not wave or budgets.fits(node["name"], drained)):
                wave.append(node["name"])
                budgets.take(node["name"], drained)
                per_zone[zone] += 1
                left[zone] -= 1
            else:
                deferred.append(node)
            if all(per_zone[z] >= limits.get(z, 1) for z, n in left.items() if n):
                break  # every zone with nodes left is at its limit: the rest waits for the next wave
        remaining.extendleft(reversed(deferred))
        waves.append(tuple(wave))
    return waves


@dataclass
class ReplicaBudgets:
    """Per replicated workload, how many of its ready replicas one wave may drain: what its PDB allows now
    (disruptionsAllowed), else all but one. Workloads nothing can keep up are in `unprotected`, with why."""
    ready_on: dict[str, list[tuple[tuple[str, str], int]]] = field(default_factory=dict)  # node -> [(workload, n)]
    allowed: dict[tuple[str, str], int] = field(default_factory=dict)
    unprotected: dict[tuple[str, str], str] = field(default_factory=dict)

    def fits(self, node: str, drained: Counter) -> bool:
        return all(drained[w] + n <= self.allowed[w] for w, n in self.ready_on.get(node, ()))

    def take(self, node: str, drained: Counter) -> None:
        for w, n in self.ready_on.get(node, ()):
            drained[w] += n


def replica_budgets(pods_by_node: dict, pdbs: list[dict]) -> ReplicaBudgets:
    """From the snapshot's pods (their workload and readiness) and PDBs; pure, linear in the pods."""
    per_node: dict[str, dict] = {}
    labels: dict[tuple[str, str], dict] = {}
    total: dict[tuple[str, str], int] = {}
    for node, pods in pods_by_node.items():
        counts = None
        for p in pods:
            workload = p.get("workload")
            if workload and p.get("ready") and workload.startswith(REPLICATED_WORKLOADS):
                key = (p["namespace"], workload)
                if counts is None:
                    counts = per_node[node] = {}
                counts[key] = counts.get(key, 0) + 1
                if key in total:
                    total[key] += 1
                else:
                    total[key], labels[key] = 1, p.get("labels") or {}
    budgets, with_pdb = ReplicaBudgets(), set()
    for key, ready in total.items():
        allowed = [(p.get("status") or {}).get("disruptionsAllowed") for p in pdbs
                   if p["namespace"] == key[0] and selector_matches(p.get("selector"), labels[key])]
        allowed = [a for a in allowed if a is not None]
        budgets.allowed[key] = min(allowed) if allowed else ready - 1
        if allowed:
            with_pdb.add(key)
    # One node alone holds more than the budget: no order helps, the drain itself waits (a PDB's eviction
    # check, or execute/drain.py's wait for another ready replica); only a lone replica goes down for sure.
    over: set[tuple[str, str]] = set()
    for node, counts in sorted(per_node.items(), key=lambda item: natural_key(item[0])):
        for key, n in counts.items():
            if n > budgets.allowed[key] and key not in over:
                over.add(key)
                if total[key] == 1 and key not in with_pdb:
                    budgets.unprotected[key] = f"its only ready replica is on {node}"
    budgets.ready_on = {node: [(k, n) for k, n in counts.items() if k not in over]
                        for node, counts in per_node.items()}
    return budgets


def _explicit(nodes: list[dict], order: tuple[str, ...], capacity: int, canaries: int) -> list[Wave]:
    known = {n["name"] for n in nodes}
    unknown = [n for n in order if n not in known]
    missing = sorted(known - set(order), key=natural_key)
    repeated = sorted({n for n in order if order.count(n) > 1})
    if unknown or missing or repeated:
        parts = ([f"not in the snapshot: {', '.join(unknown)}"] if unknown else []) + \
                ([f"missing: {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}"] if missing else []) + \
                ([f"listed twice: {', '.join(repeated)}"] if repeated else [])
        raise PlanOptionError(f"--node-order must name every node once ({'; '.join(parts)})",
                              "list each node of the snapshot exactly once, comma-separated")
    waves = [Wave(0, "canary", tuple(order[:canaries]))] if canaries else []
    rest = order[canaries:]
    for i in range(0, len(rest), capacity):
        waves.append(Wave(len(waves), f"wave-{i // capacity + 1}", tuple(rest[i:i + capacity])))
    return waves
