"""Server-side apply through plain HTTP, as kube-apiserver v1.26.5 answered the same requests (the field
manager of k8s.io/apiserver v0.26 over sigs.k8s.io/structured-merge-diff/v4)."""
import json

import pytest

APPLY = {"Content-Type": "application/apply-patch+yaml"}
MERGE = {"Content-Type": "application/merge-patch+json"}
CM_PATH = "/api/v1/namespaces/default/configmaps"


def config_map(name, **data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


@pytest.fixture
def apply(http):
    """apply(path, object, manager="bob", force=False) -> (status, answer as JSON)."""
    def call(path, obj, manager="bob", force=False):
        query = "?" + "&".join(([f"fieldManager={manager}"] if manager else []) + (["force=true"] if force else []))
        status, _, body = http("PATCH", path + query, json.dumps(obj).encode(), headers=APPLY)
        return status, json.loads(body)
    return call


def entries(obj):
    return [(e["manager"], e["operation"], e["fieldsV1"]) for e in obj["metadata"]["managedFields"]]


@pytest.fixture
def shared(http):
    """ConfigMap `shared` created by alice (k, j), then j changed by carol: two Update managers."""
    http("POST", CM_PATH, config_map("shared", k="1", j="2"), headers={"User-Agent": "alice/1.0"})
    http("PATCH", f"{CM_PATH}/shared", {"data": {"j": "3"}}, headers={"User-Agent": "carol/1.0", **MERGE})
    return f"{CM_PATH}/shared"


def test_apply_creates_an_absent_object_owned_by_its_manager(apply):
    status, answer = apply(f"{CM_PATH}/fresh", config_map("fresh", k="9"))
    assert status == 201
    assert answer["data"] == {"k": "9"}
    assert entries(answer) == [("bob", "Apply", {"f:data": {"f:k": {}}})]


def test_apply_needs_a_field_manager(apply):
    status, answer = apply(f"{CM_PATH}/fresh", config_map("fresh", k="9"), manager=None)
    assert status == 422
    assert answer["message"] == ('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required '
                                 'for apply patch')


def test_apply_of_another_api_version_is_400(apply):
    status, answer = apply(f"{CM_PATH}/fresh", {"kind": "ConfigMap", "metadata": {"name": "fresh"}})
    assert status == 400
    assert answer["message"] == "Incorrect version specified in apply patch. Specified patch version: , expected: v1"


def test_apply_conflicts_with_the_fields_other_managers_own(apply, shared):
    status, answer = apply(shared, config_map("shared", k="9", j="9"))
    assert status == 409
    assert answer["message"] == ('Apply failed with 2 conflicts: conflicts with "alice" using v1:\n- .data.k\n'
                                 'conflicts with "carol" using v1:\n- .data.j')
    assert answer["details"] == {"causes": [
        {"reason": "FieldManagerConflict", "message": 'conflict with "alice" using v1', "field": ".data.k"},
        {"reason": "FieldManagerConflict", "message": 'conflict with "carol" using v1', "field": ".data.j"}]}


def test_one_conflict_is_reported_in_the_singular(apply, shared):
    status, answer = apply(shared, config_map("shared", k="9"))
    assert status == 409
    assert answer["message"] == 'Apply failed with 1 conflict: conflict with "alice" using v1: .data.k'


def test_a_forced_apply_takes_the_conflicting_fields(apply, shared):
    status, answer = apply(shared, config_map("shared", k="9", j="9"), force=True)
    assert status == 200
    assert answer["data"] == {"k": "9", "j": "9"}
    assert entries(answer) == [("bob", "Apply", {"f:data": {"f:j": {}, "f:k": {}}}),
                               ("alice", "Update", {"f:data": {}})]


def test_applying_a_value_another_manager_set_shares_the_field(apply, shared):
    status, answer = apply(shared, config_map("shared", k="1"))
    assert status == 200
    assert [e[:2] for e in entries(answer)] == [("bob", "Apply"), ("alice", "Update"), ("carol", "Update")]


def test_a_field_the_manager_stops_applying_is_removed(apply):
    apply(f"{CM_PATH}/fresh", config_map("fresh", k="9"))
    status, answer = apply(f"{CM_PATH}/fresh", config_map("fresh", x="1"))
    assert status == 200
    assert answer["data"] == {"x": "1"}
    assert entries(answer) == [("bob", "Apply", {"f:data": {"f:x": {}}})]


def test_a_field_another_manager_also_owns_stays_when_the_manager_stops_applying_it(apply):
    apply(f"{CM_PATH}/fresh", config_map("fresh", k="9"))
    apply(f"{CM_PATH}/fresh", config_map("fresh", k="9"), manager="dave")
    status, answer = apply(f"{CM_PATH}/fresh", config_map("fresh", x="1"))
    assert answer["data"] == {"k": "9", "x": "1"}


def test_an_apply_that_changes_nothing_writes_nothing(apply):
    _, first = apply(f"{CM_PATH}/fresh", config_map("fresh", k="9"))
    _, again = apply(f"{CM_PATH}/fresh", config_map("fresh", k="9"))
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_an_apply_with_a_stale_resource_version_is_409(apply):
    apply(f"{CM_PATH}/fresh", config_map("fresh", k="9"))
    stale = config_map("fresh", k="8")
    stale["metadata"]["resourceVersion"] = "1"
    status, answer = apply(f"{CM_PATH}/fresh", stale)
    assert status == 409
    assert answer["message"] == ('Operation cannot be fulfilled on configmaps "fresh": the object has been modified; '
                                 'please apply your changes to the latest version and try again')


def test_a_dry_run_apply_stores_nothing(http, apply):
    apply(f"{CM_PATH}/fresh", config_map("fresh", k="9"))
    status, _, body = http("PATCH", f"{CM_PATH}/fresh?fieldManager=bob&dryRun=All",
                           json.dumps(config_map("fresh", k="3")).encode(), headers=APPLY)
    assert (status, json.loads(body)["data"]) == (200, {"k": "3"})
    assert json.loads(http("GET", f"{CM_PATH}/fresh")[2])["data"] == {"k": "9"}


DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
    "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"nodeSelector": {"none": "x"}, "tolerations": [{"operator": "Exists"}], "containers": [
            {"name": "main", "image": "busybox:1.36", "ports": [{"containerPort": 80}],
             "env": [{"name": "A", "value": "1"}, {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
             "resources": {"limits": {"cpu": "100m"}}, "volumeMounts": [{"name": "v", "mountPath": "/v"}]}],
            "volumes": [{"name": "v", "hostPath": {"path": "/tmp"}}]}}}}


def test_the_applied_fields_follow_the_kinds_schema(apply):
    status, answer = apply("/apis/apps/v1/namespaces/default/deployments/web", DEPLOYMENT)
    assert status == 201
    [(manager, operation, fields)] = entries(answer)
    container = {".": {}, "f:env": {'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}},
                                    'k:{"name":"N"}': {".": {}, "f:name": {}, "f:valueFrom": {"f:fieldRef": {}}}},
                 "f:image": {}, "f:name": {}, "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {
                     ".": {}, "f:containerPort": {}}},
                 "f:resources": {"f:limits": {"f:cpu": {}}},
                 "f:volumeMounts": {'k:{"mountPath":"/v"}': {".": {}, "f:mountPath": {}, "f:name": {}}}}
    assert fields == {"f:spec": {"f:selector": {}, "f:template": {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {"f:containers": {'k:{"name":"main"}': container}, "f:nodeSelector": {}, "f:tolerations": {},
                   "f:volumes": {'k:{"name":"v"}': {".": {}, "f:hostPath": {"f:path": {}}, "f:name": {}}}}}}}


def test_apply_merges_list_items_by_their_key(apply):
    apply("/apis/apps/v1/namespaces/default/deployments/web", DEPLOYMENT)
    sidecar = json.loads(json.dumps(DEPLOYMENT))
    sidecar["spec"]["template"]["spec"] = {"containers": [{"name": "side", "image": "busybox:1.36"}]}
    status, answer = apply("/apis/apps/v1/namespaces/default/deployments/web", sidecar, manager="sidecars")
    assert status == 200
    assert [c["name"] for c in answer["spec"]["template"]["spec"]["containers"]] == ["main", "side"]
    assert answer["spec"]["template"]["spec"]["containers"][0]["env"][0] == {"name": "A", "value": "1"}


# ---- the official Python client's DynamicClient.server_side_apply -------------------------------------------

@pytest.fixture
def dynamic(admin_client):
    from kubernetes.dynamic import DynamicClient
    return DynamicClient(admin_client)


def test_the_python_clients_server_side_apply_creates_and_then_reports_a_conflict(dynamic):
    from kubernetes.dynamic.exceptions import ConflictError

    config_maps = dynamic.resources.get(api_version="v1", kind="ConfigMap")
    created = dynamic.server_side_apply(config_maps, config_map("tool", mode="fast"), namespace="default",
                                        field_manager="migrate")
    assert created.metadata.managedFields[0].manager == "migrate"
    with pytest.raises(ConflictError) as info:
        dynamic.server_side_apply(config_maps, config_map("tool", mode="slow"), namespace="default",
                                  field_manager="someone-else")
    assert json.loads(info.value.body)["message"] == ('Apply failed with 1 conflict: conflict with "migrate": '
                                                      '.data.mode')
    forced = dynamic.server_side_apply(config_maps, config_map("tool", mode="slow"), namespace="default",
                                       field_manager="someone-else", force_conflicts=True)
    assert forced.data.mode == "slow"
