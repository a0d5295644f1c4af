"""Nodes that join and leave a running cluster, as a cluster autoscaler (or a person resizing a node pool) does.

Join: the cloud boots an instance whose kubelet registers its Node NotReady ("container runtime network not
ready": no CNI config yet). From there the simulator's own controllers act as the real ones: node IPAM gives it a
podCIDR, the DaemonSet controller schedules Flannel (and whatever else selects it), flanneld annotates the node.

Leave: cluster-autoscaler's scale-down (kubernetes/autoscaler cluster-autoscaler/core/scaledown/actuation/
actuator.go and drain.go): the node is tainted ToBeDeletedByClusterAutoscaler (NoSchedule), every pod but
DaemonSet and mirror pods is evicted through the eviction API (a refusal retried every DefaultEvictionRetryTime,
10 s, until MaxPodEvictionTime, 2 min; then the scale-down is abandoned and the taint removed), and once they are
gone the instance is deleted. The Node object goes with the instance: the cloud node-lifecycle controller
(k8s.io/cloud-provider controllers/nodelifecycle/node_lifecycle_controller.go) deletes a Node whose instance no
longer exists on its next pass (nodeMonitorPeriod, 5 s); the pod GC then removes the pods still bound to it.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Callable

from . import build
from .clock import rfc3339
from .context import SimContext
from .errors import ApiError
from .loop import Controller
from .scenario import NodeChange, Scenario

SCALE_DOWN_TAINT = "ToBeDeletedByClusterAutoscaler"
EVICTION_RETRY = 10.0      # drain.go DefaultEvictionRetryTime
MAX_EVICTION_TIME = 120.0  # drain.go MaxPodEvictionTime
NODE_MONITOR_PERIOD = 5.0  # cloud node-lifecycle controller's pass


@dataclass
class Leaving:
    started: float
    next_try: float = 0.0
    instance_gone_at: float | None = None


class NodePool(Controller):
    """Scheduled node changes from the scenario (`nodeChanges`, seconds after `start`) and changes asked for
    through /admin/nodes. `evict(namespace, name)` evicts as the autoscaler does (ApiError 429 when refused)."""

    def __init__(self, ctx: SimContext, scenario: Scenario, evict: Callable[[str, str], None],
                 forget_host: Callable[[str], None]):
        super().__init__(ctx)
        self.scenario, self.evict, self.forget_host = scenario, evict, forget_host
        self.origin: float | None = None
        self.scheduled: list[NodeChange] = []
        self.leaving: dict[str, Leaving] = {}
        self.history: list[dict] = []  # what joined and left, and when (simulated seconds)

    def start(self, now: float) -> None:
        """The scenario is up: its node changes count from now."""
        self.origin = now
        self.scheduled = list(self.scenario.node_changes)
        for change in self.scheduled:
            self.ctx.timers.call_at(now + change.at, lambda _now: None)

    def sync(self, now: float) -> None:
        while self.scheduled and self.origin is not None and self.origin + self.scheduled[0].at <= now:
            change = self.scheduled.pop(0)
            if change.join:
                self.join(change.join, change.count, now)
            else:
                self.leave(change.leave, now)
        for name in sorted(self.leaving):
            self._scale_down(name, now)

    # ---- joining -----------------------------------------------------------------
    def join(self, prefix: str, count: int, now: float) -> list[str]:
        group = next((g for g in self.scenario.node_groups if g.name_prefix == prefix), None)
        if group is None:
            raise KeyError(f"no node group has namePrefix {prefix!r}")
        names = []
        for _ in range(count):
            name = self._next_name(prefix)
            address = self._free_address(group.subnet)
            secondary = [self._free_address(cidr) for cidr in group.secondary_subnets]
            self.ctx.hosts[name] = build.new_host(name, address, group.mtu or self.scenario.mtu,
                                                  build.node_cni_plugins(self.scenario.kubernetes_version), secondary)
            node = build.node_object(self.scenario, group, name, address.split("/")[0], rfc3339(now))
            self.ctx.store.create(self.ctx.nodes, node)
            self.history.append({"node": name, "joined": now})
            names.append(name)
        return names

    def _next_name(self, prefix: str) -> str:
        taken = set(self.ctx.hosts) | {n["metadata"]["name"] for n in self.ctx.store.items(self.ctx.nodes)}
        numbers = [int(n[len(prefix):]) for n in taken if n.startswith(prefix) and n[len(prefix):].isdigit()]
        return f"{prefix}{max(numbers, default=0) + 1}"

    def _free_address(self, cidr: str) -> str:
        """The subnet's first free address from its 10th on, as the scenario's own nodes were given theirs."""
        net = ipaddress.ip_network(cidr)
        used = {ipaddress.ip_interface(a).ip for host in self.ctx.hosts.values()
                for iface in host.interfaces.values() for a in iface.addresses}
        ip = next(h for h in net.hosts() if int(h) - int(net.network_address) >= 10 and h not in used)
        return f"{ip}/{net.prefixlen}"

    # ---- leaving -----------------------------------------------------------------
    def leave(self, name: str, now: float) -> None:
        if self.ctx.store.find(self.ctx.nodes, None, name) is None:
            raise KeyError(f"no node named {name}")
        if name in self.leaving:
            return
        self.leaving[name] = Leaving(started=now)
        self._taint(name, now, add=True)
        self._scale_down(name, now)

    def _taint(self, name: str, now: float, *, add: bool) -> None:
        def put(node: dict) -> None:
            taints = [t for t in node["spec"].get("taints") or [] if t.get("key") != SCALE_DOWN_TAINT]
            if add:
                taints.append({"key": SCALE_DOWN_TAINT, "value": str(int(now)), "effect": "NoSchedule"})
            if taints:
                node["spec"]["taints"] = taints
            else:
                node["spec"].pop("taints", None)
        self.ctx.store.mutate(self.ctx.nodes, None, name, put)

    def _scale_down(self, name: str, now: float) -> None:
        state = self.leaving[name]
        if state.instance_gone_at is not None:
            if now >= state.instance_gone_at + NODE_MONITOR_PERIOD:
                if self.ctx.store.find(self.ctx.nodes, None, name) is not None:
                    self.ctx.store.delete(self.ctx.nodes, None, name)
                del self.leaving[name]
                self.history.append({"node": name, "left": now})
            return
        remaining = [key for key in sorted(self.ctx.index.pods_by_node.get(name, ())) if self._drained_pod(key)]
        if remaining:
            if now - state.started > MAX_EVICTION_TIME:  # the autoscaler gives the node back
                self._taint(name, now, add=False)
                del self.leaving[name]
                self.history.append({"node": name, "scaleDownAbandoned": now})
                return
            if now < state.next_try:
                return
            state.next_try = now + EVICTION_RETRY
            for namespace, pod in remaining:
                try:
                    self.evict(namespace, pod)
                except ApiError as exc:
                    if exc.code not in (404, 429):
                        raise
            self.ctx.timers.call_at(now + EVICTION_RETRY, lambda _now: None)
            return
        # drained: the instance is deleted, its kubelet and network with it
        self.ctx.hosts.pop(name, None)
        self.forget_host(name)
        state.instance_gone_at = now
        self.ctx.timers.call_at(now + NODE_MONITOR_PERIOD, lambda _now: None)

    def _drained_pod(self, key: tuple[str, str]) -> bool:
        """A pod the autoscaler's drain evicts: not a DaemonSet's, not a mirror pod, not already going."""
        pod = self.ctx.store.find(self.ctx.pods, *key)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            return False
        meta = pod["metadata"]
        if "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
            return False
        if any(ref.get("kind") == "DaemonSet" and ref.get("controller") for ref in meta.get("ownerReferences") or []):
            return False
        return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
