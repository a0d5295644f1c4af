"""Snapshots gathered from the simulated scenarios, and the file's integrity checks."""
from __future__ import annotations

import pytest
import yaml

from migrate import kube
from migrate.sim.cluster import running_cluster
from migrate.sim.scenario import load_scenario
from migrate.snapshot import SnapshotFileError, gather_snapshot, load_snapshot, parse_net_conf, snapshot_to_yaml


def snapshot_of(running):
    return gather_snapshot(kube.connect(str(running.kubeconfig_path), sleep=lambda s: None))


@pytest.fixture(scope="module")
def jdcloud():
    with running_cluster("jdcloud-prod") as running:
        yield running, snapshot_of(running)


def test_snapshot_makes_no_writes(jdcloud):
    running, _ = jdcloud
    assert running.request_log.writes() == []


def test_cluster_id_is_the_kube_system_uid(jdcloud):
    from kubernetes import client
    running, taken = jdcloud
    assert taken.cluster_id == client.CoreV1Api(running.api_client()).read_namespace("kube-system").metadata.uid


def test_jdcloud_nodes_span_three_zones(jdcloud):
    _, taken = jdcloud
    nodes = taken.content["nodes"]
    assert len(nodes) == 20 and len({n["zone"] for n in nodes}) == 3
    assert all(n["podCIDRs"] and n["flannel"]["vtepMAC"] for n in nodes)


def test_jdcloud_network_policies_list_selected_pods(jdcloud):
    _, taken = jdcloud
    policies = taken.content["networkPolicies"]
    assert policies and any(p["selectedPods"] for p in policies)


def test_jdcloud_pdbs_carry_their_status(jdcloud):
    _, taken = jdcloud
    assert all("disruptionsAllowed" in p["status"] for p in taken.content["podDisruptionBudgets"])
    assert taken.content["podDisruptionBudgets"]


def test_pods_are_grouped_by_node_and_kind(jdcloud):
    _, taken = jdcloud
    kinds = {p["kind"] for pods in taken.content["pods"].values() for p in pods}
    assert {"daemonset", "controller"} <= kinds


@pytest.mark.parametrize("scenario, flavor, namespace, daemonset, backend", [
    ("small", "manifest", "kube-flannel", "kube-flannel-ds", "vxlan"),
    ("legacy", "legacy", "kube-system", "kube-flannel-ds-amd64", "vxlan"),
    ("canal", "canal", "kube-system", "canal", "vxlan"),
    ("hostgw", "manifest", "kube-flannel", "kube-flannel-ds", "host-gw"),
])
def test_flannel_is_found_wherever_it_is(scenario, flavor, namespace, daemonset, backend):
    with running_cluster(scenario) as running:
        flannel = snapshot_of(running).content["flannel"]
    assert (flannel["flavor"], flannel["namespace"], flannel["daemonSet"]) == (flavor, namespace, daemonset)
    assert flannel["netConf"]["backend"]["type"] == backend


def test_net_conf_defaults_follow_flannel():
    parsed = parse_net_conf('{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}')
    assert parsed["subnetLen"] == 24 and parsed["backend"]["vni"] == 1 and parsed["backend"]["port"] == 8472


def test_backend_mtu_is_recorded_whatever_the_keys_case_and_a_top_level_mtu_is_not():
    # Go's encoding/json, which flanneld decodes with, matches keys case-insensitively
    assert parse_net_conf('{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "mtu": 1400}}')[
        "backend"]["mtu"] == 1400
    parsed = parse_net_conf('{"Network": "10.244.0.0/16", "MTU": 1400, "Backend": {"Type": "vxlan"}}')
    assert "mtu" not in parsed and "mtu" not in parsed["backend"]


def test_malformed_net_conf_is_recorded_not_raised():
    assert "parseError" in parse_net_conf('{"Network": ')


def test_digest_is_stable_for_an_unchanged_cluster(served_small):
    assert snapshot_of(served_small).digest == snapshot_of(served_small).digest


def test_snapshot_file_round_trips(served_small, tmp_path):
    taken = snapshot_of(served_small)
    path = tmp_path / "snap.yaml"
    path.write_text(snapshot_to_yaml(taken))
    assert load_snapshot(path) == taken


@pytest.fixture
def snapshot_file(served_small, tmp_path):
    path = tmp_path / "snap.yaml"
    path.write_text(snapshot_to_yaml(snapshot_of(served_small)))
    return path


def test_truncated_snapshot_is_refused(snapshot_file):
    text = snapshot_file.read_text()
    snapshot_file.write_text(text[: len(text) // 2])
    with pytest.raises(SnapshotFileError, match="truncated"):
        load_snapshot(snapshot_file)


def test_edited_snapshot_is_refused(snapshot_file):
    snapshot_file.write_text(snapshot_file.read_text().replace("10.244.0.0/24", "10.244.9.0/24"))
    with pytest.raises(SnapshotFileError, match="digest"):
        load_snapshot(snapshot_file)


def test_snapshot_of_another_schema_is_refused(snapshot_file):
    document = yaml.safe_load(snapshot_file.read_text())
    document["schema"] = "migrate.snapshot/v9"
    snapshot_file.write_text(yaml.safe_dump(document))
    with pytest.raises(SnapshotFileError, match="schema") as raised:
        load_snapshot(snapshot_file)
    assert raised.value.exit_code == 2 and "\n" not in raised.value.line()


def list_calls_for(nodes: int) -> int:
    scenario = load_scenario("large")
    scenario.node_groups[-1].count = nodes
    with running_cluster(scenario) as running:
        client = kube.connect(str(running.kubeconfig_path), sleep=lambda s: None)
        client.page_size = 10_000
        gather_snapshot(client)
        return sum(1 for r in running.request_log.records() if r.verb == "list")


def test_list_calls_do_not_grow_with_nodes():
    assert list_calls_for(8) == list_calls_for(40)


def test_a_renamed_flannel_daemonset_is_found_through_its_pods(served_small):
    from kubernetes import client
    api = served_small.api_client()
    apps = client.AppsV1Api(api)
    body = api.sanitize_for_serialization(apps.read_namespaced_daemon_set("kube-flannel-ds", "kube-flannel"))
    body["metadata"] = {"name": "pod-network", "namespace": "kube-flannel"}
    body.pop("status", None)
    apps.delete_namespaced_daemon_set("kube-flannel-ds", "kube-flannel", propagation_policy="Orphan")
    apps.create_namespaced_daemon_set("kube-flannel", body)
    served_small.cluster.advance(30)
    flannel = snapshot_of(served_small).content["flannel"]
    assert flannel["found"] and flannel["daemonSet"] == "pod-network" and flannel["flavor"] == "manifest"
