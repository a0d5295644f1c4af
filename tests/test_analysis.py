"""Preflight analysis: each check on a small hand-written snapshot, then the simulator's scenarios."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from migrate import kube
from migrate.analysis import BLOCKER, INFO, WARNING, analyse
from migrate.sim.cluster import running_cluster
from migrate.snapshot import gather_snapshot

from handmade import node, pod


def codes(content, severity=None):
    return [f.code for f in analyse(content) if severity is None or f.severity == severity]


def finding(content, code):
    return next(f for f in analyse(content) if f.code == code)


def test_healthy_cluster_has_only_info_findings(snap):
    assert {f.severity for f in analyse(snap)} == {INFO}
    assert codes(snap) == ["FLANNEL_FOUND", "CLOUD_SECURITY_GROUPS", "FLANNEL_MTU_FROM_NICS", "CLOUD_MTU"]


def test_findings_are_frozen_and_carry_a_fix(snap):
    f = analyse(snap)[0]
    with pytest.raises(AttributeError):
        f.code = "X"
    assert f.fix and f.message


def test_missing_flannel_is_a_blocker_that_says_where_it_looked(snap):
    snap["flannel"] = {"found": False, "searched": ["DaemonSet kube-flannel-ds in namespace kube-flannel",
                                                    "pods labelled app=flannel, k8s-app=flannel or k8s-app=canal in any namespace"]}
    f = finding(snap, "FLANNEL_NOT_FOUND")
    assert f.severity == BLOCKER and "kube-flannel-ds in namespace kube-flannel" in f.message
    assert "app=flannel" in f.message


@pytest.mark.parametrize("backend", ["host-gw", "wireguard", "udp"])
def test_backend_other_than_vxlan_blocks_and_names_the_maintenance_window(snap, backend):
    snap["flannel"]["netConf"]["backend"]["type"] = backend
    f = finding(snap, "BACKEND_NOT_VXLAN")
    assert f.severity == BLOCKER and backend in f.message and "maintenance-window" in f.fix


def test_direct_routing_blocks(snap):
    snap["flannel"]["netConf"]["backend"]["directRouting"] = True
    f = finding(snap, "VXLAN_DIRECT_ROUTING")
    assert f.severity == BLOCKER and "maintenance-window" in f.fix


def test_unparsable_net_conf_blocks(snap):
    snap["flannel"]["netConf"] = {"parseError": "net-conf.json is not valid: Expecting value", "raw": "{"}
    assert finding(snap, "NET_CONF_UNREADABLE").severity == BLOCKER


def test_node_without_pod_cidr_is_named(snap):
    snap["nodes"][1]["podCIDRs"] = []
    f = finding(snap, "NODE_WITHOUT_POD_CIDR")
    assert f.severity == BLOCKER and "worker-1" in f.message


def test_pod_cidr_outside_network_names_node_and_cidr(snap):
    snap["nodes"][2] = node("worker-2", "192.168.10.12", "10.250.2.0/24")
    f = finding(snap, "POD_CIDR_OUTSIDE_NETWORK")
    assert f.severity == BLOCKER and "worker-2 (10.250.2.0/24)" in f.message and "10.244.0.0/16" in f.message


def test_node_range_smaller_than_the_block_blocks(snap):
    snap["nodes"][1] = node("worker-1", "192.168.10.11", "10.244.1.0/26")
    f = finding(snap, "NODE_MASK_SMALLER_THAN_BLOCK")
    assert f.severity == BLOCKER and "worker-1 (10.244.1.0/26)" in f.message and "/24" in f.message


def test_block_size_option_smaller_than_node_ranges_is_fine(snap):
    snap["nodes"][1] = node("worker-1", "192.168.10.11", "10.244.1.0/26")
    assert "NODE_MASK_SMALLER_THAN_BLOCK" not in [f.code for f in analyse(snap, block_size=26)]


def test_existing_pool_block_size_is_the_block_checked(snap):
    snap["calico"]["ipPools"] = [{"name": "default", "cidr": "10.244.0.0/16", "blockSize": 22}]
    assert "NODE_MASK_SMALLER_THAN_BLOCK" in codes(snap)


def test_pod_network_containing_node_addresses_is_the_vpc_conflict(snap):
    snap["nodes"][0] = node("cp-1", "10.244.200.5", "10.244.0.0/24")
    f = finding(snap, "POD_NETWORK_OVERLAPS_NODES")
    assert f.severity == BLOCKER and "cp-1 (10.244.200.5)" in f.message


def test_pod_network_overlapping_service_range_blocks(snap):
    snap["serviceNetwork"]["serviceSubnet"] = "10.244.128.0/20"
    f = finding(snap, "POD_NETWORK_OVERLAPS_SERVICES")
    assert f.severity == BLOCKER and "10.244.128.0/20" in f.message


def test_service_ip_inside_network_is_an_overlap_when_the_range_is_unknown(snap):
    snap["serviceNetwork"] = {"podSubnet": None, "serviceSubnet": None, "kubernetesServiceIP": "10.244.250.1"}
    assert "POD_NETWORK_OVERLAPS_SERVICES" in codes(snap, BLOCKER)


def test_nodes_in_several_subnets_warn_with_the_assumption_and_encapsulation(snap):
    snap["nodes"][2] = node("worker-2", "192.168.20.12", "10.244.2.0/24", zone="zone-b")
    f = finding(snap, "NODES_IN_SEVERAL_SUBNETS")
    assert f.severity == WARNING
    assert "192.168.10.0/24" in f.message and "192.168.20.0/24" in f.message and "assumed" in f.message
    assert "CrossSubnet" in f.fix and "BGP" in f.fix


def test_single_node_cluster_warns(snap):
    snap["nodes"] = snap["nodes"][:1]
    f = finding(snap, "SINGLE_NODE_CLUSTER")
    assert f.severity == WARNING and "cp-1" in f.message


def test_pdb_allowing_no_disruption_blocks_with_its_status(snap):
    snap["podDisruptionBudgets"][0]["status"].update(disruptionsAllowed=0, currentHealthy=1, desiredHealthy=1)
    f = finding(snap, "PDB_BLOCKS_DRAIN")
    assert f.severity == BLOCKER
    assert "shop/web (disruptionsAllowed=0, currentHealthy=1, desiredHealthy=1)" in f.message


def test_unmanaged_pods_are_named_per_node(snap):
    snap["pods"]["worker-1"].append(pod("debug", "default", kind="unmanaged"))
    f = finding(snap, "UNMANAGED_PODS")
    assert f.severity == WARNING and "worker-1: default/debug" in f.message


def test_emptydir_pods_are_named_per_node_but_not_daemonset_pods(snap):
    snap["pods"]["worker-2"].append(pod("cache-1", "shop", empty_dir=True))
    snap["pods"]["worker-2"].append(pod("agent-x", "kube-system", kind="daemonset", empty_dir=True))
    f = finding(snap, "EMPTYDIR_PODS")
    assert f.severity == WARNING and "worker-2: shop/cache-1" in f.message and "agent-x" not in f.message


def test_not_ready_nodes_block(snap):
    snap["nodes"][2]["ready"] = "Unknown"
    f = finding(snap, "NODE_NOT_READY")
    assert f.severity == BLOCKER and "worker-2 (Ready=Unknown)" in f.message


def test_ipv6_in_flannel_blocks(snap):
    snap["flannel"]["netConf"].update(enableIPv6=True, ipv6Network="fd00:10:244::/56")
    f = finding(snap, "IPV6_DUAL_STACK")
    assert f.severity == BLOCKER and "fd00:10:244::/56" in f.message


def test_dual_stack_pod_cidrs_block(snap):
    snap["nodes"][1]["podCIDRs"].append({"cidr": "fd00:10:244:1::/64", "prefixLength": 64})
    assert "worker-1" in finding(snap, "IPV6_DUAL_STACK").message


def test_addon_manager_reconciling_flannel_blocks(snap):
    snap["flannel"]["addonManager"] = "Reconcile"
    f = finding(snap, "FLANNEL_ADDON_MANAGED")
    assert f.severity == BLOCKER and "Reconcile" in f.message


def test_addon_manager_ensure_exists_only_warns(snap):
    snap["flannel"]["addonManager"] = "EnsureExists"
    assert finding(snap, "FLANNEL_ADDON_MANAGED").severity == WARNING


def test_calico_pool_overlapping_differently_blocks(snap):
    snap["calico"]["ipPools"] = [{"name": "default-ipv4-ippool", "cidr": "10.244.0.0/17", "blockSize": 24}]
    f = finding(snap, "CALICO_POOL_CONFLICT")
    assert f.severity == BLOCKER and "default-ipv4-ippool" in f.message and "10.244.0.0/17" in f.message


def test_calico_pool_matching_network_is_no_conflict(snap):
    snap["calico"]["ipPools"] = [{"name": "default-ipv4-ippool", "cidr": "10.244.0.0/16", "blockSize": 24}]
    assert "CALICO_POOL_CONFLICT" not in codes(snap)


def test_running_calico_node_blocks(snap):
    snap["calico"]["calicoNode"] = {"namespace": "kube-system", "name": "calico-node"}
    assert "kube-system/calico-node" in finding(snap, "CALICO_ALREADY_RUNNING").message


def test_canal_is_detected_and_its_policies_are_not_reported_as_new(snap):
    snap["flannel"].update(flavor="canal", namespace="kube-system", daemonSet="canal")
    snap["networkPolicies"] = [{"namespace": "shop", "name": "deny", "podSelector": {}, "policyTypes": ["Ingress"],
                                "ingress": [], "egress": [], "selectedPods": ["web-1"]}]
    assert finding(snap, "CANAL_DETECTED").severity == INFO
    assert "NETWORK_POLICY_WILL_BE_ENFORCED" not in codes(snap)


def test_default_deny_policy_warns_it_will_deny_all_ingress_to_its_pods(snap):
    snap["networkPolicies"] = [{"namespace": "shop", "name": "default-deny", "podSelector": {},
                                "policyTypes": ["Ingress"], "ingress": [], "egress": [],
                                "selectedPods": ["db-0", "web-1"]}]
    f = finding(snap, "NETWORK_POLICY_WILL_BE_ENFORCED")
    assert f.severity == WARNING and "shop/default-deny" in f.message
    assert "db-0 (worker-2)" in f.message and "web-1 (worker-1)" in f.message and "deny all ingress" in f.message


def test_ingress_policy_warns_it_will_deny_what_its_from_rules_do_not_allow(snap):
    snap["networkPolicies"] = [{"namespace": "shop", "name": "db-allow-web", "podSelector": {"matchLabels": {"app": "db"}},
                                "policyTypes": ["Ingress"], "egress": [], "selectedPods": ["db-0"],
                                "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                                             "ports": [{"protocol": "TCP", "port": 5432}]}]}]
    message = finding(snap, "NETWORK_POLICY_WILL_BE_ENFORCED").message
    assert "all ingress except from pods labelled app=web in shop on TCP/5432" in message


def test_egress_policy_describes_denied_egress(snap):
    snap["networkPolicies"] = [{"namespace": "shop", "name": "web-egress", "podSelector": {"matchLabels": {"app": "web"}},
                                "policyTypes": ["Egress"], "ingress": [], "selectedPods": ["web-1"],
                                "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]}]
    assert "all egress except to 10.0.0.0/8" in finding(snap, "NETWORK_POLICY_WILL_BE_ENFORCED").message


def test_cloud_checklist_names_ports_and_protocols(snap):
    message = finding(snap, "CLOUD_SECURITY_GROUPS").message
    assert all(s in message for s in ("UDP 8472", "UDP 4789", "IP protocol 4", "TCP 179"))


def test_cloud_checklist_asks_for_the_source_destination_check_off_when_nodes_share_a_subnet(snap):
    assert "source/destination check must be off" in finding(snap, "CLOUD_SECURITY_GROUPS").message
    for i, n in enumerate(snap["nodes"]):
        n["addresses"][0]["address"] = f"192.168.{10 + i}.10"
    assert "source/destination" not in finding(snap, "CLOUD_SECURITY_GROUPS").message


def test_mtu_defaults_to_a_1500_network(snap):
    f = finding(snap, "CLOUD_MTU")
    assert f.severity == INFO and "1450" in f.message and "1480" in f.message and "assumed" in f.message


def test_mtu_follows_flannels_backend_mtu_which_is_the_underlays(snap):
    snap["flannel"]["netConf"]["backend"]["mtu"] = 9000  # a 9000-byte jumbo-frame network
    message = finding(snap, "CLOUD_MTU").message
    assert "9000" in message and "8950" in message and "8980" in message


def test_a_top_level_mtu_which_flannel_never_reads_is_ignored(snap):
    snap["flannel"]["netConf"]["mtu"] = 8950  # as snapshots before Backend.MTU recorded it
    assert "assumed a 1500-byte host network" in finding(snap, "CLOUD_MTU").message


def test_without_backend_mtu_the_prepare_step_is_said_to_read_every_nodes_mtu(snap):
    f = finding(snap, "FLANNEL_MTU_FROM_NICS")
    assert f.severity == INFO and "1450" in f.message and "--mtu" in f.message and "prepare/flannel-mtu" in f.fix


def test_with_backend_mtu_nothing_needs_reading_on_the_nodes(snap):
    snap["flannel"]["netConf"]["backend"]["mtu"] = 1400
    assert "FLANNEL_MTU_FROM_NICS" not in codes(snap)


def test_mixed_flannel_mtus_in_host_facts_warn_and_name_the_smallest(snap):
    snap["hostFacts"] = {"worker-1": {"flannelMTU": 1450}, "worker-2": {"flannelMTU": 1350},
                         "control-plane-1": {"flannelMTU": 1450}}
    f = finding(snap, "MIXED_FLANNEL_MTU")
    assert f.severity == WARNING and "1350 on worker-2" in f.message and f.fix.startswith("plan with --mtu 1350")


def test_one_flannel_mtu_in_host_facts_is_no_finding(snap):
    snap["hostFacts"] = {"worker-1": {"flannelMTU": 1450}, "worker-2": {"flannelMTU": 1450}}
    assert "MIXED_FLANNEL_MTU" not in codes(snap)


def test_blockers_come_first_then_warnings_then_info_in_check_order(snap):
    snap["nodes"][2]["ready"] = "False"
    snap["pods"]["worker-1"].append(pod("debug", kind="unmanaged"))
    snap["flannel"]["netConf"]["backend"]["type"] = "host-gw"
    severities = [f.severity for f in analyse(snap)]
    assert severities == sorted(severities, key=[BLOCKER, WARNING, INFO].index)
    assert codes(snap, BLOCKER) == ["BACKEND_NOT_VXLAN", "NODE_NOT_READY"]
    assert analyse(snap) == analyse(copy.deepcopy(snap))


def test_analyse_accepts_a_snapshot_object(snap):
    from migrate.snapshot import Snapshot
    taken = Snapshot(cluster_id="x", captured_at="now", content=snap, digest="sha256:x")
    assert analyse(taken) == analyse(snap)


# ---- the simulator's scenarios ---------------------------------------------------------------

def findings_of(scenario):
    with running_cluster(scenario) as running:
        return analyse(gather_snapshot(kube.connect(str(running.kubeconfig_path), sleep=lambda s: None)))


@pytest.fixture(scope="module")
def jdcloud_findings():
    return findings_of("jdcloud-prod")


def test_jdcloud_has_no_blocker(jdcloud_findings):
    assert [f for f in jdcloud_findings if f.severity == BLOCKER] == []


def test_jdcloud_warns_about_each_network_policy(jdcloud_findings):
    policies = [f.message for f in jdcloud_findings if f.code == "NETWORK_POLICY_WILL_BE_ENFORCED"]
    assert len(policies) == 3
    assert any("shop/mysql-allow-frontend" in m and "mysql-0" in m and "TCP/3306" in m for m in policies)
    assert any("payments/default-deny-ingress" in m and "deny all ingress" in m for m in policies)
    assert any("payments/allow-from-shop" in m and "team=shop" in m for m in policies)


def test_jdcloud_warns_about_its_two_subnets(jdcloud_findings):
    f = next(f for f in jdcloud_findings if f.code == "NODES_IN_SEVERAL_SUBNETS")
    assert f.severity == WARNING and "2 subnets" in f.message
    assert "172.16.0.0/24" in f.message and "172.16.32.0/24" in f.message


def test_hostgw_gets_the_backend_blocker():
    assert "BACKEND_NOT_VXLAN" in [f.code for f in findings_of("hostgw") if f.severity == BLOCKER]


def test_legacy_flannel_is_found_in_kube_system_without_blocker():
    findings = findings_of("legacy")
    found = next(f for f in findings if f.code == "FLANNEL_FOUND")
    assert "kube-system" in found.message and "kube-flannel-ds-amd64" in found.message
    assert [f for f in findings if f.severity == BLOCKER] == []


def test_canal_is_detected_and_migrates_with_no_blocker():
    findings = findings_of("canal")
    assert "CANAL_DETECTED" in [f.code for f in findings if f.severity == INFO]
    assert [f.code for f in findings if f.severity == BLOCKER] == []
    assert "NETWORK_POLICY_WILL_BE_ENFORCED" not in [f.code for f in findings]


def test_an_api_server_without_eviction_blocks(snap):
    snap["apis"]["eviction"] = False
    assert "EVICTION_API_MISSING" in codes(snap, BLOCKER)


def test_an_api_server_without_leases_blocks(snap):
    snap["apis"]["leases"] = False
    assert "LEASE_API_MISSING" in codes(snap, BLOCKER)


def test_kube_proxy_masquerading_by_another_cluster_cidr_is_warned_about(snap):
    snap["kubeProxy"]["clusterCIDR"] = "10.200.0.0/16"
    f = finding(snap, "KUBE_PROXY_CLUSTER_CIDR_MISMATCH")
    assert f.severity == WARNING and "10.244.0.0/16" in f.fix


def test_a_node_without_flannels_vtep_blocks(snap):
    snap["nodes"][2]["flannel"]["vtepMAC"] = None
    f = finding(snap, "NODE_WITHOUT_FLANNEL_VTEP")
    assert f.severity == BLOCKER and "worker-2" in f.message


# ---- the Calico release against the cluster's Kubernetes --------------------------------------------

def release_codes(minor, version, manifest=None):
    from migrate.analysis import release
    content = {"server": {"gitVersion": f"v1.{minor}.3", "major": "1", "minor": str(minor)}}
    return [(f.severity, f.code) for f in release.check(content, version, manifest)]


def test_a_release_tested_on_the_clusters_kubernetes_passes():
    assert release_codes(26, "v3.26.5") == []


def test_a_release_whose_oldest_tested_kubernetes_is_newer_than_the_cluster_blocks():
    assert release_codes(26, "v3.32.1") == [("blocker", "CALICO_RELEASE_TOO_NEW_FOR_KUBERNETES")]


def test_a_cluster_newer_than_the_release_was_tested_on_is_a_warning():
    assert release_codes(30, "v3.26.5") == [("warning", "CALICO_RELEASE_UNTESTED_ON_KUBERNETES")]


def test_a_release_missing_from_the_table_is_a_warning_not_a_guess():
    assert release_codes(34, "v3.40.0") == [("warning", "CALICO_RELEASE_UNKNOWN")]


def test_the_advice_names_the_newest_release_tested_on_the_clusters_kubernetes():
    from migrate.analysis import release
    assert release.newest_release_tested_on(26) == "v3.26"
    assert release.newest_release_tested_on(31) == "v3.30"


def test_crds_calling_the_cel_cidr_library_block_a_kubernetes_older_than_1_31():
    crd = {"kind": "CustomResourceDefinition", "metadata": {"name": "clusternetworkpolicies.policy.networking.k8s.io"},
           "spec": {"versions": [{"schema": {"openAPIV3Schema": {"properties": {"cidr": {
               "type": "string", "x-kubernetes-validations": [{"rule": "isCIDR(self)"}]}}}}}]}}
    assert ("blocker", "CALICO_CRDS_NEED_NEWER_KUBERNETES") in release_codes(26, "v3.26.5", [crd])
    assert release_codes(34, "v3.32.1", [crd]) == []


def test_the_upstream_calico_v3_32_crds_need_kubernetes_1_31(upstream_file):
    from migrate.analysis import release
    from migrate.calico_manifest import manifest_objects
    floor = release.cel_floor(manifest_objects(upstream_file("calico-v3.32.1/calico.yaml").read_text()))
    assert floor[0] == 31 and floor[1].startswith("clusternetworkpolicies.policy.networking.k8s.io")


def test_replicated_kube_system_workloads_without_a_pdb_are_a_warning(snap):
    for name in ("worker-1", "worker-2"):
        snap["pods"][name].append(pod(f"coredns-{name}", "kube-system", labels={"k8s-app": "kube-dns"},
                                      workload="Deployment/coredns"))
    f = finding(snap, "SYSTEM_WORKLOAD_WITHOUT_PDB")
    assert f.severity == WARNING and "Deployment/coredns (2 replicas on worker-1, worker-2)" in f.message


def test_a_kube_system_workload_covered_by_a_pdb_needs_no_warning(snap):
    for name in ("worker-1", "worker-2"):
        snap["pods"][name].append(pod(f"coredns-{name}", "kube-system", labels={"k8s-app": "kube-dns"},
                                      workload="Deployment/coredns"))
    snap["podDisruptionBudgets"].append({"namespace": "kube-system", "name": "coredns",
                                         "selector": {"matchLabels": {"k8s-app": "kube-dns"}}, "minAvailable": 1,
                                         "maxUnavailable": None, "status": {"disruptionsAllowed": 1}})
    assert "SYSTEM_WORKLOAD_WITHOUT_PDB" not in codes(snap)


def test_a_node_whose_flannel_address_is_not_its_internal_ip_blocks_naming_both(snap):
    snap["nodes"][1]["flannel"]["publicIP"] = "10.250.0.10"
    f = finding(snap, "FLANNEL_ADDRESS_NOT_INTERNAL_IP")
    assert f.severity == BLOCKER
    assert "worker-1 (Flannel 10.250.0.10, InternalIP 192.168.10.11)" in f.message
    assert "--node-ip" in f.fix and "--iface" in f.fix


def test_a_windows_node_blocks_with_the_fix_of_removing_it_until_after_finalize():
    scenario = str(Path(__file__).parent / "scenarios" / "windows.yaml")
    found = {f.code: f for f in findings_of(scenario)}
    windows = found["NODE_NOT_LINUX"]
    assert windows.severity == BLOCKER and "win-1 (windows)" in windows.message
    assert "4096" in windows.message and "4789" in windows.message
    assert "remove the Windows nodes" in windows.fix
    assert "NODE_WITHOUT_FLANNEL_VTEP" not in found  # one finding, the one that says why


def test_flannel_vxlan_gbp_is_a_warning(snap):
    snap["flannel"]["netConf"]["backend"]["gbp"] = True
    assert finding(snap, "VXLAN_GBP").severity == WARNING


def test_gbp_in_net_conf_reaches_the_snapshot():
    from migrate.snapshot import parse_net_conf
    conf = parse_net_conf('{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "GBP": true}}')
    assert conf["backend"]["gbp"] is True
