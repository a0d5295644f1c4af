"""What the simulated control plane does behind the API: scheduler, workload controllers,
disruption budgets, node lifecycle and node IPAM, as the real controller-manager and
kube-scheduler behave."""
import ipaddress

import pytest

from migrate.sim.cluster import SimCluster
from migrate.sim.errors import ApiError

PAUSE = "registry.k8s.io/pause:3.10"


def pod(name, namespace="demo", **spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "labels": {"test": name}},
            "spec": {"containers": [{"name": "main", "image": PAUSE}], **spec}}


def deployment(name, replicas, namespace="demo", **spec):
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": name, "image": PAUSE}], **spec}}}}


def daemonset(name, namespace="demo", update=None, **spec):
    labels = {"app": name}
    obj = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": namespace},
           "spec": {"selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels},
                                 "spec": {"containers": [{"name": name, "image": PAUSE}], **spec}}}}
    if update:
        obj["spec"]["updateStrategy"] = update
    return obj


def pdb(name, selector, namespace="demo", **budget):
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name, "namespace": namespace},
            "spec": {**budget, "selector": {"matchLabels": selector}}}


def get(c, kind, name, namespace="demo"):
    group = {"pods": "", "nodes": "", "deployments": "apps", "daemonsets": "apps", "statefulsets": "apps",
             "replicasets": "apps", "jobs": "batch", "poddisruptionbudgets": "policy"}[kind]
    return c.store.find(c.ctx.rtype(group, kind), None if kind == "nodes" else namespace, name)


def pods_with(c, namespace="demo", **labels):
    return [p for p in c.store.items(c.ctx.pods, namespace)
            if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())]


def live(pods):
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def condition(obj, type_):
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), None)


def is_ready(p):
    cond = condition(p, "Ready")
    return bool(cond and cond["status"] == "True")


def set_node(c, name, change):
    c.store.mutate(c.ctx.nodes, None, name, change)


def label_node(c, name, **labels):
    def put(node):
        for key, value in labels.items():
            if value is None:
                node["metadata"]["labels"].pop(key, None)
            else:
                node["metadata"]["labels"][key] = value
    set_node(c, name, put)


def cordon(c, name, on=True):
    def put(node):
        if on:
            node["spec"]["unschedulable"] = True
        else:
            node["spec"].pop("unschedulable", None)
    set_node(c, name, put)


def evict(c, name, namespace="demo"):
    from migrate.sim.api import Request
    from migrate.sim.rbac import User
    req = Request("create", c.ctx.pods, namespace, name, "eviction", User("admin", ("system:masters",)), {})
    return c.api.evict(req, {"apiVersion": "policy/v1", "kind": "Eviction",
                             "metadata": {"name": name, "namespace": namespace}})


def events_for(c, name, reason):
    return [e for e in c.store.items(c.ctx.rtype("", "events"))
            if e["involvedObject"]["name"] == name and e["reason"] == reason]


# ---- scheduler ------------------------------------------------------------------------

def test_pod_with_a_node_selector_lands_on_the_matching_node(small_cluster):
    c = small_cluster
    label_node(c, "worker-2", disk="ssd")
    c.create(pod("picky", nodeSelector={"disk": "ssd"}))
    c.advance(5)
    assert get(c, "pods", "picky")["spec"]["nodeName"] == "worker-2"


def test_required_node_affinity_places_pods_only_on_matching_nodes(small_cluster):
    c = small_cluster
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["worker-1"]}]}]}}}
    c.create(deployment("pinned", 3, affinity=affinity))
    c.advance(10)
    assert {p["spec"]["nodeName"] for p in pods_with(c, app="pinned")} == {"worker-1"}


def test_untolerated_control_plane_taint_keeps_pods_off_the_control_plane(small_cluster):
    c = small_cluster
    c.create(deployment("many", 8))
    c.advance(10)
    nodes = {p["spec"]["nodeName"] for p in pods_with(c, app="many")}
    assert nodes == {"worker-1", "worker-2"}


def test_a_toleration_lets_a_pod_onto_a_tainted_node(small_cluster):
    c = small_cluster
    c.create(pod("tolerant", nodeSelector={"kubernetes.io/hostname": "control-plane-1"},
                 tolerations=[{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                               "effect": "NoSchedule"}]))
    c.advance(5)
    assert get(c, "pods", "tolerant")["spec"]["nodeName"] == "control-plane-1"


def test_a_cordoned_node_gets_no_new_pods(small_cluster):
    c = small_cluster
    cordon(c, "worker-1")
    c.create(deployment("fresh", 4))
    c.advance(10)
    assert {p["spec"]["nodeName"] for p in pods_with(c, app="fresh")} == {"worker-2"}


def test_a_cordon_leaves_running_pods_where_they_are(small_cluster):
    c = small_cluster
    before = {p["metadata"]["name"] for p in pods_with(c, app="web") if p["spec"]["nodeName"] == "worker-1"}
    cordon(c, "worker-1")
    c.advance(30)
    after = {p["metadata"]["name"] for p in pods_with(c, app="web") if p["spec"]["nodeName"] == "worker-1"}
    assert before and after == before


def test_an_unschedulable_pod_gets_pod_scheduled_false_with_the_schedulers_message(small_cluster):
    c = small_cluster
    c.create(pod("nowhere", nodeSelector={"disk": "ssd"}))
    c.advance(5)
    p = get(c, "pods", "nowhere")
    scheduled = condition(p, "PodScheduled")
    assert "nodeName" not in p["spec"]
    assert p["status"]["phase"] == "Pending"
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    # kube-scheduler sorts the "<count> <reason>" strings and appends the preemption verdict
    assert scheduled["message"] == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
        "2 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.")


def test_an_unschedulable_pod_gets_a_failed_scheduling_event(small_cluster):
    c = small_cluster
    c.create(pod("nowhere", nodeSelector={"disk": "ssd"}))
    c.advance(5)
    events = events_for(c, "nowhere", "FailedScheduling")
    assert events and events[0]["type"] == "Warning"
    assert events[0]["source"]["component"] == "default-scheduler"
    assert events[0]["message"].startswith("0/3 nodes are available:")


def test_cordoned_nodes_are_named_in_the_schedulers_message(small_cluster):
    c = small_cluster
    cordon(c, "worker-1")
    cordon(c, "worker-2")
    c.create(pod("stuck"))
    c.advance(5)
    assert condition(get(c, "pods", "stuck"), "PodScheduled")["message"] == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
        "2 node(s) were unschedulable. preemption: 0/3 nodes are available: 3 Preemption is not helpful for "
        "scheduling.")


def test_an_unschedulable_pod_is_placed_once_a_node_fits(small_cluster):
    c = small_cluster
    c.create(pod("waiting", nodeSelector={"disk": "ssd"}))
    c.advance(5)
    label_node(c, "worker-1", disk="ssd")
    c.advance(10)
    p = get(c, "pods", "waiting")
    assert p["spec"]["nodeName"] == "worker-1"
    assert condition(p, "PodScheduled")["status"] == "True"
    assert is_ready(p)


def test_an_uncordon_lets_a_waiting_pod_schedule(small_cluster):
    c = small_cluster
    cordon(c, "worker-1")
    cordon(c, "worker-2")
    c.create(pod("patient"))
    c.advance(5)
    cordon(c, "worker-2", on=False)
    c.advance(5)
    assert get(c, "pods", "patient")["spec"]["nodeName"] == "worker-2"


def test_the_scheduler_spreads_replicas_over_the_workers(small_cluster):
    c = small_cluster
    c.create(deployment("spread", 6))
    c.advance(10)
    per_node = {}
    for p in pods_with(c, app="spread"):
        per_node[p["spec"]["nodeName"]] = per_node.get(p["spec"]["nodeName"], 0) + 1
    assert per_node == {"worker-1": 3, "worker-2": 3}


# ---- DaemonSet ------------------------------------------------------------------------

def test_a_daemonset_runs_one_pod_per_matching_node(small_cluster):
    c = small_cluster
    c.create(daemonset("agent", tolerations=[{"operator": "Exists"}]))
    c.advance(10)
    pods = pods_with(c, app="agent")
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["control-plane-1", "worker-1", "worker-2"]
    status = get(c, "daemonsets", "agent")["status"]
    assert (status["desiredNumberScheduled"], status["currentNumberScheduled"], status["numberReady"]) == (3, 3, 3)


def test_a_daemonset_skips_nodes_its_node_selector_excludes(small_cluster):
    c = small_cluster
    label_node(c, "worker-1", agent="yes")
    c.create(daemonset("agent", nodeSelector={"agent": "yes"}))
    c.advance(10)
    assert [p["spec"]["nodeName"] for p in pods_with(c, app="agent")] == ["worker-1"]


def test_a_daemonset_does_not_run_on_a_tainted_node_it_does_not_tolerate(small_cluster):
    c = small_cluster
    c.create(daemonset("agent"))
    c.advance(10)
    assert sorted(p["spec"]["nodeName"] for p in pods_with(c, app="agent")) == ["worker-1", "worker-2"]
    assert get(c, "daemonsets", "agent")["status"]["desiredNumberScheduled"] == 2


def test_a_daemon_pod_leaves_a_node_that_stops_matching(small_cluster):
    c = small_cluster
    for name in ("worker-1", "worker-2"):
        label_node(c, name, agent="yes")
    c.create(daemonset("agent", nodeSelector={"agent": "yes"}))
    c.advance(10)
    label_node(c, "worker-1", agent="no")
    c.advance(10)
    assert [p["spec"]["nodeName"] for p in pods_with(c, app="agent")] == ["worker-2"]
    assert get(c, "daemonsets", "agent")["status"]["desiredNumberScheduled"] == 1


def test_a_daemon_pod_comes_back_when_the_node_matches_again(small_cluster):
    c = small_cluster
    label_node(c, "worker-1", agent="yes")
    c.create(daemonset("agent", nodeSelector={"agent": "yes"}))
    c.advance(10)
    first = pods_with(c, app="agent")[0]["metadata"]["uid"]
    label_node(c, "worker-1", agent=None)
    c.advance(10)
    assert pods_with(c, app="agent") == []
    label_node(c, "worker-1", agent="yes")
    c.advance(10)
    pods = pods_with(c, app="agent")
    assert [p["spec"]["nodeName"] for p in pods] == ["worker-1"]
    assert pods[0]["metadata"]["uid"] != first and is_ready(pods[0])


def test_daemon_pods_are_pinned_by_node_affinity_and_tolerate_unschedulable(small_cluster):
    c = small_cluster
    c.create(daemonset("agent"))
    c.advance(10)
    p = next(p for p in pods_with(c, app="agent") if p["spec"]["nodeName"] == "worker-1")
    terms = p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["worker-1"]}]}]
    assert {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"} in \
        p["spec"]["tolerations"]


def test_daemon_pods_on_a_cordoned_node_stay(small_cluster):
    c = small_cluster
    c.create(daemonset("agent"))
    c.advance(10)
    before = {p["metadata"]["uid"] for p in pods_with(c, app="agent")}
    cordon(c, "worker-1")
    c.advance(30)
    assert {p["metadata"]["uid"] for p in live(pods_with(c, app="agent"))} == before


def test_a_deleted_daemon_pod_is_recreated_on_a_cordoned_node(small_cluster):
    c = small_cluster
    c.create(daemonset("agent"))
    c.advance(10)
    cordon(c, "worker-1")
    victim = next(p for p in pods_with(c, app="agent") if p["spec"]["nodeName"] == "worker-1")
    c.store.delete(c.ctx.pods, "demo", victim["metadata"]["name"])
    c.advance(20)
    on_worker_1 = [p for p in pods_with(c, app="agent") if p["spec"]["nodeName"] == "worker-1"]
    assert len(on_worker_1) == 1 and on_worker_1[0]["metadata"]["uid"] != victim["metadata"]["uid"]
    assert is_ready(on_worker_1[0])


def test_a_daemonset_rolling_update_replaces_at_most_max_unavailable_pods_at_a_time(small_cluster):
    c = small_cluster
    c.create(daemonset("agent", tolerations=[{"operator": "Exists"}]))
    c.advance(10)

    def bump(ds):
        ds["spec"]["template"]["metadata"]["labels"]["version"] = "2"
    c.store.mutate(c.ctx.rtype("apps", "daemonsets"), "demo", "agent", bump)
    worst = 0
    for _ in range(60):
        c.advance(0.5)
        pods = pods_with(c, app="agent")
        unavailable = 3 - sum(1 for p in live(pods) if is_ready(p))
        worst = max(worst, unavailable)
    pods = pods_with(c, app="agent")
    assert worst == 1
    assert len(pods) == 3 and all(p["metadata"]["labels"].get("version") == "2" and is_ready(p) for p in pods)
    assert get(c, "daemonsets", "agent")["status"]["updatedNumberScheduled"] == 3


def test_a_daemonset_with_on_delete_strategy_keeps_old_pods_until_deleted(small_cluster):
    c = small_cluster
    c.create(daemonset("agent", update={"type": "OnDelete"}))
    c.advance(10)
    before = {p["metadata"]["uid"] for p in pods_with(c, app="agent")}

    def bump(ds):
        ds["spec"]["template"]["metadata"]["labels"]["version"] = "2"
    c.store.mutate(c.ctx.rtype("apps", "daemonsets"), "demo", "agent", bump)
    c.advance(30)
    assert {p["metadata"]["uid"] for p in pods_with(c, app="agent")} == before


# ---- ReplicaSet / Deployment ----------------------------------------------------------

def test_a_deployment_keeps_its_replicas_running(small_cluster):
    c = small_cluster
    pods = pods_with(c, app="web")
    assert len(pods) == 4 and all(is_ready(p) for p in pods)
    status = get(c, "deployments", "web")["status"]
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"]) == (4, 4, 4)


def test_deployment_pods_carry_the_replica_set_as_controller_owner(small_cluster):
    c = small_cluster
    p = pods_with(c, app="web")[0]
    ref = p["metadata"]["ownerReferences"][0]
    rs = get(c, "replicasets", ref["name"])
    assert ref["kind"] == "ReplicaSet" and ref["controller"] is True
    assert rs["metadata"]["ownerReferences"][0]["name"] == "web"
    assert p["metadata"]["labels"]["pod-template-hash"] == rs["metadata"]["labels"]["pod-template-hash"]
    assert p["metadata"]["name"].startswith(ref["name"] + "-")


def test_a_deleted_pod_is_replaced(small_cluster):
    c = small_cluster
    victim = pods_with(c, app="web")[0]
    c.store.delete(c.ctx.pods, "demo", victim["metadata"]["name"])
    c.advance(15)
    pods = pods_with(c, app="web")
    assert len(pods) == 4 and all(is_ready(p) for p in pods)
    assert victim["metadata"]["uid"] not in {p["metadata"]["uid"] for p in pods}


def test_an_evicted_pod_comes_back_on_another_node_with_an_ip_from_its_pod_cidr(small_cluster):
    c = small_cluster
    cordon(c, "worker-1")
    victim = next(p for p in pods_with(c, app="web") if p["spec"]["nodeName"] == "worker-1")
    evict(c, victim["metadata"]["name"])
    c.advance(15)
    fresh = [p for p in pods_with(c, app="web") if p["metadata"]["uid"] != victim["metadata"]["uid"]
             and p["spec"]["nodeName"] == "worker-2"]
    pod_cidr = ipaddress.ip_network(get(c, "nodes", "worker-2")["spec"]["podCIDR"])
    assert len(pods_with(c, app="web")) == 4
    newest = max(fresh, key=lambda p: p["metadata"]["creationTimestamp"])
    assert is_ready(newest)
    assert ipaddress.ip_address(newest["status"]["podIP"]) in pod_cidr


def test_scaling_a_deployment_up_and_down(small_cluster):
    c = small_cluster

    def scale(n):
        c.store.mutate(c.ctx.rtype("apps", "deployments"), "demo", "web", lambda d: d["spec"].__setitem__("replicas", n))
    scale(6)
    c.advance(15)
    assert len([p for p in pods_with(c, app="web") if is_ready(p)]) == 6
    scale(2)
    c.advance(15)
    assert len(pods_with(c, app="web")) == 2
    assert get(c, "deployments", "web")["status"]["replicas"] == 2


def test_a_deployment_rolling_update_keeps_availability_within_its_budget(small_cluster):
    c = small_cluster

    def bump(d):
        d["spec"]["template"]["metadata"]["labels"]["version"] = "2"
    c.store.mutate(c.ctx.rtype("apps", "deployments"), "demo", "web", bump)
    lowest, highest = 4, 4
    for _ in range(80):
        c.advance(0.5)
        pods = live(pods_with(c, app="web"))
        lowest = min(lowest, sum(1 for p in pods if is_ready(p)))
        highest = max(highest, len(pods))
    pods = pods_with(c, app="web")
    # default strategy: maxUnavailable 25% (1 of 4), maxSurge 25% (1 of 4)
    assert lowest >= 3 and highest <= 5
    assert len(pods) == 4 and all(p["metadata"]["labels"].get("version") == "2" and is_ready(p) for p in pods)
    assert get(c, "deployments", "web")["status"]["updatedReplicas"] == 4


def test_a_rolled_deployment_keeps_its_old_replica_set_at_zero(small_cluster):
    c = small_cluster

    def bump(d):
        d["spec"]["template"]["metadata"]["labels"]["version"] = "2"
    c.store.mutate(c.ctx.rtype("apps", "deployments"), "demo", "web", bump)
    c.advance(60)
    sets = [rs for rs in c.store.items(c.ctx.rtype("apps", "replicasets"), "demo")
            if rs["metadata"]["ownerReferences"][0]["name"] == "web"]
    assert sorted(rs["spec"]["replicas"] for rs in sets) == [0, 4]


# ---- StatefulSet and Job --------------------------------------------------------------

def statefulset(name, replicas, namespace="demo"):
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": name, "image": PAUSE}]}}}}


def test_statefulset_pods_get_ordinal_names(small_cluster):
    c = small_cluster
    c.create(statefulset("db", 3))
    c.advance(30)
    pods = pods_with(c, app="db")
    assert sorted(p["metadata"]["name"] for p in pods) == ["db-0", "db-1", "db-2"]
    assert all(is_ready(p) for p in pods)
    assert get(c, "pods", "db-1")["spec"]["hostname"] == "db-1"


def test_statefulset_starts_pods_in_order_one_ready_at_a_time(small_cluster):
    c = small_cluster
    c.create(statefulset("db", 3))
    c.advance(1)
    names = [p["metadata"]["name"] for p in pods_with(c, app="db")]
    assert names == ["db-0"]


def test_a_deleted_statefulset_pod_is_recreated_with_the_same_name(small_cluster):
    c = small_cluster
    c.create(statefulset("db", 2))
    c.advance(30)
    old = get(c, "pods", "db-1")
    c.store.delete(c.ctx.pods, "demo", "db-1")
    c.advance(30)
    new = get(c, "pods", "db-1")
    assert new is not None and new["metadata"]["uid"] != old["metadata"]["uid"] and is_ready(new)


def test_a_job_runs_to_completion(small_cluster):
    c = small_cluster
    c.create({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once", "namespace": "demo"},
              "spec": {"completions": 2, "template": {"spec": {
                  "restartPolicy": "Never",
                  "containers": [{"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", "echo done"]}]}}}})
    c.advance(60)
    job = get(c, "jobs", "once")
    assert job["status"]["succeeded"] == 2
    assert condition(job, "Complete")["status"] == "True"
    pods = [p for p in c.store.items(c.ctx.pods, "demo") if p["metadata"].get("labels", {}).get("job-name") == "once"]
    assert pods and all(p["status"]["phase"] == "Succeeded" for p in pods)


def test_a_failing_job_stops_at_its_backoff_limit(small_cluster):
    c = small_cluster
    c.create({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "doomed", "namespace": "demo"},
              "spec": {"backoffLimit": 1, "template": {"spec": {
                  "restartPolicy": "Never",
                  "containers": [{"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", "exit 3"]}]}}}})
    c.advance(300)
    job = get(c, "jobs", "doomed")
    failed = condition(job, "Failed")
    assert failed["status"] == "True" and failed["reason"] == "BackoffLimitExceeded"
    assert job["status"]["failed"] == 2


# ---- PodDisruptionBudget status -------------------------------------------------------

def budget_status(c, name):
    return get(c, "poddisruptionbudgets", name)["status"]


def numbers(status):
    return status["currentHealthy"], status["desiredHealthy"], status["disruptionsAllowed"], status["expectedPods"]


def test_pdb_with_int_max_unavailable(small_cluster):
    c = small_cluster  # web: 4 replicas, maxUnavailable 1
    assert numbers(budget_status(c, "web")) == (4, 3, 1, 4)


def test_pdb_with_int_min_available(small_cluster):
    c = small_cluster
    c.create(pdb("api-min", {"app": "api"}, minAvailable=1))
    c.advance(2)
    assert numbers(budget_status(c, "api-min")) == (2, 1, 1, 2)


def test_pdb_with_percent_min_available_rounds_up(small_cluster):
    c = small_cluster
    c.create(pdb("web-pct", {"app": "web"}, namespace="demo", minAvailable="60%"))
    c.store.delete(c.ctx.rtype("policy", "poddisruptionbudgets"), "demo", "web")
    c.advance(2)
    # 60% of 4 = 2.4 -> 3 healthy wanted
    assert numbers(budget_status(c, "web-pct")) == (4, 3, 1, 4)


def test_pdb_with_percent_max_unavailable_rounds_up(small_cluster):
    c = small_cluster
    c.create(pdb("web-pct", {"app": "web"}, maxUnavailable="30%"))
    c.store.delete(c.ctx.rtype("policy", "poddisruptionbudgets"), "demo", "web")
    c.advance(2)
    # 30% of 4 = 1.2 -> 2 may be unavailable
    assert numbers(budget_status(c, "web-pct")) == (4, 2, 2, 4)


def test_pdb_counts_only_ready_pods_as_healthy(small_cluster):
    c = small_cluster
    cordon(c, "worker-1")
    cordon(c, "worker-2")
    victim = pods_with(c, app="web")[0]
    c.store.delete(c.ctx.pods, "demo", victim["metadata"]["name"])
    c.advance(10)
    status = budget_status(c, "web")
    assert numbers(status) == (3, 3, 0, 4)
    assert condition(get(c, "poddisruptionbudgets", "web"), "DisruptionAllowed")["status"] == "False"


def test_pdb_never_allows_fault_keeps_disruptions_at_zero(small_cluster):
    c = small_cluster
    c.faults.update({"pdb_never_allows": ["demo/web"]})
    c.advance(2)
    status = budget_status(c, "web")
    assert status["currentHealthy"] == 4 and status["disruptionsAllowed"] == 0


def test_pdb_never_allows_fault_makes_evictions_fail_with_429(small_cluster):
    c = small_cluster
    c.faults.update({"pdb_never_allows": ["demo/web"]})
    c.advance(2)
    victim = pods_with(c, app="web")[0]["metadata"]["name"]
    with pytest.raises(ApiError) as info:
        evict(c, victim)
    assert info.value.code == 429
    assert not get(c, "pods", victim)["metadata"].get("deletionTimestamp")


def test_lifting_pdb_never_allows_restores_disruptions(small_cluster):
    c = small_cluster
    c.faults.update({"pdb_never_allows": ["demo/web"]})
    c.advance(2)
    c.faults.update({"pdb_never_allows": []})
    c.advance(2)
    assert budget_status(c, "web")["disruptionsAllowed"] == 1


def test_pdb_status_observes_the_budgets_generation(small_cluster):
    c = small_cluster
    budget = get(c, "poddisruptionbudgets", "web")
    assert budget["status"]["observedGeneration"] == budget["metadata"]["generation"]


# ---- node lifecycle and IPAM ----------------------------------------------------------

def not_ready(c, node):
    c.faults.update({"nodes_not_ready": [node]})


def taint_added_at(c, node, key="node.kubernetes.io/unreachable"):
    from migrate.sim.clock import parse_rfc3339
    taint = next(t for t in get(c, "nodes", node)["spec"]["taints"] if t["key"] == key and t["effect"] == "NoExecute")
    return parse_rfc3339(taint["timeAdded"])


def evicted(c, name):
    p = get(c, "pods", name)
    return p is None or bool(p["metadata"].get("deletionTimestamp"))


def test_a_silent_node_stays_ready_for_the_monitor_grace_period(small_cluster):
    c = small_cluster
    not_ready(c, "worker-1")
    c.advance(30)
    assert condition(get(c, "nodes", "worker-1"), "Ready")["status"] == "True"


def test_a_node_whose_kubelet_stops_goes_ready_unknown(small_cluster):
    c = small_cluster
    not_ready(c, "worker-1")
    c.advance(45)
    node = get(c, "nodes", "worker-1")
    ready = condition(node, "Ready")
    assert (ready["status"], ready["reason"]) == ("Unknown", "NodeStatusUnknown")
    assert ready["message"] == "Kubelet stopped posting node status."
    assert {cond["status"] for cond in node["status"]["conditions"]} == {"Unknown"}


def test_pods_on_a_silent_node_are_marked_not_ready(small_cluster):
    c = small_cluster
    not_ready(c, "worker-1")
    c.advance(45)
    on_node = [p for p in pods_with(c, app="web") if p["spec"]["nodeName"] == "worker-1"]
    assert on_node and not any(is_ready(p) for p in on_node)
    assert budget_status(c, "web")["currentHealthy"] == 2


def test_an_unreachable_node_gets_the_unreachable_taints(small_cluster):
    c = small_cluster
    not_ready(c, "worker-1")
    c.advance(45)
    taints = get(c, "nodes", "worker-1")["spec"]["taints"]
    assert {(t["key"], t["effect"]) for t in taints} == {("node.kubernetes.io/unreachable", "NoSchedule"),
                                                        ("node.kubernetes.io/unreachable", "NoExecute")}


def test_pods_on_an_unreachable_node_are_evicted_after_their_toleration_seconds(small_cluster):
    c = small_cluster
    c.create(pod("quick", nodeSelector={"kubernetes.io/hostname": "worker-1"},
                 tolerations=[{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                               "tolerationSeconds": 60}]))
    c.advance(5)
    not_ready(c, "worker-1")
    c.advance(45)
    tainted = taint_added_at(c, "worker-1")
    c.advance(tainted + 59 - c.clock.now())
    assert not evicted(c, "quick")
    c.advance(2)
    assert evicted(c, "quick")
    assert events_for(c, "quick", "TaintManagerEviction")


def test_a_pod_tolerating_unreachable_with_zero_seconds_is_evicted_at_once(small_cluster):
    c = small_cluster
    c.create(pod("fragile", nodeSelector={"kubernetes.io/hostname": "worker-1"},
                 tolerations=[{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                               "tolerationSeconds": 0}]))
    c.advance(5)
    not_ready(c, "worker-1")
    c.advance(45)
    assert evicted(c, "fragile")


def test_a_pod_tolerating_unreachable_forever_is_never_evicted(small_cluster):
    c = small_cluster
    c.create(pod("stubborn", nodeSelector={"kubernetes.io/hostname": "worker-1"},
                 tolerations=[{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}]))
    c.advance(5)
    not_ready(c, "worker-1")
    c.advance(900)
    assert not evicted(c, "stubborn")


def test_evicted_pods_of_an_unreachable_node_stay_terminating(small_cluster):
    c = small_cluster
    not_ready(c, "worker-1")
    c.advance(400)
    # nobody confirms the kill while the kubelet is gone
    stuck = [p for p in pods_with(c, app="web") if p["spec"]["nodeName"] == "worker-1"]
    assert stuck and all(p["metadata"].get("deletionTimestamp") for p in stuck)


def test_daemon_pods_stay_on_an_unreachable_node(small_cluster):
    c = small_cluster
    flannel = [p for p in c.store.items(c.ctx.pods, "kube-flannel") if p["spec"]["nodeName"] == "worker-1"]
    not_ready(c, "worker-1")
    c.advance(400)
    still = [p for p in c.store.items(c.ctx.pods, "kube-flannel") if p["spec"]["nodeName"] == "worker-1"]
    assert [p["metadata"]["uid"] for p in still] == [p["metadata"]["uid"] for p in flannel]
    assert not still[0]["metadata"].get("deletionTimestamp")


def test_deployment_pods_from_an_unreachable_node_come_back_elsewhere_after_300s(small_cluster):
    c = small_cluster
    not_ready(c, "worker-1")
    c.advance(360)
    running = [p for p in live(pods_with(c, app="web")) if is_ready(p)]
    assert len(running) >= 4 and all(p["spec"]["nodeName"] == "worker-2" for p in running)


def test_a_node_recovers_and_loses_its_taints(small_cluster):
    c = small_cluster
    not_ready(c, "worker-1")
    c.advance(50)
    c.faults.update({"nodes_not_ready": []})
    c.advance(10)
    node = get(c, "nodes", "worker-1")
    assert {cond["type"]: cond["status"] for cond in node["status"]["conditions"]} == {
        "Ready": "True", "MemoryPressure": "False", "DiskPressure": "False", "PIDPressure": "False"}
    assert not [t for t in node["spec"].get("taints") or [] if t["key"].startswith("node.kubernetes.io/")]


def test_pods_of_a_recovered_node_are_ready_again(small_cluster):
    c = small_cluster
    not_ready(c, "worker-1")
    c.advance(50)
    c.faults.update({"nodes_not_ready": []})
    c.advance(10)
    assert all(is_ready(p) for p in pods_with(c, app="web"))


def new_node(c, name, ip):
    from migrate.sim import build
    c.ctx.hosts[name] = build.new_host(name, f"{ip}/24", 1500)
    return c.create({"apiVersion": "v1", "kind": "Node",
                     "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
                     "spec": {},
                     "status": {"addresses": [{"type": "InternalIP", "address": ip}]}})


def test_node_ipam_gives_a_joining_node_the_next_free_pod_cidr(small_cluster):
    c = small_cluster
    new_node(c, "worker-3", "192.168.10.13")
    c.advance(5)
    node = get(c, "nodes", "worker-3")
    assert node["spec"]["podCIDR"] == "10.244.3.0/24"
    assert node["spec"]["podCIDRs"] == ["10.244.3.0/24"]


def test_node_ipam_reports_when_no_range_is_left(small_cluster):
    c = small_cluster
    c.ctx.cluster_cidr = "10.244.0.0/22"  # room for four /24 ranges, three taken
    new_node(c, "worker-3", "192.168.10.13")
    new_node(c, "worker-4", "192.168.10.14")
    c.advance(5)
    assert get(c, "nodes", "worker-3")["spec"]["podCIDR"] == "10.244.3.0/24"
    assert "podCIDR" not in get(c, "nodes", "worker-4")["spec"]
    [event] = events_for(c, "worker-4", "CIDRNotAvailable")
    assert event["message"] == "Node worker-4 status is now: CIDRNotAvailable"


def test_node_ipam_reuses_the_range_of_a_deleted_node(small_cluster):
    c = small_cluster
    c.store.delete(c.ctx.nodes, None, "worker-1")
    c.advance(2)
    new_node(c, "worker-9", "192.168.10.19")
    c.advance(5)
    assert get(c, "nodes", "worker-9")["spec"]["podCIDR"] == "10.244.1.0/24"


def test_a_joining_node_runs_flannel_and_becomes_ready(small_cluster):
    c = small_cluster
    new_node(c, "worker-3", "192.168.10.13")
    c.advance(30)
    node = get(c, "nodes", "worker-3")
    assert condition(node, "Ready")["status"] == "True"
    assert c.ctx.hosts["worker-3"].read_file("/run/flannel/subnet.env").count("FLANNEL_SUBNET=10.244.3.1/24") == 1


# pkg/controller/podgc/gc_controller.go (v1.26) gcOrphaned: checked every 20 s, deleted after a 40 s quarantine.
def test_pods_of_a_deleted_node_are_garbage_collected(small_cluster):
    c = small_cluster
    c.store.delete(c.ctx.nodes, None, "worker-1")
    c.advance(75)
    assert not [p for p in c.store.items(c.ctx.pods) if p["spec"].get("nodeName") == "worker-1"]
    assert len([p for p in pods_with(c, app="web") if is_ready(p)]) == 4


def test_jdcloud_prod_scheduler_keeps_workloads_off_control_planes():
    c = SimCluster("jdcloud-prod")
    control = {n["metadata"]["name"] for n in c.store.items(c.ctx.nodes)
               if "node-role.kubernetes.io/control-plane" in n["metadata"]["labels"]}
    for namespace in ("shop", "payments"):
        for p in c.store.items(c.ctx.pods, namespace):
            assert p["spec"]["nodeName"] not in control


# pkg/controller/nodelifecycle/node_lifecycle_controller.go (v1.26) doNoScheduleTaintingPass, run from the node
# update queue (TaintNodesByCondition): a cordoned node gets node.kubernetes.io/unschedulable:NoSchedule, stamped
# by SwapNodeControllerTaint, within the same sync as the cordon; an uncordon takes it away.
def test_a_cordoned_node_gets_the_unschedulable_taint(small_cluster):
    c = small_cluster
    cordon(c, "worker-1")
    c.advance(0)
    taints = get(c, "nodes", "worker-1")["spec"]["taints"]
    assert [(t["key"], t["effect"]) for t in taints] == [("node.kubernetes.io/unschedulable", "NoSchedule")]
    assert taints[0]["timeAdded"]


def test_an_uncordoned_node_loses_the_unschedulable_taint(small_cluster):
    c = small_cluster
    cordon(c, "worker-1")
    c.advance(1)
    cordon(c, "worker-1", on=False)
    c.advance(0)
    assert not get(c, "nodes", "worker-1")["spec"].get("taints")


def test_the_unschedulable_taint_joins_the_taints_a_node_already_has(small_cluster):
    c = small_cluster
    taints = get(c, "nodes", "control-plane-1")["spec"]["taints"]
    cordon(c, "control-plane-1")
    c.advance(0)
    assert [t["key"] for t in get(c, "nodes", "control-plane-1")["spec"]["taints"]] == [
        *(t["key"] for t in taints), "node.kubernetes.io/unschedulable"]
