"""A PUT of a missing object creates it where the registry's strategy allows create-on-update
(store.CREATE_ON_UPDATE); answers seen on a kube-apiserver v1.26.5 (tests/test_api_parity.py checks the
Lease, Endpoints, Role and ConfigMap cases against one)."""
import pytest

LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"


@pytest.fixture
def rest(served_small):
    from realapi import Rest
    cluster = served_small.cluster
    return Rest(cluster.server.url, cluster.credentials.admin_token)


def lease(name, **meta):
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name, **meta},
            "spec": {"holderIdentity": "alice"}}


def test_a_put_create_ignores_a_resource_version_in_the_body(rest):
    answer = rest.request("PUT", f"{LEASES}/a", lease("a", resourceVersion="5"))

    assert answer.status == 201, answer
    assert answer.json["metadata"]["resourceVersion"] != "5"


def test_a_put_create_with_a_uid_is_409_as_the_precondition_meets_an_empty_object(rest):
    answer = rest.request("PUT", f"{LEASES}/a", lease("a", uid="abc"))

    assert answer.status == 409, answer
    assert answer.json["message"] == (
        'Operation cannot be fulfilled on leases.coordination.k8s.io "a": StorageError: invalid object, Code: 4, '
        "Key: /registry/leases/default/a, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in "
        "precondition: abc, UID in object meta: ")
    assert rest.request("GET", f"{LEASES}/a").status == 404


def test_a_dry_run_put_create_answers_201_and_stores_nothing(rest):
    answer = rest.request("PUT", f"{LEASES}/a?dryRun=All", lease("a"))

    assert answer.status == 201, answer
    assert "resourceVersion" not in answer.json["metadata"]
    assert rest.request("GET", f"{LEASES}/a").status == 404


def test_a_put_create_in_a_missing_namespace_is_404_for_the_namespace(rest):
    answer = rest.request("PUT", "/apis/coordination.k8s.io/v1/namespaces/nowhere/leases/a", lease("a"))

    assert answer.status == 404, answer
    assert answer.json["message"] == 'namespaces "nowhere" not found'


def test_a_put_of_a_missing_deployment_is_404(rest):
    answer = rest.request("PUT", "/apis/apps/v1/namespaces/default/deployments/d", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
            "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "a", "image": "x"}]}}}})

    assert answer.status == 404, answer
    assert answer.json["message"] == 'deployments.apps "d" not found'
