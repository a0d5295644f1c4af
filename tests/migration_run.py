"""A migration driven in-process against a simulated cluster, on the simulator's clock, with a way to
kill it at any journal record (as SIGKILL would: nothing after that point runs, no cleanup)."""
from __future__ import annotations

import hashlib
import json

from migrate.execute.clock import SteppedClock
from migrate.execute.context import REAL
from migrate.execute.executor import Executor
from migrate.execute.journal import Journal, JournalMirror
from migrate.execute.lease import ClusterLock
from migrate.kube import connect
from migrate.plan import PlanOptions, build_plan
from migrate.sim.calico_release import calico_release_manifest
from migrate.sim.cluster import running_cluster
from migrate.snapshot import gather_snapshot

TTL = 60


class Killed(BaseException):
    """The process died here: not an Exception, so no handler of the tool's catches it."""


class Migration:
    def __init__(self, scenario: str, tmp_path, *, calico_yaml: str | None = None, pod_security: dict | None = None,
                 before_snapshot=None, **options):
        self._serving = running_cluster(scenario, pod_security=pod_security)
        self.running = self._serving.__enter__()
        try:
            self._prepare(tmp_path, calico_yaml, before_snapshot, options)
        except BaseException:
            self.close()  # else the served cluster outlives the test and its shutdown can hang the interpreter
            raise
        self.clock = SteppedClock(self.cluster.clock.now, self.cluster.advance)
        self.journal_path = tmp_path / "plan.yaml.journal.jsonl"
        self.events: list = []

    def _prepare(self, tmp_path, calico_yaml, before_snapshot, options) -> None:
        self.cluster = self.running.cluster
        self.kube = connect(str(self.running.kubeconfig_path), sleep=lambda s: None)
        if before_snapshot is not None:  # the cluster as the SRE found it differs from the scenario's
            before_snapshot(self.cluster)
        self.snapshot = gather_snapshot(self.kube)
        manifest = tmp_path / "calico.yaml"
        manifest.write_text(calico_yaml if calico_yaml is not None else calico_release_manifest())
        pinned = {"source": str(manifest), "sha256": hashlib.sha256(manifest.read_bytes()).hexdigest()}
        options.setdefault("force", True)
        options.setdefault("delete_emptydir_data", True)
        self.plan = build_plan(self.snapshot, PlanOptions(calico_manifest=pinned, calico_manifest_text=manifest.read_text(),
                                                          **options))

    def journal(self, *, kill_at=None) -> Journal:
        mirror = JournalMirror(self.kube, self.plan.options["namespace"], self.plan.digest)
        journal = Journal.open(self.journal_path, self.plan.digest, mirror=mirror)
        if kill_at is not None:
            append = journal.append

            def dying_append(record):
                append(record)
                if kill_at(record):
                    raise Killed(record.to_json())
            journal.append = dying_append
        return journal

    def executor(self, *, identity="run-1", kill_at=None, mode=REAL, **options) -> tuple[Executor, ClusterLock]:
        lock = ClusterLock(self.kube, identity=identity, clock=self.clock, ttl_seconds=TTL)
        journal = self.journal(kill_at=kill_at) if mode == REAL else None
        return Executor(self.plan, self.kube, journal, clock=self.clock, emit=self.events.append, mode=mode,
                        lock=lock if mode == REAL else None, **options), lock

    def _go(self, action, identity, kill_at, **options):
        executor, lock = self.executor(identity=identity, kill_at=kill_at, **options)
        lock.acquire(self.plan.digest)
        try:
            action(executor)
        except Killed:
            return False  # a killed process releases nothing
        except BaseException:
            lock.release()  # what the CLI does on every exit but death
            raise
        lock.release()
        return True

    def apply(self, *, identity="run-1", kill_at=None, **options) -> bool:
        return self._go(lambda e: e.run(), identity, kill_at, **options)

    def rollback(self, *, to=None, identity="run-1", kill_at=None) -> bool:
        return self._go(lambda e: e.rollback(to), identity, kill_at)

    def after_a_crash(self) -> None:
        """Let the dead run's Lease lapse, as a resumed run on another machine would find it."""
        self.cluster.advance(TTL + 1)

    def settle(self, seconds: float = 120) -> None:
        self.cluster.advance(seconds)

    def state(self) -> dict:
        """What a migration must leave the same however it got there (pod names and placement aside)."""
        content = gather_snapshot(self.kube).content
        calico = "/apis/crd.projectcalico.org/v1"
        nodes = {n["metadata"]["name"]: {
            "labels": {k: v for k, v in (n["metadata"].get("labels") or {}).items()},
            "unschedulable": bool(n["spec"].get("unschedulable")),
            "tunnel": {k: v for k, v in (n["metadata"].get("annotations") or {}).items()
                       if k.startswith("projectcalico.org/")}} for n in self.kube.list("/api/v1/nodes")}
        calico_objects = {}
        for plural in ("ippools", "felixconfigurations", "blockaffinities", "ipamconfigs", "globalnetworkpolicies"):
            if f"{plural}.crd.projectcalico.org" in content["calico"]["crds"]:
                calico_objects[plural] = sorted(json.dumps(o["spec"], sort_keys=True)
                                                for o in self.kube.list(f"{calico}/{plural}"))
        flannel = content["flannel"]
        return {"nodes": nodes, "calico": calico_objects, "crds": content["calico"]["crds"],
                "calicoNode": content["calico"]["calicoNode"],
                "flannel": {k: flannel.get(k) for k in ("found", "daemonSet", "netConf", "nodeSelector")},
                "namespaces": sorted(n["metadata"]["name"] for n in self.kube.list("/api/v1/namespaces")),
                "pods_per_namespace": _pod_counts(content["pods"])}

    def pods_outside_their_podcidr(self) -> list[str]:
        import ipaddress
        # the live nodes' podCIDRs: the snapshot's, and those of nodes that joined since (never reassigned)
        cidrs = {n["metadata"]["name"]: n["spec"]["podCIDR"] for n in self.kube.list("/api/v1/nodes")}
        return [f"{p['metadata']['name']} {p['status']['podIP']}" for p in self.kube.list("/api/v1/pods")
                if not p["spec"].get("hostNetwork") and (p.get("status") or {}).get("podIP")
                and ipaddress.ip_address(p["status"]["podIP"]) not in ipaddress.ip_network(
                    cidrs[p["spec"]["nodeName"]])]

    def failed_flows(self) -> int:
        return self.cluster.network.probe.failed

    def close(self) -> None:
        self._serving.__exit__(None, None, None)


def _pod_counts(pods_by_node: dict) -> dict:
    counts: dict = {}
    for pods in pods_by_node.values():
        for pod in pods:
            if pod["namespace"] != "calico-migration":
                counts[pod["namespace"]] = counts.get(pod["namespace"], 0) + 1
    return dict(sorted(counts.items()))
