"""The simulator's node side attached to a real control plane: `migrate sim attach`.

A real kube-apiserver, kube-controller-manager and kube-scheduler run the cluster; this module is its
nodes. It registers the scenario's nodes as their kubelets would and then runs, against the real API
through `RemoteStore`, only what runs on nodes: the kubelets (pods bound to their nodes: sandboxes
through each host's CNI configuration, containers, status through pods/status, termination messages,
the final delete), the flanneld and calico-node agents, the CNI plugins and calico-ipam (whose
crd.projectcalico.org objects are written through the API), the host models, the connectivity oracle
and the traffic probe. Scheduling, DaemonSets, ReplicaSets and Deployments, garbage collection,
namespaces, node IPAM (each node's podCIDR), node lifecycle and PodDisruptionBudget status are the real
controllers' business; none of the simulator's copies runs here.

Time is the wall clock (time scale 1), with the scenario's timings. The scenario's cluster is installed
through the API as `SimCluster._build` builds it (namespaces, nodes, system add-ons, Flannel's manifest
as the simulator renders it, workloads, PDBs, NetworkPolicies), from the same builders (build.py).
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace

from . import build
from .clock import SimClock, rfc3339, rfc3339_micro
from .cluster import ProbeSampler, flannel_objects_for
from .context import SimContext, Timings, is_pod_ready
from .errors import ApiError
from .faults import Faults
from .kubelet import Kubelets
from .loop import Controller, ControlLoop
from .network import Network
from .remote_store import RemoteApi, RemoteStore
from .resources import ResourceRegistry
from .scenario import Scenario, ScenarioError, load_scenario
from .store import clone

# What the node side reads, cached by list+watch: the kubelets (pods, nodes, the ConfigMaps they mount
# and read env from), the oracle (namespaces, services, NetworkPolicies) and the agents (Calico's
# objects, once their CRDs exist).
CACHED_BUILTINS = (("", "v1", "nodes"), ("", "v1", "pods"), ("", "v1", "configmaps"), ("", "v1", "namespaces"),
                   ("", "v1", "services"), ("networking.k8s.io", "v1", "networkpolicies"))
CACHED_CRDS = {"crd.projectcalico.org": {"ippools", "blockaffinities", "ipamblocks", "felixconfigurations",
                                         "clusterinformations", "bgpconfigurations", "globalnetworkpolicies"}}

# pkg/kubelet/apis/config/v1beta1/defaults.go and pkg/kubelet/kubelet.go: the node Lease lasts 40 s and is
# renewed every quarter of that (nodeLeaseRenewIntervalFraction); the node status is reported at least
# every 5 minutes (nodeStatusReportFrequency) when nothing in it changed.
NODE_LEASE_DURATION = 40
NODE_LEASE_RENEW_FRACTION = 0.25
NODE_STATUS_REPORT = 300.0
LEASE_UPDATE_RETRIES = 5  # component-helpers lease controller maxUpdateRetries
KUBELET_PORT = 10250
CMAD_ANNOTATION = "volumes.kubernetes.io/controller-managed-attach-detach"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"


class AttachError(RuntimeError):
    """Attaching failed; the message says what the server answered or what did not happen in time."""


class NodeHeartbeat(Controller):
    """What each kubelet does to show it is alive, besides its Ready condition (kubelet.py posts that):

    - its Lease in kube-node-lease, created with the Node as owner and renewed every 10 s
      (k8s.io/component-helpers apimachinery/lease/controller.go: backoffEnsureLease, then
      retryUpdateLease with the latest Lease it holds, fetching it again after a conflict;
      pkg/kubelet/util/nodelease.go setNodeOwnerFunc);
    - its node status reported again every nodeStatusReportFrequency even when nothing changed, every
      condition's lastHeartbeatTime moved (pkg/kubelet/kubelet_node_status.go tryUpdateNodeStatus and
      pkg/kubelet/nodestatus/setters.go).

    A node in the `nodes_not_ready` fault has a kubelet that is down: it renews and reports nothing."""

    def __init__(self, ctx: SimContext, api: RemoteApi, nodes: list[str]):
        super().__init__(ctx)
        self.api = api
        self.nodes = list(nodes)
        self.leases: dict[str, dict] = {}
        self.next_renew: dict[str, float] = {}
        self.next_report: dict[str, float] = {}

    def sync(self, now: float) -> None:
        down = set(self.ctx.faults.settings.nodes_not_ready)
        for name in self.nodes:
            if name in down:
                continue
            if now >= self.next_renew.get(name, 0.0):
                try:
                    self._renew(name, now)
                    # wait.JitterUntil(sync, renewInterval, 0.04, ...)
                    delay = NODE_LEASE_DURATION * NODE_LEASE_RENEW_FRACTION * (1 + 0.04 * self.ctx.rng.random())
                except Exception as exc:  # noqa: BLE001 - the lease controller logs and retries
                    self.ctx.errors.record(f"node lease {name}", exc)
                    delay = 1.0
                self.next_renew[name] = now + delay
                self.ctx.timers.call_at(now + delay, lambda _now: None)
            report_at = self.next_report.setdefault(name, now + NODE_STATUS_REPORT)
            if now >= report_at:
                self._report(name, now)
                self.next_report[name] = now + NODE_STATUS_REPORT
                self.ctx.timers.call_at(now + NODE_STATUS_REPORT, lambda _now: None)

    def _path(self, name: str = "") -> str:
        return "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases" + (f"/{name}" if name else "")

    def _renew(self, name: str, now: float) -> None:
        """controller.go sync: update from the latest Lease held; failing that (or holding none), get the Lease
        or create it (no update right after a create); a conflict fetches the Lease again."""
        latest = self.leases.get(name)
        if latest is not None:
            try:
                self._update(name, latest, now)
                return
            except ApiError:
                pass  # "failed to update lease using latest lease, fallback to ensure lease"
        lease, created = self._ensure(name, now)
        if lease is not None and not created:
            self._update(name, lease, now)

    def _update(self, name: str, base: dict, now: float) -> None:
        """retryUpdateLease: up to maxUpdateRetries PUTs of a copy of `base` with renewTime now."""
        error = None
        for _attempt in range(LEASE_UPDATE_RETRIES):
            renewed = clone(base)
            renewed.setdefault("spec", {})["renewTime"] = rfc3339_micro(now)
            self._own(renewed, name)
            try:
                self.leases[name] = self.api.request("PUT", self._path(name), body=renewed)
                return
            except ApiError as exc:
                error = exc
                if exc.code == 409:
                    base, _created = self._ensure(name, now)
                    if base is None:
                        break
        raise error

    def _ensure(self, name: str, now: float) -> tuple[dict | None, bool]:
        """ensureLease: the Lease as the server has it, or created (holder, duration, renewTime, the Node as
        owner); not created while the Node cannot be read (SetNodeOwnerFunc's error blocks a create)."""
        try:
            lease = self.api.request("GET", self._path(name))
            created = False
        except ApiError as exc:
            if exc.code != 404:
                raise
            lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                     "metadata": {"name": name, "namespace": "kube-node-lease"},
                     "spec": {"holderIdentity": name, "leaseDurationSeconds": NODE_LEASE_DURATION,
                              "renewTime": rfc3339_micro(now)}}
            if not self._own(lease, name):
                return None, False
            lease, created = self.api.request("POST", self._path(), body=lease), True
        self.leases[name] = lease
        return lease, created

    def _own(self, lease: dict, name: str) -> bool:
        """pkg/kubelet/util/nodelease.go SetNodeOwnerFunc: while the Lease has no owner, the Node becomes it;
        False when the Node cannot be read."""
        meta = lease.setdefault("metadata", {})
        if meta.get("ownerReferences"):
            return True
        node = self.ctx.store.find(self.ctx.nodes, None, name)
        if node is None:
            return False
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": node["metadata"]["uid"]}]
        return True

    def _report(self, name: str, now: float) -> None:
        stamp = rfc3339(now)

        def beat(node: dict) -> None:
            for condition in (node.get("status") or {}).get("conditions") or []:
                condition["lastHeartbeatTime"] = stamp
        try:
            self.ctx.store.mutate(self.ctx.nodes, None, name, beat, subresource="status")
        except ApiError as exc:
            self.ctx.errors.record(f"node status {name}", exc)


@dataclass
class Progress:
    """How far the attached nodes got: for `migrate sim attach` to print and tests to wait on."""
    nodes: int
    ready_nodes: int
    pods: int
    running_pods: int

    @property
    def settled(self) -> bool:
        return self.ready_nodes == self.nodes and self.running_pods == self.pods


class AttachedCluster:
    """The scenario's nodes, run by the simulator, in a real cluster. `start()`, then `stop()`."""

    def __init__(self, kubeconfig: str | None, scenario: Scenario | str = "small", *, context: str | None = None,
                 seed: int = 0, timings: Timings | None = None):
        if isinstance(scenario, str):
            scenario = load_scenario(scenario)
        self.api = RemoteApi(kubeconfig, context, user_agent="migrate-sim-attach")
        version = self.api.request("GET", "/version") or {}
        # The nodes' kubelets are of the control plane's release (a kubelet newer than its apiserver is not
        # supported), whatever version the scenario names for a simulated cluster.
        self.server_version = str(version.get("gitVersion") or scenario.kubernetes_version).split("+")[0].split("-")[0]
        self.scenario = replace(scenario, kubernetes_version=self.server_version)
        self.seed = seed
        self.clock = SimClock(1.0, epoch=time.time())
        self.registry = ResourceRegistry.with_builtins()
        self.store = RemoteStore(self.api, self.clock, self.registry, seed)
        self.faults = Faults(self.scenario.faults, seed)
        self.loop = ControlLoop(self.store, self.clock)
        self.store.errors = self.loop.errors
        self.ctx = SimContext(store=self.store, registry=self.registry, timers=self.loop.timers, faults=self.faults,
                              timings=timings or self.scenario.timings, rng=random.Random(seed),
                              cluster_cidr=self.scenario.flannel.network, node_cidr_mask=self.scenario.node_cidr_mask,
                              service_cidr=self.scenario.service_cidr)
        self.ctx.errors = self.loop.errors
        self.network = Network(self.ctx)
        self.kubelets = Kubelets(self.ctx, self.network)
        self.probe = ProbeSampler(self.ctx, self.network)
        self.node_objects = build.node_objects(self.scenario, self.clock.now())
        self.node_names = [node["metadata"]["name"] for node, _ in self.node_objects]
        self.heartbeat = NodeHeartbeat(self.ctx, self.api, self.node_names)
        self.loop.controllers = [self.heartbeat, self.kubelets, self.probe]
        self.workloads = list(self.scenario.workloads) + build.generated_workloads(self.scenario)
        self.started = False

    # ---- starting ----------------------------------------------------------------------------
    def start(self, *, nodes_ready_timeout: float = 180.0) -> None:
        """Register the nodes, start their kubelets and agents, install the scenario's objects. Returns once
        the nodes are Ready (Flannel up on each) and the workloads are created; `wait_settled` waits for
        their pods."""
        for rtype in CACHED_BUILTINS:
            self.store.cache(self.registry.lookup(*rtype))
        self.store.follow_crds(CACHED_CRDS)
        scenario = self.scenario
        for namespace in build.namespaces_for(scenario, self.workloads):
            self._install(namespace)
        secondary, mtus = build.secondary_addresses(scenario), build.nic_mtus(scenario)
        for node, address in self.node_objects:
            name = node["metadata"]["name"]
            self.ctx.hosts[name] = build.new_host(name, address, mtus[name],
                                                  build.node_cni_plugins(scenario.kubernetes_version),
                                                  secondary.get(name, ()))
            self._register(node)
        self.loop.start()
        self.started = True
        control_plane = [n["metadata"]["name"] for n, _ in self.node_objects
                         if any(k.startswith("node-role.kubernetes.io/") for k in n["metadata"]["labels"])]
        system = build.system_objects(scenario, control_plane)
        # Deployments (CoreDNS, then the workloads) come once the nodes' network is up, so that the scheduler
        # spreads their pods over the nodes as on the simulator, where every node gets Ready at one instant,
        # rather than putting them all on the first node Ready.
        for obj in [o for o in system if o["kind"] != "Deployment"] + flannel_objects_for(scenario):
            self._install(obj)
        self.wait_until(self._nodes_ready, nodes_ready_timeout, "every node Ready with its not-ready taint lifted")
        for obj in [o for o in system if o["kind"] == "Deployment"]:
            self._install(obj)
        for workload in self.workloads:
            for obj in build.workload_objects(workload):
                self._install(obj)
        for obj in build.policy_objects(scenario):
            self._install(obj)

    def _register(self, node: dict) -> None:
        """registerWithAPIServer (pkg/kubelet/kubelet_node_status.go): create the Node as initialNode makes it
        (labels, taints to register with, the controller-managed attach/detach annotation, status: addresses,
        capacity, nodeInfo, conditions, daemon endpoints); a Node that exists already is this node
        re-registering, its labels and annotation reconciled."""
        node = clone(node)
        node["metadata"].setdefault("annotations", {})[CMAD_ANNOTATION] = "true"
        node["status"]["daemonEndpoints"] = {"kubeletEndpoint": {"Port": KUBELET_PORT}}
        try:
            self.store.create(self.ctx.nodes, node)
        except ApiError as exc:
            if exc.code != 409:
                raise AttachError(f"the API server refused node {node['metadata']['name']}: {exc.message}") from None

            def reconcile(existing: dict) -> None:
                existing["metadata"].setdefault("labels", {}).update(node["metadata"]["labels"])
                existing["metadata"].setdefault("annotations", {})[CMAD_ANNOTATION] = "true"
            self.store.mutate(self.ctx.nodes, None, node["metadata"]["name"], reconcile)

    def _install(self, obj: dict) -> dict | None:
        """Create one object of the scenario; one that exists already is kept as it is."""
        rtype = self.registry.by_kind(obj["apiVersion"], obj["kind"])
        meta = obj.get("metadata") or {}
        what = f"{obj.get('kind')} {meta['namespace'] + '/' if meta.get('namespace') else ''}{meta.get('name')}"
        if rtype is None:
            raise AttachError(f"scenario {self.scenario.name}: no resource type for {what}")
        try:
            return self.store.create(rtype, obj)
        except ApiError as exc:
            # A Service the server made itself (default/kubernetes) is refused for its clusterIP before its
            # name is checked: whatever the refusal, an object of that name there already is kept.
            if exc.code == 409 or self.store.find(rtype, meta.get("namespace") or "default", meta.get("name", "")):
                return None
            raise ScenarioError(self.scenario.source, what, "", message=f"scenario {self.scenario.name}: the API "
                                f"server refused {what}, which the scenario describes: {exc.message}",
                                hint="fix the scenario field it comes from") from None

    # ---- state -------------------------------------------------------------------------------
    def _ours(self) -> tuple[list[dict], list[dict]]:
        with self.store.lock:
            nodes = [n for n in self.store.items(self.ctx.nodes) if n["metadata"]["name"] in self.ctx.hosts]
            pods = [p for p in self.store.items(self.ctx.pods) if p["spec"].get("nodeName") in self.ctx.hosts]
        return nodes, pods

    def _nodes_ready(self) -> bool:
        nodes, _ = self._ours()
        return len(nodes) == len(self.node_names) and all(
            _ready(n) and n["spec"].get("podCIDR") and not any(t.get("key") == NOT_READY_TAINT
                                                               for t in n["spec"].get("taints") or [])
            for n in nodes)

    def progress(self) -> Progress:
        nodes, pods = self._ours()
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")
                and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        return Progress(nodes=len(self.node_names), ready_nodes=sum(1 for n in nodes if _ready(n)),
                        pods=len(live), running_pods=sum(1 for p in live if is_pod_ready(p)))

    def settled(self) -> bool:
        """Every node Ready; every pod bound to them Running and Ready; no pod of the cluster waiting to be
        scheduled."""
        if not self.progress().settled:
            return False
        with self.store.lock:
            return not any(not p["spec"].get("nodeName") and not p["metadata"].get("deletionTimestamp")
                           for p in self.store.items(self.ctx.pods))

    def wait_until(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.loop.error is not None:
                raise AttachError(f"the simulated nodes stopped: {self.loop.error!r}")
            if time.monotonic() > deadline:
                recent = "; ".join(e.message for e in list(self.loop.errors.recent)[-3:])
                raise AttachError(f"no {what} within {timeout:.0f} s" + (f" (last errors: {recent})" if recent else ""))
            time.sleep(0.2)

    def wait_settled(self, timeout: float = 300.0) -> None:
        self.wait_until(self.settled, timeout, "settled cluster (every node Ready, every pod Running and Ready)")

    @property
    def errors(self) -> list:
        return list(self.loop.errors.recent)

    def probe_report(self) -> dict:
        with self.store.lock:
            return self.network.probe.as_dict()

    # ---- stopping ----------------------------------------------------------------------------
    def stop(self) -> None:
        """The kubelets and agents stop (as when every node's kubelet is stopped); the nodes and their pods
        stay registered, and the control plane notices them go silent."""
        self.loop.stop()
        self.store.close()


def _ready(node: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])
