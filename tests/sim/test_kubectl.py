"""A real kubectl against the simulator (the `small` scenario on a running clock, 300 simulated s per s)."""
import ipaddress
import json
import time
from pathlib import Path


def _rows(output: str) -> list[list[str]]:
    return [line.split() for line in output.strip().splitlines()[1:]]


def _header(output: str) -> list[str]:
    # kubectl separates columns by at least three spaces; names such as NOMINATED NODE hold one
    return [name.strip() for name in output.splitlines()[0].split("   ") if name.strip()]


def _objects(kubectl, running, *args) -> list[dict]:
    return json.loads(kubectl(running, "get", *args, "-o", "json").stdout)["items"]


def _pod_cidrs(kubectl, running) -> dict[str, ipaddress.IPv4Network]:
    return {n["metadata"]["name"]: ipaddress.ip_network(n["spec"]["podCIDR"]) for n in _objects(kubectl, running, "nodes")}


def test_get_nodes_lists_every_node_ready_with_its_role(live_small, kubectl):
    out = kubectl(live_small, "get", "nodes").stdout
    assert _header(out) == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert {row[0]: (row[1], row[2], row[4]) for row in _rows(out)} == {
        "control-plane-1": ("Ready", "control-plane", "v1.34.2"),
        "worker-1": ("Ready", "<none>", "v1.34.2"),
        "worker-2": ("Ready", "<none>", "v1.34.2")}


def test_get_pods_wide_shows_each_pods_ip_and_node(live_small, kubectl):
    out = kubectl(live_small, "get", "pods", "-A", "-o", "wide").stdout
    shown = {(row[0], row[1]): (row[6], row[7]) for row in _rows(out)}
    expected = {(p["metadata"]["namespace"], p["metadata"]["name"]): (p["status"]["podIP"], p["spec"]["nodeName"])
                for p in _objects(kubectl, live_small, "pods", "-A")}
    assert shown == expected
    assert all(row[3] == "Running" and row[2] == "1/1" for row in _rows(out))


def test_get_pods_wide_has_the_columns_kube_apiserver_prints(live_small, kubectl):
    out = kubectl(live_small, "get", "pods", "-A", "-o", "wide").stdout
    assert _header(out) == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                            "NOMINATED NODE", "READINESS GATES"]


def test_get_nodes_wide_has_the_columns_kube_apiserver_prints(live_small, kubectl):
    out = kubectl(live_small, "get", "nodes", "-o", "wide").stdout
    assert _header(out) == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE",
                            "KERNEL-VERSION", "CONTAINER-RUNTIME"]


def test_label_node_adds_the_label(live_small, kubectl):
    assert "node/worker-1 labeled" in kubectl(live_small, "label", "node", "worker-1", "migration=calico").stdout
    assert kubectl(live_small, "get", "nodes", "-l", "migration=calico", "-o", "name").stdout.split() == ["node/worker-1"]


def test_cordon_shows_scheduling_disabled_and_uncordon_clears_it(live_small, kubectl):
    kubectl(live_small, "cordon", "worker-1")
    status = {row[0]: row[1] for row in _rows(kubectl(live_small, "get", "nodes").stdout)}
    assert status["worker-1"] == "Ready,SchedulingDisabled"
    kubectl(live_small, "uncordon", "worker-1")
    status = {row[0]: row[1] for row in _rows(kubectl(live_small, "get", "nodes").stdout)}
    assert status["worker-1"] == "Ready"


def test_drain_moves_evicted_pods_to_other_nodes_with_ips_from_their_pod_cidrs(live_small, kubectl):
    before = {p["metadata"]["name"] for p in _objects(kubectl, live_small, "pods", "-n", "demo")
              if p["spec"]["nodeName"] == "worker-1"}
    # two web pods share worker-1 and the budget allows one at a time: kubectl retries the second after 5 s
    result = kubectl(live_small, "drain", "worker-1", "--ignore-daemonsets", "--timeout=60s")
    assert "node/worker-1 drained" in result.stdout
    cidrs = _pod_cidrs(kubectl, live_small)
    deadline = time.monotonic() + 5
    while True:
        pods = _objects(kubectl, live_small, "pods", "-n", "demo")
        if all(p["status"].get("podIP") for p in pods) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert before and not before & {p["metadata"]["name"] for p in pods}
    assert len(pods) == 6
    for pod in pods:
        assert pod["spec"]["nodeName"] != "worker-1"
        assert ipaddress.ip_address(pod["status"]["podIP"]) in cidrs[pod["spec"]["nodeName"]]


def test_drain_blocked_by_a_pdb_gives_up_at_its_timeout_and_leaves_the_pod(live_small, kubectl, served_http):
    served_http(live_small, "PATCH", "/admin/faults", {"pdb_never_allows": ["demo/web"]})
    web = {p["metadata"]["name"] for p in _objects(kubectl, live_small, "pods", "-n", "demo", "-l", "app=web")
           if p["spec"]["nodeName"] == "worker-1"}
    result = kubectl(live_small, "drain", "worker-1", "--ignore-daemonsets", "--timeout=2s", check=False)
    assert result.returncode != 0
    assert "Cannot evict pod as it would violate the pod's disruption budget." in result.stderr
    assert "global timeout reached: 2s" in result.stderr
    still = {p["metadata"]["name"] for p in _objects(kubectl, live_small, "pods", "-n", "demo", "-l", "app=web")
             if p["spec"]["nodeName"] == "worker-1"}
    assert web and still == web


def test_delete_pod_removes_it(live_small, kubectl):
    name = _objects(kubectl, live_small, "pods", "-n", "demo", "-l", "app=api")[0]["metadata"]["name"]
    assert f'pod "{name}" deleted' in kubectl(live_small, "delete", "pod", "-n", "demo", name).stdout
    result = kubectl(live_small, "get", "pod", "-n", "demo", name, check=False)
    assert result.returncode == 1
    assert f'pods "{name}" not found' in result.stderr


def test_get_raw_version_answers_with_the_server_version(live_small, kubectl):
    version = json.loads(kubectl(live_small, "get", "--raw", "/version").stdout)
    assert (version["major"], version["minor"]) == ("1", "34")
    assert version["gitVersion"].startswith("v1.34.")


def test_apply_of_the_upstream_calico_manifest_creates_it_with_server_side_validation(live_small, kubectl):
    import pytest

    upstream = Path(__file__).resolve().parents[3] / "shared" / "upstream"
    manifest = upstream / "calico-v3.32.1" / "flannel-migration" / "calico.yaml"
    if not manifest.exists():
        pytest.skip(f"upstream manifests not available ({manifest} is absent)")
    out = kubectl(live_small, "apply", "-f", str(manifest)).stdout
    assert "daemonset.apps/calico-node created" in out
    assert "customresourcedefinition.apiextensions.k8s.io/ippools.crd.projectcalico.org created" in out
    requests = live_small.request_log.records()
    assert any(r.path.startswith("/openapi/v3/apis/apps/v1") for r in requests)
