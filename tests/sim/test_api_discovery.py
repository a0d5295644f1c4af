"""Discovery of the simulated API server and its answer to unknown paths, through the official client."""
import json

from kubernetes import client


def resources_by_name(resource_list):
    return {r.name: r for r in resource_list.resources}


def test_version_reports_a_kubernetes_release(admin_client):
    info = client.VersionApi(admin_client).get_code()
    assert info.major == "1"
    assert info.minor.isdigit()
    assert info.git_version.startswith(f"v1.{info.minor}.")


def test_core_api_offers_v1(admin_client):
    versions = client.CoreApi(admin_client).get_api_versions()
    assert versions.kind == "APIVersions"
    assert versions.versions == ["v1"]


def test_apis_lists_the_builtin_groups_with_preferred_versions(admin_client):
    groups = {g.name: g for g in client.ApisApi(admin_client).get_api_versions().groups}
    for name in ("apps", "batch", "policy", "networking.k8s.io", "coordination.k8s.io", "rbac.authorization.k8s.io",
                 "apiextensions.k8s.io", "authorization.k8s.io"):
        assert name in groups
    assert "" not in groups  # the core group is served under /api, not listed under /apis
    assert groups["apps"].preferred_version.group_version == "apps/v1"
    assert [v.group_version for v in groups["policy"].versions] == ["policy/v1"]


def test_group_endpoint_describes_that_group(admin_client):
    group = client.AppsApi(admin_client).get_api_group()
    assert group.name == "apps"
    assert group.preferred_version.version == "v1"


def test_core_v1_lists_namespaced_and_cluster_scoped_resources(core_api):
    resources = resources_by_name(core_api.get_api_resources())
    assert resources["pods"].kind == "Pod"
    assert resources["pods"].namespaced is True
    assert "po" in resources["pods"].short_names
    assert {"create", "delete", "get", "list", "patch", "update", "watch"} <= set(resources["pods"].verbs)
    assert resources["nodes"].namespaced is False
    assert resources["namespaces"].namespaced is False


def test_pods_eviction_is_listed_as_policy_v1_eviction(core_api):
    eviction = resources_by_name(core_api.get_api_resources())["pods/eviction"]
    assert (eviction.group, eviction.version, eviction.kind) == ("policy", "v1", "Eviction")
    assert eviction.verbs == ["create"]
    assert eviction.namespaced is True


def test_pods_log_and_status_subresources_are_listed(core_api):
    resources = resources_by_name(core_api.get_api_resources())
    assert resources["pods/log"].verbs == ["get"]
    assert set(resources["pods/status"].verbs) == {"get", "patch", "update"}


def test_deployments_scale_is_listed_as_autoscaling_v1_scale(apps_api):
    scale = resources_by_name(apps_api.get_api_resources())["deployments/scale"]
    assert (scale.group, scale.version, scale.kind) == ("autoscaling", "v1", "Scale")


def test_apps_v1_lists_the_workload_kinds(apps_api):
    resources = resources_by_name(apps_api.get_api_resources())
    assert {"daemonsets", "deployments", "replicasets", "statefulsets"} <= set(resources)
    assert resources["daemonsets"].kind == "DaemonSet"
    assert resources["daemonsets"].short_names == ["ds"]


def test_unknown_path_is_404_with_a_status_body(http):
    status, headers, body = http("GET", "/no/such/path")
    assert status == 404
    assert headers["Content-Type"] == "application/json"
    answer = json.loads(body)
    assert answer["kind"] == "Status"
    assert answer["status"] == "Failure"
    assert answer["reason"] == "NotFound"
    assert answer["code"] == 404
    assert answer["message"] == "the server could not find the requested resource"


def test_unknown_group_is_404_not_found(http):
    status, _, body = http("GET", "/apis/widgets.example.com/v1")
    assert status == 404
    assert json.loads(body)["reason"] == "NotFound"


def test_unknown_resource_in_a_known_group_version_is_404_not_found(http):
    status, _, body = http("GET", "/api/v1/namespaces/default/widgets")
    assert status == 404
    assert json.loads(body)["reason"] == "NotFound"


def test_health_endpoints_answer_ok(http):
    for path in ("/healthz", "/livez", "/readyz"):
        status, _, body = http("GET", path)
        assert (status, body) == (200, b"ok")


def test_version_is_the_scenarios_kubernetes_version():
    from kubernetes import client

    from migrate.sim.cluster import running_cluster
    with running_cluster("legacy") as running:
        info = client.VersionApi(running.api_client()).get_code()
    assert (info.git_version, info.major, info.minor) == ("v1.22.17", "1", "22")


def test_openapi_v3_lists_every_group_version(http):
    status, _, body = http("GET", "/openapi/v3")
    paths = json.loads(body)["paths"]
    assert status == 200
    assert {"api/v1", "apis/apps/v1", "apis/policy/v1"} <= set(paths)
    assert paths["apis/apps/v1"]["serverRelativeURL"].startswith("/openapi/v3/apis/apps/v1?hash=")


def test_openapi_v3_says_patch_takes_field_validation_per_kind(http):
    # kubectl apply/create decides server-side field validation from exactly this
    status, _, body = http("GET", "/openapi/v3/apis/apps/v1")
    patch = json.loads(body)["paths"]["/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}"]["patch"]
    assert status == 200
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "DaemonSet"}
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]


# kube-apiserver serves /openapi/v2 (k8s.io/kube-openapi pkg/handler): protobuf (gnostic's openapi_v2.Document)
# to clients that accept it, as client-go's discovery OpenAPISchema() does; kubectl reads it to validate, on the
# client, objects of kinds the server's OpenAPI v3 does not describe. Without it `kubectl apply` fails outright.
def test_openapi_v2_answers_a_protobuf_document_to_clients_that_ask_for_one(http):
    status, headers, body = http("GET", "/openapi/v2",
                                 headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
    assert status == 200
    assert headers["Content-Type"] == "application/octet-stream"
    assert body.startswith(b"\n\x032.0\x12")  # swagger = "2.0", then info


def test_openapi_v2_answers_json_otherwise(http, served_small):
    status, _, body = http("GET", "/openapi/v2")
    assert status == 200
    document = json.loads(body)
    assert (document["swagger"], document["info"]) == (
        "2.0", {"title": "Kubernetes", "version": served_small.cluster.scenario.kubernetes_version})
