"""Nodes that join and leave while a migration runs (a cluster autoscaler, a node pool resized by hand):
the simulator adds and scales down nodes as the real components do (migrate/sim/node_pool.py)."""
from __future__ import annotations

from pathlib import Path

from migrate.execute.journal import Journal

JOINING = str(Path(__file__).parent / "scenarios" / "joining.yaml")
LABEL = "projectcalico.org/node-network-during-migration"


def calico_node_ready_on(run) -> set[str]:
    pods = run.kube.list("/api/v1/namespaces/kube-system/pods", label_selector="k8s-app=calico-node")
    return {p["spec"]["nodeName"] for p in pods
            if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])}


def test_nodes_that_join_mid_run_are_reachable_throughout_and_end_on_calico(migration):
    run = migration(JOINING)
    assert run.apply()
    nodes = {n["metadata"]["name"] for n in run.kube.list("/api/v1/nodes")}
    assert {"worker-4", "worker-5"} <= nodes
    assert calico_node_ready_on(run) == nodes
    assert run.pods_outside_their_podcidr() == []
    assert run.failed_flows() == 0, run.cluster.network.probe.recent_failures[:3]


def test_a_node_scaled_down_before_its_wave_has_its_steps_skipped_saying_so(migration):
    run = migration(JOINING)
    assert run.apply()
    state = Journal.open(run.journal_path, run.plan.digest).state()
    gone = {step: s for step, s in state.items() if step.startswith("node/worker-2/")}
    assert gone and all(s.outcome == "skipped" and "left the cluster" in s.message for s in gone.values())


def test_status_lists_the_nodes_that_joined_and_left(migration):
    from migrate.execute.status import describe_status
    run = migration(JOINING)
    assert run.apply()
    lines = describe_status(run.plan, Journal.open(run.journal_path, run.plan.digest), None, "plan.yaml")
    assert any("worker-4" in line and "joined during the run" in line for line in lines)
    assert any("worker-5" in line and "joined during the run" in line for line in lines)
    assert any("worker-2" in line and "left the cluster" in line for line in lines)


def test_killed_after_a_node_joined_the_resumed_run_hands_it_off_too(migration):
    run = migration(JOINING)
    joined = lambda r: r.type == "step" and r.step == "joined/worker-4/label" and r.outcome == "done"
    assert not run.apply(kill_at=joined)
    run.after_a_crash()
    assert run.apply(identity="run-2")
    assert calico_node_ready_on(run) == {n["metadata"]["name"] for n in run.kube.list("/api/v1/nodes")}
    assert run.failed_flows() == 0


def test_a_rollback_gives_joined_nodes_back_to_flannel_with_the_others(migration):
    run = migration(JOINING)
    assert run.apply()
    assert run.rollback()
    run.settle()
    nodes = run.kube.list("/api/v1/nodes")
    assert {"worker-4", "worker-5"} <= {n["metadata"]["name"] for n in nodes}
    assert all(LABEL not in (n["metadata"].get("labels") or {}) for n in nodes)
    assert calico_node_ready_on(run) == set()
    assert run.pods_outside_their_podcidr() == []
    assert run.failed_flows() == 0, run.cluster.network.probe.recent_failures[:3]
