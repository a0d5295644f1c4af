"""Cluster-wide controllers: scheduler, node lifecycle and IPAM, disruption budgets,
garbage collection, namespace deletion and NoExecute taint eviction."""
from __future__ import annotations

import heapq
import ipaddress
import json

from .clock import parse_rfc3339, rfc3339
from .context import SimContext, is_pod_ready, is_terminating, set_condition
from .errors import ApiError
from .loop import Controller
from .selectors import pod_fits_node, selector_from_label_selector_object, untolerated_taint
from .store import WatchEvent

NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"


def node_ready_status(node: dict) -> str:
    cond = next((c for c in node.get("status", {}).get("conditions") or [] if c.get("type") == "Ready"), None)
    return cond.get("status", "Unknown") if cond else "Unknown"


class Scheduler(Controller):
    """default-scheduler: filters by selector, affinity, taints and cordons; spreads by pod count."""

    def __init__(self, ctx: SimContext):
        super().__init__(ctx)
        self.pending: set[tuple[str, str]] = set()
        self.unschedulable: set[tuple[str, str]] = set()

    def on_event(self, event: WatchEvent) -> None:
        if event.key == ("", "pods") and event.type != "DELETED":
            pod = event.obj
            if not pod["spec"].get("nodeName") and not is_terminating(pod):
                self.pending.add((pod["metadata"]["namespace"], pod["metadata"]["name"]))
        elif event.key == ("", "pods") and event.old and event.old["spec"].get("nodeName"):
            self._retry_unschedulable()  # freed capacity on a node may not matter, but a spread may change
        elif event.key == ("", "nodes"):
            self._retry_unschedulable()

    def _retry_unschedulable(self) -> None:
        self.pending |= self.unschedulable
        self.unschedulable.clear()

    def sync(self, now: float) -> None:
        if not self.pending:
            return
        store = self.ctx.store
        nodes = store.items(self.ctx.nodes)
        load = {n["metadata"]["name"]: len(self.ctx.index.pods_by_node.get(n["metadata"]["name"], ())) for n in nodes}
        # Pods of one template share their constraints: filter the nodes once per shape and
        # keep a lazy heap of (load, node) per shape to pick the least-loaded feasible node.
        shapes: dict[str, tuple[list, dict[str, int]]] = {}
        nodes_by_name = {n["metadata"]["name"]: n for n in nodes}
        batch, self.pending = self.pending, set()
        for namespace, name in sorted(batch):
            pod = store.find(self.ctx.pods, namespace, name)
            if pod is None or pod["spec"].get("nodeName") or is_terminating(pod):
                continue
            if pod["spec"].get("schedulerName", "default-scheduler") != "default-scheduler":
                continue
            shape = _scheduling_shape(pod["spec"])
            if shape not in shapes:
                heap, reasons = [], {}
                for node in _pinned_nodes(pod["spec"], nodes_by_name) or nodes:
                    fits, reason = pod_fits_node(pod["spec"], node)
                    if fits:
                        heap.append((load[node["metadata"]["name"]], node["metadata"]["name"]))
                    else:
                        reasons[reason] = reasons.get(reason, 0) + 1
                heapq.heapify(heap)
                shapes[shape] = (heap, reasons)
            heap, reasons = shapes[shape]
            target = _least_loaded(heap, load)
            if target is None:
                self._mark_unschedulable(pod, len(nodes), reasons, now)
                continue
            load[target] += 1
            heapq.heappush(heap, (load[target], target))
            self._bind(pod, target, now)

    def _bind(self, pod: dict, node_name: str, now: float) -> None:
        def bind(obj: dict) -> None:
            obj["spec"]["nodeName"] = node_name
            status = obj.setdefault("status", {})
            status["conditions"] = set_condition(status.get("conditions") or [], "PodScheduled", "True", rfc3339(now))
        self.ctx.store.mutate(self.ctx.pods, pod["metadata"]["namespace"], pod["metadata"]["name"], bind,
                              subresource="binding", shallow=True)
        self.ctx.record_event(pod, "Scheduled", f"Successfully assigned {pod['metadata']['namespace']}/"
                              f"{pod['metadata']['name']} to {node_name}", component="default-scheduler")

    def _mark_unschedulable(self, pod: dict, total: int, reasons: dict[str, int], now: float) -> None:
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        self.unschedulable.add(key)
        # FitError.Error(): the "<count> <reason>" strings sorted as strings, then DefaultPreemption's
        # verdict; every filter simulated here fails as UnschedulableAndUnresolvable, where preemption
        # cannot help.
        detail = ", ".join(sorted(f"{count} {reason}" for reason, count in reasons.items()))
        message = (f"0/{total} nodes are available: {detail}. preemption: 0/{total} nodes are available: "
                   f"{total} Preemption is not helpful for scheduling.") if total else "no nodes available to schedule pods"
        current = next((c for c in pod.get("status", {}).get("conditions") or [] if c["type"] == "PodScheduled"), {})
        if current.get("message") == message:
            return

        def mark(obj: dict) -> None:
            status = obj.setdefault("status", {})
            status["conditions"] = set_condition(status.get("conditions") or [], "PodScheduled", "False",
                                                 rfc3339(now), "Unschedulable", message)
        self.ctx.store.mutate(self.ctx.pods, key[0], key[1], mark, subresource="status")
        self.ctx.record_event(pod, "FailedScheduling", message, "Warning", component="default-scheduler")


def _scheduling_shape(spec: dict) -> str:
    return json.dumps([spec.get("nodeSelector"), spec.get("affinity"), spec.get("tolerations")], sort_keys=True)


def _pinned_nodes(spec: dict, nodes_by_name: dict[str, dict]) -> list[dict] | None:
    """Nodes a pod is pinned to by `matchFields metadata.name In [...]` in every required term
    (how DaemonSet pods are placed): the scheduler's pre-filter checks only those."""
    terms = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
             .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or []
    names: set[str] = set()
    for term in terms:
        pinned = [f for f in term.get("matchFields") or [] if f.get("key") == "metadata.name" and f.get("operator") == "In"]
        if not pinned:
            return None
        names.update(v for f in pinned for v in f.get("values") or [])
    return [nodes_by_name[n] for n in sorted(names) if n in nodes_by_name] if terms else None


def _least_loaded(heap: list, load: dict[str, int]) -> str | None:
    """Pop stale heap entries until the top one carries its node's current load."""
    while heap:
        count, name = heapq.heappop(heap)
        if count == load[name]:
            return name
        heapq.heappush(heap, (load[name], name))
    return None


class NodeIpam(Controller):
    """The controller-manager's range allocator: a podCIDR for every node that joins."""

    def __init__(self, ctx: SimContext):
        super().__init__(ctx)
        self.dirty: set[str] = set()

    def on_event(self, event: WatchEvent) -> None:
        if event.key == ("", "nodes") and event.type == "ADDED" and not event.obj["spec"].get("podCIDR"):
            self.dirty.add(event.obj["metadata"]["name"])

    def sync(self, now: float) -> None:
        if not self.dirty:
            return
        used = {n["spec"].get("podCIDR") for n in self.ctx.store.items(self.ctx.nodes)}
        network = ipaddress.ip_network(self.ctx.cluster_cidr)
        candidates = network.subnets(new_prefix=self.ctx.node_cidr_mask)
        for name in sorted(self.dirty):
            node = self.ctx.store.find(self.ctx.nodes, None, name)
            if node is None or node["spec"].get("podCIDR"):
                continue
            cidr = next((str(c) for c in candidates if str(c) not in used), None)
            if cidr is None:
                self.ctx.record_event(node, "CIDRNotAvailable", f"Node {name} status is now: CIDRNotAvailable",
                                      "Warning", component="cidrAllocator")
                continue
            used.add(cidr)

            def assign(obj: dict, cidr=cidr) -> None:
                obj["spec"]["podCIDR"] = cidr
                obj["spec"]["podCIDRs"] = [cidr]
            self.ctx.store.mutate(self.ctx.nodes, None, name, assign)
        self.dirty.clear()


class NodeLifecycle(Controller):
    """The node lifecycle controller: a node whose kubelet stopped posting status goes Unknown
    after the monitor grace period (its pods marked not ready), Ready turns into the not-ready /
    unreachable taints, and pods that do not tolerate a NoExecute taint are evicted once their
    toleration runs out."""

    def __init__(self, ctx: SimContext):
        super().__init__(ctx)
        self.dirty: set[str] = set()
        self.silent_since: dict[str, float] = {}  # nodes whose kubelet stopped posting, and since when
        self._settings = None

    def on_event(self, event: WatchEvent) -> None:
        if event.key == ("", "nodes") and event.type != "DELETED":
            self.dirty.add(event.obj["metadata"]["name"])
        elif event.key == ("", "pods") and event.type == "ADDED" and event.obj["spec"].get("nodeName"):
            self.dirty.add(event.obj["spec"]["nodeName"])

    def sync(self, now: float) -> None:
        self._watch_kubelets(now)
        while self.dirty:
            batch, self.dirty = sorted(self.dirty), set()
            for name in batch:
                node = self.ctx.store.find(self.ctx.nodes, None, name)
                if node is None:
                    continue  # a pod bound to a node that does not exist: no node to watch (the pod GC's case)
                node = self._monitor(node, now)
                self._taint(node, now)
                self._evict_intolerant(node, now)

    def _watch_kubelets(self, now: float) -> None:
        settings = self.ctx.faults.settings
        if settings is self._settings:
            return
        self._settings = settings
        down = set(settings.nodes_not_ready)
        for name in down - set(self.silent_since):
            self.silent_since[name] = now
            self.ctx.timers.call_at(now + self.ctx.timings.node_monitor_grace, lambda _now, n=name: self.dirty.add(n))
        for name in set(self.silent_since) - down:
            del self.silent_since[name]

    def _monitor(self, node: dict, now: float) -> dict:
        """After node-monitor-grace-period without a status, every condition goes Unknown."""
        name = node["metadata"]["name"]
        since = self.silent_since.get(name)
        conditions = node.get("status", {}).get("conditions") or []
        if since is None or now < since + self.ctx.timings.node_monitor_grace or all(
                c.get("reason") == "NodeStatusUnknown" for c in conditions):
            return node
        stamp = rfc3339(now)

        def silence(obj: dict) -> None:
            conditions = []
            for cond in (obj.get("status") or {}).get("conditions") or []:
                cond = dict(cond)
                if cond.get("status") != "Unknown":
                    cond["lastTransitionTime"] = stamp
                cond.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.")
                conditions.append(cond)
            obj.setdefault("status", {})["conditions"] = conditions
        node = self.ctx.store.mutate(self.ctx.nodes, None, name, silence, subresource="status")
        self._mark_pods_not_ready(name, stamp)
        return node

    def _mark_pods_not_ready(self, node_name: str, stamp: str) -> None:
        """MarkPodsNotReady: the kubelet cannot say, so its pods stop counting as ready."""
        for namespace, name in list(self.ctx.index.pods_by_node.get(node_name, ())):
            pod = self.ctx.store.find(self.ctx.pods, namespace, name)
            if pod is None or not is_pod_ready(pod):
                continue

            def unready(obj: dict) -> None:
                status = obj.setdefault("status", {})
                status["conditions"] = [dict(c, status="False", lastTransitionTime=stamp) if c.get("type") == "Ready"
                                        else c for c in status.get("conditions") or []]
            self.ctx.store.mutate(self.ctx.pods, namespace, name, unready, subresource="status")

    def _taint(self, node: dict, now: float) -> None:
        """doNoScheduleTaintingPass (node conditions and spec.unschedulable to NoSchedule taints, the
        TaintNodesByCondition behaviour) and the NoExecute not-ready / unreachable taints, as
        pkg/controller/nodelifecycle/node_lifecycle_controller.go (v1.26) keeps them: taints it adds go at
        the end, stamped with timeAdded (controller/util SwapNodeControllerTaint); other taints stay."""
        ready = node_ready_status(node)
        wanted = [(key, "NoSchedule") for key in _condition_taint_keys(node)]
        if node["spec"].get("unschedulable"):
            wanted.append((UNSCHEDULABLE_TAINT, "NoSchedule"))
        if ready in _READY_TAINTS:
            wanted.append((_READY_TAINTS[ready], "NoExecute"))
        taints = node["spec"].get("taints") or []
        managed = {(t["key"], t.get("effect")) for t in taints if _managed_taint(t)}
        to_add = [w for w in wanted if w not in managed]
        to_remove = managed - set(wanted)
        if not to_add and not to_remove:
            return
        stamp = rfc3339(now)

        def retaint(obj: dict) -> None:
            kept = [t for t in obj["spec"].get("taints") or [] if (t["key"], t.get("effect")) not in to_remove]
            kept.extend({"key": key, "effect": effect, "timeAdded": stamp} for key, effect in to_add)
            if kept:
                obj["spec"]["taints"] = kept
            else:
                obj["spec"].pop("taints", None)
        self.ctx.store.mutate(self.ctx.nodes, None, node["metadata"]["name"], retaint)

    def _evict_intolerant(self, node: dict, now: float) -> None:
        taints = [t for t in node["spec"].get("taints") or [] if t.get("effect") == "NoExecute"]
        if not taints:
            return
        for namespace, name in list(self.ctx.index.pods_by_node.get(node["metadata"]["name"], ())):
            pod = self.ctx.store.find(self.ctx.pods, namespace, name)
            if pod is None or is_terminating(pod):
                continue
            tolerations = pod["spec"].get("tolerations") or []
            if untolerated_taint(tolerations, taints, effects=("NoExecute",)):
                self._evict(pod, node)
                continue
            for taint in taints:
                limit = _toleration_seconds(tolerations, taint)
                if limit is None:
                    continue
                added = parse_rfc3339(taint["timeAdded"]) if taint.get("timeAdded") else now
                if now >= added + limit:
                    self._evict(pod, node)
                    break
                node_name = node["metadata"]["name"]
                self.ctx.timers.call_at(added + limit, lambda _now, n=node_name: self.dirty.add(n))

    def _evict(self, pod: dict, node: dict) -> None:
        self.ctx.record_event(pod, "TaintManagerEviction", f"Marking for deletion Pod {pod['metadata']['namespace']}/"
                              f"{pod['metadata']['name']}", component="taint-eviction-controller")
        self.ctx.store.delete(self.ctx.pods, pod["metadata"]["namespace"], pod["metadata"]["name"])


# node_lifecycle_controller.go nodeConditionToTaintKeyStatusMap: which condition status taints a node NoSchedule
_CONDITION_TAINTS = {"Ready": {"False": NOT_READY_TAINT, "Unknown": UNREACHABLE_TAINT},
                     "MemoryPressure": {"True": "node.kubernetes.io/memory-pressure"},
                     "DiskPressure": {"True": "node.kubernetes.io/disk-pressure"},
                     "NetworkUnavailable": {"True": "node.kubernetes.io/network-unavailable"},
                     "PIDPressure": {"True": "node.kubernetes.io/pid-pressure"}}
_CONDITION_TAINT_KEYS = {key for statuses in _CONDITION_TAINTS.values() for key in statuses.values()}
_READY_TAINTS = {"False": NOT_READY_TAINT, "Unknown": UNREACHABLE_TAINT}


def _condition_taint_keys(node: dict) -> list[str]:
    keys = []
    for cond in (node.get("status") or {}).get("conditions") or []:
        key = _CONDITION_TAINTS.get(cond.get("type"), {}).get(cond.get("status"))
        if key:
            keys.append(key)
    if not any(c.get("type") == "Ready" for c in (node.get("status") or {}).get("conditions") or []):
        keys.append(UNREACHABLE_TAINT)  # no Ready condition reads as Unknown
    return keys


def _managed_taint(taint: dict) -> bool:
    """The taints the controller owns: NoSchedule ones of conditions or the cordon, NoExecute ones of Ready."""
    if taint.get("effect") == "NoSchedule":
        return taint["key"] == UNSCHEDULABLE_TAINT or taint["key"] in _CONDITION_TAINT_KEYS
    return taint.get("effect") == "NoExecute" and taint["key"] in _READY_TAINTS.values()


def disruption_allowed_condition(conditions: list[dict], allowed: int, observed_generation: int,
                                 now: str) -> list[dict]:
    """UpdateDisruptionAllowedCondition (k8s.io/component-helpers v0.26 apps/poddisruptionbudget/helpers.go),
    called by the disruption controller's updatePdbStatus (pkg/controller/disruption/disruption.go) and by the
    eviction's checkAndDecrement: a metav1.Condition carrying the status's observedGeneration."""
    conditions = set_condition(conditions, "DisruptionAllowed", "True" if allowed > 0 else "False", now,
                               "SufficientPods" if allowed > 0 else "InsufficientPods")
    for condition in conditions:
        if condition["type"] == "DisruptionAllowed":
            condition["observedGeneration"] = observed_generation
    return conditions


def _toleration_seconds(tolerations: list[dict], taint: dict) -> float | None:
    for toleration in tolerations:
        if untolerated_taint([toleration], [taint], effects=("NoExecute",)) is None:
            seconds = toleration.get("tolerationSeconds")
            return None if seconds is None else float(seconds)
    return None


class DisruptionController(Controller):
    """PodDisruptionBudget status: currentHealthy, desiredHealthy, disruptionsAllowed."""

    def __init__(self, ctx: SimContext):
        super().__init__(ctx)
        self.dirty_namespaces: set[str] = set()
        self.rtype = ctx.rtype("policy", "poddisruptionbudgets")
        self._settings = None

    def on_event(self, event: WatchEvent) -> None:
        if event.key in (("", "pods"), ("policy", "poddisruptionbudgets"), ("apps", "deployments"),
                         ("apps", "statefulsets"), ("apps", "replicasets")):
            self.dirty_namespaces.add(event.obj["metadata"].get("namespace", ""))

    def sync(self, now: float) -> None:
        if self.ctx.faults.settings is not self._settings:  # pdb_never_allows switched on or off
            self._settings = self.ctx.faults.settings
            self.dirty_namespaces.update(p["metadata"]["namespace"] for p in self.ctx.store.items(self.rtype))
        while self.dirty_namespaces:
            batch, self.dirty_namespaces = sorted(self.dirty_namespaces), set()
            for namespace in batch:
                for pdb in self.ctx.store.items(self.rtype, namespace):
                    self._update(pdb, now)

    def _update(self, pdb: dict, now: float) -> None:
        spec = pdb["spec"]
        selector = spec.get("selector")
        pods = []
        if selector is not None:
            matcher = selector_from_label_selector_object(selector)
            pods = [p for p in self.ctx.store.items(self.ctx.pods, pdb["metadata"]["namespace"])
                    if matcher.matches(p["metadata"].get("labels")) and p.get("status", {}).get("phase")
                    not in ("Succeeded", "Failed")]
        healthy = sum(1 for p in pods if is_pod_ready(p) and not is_terminating(p))
        expected = self._expected_count(pods, spec)
        if "minAvailable" in spec:
            from .workloads import resolve_int_or_percent
            desired = resolve_int_or_percent(spec["minAvailable"], expected, True)
        elif "maxUnavailable" in spec:
            from .workloads import resolve_int_or_percent
            desired = max(0, expected - resolve_int_or_percent(spec["maxUnavailable"], expected, True))
        else:
            desired = expected
        disrupted = dict((pdb.get("status") or {}).get("disruptedPods") or {})
        live_names = {p["metadata"]["name"] for p in pods if not is_terminating(p)}
        disrupted = {n: t for n, t in disrupted.items() if n in live_names and now - parse_rfc3339(t) < 120}
        allowed = max(0, healthy - desired - len(disrupted))
        key = f"{pdb['metadata']['namespace']}/{pdb['metadata']['name']}"
        if key in self.ctx.faults.settings.pdb_never_allows:
            allowed = 0
        stamp = rfc3339(now)
        conditions = disruption_allowed_condition((pdb.get("status") or {}).get("conditions") or [], allowed,
                                                  pdb["metadata"].get("generation", 1), stamp)
        status = {"observedGeneration": pdb["metadata"].get("generation", 1), "currentHealthy": healthy,
                  "desiredHealthy": desired, "expectedPods": expected, "disruptionsAllowed": allowed,
                  "conditions": conditions}
        if disrupted:
            status["disruptedPods"] = disrupted
        if status != pdb.get("status"):
            def put(obj: dict) -> None:
                obj["status"] = status
            self.ctx.store.mutate(self.rtype, pdb["metadata"]["namespace"], pdb["metadata"]["name"], put,
                                  subresource="status")

    def _expected_count(self, pods: list[dict], spec: dict) -> int:
        """Integer minAvailable counts pods; otherwise the controllers' scale counts (as upstream)."""
        if isinstance(spec.get("minAvailable"), int):
            return len(pods)
        total, seen = 0, set()
        for pod in pods:
            ref = next((r for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller")), None)
            if ref is None or ref["uid"] in seen:
                if ref is None:
                    total += 1
                continue
            seen.add(ref["uid"])
            total += self._scale_of(pod["metadata"]["namespace"], ref)
        return total

    def _scale_of(self, namespace: str, ref: dict) -> int:
        kinds = {"ReplicaSet": ("apps", "replicasets"), "StatefulSet": ("apps", "statefulsets"),
                 "Deployment": ("apps", "deployments")}
        if ref["kind"] not in kinds:
            return 1
        owner = self.ctx.store.find(self.ctx.rtype(*kinds[ref["kind"]]), namespace, ref["name"])
        if owner is None:
            return 0
        parent = next((r for r in owner["metadata"].get("ownerReferences") or [] if r.get("controller")), None)
        if ref["kind"] == "ReplicaSet" and parent and parent["kind"] == "Deployment":
            deploy = self.ctx.store.find(self.ctx.rtype("apps", "deployments"), namespace, parent["name"])
            if deploy is not None:
                return deploy["spec"].get("replicas", 1)
        return owner["spec"].get("replicas", 1)


class GarbageCollector(Controller):
    """Owner references: background deletion of orphans, foreground and orphan finalizers."""

    def __init__(self, ctx: SimContext):
        super().__init__(ctx)
        self.deleted_owners: set[str] = set()
        self.finalizing: set[tuple[tuple[str, str], str, str]] = set()

    def on_event(self, event: WatchEvent) -> None:
        meta = event.obj["metadata"]
        if event.type == "DELETED":
            self.deleted_owners.add(meta["uid"])
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp") and ("foregroundDeletion" in finalizers or "orphan" in finalizers):
            self.finalizing.add((event.key, meta.get("namespace", ""), meta["name"]))
        if event.type == "MODIFIED" and meta.get("deletionTimestamp"):
            for owner in meta.get("ownerReferences") or []:
                self.deleted_owners.add(owner["uid"])  # a dependent left: its owner may finish now

    def sync(self, now: float) -> None:
        store, index = self.ctx.store, self.ctx.index
        for key, namespace, name in list(self.finalizing):
            rtype = self.ctx.registry.by_key(key)
            obj = store.find(rtype, namespace, name) if rtype else None
            if obj is None:
                self.finalizing.discard((key, namespace, name))
                continue
            finalizers = obj["metadata"].get("finalizers") or []
            dependents = self._dependents(obj["metadata"]["uid"])
            if "orphan" in finalizers:
                for dep_type, dep in dependents:
                    uid = obj["metadata"]["uid"]
                    store.mutate(dep_type, dep["metadata"].get("namespace"), dep["metadata"]["name"],
                                 lambda d, uid=uid: d["metadata"].__setitem__("ownerReferences", [
                                     r for r in d["metadata"].get("ownerReferences") or [] if r["uid"] != uid]))
                self._drop_finalizer(rtype, obj, "orphan")
            elif "foregroundDeletion" in finalizers:
                for dep_type, dep in dependents:
                    if not is_terminating(dep):
                        store.delete(dep_type, dep["metadata"].get("namespace"), dep["metadata"]["name"],
                                     propagation="Foreground")
                if not self._dependents(obj["metadata"]["uid"]):
                    self._drop_finalizer(rtype, obj, "foregroundDeletion")
            else:
                self.finalizing.discard((key, namespace, name))
        while self.deleted_owners:  # sorted batches: a seed replays the same order
            batch, self.deleted_owners = sorted(self.deleted_owners), set()
            for uid in batch:
                if self._owner_exists(uid):
                    continue
                for dep_type, dep in self._dependents(uid):
                    refs = dep["metadata"].get("ownerReferences") or []
                    if all(not self._owner_exists(r["uid"]) for r in refs) and not is_terminating(dep):
                        store.delete(dep_type, dep["metadata"].get("namespace"), dep["metadata"]["name"])
                index.dependents.pop(uid, None) if not index.dependents.get(uid) else None

    def _dependents(self, uid: str) -> list[tuple[object, dict]]:
        found = []
        for key, namespace, name in list(self.ctx.index.dependents.get(uid, ())):
            rtype = self.ctx.registry.by_key(key)
            obj = self.ctx.store.find(rtype, namespace or None, name) if rtype else None
            if obj is not None:
                found.append((rtype, obj))
        return found

    def _owner_exists(self, uid: str) -> bool:
        return uid in self.ctx.live_uids

    def _drop_finalizer(self, rtype, obj: dict, finalizer: str) -> None:
        def drop(o: dict) -> None:
            o["metadata"]["finalizers"] = [f for f in o["metadata"].get("finalizers") or [] if f != finalizer]
        self.ctx.store.mutate(rtype, obj["metadata"].get("namespace"), obj["metadata"]["name"], drop)


class NamespaceController(Controller):
    """The namespace controller (k8s.io/kubernetes pkg/controller/namespace/namespace_controller.go and
    deletion/namespaced_resources_deleter.go, v1.26). A terminating namespace is handled
    namespaceDeletionGracePeriod (5 s) after each event about it: every namespaced kind that can be
    listed and deleted has its objects deleted, what remains is reported in status conditions
    (deletion/status_condition_utils.go), and while something remains the namespace is looked at again
    after estimate/2+1 s (the longest pod grace period, or 15 s for objects held by finalizers). Once
    nothing is left the controller removes its `kubernetes` token from spec.finalizers (the finalize
    subresource), and the API server lets the namespace go."""

    GRACE = 5.0                # namespaceDeletionGracePeriod
    FINALIZER_ESTIMATE = 15    # finalizerEstimateSeconds
    TOKEN = "kubernetes"
    CONDITION_TYPES = ("NamespaceDeletionDiscoveryFailure", "NamespaceDeletionGroupVersionParsingFailure",
                       "NamespaceDeletionContentFailure", "NamespaceContentRemaining", "NamespaceFinalizersRemaining")
    OK = {"NamespaceDeletionDiscoveryFailure": ("ResourcesDiscovered", "All resources successfully discovered"),
          "NamespaceDeletionGroupVersionParsingFailure": ("ParsedGroupVersions",
                                                          "All legacy kube types successfully parsed"),
          "NamespaceDeletionContentFailure": ("ContentDeleted",
                                              "All content successfully deleted, may be waiting on finalization"),
          "NamespaceContentRemaining": ("ContentRemoved", "All content successfully removed"),
          "NamespaceFinalizersRemaining": ("ContentHasNoFinalizers", "All content-preserving finalizers finished")}

    def __init__(self, ctx: SimContext):
        super().__init__(ctx)
        self.waiting: dict[str, float] = {}   # the work queue's AddAfter: name -> when it is due
        self.ready: set[str] = set()
        self.failures: dict[str, int] = {}    # the rate limiter's per-item count

    def on_event(self, event: WatchEvent) -> None:
        if event.key == ("", "namespaces") and event.type != "DELETED" and is_terminating(event.obj):
            self._add_after(event.obj["metadata"]["name"], self.GRACE)

    def _add_after(self, name: str, delay: float) -> None:
        due = self.ctx.now() + delay
        if self.waiting.get(name, float("inf")) <= due:
            return
        self.waiting[name] = due
        self.ctx.timers.call_at(due, lambda _now, n=name, d=due: self._due(n, d))

    def _due(self, name: str, due: float) -> None:
        if self.waiting.get(name) == due:
            del self.waiting[name]
            self.ready.add(name)

    def sync(self, now: float) -> None:
        while self.ready:
            batch, self.ready = sorted(self.ready), set()
            for name in batch:
                estimate, failed = self._delete(name, now)
                if failed:  # AddRateLimited: DefaultControllerRateLimiter's 5 ms doubling, at most 1000 s
                    self.failures[name] = self.failures.get(name, 0) + 1
                    self._add_after(name, min(0.005 * 2 ** (self.failures[name] - 1), 1000.0))
                    continue
                self.failures.pop(name, None)
                if estimate > 0:  # ResourcesRemainingError
                    self._add_after(name, estimate // 2 + 1)

    def _delete(self, name: str, now: float) -> tuple[int, bool]:
        """namespacedResourcesDeleter.Delete: (estimate in seconds, whether content deletion failed)."""
        store, ns_type = self.ctx.store, self.ctx.rtype("", "namespaces")
        ns = store.find(ns_type, None, name)
        if ns is None or not is_terminating(ns):
            return 0, False
        if (ns.get("status") or {}).get("phase") != "Terminating":
            ns = store.mutate(ns_type, None, name, lambda o: o.setdefault("status", {}).__setitem__(
                "phase", "Terminating"), subresource="status")
        if not (ns.get("spec") or {}).get("finalizers"):
            return 0, False  # finalized already
        deleted_at = parse_rfc3339(ns["metadata"]["deletionTimestamp"])
        estimate, remaining, held, failures = 0, {}, {}, []
        for rtype in sorted(self.ctx.registry.all(), key=lambda t: (t.group, t.plural)):
            if not rtype.namespaced or "delete" not in rtype.verbs or "list" not in rtype.verbs:
                continue
            seconds, count, finalizers, error = self._delete_kind(rtype, name, deleted_at, now)
            estimate = max(estimate, seconds)
            if count:
                remaining[f"{rtype.plural}.{rtype.group}"] = count
            for finalizer, n in finalizers.items():
                held[finalizer] = held.get(finalizer, 0) + n
            if error:
                failures.append(error)
        self._update_conditions(name, remaining, held, failures, now)
        if failures:
            return estimate, True
        if estimate > 0:
            return estimate, False

        def finalize(obj: dict) -> None:
            obj["spec"]["finalizers"] = sorted(set(f for f in obj["spec"].get("finalizers") or [] if f != self.TOKEN))
        if store.find(ns_type, None, name) is not None:
            store.mutate(ns_type, None, name, finalize, subresource="finalize")
        return 0, False

    def _delete_kind(self, rtype, namespace: str, deleted_at: float, now: float):
        """deleteAllContentForGroupVersionResource: (estimate, objects left, their finalizers, error)."""
        store = self.ctx.store
        estimate = 0
        if rtype.key == ("", "pods"):  # estimateGracefulTerminationForPods, then less the time already waited
            for pod in store.items(rtype, namespace):
                if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                    estimate = max(estimate, int(pod["spec"].get("terminationGracePeriodSeconds") or 0))
            if now - deleted_at >= estimate:
                estimate = 0
        for obj in store.items(rtype, namespace):  # deleteCollection
            if not is_terminating(obj) or rtype.key == ("", "pods"):
                try:
                    store.delete(rtype, namespace, obj["metadata"]["name"])
                except ApiError:
                    pass
        left = store.items(rtype, namespace)
        if not left:
            return 0, 0, {}, ""
        finalizers: dict[str, int] = {}
        for obj in left:
            for finalizer in obj["metadata"].get("finalizers") or []:
                finalizers[finalizer] = finalizers.get(finalizer, 0) + 1
        if estimate:
            return estimate, len(left), finalizers, ""
        if finalizers:
            return self.FINALIZER_ESTIMATE, len(left), finalizers, ""
        return 0, len(left), finalizers, (f"unexpected items still remain in namespace: {namespace} for gvr: "
                                          f"{rtype.group}/{rtype.version}, Resource={rtype.plural}")

    def _update_conditions(self, name: str, remaining: dict, held: dict, failures: list[str], now: float) -> None:
        wanted = {}
        if remaining:
            wanted["NamespaceContentRemaining"] = ("SomeResourcesRemain", "Some resources are remaining: " + ", ".join(
                sorted(f"{what} has {n} resource instances" for what, n in remaining.items())))
        if held:
            wanted["NamespaceFinalizersRemaining"] = (
                "SomeFinalizersRemain", "Some content in the namespace has finalizers remaining: " + ", ".join(
                    sorted(f"{finalizer} in {n} resource instances" for finalizer, n in held.items())))
        if failures:
            wanted["NamespaceDeletionContentFailure"] = (
                "ContentDeletionFailed", f"Failed to delete all resource types, {len(failures)} remaining: "
                                         + ", ".join(sorted(failures)))
        stamp = rfc3339(now)
        ns_type = self.ctx.rtype("", "namespaces")
        current = (self.ctx.store.get(ns_type, None, name).get("status") or {}).get("conditions") or []
        conditions = [dict(c) for c in current]
        for type_ in self.CONDITION_TYPES:
            status, (reason, message) = ("True", wanted[type_]) if type_ in wanted else ("False", self.OK[type_])
            old = next((c for c in conditions if c["type"] == type_), None)
            if old is None:
                conditions.append({"type": type_, "status": status, "lastTransitionTime": stamp, "reason": reason,
                                   "message": message})
            elif (old["status"], old.get("reason"), old.get("message")) != (status, reason, message):
                if old["status"] != status:
                    old["lastTransitionTime"] = stamp
                old.update(status=status, reason=reason, message=message)
        if conditions != current:
            self.ctx.store.mutate(ns_type, None, name, lambda o: o.setdefault("status", {}).__setitem__(
                "conditions", conditions), subresource="status")


class ServiceAccounts(Controller):
    """The serviceaccounts controller (k8s.io/kubernetes pkg/controller/serviceaccount/serviceaccounts_controller.go,
    v1.26): every active namespace has the ServiceAccount `default`. It syncs a namespace when the namespace is
    added or updated and when its `default` account is deleted, and leaves terminating namespaces alone."""

    def __init__(self, ctx: SimContext):
        super().__init__(ctx)
        self.dirty: set[str] = set()

    def on_event(self, event: WatchEvent) -> None:
        if event.key == ("", "namespaces") and event.type != "DELETED":
            self.dirty.add(event.obj["metadata"]["name"])
        elif event.key == ("", "serviceaccounts") and event.type == "DELETED" \
                and event.obj["metadata"]["name"] == "default":
            self.dirty.add(event.obj["metadata"]["namespace"])

    def sync(self, now: float) -> None:
        while self.dirty:
            batch, self.dirty = sorted(self.dirty), set()
            for namespace in batch:
                self.ensure(namespace)

    def ensure(self, namespace: str) -> None:
        store = self.ctx.store
        ns = store.find(self.ctx.rtype("", "namespaces"), None, namespace)
        if ns is None or (ns.get("status") or {}).get("phase", "Active") != "Active" or is_terminating(ns):
            return
        sa_type = self.ctx.rtype("", "serviceaccounts")
        if store.find(sa_type, namespace, "default") is None:
            try:
                store.create(sa_type, {"apiVersion": "v1", "kind": "ServiceAccount",
                                       "metadata": {"name": "default", "namespace": namespace}})
            except ApiError:
                pass  # a namespace going away under it: the real controller drops the key too


ROOT_CA_CONFIG_MAP = "kube-root-ca.crt"
ROOT_CA_DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
                       "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
                       "guaranteed across distributions of Kubernetes clusters.")


def simulated_root_ca(seed: str) -> str:
    """A PEM block standing for the cluster's root CA (its bytes are not a certificate anyone verifies here)."""
    import base64
    import hashlib
    raw = b"".join(hashlib.sha256(f"{seed}/{i}".encode()).digest() for i in range(12))
    body = base64.b64encode(raw).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


class RootCACertPublisher(Controller):
    """root-ca-cert-publisher (k8s.io/kubernetes pkg/controller/certificates/rootcacertpublisher/publisher.go,
    v1.26): every namespace has the ConfigMap kube-root-ca.crt holding the cluster's CA as `ca.crt`, with the
    kubernetes.io/description annotation; a namespace's add or update, and a change or deletion of that ConfigMap,
    make it check, create or restore it (a terminating namespace refuses the create, which it lets go)."""

    def __init__(self, ctx: SimContext, root_ca: str):
        super().__init__(ctx)
        self.root_ca = root_ca
        self.dirty: set[str] = set()

    def on_event(self, event: WatchEvent) -> None:
        if event.key == ("", "namespaces") and event.type != "DELETED":
            self.dirty.add(event.obj["metadata"]["name"])
        elif event.key == ("", "configmaps") and event.type != "ADDED" \
                and event.obj["metadata"]["name"] == ROOT_CA_CONFIG_MAP:
            self.dirty.add(event.obj["metadata"]["namespace"])

    def sync(self, now: float) -> None:
        while self.dirty:
            batch, self.dirty = sorted(self.dirty), set()
            for namespace in batch:
                self._sync_namespace(namespace)

    def _sync_namespace(self, namespace: str) -> None:
        store, cm_type = self.ctx.store, self.ctx.rtype("", "configmaps")
        if store.find(self.ctx.rtype("", "namespaces"), None, namespace) is None:
            return
        data = {"ca.crt": self.root_ca}
        current = store.find(cm_type, namespace, ROOT_CA_CONFIG_MAP)
        try:
            if current is None:
                store.create(cm_type, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
                    "name": ROOT_CA_CONFIG_MAP, "namespace": namespace,
                    "annotations": {"kubernetes.io/description": ROOT_CA_DESCRIPTION}}, "data": data})
            elif current.get("data") != data or not (current["metadata"].get("annotations") or {}).get(
                    "kubernetes.io/description"):
                def restore(obj: dict) -> None:
                    obj["data"] = data
                    obj["metadata"].setdefault("annotations", {})["kubernetes.io/description"] = ROOT_CA_DESCRIPTION
                store.mutate(cm_type, namespace, ROOT_CA_CONFIG_MAP, restore)
        except ApiError:
            pass  # NotFound or NamespaceTerminating: publisher.go does not retry those


class PodGarbageCollector(Controller):
    """The pod GC's orphan sweep (k8s.io/kubernetes pkg/controller/podgc/gc_controller.go, v1.26,
    gcOrphaned): every gcCheckPeriod it puts the node of each pod bound to a node that does not exist
    in quarantine; once a node has been missing for quarantineTime it marks that node's pods Failed
    with a DisruptionTarget condition (markFailedAndDeletePodWithCondition, PodDisruptionConditions
    on by default) and deletes them with a zero grace period."""

    CHECK_PERIOD = 20.0   # gcCheckPeriod
    QUARANTINE = 40.0     # quarantineTime

    def __init__(self, ctx: SimContext):
        super().__init__(ctx)
        self.next_check: float | None = None
        self.quarantined: dict[str, float] = {}  # node name -> when it may be found deleted

    def sync(self, now: float) -> None:
        if self.next_check is None:
            self.next_check = now + self.CHECK_PERIOD
            self.ctx.timers.call_at(self.next_check, lambda _now: None)
        if now < self.next_check:
            return
        self.next_check = now + self.CHECK_PERIOD
        self.ctx.timers.call_at(self.next_check, lambda _now: None)
        store = self.ctx.store
        existing = {n["metadata"]["name"] for n in store.items(self.ctx.nodes)}
        bound = {node for node, pods in self.ctx.index.pods_by_node.items() if node and pods}
        for node in sorted(bound - existing):
            self.quarantined.setdefault(node, now + self.QUARANTINE)
        deleted = set()
        for node, due in sorted(self.quarantined.items()):
            if due <= now:
                del self.quarantined[node]
                if store.find(self.ctx.nodes, None, node) is None:  # checkIfNodeExists: a live read
                    deleted.add(node)
        stamp = rfc3339(now)
        for node in sorted(deleted):
            for namespace, name in sorted(self.ctx.index.pods_by_node.get(node, ())):
                if store.find(self.ctx.pods, namespace, name) is not None:
                    self._mark_failed_and_delete(namespace, name, stamp)

    def _mark_failed_and_delete(self, namespace: str, name: str, stamp: str) -> None:
        def fail(pod: dict) -> None:
            status = pod.setdefault("status", {})
            status["conditions"] = set_condition(status.get("conditions") or [], "DisruptionTarget", "True", stamp,
                                                 "DeletionByPodGC", "PodGC: node no longer exists")
            if status.get("phase") not in ("Succeeded", "Failed"):
                status["phase"] = "Failed"
        self.ctx.store.mutate(self.ctx.pods, namespace, name, fail, subresource="status")
        self.ctx.store.delete(self.ctx.pods, namespace, name, grace_period=0)
