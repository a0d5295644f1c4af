"""A node given back to Flannel is left as it was found: no chains, ipsets or VXLAN filter of Felix's, no
host-local reservation of a pod that is gone, and no pod deletion that had to wait for a CNI config
(tests/host_picture.py says what is compared)."""
from __future__ import annotations

from pathlib import Path

from host_picture import differences, host_picture

# small plus a DaemonSet on the pod network: its pods are deleted by the hand-off and its undo, not drained
NODE_AGENT = str(Path(__file__).parent / "scenarios" / "node-agent.yaml")
WORKERS = ("worker-1", "worker-2")


def step_done(step_id):
    return lambda r: r.type == "step" and r.step == step_id and r.outcome in ("done", "noop")


def failed_pod_kills(run) -> list[str]:
    return [f"{e['involvedObject']['name']}: {e['message']}" for e in run.cluster.store.items(
        run.cluster.ctx.rtype("", "events")) if e["reason"] == "FailedKillPod"]


def test_a_rollback_from_the_end_leaves_every_worker_as_it_was_found(migration):
    run = migration(NODE_AGENT)
    run.settle(60)
    before = {node: host_picture(run.cluster, node) for node in WORKERS}
    assert run.apply()
    assert run.rollback()
    run.settle()
    for node in WORKERS:
        assert differences(before[node], host_picture(run.cluster, node)) == {}, node


def test_a_rollback_from_the_middle_leaves_the_handed_off_workers_as_they_were_found(migration):
    run = migration(NODE_AGENT)
    run.settle(60)
    before = {node: host_picture(run.cluster, node) for node in WORKERS}
    assert not run.apply(kill_at=step_done("node/worker-2/calico-on"))
    run.after_a_crash()
    assert run.rollback(identity="run-2")
    run.settle()
    for node in WORKERS:
        assert differences(before[node], host_picture(run.cluster, node)) == {}, node


def test_a_rollback_deletes_a_nodes_pods_only_once_a_cni_config_can_tear_them_down(migration):
    run = migration(NODE_AGENT)
    assert run.apply()
    forward = set(failed_pod_kills(run))
    assert run.rollback()
    run.settle()
    assert [kill for kill in failed_pod_kills(run) if kill not in forward] == []


def joined_node_reaches_the_given_back_workers(run):
    """A node joining now reaches every worker's pods: Felix's VXLAN filter, had it stayed in force, would
    admit only the hosts of its last VTEP set."""
    (joined,) = run.cluster.node_pool.join("worker-", 1, run.cluster.clock.now())
    run.settle()
    network, store = run.cluster.network, run.cluster.store
    agents = {p["spec"]["nodeName"]: p for p in store.items(run.cluster.ctx.pods, "monitoring")
              if not p["metadata"].get("deletionTimestamp")}
    source = agents[joined]["metadata"]["namespace"], agents[joined]["metadata"]["name"]
    for node in WORKERS:
        verdict = network.reach(source, agents[node]["status"]["podIP"])
        assert verdict.ok, verdict.reason


def test_a_node_that_joins_after_a_rollback_reaches_the_pods_of_the_nodes_given_back(migration):
    run = migration(NODE_AGENT)
    assert run.apply()
    assert run.rollback()
    run.settle()
    joined_node_reaches_the_given_back_workers(run)


def test_a_rollback_whose_pod_logs_cannot_be_read_succeeds_with_felix_inert_and_says_what_stays(migration):
    # the kubelet's log endpoint fails (as for nodes whose kubelet the API server cannot reach): the give-back
    # cannot list Felix's chains by name, flushes its top chains instead and warns
    run = migration(NODE_AGENT)
    assert run.apply()
    run.running.cluster.admin("PATCH", ["faults"], {}, {"kubelet_unreachable": list(WORKERS)})
    assert run.rollback()
    run.settle()
    warnings = [e.message for e in run.events if e.kind == "warning"]
    assert any("Felix's cali-* chains are flushed" in w and "worker-1" in w for w in warnings), warnings
    joined_node_reaches_the_given_back_workers(run)
