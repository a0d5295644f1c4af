"""Delete and update preconditions as a kube-apiserver v1.26.5 words their conflicts (store.py
delete_precondition_failed and uid_precondition_failed; tests/test_api_parity.py checks the ConfigMap and
Lease cases against one, these answers were seen on one too)."""
import pytest

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
WIDGET_CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
              "metadata": {"name": "widgets.example.com"},
              "spec": {"group": "example.com", "scope": "Namespaced",
                       "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                       "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                           "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}


@pytest.fixture
def rest(served_small):
    from realapi import Rest
    cluster = served_small.cluster
    return Rest(cluster.server.url, cluster.credentials.admin_token)


def test_an_eviction_whose_uid_precondition_does_not_match_is_409_on_the_pod_kind(rest, served_small):
    pods = "/api/v1/namespaces/default/pods"
    created = rest.request("POST", pods, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "z1"},
                                          "spec": {"containers": [{"name": "main", "image": "pause"}]}}).json
    served_small.cluster.advance(10)

    answer = rest.request("POST", f"{pods}/z1/eviction", {
        "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "z1"},
        "deleteOptions": {"preconditions": {"uid": "nope"}}})

    assert answer.status == 409, answer
    assert answer.json["message"] == (f'Operation cannot be fulfilled on Pod "z1": the UID in the precondition (nope) '
                                      f'does not match the UID in record ({created["metadata"]["uid"]}). The object '
                                      f'might have been deleted and then recreated')
    assert answer.json["details"] == {"name": "z1", "kind": "Pod"}


def test_a_namespace_delete_says_precondition_failed_on_the_resource(rest):
    ns = rest.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": {"name": "p1"}}).json

    answer = rest.request("DELETE", "/api/v1/namespaces/p1", {"preconditions": {"uid": "nope"}})

    assert answer.status == 409, answer
    assert answer.json["message"] == ('Operation cannot be fulfilled on namespaces "p1": Precondition failed: UID in '
                                      f'precondition: nope, UID in object meta: {ns["metadata"]["uid"]}')
    assert answer.json["details"] == {"name": "p1", "kind": "namespaces"}


def test_a_crd_and_its_custom_resources_word_their_delete_preconditions_apart(rest, served_small):
    rest.request("POST", CRDS, WIDGET_CRD)
    served_small.cluster.advance(2)
    crd = rest.request("GET", f"{CRDS}/widgets.example.com").json  # established since
    widget = rest.request("POST", "/apis/example.com/v1/namespaces/default/widgets", {
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}).json

    on_crd = rest.request("DELETE", f"{CRDS}/widgets.example.com", {"preconditions": {"resourceVersion": "1"}})
    on_widget = rest.request("DELETE", "/apis/example.com/v1/namespaces/default/widgets/w",
                             {"preconditions": {"resourceVersion": "1"}})

    assert (on_crd.status, on_widget.status) == (409, 409)
    assert on_crd.json["message"] == (
        'Operation cannot be fulfilled on customresourcedefinitions.apiextensions.k8s.io "widgets.example.com": '
        f'Precondition failed: ResourceVersion in precondition: 1, ResourceVersion in object meta: '
        f'{crd["metadata"]["resourceVersion"]}')
    assert on_widget.json["message"] == (
        'Operation cannot be fulfilled on Widget.example.com "w": the ResourceVersion in the precondition (1) does '
        f'not match the ResourceVersion in record ({widget["metadata"]["resourceVersion"]}). The object might have '
        'been modified')
    assert on_widget.json["details"] == {"name": "w", "group": "example.com", "kind": "Widget"}


def test_an_update_of_a_custom_resource_with_another_uid_names_its_key_under_the_group(rest, served_small):
    rest.request("POST", CRDS, WIDGET_CRD)
    served_small.cluster.advance(2)
    path = "/apis/example.com/v1/namespaces/default/widgets/w"
    widget = rest.request("POST", "/apis/example.com/v1/namespaces/default/widgets", {
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}).json

    answer = rest.request("PUT", path, {**widget, "metadata": {**widget["metadata"], "uid": "nope"}})

    assert answer.status == 409, answer
    assert answer.json["message"] == (
        'Operation cannot be fulfilled on widgets.example.com "w": StorageError: invalid object, Code: 4, Key: '
        '/registry/example.com/widgets/default/w, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID '
        f'in precondition: nope, UID in object meta: {widget["metadata"]["uid"]}')
