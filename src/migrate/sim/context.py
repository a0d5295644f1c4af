"""What every controller shares: the store, typed handles, the clock, timers, indexes, faults."""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

from .clock import rfc3339
from .errors import ApiError
from .resources import ResourceRegistry
from .store import Store, WatchEvent


@dataclass
class Timings:
    """Simulated seconds for what takes time in a real cluster."""
    pod_start: float = 1.0          # scheduled -> kubelet creates the sandbox
    image_pull: float = 2.0         # sandbox ready -> containers running
    ready_after: float = 1.0        # running -> readiness probe passes
    pod_stop: float = 2.0           # SIGTERM -> process exits (capped by the grace period)
    sandbox_retry: float = 10.0     # kubelet retries a failed sandbox
    crash_backoff: float = 10.0     # first restart back-off, doubled up to 300 s
    node_monitor_grace: float = 40.0
    flannel_ready: float = 2.0      # flanneld start -> network set up
    calico_ready: float = 5.0       # calico-node start -> felix and the data plane ready
    bgp_session: float = 3.0        # both BIRDs configured for each other -> session Established (sim/bird.py)
    felix_watch_spread: float = 3.0  # each Felix sees a datastore change within this long of it (felix_config)
    felix_restart: float = 5.0      # a Felix restarting for a config change: 2 s shutdown sleep, start, resync
    probe_interval: float = 5.0     # traffic probe sampling period

    @classmethod
    def from_dict(cls, data: dict) -> "Timings":
        return cls(**data)


class Index:
    """Secondary indexes kept current from store events (what informers' indexers do)."""

    def __init__(self):
        self.pods_by_node: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self.dependents: dict[str, set[tuple[tuple[str, str], str, str]]] = defaultdict(set)
        self.uids: set[str] = set()

    def on_event(self, event: WatchEvent) -> None:
        obj, old = event.obj, event.old
        meta = obj["metadata"]
        ref = (event.key, meta.get("namespace", ""), meta["name"])
        if event.type == "DELETED":
            self.uids.discard(meta["uid"])
        else:
            self.uids.add(meta["uid"])
        if old is not None:
            for owner in old["metadata"].get("ownerReferences") or []:
                self.dependents[owner["uid"]].discard(ref)
            if event.key == ("", "pods"):
                self.pods_by_node[old.get("spec", {}).get("nodeName") or ""].discard(ref[1:])
        if event.type != "DELETED":
            for owner in meta.get("ownerReferences") or []:
                self.dependents[owner["uid"]].add(ref)
            if event.key == ("", "pods"):
                self.pods_by_node[obj.get("spec", {}).get("nodeName") or ""].add(ref[1:])


@dataclass
class SimContext:
    store: Store
    registry: ResourceRegistry
    timers: object
    faults: object
    timings: Timings = field(default_factory=Timings)
    index: Index = field(default_factory=Index)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    seed: int = 0  # the scenario's seed, for draws that must not shift rng's sequence
    cluster_cidr: str = "10.244.0.0/16"
    node_cidr_mask: int = 24
    service_cidr: str = "10.96.0.0/12"
    hosts: dict = field(default_factory=dict)
    cloud: object = None  # cloud.CloudSettings: the VPC's src/dst check and security group
    quiet: bool = False  # no Events while a scenario is being built
    errors: object = None  # the loop's ErrorLog: components that catch their own errors record them there

    def rtype(self, group: str, plural: str):
        for version in ("v1",):
            rtype = self.registry.lookup(group, version, plural)
            if rtype is not None:
                return rtype
        return self.registry.by_key((group, plural))

    @property
    def pods(self):
        return self.registry.lookup("", "v1", "pods")

    @property
    def nodes(self):
        return self.registry.lookup("", "v1", "nodes")

    @property
    def live_uids(self) -> set[str]:
        return self.index.uids

    def now(self) -> float:
        return self.store.clock.now()

    def record_event(self, obj: dict, reason: str, message: str, type_: str = "Normal",
                     component: str = "kubelet") -> None:
        """A core/v1 Event about obj, as controllers and kubelets post them."""
        if self.quiet:
            return
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        stamp = rfc3339(self.now())
        event = {
            "metadata": {"generateName": f"{meta['name']}.", "namespace": namespace},
            "involvedObject": {"kind": obj.get("kind"), "apiVersion": obj.get("apiVersion"), "name": meta["name"],
                               "namespace": meta.get("namespace", ""), "uid": meta.get("uid")},
            "reason": reason, "message": message, "type": type_, "count": 1,
            "firstTimestamp": stamp, "lastTimestamp": stamp, "source": {"component": component},
            "reportingComponent": component,
        }
        events = self.registry.lookup("", "v1", "events")
        try:
            self.store.create(events, event)
        except ApiError:
            # client-go's event broadcaster (tools/record/event.go recordToSink) drops an event the
            # server refuses, e.g. in a namespace that is gone or being terminated; it never fails the caller.
            pass


def is_pod_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in pod.get("status", {}).get("conditions") or [])


def is_terminating(obj: dict) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def is_active_pod(pod: dict) -> bool:
    return not is_terminating(pod) and pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")


def controller_ref(obj: dict) -> dict | None:
    return next((r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")), None)


def owner_reference(owner: dict) -> dict:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def set_condition(conditions: list[dict], type_: str, status: str, now: str, reason: str = "",
                  message: str = "") -> list[dict]:
    """Upsert a condition, moving lastTransitionTime only when the status changes."""
    result = [dict(c) for c in conditions]
    for cond in result:
        if cond["type"] == type_:
            if cond.get("status") != status:
                cond["lastTransitionTime"] = now
            cond.update(status=status, reason=reason, message=message)
            if "lastHeartbeatTime" in cond:
                cond["lastHeartbeatTime"] = now
            return result
    result.append({"type": type_, "status": status, "lastTransitionTime": now, "reason": reason, "message": message})
    return result
