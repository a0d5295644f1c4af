"""metadata.managedFields of non-apply writes (sim/managed_fields.py). tests/test_api_parity.py checks the
entries' shape and one entry per writer against a kube-apiserver v1.26.5; fieldsV1 is simplified here."""
import pytest

from migrate.sim.managed_fields import from_fields_v1, manager_name, record_update, to_fields_v1

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
MERGE = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture
def rest(served_small):
    from realapi import Rest
    cluster = served_small.cluster
    return Rest(cluster.server.url, cluster.credentials.admin_token)


def as_(agent, **headers):
    return {"User-Agent": agent, **headers}


def config_map(name, **data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data or {"k": "v"}}


def test_the_manager_is_the_field_manager_option_else_the_user_agent_up_to_its_first_slash():
    assert manager_name("", "kubectl/v1.26.5 (linux/amd64) kubernetes/890a139") == "kubectl"
    assert manager_name("migrate", "OpenAPI-Generator/31.0.0/python") == "migrate"
    assert manager_name(None, "x" * 200) == "x" * 128


def test_fields_v1_marks_an_owned_object_with_owned_children_with_a_dot():
    paths = {("f:data",), ("f:data", "f:k"), ("f:metadata", "f:labels", "f:app")}
    tree = to_fields_v1(paths)
    assert tree == {"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {"f:app": {}}}}
    assert from_fields_v1(tree) == paths


def test_a_field_another_writer_changes_leaves_the_first_ones_entry_which_goes_once_empty():
    created = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}}
    record_update(None, created, manager="alice", api_version="v1", subresource=None, has_status=False,
                  now="2024-01-01T00:00:00Z")
    changed = {**created, "metadata": dict(created["metadata"]), "data": {"k": "w"}}

    record_update(created, changed, manager="bob", api_version="v1", subresource=None, has_status=False,
                  now="2024-01-01T00:00:01Z")

    assert changed["metadata"]["managedFields"] == [
        {"manager": "bob", "operation": "Update", "apiVersion": "v1", "time": "2024-01-01T00:00:01Z",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:k": {}}}}]


def test_a_write_that_changes_nothing_keeps_the_entries_and_the_resource_version(rest):
    created = rest.request("POST", CONFIGMAPS, config_map("a"), as_("alice/1")).json
    body = {**created, "metadata": {k: v for k, v in created["metadata"].items() if k != "managedFields"}}

    again = rest.request("PUT", f"{CONFIGMAPS}/a", body, as_("bob/1")).json

    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert again["metadata"]["managedFields"] == created["metadata"]["managedFields"]


def test_a_status_write_gets_its_own_entry_and_owns_only_status(rest, served_small):
    rest.request("POST", "/api/v1/namespaces/default/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"app": "p"}},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}]}}, as_("alice/1"))

    patched = rest.request("PATCH", "/api/v1/namespaces/default/pods/p/status",
                           {"metadata": {"labels": {"app": "changed"}}, "status": {"message": "hello"}},
                           as_("kubelet/v1.26.5", **MERGE)).json

    entries = {e["manager"]: e for e in patched["metadata"]["managedFields"]}
    assert entries["kubelet"]["subresource"] == "status"
    assert set(entries["kubelet"]["fieldsV1"]) == {"f:status"}
    assert "f:status" not in entries["alice"]["fieldsV1"] and "f:spec" in entries["alice"]["fieldsV1"]


def test_the_field_manager_option_names_the_entry(rest):
    created = rest.request("POST", f"{CONFIGMAPS}?fieldManager=migrate", config_map("a"), as_("alice/1")).json

    assert [e["manager"] for e in created["metadata"]["managedFields"]] == ["migrate"]


def test_more_than_ten_update_managers_fold_the_oldest_into_ancient_changes(rest, served_small):
    rest.request("POST", CONFIGMAPS, config_map("a"), as_("m00/1"))
    for i in range(1, 12):
        served_small.cluster.advance(1)
        rest.request("PATCH", f"{CONFIGMAPS}/a", {"data": {f"k{i}": "v"}}, as_(f"m{i:02d}/1", **MERGE))

    entries = rest.request("GET", f"{CONFIGMAPS}/a").json["metadata"]["managedFields"]

    managers = [e["manager"] for e in entries]
    assert len(managers) == 10 and managers[0] == "ancient-changes"
    assert managers[1:] == [f"m{i:02d}" for i in range(3, 12)]
    assert set(entries[0]["fieldsV1"]["f:data"]) >= {"f:k", "f:k1", "f:k2"}
