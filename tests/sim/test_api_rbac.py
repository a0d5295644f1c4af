"""Authentication and RBAC through the official client: bearer tokens, SelfSubjectAccessReview
answered from the RBAC objects in the store, and 403 Forbidden as the real authorizer words it.

The viewer token belongs to user `sim-viewer` in group `sim:viewers`, bound by the ClusterRoleBinding
`sim-viewers` to the read-only ClusterRole `view`."""
import json

import pytest
from kubernetes import client

VIEWER_GRANT = 'RBAC: allowed by ClusterRoleBinding "sim-viewers" of ClusterRole "view" to Group "sim:viewers"'


@pytest.fixture
def viewer(served_small):
    return served_small.api_client(token=served_small.cluster.credentials.viewer_token)


def review(api_client, **attributes):
    key = "non_resource_attributes" if "path" in attributes else "resource_attributes"
    model = client.V1NonResourceAttributes if "path" in attributes else client.V1ResourceAttributes
    body = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(**{key: model(**attributes)}))
    return client.AuthorizationV1Api(api_client).create_self_subject_access_review(body).status


# ---- SelfSubjectAccessReview ----------------------------------------------------------------

def test_access_review_allows_the_viewer_to_list_pods(viewer):
    status = review(viewer, verb="list", resource="pods", namespace="demo")
    assert status.allowed is True
    assert status.reason == VIEWER_GRANT


def test_access_review_denies_the_viewer_creating_pods(viewer):
    status = review(viewer, verb="create", resource="pods", namespace="demo")
    assert status.allowed is False


def test_access_review_denies_the_viewer_reading_secrets(viewer):
    assert review(viewer, verb="get", resource="secrets", namespace="kube-system").allowed is False


def test_access_review_denies_the_viewer_evicting_pods(viewer):
    assert review(viewer, verb="create", resource="pods", subresource="eviction", namespace="demo").allowed is False


def test_access_review_allows_the_viewer_reading_pod_logs(viewer):
    assert review(viewer, verb="get", resource="pods", subresource="log", namespace="demo").allowed is True


def test_access_review_denies_a_non_resource_path_no_rule_grants(viewer):
    assert review(viewer, verb="get", path="/metrics").allowed is False


def test_access_review_allows_the_admin_everything(admin_client):
    status = review(admin_client, verb="delete", resource="nodes")
    assert status.allowed is True


def test_access_review_follows_rbac_objects_created_later(viewer, admin_client):
    rbac_api = client.RbacAuthorizationV1Api(admin_client)
    rbac_api.create_namespaced_role("demo", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "evictor"},
        "rules": [{"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]}]})
    rbac_api.create_namespaced_role_binding("demo", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "viewer-evicts"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "evictor"},
        "subjects": [{"kind": "User", "name": "sim-viewer", "apiGroup": "rbac.authorization.k8s.io"}]})
    status = review(viewer, verb="create", resource="pods", subresource="eviction", namespace="demo")
    assert status.allowed is True
    assert status.reason == 'RBAC: allowed by RoleBinding "viewer-evicts/demo" of Role "evictor" to User "sim-viewer"'
    assert review(viewer, verb="create", resource="pods", subresource="eviction",
                  namespace="default").allowed is False


def test_an_access_review_without_attributes_is_422(http, served_small):
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {}}
    status, _, raw = http("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body,
                          token=served_small.cluster.credentials.viewer_token)
    assert status == 422
    assert json.loads(raw)["details"]["causes"][0]["field"] == "spec.resourceAttributes"


# ---- enforcement -----------------------------------------------------------------------------

def test_the_viewer_can_list_pods(viewer):
    assert client.CoreV1Api(viewer).list_namespaced_pod("demo").items


def test_the_viewer_gets_403_creating_a_configmap(viewer, api_error):
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="nope"))
    status, answer = api_error(client.CoreV1Api(viewer).create_namespaced_config_map, "demo", body)
    assert status == 403
    assert answer["reason"] == "Forbidden"
    assert answer["message"] == ('configmaps is forbidden: User "sim-viewer" cannot create resource "configmaps" '
                                 'in API group "" in the namespace "demo"')
    assert answer["details"] == {"kind": "configmaps"}


def test_forbidden_names_the_group_and_the_object(viewer, api_error):
    status, answer = api_error(client.AppsV1Api(viewer).delete_namespaced_deployment, "web", "demo")
    assert status == 403
    assert answer["message"] == ('deployments.apps "web" is forbidden: User "sim-viewer" cannot delete resource '
                                 '"deployments" in API group "apps" in the namespace "demo"')
    assert answer["details"] == {"name": "web", "group": "apps", "kind": "deployments"}


def test_forbidden_at_the_cluster_scope(viewer, api_error):
    status, answer = api_error(client.RbacAuthorizationV1Api(viewer).list_cluster_role)
    assert status == 403
    assert answer["message"] == ('clusterroles.rbac.authorization.k8s.io is forbidden: User "sim-viewer" cannot list '
                                 'resource "clusterroles" in API group "rbac.authorization.k8s.io" '
                                 "at the cluster scope")


def test_a_forbidden_write_changes_nothing(viewer, core_api, api_error):
    before = core_api.read_namespace("demo").metadata.resource_version
    api_error(client.CoreV1Api(viewer).patch_namespace, "demo", {"metadata": {"labels": {"x": "y"}}})
    assert core_api.read_namespace("demo").metadata.resource_version == before


def test_an_invalid_token_is_401_unauthorized(served_small, api_error):
    stranger = served_small.api_client(token="not-a-token")
    status, answer = api_error(client.CoreV1Api(stranger).list_namespaced_pod, "demo")
    assert status == 401
    assert answer == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
