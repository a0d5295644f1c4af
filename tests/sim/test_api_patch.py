"""PATCH through the official client: JSON merge patch, JSON patch and strategic merge patch.

The client sends a dict body as a strategic merge patch and a list as a JSON patch; a merge patch
needs `_content_type="application/merge-patch+json"`."""
import json

from kubernetes import client

MERGE = "application/merge-patch+json"


def two_container_deployment():
    containers = [{"name": "app", "image": "nginx:1.25"}, {"name": "sidecar", "image": "envoy:1.30"}]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "shop"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "shop"}},
                     "template": {"metadata": {"labels": {"app": "shop"}},
                                  "spec": {"containers": containers,
                                           "tolerations": [{"key": "a", "operator": "Exists"},
                                                           {"key": "b", "operator": "Exists"}]}}}}


def settings(core_api, **data):
    return core_api.create_namespaced_config_map("default", client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="settings", labels={"app": "shop"}), data=data or {"a": "1", "b": "2"}))


def images(deployment):
    return {c.name: c.image for c in deployment.spec.template.spec.containers}


# ---- JSON merge patch ------------------------------------------------------------------

def test_merge_patch_sets_keys_and_null_removes_them(core_api):
    settings(core_api)
    patched = core_api.patch_namespaced_config_map("settings", "default", {"data": {"a": None, "c": "3"}},
                                                   _content_type=MERGE)
    assert patched.data == {"b": "2", "c": "3"}


def test_merge_patch_replaces_a_list_whole(apps_api):
    apps_api.create_namespaced_deployment("default", two_container_deployment())
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}}
    patched = apps_api.patch_namespaced_deployment("shop", "default", patch, _content_type=MERGE)
    assert images(patched) == {"app": "nginx:1.27"}


def test_patch_bumps_the_resource_version(core_api):
    created = settings(core_api)
    patched = core_api.patch_namespaced_config_map("settings", "default", {"data": {"a": "9"}}, _content_type=MERGE)
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)


def test_a_patch_that_changes_nothing_keeps_the_resource_version(core_api):
    created = settings(core_api)
    patched = core_api.patch_namespaced_config_map("settings", "default", {"data": {"a": "1"}}, _content_type=MERGE)
    assert patched.metadata.resource_version == created.metadata.resource_version


def test_patch_with_a_stale_resource_version_is_409_conflict(core_api, api_error):
    created = settings(core_api)
    core_api.patch_namespaced_config_map("settings", "default", {"data": {"a": "changed"}}, _content_type=MERGE)
    stale = {"metadata": {"resourceVersion": created.metadata.resource_version}, "data": {"a": "mine"}}
    status, body = api_error(core_api.patch_namespaced_config_map, "settings", "default", stale, _content_type=MERGE)
    assert status == 409
    assert body["reason"] == "Conflict"


def test_patch_of_a_missing_object_is_404_not_found(core_api, api_error):
    status, body = api_error(core_api.patch_namespaced_config_map, "nope", "default", {"data": {"a": "1"}},
                             _content_type=MERGE)
    assert status == 404
    assert body["message"] == 'configmaps "nope" not found'


def test_patch_that_makes_an_object_invalid_is_422(apps_api, api_error):
    apps_api.create_namespaced_deployment("default", two_container_deployment())
    patch = {"spec": {"template": {"metadata": {"labels": {"app": "other"}}}}}
    status, body = api_error(apps_api.patch_namespaced_deployment, "shop", "default", patch, _content_type=MERGE)
    assert status == 422
    assert body["details"]["causes"][0]["field"] == "spec.template.metadata.labels"


# ---- JSON patch ------------------------------------------------------------------------

def test_json_patch_applies_its_operations_in_order(core_api):
    settings(core_api)
    operations = [{"op": "add", "path": "/metadata/labels/tier", "value": "web"},
                  {"op": "replace", "path": "/data/a", "value": "10"},
                  {"op": "remove", "path": "/data/b"},
                  {"op": "copy", "from": "/data/a", "path": "/data/c"}]
    patched = core_api.patch_namespaced_config_map("settings", "default", operations)
    assert patched.metadata.labels == {"app": "shop", "tier": "web"}
    assert patched.data == {"a": "10", "c": "10"}


def test_json_patch_with_a_failing_test_is_422_and_changes_nothing(core_api, api_error):
    created = settings(core_api)
    operations = [{"op": "replace", "path": "/data/a", "value": "changed"},
                  {"op": "test", "path": "/data/b", "value": "not-2"}]
    status, body = api_error(core_api.patch_namespaced_config_map, "settings", "default", operations)
    assert status == 422
    assert body["reason"] == "Invalid"
    assert body["message"] == "the server rejected our request due to an error in our request"
    current = core_api.read_namespaced_config_map("settings", "default")
    assert current.data == {"a": "1", "b": "2"}
    assert current.metadata.resource_version == created.metadata.resource_version


def test_json_patch_removing_a_missing_path_is_422(core_api, api_error):
    settings(core_api)
    status, _ = api_error(core_api.patch_namespaced_config_map, "settings", "default",
                          [{"op": "remove", "path": "/data/zzz"}])
    assert status == 422


def test_a_malformed_json_patch_is_400_bad_request(http, core_api):
    settings(core_api)
    status, _, body = http("PATCH", "/api/v1/namespaces/default/configmaps/settings", [{"op": "add"}],
                           headers={"Content-Type": "application/json-patch+json"})
    assert status == 400
    assert json.loads(body)["reason"] == "BadRequest"


# ---- strategic merge patch -------------------------------------------------------------

def test_strategic_merge_patch_merges_containers_by_name(apps_api):
    apps_api.create_namespaced_deployment("default", two_container_deployment())
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}}
    patched = apps_api.patch_namespaced_deployment("shop", "default", patch)
    assert images(patched) == {"app": "nginx:1.27", "sidecar": "envoy:1.30"}


def test_strategic_merge_patch_adds_a_container_with_a_new_name(apps_api):
    apps_api.create_namespaced_deployment("default", two_container_deployment())
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "logger", "image": "fluent-bit:3"}]}}}}
    patched = apps_api.patch_namespaced_deployment("shop", "default", patch)
    assert images(patched) == {"app": "nginx:1.25", "sidecar": "envoy:1.30", "logger": "fluent-bit:3"}


def test_strategic_merge_patch_delete_directive_removes_one_container(apps_api):
    apps_api.create_namespaced_deployment("default", two_container_deployment())
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}
    patched = apps_api.patch_namespaced_deployment("shop", "default", patch)
    assert images(patched) == {"app": "nginx:1.25"}


def test_strategic_merge_patch_replaces_tolerations(apps_api):
    apps_api.create_namespaced_deployment("default", two_container_deployment())
    patch = {"spec": {"template": {"spec": {"tolerations": [{"key": "c", "operator": "Exists"}]}}}}
    patched = apps_api.patch_namespaced_deployment("shop", "default", patch)
    assert [t.key for t in patched.spec.template.spec.tolerations] == ["c"]


def test_strategic_merge_patch_on_a_node_replaces_its_taints(core_api):
    core_api.patch_node("worker-1", {"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}})
    patched = core_api.patch_node("worker-1", {"spec": {"taints": [{"key": "b", "effect": "NoSchedule"}]}})
    assert [t.key for t in patched.spec.taints] == ["b"]


def test_strategic_merge_patch_bumps_generation_on_a_spec_change(apps_api):
    apps_api.create_namespaced_deployment("default", two_container_deployment())
    patched = apps_api.patch_namespaced_deployment("shop", "default", {"spec": {"replicas": 3}})
    assert patched.metadata.generation == 2


def test_strategic_merge_patch_on_a_custom_resource_is_415(widget_crd, custom_api, make_widget, api_error):
    custom_api.create_namespaced_custom_object("example.com", "v1", "default", "widgets", make_widget("w1"))
    status, body = api_error(custom_api.patch_namespaced_custom_object, "example.com", "v1", "default", "widgets",
                             "w1", {"spec": {"size": 2}},
                             _content_type="application/strategic-merge-patch+json")
    assert status == 415
    assert body["reason"] == "UnsupportedMediaType"
    assert body["message"] == ("the body of the request was in an unknown format - accepted media types include: "
                               "application/json-patch+json, application/merge-patch+json, "
                               "application/apply-patch+yaml")


def test_merge_patch_on_a_custom_resource_works(widget_crd, custom_api, make_widget):
    custom_api.create_namespaced_custom_object("example.com", "v1", "default", "widgets", make_widget("w1", size=1))
    patched = custom_api.patch_namespaced_custom_object("example.com", "v1", "default", "widgets", "w1",
                                                        {"spec": {"size": 2}})
    assert patched["spec"] == {"size": 2}


def test_a_patch_content_type_the_server_does_not_know_is_415(http, core_api):
    settings(core_api)
    status, _, body = http("PATCH", "/api/v1/namespaces/default/configmaps/settings", {"data": {"a": "2"}},
                           headers={"Content-Type": "application/json"})
    assert status == 415
    assert json.loads(body)["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, "
        "application/apply-patch+yaml")
