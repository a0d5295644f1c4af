"""Draining a node through the eviction API, against the simulated cluster on a manual clock.

In `small`, worker-1 holds two web pods (PDB maxUnavailable 1), one api pod, one coredns pod and
the flannel and kube-proxy DaemonSet pods. In `jdcloud-prod`, worker-a-4 holds mysql-0 (a
StatefulSet pod behind a minAvailable 2 budget) and a frontend pod.
"""
from __future__ import annotations

import time

import pytest

from migrate.execute.drain import DrainPolicy, drain_node, pods_to_drain
from migrate.execute.errors import Interrupted, StepFailed
from migrate.sim.cluster import running_cluster


def cordon(kube, node: str) -> None:
    kube.patch(f"/api/v1/nodes/{node}", {"spec": {"unschedulable": True}})


def node_pods(kube, node: str) -> list[dict]:
    return kube.list("/api/v1/pods", field_selector=f"spec.nodeName={node}")


def keys(pods: list[dict]) -> set[str]:
    return {f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in pods}


def is_daemonset_pod(pod: dict) -> bool:
    return any(r.get("controller") and r["kind"] == "DaemonSet" for r in pod["metadata"].get("ownerReferences") or [])


def evictions_sent(running) -> list:
    return [r for r in running.request_log.records() if r.path.endswith("/eviction")]


def bare_pod(name: str, node: str, *, emptydir: bool = False) -> dict:
    spec: dict = {"nodeName": node, "containers": [{"name": "main", "image": "docker.io/library/busybox:1.36",
                                                    "command": ["sleep", "infinity"]}]}
    if emptydir:
        spec["volumes"] = [{"name": "scratch", "emptyDir": {}}]
        spec["containers"][0]["volumeMounts"] = [{"name": "scratch", "mountPath": "/scratch"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "demo"}, "spec": spec}


def never_allow(running, budget: str) -> None:
    running.cluster.admin("PATCH", ["faults"], {}, {"pdb_never_allows": [budget]})


@pytest.fixture
def small(kube_of, clock_of):
    with running_cluster("small") as running:
        yield running, kube_of(running), clock_of(running.cluster)


def test_drained_node_keeps_only_daemonset_pods_and_the_evicted_pods_run_elsewhere(small):
    running, kube, clock = small
    before = keys(pods_to_drain(kube, "worker-1"))
    cordon(kube, "worker-1")
    result = drain_node(kube, "worker-1", DrainPolicy(), clock=clock)
    assert set(result.evicted) == before
    left = node_pods(kube, "worker-1")
    assert left and all(is_daemonset_pod(p) for p in left)
    running.cluster.advance(30)
    demo = kube.list("/api/v1/namespaces/demo/pods")
    assert len(demo) == 6 and not before & keys(demo)
    assert all(p["spec"]["nodeName"] != "worker-1" and p["status"]["phase"] == "Running" for p in demo)


def test_a_budget_refusal_is_retried_after_five_seconds_with_a_progress_event(small):
    running, kube, clock = small
    cordon(kube, "worker-1")
    events = []
    result = drain_node(kube, "worker-1", DrainPolicy(), clock=clock, emit=events.append)
    assert result.refusals >= 1
    refused = [e for e in events if "eviction refused" in e.message]
    assert refused[0].kind == "progress" and refused[0].node == "worker-1"
    assert "eviction refused (Cannot evict pod as it would violate the pod's disruption budget." in refused[0].message
    assert "The disruption budget web needs" in refused[0].message  # the cause names the budget
    assert refused[0].message.endswith("; will retry in 5s")


def test_an_unmanaged_pod_blocks_the_drain_before_any_eviction(small):
    running, kube, clock = small
    kube.create("/api/v1/namespaces/demo/pods", bare_pod("loner", "worker-1"))
    running.request_log.clear()
    with pytest.raises(StepFailed, match="demo/loner \\(no controller re-creates it\\)") as raised:
        drain_node(kube, "worker-1", DrainPolicy(), clock=clock)
    assert "--force" in raised.value.hint
    assert evictions_sent(running) == [] and running.request_log.writes() == []


def test_an_emptydir_pod_blocks_the_drain_before_any_eviction(small):
    running, kube, clock = small
    kube.create("/api/v1/namespaces/demo/pods", bare_pod("cache", "worker-1", emptydir=True))
    running.request_log.clear()
    with pytest.raises(StepFailed, match="demo/cache \\(its emptyDir data \\(scratch\\) would be lost\\)") as raised:
        drain_node(kube, "worker-1", DrainPolicy(force=True), clock=clock)
    assert "--delete-emptydir-data" in raised.value.hint
    assert evictions_sent(running) == []


def test_every_blocker_is_named_at_once(small):
    running, kube, clock = small
    kube.create("/api/v1/namespaces/demo/pods", bare_pod("loner", "worker-1"))
    kube.create("/api/v1/namespaces/demo/pods", bare_pod("cache", "worker-1", emptydir=True))
    running.request_log.clear()
    with pytest.raises(StepFailed) as raised:
        drain_node(kube, "worker-1", DrainPolicy(), clock=clock)
    assert "demo/loner (no controller re-creates it)" in raised.value.message
    assert ("demo/cache (no controller re-creates it; its emptyDir data (scratch) would be lost)"
            in raised.value.message)
    assert evictions_sent(running) == []


def test_force_and_delete_emptydir_data_evict_what_would_block(small):
    running, kube, clock = small
    kube.create("/api/v1/namespaces/demo/pods", bare_pod("cache", "worker-1", emptydir=True))
    cordon(kube, "worker-1")
    result = drain_node(kube, "worker-1", DrainPolicy(force=True, delete_emptydir_data=True), clock=clock)
    assert "demo/cache" in result.evicted
    assert kube.get_optional("/api/v1/namespaces/demo/pods/cache") is None


def test_a_budget_that_never_yields_fails_at_the_timeout_in_simulated_time(small):
    running, kube, clock = small
    never_allow(running, "demo/web")
    cordon(kube, "worker-1")
    started_real, started_sim = time.monotonic(), clock.now()
    with pytest.raises(StepFailed) as raised:
        drain_node(kube, "worker-1", DrainPolicy(timeout_seconds=120), clock=clock)
    assert time.monotonic() - started_real < 2
    assert clock.now() - started_sim == pytest.approx(120)
    message = raised.value.message
    assert message.startswith("drain of worker-1 timed out after 120s with 2 pods still there: ")
    web = {k for k in keys(node_pods(kube, "worker-1")) if k.startswith("demo/web-")}
    assert len(web) == 2
    for key in web:
        assert (f"{key} (eviction refused: Cannot evict pod as it would violate the pod's disruption budget."
                in message)
    assert "PodDisruptionBudget" in raised.value.hint and "migrate resume" in raised.value.hint \
        and "migrate rollback" in raised.value.hint


def test_refused_evictions_back_off_to_thirty_seconds(small):
    running, kube, clock = small
    never_allow(running, "demo/web")
    cordon(kube, "worker-1")
    events = []
    with pytest.raises(StepFailed):
        drain_node(kube, "worker-1", DrainPolicy(timeout_seconds=200), clock=clock, emit=events.append)
    retries = [e for e in events if "retry_in" in e.data]
    one_pod = [e.data["retry_in"] for e in retries if e.data["pod"] == retries[0].data["pod"]]
    assert one_pod[:6] == [5, 10, 20, 30, 30, 30]


def test_a_budget_the_server_has_not_processed_is_retried_after_its_retry_after(small):
    running, kube, clock = small
    kube.patch("/apis/policy/v1/namespaces/demo/poddisruptionbudgets/web", {"spec": {"maxUnavailable": 2}})
    cordon(kube, "worker-1")
    events = []
    drain_node(kube, "worker-1", DrainPolicy(), clock=clock, emit=events.append)
    first = next(e for e in events if "retry_in" in e.data)
    assert first.data["retry_in"] == 10 and first.message.endswith("will retry in 10s")


def test_a_pod_gone_before_its_eviction_counts_as_evicted(small):
    running, kube, clock = small

    class DeletesFirst:
        """kube, except that the api pod is deleted just before its eviction is sent (a 404)."""
        def __getattr__(self, name):
            return getattr(kube, name)

        def evict(self, namespace, name, **options):
            if name.startswith("api-"):
                kube.delete(f"/api/v1/namespaces/{namespace}/pods/{name}", grace_period=0)
            return kube.evict(namespace, name, **options)

    api = next(k for k in keys(node_pods(kube, "worker-1")) if k.startswith("demo/api-"))
    cordon(kube, "worker-1")
    result = drain_node(DeletesFirst(), "worker-1", DrainPolicy(), clock=clock)
    assert api in result.evicted
    assert [r.status for r in evictions_sent(running) if r.path.endswith(f"{api.split('/')[1]}/eviction")] == [404]


def test_a_statefulset_pod_recreated_under_the_same_name_counts_as_gone(kube_of, clock_of):
    with running_cluster("jdcloud-prod") as running:
        kube, clock = kube_of(running), clock_of(running.cluster)
        old_uid = kube.get("/api/v1/namespaces/shop/pods/mysql-0")["metadata"]["uid"]
        answers = []

        class RecordsGets:
            def __getattr__(self, name):
                return getattr(kube, name)

            def get(self, path, *args):
                answer = kube.get(path, *args)
                answers.append((path, answer["metadata"]["uid"]))
                return answer

        cordon(kube, "worker-a-4")
        result = drain_node(RecordsGets(), "worker-a-4", DrainPolicy(), clock=clock)
        assert "shop/mysql-0" in result.evicted
        mysql_uids = [uid for path, uid in answers if path.endswith("/pods/mysql-0")]
        assert mysql_uids[-1] != old_uid  # found again, re-created: that ended the wait
        assert kube.get("/api/v1/namespaces/shop/pods/mysql-0")["spec"]["nodeName"] != "worker-a-4"


def test_should_stop_interrupts_between_rounds(small):
    running, kube, clock = small
    cordon(kube, "worker-1")
    with pytest.raises(Interrupted) as raised:
        drain_node(kube, "worker-1", DrainPolicy(), clock=clock, should_stop=lambda: True)
    # the first round evicted what the budget allowed; one web pod waits for its turn
    assert raised.value.message.startswith("drain of worker-1 stopped at a safe point: 1 pod still to evict")
    assert raised.value.hint == "run `migrate resume PLAN` to continue"


def test_dry_run_writes_nothing_and_deletes_no_pod(small):
    running, kube, clock = small
    before = pods_to_drain(kube, "worker-1")
    running.request_log.clear()
    result = drain_node(kube, "worker-1", DrainPolicy(), clock=clock, dry_run="All")
    assert set(result.evicted) == keys(before)
    assert running.request_log.writes() == []
    assert len(evictions_sent(running)) == len(before)
    after = pods_to_drain(kube, "worker-1")
    assert keys(after) == keys(before)
    assert not any(p["metadata"].get("deletionTimestamp") for p in after)


def test_dry_run_reports_a_budget_refusal_without_retrying(small):
    running, kube, clock = small
    never_allow(running, "demo/web")
    started = clock.now()
    result = drain_node(kube, "worker-1", DrainPolicy(), clock=clock, dry_run="All")
    assert clock.now() == started
    assert result.refusals == 2 and len(result.refused) == 2
    assert all("would violate the pod's disruption budget" in r for r in result.refused)
    assert not any(k.startswith("demo/web-") for k in result.evicted)


def test_daemonset_and_mirror_pods_are_skipped_with_a_warning_for_mirror_pods(small):
    running, kube, clock = small
    events = []
    result = drain_node(kube, "control-plane-1", DrainPolicy(), clock=clock, emit=events.append)
    assert result.evicted == []
    assert "kube-system/etcd-control-plane-1 (mirror pod)" in result.skipped
    assert any(s.startswith("kube-flannel/kube-flannel-ds-") and s.endswith("(DaemonSet)") for s in result.skipped)
    assert any(e.kind == "warning" and "etcd-control-plane-1" in e.message for e in events)
    assert len(node_pods(kube, "control-plane-1")) == len(result.skipped)


def test_finished_pods_are_left_alone_silently(small):
    running, kube, clock = small
    pod = next(p for p in node_pods(kube, "worker-1") if p["metadata"]["name"].startswith("api-"))
    path = f"/api/v1/namespaces/demo/pods/{pod['metadata']['name']}/status"
    kube.patch(path, {"status": {"phase": "Succeeded"}})
    pod_key = f"demo/{pod['metadata']['name']}"
    assert pod_key not in keys(pods_to_drain(kube, "worker-1"))
    result = drain_node(kube, "worker-1", DrainPolicy(), clock=clock, dry_run="All")
    assert pod_key not in result.evicted and not any(s.startswith(pod_key) for s in result.skipped)


def test_a_replica_no_budget_covers_is_evicted_only_while_another_is_ready(small):
    running, kube, clock = small  # api: 2 replicas, no PodDisruptionBudget; worker-1's lands on worker-2
    cordon(kube, "worker-1")
    drain_node(kube, "worker-1", DrainPolicy(), clock=clock)
    kube.patch("/api/v1/nodes/worker-1", {"spec": {"unschedulable": False}})
    api_here = sorted(p["metadata"]["name"] for p in node_pods(kube, "worker-2") if p["metadata"]["name"].startswith("api-"))
    assert len(api_here) == 2
    events = []
    cordon(kube, "worker-2")
    drain_node(kube, "worker-2", DrainPolicy(), clock=clock, emit=events.append)
    said = [e.message for e in events if e.message.startswith("demo/api-")]
    assert said[:2] == [f"demo/{api_here[0]}: evicted",
                        f"demo/{api_here[1]}: waiting: no other replica of ReplicaSet "
                        f"{api_here[0].rsplit('-', 1)[0]} is ready yet"]
