"""Workload controllers: ReplicaSet, Deployment, StatefulSet, DaemonSet, Job.

Each reconciles only the owners its events touched, as the real controllers'
work queues do. Pod names, labels and owner references follow the real ones, so
kubectl drain's filters and a tool's snapshot see what they would see on a cluster.
"""
from __future__ import annotations

import hashlib
from abc import abstractmethod
import json
import math

from . import wire
from .clock import rfc3339
from .context import (SimContext, controller_ref, is_active_pod, is_pod_ready, is_terminating, owner_reference,
                      set_condition)
from .errors import ApiError
from .loop import Controller
from .selectors import node_selector_matches, required_node_affinity_matches, untolerated_taint
from .store import WatchEvent, clone

_SAFE_CHARS = "bcdfghjklmnpqrstvwxz2456789"
POD_KEY = ("", "pods")


def template_hash(template: dict) -> str:
    """A stable short hash of a pod template, spelled as Kubernetes spells them."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(_SAFE_CHARS[b % len(_SAFE_CHARS)] for b in digest[:10])


def resolve_int_or_percent(value, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        share = float(value[:-1]) * total / 100.0
        return math.ceil(share) if round_up else math.floor(share)
    return int(value or 0)


class WorkloadController(Controller):
    """Shared plumbing: which owners to resync, and reading the pods an owner controls."""

    kind_key: tuple[str, str] = ("", "")
    component = ""  # the controller's name in its Events' source

    def __init__(self, ctx: SimContext):
        super().__init__(ctx)
        self.rtype = ctx.rtype(*self.kind_key)
        self.dirty: set[tuple[str, str]] = set()
        self.failures: dict[tuple[str, str], int] = {}  # the work queue's rate limiter, per owner
        self._create_failed = ""  # how this sync's pod creation failed: "", "error" or "terminating"

    def on_event(self, event: WatchEvent) -> None:
        if event.key == self.kind_key:
            meta = event.obj["metadata"]
            self.dirty.add((meta.get("namespace", ""), meta["name"]))
        elif event.key == POD_KEY:
            for obj in (event.obj, event.old):
                ref = controller_ref(obj) if obj else None
                if ref and ref.get("kind") == self.rtype.kind:
                    self.dirty.add((obj["metadata"].get("namespace", ""), ref["name"]))

    def sync(self, now: float) -> None:
        while self.dirty:  # sorted, so a seed replays the same names (set order follows string hashing)
            batch, self.dirty = sorted(self.dirty), set()
            for namespace, name in batch:
                owner = self.ctx.store.find(self.rtype, namespace, name)
                if owner is not None and not is_terminating(owner):
                    self._create_failed = ""
                    self.reconcile(owner, now)
                    self._requeue_if_failed((namespace, name))

    def _requeue_if_failed(self, key: tuple[str, str]) -> None:
        """A sync whose pod creation failed returns its error, and the work queue takes the owner back
        with AddRateLimited (DefaultControllerRateLimiter: 5 ms doubling per failure, at most 1000 s);
        a sync that succeeds Forgets it."""
        if self._create_failed != "error":
            self.failures.pop(key, None)
            return
        self.failures[key] = self.failures.get(key, 0) + 1
        delay = min(0.005 * 2 ** (self.failures[key] - 1), 1000.0)
        self.ctx.timers.call_at(self.ctx.now() + delay, lambda _now: self.dirty.add(key))

    @abstractmethod
    def reconcile(self, owner: dict, now: float) -> None:
        """Bring one owner's pods and status to what its spec asks for."""

    def owned(self, owner: dict, key: tuple[str, str] = POD_KEY) -> list[dict]:
        store, rtype = self.ctx.store, self.ctx.rtype(*key)
        found = []
        for dep_key, namespace, name in list(self.ctx.index.dependents.get(owner["metadata"]["uid"], ())):
            if dep_key != key:
                continue
            obj = store.find(rtype, namespace, name)
            if obj is not None and (controller_ref(obj) or {}).get("uid") == owner["metadata"]["uid"]:
                found.append(obj)
        return sorted(found, key=lambda o: o["metadata"]["name"])

    def new_pod(self, owner: dict, template: dict, *, name: str | None = None, extra_labels: dict | None = None,
                spec_changes: dict | None = None) -> dict:
        meta = clone(template.get("metadata") or {})
        labels = {**(meta.get("labels") or {}), **(extra_labels or {})}
        pod_meta = {"namespace": owner["metadata"]["namespace"], "labels": labels,
                    "ownerReferences": [owner_reference(owner)]}
        if meta.get("annotations"):
            pod_meta["annotations"] = meta["annotations"]
        if name:
            pod_meta["name"] = name
        else:
            pod_meta["generateName"] = owner["metadata"]["name"] + "-"
        spec = clone(template.get("spec") or {})
        spec.update(spec_changes or {})
        if self._create_failed:
            return None  # slowStartBatch: no further batch after one whose create failed
        try:
            return self.ctx.store.create(self.ctx.pods, {"metadata": pod_meta, "spec": spec}, owned=True)
        except ApiError as exc:
            self._create_failed = "error"
            # pkg/controller/controller_utils.go RealPodControl.createPods: an Event unless the namespace is
            # being terminated, where every create fails and the controllers do not retry.
            if any(c.get("reason") == "NamespaceTerminating" for c in exc.details.get("causes") or []):
                self._create_failed = "terminating"
                return None
            self.ctx.record_event(owner, "FailedCreate", self.failed_create_message(name, owner, exc), "Warning",
                                  component=self.component)
            return None

    def failed_create_message(self, name: str | None, owner: dict, exc: ApiError) -> str:
        return f"Error creating: {exc.message}"

    def delete_pod(self, pod: dict) -> None:
        if not is_terminating(pod):
            self.ctx.store.delete(self.ctx.pods, pod["metadata"]["namespace"], pod["metadata"]["name"])

    def write_status(self, owner: dict, status: dict) -> None:
        status = {**(owner.get("status") or {}), **status,
                  "observedGeneration": owner["metadata"].get("generation", 1)}
        wire.encode_status(self.kind_key, status)  # compare with what the store keeps
        if status != owner.get("status"):
            def put(obj: dict) -> None:
                obj["status"] = status
            self.ctx.store.mutate(self.rtype, owner["metadata"]["namespace"], owner["metadata"]["name"], put,
                                  subresource="status", shallow=True)


def _deletion_rank(pod: dict) -> tuple:
    """Which pods a scale-down removes first: unscheduled, then not ready, then the newest."""
    return (bool(pod["spec"].get("nodeName")), is_pod_ready(pod), _negated(pod["metadata"]["creationTimestamp"]))


def _negated(text: str) -> tuple:
    return tuple(-ord(c) for c in text)


class ReplicaSetController(WorkloadController):
    component = "replicaset-controller"
    kind_key = ("apps", "replicasets")

    def reconcile(self, rs: dict, now: float) -> None:
        pods = self.owned(rs)
        active = [p for p in pods if is_active_pod(p)]
        wanted = rs["spec"].get("replicas", 1)
        if len(active) < wanted:
            for _ in range(wanted - len(active)):
                created = self.new_pod(rs, rs["spec"]["template"])
                if created is not None:
                    active.append(created)
        elif len(active) > wanted:
            for pod in sorted(active, key=_deletion_rank)[: len(active) - wanted]:
                self.delete_pod(pod)
                active.remove(pod)
        ready = sum(1 for p in active if is_pod_ready(p))
        self.write_status(rs, {"replicas": len(active), "fullyLabeledReplicas": len(active),
                               "readyReplicas": ready, "availableReplicas": ready})


class DeploymentController(WorkloadController):
    component = "deployment-controller"
    kind_key = ("apps", "deployments")

    def on_event(self, event: WatchEvent) -> None:
        if event.key == ("apps", "replicasets"):
            for obj in (event.obj, event.old):
                ref = controller_ref(obj) if obj else None
                if ref and ref.get("kind") == "Deployment":
                    self.dirty.add((obj["metadata"]["namespace"], ref["name"]))
        elif event.key == self.kind_key:
            super().on_event(event)

    def reconcile(self, deploy: dict, now: float) -> None:
        store, rs_type = self.ctx.store, self.ctx.rtype("apps", "replicasets")
        spec = deploy["spec"]
        template = spec["template"]
        pod_hash = template_hash(template)
        sets = self.owned(deploy, ("apps", "replicasets"))
        new_rs = next((rs for rs in sets if rs["metadata"].get("labels", {}).get("pod-template-hash") == pod_hash), None)
        old_sets = [rs for rs in sets if rs is not new_rs]
        desired = spec.get("replicas", 1)
        if new_rs is None:
            new_rs = self._create_replica_set(deploy, pod_hash, 0 if old_sets else desired)
            if new_rs is None:
                return
        strategy = spec.get("strategy") or {}
        if not old_sets:
            self._scale(new_rs, desired)
        elif strategy.get("type") == "Recreate":
            for rs in old_sets:
                self._scale(rs, 0)
            if all(rs.get("status", {}).get("replicas", 0) == 0 for rs in old_sets):
                self._scale(new_rs, desired)
        else:
            self._roll(new_rs, old_sets, desired, strategy.get("rollingUpdate") or {})
        sets = self.owned(deploy, ("apps", "replicasets"))
        new_rs = store.find(rs_type, new_rs["metadata"]["namespace"], new_rs["metadata"]["name"]) or new_rs
        status_of = [rs.get("status", {}) for rs in sets]
        available = sum(s.get("availableReplicas", 0) for s in status_of)
        stamp = rfc3339(now)
        conditions = set_condition((deploy.get("status") or {}).get("conditions") or [], "Available",
                                   "True" if available >= desired - resolve_int_or_percent(
                                       (strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%"), desired, False)
                                   else "False", stamp,
                                   "MinimumReplicasAvailable" if available >= desired else "MinimumReplicasUnavailable",
                                   "Deployment has minimum availability.")
        self.write_status(deploy, {
            "replicas": sum(s.get("replicas", 0) for s in status_of),
            "updatedReplicas": new_rs.get("status", {}).get("replicas", 0),
            "readyReplicas": sum(s.get("readyReplicas", 0) for s in status_of),
            "availableReplicas": available,
            "unavailableReplicas": max(0, desired - available),
            "conditions": conditions,
        })

    def _roll(self, new_rs: dict, old_sets: list[dict], desired: int, rolling: dict) -> None:
        """RollingUpdate as the deployment controller does it (rolling.go): scale the new set up
        within maxSurge, then scale old sets down by what maxUnavailable allows, counting the new
        set's not-yet-available pods against it so stale status never over-cuts."""
        surge = resolve_int_or_percent(rolling.get("maxSurge", "25%"), desired, True)
        max_unavailable = resolve_int_or_percent(rolling.get("maxUnavailable", "25%"), desired, False)
        if surge == 0 and max_unavailable == 0:
            max_unavailable = 1
        spec = lambda rs: rs["spec"].get("replicas", 0)
        available_of = lambda rs: (rs.get("status") or {}).get("availableReplicas", 0)
        old_sets = sorted(old_sets, key=lambda rs: rs["metadata"]["creationTimestamp"])
        new_count = spec(new_rs)
        current = new_count + sum(spec(rs) for rs in old_sets)
        if current < desired + surge:
            new_count += max(0, min(desired + surge - current, desired - new_count))
            self._scale(new_rs, new_count)
        old_counts = [spec(rs) for rs in old_sets]
        if not sum(old_counts):
            return
        min_available = desired - max_unavailable
        max_scaled_down = new_count + sum(old_counts) - min_available - (new_count - available_of(new_rs))
        if max_scaled_down <= 0:
            return
        cleaned = 0  # unhealthy old replicas go first: they would block the rollout
        for i, rs in enumerate(old_sets):
            if cleaned >= max_scaled_down:
                break
            unhealthy = old_counts[i] - available_of(rs)
            if old_counts[i] and unhealthy > 0:
                cut = min(max_scaled_down - cleaned, unhealthy)
                old_counts[i] -= cut
                cleaned += cut
        available = available_of(new_rs) + sum(min(available_of(rs), old_counts[i]) for i, rs in enumerate(old_sets))
        budget = max(0, available - min_available)
        for i in range(len(old_sets)):
            if budget <= 0:
                break
            cut = min(old_counts[i], budget)
            old_counts[i] -= cut
            budget -= cut
        for rs, count in zip(old_sets, old_counts):
            self._scale(rs, count)

    def _create_replica_set(self, deploy: dict, pod_hash: str, replicas: int) -> dict:
        template = clone(deploy["spec"]["template"])
        template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = pod_hash
        selector = clone(deploy["spec"]["selector"])
        selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
        rs = {"metadata": {"name": f"{deploy['metadata']['name']}-{pod_hash}", "namespace": deploy["metadata"]["namespace"],
                           "labels": template["metadata"]["labels"], "ownerReferences": [owner_reference(deploy)]},
              "spec": {"replicas": replicas, "selector": selector, "template": template}}
        try:
            return self.ctx.store.create(self.ctx.rtype("apps", "replicasets"), rs)
        except ApiError as exc:
            # pkg/controller/deployment/sync.go getNewReplicaSet: an Event and the error back to the queue
            if any(c.get("reason") == "NamespaceTerminating" for c in exc.details.get("causes") or []):
                self._create_failed = "terminating"
                return None
            self._create_failed = "error"
            self.ctx.record_event(deploy, "ReplicaSetCreateError", "Failed to create new replica set "
                                  f'"{rs["metadata"]["name"]}": {exc.message}', "Warning", component=self.component)
            return None

    def _scale(self, rs: dict, replicas: int) -> None:
        if rs["spec"].get("replicas") != replicas:
            def put(obj: dict) -> None:
                obj["spec"]["replicas"] = replicas
            self.ctx.store.mutate(self.ctx.rtype("apps", "replicasets"), rs["metadata"]["namespace"],
                                  rs["metadata"]["name"], put)


class StatefulSetController(WorkloadController):
    component = "statefulset-controller"
    kind_key = ("apps", "statefulsets")

    def failed_create_message(self, name, owner, exc) -> str:
        # pkg/controller/statefulset/stateful_pod_control.go recordPodEvent
        return f"create Pod {name} in StatefulSet {owner['metadata']['name']} failed error: {exc.message}"

    def reconcile(self, sts: dict, now: float) -> None:
        store = self.ctx.store
        spec = sts["spec"]
        name, namespace = sts["metadata"]["name"], sts["metadata"]["namespace"]
        ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        revision = f"{name}-{template_hash(spec['template'])}"
        replicas = spec.get("replicas", 1)
        pods = {p["metadata"]["name"]: p for p in self.owned(sts)}
        for ordinal in range(replicas):
            pod_name = f"{name}-{ordinal}"
            pod = pods.get(pod_name) or store.find(self.ctx.pods, namespace, pod_name)
            if pod is None:
                self.new_pod(sts, spec["template"], name=pod_name,
                             extra_labels={"statefulset.kubernetes.io/pod-name": pod_name,
                                           "apps.kubernetes.io/pod-index": str(ordinal),
                                           "controller-revision-hash": revision},
                             spec_changes={"hostname": pod_name, "subdomain": spec.get("serviceName", "")})
                if ordered:
                    break
            elif pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                self.delete_pod(pod)
                if ordered:
                    break
            elif ordered and (is_terminating(pod) or not is_pod_ready(pod)):
                break
        excess = sorted((p for n, p in pods.items() if int(n.rsplit("-", 1)[1]) >= replicas),
                        key=lambda p: -int(p["metadata"]["name"].rsplit("-", 1)[1]))
        for pod in excess[:1] if ordered else excess:
            self.delete_pod(pod)
        active = [p for p in self.owned(sts) if is_active_pod(p)]
        ready = sum(1 for p in active if is_pod_ready(p))
        current = sum(1 for p in active if p["metadata"].get("labels", {}).get("controller-revision-hash") == revision)
        self.write_status(sts, {"replicas": len(active), "readyReplicas": ready, "availableReplicas": ready,
                                "currentReplicas": current, "updatedReplicas": current,
                                "currentRevision": revision, "updateRevision": revision})


# Tolerations the DaemonSet controller adds to every daemon pod.
DAEMON_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]
_HOST_NETWORK_TOLERATION = {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists", "effect": "NoSchedule"}


def daemon_tolerations(pod_spec: dict) -> list[dict]:
    tolerations = [clone(t) for t in pod_spec.get("tolerations") or []]
    extra = DAEMON_TOLERATIONS + ([_HOST_NETWORK_TOLERATION] if pod_spec.get("hostNetwork") else [])
    for toleration in extra:
        if not any(t.get("key") == toleration["key"] and t.get("effect") == toleration["effect"] for t in tolerations):
            tolerations.append(dict(toleration))
    return tolerations


def daemon_should_run(pod_spec: dict, node: dict) -> tuple[bool, bool]:
    """(should run, may keep running), as the DaemonSet controller's node predicates decide."""
    if not node_selector_matches(pod_spec, node) or not required_node_affinity_matches(pod_spec, node):
        return False, False
    tolerations = daemon_tolerations(pod_spec)
    taints = node.get("spec", {}).get("taints") or []
    if untolerated_taint(tolerations, taints, effects=("NoExecute",)):
        return False, False
    if untolerated_taint(tolerations, taints, effects=("NoSchedule",)):
        return False, True
    return True, True


class DaemonSetController(WorkloadController):
    component = "daemonset-controller"
    kind_key = ("apps", "daemonsets")

    def on_event(self, event: WatchEvent) -> None:
        if event.key == ("", "nodes"):
            old, new = event.old, event.obj
            if (event.type != "MODIFIED" or _scheduling_view(old) != _scheduling_view(new)):
                for ds in self.ctx.store.items(self.rtype):
                    self.dirty.add((ds["metadata"]["namespace"], ds["metadata"]["name"]))
        else:
            super().on_event(event)

    def reconcile(self, ds: dict, now: float) -> None:
        spec = ds["spec"]
        template = spec["template"]
        pod_spec = template.get("spec") or {}
        revision = template_hash(template)
        by_node: dict[str, list[dict]] = {}
        for pod in self.owned(ds):
            by_node.setdefault(pod["spec"].get("nodeName") or _affinity_node(pod) or "", []).append(pod)
        desired = current = misscheduled = ready = updated = 0
        wanted_nodes = []
        nodes = self.ctx.store.items(self.ctx.nodes)
        node_names = {n["metadata"]["name"] for n in nodes}
        for node in nodes:
            node_name = node["metadata"]["name"]
            should_run, may_continue = daemon_should_run(pod_spec, node)
            pods = by_node.get(node_name, [])
            for pod in [p for p in pods if p.get("status", {}).get("phase") == "Failed"]:
                self.delete_pod(pod)
                pods.remove(pod)
            live = [p for p in pods if not is_terminating(p)]
            if should_run:
                desired += 1
                wanted_nodes.append(node_name)
            if should_run and not pods:
                self._create_daemon_pod(ds, node_name, revision)
            elif not may_continue and live:
                for pod in live:
                    self.delete_pod(pod)
            elif len(live) > 1:
                for pod in live[1:]:
                    self.delete_pod(pod)
            if live and should_run:
                current += 1
                ready += int(is_pod_ready(live[0]))
                updated += int(live[0]["metadata"].get("labels", {}).get("controller-revision-hash") == revision)
            elif live:
                misscheduled += 1
        for node_name, pods in by_node.items():
            if node_name not in node_names:
                for pod in pods:
                    self.delete_pod(pod)
        self._roll(ds, by_node, revision, wanted_nodes)
        self.write_status(ds, {"desiredNumberScheduled": desired, "currentNumberScheduled": current,
                               "numberMisscheduled": misscheduled, "numberReady": ready,
                               "numberAvailable": ready, "numberUnavailable": max(0, desired - ready),
                               "updatedNumberScheduled": updated})

    def _roll(self, ds: dict, by_node: dict[str, list[dict]], revision: str, wanted_nodes: list[str]) -> None:
        """RollingUpdate with maxSurge 0 (rolling_update.go): a node whose daemon pod is missing,
        terminating, doubled or new-but-unready counts as unavailable; old unready pods are replaced
        at once, old ready ones only while fewer than maxUnavailable nodes are unavailable."""
        strategy = ds["spec"].get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        limit = resolve_int_or_percent((strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1),
                                       len(wanted_nodes), True) or 1
        unavailable = 0
        replace, candidates = [], []
        for node_name in wanted_nodes:
            pods = [p for p in by_node.get(node_name, []) if is_active_pod(p)]
            new = [p for p in pods if p["metadata"].get("labels", {}).get("controller-revision-hash") == revision]
            old = [p for p in pods if p not in new]
            if bool(new) == bool(old) or len(pods) > 1:
                unavailable += 1  # missing, terminating or doubled: the manage loop is still at it
            elif new:
                unavailable += 0 if is_pod_ready(new[0]) else 1
            elif not is_pod_ready(old[0]):
                replace.append(old[0])
            else:
                candidates.append(old[0])
        room = max(0, limit - unavailable)
        for pod in replace + candidates[:room]:
            self.delete_pod(pod)

    def _create_daemon_pod(self, ds: dict, node_name: str, revision: str) -> None:
        template = ds["spec"]["template"]
        pod_spec = template.get("spec") or {}
        affinity = clone(pod_spec.get("affinity") or {})
        affinity.setdefault("nodeAffinity", {})["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}
        self.new_pod(ds, template, extra_labels={"controller-revision-hash": revision,
                                                 "pod-template-generation": str(ds["metadata"].get("generation", 1))},
                     spec_changes={"affinity": affinity, "tolerations": daemon_tolerations(pod_spec)})


def _scheduling_view(node: dict | None) -> tuple:
    if node is None:
        return ()
    return (node["metadata"].get("labels"), node.get("spec", {}).get("taints"), node.get("spec", {}).get("unschedulable"))


def _affinity_node(pod: dict) -> str | None:
    terms = (((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {})
             .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or []
    for term in terms:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("values"):
                return field["values"][0]
    return None


class JobController(WorkloadController):
    component = "job-controller"
    kind_key = ("batch", "jobs")

    def reconcile(self, job: dict, now: float) -> None:
        spec = job["spec"]
        status = job.get("status") or {}
        if any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in status.get("conditions") or []):
            return
        pods = self.owned(job)
        succeeded = sum(1 for p in pods if p.get("status", {}).get("phase") == "Succeeded")
        failed = sum(1 for p in pods if p.get("status", {}).get("phase") == "Failed")
        active = [p for p in pods if is_active_pod(p)]
        completions = spec.get("completions", 1)
        stamp = rfc3339(now)
        conditions = status.get("conditions") or []
        new_status = {"active": len(active), "succeeded": succeeded, "failed": failed,
                      "startTime": status.get("startTime", stamp)}
        if succeeded >= completions:
            new_status["conditions"] = set_condition(conditions, "Complete", "True", stamp)
            new_status["completionTime"] = stamp
        elif failed > spec.get("backoffLimit", 6):
            for pod in active:
                self.delete_pod(pod)
            new_status["conditions"] = set_condition(conditions, "Failed", "True", stamp, "BackoffLimitExceeded",
                                                     "Job has reached the specified backoff limit")
        else:
            wanted = min(spec.get("parallelism", 1), completions - succeeded)
            for _ in range(wanted - len(active)):
                self.new_pod(job, spec["template"])
        self.write_status(job, new_status)
