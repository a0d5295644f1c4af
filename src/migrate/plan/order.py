"""Which nodes move together: one canary first, then small zone-interleaved waves, control plane last."""
from __future__ import annotations

import re
from collections import Counter, deque

from .model import Wave
from .options import PlanOptionError, per_zone_limit


def natural_key(name: str) -> list:
    """worker-2 before worker-10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def plan_waves(nodes: list[dict], pods_by_node: dict, *, max_unavailable: int, canaries: int, node_order: str,
               explicit_order: tuple[str, ...] = ()) -> list[Wave]:
    if explicit_order:
        return _explicit(nodes, explicit_order, max_unavailable, canaries)
    workers = [n for n in nodes if not n.get("roles")]
    control_plane = [n for n in nodes if n.get("roles")]
    limits = zone_limits(workers)
    canary_nodes = _pick_canaries(workers, pods_by_node, canaries)
    chosen = {n["name"] for n in canary_nodes}
    rest = [n for n in workers if n["name"] not in chosen]
    waves = [Wave(0, "canary", tuple(n["name"] for n in canary_nodes))] if canary_nodes else []
    sequence = _interleaved(rest) if node_order == "zone-interleaved" else sorted(rest, key=lambda n: natural_key(n["name"]))
    for group in _fill(sequence, max_unavailable, limits):
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


def _pick_canaries(workers: list[dict], pods_by_node: dict, count: int) -> list[dict]:
    """Ready, schedulable workers with the fewest pods a drain moves (least at stake), from distinct zones."""
    def at_stake(node):
        moved = sum(p["kind"] not in ("daemonset", "mirror") for p in pods_by_node.get(node["name"], []))
        return (node.get("ready") != "True", bool(node.get("unschedulable")), moved, natural_key(node["name"]))
    picked, zones = [], set()
    ranked = sorted(workers, key=at_stake)
    for node in ranked:
        if len(picked) < count and _zone(node) not in zones:
            picked.append(node)
            zones.add(_zone(node))
    for node in ranked:  # fewer zones than canaries: fill from the same ranking
        if len(picked) < count and node not in picked:
            picked.append(node)
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


def _fill(sequence: list[dict], capacity: int, limits: dict[str, int]) -> list[tuple[str, ...]]:
    """Cut the sequence into waves of at most limits[zone] nodes per zone, growing 2, 4, 8... up to
    `capacity` (slow start: a fault the canary missed shows on a few nodes, not on a tenth of the cluster)."""
    remaining, waves = deque(sequence), []
    left = Counter(_zone(n) for n in sequence)
    while remaining:
        size = min(capacity, 2 ** (len(waves) + 1))
        wave, per_zone, deferred = [], Counter(), []
        while remaining and len(wave) < size:
            node = remaining.popleft()
            zone = _zone(node)
            if per_zone[zone] < limits.get(zone, 1):
                wave.append(node["name"])
                per_zone[zone] += 1
                left[zone] -= 1
            else:
                deferred.append(node)
            if all(per_zone[z] >= limits.get(z, 1) for z, n in left.items() if n):
                break  # every zone with nodes left is at its limit: the rest waits for the next wave
        remaining.extendleft(reversed(deferred))
        waves.append(tuple(wave))
    return waves


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
