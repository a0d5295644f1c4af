"""Faults switched on at run time through /admin/faults, and the traffic probe through /admin/probe."""
import time

import pytest

from migrate.sim.cluster import running_cluster

PODS = "/api/v1/namespaces/demo/pods"


def test_error_rate_one_fails_every_resource_request_with_the_chosen_code(served_small, served_http):
    served_http(served_small, "PATCH", "/admin/faults", {"api_error_rate": 1.0, "api_error_codes": [502]})
    statuses = {served_http(served_small, "GET", path).status
                for path in (PODS, "/api/v1/nodes", "/apis/apps/v1/deployments", "/api/v1/namespaces/demo")}
    assert statuses == {502}


def test_injected_error_is_a_status_body_with_the_code(served_small, served_http):
    served_http(served_small, "PATCH", "/admin/faults", {"api_error_rate": 1.0, "api_error_codes": [500]})
    answer = served_http(served_small, "GET", PODS)
    assert answer.json["kind"] == "Status"
    assert answer.json["code"] == 500
    assert answer.json["status"] == "Failure"


@pytest.mark.parametrize("code", [429, 503])
def test_throttling_and_unavailable_errors_carry_retry_after(served_small, served_http, code):
    served_http(served_small, "PATCH", "/admin/faults",
                {"api_error_rate": 1.0, "api_error_codes": [code], "retry_after_seconds": 3})
    answer = served_http(served_small, "GET", PODS)
    assert answer.status == code
    assert answer.headers["Retry-After"] == "3"


def test_internal_errors_carry_no_retry_after(served_small, served_http):
    served_http(served_small, "PATCH", "/admin/faults", {"api_error_rate": 1.0, "api_error_codes": [500]})
    assert served_http(served_small, "GET", PODS).headers.get("Retry-After") is None


def test_faults_leave_discovery_and_admin_endpoints_answering(served_small, served_http):
    served_http(served_small, "PATCH", "/admin/faults", {"api_error_rate": 1.0})
    assert served_http(served_small, "GET", "/version").status == 200
    assert served_http(served_small, "GET", "/admin/faults").status == 200


def test_error_rate_zero_switches_faults_off_again(served_small, served_http):
    served_http(served_small, "PATCH", "/admin/faults", {"api_error_rate": 1.0})
    served_http(served_small, "PATCH", "/admin/faults", {"api_error_rate": 0.0})
    assert served_http(served_small, "GET", PODS).status == 200


def test_faults_applied_to_writes_leave_reads_alone(served_small, served_http):
    served_http(served_small, "PATCH", "/admin/faults",
                {"api_error_rate": 1.0, "api_error_codes": [503], "applies_to": "writes"})
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}
    assert served_http(served_small, "GET", PODS).status == 200
    assert served_http(served_small, "POST", "/api/v1/namespaces/demo/configmaps", configmap).status == 503


def _failure_sequence(served_http, seed: int) -> list[int]:
    with running_cluster("small", seed=seed) as running:
        served_http(running, "PATCH", "/admin/faults",
                    {"api_error_rate": 0.5, "api_error_codes": [429, 500, 502, 503, 504]})
        return [served_http(running, "GET", PODS).status for _ in range(30)]


def test_the_same_seed_fails_the_same_requests_with_the_same_codes(served_http):
    first = _failure_sequence(served_http, seed=7)
    assert first == _failure_sequence(served_http, seed=7)
    assert {200} < set(first)  # some requests failed, some did not


def test_a_different_seed_fails_different_requests(served_http):
    assert _failure_sequence(served_http, seed=7) != _failure_sequence(served_http, seed=8)


def test_latency_delays_every_resource_request(served_small, served_http):
    served_http(served_small, "PATCH", "/admin/faults", {"latency_ms": 150})
    started = time.monotonic()
    answer = served_http(served_small, "GET", PODS)
    assert answer.status == 200
    assert time.monotonic() - started >= 0.15


def test_probe_reports_sampled_flows_and_their_outcomes(served_small, served_http):
    assert served_http(served_small, "DELETE", "/admin/probe").json["samples"] == 0
    report = served_http(served_small, "POST", "/admin/probe", {"pairs": 20}).json
    assert 0 < report["samples"] <= 20
    assert report["ok"] == report["samples"]
    assert report["failed"] == 0
    assert served_http(served_small, "GET", "/admin/probe").json == report


def test_probe_counts_failed_flows_when_a_node_loses_its_vxlan_device(served_small, served_http):
    served_small.cluster.ctx.hosts["worker-1"].delete_interface("flannel.1")
    served_http(served_small, "DELETE", "/admin/probe")
    report = served_http(served_small, "POST", "/admin/probe", {"pairs": 20}).json
    # every cross-node pair in `small` has one end on worker-1 (the control plane runs no workloads)
    assert report["failed"] == report["samples"] > 0
    assert "worker-1" in report["recentFailures"][0]["reason"]


def test_unknown_fault_key_is_rejected_with_400_listing_the_known_keys(served_small, served_http):
    answer = served_http(served_small, "PATCH", "/admin/faults", {"api_error_rat": 1.0})
    assert answer.status == 400
    assert "api_error_rat" in answer.json["message"]
    for known in ("api_error_rate", "latency_ms", "pdb_never_allows", "nodes_not_ready", "calico_never_ready"):
        assert known in answer.json["message"]


def test_fault_of_the_wrong_type_is_rejected_with_400_naming_it(served_small, served_http):
    answer = served_http(served_small, "PATCH", "/admin/faults", {"api_error_rate": "often"})
    assert answer.status == 400
    assert "api_error_rate" in answer.json["message"]


def test_fault_body_that_is_not_an_object_is_rejected_with_400(served_small, served_http):
    answer = served_http(served_small, "PATCH", "/admin/faults", ["api_error_rate"])
    assert answer.status == 400
    assert "JSON object" in answer.json["message"]


def test_rejected_fault_change_leaves_the_settings_as_they_were(served_small, served_http):
    served_http(served_small, "PATCH", "/admin/faults", {"latency_ms": 5, "api_error_codes": [404]})
    assert served_http(served_small, "GET", "/admin/faults").json["latency_ms"] == 0


def test_pdb_never_allows_holds_the_budget_at_zero_as_soon_as_the_patch_returns(served_small, served_http):
    # manual clock: no control-loop pass runs between the PATCH and the read
    served_http(served_small, "PATCH", "/admin/faults", {"pdb_never_allows": ["demo/web"]})
    pdb = served_http(served_small, "GET", "/apis/policy/v1/namespaces/demo/poddisruptionbudgets/web").json
    assert pdb["status"]["disruptionsAllowed"] == 0


def test_clearing_pdb_never_allows_gives_the_budget_back(served_small, served_http):
    served_http(served_small, "PATCH", "/admin/faults", {"pdb_never_allows": ["demo/web"]})
    served_http(served_small, "PATCH", "/admin/faults", {"pdb_never_allows": []})
    pdb = served_http(served_small, "GET", "/apis/policy/v1/namespaces/demo/poddisruptionbudgets/web").json
    assert pdb["status"]["disruptionsAllowed"] == 1


def test_eviction_under_pdb_never_allows_is_refused_with_429(served_small, served_http):
    served_http(served_small, "PATCH", "/admin/faults", {"pdb_never_allows": ["demo/web"]})
    pod = next(p for p in served_http(served_small, "GET", PODS + "?labelSelector=app%3Dweb").json["items"])
    name = pod["metadata"]["name"]
    answer = served_http(served_small, "POST", f"{PODS}/{name}/eviction",
                         {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": "demo"}})
    assert answer.status == 429
    assert "disruption budget" in answer.json["message"]


def _ready_status(served_small, served_http, node: str) -> str:
    node = served_http(served_small, "GET", f"/api/v1/nodes/{node}").json
    return next(c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready")


def test_nodes_not_ready_turns_ready_unknown_after_the_node_monitor_grace_period(served_small, served_http):
    served_http(served_small, "PATCH", "/admin/faults", {"nodes_not_ready": ["worker-2"]})
    grace = served_small.cluster.ctx.timings.node_monitor_grace
    served_small.cluster.advance(grace - 5)
    assert _ready_status(served_small, served_http, "worker-2") == "True"
    served_small.cluster.advance(10)
    assert _ready_status(served_small, served_http, "worker-2") == "Unknown"


def test_fault_changes_need_a_valid_token(served_small, served_http):
    answer = served_http(served_small, "PATCH", "/admin/faults", {"api_error_rate": 1.0}, token="not-a-token")
    assert answer.status == 401
    assert served_http(served_small, "GET", "/admin/faults").json["api_error_rate"] == 0


def test_admin_endpoints_refuse_a_user_who_is_not_a_cluster_admin(served_small, served_http):
    viewer = served_small.cluster.credentials.viewer_token
    answer = served_http(served_small, "PATCH", "/admin/faults", {"api_error_rate": 1.0}, token=viewer)
    assert answer.status == 403
    assert served_small.cluster.faults.settings.api_error_rate == 0.0


def test_an_unreachable_kubelet_fails_pod_logs_with_500_but_not_the_pods_status(served_small, served_http):
    pod = next(p for p in served_http(served_small, "GET", "/api/v1/namespaces/demo/pods").json["items"]
               if p["spec"].get("nodeName") == "worker-1")
    served_http(served_small, "PATCH", "/admin/faults", {"kubelet_unreachable": ["worker-1"]})
    path = f"/api/v1/namespaces/demo/pods/{pod['metadata']['name']}"
    answer = served_http(served_small, "GET", f"{path}/log")
    assert answer.status == 500
    assert "10250/containerLogs" in answer.json["message"]
    assert served_http(served_small, "GET", path).status == 200
