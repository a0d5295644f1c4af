"""Status as the wire carries it: fields tagged `omitempty` in k8s.io/api (apps/v1, batch/v1, policy/v1
types.go) are absent when zero, the others are always there. Checked against kube-apiserver v1.26.5."""
import json

import pytest

TEMPLATE = {"metadata": {"labels": {"app": "idle"}},
            "spec": {"nodeSelector": {"example.com/nowhere": "true"},
                     "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10"}]}}


@pytest.fixture
def status_of(served_small, http):
    def create_and_read(path, body):
        status, _, answer = http("POST", path, body)
        assert status == 201, answer
        served_small.cluster.advance(5)
        status, _, answer = http("GET", f"{path}/{body['metadata']['name']}")
        return json.loads(answer)["status"]
    return create_and_read


def _workload(name, **spec):
    return {"metadata": {"name": name}, "spec": {"selector": {"matchLabels": {"app": "idle"}}, "template": TEMPLATE,
                                                 **spec}}


def test_a_daemonset_on_no_node_shows_only_the_counts_without_omitempty(status_of):
    status = status_of("/apis/apps/v1/namespaces/default/daemonsets", _workload("idle"))
    assert status == {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                      "numberReady": 0, "observedGeneration": 1}


def test_a_deployment_scaled_to_zero_shows_no_replica_counts(status_of):
    status = status_of("/apis/apps/v1/namespaces/default/deployments", _workload("idle", replicas=0))
    assert not {"replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"} & set(status)
    assert status["observedGeneration"] == 1


def test_a_replicaset_scaled_to_zero_keeps_replicas_zero_and_drops_the_rest(status_of):
    status = status_of("/apis/apps/v1/namespaces/default/replicasets", _workload("idle", replicas=0))
    assert status == {"replicas": 0, "observedGeneration": 1}


def test_a_statefulset_scaled_to_zero_keeps_replicas_and_available_replicas(status_of):
    status = status_of("/apis/apps/v1/namespaces/default/statefulsets", _workload("idle", replicas=0, serviceName="idle"))
    assert (status["replicas"], status["availableReplicas"]) == (0, 0)
    assert not {"readyReplicas", "currentReplicas", "updatedReplicas"} & set(status)


# PrepareForCreate resets a new workload's status to the zero struct, which encodes its fields without omitempty
# (a v1.26.5 apiserver answered these to a create carrying a status).
@pytest.mark.parametrize("path, body, expected", [
    ("/apis/apps/v1/namespaces/default/daemonsets", _workload("new", ), {
        "currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0}),
    ("/apis/apps/v1/namespaces/default/statefulsets", _workload("new", serviceName="new"),
     {"replicas": 0, "availableReplicas": 0}),
    ("/apis/apps/v1/namespaces/default/replicasets", _workload("new"), {"replicas": 0}),
    ("/apis/apps/v1/namespaces/default/deployments", _workload("new"), {}),
    ("/apis/policy/v1/namespaces/default/poddisruptionbudgets",
     {"metadata": {"name": "new"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "idle"}}}},
     {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}),
])
def test_a_new_object_answers_with_its_zero_status(http, path, body, expected):
    body = {**body, "status": {"numberReady": 5, "replicas": 3, "currentHealthy": 2}}
    status, _, answer = http("POST", path + "?dryRun=All", body)
    assert status == 201, answer
    assert json.loads(answer)["status"] == expected
