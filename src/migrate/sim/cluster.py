"""The simulated cluster assembled: store, API, controllers, kubelets, network, faults.

`SimCluster` is the in-process handle (tests, benchmarks, the demo); `running_cluster`
serves it on a free loopback port and hands back a kubeconfig and a configured client.
"""
from __future__ import annotations

import contextlib
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import build
from .admission import Admission
from .api import ApiService, Request
from .clock import SimClock
from .context import SimContext, Timings
from .crd_cel import CrdRules
from .controllers import (DisruptionController, GarbageCollector, NamespaceController, NodeIpam, NodeLifecycle,
                          PodGarbageCollector, RootCACertPublisher, Scheduler, ServiceAccounts, simulated_root_ca)
from .errors import ApiError
from .faults import Faults
from .kubelet import Kubelets
from .loop import Controller, ControlLoop
from .network import Network
from .node_pool import NodePool
from .pod_admission import PodAdmission, ensure_system_priority_classes
from .pod_security import PodSecurityAdmission, PodSecurityConfig
from .rbac import User
from .resources import ResourceRegistry, types_from_crd
from .scenario import Scenario, ScenarioError, load_scenario
from .server import RequestLog, SimHTTPServer
from .store import Store, WatchEvent
from .workloads import (DaemonSetController, DeploymentController, JobController, ReplicaSetController,
                        StatefulSetController)

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
CRD_CLEANUP = "customresourcecleanup.apiextensions.k8s.io"


class CustomResources(Controller):
    """Serves a CRD's kinds as soon as it exists and marks it Established; on deletion, deletes
    its objects one by one (watchers see each go), then lets the CRD go (its cleanup finalizer)."""

    def __init__(self, ctx: SimContext):
        super().__init__(ctx)
        self.pending: set[str] = set()
        self.terminating: set[str] = set()

    def on_event(self, event: WatchEvent) -> None:
        if event.key != CRD_KEY:
            return
        registry = self.ctx.registry
        spec = event.obj.get("spec") or {}
        if event.type == "DELETED":
            registry.remove(spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
            self.ctx.store.drop_type((spec.get("group", ""), (spec.get("names") or {}).get("plural", "")))
            return
        for rtype in types_from_crd(event.obj):
            registry.add(rtype)
        if event.obj["metadata"].get("deletionTimestamp"):
            self.terminating.add(event.obj["metadata"]["name"])
        elif not any(c.get("type") == "Established" for c in (event.obj.get("status") or {}).get("conditions") or []):
            self.pending.add(event.obj["metadata"]["name"])

    def sync(self, now: float) -> None:
        crd_type = self.ctx.rtype(*CRD_KEY)
        while self.pending:  # sorted: a seed replays the same order (set order follows string hashing)
            batch, self.pending = sorted(self.pending), set()
            for name in batch:
                if self.ctx.store.find(crd_type, None, name) is None:
                    continue

                def establish(obj: dict) -> None:
                    names = (obj.get("spec") or {}).get("names") or {}
                    obj["status"] = {"conditions": [
                        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found"},
                        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                         "message": "the initial names have been accepted"}],
                        "acceptedNames": names, "storedVersions": [v["name"] for v in obj["spec"].get("versions", [])
                                                                   if v.get("storage")]}
                self.ctx.store.mutate(crd_type, None, name, establish, subresource="status")
        for name in sorted(self.terminating):
            crd = self.ctx.store.find(crd_type, None, name)
            if crd is None:
                self.terminating.discard(name)
                continue
            served = [self.ctx.registry.lookup(t.group, t.version, t.plural) or t for t in types_from_crd(crd)[:1]]
            for rtype in served:
                for obj in self.ctx.store.items(rtype):
                    if not obj["metadata"].get("deletionTimestamp"):
                        self.ctx.store.delete(rtype, obj["metadata"].get("namespace"), obj["metadata"]["name"])
            if not any(self.ctx.store.items(rtype) for rtype in served):  # objects with finalizers hold it
                self._release(crd_type, name)

    def _release(self, crd_type, name: str) -> None:
        def drop(obj: dict) -> None:
            obj["metadata"]["finalizers"] = [f for f in obj["metadata"].get("finalizers") or [] if f != CRD_CLEANUP]
        self.ctx.store.mutate(crd_type, None, name, drop)
        self.terminating.discard(name)


class ProbeSampler(Controller):
    """Samples pod-to-pod connectivity every `probe_interval` simulated seconds, and a DNS lookup every
    simulated second (pods resolve names all the time: a few seconds without a ready CoreDNS must show)."""
    DNS_INTERVAL = 1.0

    def __init__(self, ctx: SimContext, network: Network):
        super().__init__(ctx)
        self.network = network
        self.next_at: float | None = None
        self.next_dns_at: float | None = None
        self.enabled = True

    def sync(self, now: float) -> None:
        if not self.enabled:
            return
        if self.next_at is None:
            self.next_at = self.next_dns_at = now
        if now >= self.next_at:
            self.network.sample()
            self.next_at = now + self.ctx.timings.probe_interval
            self.ctx.timers.call_at(self.next_at, lambda _now: None)
        if now >= self.next_dns_at:
            self.network.sample_dns()
            self.next_dns_at = now + self.DNS_INTERVAL
            self.ctx.timers.call_at(self.next_dns_at, lambda _now: None)


@dataclass
class Credentials:
    admin_token: str
    viewer_token: str


class SimCluster:
    def __init__(self, scenario: Scenario | str = "small", *, time_scale: float = 0.0, seed: int = 0,
                 timings: Timings | None = None, pod_security: PodSecurityConfig | dict | None = None):
        """pod_security: the PodSecurity plugin's configuration (`defaults`, `exemptions`), instead of the
        scenario's `podSecurity`."""
        if isinstance(scenario, str):
            scenario = load_scenario(scenario)
        self.scenario = scenario
        self.seed = seed
        self.clock = SimClock(time_scale)
        self.store = Store(self.clock, seed)
        self.registry = ResourceRegistry.with_builtins()
        self.faults = Faults(scenario.faults, seed)
        self.loop = ControlLoop(self.store, self.clock)
        import random
        self.ctx = SimContext(store=self.store, registry=self.registry, timers=self.loop.timers, faults=self.faults,
                              timings=timings or scenario.timings, rng=random.Random(seed), seed=seed,
                              cluster_cidr=scenario.flannel.network, node_cidr_mask=scenario.node_cidr_mask,
                              service_cidr=scenario.service_cidr, cloud=scenario.cloud)
        self.ctx.errors = self.loop.errors
        self.store.admission.append(Admission(scenario.service_cidr))
        # the ServiceAccount and Priority plugins; a missing `default` account is made by its controller in time
        self.store.admission.append(PodAdmission(self.store, self.registry,
                                                 lambda namespace: self.service_accounts.ensure(namespace)))
        if isinstance(pod_security, dict):
            pod_security = PodSecurityConfig.from_dict(pod_security)
        self.pod_security = PodSecurityAdmission(self.store, self.registry, pod_security or scenario.pod_security)
        self.store.admission.append(self.pod_security)  # a validating plugin: after defaulting and validation
        self.store.listeners.insert(0, self.ctx.index.on_event)
        self.network = Network(self.ctx)
        self.kubelets = Kubelets(self.ctx, self.network)
        self.probe = ProbeSampler(self.ctx, self.network)
        self.disruption = DisruptionController(self.ctx)
        self.service_accounts = ServiceAccounts(self.ctx)
        self.node_pool = NodePool(self.ctx, scenario, self._evict_as_autoscaler, self.network.forget_host)
        self.loop.controllers = [
            self.service_accounts, RootCACertPublisher(self.ctx, simulated_root_ca(f"{scenario.name}/{seed}")),
            CustomResources(self.ctx), NodeIpam(self.ctx), Scheduler(self.ctx), DaemonSetController(self.ctx),
            DeploymentController(self.ctx), ReplicaSetController(self.ctx), StatefulSetController(self.ctx),
            JobController(self.ctx), self.disruption, NodeLifecycle(self.ctx), GarbageCollector(self.ctx),
            NamespaceController(self.ctx), PodGarbageCollector(self.ctx), self.kubelets, self.probe, self.node_pool,
        ]
        self.api = ApiService(self.store, self.registry, pod_logs=self.kubelets.logs,
                              kubelet_unreachable=lambda node: node in self.faults.settings.kubelet_unreachable,
                              kubernetes_version=scenario.kubernetes_version)
        ensure_system_priority_classes(self.store, self.registry)  # the apiserver's scheduling post-start hook
        # custom resources validate by their CRD's schema; CRDs' CEL rules must compile on this version
        self.store.admission.extend([self.api.custom_resources, CrdRules(scenario.kubernetes_version)])
        self.request_log = RequestLog()
        token_source = secrets if time_scale else self.ctx.rng
        self.credentials = Credentials(admin_token=_token(token_source), viewer_token=_token(token_source))
        self.users = {self.credentials.admin_token: User("sim-admin", ("system:masters", "system:authenticated")),
                      self.credentials.viewer_token: User("sim-viewer", ("sim:viewers", "system:authenticated"))}
        self.server: SimHTTPServer | None = None
        self._build()

    # ---- building ------------------------------------------------------------------
    def _build(self) -> None:
        scenario = self.scenario
        wanted_timings = self.ctx.timings
        # Build on a clock with no delays, but keep retries spaced so a failing pod cannot spin.
        self.ctx.timings = Timings(**{k: 0.0 for k in Timings.__dataclass_fields__})
        self.ctx.timings.sandbox_retry = self.ctx.timings.crash_backoff = 1.0
        self.ctx.timings.probe_interval = wanted_timings.probe_interval
        self.ctx.quiet = self.kubelets.quiet = True
        self.probe.enabled = False
        workloads = list(scenario.workloads) + build.generated_workloads(scenario)
        for ns in build.namespaces_for(scenario, workloads):
            self._create_for_scenario(ns, uid=build.cluster_uid(scenario.name, self.seed)
                                      if ns["metadata"]["name"] == "kube-system" else None)
        nodes = build.node_objects(scenario, self.clock.now())
        secondary, mtus = build.secondary_addresses(scenario), build.nic_mtus(scenario)
        for node, address in nodes:
            self.ctx.hosts[node["metadata"]["name"]] = build.new_host(node["metadata"]["name"], address,
                                                                      mtus[node["metadata"]["name"]],
                                                                      build.node_cni_plugins(scenario.kubernetes_version),
                                                                      secondary.get(node["metadata"]["name"], ()))
            self._create_for_scenario(node)
        control_plane = [n["metadata"]["name"] for n, _ in nodes
                         if any(k.startswith("node-role.kubernetes.io/") for k in n["metadata"]["labels"])]
        for obj in build.system_objects(scenario, control_plane) + flannel_objects_for(scenario):
            self._create_for_scenario(obj)
        self.settle()
        for workload in workloads:
            for obj in build.workload_objects(workload):
                self._create_for_scenario(obj)
        for obj in build.policy_objects(scenario):
            self._create_for_scenario(obj)
        self.settle()
        self.ctx.timings = wanted_timings
        self.ctx.quiet = self.kubelets.quiet = False
        self.probe.enabled = True
        self.store.compact_history()
        self.node_pool.start(self.clock.now())

    def _evict_as_autoscaler(self, namespace: str, name: str) -> None:
        """An eviction as cluster-autoscaler's drain sends it (through the eviction subresource, PDBs honoured)."""
        request = Request(verb="create", rtype=self.ctx.pods, namespace=namespace, name=name, subresource="eviction",
                          user=User("system:serviceaccount:kube-system:cluster-autoscaler", ("system:masters",)),
                          params={})
        self.api.evict(request, {})

    def _create_for_scenario(self, obj: dict, *, uid: str | None = None) -> dict:
        """Create one object of the scenario; the API refusing it is the scenario's fault, said in one line."""
        try:
            return self.create(obj, uid=uid)
        except ApiError as exc:
            meta = obj.get("metadata") or {}
            if exc.code == 403 and "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
                # A static pod's mirror pod that admission refuses (PodSecurity, kube-system not exempt): the
                # kubelet runs the static pod anyway, the API just does not show it.
                return None
            what = f"{obj.get('kind')} {meta['namespace'] + '/' if meta.get('namespace') else ''}{meta.get('name')}"
            raise ScenarioError(self.scenario.source, what, "", message=f"scenario file {self.scenario.source}: "
                                f"the API refused {what}, which the scenario describes: {exc.message}",
                                hint="fix the scenario field it comes from") from None

    def create(self, obj: dict, *, uid: str | None = None) -> dict:
        rtype = self.registry.by_kind(obj["apiVersion"], obj["kind"])
        if rtype is None:
            self.loop.run_pass()  # a CRD created just before may need to be served first
            rtype = self.registry.by_kind(obj["apiVersion"], obj["kind"])
        if rtype is None:
            raise ValueError(f"no resource serves {obj['apiVersion']} {obj['kind']}")
        return self.store.create(rtype, obj, uid=uid)

    def settle(self, horizon: float = 5.0, max_passes: int = 2000) -> None:
        """Run until nothing changes and no timer is due within `horizon` simulated seconds."""
        for _ in range(max_passes):
            before = self.store.resource_version
            self.loop.run_pass()
            due = self.loop.timers.next_due()
            now = self.clock.now()
            if due is not None and due <= now + horizon:
                if due > now:
                    self.clock.advance(due - now)
                continue
            if self.store.resource_version == before:
                return

    @property
    def errors(self) -> list:
        """What controllers, kubelets, agents and timers raised recently (loop.ComponentError), oldest first."""
        return list(self.loop.errors.recent)

    # ---- time ----------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        self.loop.advance(seconds)

    def run_until(self, predicate, timeout: float = 600.0) -> bool:
        return self.loop.run_until(predicate, timeout)

    # ---- serving -------------------------------------------------------------------
    def serve(self, port: int = 0) -> SimHTTPServer:
        self.server = SimHTTPServer(self, port)
        self.server.start_in_thread()
        if not self.clock.manual:
            self.loop.start()
        return self.server

    def stop(self) -> None:
        self.loop.stop()
        self.store.close()
        if self.server is not None:
            self.server.stop()
            self.server = None

    def kubeconfig(self, token: str | None = None, context: str | None = None) -> dict:
        if self.server is None:
            raise RuntimeError("the cluster is not being served")
        name = context or f"sim-{self.scenario.name}"
        user = "sim-admin" if token in (None, self.credentials.admin_token) else "sim-user"
        return {"apiVersion": "v1", "kind": "Config", "preferences": {},
                "clusters": [{"name": name, "cluster": {"server": self.server.url}}],
                "users": [{"name": user, "user": {"token": token or self.credentials.admin_token}}],
                "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
                "current-context": name}

    def write_kubeconfig(self, path: str | Path, token: str | None = None) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.kubeconfig(token), sort_keys=False))
        path.chmod(0o600)
        return path

    # ---- admin ---------------------------------------------------------------------
    def admin(self, method: str, parts: list[str], params: dict, payload: dict) -> tuple[int, object]:
        """The /admin/* endpoints: faults, probe, hosts, request log, clock, connectivity."""
        what = parts[0] if parts else ""
        with self.store.lock:
            if what == "faults":
                if method in ("PUT", "PATCH", "POST"):
                    settings = self.faults.update(payload)
                    # Controllers react before the answer goes out (e.g. a budget reflects
                    # pdb_never_allows before the next eviction), even on a manual clock.
                    self.loop.run_pass()
                    return 200, settings.as_dict()
                return 200, self.faults.settings.as_dict()
            if what == "probe":
                if method == "DELETE":
                    self.network.reset_probe()
                elif method == "POST":
                    self.network.sample(int(payload.get("pairs", 40)))
                return 200, self.network.probe.as_dict()
            if what == "hosts":
                if len(parts) == 1:
                    return 200, sorted(self.ctx.hosts)
                if parts[1] not in self.ctx.hosts:
                    raise KeyError(f"no node named {parts[1]}")
                return 200, self.ctx.hosts[parts[1]].snapshot()
            if what == "requests":
                if method == "DELETE":
                    self.request_log.clear()
                return 200, [r.as_dict() for r in self.request_log.records()]
            if what == "clock":
                if method == "POST":
                    if not self.clock.manual:
                        raise ValueError("the clock only advances by request in manual mode (--time-scale 0)")
                    self.loop.advance(float(payload.get("advance", 0)))
                return 200, {"now": self.clock.now(), "timeScale": self.clock.time_scale}
            if what == "nodes":  # a node pool resized: {"join": PREFIX, "count": N} or DELETE /admin/nodes/NAME
                now = self.clock.now()
                if method == "POST":
                    joined = self.node_pool.join(str(payload.get("join", "")), int(payload.get("count", 1)), now)
                    self.loop.run_pass()
                    return 201, {"joined": joined}
                if method == "DELETE" and len(parts) == 2:
                    self.node_pool.leave(parts[1], now)
                    self.loop.run_pass()
                    return 200, {"leaving": parts[1]}
                return 200, {"history": self.node_pool.history, "leaving": sorted(self.node_pool.leaving)}
            if what == "connectivity":
                src = tuple(params.get("from", "").split("/", 1))
                dst = tuple(params.get("to", "").split("/", 1))
                if len(src) != 2 or len(dst) != 2:
                    raise ValueError("give from=NAMESPACE/POD and to=NAMESPACE/POD")
                target = self.store.find(self.ctx.pods, *dst)
                if target is None or not (target.get("status") or {}).get("podIP"):
                    raise KeyError(f"pod {dst[0]}/{dst[1]} has no IP")
                verdict = self.network.reach(src, target["status"]["podIP"])
                return 200, {"reachable": verdict.ok, "reason": verdict.reason, "policyDenied": verdict.policy_denied}
        raise KeyError(f"unknown admin endpoint /admin/{'/'.join(parts)}")


def flannel_objects_for(scenario: Scenario) -> list[dict]:
    from .flannel_install import flannel_objects
    return flannel_objects(scenario.flannel)


def _token(source) -> str:
    if hasattr(source, "token_hex"):
        return source.token_hex(16)
    return "%032x" % source.getrandbits(128)


@dataclass
class RunningCluster:
    cluster: SimCluster
    kubeconfig_path: Path
    directory: Path

    @property
    def request_log(self) -> RequestLog:
        return self.cluster.request_log

    def api_client(self, token: str | None = None):
        from kubernetes import client, config
        path = self.kubeconfig_path
        if token:
            path = self.cluster.write_kubeconfig(self.directory / f"kubeconfig-{token[:6]}", token)
        configuration = client.Configuration()
        config.load_kube_config(config_file=str(path), client_configuration=configuration)
        return client.ApiClient(configuration)


@contextlib.contextmanager
def running_cluster(scenario: Scenario | str = "small", *, time_scale: float = 0.0, seed: int = 0,
                    timings: Timings | None = None, pod_security: PodSecurityConfig | dict | None = None):
    """Serve a scenario on a free loopback port for the duration of the block."""
    cluster = SimCluster(scenario, time_scale=time_scale, seed=seed, timings=timings, pod_security=pod_security)
    with tempfile.TemporaryDirectory(prefix="migrate-sim-") as tmp:
        try:
            cluster.serve(0)
            path = cluster.write_kubeconfig(Path(tmp) / "kubeconfig")
            yield RunningCluster(cluster, path, Path(tmp))
        finally:
            cluster.stop()
