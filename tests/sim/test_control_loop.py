"""The control loop survives whatever a controller, kubelet or agent raises: the real components log
the error and retry, so one bad object never stops the cluster. Errors are kept on the cluster
(`SimCluster.errors`) for a test to read."""
from migrate.sim.cluster import SimCluster
from migrate.sim.loop import Controller

PAUSE = "registry.k8s.io/pause:3.10"


def pod(name, namespace="default", **spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [{"name": "main", "image": PAUSE}], **spec}}


class Broken(Controller):
    """A controller whose every sync raises."""

    def sync(self, now):
        raise RuntimeError("broken on purpose")


def test_a_controller_that_raises_does_not_stop_the_others(small_cluster):
    small_cluster.loop.controllers.insert(0, Broken(small_cluster.ctx))
    small_cluster.create(pod("still-runs"))
    small_cluster.advance(10)
    assert small_cluster.store.find(small_cluster.ctx.pods, "default", "still-runs")["status"]["phase"] == "Running"


def test_a_controllers_error_is_recorded_with_its_component_and_message(small_cluster):
    small_cluster.loop.controllers.insert(0, Broken(small_cluster.ctx))
    small_cluster.advance(1)
    error = small_cluster.errors[-1]
    assert error.component == "Broken"
    assert "RuntimeError: broken on purpose" in error.message
    assert error.time == small_cluster.clock.now()


def test_a_timer_that_raises_does_not_stop_the_loop(small_cluster):
    def boom(_now):
        raise ValueError("timer failed")
    small_cluster.loop.timers.call_at(small_cluster.clock.now() + 1, boom)
    small_cluster.create(pod("after-the-timer"))
    small_cluster.advance(10)
    assert small_cluster.store.find(small_cluster.ctx.pods, "default", "after-the-timer")["status"]["phase"] == "Running"
    assert any("ValueError: timer failed" in e.message for e in small_cluster.errors)


def test_a_healthy_cluster_records_no_errors(small_cluster):
    small_cluster.create(pod("plain"))
    small_cluster.advance(30)
    assert small_cluster.errors == []


# ---- a pod bound to a node that does not exist -------------------------------------------------

def test_a_pod_bound_to_a_missing_node_stays_pending_and_breaks_nothing(small_cluster):
    # No kubelet owns the node, so nobody ever reports on the pod.
    small_cluster.create(pod("ghost-bound", nodeName="no-such-node"))
    small_cluster.advance(10)
    assert small_cluster.store.find(small_cluster.ctx.pods, "default", "ghost-bound")["status"]["phase"] == "Pending"
    assert small_cluster.errors == []


# k8s.io/kubernetes pkg/controller/podgc/gc_controller.go (v1.26): gcOrphaned runs every gcCheckPeriod
# (20 s), puts the unknown node in quarantine for quarantineTime (40 s), then deletes its pods.
def test_the_pod_gc_keeps_a_pod_on_a_missing_node_through_its_quarantine(small_cluster):
    small_cluster.create(pod("orphan", nodeName="no-such-node"))
    small_cluster.advance(39)
    assert small_cluster.store.find(small_cluster.ctx.pods, "default", "orphan") is not None


def test_the_pod_gc_deletes_a_pod_on_a_missing_node_after_its_quarantine(small_cluster):
    small_cluster.create(pod("orphan", nodeName="no-such-node"))
    small_cluster.advance(61)
    assert small_cluster.store.find(small_cluster.ctx.pods, "default", "orphan") is None


def test_the_pod_gc_marks_an_orphan_failed_with_a_disruption_condition_before_deleting_it(small_cluster):
    seen = []
    small_cluster.store.listeners.append(lambda e: seen.append(e) if e.key == ("", "pods") else None)
    small_cluster.create(pod("orphan", nodeName="no-such-node"))
    small_cluster.advance(61)
    last = [e.obj for e in seen if e.type == "MODIFIED" and e.obj["metadata"]["name"] == "orphan"][-1]
    assert last["status"]["phase"] == "Failed"
    assert {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
            "message": "PodGC: node no longer exists"}.items() <= next(
        c for c in last["status"]["conditions"] if c["type"] == "DisruptionTarget").items()


def test_the_pod_gc_deletes_the_pods_of_a_deleted_node_after_the_quarantine():
    c = SimCluster("small")
    victims = [p["metadata"]["name"] for p in c.store.items(c.ctx.pods) if p["spec"].get("nodeName") == "worker-2"]
    assert victims
    c.store.delete(c.ctx.nodes, None, "worker-2")
    c.advance(1)
    assert [p for p in c.store.items(c.ctx.pods) if p["metadata"]["name"] in victims]
    c.advance(60)
    assert not [p for p in c.store.items(c.ctx.pods) if p["spec"].get("nodeName") == "worker-2"]


def test_a_pod_whose_sync_raises_does_not_hold_up_the_kubelets_other_pods(small_cluster):
    kubelets = small_cluster.kubelets
    real = kubelets._sync_pod

    def sync(key, now):
        if key == ("default", "a-bad-one"):
            raise RuntimeError("this pod's sync fails")
        real(key, now)
    kubelets._sync_pod = sync
    small_cluster.create(pod("a-bad-one"))
    small_cluster.create(pod("b-good-one"))
    small_cluster.advance(10)
    assert small_cluster.store.find(small_cluster.ctx.pods, "default", "b-good-one")["status"]["phase"] == "Running"
    assert any(e.component == "kubelet pod default/a-bad-one" for e in small_cluster.errors)
