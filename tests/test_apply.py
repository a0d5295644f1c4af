"""The executor against the simulated cluster: a whole apply, death at any point and resume, rollback
from anywhere, the lock, guided mode, dry runs and failures. Time is the simulator's."""
from __future__ import annotations

from pathlib import Path

import pytest

from migrate.execute.context import DRY_CLIENT, DRY_SERVER
from migrate.execute.errors import LockHeld, StepFailed
from migrate.execute.executor import ABORT, CONTINUE, ROLLBACK, SKIP, Aborted
from migrate.execute.journal import Journal
from migrate.execute.lease import ClusterLock

from cluster_dump import resource_versions

LABEL = "projectcalico.org/node-network-during-migration"


def outcomes(run) -> dict:
    return {step: state.outcome for step, state in Journal.open(run.journal_path, run.plan.digest).state().items()}


def step_done(step_id):
    return lambda r: r.type == "step" and r.step == step_id and r.outcome in ("done", "noop")


KILL_POINTS = {
    "after the gates": step_done("gate/permissions"),
    "after the backup's mutation is journaled, before it is sent": lambda r: r.type == "mutation"
    and r.step == "prepare/backup",
    "as the canary's drain starts": lambda r: r.type == "step" and r.step == "node/worker-1/drain"
    and r.outcome == "started",
    "between the hand-off pod and deleting the node's pods": step_done("node/worker-2/host-cleanup"),
    "while Flannel is being retired": lambda r: r.type == "mutation" and r.step == "finalize/retire-flannel",
}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The state an uninterrupted apply of `small` ends in."""
    from migration_run import Migration
    run = Migration("small", tmp_path_factory.mktemp("reference"))
    try:
        assert run.apply()
        run.settle()
        yield run.state()
    finally:
        run.close()


def test_a_full_apply_moves_every_node_to_calico_with_no_failed_flow(migration):
    run = migration("small")
    assert run.apply()
    state = run.state()
    assert not state["flannel"]["found"]
    assert all(not n["unschedulable"] and LABEL not in n["labels"] for n in state["nodes"].values())
    assert run.pods_outside_their_podcidr() == []
    assert run.failed_flows() == 0
    assert set(outcomes(run).values()) <= {"done", "noop"}
    assert run.kube.get_optional("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/"
                                 "flannel-to-calico-migration") is None


def test_a_migration_reads_its_pods_results_from_their_status_not_the_kubelets_log_endpoint(migration):
    run = migration("small")
    nodes = [n["metadata"]["name"] for n in run.kube.list("/api/v1/nodes")]
    run.running.cluster.admin("PATCH", ["faults"], {}, {"kubelet_unreachable": nodes})
    assert run.apply()
    assert set(outcomes(run).values()) <= {"done", "noop"}
    assert not any(r.path.endswith("/log") for r in run.running.request_log.records()
                   if "/pods/hand-off-" in r.path or "/pods/leftover-check-" in r.path)


MULTI_NIC = str(Path(__file__).parent / "scenarios" / "multinic.yaml")


def test_nodes_with_a_second_nic_keep_flannels_address_as_calicos_and_lose_no_flow(migration):
    run = migration(MULTI_NIC)
    assert run.apply()
    run.settle(60)
    moved = {n["metadata"]["name"]: n["metadata"]["annotations"].get("projectcalico.org/IPv4Address")
             for n in run.kube.list("/api/v1/nodes")
             if (n["metadata"]["annotations"].get("projectcalico.org/IPv4Address") or "").split("/")[0]
             != n["metadata"]["annotations"]["flannel.alpha.coreos.com/public-ip"]}
    assert moved == {}
    assert run.failed_flows() == 0


BASELINE_BY_DEFAULT = {"defaults": {"enforce": "baseline"}, "exemptions": {"namespaces": ["kube-system"]}}


def test_a_cluster_enforcing_pod_security_baseline_migrates_and_rolls_back(migration):
    run = migration("small", pod_security=BASELINE_BY_DEFAULT)
    before = run.state()
    assert run.apply()
    assert run.failed_flows() == 0
    assert run.rollback()
    run.settle()
    assert run.state() == before


def test_the_migration_namespace_is_labelled_privileged_and_that_is_journaled(migration):
    run = migration("small", pod_security=BASELINE_BY_DEFAULT)
    assert not run.apply(kill_at=step_done("prepare/namespace"))
    labels = run.kube.get("/api/v1/namespaces/calico-migration")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
    created = [r.mutation for r in Journal.open(run.journal_path, run.plan.digest).records
               if r.type == "mutation" and r.step == "prepare/namespace"]
    assert [m["action"] for m in created] == ["create"]


def test_a_migration_namespace_being_deleted_stops_the_run_at_the_gate_saying_so(migration):
    run = migration("small")
    run.kube.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                           "metadata": {"name": "calico-migration"}})
    run.kube.create("/api/v1/namespaces/calico-migration/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    run.kube.delete("/api/v1/namespaces/calico-migration")
    with pytest.raises(StepFailed, match="namespace calico-migration is being deleted"):
        run.apply()
    assert not any(n["unschedulable"] for n in run.state()["nodes"].values())


def test_pod_security_refusing_a_privileged_pod_is_named_as_such_not_as_rbac(migration):
    from migrate.kube import AdmissionRefused
    from migrate.objects import hand_off_pod
    run = migration("small", pod_security=BASELINE_BY_DEFAULT)
    run.kube.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "plain"}})
    step = next(s for s in run.plan.steps if s.kind == "host-cleanup")
    with pytest.raises(AdmissionRefused) as refused:
        run.kube.create("/api/v1/namespaces/plain/pods", hand_off_pod(step.node, "plain", step.params), dry_run="All")
    assert refused.value.message.startswith("PodSecurity refused to create pods in namespace plain: ")
    assert 'violates PodSecurity "baseline:latest"' in refused.value.message
    assert "pod-security.kubernetes.io/enforce=privileged" in refused.value.hint


def test_every_mutation_is_journaled_with_what_it_replaced(migration):
    run = migration("small")
    run.apply()
    mutations = [r.mutation for r in Journal.open(run.journal_path, run.plan.digest).records if r.type == "mutation"]
    cordon = next(m for m in mutations if m["path"] == "/api/v1/nodes/worker-1" and m["patch"] == {
        "spec": {"unschedulable": True}})
    assert cordon["before"] == {"spec": {"unschedulable": None}}
    retired = next(m for m in mutations if m["action"] == "delete" and m["path"].endswith("/kube-flannel-ds"))
    assert retired["before"]["spec"]["template"]["spec"]["containers"]


@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_killed_at_any_point_then_resumed_ends_as_an_uninterrupted_run(migration, uninterrupted, point):
    run = migration("small")
    assert not run.apply(kill_at=KILL_POINTS[point])
    run.after_a_crash()
    assert run.apply(identity="run-2")
    run.settle()
    assert run.state() == uninterrupted
    assert run.failed_flows() == 0


def test_a_wave_of_two_nodes_killed_mid_drain_resumes_to_the_end(migration):
    run = migration("jdcloud-prod")
    second_wave = run.plan.waves[1].nodes
    assert len(second_wave) == 2
    assert not run.apply(kill_at=lambda r: r.type == "step" and r.step == f"node/{second_wave[0]}/drain"
                         and r.outcome == "started")
    run.after_a_crash()
    assert run.apply(identity="run-2")
    assert run.pods_outside_their_podcidr() == [] and run.failed_flows() == 0
    assert set(outcomes(run).values()) <= {"done", "noop"}


def test_rollback_from_the_middle_restores_the_snapshots_state(migration):
    run = migration("small")
    before = run.state()
    assert not run.apply(kill_at=step_done("node/worker-2/calico-on"))
    run.after_a_crash()
    assert run.rollback(identity="run-2")
    run.settle()
    assert run.state() == before
    assert run.failed_flows() == 0


def test_rollback_from_the_end_gives_every_node_back_to_flannel(migration):
    run = migration("small")
    before = run.state()
    assert run.apply()
    assert run.rollback()
    run.settle()
    assert run.state() == before


@pytest.mark.parametrize("kill_after", ["node/worker-2/calico-on", "finalize/drop-labels"])
def test_a_rollback_ends_only_once_flannels_daemonset_has_rolled_out(migration, kill_after):
    run = migration("small")
    assert not run.apply(kill_at=step_done(kill_after))
    run.after_a_crash()
    assert run.rollback(identity="run-2")
    flannel = run.state()["flannel"]
    daemonset = run.kube.get(f"/apis/apps/v1/namespaces/kube-flannel/daemonsets/{flannel['daemonSet']}")
    status, nodes = daemonset["status"], len(run.kube.list("/api/v1/nodes"))
    assert status.get("observedGeneration") == daemonset["metadata"]["generation"]
    assert status.get("updatedNumberScheduled") == status.get("numberAvailable") == nodes


def test_a_rollback_killed_half_way_finishes_when_run_again(migration):
    run = migration("small")
    before = run.state()
    run.apply()
    assert not run.rollback(kill_at=lambda r: r.type == "step" and r.step == "node/worker-1/calico-on"
                            and r.outcome == "reverting")
    run.after_a_crash()
    assert run.rollback(identity="run-2")
    run.settle()
    assert run.state() == before


def test_rollback_to_a_step_undoes_only_what_came_after_it(migration):
    run = migration("small")
    run.apply(kill_at=step_done("node/worker-2/uncordon"))
    run.after_a_crash()
    assert run.rollback(to="wave/0/health-gate", identity="run-2")
    state = outcomes(run)
    assert state["node/worker-1/uncordon"] == "done"  # the canary stays on Calico
    assert state["node/worker-2/cordon"] == "reverted"
    run.settle()
    nodes = run.state()["nodes"]
    # worker-2 is back on Flannel and, Calico staying installed, labelled as not yet migrated
    assert nodes["worker-1"]["labels"][LABEL] == "calico" and nodes["worker-2"]["labels"][LABEL] == "flannel"
    assert run.failed_flows() == 0


def test_a_second_executor_is_refused_naming_the_holder(migration):
    run = migration("small")
    _, lock = run.executor(identity="alice@laptop pid 1")
    lock.acquire(run.plan.digest)
    with pytest.raises(LockHeld) as refused:
        ClusterLock(run.kube, identity="bob@ci pid 2", clock=run.clock).acquire(run.plan.digest)
    assert refused.value.exit_code == 4 and "alice@laptop pid 1" in refused.value.message


def test_guided_mode_asks_before_each_step_and_obeys_skip_and_abort(migration):
    run = migration("small")
    answers = iter([CONTINUE, CONTINUE, SKIP, ABORT])
    asked = []

    def confirm(step):
        asked.append(step.id)
        return next(answers)
    with pytest.raises(Aborted) as aborted:
        run.apply(confirm=confirm)
    assert asked == ["gate/preflight", "gate/drift", "gate/permissions", "prepare/namespace"]
    assert not aborted.value.rollback
    assert outcomes(run) == {"gate/preflight": "done", "gate/drift": "done", "gate/permissions": "deferred"}


def test_guided_mode_can_turn_into_a_rollback(migration):
    run = migration("small")
    answers = iter([CONTINUE] * 6 + [ROLLBACK])
    with pytest.raises(Aborted) as aborted:
        run.apply(confirm=lambda step: next(answers))
    assert aborted.value.rollback


def test_a_client_dry_run_walks_every_step_without_a_write(migration):
    run = migration("small")
    executor, _ = run.executor(mode=DRY_CLIENT)
    executor.run()
    assert run.running.request_log.writes() == []
    assert {e.step for e in run.events if e.kind == "step-finished"} == {s.id for s in run.plan.steps}


def test_a_server_dry_run_sends_writes_only_with_dry_run_all(migration):
    run = migration("small")
    before = run.state()
    versions_before = resource_versions(run.kube)
    executor, _ = run.executor(mode=DRY_SERVER)
    executor.run()
    assert run.running.request_log.writes() == []
    assert {r.method for r in run.running.request_log.writes(include_dry_run=True)} >= {"POST", "PATCH", "DELETE"}
    assert resource_versions(run.kube) == versions_before
    assert run.state() == before


def test_a_server_dry_run_names_each_write_the_server_refuses_and_why(migration):
    run = migration("small")

    class BudgetTurnsStubborn(list):  # after the gates, so the preflight's own budget check passes
        def append(self, event):
            super().append(event)
            if event.kind == "step-finished" and event.step == "gate/permissions":
                run.running.cluster.admin("PATCH", ["faults"], {}, {"pdb_never_allows": ["demo/web"]})
    run.events = BudgetTurnsStubborn()
    executor, _ = run.executor(mode=DRY_SERVER)
    executor.run()
    drain = next(e for e in run.events if e.kind == "step-finished" and e.step == "node/worker-1/drain")
    assert drain.outcome == "would"
    assert "evict 2 pod(s), 2 refused by their budget; the API server accepted 2 write(s), refused 2: evict " \
           "/api/v1/namespaces/demo/pods/web-" in drain.message
    assert "disruption budget" in drain.message
    assert any(e.kind == "progress" and e.step == "node/worker-1/drain" and e.message.startswith(
        "server refused evict /api/v1/namespaces/demo/pods/web-") for e in run.events)
    assert run.events[-1].message == "preview only (server dry run): 52 step(s) walked, nothing was changed"


def test_a_budget_that_allows_no_disruption_stops_the_run_at_the_preflight_gate(migration):
    run = migration("small")
    run.running.cluster.admin("PATCH", ["faults"], {}, {"pdb_never_allows": ["demo/web"]})
    run.settle(10)
    with pytest.raises(StepFailed, match="PDB_BLOCKS_DRAIN"):
        run.apply()
    assert [w.resource for w in run.running.request_log.writes()] == ["leases", "leases"]  # taken, given back


def test_a_budget_that_stops_yielding_mid_run_fails_the_drain_and_resume_finishes_once_it_does(migration):
    run = migration("small")

    def budget_turns_stubborn(record):
        if record.type == "step" and record.step == "gate/permissions" and record.outcome == "done":
            run.running.cluster.admin("PATCH", ["faults"], {}, {"pdb_never_allows": ["demo/web"]})
        return False
    with pytest.raises(StepFailed) as failed:
        run.apply(kill_at=budget_turns_stubborn)
    assert outcomes(run)["node/worker-1/drain"] == "failed"
    assert "timed out" in failed.value.message and "disruption budget" in failed.value.message
    assert run.state()["nodes"]["worker-1"]["unschedulable"]  # journaled, left for resume or rollback
    run.running.cluster.admin("PATCH", ["faults"], {}, {"pdb_never_allows": []})
    assert run.apply(identity="run-2")
    assert not run.state()["nodes"]["worker-1"]["unschedulable"]
    assert set(outcomes(run).values()) <= {"done", "noop"}


def test_every_write_is_audited_with_its_user_and_step(migration, tmp_path):
    import json

    from migrate.execute.session import AuditLog
    run = migration("small")
    audit = AuditLog(tmp_path / "audit.jsonl", run.kube.user, run.clock)
    run.kube.on_write = audit
    run.apply(audit=audit)
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    cordon = next(line for line in lines if line["step"] == "node/worker-1/cordon" and "nodes" in line["path"])
    assert cordon["verb"] == "patch" and cordon["path"] == "/api/v1/nodes/worker-1" and cordon["user"] == "sim-admin"
    assert cordon["time"] and cordon["dryRun"] is None
    assert {line["step"] for line in lines} >= {"prepare/namespace", "node/worker-1/drain", "finalize/retire-flannel"}


def test_the_policy_hold_keeps_enforcement_off_until_finalize_releases_it(migration):
    run = migration("jdcloud-prod")
    assert not run.apply(kill_at=lambda r: r.type == "step" and r.step == "finalize/policy-release"
                         and r.outcome == "started")
    assert run.cluster.network.probe.denied_by_policy == 0 and run.failed_flows() == 0
    run.after_a_crash()
    assert run.apply(identity="run-2")
    run.settle(60)
    assert run.cluster.network.probe.denied_by_policy > 0


def test_without_the_hold_policies_apply_on_each_node_as_it_moves(migration):
    run = migration("jdcloud-prod", policy="per-node")
    assert not run.apply(kill_at=step_done("wave/8/health-gate"))
    assert run.cluster.network.probe.denied_by_policy > 0 and run.failed_flows() == 0


def test_a_whole_migration_with_the_official_calico_manifest(migration, upstream_file):
    official = upstream_file("calico-v3.32.1/calico.yaml")
    run = migration("jdcloud-prod", calico_yaml=official.read_text())
    assert run.apply()
    state = run.state()
    assert not state["flannel"]["found"] and state["calicoNode"] == {"namespace": "kube-system", "name": "calico-node"}
    assert run.pods_outside_their_podcidr() == [] and run.failed_flows() == 0
    pool = run.kube.get("/apis/crd.projectcalico.org/v1/ippools/flannel-network")["spec"]
    assert pool["vxlanMode"] == "Always" and pool["cidr"] == "10.244.0.0/16"


def test_a_calico_manifest_changed_since_planning_is_refused_before_anything_is_installed(migration, tmp_path):
    run = migration("small")
    manifest = tmp_path / "calico.yaml"
    manifest.write_text(manifest.read_text() + "\n# edited after review\n")
    with pytest.raises(StepFailed, match="not the one the plan pinned"):
        run.apply()
    assert outcomes(run)["gate/permissions"] == "failed"  # it reads the manifest to foresee calico-node's admission
    assert run.kube.get_optional("/apis/apps/v1/namespaces/kube-system/daemonsets/calico-node") is None
    assert not any(n["unschedulable"] for n in run.state()["nodes"].values())


def test_flannels_namespace_is_kept_when_it_holds_something_else(migration):
    run = migration("small")
    run.kube.create("/api/v1/namespaces/kube-flannel/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "team-notes", "namespace": "kube-flannel"}})
    assert run.apply()
    assert run.kube.get_optional("/apis/apps/v1/namespaces/kube-flannel/daemonsets/kube-flannel-ds") is None
    assert run.kube.get_optional("/api/v1/namespaces/kube-flannel/configmaps/team-notes") is not None
    assert any("kept namespace kube-flannel" in e.message for e in run.events)


def test_pod_security_enforced_on_kube_system_stops_the_run_at_the_gate_naming_calico_node(migration):
    run = migration("small", pod_security={"defaults": {"enforce": "baseline"}})
    with pytest.raises(StepFailed) as failed:
        run.apply()
    assert outcomes(run)["gate/permissions"] == "failed"
    assert failed.value.message.startswith("calico-node would be refused: PodSecurity refused")
    assert "kubectl label namespace kube-system pod-security.kubernetes.io/enforce=privileged" in failed.value.hint
    assert not any(n["unschedulable"] for n in run.state()["nodes"].values())


def test_calico_node_pods_refused_mid_run_are_named_in_the_wait_that_times_out(migration):
    run = migration("small", pod_security={"defaults": {"enforce": "privileged"}})

    def kube_system_turns_baseline(record):
        if record.type == "step" and record.step == "gate/permissions" and record.outcome == "done":
            run.kube.patch("/api/v1/namespaces/kube-system",
                           {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}})
        return False
    with pytest.raises(StepFailed) as failed:
        run.apply(kill_at=kube_system_turns_baseline)
    assert "waiting for calico-node Ready on worker-1" in failed.value.message
    assert "the DaemonSet cannot create its pod: Error creating: pods" in failed.value.message
    assert 'violates PodSecurity "baseline:latest"' in failed.value.message


def with_a_calico_pool_of_26_blocks(cluster):
    """Calico's CRDs and an IPPool over Flannel's Network with blockSize 26 already there: each /24 node
    gets four blocks, three of them empty (what calico-kube-controllers' IPAM GC frees)."""
    import yaml

    from migrate.sim.calico_release import calico_release_manifest
    for obj in yaml.safe_load_all(calico_release_manifest()):
        if obj and obj["kind"] == "CustomResourceDefinition":
            cluster.create(obj)
    cluster.create({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool", "metadata": {"name": "flannel-network"},
                    "spec": {"cidr": "10.244.0.0/16", "blockSize": 26, "vxlanMode": "Always", "ipipMode": "Never",
                             "natOutgoing": True, "nodeSelector": "all()"}})


def test_a_run_paused_for_an_hour_mid_way_keeps_every_unmigrated_nodes_ipam_blocks(migration):
    run = migration("small", before_snapshot=with_a_calico_pool_of_26_blocks)
    claimed = {s.node: sorted(s.params["blocks"]) for s in run.plan.steps if s.kind == "claim-node-ipam"}
    assert all(len(blocks) == 4 for blocks in claimed.values())
    assert not run.apply(kill_at=step_done("wave/0/health-gate"))
    run.settle(3600)  # calico-kube-controllers' IPAM GC has had four grace periods
    unmigrated = [n for n in claimed if n not in {s.node for s in run.plan.steps if s.wave == 0}]
    held = {}
    for block in run.kube.list("/apis/crd.projectcalico.org/v1/ipamblocks"):
        held.setdefault(block["spec"]["affinity"].removeprefix("host:"), []).append(block["spec"]["cidr"])
    assert {n: sorted(held.get(n, [])) for n in unmigrated} == {n: claimed[n] for n in unmigrated}
    assert {n: (run.kube.get(f"/api/v1/nodes/{n}")["metadata"].get("labels") or {}).get(LABEL)
            for n in unmigrated} == {n: "flannel" for n in unmigrated}
    run.after_a_crash()
    assert run.apply(identity="run-2")
    assert run.pods_outside_their_podcidr() == []


def test_every_node_is_labelled_flannel_before_calico_starts_and_keeps_flannel(migration):
    run = migration("small")
    assert not run.apply(kill_at=lambda r: r.type == "step" and r.step == "prepare/calico/manifest"
                         and r.outcome == "started")
    nodes = run.kube.list("/api/v1/nodes")
    assert {(n["metadata"].get("labels") or {}).get(LABEL) for n in nodes} == {"flannel"}
    run.settle()
    flannel = run.kube.list("/api/v1/namespaces/kube-flannel/pods", label_selector="app=flannel")
    assert sorted(p["spec"]["nodeName"] for p in flannel if p["status"].get("phase") == "Running") == sorted(
        n["metadata"]["name"] for n in nodes)


def test_a_rollback_drops_the_flannel_label_from_every_node(migration):
    run = migration("small")
    assert not run.apply(kill_at=step_done("wave/0/health-gate"))
    assert "flannel" in {(n["metadata"].get("labels") or {}).get(LABEL) for n in run.kube.list("/api/v1/nodes")}
    run.after_a_crash()
    assert run.rollback(identity="run-2")
    assert all(LABEL not in (n["metadata"].get("labels") or {}) for n in run.kube.list("/api/v1/nodes"))
