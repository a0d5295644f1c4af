"""Pod deletion as the generic registry does it for a graceful strategy (store.py _mark_graceful): every pod
delete is graceful, period 0 included, so the pod is written marked for deletion before it goes. Seen on a
kube-apiserver v1.26.5: a grace-0 delete answers the marked pod, and a watch sees MODIFIED then DELETED;
tests/test_api_parity.py checks the dry-run answer against one."""
import pytest

from migrate.sim.clock import parse_rfc3339

PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture
def rest(served_small):
    from realapi import Rest
    cluster = served_small.cluster
    return Rest(cluster.server.url, cluster.credentials.admin_token)


@pytest.fixture
def running(rest, served_small):
    """A pod the scheduler bound and its kubelet started; its path."""
    rest.request("POST", PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "worker"},
                                "spec": {"terminationGracePeriodSeconds": 30,
                                         "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.9"}]}})
    served_small.cluster.run_until(lambda: rest.request("GET", f"{PODS}/worker").json["status"].get("phase")
                                   == "Running", 60)
    return f"{PODS}/worker"


def test_a_grace_zero_delete_writes_the_marked_pod_then_deletes_it(rest, served_small, running):
    store = served_small.cluster.store
    before = rest.request("GET", running).json
    since = int(before["metadata"]["resourceVersion"])

    answer = rest.request("DELETE", running, {"gracePeriodSeconds": 0})

    assert answer.status == 200, answer
    meta = answer.json["metadata"]
    assert meta["deletionGracePeriodSeconds"] == 0 and meta["deletionTimestamp"]
    events, _ = store.events_since(since, ("", "pods"))
    mine = [(e.type, e.obj["metadata"].get("deletionGracePeriodSeconds")) for e in events
            if e.obj["metadata"]["name"] == "worker"]
    assert mine == [("MODIFIED", 0), ("DELETED", 0)]
    assert meta["resourceVersion"] == str(events[-1].rv)
    assert rest.request("GET", running).status == 404


def test_a_shorter_grace_period_moves_the_deletion_timestamp_by_the_difference(rest, running):
    first = rest.request("DELETE", running, {"gracePeriodSeconds": 30}).json["metadata"]

    second = rest.request("DELETE", running, {"gracePeriodSeconds": 10}).json["metadata"]

    assert second["deletionGracePeriodSeconds"] == 10
    assert parse_rfc3339(second["deletionTimestamp"]) == parse_rfc3339(first["deletionTimestamp"]) - 20


def test_a_delete_while_a_graceful_deletion_is_pending_writes_nothing(rest, running):
    first = rest.request("DELETE", running, {"gracePeriodSeconds": 30}).json["metadata"]

    again = rest.request("DELETE", running, {"gracePeriodSeconds": 45}).json["metadata"]

    assert again["resourceVersion"] == first["resourceVersion"]
    assert (again["deletionTimestamp"], again["deletionGracePeriodSeconds"]) == (first["deletionTimestamp"], 30)
