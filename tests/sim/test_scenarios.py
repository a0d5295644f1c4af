"""The bundled scenarios build into what their descriptions promise; the loader rejects bad files
field by field."""
import ipaddress
import json
from collections import Counter

import pytest

from migrate.sim.cluster import SimCluster
from migrate.sim.context import is_pod_ready
from migrate.sim.scenario import (ScenarioError, UnknownScenario, bundled_scenarios, describe_bundled, load_scenario,
                                  resize)

BUNDLED = ["autoscaling", "canal", "hostgw", "jdcloud-prod", "large", "legacy", "small"]


def _kind(cluster: SimCluster, group: str, plural: str) -> list[dict]:
    return cluster.store.items(cluster.registry.lookup(group, "v1", plural))


def _settled(cluster: SimCluster) -> SimCluster:
    cluster.advance(30)
    return cluster


def _built(name: str) -> SimCluster:
    if name == "large":
        return _settled(SimCluster(resize(load_scenario("large"), 8)))
    return _settled(SimCluster(name))


def test_the_seven_scenarios_are_bundled_each_with_a_description():
    assert sorted(bundled_scenarios()) == BUNDLED
    assert all(description for _, description in describe_bundled())


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_scenario_runs_every_pod(name):
    cluster = _built(name)
    pods = cluster.store.items(cluster.ctx.pods)
    assert {p["status"].get("phase") for p in pods} == {"Running"}
    assert all(is_pod_ready(p) for p in pods)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_scenario_carries_traffic_without_failed_flows(name):
    cluster = _built(name)
    probe = cluster.network.probe
    assert probe.samples > 0
    assert probe.failed == 0


def test_nodes_register_with_every_condition_stamped():
    cluster = SimCluster("small")
    for node in cluster.store.items(cluster.ctx.nodes):
        for condition in node["status"]["conditions"]:
            assert condition["lastHeartbeatTime"] and condition["lastTransitionTime"], condition
            assert condition["message"], condition


def test_jdcloud_prod_has_20_nodes_over_3_zones_and_2_subnets():
    cluster = SimCluster("jdcloud-prod")
    nodes = cluster.store.items(cluster.ctx.nodes)
    addresses = [next(a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP") for n in nodes]
    assert len(nodes) == 20
    assert Counter(n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes) == {
        "cn-north-1a": 8, "cn-north-1b": 6, "cn-north-1c": 6}
    assert {str(ipaddress.ip_network(f"{a}/20", strict=False)) for a in addresses} == {"172.16.0.0/20", "172.16.32.0/20"}


def test_jdcloud_prod_runs_flannel_from_the_upstream_manifest():
    cluster = SimCluster("jdcloud-prod")
    daemonsets = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in _kind(cluster, "apps", "daemonsets")}
    assert ("kube-flannel", "kube-flannel-ds") in daemonsets
    config = cluster.store.find(cluster.registry.lookup("", "v1", "configmaps"), "kube-flannel", "kube-flannel-cfg")
    assert json.loads(config["data"]["net-conf.json"])["Backend"] == {"Type": "vxlan"}


def test_jdcloud_prod_guards_its_deployments_and_statefulset_with_pdbs():
    cluster = SimCluster("jdcloud-prod")
    budgets = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in _kind(cluster, "policy", "poddisruptionbudgets")}
    assert budgets == {("shop", "frontend"), ("shop", "catalog"), ("shop", "cart"), ("shop", "mysql"),
                       ("payments", "payments-api")}


def test_jdcloud_prod_runs_a_mysql_statefulset_of_three():
    cluster = SimCluster("jdcloud-prod")
    (mysql,) = _kind(cluster, "apps", "statefulsets")
    assert (mysql["metadata"]["namespace"], mysql["metadata"]["name"]) == ("shop", "mysql")
    assert mysql["status"]["readyReplicas"] == 3


def test_jdcloud_prod_has_its_network_policies():
    cluster = SimCluster("jdcloud-prod")
    policies = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in _kind(cluster, "networking.k8s.io", "networkpolicies")}
    assert policies == {("shop", "mysql-allow-frontend"), ("payments", "default-deny-ingress"),
                        ("payments", "allow-from-shop")}


def test_legacy_runs_kube_flannel_ds_amd64_in_kube_system():
    cluster = SimCluster("legacy")
    names = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in _kind(cluster, "apps", "daemonsets")}
    assert ("kube-system", "kube-flannel-ds-amd64") in names
    assert not any(ns == "kube-flannel" for ns, _ in names)


def test_legacy_nodes_run_kubernetes_1_22():
    cluster = SimCluster("legacy")
    versions = {n["status"]["nodeInfo"]["kubeletVersion"] for n in cluster.store.items(cluster.ctx.nodes)}
    assert versions == {"v1.22.17"}


def test_canal_runs_one_daemonset_named_canal_with_calico_and_flannel():
    cluster = SimCluster("canal")
    (canal,) = [d for d in _kind(cluster, "apps", "daemonsets") if d["metadata"]["name"] == "canal"]
    assert canal["metadata"]["namespace"] == "kube-system"
    containers = [c["name"] for c in canal["spec"]["template"]["spec"]["containers"]]
    assert containers == ["calico-node", "kube-flannel"]
    assert not any(d["metadata"]["name"].startswith("kube-flannel") for d in _kind(cluster, "apps", "daemonsets"))


def test_canal_enforces_its_network_policy():
    cluster = _settled(SimCluster("canal"))
    assert cluster.network.probe.denied_by_policy > 0


def test_hostgw_runs_the_host_gw_backend_without_a_vxlan_device():
    cluster = _settled(SimCluster("hostgw"))
    config = cluster.store.find(cluster.registry.lookup("", "v1", "configmaps"), "kube-flannel", "kube-flannel-cfg")
    assert json.loads(config["data"]["net-conf.json"])["Backend"] == {"Type": "host-gw"}
    for node in cluster.store.items(cluster.ctx.nodes):
        assert node["metadata"]["annotations"]["flannel.alpha.coreos.com/backend-type"] == "host-gw"
        assert "flannel.1" not in cluster.ctx.hosts[node["metadata"]["name"]].interfaces


def test_large_is_a_thousand_nodes_at_about_thirty_pods_each():
    scenario = load_scenario("large")
    assert scenario.node_count == 1000
    assert scenario.pods_per_node == 30


def test_resizing_large_keeps_about_thirty_pods_per_worker():
    cluster = SimCluster(resize(load_scenario("large"), 8))
    per_node = Counter(p["spec"]["nodeName"] for p in cluster.store.items(cluster.ctx.pods))
    assert len(cluster.store.items(cluster.ctx.nodes)) == 8
    assert per_node["worker-1"] >= 25


# ---- the loader ------------------------------------------------------------------------------

def _write(tmp_path, text: str) -> str:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return str(path)


GROUP = "nodeGroups:\n  - {count: 2, namePrefix: node-, subnet: 10.0.0.0/24}\n"


def test_a_minimal_scenario_file_needs_only_node_groups(tmp_path):
    scenario = load_scenario(_write(tmp_path, GROUP))
    assert (scenario.name, scenario.node_count, scenario.flannel.flavor) == ("scenario", 2, "manifest")


def test_overrides_replace_top_level_keys():
    scenario = load_scenario("small", overrides={"flannel": {"flavor": "none"}})
    assert scenario.flannel.flavor == "none"
    assert scenario.node_count == 3


def test_unknown_name_lists_the_bundled_scenarios():
    with pytest.raises(UnknownScenario) as info:
        load_scenario("smal")
    assert info.value.known == BUNDLED


@pytest.mark.parametrize("text, field, expected", [
    ("nodeGroups:\n  - {count: x, namePrefix: a-, subnet: 10.0.0.0/24}\n", "nodeGroups[0].count", "an integer"),
    ("nodeGroups:\n  - {count: 0, namePrefix: a-, subnet: 10.0.0.0/24}\n", "nodeGroups[0].count", "1 or more"),
    ("nodeGroups:\n  - {count: 1, namePrefix: a-, subnet: 10.0.0/33}\n", "nodeGroups[0].subnet", "CIDR"),
    ("nodeGroups:\n  - {count: 1, namePrefix: A_, subnet: 10.0.0.0/24}\n", "nodeGroups[0].namePrefix", "lower-case"),
    ("nodeGroups:\n  - {count: 1, namePrefix: a-, subnet: 10.0.0.0/24, labels: {tier: 1}}\n",
     "nodeGroups[0].labels.tier", "quote it"),
    (GROUP + "flannel: {backend: ipip}\n", "flannel.backend", "vxlan, host-gw"),
    (GROUP + "workloads: [{name: web, replicas: -1}]\n", "workloads[0].replicas", "0 or more"),
    (GROUP + "workloads: [{name: Web}]\n", "workloads[0].name", "lower-case"),
    (GROUP + "workloads: [{name: web, pdb: {minAvailable: 1, maxUnavailable: 1}}]\n", "workloads[0].pdb.minAvailable",
     "exactly one"),
    (GROUP + "networkPolicies: [{name: p, spec: {podSelector: {matchLabels: {app: [1]}}}}]\n",
     "networkPolicies[0].spec.podSelector.matchLabels.app", "a string"),
    (GROUP + "timings: {probe_interval: 0}\n", "timings.probe_interval", "above 0"),
    (GROUP + "faults: {api_error_rate: often}\n", "faults.api_error_rate", "from 0 to 1"),
    (GROUP + "faults: {api_error_codes: [404]}\n", "faults.api_error_codes", "429, 500"),
    (GROUP + "cluster: {nodeCIDRMaskSize: 40}\n", "cluster.nodeCIDRMaskSize", "from 8 to 30"),
])
def test_a_bad_field_is_named_with_what_was_expected(tmp_path, text, field, expected):
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.field_path == field
    assert expected in info.value.expected
    assert path in info.value.message and field in info.value.message


def test_an_unknown_field_is_named_with_the_known_ones(tmp_path):
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, GROUP + "nodegroups: []\n"))
    assert info.value.field_path == "nodegroups"
    assert "nodeGroups" in info.value.message


def test_a_yaml_syntax_error_names_the_line(tmp_path):
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, "nodeGroups:\n\t- x\n"))
    assert info.value.field_path == "line 2, column 1"


def test_node_groups_sharing_names_are_rejected(tmp_path):
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, GROUP + "  - {count: 1, namePrefix: node-, subnet: 10.0.0.0/24}\n"))
    assert info.value.field_path == "nodeGroups[1].namePrefix"
    assert "node-1" in info.value.expected


def test_more_nodes_than_the_subnet_holds_are_rejected(tmp_path):
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, "nodeGroups:\n  - {count: 250, namePrefix: n-, subnet: 10.0.0.0/24}\n"))
    assert info.value.field_path == "nodeGroups[0].subnet"


def test_more_nodes_than_the_cluster_cidr_has_pod_cidrs_are_rejected(tmp_path):
    text = "cluster: {clusterCIDR: 10.244.0.0/22}\n" + GROUP.replace("count: 2", "count: 5")
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, text))
    assert info.value.field_path == "cluster.clusterCIDR"


def test_resize_sets_the_total_through_the_last_group():
    scenario = resize(load_scenario("jdcloud-prod"), 25)
    assert scenario.node_count == 25
    assert scenario.node_groups[-1].count == 10


def test_resize_below_the_other_groups_is_rejected():
    with pytest.raises(ScenarioError) as info:
        resize(load_scenario("small"), 1)
    assert info.value.field_path == "--nodes"


def test_a_scenario_the_api_refuses_fails_in_one_line_naming_the_object(tmp_path):
    # set after loading, past the loader's checks: a label value that is not a string
    scenario = load_scenario(_write(tmp_path, GROUP))
    scenario.workloads = [{"kind": "Deployment", "name": "web", "labels": {"tier": 1}}]
    with pytest.raises(ScenarioError) as info:
        SimCluster(scenario)
    assert "Deployment default/web" in info.value.message


def test_a_node_groups_src_dst_check_overrides_the_clusters_for_its_subnet():
    from migrate.sim.scenario import parse_scenario
    scenario = parse_scenario({"cluster": {"srcDstCheck": True, "securityGroup": {"allowIPIP": False}},
                               "nodeGroups": [{"count": 1, "namePrefix": "a-", "subnet": "10.0.1.0/24",
                                               "srcDstCheck": False},
                                              {"count": 1, "namePrefix": "b-", "subnet": "10.0.2.0/24"}]}, "t")
    cloud = scenario.cloud
    assert not cloud.checks_source("10.0.1.10") and cloud.checks_source("10.0.2.10")
    assert not cloud.allow_ipip and cloud.allow_bgp
