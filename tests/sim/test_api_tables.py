"""Server-side printing: `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, as kubectl asks for it."""
import json
import urllib.request

import pytest

# what kubectl get sends
TABLE = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
         "application/json")


@pytest.fixture
def table(http):
    def get(path):
        status, _, body = http("GET", path, headers={"Accept": TABLE})
        assert status == 200
        return json.loads(body)
    return get


def columns(answer):
    return [c["name"] for c in answer["columnDefinitions"]]


def cell(answer, row, name):
    return answer["rows"][row]["cells"][columns(answer).index(name)]


def test_a_list_asked_for_as_a_table_is_a_meta_v1_table(table):
    answer = table("/api/v1/namespaces/demo/pods")
    assert (answer["kind"], answer["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert answer["metadata"]["resourceVersion"]


def test_the_pod_table_has_kube_apiservers_columns(table):
    answer = table("/api/v1/namespaces/demo/pods")
    assert columns(answer) == ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node",
                               "Readiness Gates"]
    assert [c["priority"] for c in answer["columnDefinitions"]] == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert answer["columnDefinitions"][0]["format"] == "name"


def test_the_pod_table_has_a_row_per_pod_with_its_state(table, core_api):
    pods = core_api.list_namespaced_pod("demo").items
    answer = table("/api/v1/namespaces/demo/pods")
    assert [r["cells"][0] for r in answer["rows"]] == [p.metadata.name for p in pods]
    assert cell(answer, 0, "Ready") == "1/1"
    assert cell(answer, 0, "Status") == "Running"
    assert cell(answer, 0, "Restarts") == "0"
    assert cell(answer, 0, "Node") == pods[0].spec.node_name
    assert cell(answer, 0, "IP") == pods[0].status.pod_ip
    assert cell(answer, 0, "Nominated Node") == "<none>"


def test_table_rows_carry_partial_object_metadata_by_default(table):
    row = table("/api/v1/namespaces/demo/pods")["rows"][0]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["apiVersion"] == "meta.k8s.io/v1"
    assert row["object"]["metadata"]["name"] == row["cells"][0]


def test_include_object_asks_for_whole_objects_in_the_rows(table):
    row = table("/api/v1/namespaces/demo/pods?includeObject=Object")["rows"][0]
    assert row["object"]["kind"] == "Pod"
    assert row["object"]["spec"]["containers"]


def test_a_single_object_asked_for_as_a_table_is_a_one_row_table(table, core_api):
    name = core_api.list_namespaced_pod("demo").items[0].metadata.name
    answer = table(f"/api/v1/namespaces/demo/pods/{name}")
    assert answer["kind"] == "Table"
    assert [r["cells"][0] for r in answer["rows"]] == [name]


def test_a_terminating_pod_shows_as_terminating(table, core_api):
    name = core_api.list_namespaced_pod("demo").items[0].metadata.name
    core_api.delete_namespaced_pod(name, "demo")
    assert cell(table(f"/api/v1/namespaces/demo/pods/{name}"), 0, "Status") == "Terminating"


def test_the_node_table_shows_ready_roles_and_version(table):
    answer = table("/api/v1/nodes")
    assert columns(answer) == ["Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP",
                               "OS-Image", "Kernel-Version", "Container-Runtime"]
    rows = {r["cells"][0]: r["cells"] for r in answer["rows"]}
    assert rows["control-plane-1"][1:3] == ["Ready", "control-plane"]
    assert rows["worker-1"][1:3] == ["Ready", "<none>"]


def test_a_cordoned_node_shows_scheduling_disabled(table, core_api):
    core_api.patch_node("worker-1", {"spec": {"unschedulable": True}})
    rows = {r["cells"][0]: r["cells"] for r in table("/api/v1/nodes")["rows"]}
    assert rows["worker-1"][1] == "Ready,SchedulingDisabled"


def test_the_deployment_table_shows_ready_over_desired(table):
    answer = table("/apis/apps/v1/namespaces/demo/deployments")
    assert columns(answer) == ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"]
    rows = {r["cells"][0]: r["cells"] for r in answer["rows"]}
    assert rows["web"][1:4] == ["4/4", 4, 4]
    assert rows["web"][7] == "app=web"


def test_the_pdb_table_shows_allowed_disruptions(table):
    answer = table("/apis/policy/v1/namespaces/demo/poddisruptionbudgets")
    assert columns(answer) == ["Name", "Min Available", "Max Unavailable", "Allowed Disruptions", "Age"]
    assert answer["rows"][0]["cells"][:4] == ["web", "N/A", "1", 1]


def test_a_kind_without_printers_gets_name_and_age(table, widget_crd, custom_api, make_widget):
    custom_api.create_namespaced_custom_object("example.com", "v1", "default", "widgets", make_widget("w1"))
    answer = table("/apis/example.com/v1/namespaces/default/widgets")
    assert columns(answer) == ["Name", "Age"]
    assert answer["rows"][0]["cells"][0] == "w1"


def test_without_the_table_accept_header_a_list_stays_a_list(http):
    _, _, body = http("GET", "/api/v1/namespaces/demo/pods")
    assert json.loads(body)["kind"] == "PodList"


def watch_events(served_small, path, count):
    """The first `count` events of a watch asked for as Tables, read off the open stream."""
    request = urllib.request.Request(served_small.cluster.server.url + path, headers={
        "Accept": TABLE, "Authorization": f"Bearer {served_small.cluster.credentials.admin_token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return [json.loads(response.readline()) for _ in range(count)]


def test_a_watch_asked_for_as_tables_sends_one_row_tables_with_headers_only_first(served_small, core_api):
    rv = core_api.list_namespaced_pod("demo").metadata.resource_version
    first, second = [p.metadata.name for p in core_api.list_namespaced_pod("demo").items[:2]]
    core_api.delete_namespaced_pod(first, "demo")
    core_api.delete_namespaced_pod(second, "demo")
    events = watch_events(served_small, f"/api/v1/namespaces/demo/pods?watch=1&resourceVersion={rv}", 2)
    assert [e["type"] for e in events] == ["MODIFIED", "MODIFIED"]
    tables = [e["object"] for e in events]
    assert all(t["kind"] == "Table" and len(t["rows"]) == 1 for t in tables)
    assert [t["rows"][0]["cells"][:3] for t in tables] == [[first, "1/1", "Terminating"],
                                                            [second, "1/1", "Terminating"]]
    assert columns(tables[0])[:3] == ["Name", "Ready", "Status"]
    assert tables[1]["columnDefinitions"] is None
