"""`dryRun=All` through the official client: every write is validated and answered, none is stored."""
import json

import pytest
from kubernetes import client

MERGE = "application/merge-patch+json"


def config_map(name, **data):
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data=data or {"k": "v"})


def bad_deployment():
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad"},
            "spec": {"selector": {"matchLabels": {"app": "x"}},
                     "template": {"metadata": {"labels": {"app": "y"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def test_dry_run_create_answers_with_the_object_but_stores_nothing(core_api, served_small, api_error):
    before = served_small.cluster.store.resource_version
    answer = core_api.create_namespaced_config_map("default", config_map("ghost"), dry_run="All")
    assert answer.metadata.name == "ghost"
    assert answer.data == {"k": "v"}
    assert served_small.cluster.store.resource_version == before
    status, _ = api_error(core_api.read_namespaced_config_map, "ghost", "default")
    assert status == 404


def test_dry_run_create_still_validates(apps_api, api_error):
    status, body = api_error(apps_api.create_namespaced_deployment, "default", bad_deployment(), dry_run="All")
    assert status == 422
    assert body["reason"] == "Invalid"


def test_dry_run_create_of_a_taken_name_is_409(core_api, api_error):
    core_api.create_namespaced_config_map("default", config_map("taken"))
    status, body = api_error(core_api.create_namespaced_config_map, "default", config_map("taken"), dry_run="All")
    assert status == 409
    assert body["reason"] == "AlreadyExists"


def test_dry_run_update_answers_with_the_change_but_keeps_the_stored_object(core_api):
    created = core_api.create_namespaced_config_map("default", config_map("settings"))
    created.data = {"k": "changed"}
    answer = core_api.replace_namespaced_config_map("settings", "default", created, dry_run="All")
    assert answer.data == {"k": "changed"}
    stored = core_api.read_namespaced_config_map("settings", "default")
    assert stored.data == {"k": "v"}
    assert stored.metadata.resource_version == created.metadata.resource_version


def test_dry_run_update_with_a_stale_resource_version_is_still_409(core_api, api_error):
    stale = core_api.create_namespaced_config_map("default", config_map("settings"))
    core_api.patch_namespaced_config_map("settings", "default", {"data": {"k": "new"}}, _content_type=MERGE)
    status, _ = api_error(core_api.replace_namespaced_config_map, "settings", "default", stale, dry_run="All")
    assert status == 409


def test_dry_run_patch_answers_with_the_patched_object_but_keeps_the_stored_one(core_api):
    created = core_api.create_namespaced_config_map("default", config_map("settings"))
    answer = core_api.patch_namespaced_config_map("settings", "default", {"data": {"k": "patched"}},
                                                  dry_run="All", _content_type=MERGE)
    assert answer.data == {"k": "patched"}
    stored = core_api.read_namespaced_config_map("settings", "default")
    assert stored.data == {"k": "v"}
    assert stored.metadata.resource_version == created.metadata.resource_version


def test_dry_run_patch_still_validates(apps_api, api_error):
    good = bad_deployment()
    good["spec"]["template"]["metadata"]["labels"] = {"app": "x"}
    apps_api.create_namespaced_deployment("default", good)
    patch = {"spec": {"template": {"metadata": {"labels": {"app": "y"}}}}}
    status, _ = api_error(apps_api.patch_namespaced_deployment, "bad", "default", patch, dry_run="All",
                          _content_type=MERGE)
    assert status == 422


def test_dry_run_delete_keeps_the_object(core_api):
    created = core_api.create_namespaced_config_map("default", config_map("settings"))
    core_api.delete_namespaced_config_map("settings", "default", dry_run="All")
    stored = core_api.read_namespaced_config_map("settings", "default")
    assert stored.metadata.resource_version == created.metadata.resource_version


def test_dry_run_delete_of_a_running_pod_does_not_start_its_termination(core_api):
    pod = core_api.list_namespaced_pod("demo", label_selector="app=web").items[0]
    core_api.delete_namespaced_pod(pod.metadata.name, "demo", dry_run="All")
    stored = core_api.read_namespaced_pod(pod.metadata.name, "demo")
    assert stored.metadata.deletion_timestamp is None
    assert stored.metadata.resource_version == pod.metadata.resource_version


def test_dry_run_delete_of_a_missing_object_is_404(core_api, api_error):
    status, _ = api_error(core_api.delete_namespaced_config_map, "nope", "default", dry_run="All")
    assert status == 404


def test_dry_run_writes_change_no_resource_version_and_log_as_dry_run(core_api, served_small):
    core_api.create_namespaced_config_map("default", config_map("settings"))
    served_small.request_log.clear()
    before = served_small.cluster.store.resource_version
    core_api.create_namespaced_config_map("default", config_map("other"), dry_run="All")
    core_api.patch_namespaced_config_map("settings", "default", {"data": {"k": "x"}}, dry_run="All",
                                         _content_type=MERGE)
    core_api.delete_namespaced_config_map("settings", "default", dry_run="All")
    assert served_small.cluster.store.resource_version == before
    assert served_small.request_log.writes() == []
    assert len(served_small.request_log.writes(include_dry_run=True)) == 3


# k8s.io/apiserver pkg/endpoints/handlers/delete.go: DeleteResource decodes DeleteOptions from the body
# when one is sent and reads the query parameters only when there is no body.
def test_delete_with_a_body_ignores_dry_run_in_the_query_and_deletes(core_api, http):
    core_api.create_namespaced_config_map("default", config_map("doomed"))
    status, _, _ = http("DELETE", "/api/v1/namespaces/default/configmaps/doomed?dryRun=All",
                        {"kind": "DeleteOptions", "apiVersion": "v1"})
    assert status == 200
    assert http("GET", "/api/v1/namespaces/default/configmaps/doomed")[0] == 404


def test_delete_with_dry_run_in_the_body_keeps_the_object(core_api, http):
    core_api.create_namespaced_config_map("default", config_map("kept"))
    status, _, _ = http("DELETE", "/api/v1/namespaces/default/configmaps/kept",
                        {"kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"]})
    assert status == 200
    assert http("GET", "/api/v1/namespaces/default/configmaps/kept")[0] == 200


def test_delete_without_a_body_reads_dry_run_from_the_query(core_api, http):
    core_api.create_namespaced_config_map("default", config_map("kept"))
    assert http("DELETE", "/api/v1/namespaces/default/configmaps/kept?dryRun=All")[0] == 200
    assert http("GET", "/api/v1/namespaces/default/configmaps/kept")[0] == 200


# apimachinery pkg/apis/meta/v1/validation ValidateDryRun: only "All" is a dry run value.
@pytest.mark.parametrize("method, path, body, options_kind", [
    ("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "x"}}, "CreateOptions"),
    ("DELETE", "/api/v1/namespaces/default/configmaps/x", None, "DeleteOptions"),
])
def test_an_unknown_dry_run_value_is_refused_as_invalid(core_api, http, method, path, body, options_kind):
    core_api.create_namespaced_config_map("default", config_map("x"))
    status, _, answer = http(method, path + "?dryRun=Bogus", body)
    assert status == 422
    message = json.loads(answer)["message"]
    assert message.startswith(f'{options_kind}.meta.k8s.io "" is invalid: dryRun: Unsupported value')
    assert http("GET", "/api/v1/namespaces/default/configmaps/x")[0] == 200


# A kube-apiserver v1.26.5 answers `?dryRun=` (present, empty) with 422 Unsupported value: []string{""}: the
# query decodes into DryRun []string{""} (apimachinery pkg/runtime/serializer queryparams), which
# ValidateDryRun refuses as it refuses any value other than "All". An empty value is not "no dry run".
def test_an_empty_dry_run_value_is_refused_as_invalid(core_api, http):
    status, _, answer = http("POST", "/api/v1/namespaces/default/configmaps?dryRun=", {"metadata": {"name": "x"}})
    assert status == 422
    assert json.loads(answer)["message"] == ('CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: '
                                             '[]string{""}: supported values: "All"')
    assert http("GET", "/api/v1/namespaces/default/configmaps/x")[0] == 404


def test_every_dry_run_value_of_the_query_is_validated(core_api, http):
    status, _, answer = http("POST", "/api/v1/namespaces/default/configmaps?dryRun=All&dryRun=",
                             {"metadata": {"name": "x"}})
    assert status == 422
    assert 'Unsupported value: []string{"All", ""}' in json.loads(answer)["message"]
