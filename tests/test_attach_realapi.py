"""The simulator's node side attached to a real Kubernetes v1.26.5 control plane (the `realapi` tier).

A control plane of its own (tests/realapi.py without its FakeKubelets stand-in, with the nodelifecycle
controller, as on a kubeadm cluster) gets the `small` scenario's nodes from `migrate.sim.attach`: the
simulator's kubelets, Flannel and Calico agents, CNI, oracle and probe, and nothing else of it. Then the
real `migrate` CLI migrates that cluster, is killed mid-run, resumes, finalizes and rolls back, and the
cluster must end as the same migration leaves the simulator. Skipped without KUBEBUILDER_ASSETS.
"""
from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from migrate.sim.attach import AttachedCluster
from migrate.sim.calico_release import calico_release_manifest
from migrate.sim.context import Timings
from migrate.sim.scenario import load_scenario
from realapi import KUBERNETES_VERSION, control_plane, skip_reason

pytestmark = pytest.mark.realapi

# Calico v3.32 is not tested on Kubernetes 1.26 (the tool refuses it there); v3.26 is.
CALICO_VERSION = "v3.26.0"
# The scenario's timings, shortened: wall-clock seconds here.
FAST = Timings(pod_start=0.3, image_pull=0.5, ready_after=0.5, pod_stop=0.5, sandbox_retry=2.0, crash_backoff=10.0,
               flannel_ready=0.5, calico_ready=1.0, probe_interval=2.0)
KILL_AFTER = ("node/worker-1/host-cleanup", "done")  # between the hand-off pod and deleting the node's pods
CLI_TIMEOUT = 600.0
LABEL = "projectcalico.org/node-network-during-migration"


@pytest.fixture(scope="module")
def plane():
    """A control plane of its own: the session's (`real_apiserver`) has FakeKubelets nodes of the parity tests."""
    reason = skip_reason(os.environ.get("KUBEBUILDER_ASSETS"))
    if reason:
        pytest.skip(reason)
    with control_plane(os.environ["KUBEBUILDER_ASSETS"], kubelets=False, node_lifecycle=True) as started:
        yield started


@pytest.fixture(scope="module")
def attached(plane):
    began = time.monotonic()
    cluster = AttachedCluster(str(plane.kubeconfig_path), "small", timings=FAST)
    try:
        cluster.start()
        cluster.wait_settled(180)
        print(f"\nattach: control plane up in {plane.timings['controllers']:.1f}s, small attached and settled in "
              f"{time.monotonic() - began:.1f}s")
        yield cluster
    finally:
        cluster.stop()
        for (method, resource, text), count in sorted(cluster.api.warnings.items()):
            print(f"server warning x{count} on {method} {resource}: {text}")


@pytest.fixture(scope="module")
def kube(plane):
    from migrate.kube import connect
    return connect(str(plane.kubeconfig_path))


def _ready(obj: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def _errors(cluster) -> list[str]:
    return [f"{e.component}: {e.message}" for e in cluster.errors]


def test_the_small_scenario_runs_on_a_real_control_plane_with_attached_nodes(attached, kube):
    nodes = {n["metadata"]["name"]: n for n in kube.list("/api/v1/nodes")}
    assert sorted(nodes) == ["control-plane-1", "worker-1", "worker-2"]
    network = ipaddress.ip_network(attached.scenario.flannel.network)
    for name, node in nodes.items():
        assert _ready(node), node["status"]["conditions"]
        assert node["status"]["nodeInfo"]["kubeletVersion"] == KUBERNETES_VERSION
        cidr = node["spec"].get("podCIDR")
        assert cidr and ipaddress.ip_network(cidr).subnet_of(network), f"{name}: podCIDR {cidr}"
        assert not any(t["key"] == "node.kubernetes.io/not-ready" for t in node["spec"].get("taints") or [])
        lease = kube.get(f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}")
        assert lease["spec"]["holderIdentity"] == name and lease["spec"]["leaseDurationSeconds"] == 40
        assert [r["uid"] for r in lease["metadata"]["ownerReferences"]] == [node["metadata"]["uid"]]
    flannel = kube.list("/api/v1/namespaces/kube-flannel/pods")
    assert sorted(p["spec"]["nodeName"] for p in flannel) == sorted(nodes)
    assert all(p["status"]["phase"] == "Running" and _ready(p) for p in flannel)
    workloads = kube.list("/api/v1/namespaces/demo/pods")
    assert len(workloads) == 6
    for pod in workloads:
        assert pod["status"]["phase"] == "Running" and _ready(pod), pod["status"]
        cidr = ipaddress.ip_network(nodes[pod["spec"]["nodeName"]]["spec"]["podCIDR"])
        assert ipaddress.ip_address(pod["status"]["podIP"]) in cidr, (pod["metadata"]["name"], pod["status"]["podIP"])
    # The probe samples pods on different nodes only: every flow it counts crosses nodes over Flannel's VXLAN.
    before = attached.probe_report()["samples"]
    deadline = time.monotonic() + 30
    while attached.probe_report()["samples"] < before + 100 and time.monotonic() < deadline:
        time.sleep(0.5)
    report = attached.probe_report()
    assert report["samples"] >= before + 100 and report["failed"] == 0, report
    assert _errors(attached) == []


# ---- a server dry run writes nothing -------------------------------------------------------------------

# What changes on its own in a live cluster, whoever else acts: heartbeats (node Leases, leader election)
# and events. Everything else must keep its resourceVersion through a server dry run.
LIVING = ("/apis/coordination.k8s.io/v1/leases", "/api/v1/events", "/apis/events.k8s.io/v1/events")


def test_a_server_dry_run_of_the_whole_plan_changes_no_object(attached, plane, kube, tmp_path):
    from cluster_dump import resource_versions
    (tmp_path / "calico.yaml").write_text(calico_release_manifest(CALICO_VERSION))
    kubeconfig = str(plane.kubeconfig_path)
    planned = _migrate("plan", "--kubeconfig", kubeconfig, "--calico-manifest", "calico.yaml", "--force",
                       "--delete-emptydir-data", "-o", "plan.yaml", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    attached.wait_settled(120)
    before = resource_versions(kube, skip=LIVING)
    walked = _migrate("apply", "plan.yaml", "--kubeconfig", kubeconfig, "--yes", "--dry-run", "server",
                      cwd=tmp_path)
    assert walked.returncode == 0, walked.stdout[-3000:] + walked.stderr
    after = resource_versions(kube, skip=LIVING)
    changed = sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))
    assert changed == [], changed
    audit = [json.loads(line) for line in (tmp_path / "plan.yaml.audit.jsonl").read_text().splitlines()]
    assert {a["verb"] for a in audit} >= {"create", "patch", "delete"}
    assert all(a["dryRun"] == "All" for a in audit)


# ---- the whole migration, with the CLI ------------------------------------------------------------

def _state(kube) -> dict:
    """tests/migration_run.py Migration.state(), read from the real cluster."""
    from migration_run import Migration
    return Migration.state(SimpleNamespace(kube=kube))


def _reference(tmp_path: Path, manifest: str) -> dict:
    """The same migration on the simulator (the scenario at the real control plane's Kubernetes version):
    its state before, after apply and after rollback."""
    from migration_run import Migration
    scenario = load_scenario("small")
    scenario.kubernetes_version = KUBERNETES_VERSION
    tmp_path.mkdir()
    run = Migration(scenario, tmp_path, calico_yaml=manifest, calico_version=CALICO_VERSION)
    try:
        states = {"before": run.state()}
        assert run.apply()
        run.settle()
        states["applied"] = run.state()
        assert run.rollback()
        run.settle()
        states["rolled back"] = run.state()
        states["failed flows"] = run.failed_flows()
        return states
    finally:
        run.close()


def _migrate(*args, cwd: Path, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "migrate", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "COLUMNS": "200"})


def _journal_has(path: Path, step: str, outcome: str) -> bool:
    if not path.exists():
        return False
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # the line being written
        if record.get("type") == "step" and record.get("step") == step and record.get("outcome") == outcome:
            return True
    return False


def _settle(attached, kube, timeout: float = 120.0) -> None:
    """What Migration.settle() gives the simulator's state: every node and pod settled, and no namespace left
    Terminating (the namespace controller deletes a namespace's content before the namespace goes)."""
    attached.wait_settled(timeout)
    deadline = time.monotonic() + timeout
    while any(n.get("status", {}).get("phase") == "Terminating" for n in kube.list("/api/v1/namespaces")):
        assert time.monotonic() < deadline, "a namespace is still Terminating"
        time.sleep(0.5)


def _pods_outside_their_podcidr(kube) -> list[str]:
    cidrs = {n["metadata"]["name"]: ipaddress.ip_network(n["spec"]["podCIDR"]) for n in kube.list("/api/v1/nodes")}
    return [f"{p['metadata']['namespace']}/{p['metadata']['name']} {p['status']['podIP']}"
            for p in kube.list("/api/v1/pods") if not p["spec"].get("hostNetwork")
            and (p.get("status") or {}).get("podIP")
            and ipaddress.ip_address(p["status"]["podIP"]) not in cidrs[p["spec"]["nodeName"]]]


@pytest.mark.timeout(1500)
def test_the_cli_migrates_a_real_control_plane_with_attached_nodes_and_rolls_back(attached, plane, kube, tmp_path):
    times: dict[str, float] = {}
    manifest = calico_release_manifest(CALICO_VERSION)
    began = time.monotonic()
    reference = _reference(tmp_path / "sim", manifest)
    times["simulator reference"] = time.monotonic() - began
    assert reference["failed flows"] == 0

    work = tmp_path / "real"
    work.mkdir()
    (work / "calico.yaml").write_text(manifest)
    kubeconfig = str(plane.kubeconfig_path)
    attached.wait_settled(120)
    probe_before = attached.probe_report()
    before = _state(kube)
    assert before == reference["before"], _diff(before, reference["before"])

    began = time.monotonic()
    planned = _migrate("plan", "--kubeconfig", kubeconfig, "--calico-manifest", "calico.yaml", "--force",
                       "--delete-emptydir-data", "-o", "plan.yaml", cwd=work)
    times["plan"] = time.monotonic() - began
    assert planned.returncode == 0, planned.stderr

    # apply, SIGKILLed once the canary's hand-off pod has cleaned its host up
    journal = work / "plan.yaml.journal.jsonl"
    began = time.monotonic()
    with open(work / "apply.out", "w") as out:
        apply = subprocess.Popen([sys.executable, "-m", "migrate", "apply", "plan.yaml", "--kubeconfig", kubeconfig,
                                  "--yes"], cwd=work, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
        try:
            deadline = time.monotonic() + CLI_TIMEOUT
            while not _journal_has(journal, *KILL_AFTER):
                assert apply.poll() is None, f"apply ended ({apply.returncode}) before {KILL_AFTER}: " \
                                             f"{(work / 'apply.out').read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"no {KILL_AFTER} in the journal within {CLI_TIMEOUT:.0f}s"
                time.sleep(0.1)
            apply.send_signal(signal.SIGKILL)
            assert apply.wait(30) == -signal.SIGKILL
        finally:
            if apply.poll() is None:
                apply.kill()
    times["apply until SIGKILL"] = time.monotonic() - began

    # The dead process held the Lease from this machine: the next run takes it over at once, without waiting for
    # the Lease to lapse.
    began = time.monotonic()
    resumed = _migrate("resume", "plan.yaml", "--kubeconfig", kubeconfig, "--yes", cwd=work)
    times["resume to the end (finalize included)"] = time.monotonic() - began
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr
    assert "took over the cluster lock" in resumed.stderr and "its process is gone" in resumed.stderr
    _settle(attached, kube)
    assert _pods_outside_their_podcidr(kube) == []
    applied = _state(kube)
    assert not applied["flannel"]["found"]
    assert all(not n["unschedulable"] and LABEL not in n["labels"] for n in applied["nodes"].values())
    assert applied == reference["applied"], _diff(applied, reference["applied"])

    began = time.monotonic()
    rolled_back = _migrate("rollback", "plan.yaml", "--kubeconfig", kubeconfig, "--yes", cwd=work)
    times["rollback"] = time.monotonic() - began
    assert rolled_back.returncode == 0, rolled_back.stdout[-3000:] + rolled_back.stderr
    _settle(attached, kube)
    after = _state(kube)
    assert after == reference["rolled back"], _diff(after, reference["rolled back"])
    assert after == before, _diff(after, before)

    report = attached.probe_report()
    print("\n" + "\n".join(f"{what}: {seconds:.1f}s" for what, seconds in times.items()))
    print(f"probe during the migration: {report['samples'] - probe_before['samples']} cross-node flows, "
          f"{report['failed'] - probe_before['failed']} failed; {report['dnsLookups'] - probe_before['dnsLookups']} "
          f"DNS lookups, {report['dnsFailed'] - probe_before['dnsFailed']} failed")
    assert report["samples"] > probe_before["samples"] and report["failed"] == 0, report
    assert report["dnsLookups"] > probe_before["dnsLookups"] and report["dnsFailed"] == 0, report
    assert _errors(attached) == []


def _diff(real: dict, sim: dict) -> str:
    """Where the real cluster's state differs from the simulator's, key by key."""
    lines = []
    for key in sorted(set(real) | set(sim)):
        if real.get(key) != sim.get(key):
            lines.append(f"{key}:\n  real: {json.dumps(real.get(key), sort_keys=True)[:1500]}\n"
                         f"  sim:  {json.dumps(sim.get(key), sort_keys=True)[:1500]}")
    return "\n".join(lines)
