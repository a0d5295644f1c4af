"""Flanneld on the node hosts, and the connectivity oracle and traffic probe built on them."""
import ipaddress
import json
import re

from migrate.sim.cluster import SimCluster
from migrate.sim.scenario import load_scenario

FLANNEL = "flannel.alpha.coreos.com/"
PAUSE = "registry.k8s.io/pause:3.10"


def node(c, name):
    return c.store.find(c.ctx.nodes, None, name)


def pods_on(c, node_name, namespace="demo"):
    return [p for p in c.store.items(c.ctx.pods, namespace)
            if p["spec"].get("nodeName") == node_name and not p["metadata"].get("deletionTimestamp")]


def key(pod):
    return pod["metadata"]["namespace"], pod["metadata"]["name"]


def ip(pod):
    return pod["status"]["podIP"]


def pin(name, node_name, namespace="demo", labels=None):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {"test": name}},
            "spec": {"nodeName": node_name, "containers": [{"name": "main", "image": PAUSE}]}}


def flannel_scenario(**flannel):
    return load_scenario("small", overrides={"flannel": {"flavor": "manifest", "backend": "vxlan", **flannel}})


# ---- flanneld -------------------------------------------------------------------------

def test_flanneld_creates_flannel_1_with_the_default_vni_and_port(small_cluster):
    c = small_cluster
    device = c.ctx.hosts["worker-1"].interfaces["flannel.1"]
    assert (device.kind, device.vni, device.port, device.mtu) == ("vxlan", 1, 8472, 1450)
    assert device.addresses == ["10.244.1.0/32"]
    assert device.local_ip == "192.168.10.11"


def test_flanneld_uses_the_configured_vni_and_port():
    c = SimCluster(flannel_scenario(vni=4, port=8999))
    host = c.ctx.hosts["worker-1"]
    assert "flannel.1" not in host.interfaces
    device = host.interfaces["flannel.4"]
    assert (device.vni, device.port) == (4, 8999)
    assert json.loads(node(c, "worker-1")["metadata"]["annotations"][FLANNEL + "backend-data"])["VNI"] == 4


def test_flanneld_writes_subnet_env(small_cluster):
    assert small_cluster.ctx.hosts["worker-2"].read_file("/run/flannel/subnet.env") == (
        "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.2.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n")


def test_flanneld_annotates_its_node(small_cluster):
    c = small_cluster
    annotations = node(c, "worker-1")["metadata"]["annotations"]
    mac = c.ctx.hosts["worker-1"].interfaces["flannel.1"].mac
    assert annotations[FLANNEL + "backend-type"] == "vxlan"
    assert json.loads(annotations[FLANNEL + "backend-data"]) == {"VNI": 1, "VtepMAC": mac}
    assert annotations[FLANNEL + "public-ip"] == "192.168.10.11"
    assert annotations[FLANNEL + "kube-subnet-manager"] == "true"


def test_flanneld_keeps_its_iptables_chains(small_cluster):
    host = small_cluster.ctx.hosts["worker-1"]
    postrtg = host.iptables["nat"]["FLANNEL-POSTRTG"]
    assert '-A FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN' \
        in postrtg
    assert '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG' in host.iptables["nat"]["POSTROUTING"]
    assert host.iptables["filter"]["FLANNEL-FWD"] == [
        '-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
        '-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT']
    assert '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD' in host.iptables["filter"]["FORWARD"]


def test_cni0_appears_with_the_first_pod_on_the_pod_network(small_cluster):
    c = small_cluster
    host = c.ctx.hosts["control-plane-1"]
    assert "cni0" not in host.interfaces  # only hostNetwork pods there so far
    c.create(pin("first", "control-plane-1"))
    c.advance(5)
    assert host.interfaces["cni0"].addresses == ["10.244.0.1/24"]
    assert ip(c.store.find(c.ctx.pods, "demo", "first")) == "10.244.0.2"


def join(c, name, address):
    from migrate.sim import build
    c.ctx.hosts[name] = build.new_host(name, f"{address}/24", 1500)
    c.create({"apiVersion": "v1", "kind": "Node",
              "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
              "spec": {}, "status": {"addresses": [{"type": "InternalIP", "address": address}]}})
    c.advance(30)
    return c.ctx.hosts[name]


def test_flannels_init_containers_install_its_cni_plugin_and_config(small_cluster):
    c = small_cluster
    cm = c.store.find(c.ctx.rtype("", "configmaps"), "kube-flannel", "kube-flannel-cfg")
    host = join(c, "worker-3", "192.168.10.13")
    assert host.read_file("/etc/cni/net.d/10-flannel.conflist") == cm["data"]["cni-conf.json"]
    assert host.is_file("/opt/cni/bin/flannel")


def test_a_joining_node_gets_routes_to_every_other_node(small_cluster):
    c = small_cluster
    join(c, "worker-3", "192.168.10.13")
    c.create(pin("newcomer", "worker-3"))
    c.advance(5)
    newcomer = c.store.find(c.ctx.pods, "demo", "newcomer")
    assert ip(newcomer).startswith("10.244.3.")
    for other in pods_on(c, "worker-1"):
        assert c.network.reach(key(newcomer), ip(other)).ok
        assert c.network.reach(key(other), ip(newcomer)).ok


def test_flanneld_fails_on_a_node_without_a_pod_cidr(small_cluster):
    c = small_cluster
    c.ctx.cluster_cidr = "10.244.0.0/22"  # a controller-manager with room for four /24 ranges
    join(c, "worker-3", "192.168.10.13")
    join(c, "worker-4", "192.168.10.14")
    assert "podCIDR" not in node(c, "worker-4")["spec"]
    [flannel] = [p for p in c.store.items(c.ctx.pods, "kube-flannel") if p["spec"]["nodeName"] == "worker-4"]
    log = c.kubelets.logs("kube-flannel", flannel["metadata"]["name"], "kube-flannel")
    assert log == 'Error registering network: failed to acquire lease: node "worker-4" pod cidr not assigned\n'
    assert flannel["status"]["containerStatuses"][0]["restartCount"] >= 1


def test_flannel_leaves_everything_behind_when_its_pod_leaves_the_node(small_cluster,
                                                                     keep_flannel_off_calico_nodes):
    c = small_cluster
    keep_flannel_off_calico_nodes(c)
    host = c.ctx.hosts["worker-1"]
    before = host.snapshot()
    c.store.mutate(c.ctx.nodes, None, "worker-1", lambda n: n["metadata"]["labels"].__setitem__(
        "projectcalico.org/node-network-during-migration", "none"))
    c.advance(20)
    assert not [p for p in c.store.items(c.ctx.pods, "kube-flannel") if p["spec"]["nodeName"] == "worker-1"]
    after = host.snapshot()
    assert {"flannel.1", "cni0"} <= set(after["interfaces"])
    for path in ("/run/flannel/subnet.env", "/etc/cni/net.d/10-flannel.conflist", "/opt/cni/bin/flannel"):
        assert after["files"][path] == before["files"][path]
    assert after["iptables"]["nat"]["FLANNEL-POSTRTG"] == before["iptables"]["nat"]["FLANNEL-POSTRTG"]
    assert after["iptables"]["filter"]["FLANNEL-FWD"] == before["iptables"]["filter"]["FLANNEL-FWD"]
    assert FLANNEL + "backend-data" in node(c, "worker-1")["metadata"]["annotations"]


def test_pods_keep_talking_after_flanneld_leaves_their_node(small_cluster, keep_flannel_off_calico_nodes):
    c = small_cluster
    keep_flannel_off_calico_nodes(c)
    c.store.mutate(c.ctx.nodes, None, "worker-1", lambda n: n["metadata"]["labels"].__setitem__(
        "projectcalico.org/node-network-during-migration", "none"))
    c.advance(20)
    # the kernel keeps the device, routes and neighbours flanneld programmed
    a, b = pods_on(c, "worker-1")[0], pods_on(c, "worker-2")[0]
    assert c.network.reach(key(a), ip(b)).ok and c.network.reach(key(b), ip(a)).ok


def test_host_gw_flanneld_annotates_without_backend_data():
    c = SimCluster("hostgw")
    annotations = node(c, "worker-1")["metadata"]["annotations"]
    assert annotations[FLANNEL + "backend-type"] == "host-gw"
    assert annotations[FLANNEL + "backend-data"] == "null"
    assert not any(i.kind == "vxlan" for i in c.ctx.hosts["worker-1"].interfaces.values())


# ---- the oracle and the probe ---------------------------------------------------------

def test_an_untouched_small_cluster_has_no_failed_flows(small_cluster):
    c = small_cluster
    c.advance(60)
    assert c.network.probe.samples > 0
    assert c.network.probe.failed == 0


def test_an_untouched_jdcloud_prod_cluster_has_no_failed_flows():
    c = SimCluster("jdcloud-prod")
    c.advance(30)
    assert c.network.probe.samples > 0
    assert c.network.probe.failed == 0


def test_pods_on_different_nodes_reach_each_other_both_ways(small_cluster):
    c = small_cluster
    a, b = pods_on(c, "worker-1")[0], pods_on(c, "worker-2")[0]
    assert c.network.reach(key(a), ip(b)).ok and c.network.reach(key(b), ip(a)).ok


def test_deleting_cni0_cuts_its_pods_off(small_cluster, run_on_node):
    c = small_cluster
    victim, peer = pods_on(c, "worker-1")[0], pods_on(c, "worker-2")[0]
    run_on_node(c, "worker-1", "zap", "ip link delete cni0")
    out = c.network.reach(key(victim), ip(peer))
    into = c.network.reach(key(peer), ip(victim))
    assert not out.ok and out.reason == f"pod {victim['metadata']['name']} has lost its network attachment on worker-1"
    assert not into.ok and into.reason == f"pod at {ip(victim)} has lost its network attachment"


def test_pods_cut_off_by_a_deleted_cni0_stay_cut_off_after_cni0_is_recreated(small_cluster, run_on_node):
    c = small_cluster
    victim, peer = pods_on(c, "worker-1")[0], pods_on(c, "worker-2")[0]
    run_on_node(c, "worker-1", "zap", "ip link delete cni0")
    c.create(pin("fresh", "worker-1"))
    c.advance(5)
    fresh = c.store.find(c.ctx.pods, "demo", "fresh")
    assert "cni0" in c.ctx.hosts["worker-1"].interfaces  # the bridge plugin made a new one
    assert not c.network.reach(key(victim), ip(peer)).ok
    assert c.network.reach(key(fresh), ip(peer)).ok


def test_a_deleted_cni0_shows_up_as_failed_flows_in_the_probe(small_cluster, run_on_node):
    c = small_cluster
    c.network.reset_probe()
    run_on_node(c, "worker-1", "zap", "ip link delete cni0")
    c.advance(30)
    assert c.network.probe.failed > 0
    assert any("lost its network attachment" in f["reason"] for f in c.network.probe.recent_failures)


def test_deleting_flannel_1_cuts_the_node_off_from_the_others(small_cluster, run_on_node):
    c = small_cluster
    a, b = pods_on(c, "worker-1")[0], pods_on(c, "worker-2")[0]
    run_on_node(c, "worker-1", "zap", "ip link delete flannel.1")
    there = c.network.reach(key(a), ip(b))
    back = c.network.reach(key(b), ip(a))
    assert not there.ok and there.reason == f"worker-1 has no route to {ip(b)}"
    assert not back.ok and "is dropped on worker-1: no device matches" in back.reason


def test_host_gw_reaches_within_a_subnet():
    c = SimCluster("hostgw")
    c.advance(30)
    assert c.network.probe.samples > 0 and c.network.probe.failed == 0


def test_host_gw_does_not_reach_across_subnets():
    scenario = load_scenario("hostgw", overrides={"nodeGroups": [
        {"count": 1, "namePrefix": "a-", "zone": "zone-a", "region": "r", "subnet": "192.168.20.0/24"},
        {"count": 1, "namePrefix": "b-", "zone": "zone-b", "region": "r", "subnet": "192.168.21.0/24"}]})
    c = SimCluster(scenario)
    a, b = pods_on(c, "a-1")[0], pods_on(c, "b-1")[0]
    verdict = c.network.reach(key(a), ip(b))
    assert not verdict.ok and verdict.reason.startswith("native route from a-1 to b-1 crosses subnets")


def vxlan_verdict(c, change):
    change(c.ctx.hosts["worker-2"].interfaces["flannel.1"])
    a, b = pods_on(c, "worker-1")[0], pods_on(c, "worker-2")[0]
    return c.network.reach(key(a), ip(b))


def test_a_vxlan_peer_with_another_vni_is_unreachable(small_cluster):
    verdict = vxlan_verdict(small_cluster, lambda d: setattr(d, "vni", 2))
    assert not verdict.ok and verdict.reason.endswith("is dropped on worker-2: no device matches")
    assert "VNI 1, port 8472" in verdict.reason


def test_a_vxlan_peer_on_another_port_is_unreachable(small_cluster):
    verdict = vxlan_verdict(small_cluster, lambda d: setattr(d, "port", 4789))
    assert not verdict.ok and "no device matches" in verdict.reason


def test_a_vxlan_peer_with_another_mac_is_unreachable(small_cluster):
    verdict = vxlan_verdict(small_cluster, lambda d: setattr(d, "mac", "02:00:00:00:00:01"))
    assert not verdict.ok and "no device matches" in verdict.reason


def test_a_calico_node_with_flannels_vni_port_and_vtep_stays_reachable_from_flannel_nodes(
        small_cluster, prepare_calico, keep_flannel_off_calico_nodes, move_node_to_calico):
    c = small_cluster
    prepare_calico(c)
    keep_flannel_off_calico_nodes(c)
    move_node_to_calico(c, "worker-2")
    host = c.ctx.hosts["worker-2"]
    assert "flannel.1" not in host.interfaces and "cni0" not in host.interfaces
    device = host.interfaces["vxlan.calico"]
    flannel_mac = json.loads(node(c, "worker-2")["metadata"]["annotations"][FLANNEL + "backend-data"])["VtepMAC"]
    assert (device.vni, device.port, device.mac, device.addresses) == (1, 8472, flannel_mac, ["10.244.2.0/32"])
    c.create(pin("migrated", "worker-2"))
    c.advance(5)
    migrated = c.store.find(c.ctx.pods, "demo", "migrated")
    assert ipaddress.ip_address(ip(migrated)) in ipaddress.ip_network("10.244.2.0/24")
    for flannel_pod in pods_on(c, "worker-1"):
        assert c.network.reach(key(flannel_pod), ip(migrated)).ok
        assert c.network.reach(key(migrated), ip(flannel_pod)).ok


def test_a_half_migrated_cluster_carries_traffic_without_failed_flows(
        small_cluster, prepare_calico, keep_flannel_off_calico_nodes, move_node_to_calico):
    c = small_cluster
    prepare_calico(c)
    keep_flannel_off_calico_nodes(c)
    move_node_to_calico(c, "worker-2")
    c.network.reset_probe()
    c.advance(60)
    assert c.network.probe.samples > 0 and c.network.probe.failed == 0


def test_a_calico_node_on_calicos_default_vni_and_port_is_unreachable_from_flannel_nodes(
        small_cluster, prepare_calico, keep_flannel_off_calico_nodes, move_node_to_calico, calico_node_daemonset):
    c = small_cluster
    prepare_calico(c, vni=4096, port=4789)
    keep_flannel_off_calico_nodes(c)
    move_node_to_calico(c, "worker-2")
    device = c.ctx.hosts["worker-2"].interfaces["vxlan.calico"]
    assert (device.vni, device.port) == (4096, 4789)
    c.create(pin("migrated", "worker-2"))
    c.advance(5)
    migrated = c.store.find(c.ctx.pods, "demo", "migrated")
    flannel_pod = pods_on(c, "worker-1")[0]
    there = c.network.reach(key(flannel_pod), ip(migrated))
    back = c.network.reach(key(migrated), ip(flannel_pod))
    assert not there.ok and "is dropped on worker-2: no device matches" in there.reason
    assert not back.ok and "is dropped on worker-1: no device matches" in back.reason


def test_a_calico_node_without_the_flannel_vtep_mac_is_unreachable_from_flannel_nodes(
        small_cluster, prepare_calico, keep_flannel_off_calico_nodes, move_node_to_calico):
    c = small_cluster
    prepare_calico(c)
    c.store.mutate(c.ctx.nodes, None, "worker-2", lambda n: n["metadata"]["annotations"].pop(
        "projectcalico.org/VXLANTunnelMACAddr"))
    keep_flannel_off_calico_nodes(c)
    move_node_to_calico(c, "worker-2")
    c.create(pin("migrated", "worker-2"))
    c.advance(5)
    migrated = c.store.find(c.ctx.pods, "demo", "migrated")
    verdict = c.network.reach(key(pods_on(c, "worker-1")[0]), ip(migrated))
    assert not verdict.ok and "no device matches" in verdict.reason


# ---- NetworkPolicy --------------------------------------------------------------------

def test_network_policy_is_enforced_where_calico_node_runs():
    c = SimCluster("canal")
    db = [p for p in c.store.items(c.ctx.pods, "demo") if p["metadata"]["labels"].get("app") == "db"]
    web = [p for p in c.store.items(c.ctx.pods, "demo") if p["metadata"]["labels"].get("app") == "web"]
    c.create(pin("intruder", "worker-1"))
    c.advance(5)
    denied = c.network.reach(("demo", "intruder"), ip(db[0]))
    assert not denied.ok and denied.policy_denied
    assert denied.reason == f"NetworkPolicy denies ingress to demo/{db[0]['metadata']['name']}"
    assert c.network.reach(key(web[0]), ip(db[0])).ok


def test_network_policy_is_ignored_on_a_flannel_only_cluster(small_cluster):
    c = small_cluster
    c.create({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "deny-all", "namespace": "demo"},
              "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})
    a, b = pods_on(c, "worker-1")[0], pods_on(c, "worker-2")[0]
    assert c.network.reach(key(a), ip(b)).ok


def global_policy(name, order, action, selector="all()"):
    return {"apiVersion": "crd.projectcalico.org/v1", "kind": "GlobalNetworkPolicy", "metadata": {"name": name},
            "spec": {"order": order, "selector": selector, "types": ["Ingress", "Egress"],
                     "ingress": [{"action": action}], "egress": [{"action": action}]}}


def test_a_global_allow_ordered_before_kubernetes_policies_overrides_their_deny():
    c = SimCluster("canal")
    db = next(p for p in c.store.items(c.ctx.pods, "demo") if p["metadata"]["labels"].get("app") == "db")
    c.create(pin("intruder", "worker-1"))
    c.create(global_policy("hold", 0, "Allow"))
    c.advance(5)
    assert c.network.reach(("demo", "intruder"), ip(db)).ok


def test_a_global_deny_ordered_after_kubernetes_policies_does_not_override_their_allow():
    """Felix stops at the first rule that matches: web -> db is allowed by the NetworkPolicy (order 1000)."""
    c = SimCluster("canal")
    db = next(p for p in c.store.items(c.ctx.pods, "demo") if p["metadata"]["labels"].get("app") == "db")
    web = next(p for p in c.store.items(c.ctx.pods, "demo") if p["metadata"]["labels"].get("app") == "web")
    c.create(global_policy("late-deny", 2000, "Deny", selector="app == 'db'"))
    c.advance(5)
    assert c.network.reach(key(web), ip(db)).ok


def test_a_global_deny_selecting_a_pod_denies_what_no_policy_selected_before():
    c = SimCluster("canal")
    web = next(p for p in c.store.items(c.ctx.pods, "demo") if p["metadata"]["labels"].get("app") == "web")
    c.create(pin("client", "worker-1"))
    c.advance(5)
    assert c.network.reach(("demo", "client"), ip(web)).ok
    c.create(global_policy("deny-web", 10, "Deny", selector="app == 'web'"))
    verdict = c.network.reach(("demo", "client"), ip(web))
    assert not verdict.ok and verdict.policy_denied


def test_policy_denied_flows_are_counted_apart_from_failures():
    c = SimCluster("canal")
    c.create({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": "deny-all", "namespace": "demo"},
              "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})
    c.network.reset_probe()
    c.advance(30)
    probe = c.network.probe
    assert probe.denied_by_policy > 0 and probe.failed == 0


def test_bridge_plugin_veths_are_named_veth_and_8_hex_digits_with_their_own_macs(small_cluster):
    veths = [i for i in small_cluster.ctx.hosts["worker-1"].interfaces.values() if i.kind == "veth"]
    assert veths and all(re.fullmatch(r"veth[0-9a-f]{8}", v.name) for v in veths)
    assert len({v.mac for v in veths}) == len(veths)


def _scale_coredns(c, replicas):
    c.store.mutate(c.ctx.rtype("apps", "deployments"), "kube-system", "coredns",
                   lambda d: d["spec"].__setitem__("replicas", replicas))


def test_the_probe_looks_names_up_through_coredns_every_second(small_cluster):
    c = small_cluster
    c.network.reset_probe()
    c.advance(10)
    assert c.network.probe.dns_lookups >= 10 and c.network.probe.dns_failed == 0


def test_dns_lookups_fail_while_no_coredns_pod_is_ready_and_recover_with_one(small_cluster):
    c = small_cluster
    _scale_coredns(c, 0)
    c.advance(30)
    c.network.reset_probe()
    c.advance(5)
    assert c.network.probe.dns_failed == c.network.probe.dns_lookups > 0
    assert "DNS is unreachable" in c.network.probe.recent_dns_failures[0]["reason"]
    _scale_coredns(c, 1)
    c.advance(30)
    c.network.reset_probe()
    c.advance(5)
    assert c.network.probe.dns_lookups > 0 and c.network.probe.dns_failed == 0


def test_the_src_dst_check_drops_host_gw_pod_traffic():
    # host-gw routes pod addresses natively, as Calico's same-subnet routes do: the VPC drops them
    c = SimCluster(load_scenario("hostgw", overrides={"cluster": {"srcDstCheck": True}}))
    nodes = sorted(c.ctx.hosts)
    a, b = pods_on(c, nodes[1])[0], pods_on(c, nodes[2])[0]
    verdict = c.network.reach(key(a), ip(b))
    assert not verdict.ok and "source/destination check" in verdict.reason


def test_a_blackhole_route_older_than_cni0s_subnet_route_drops_traffic_to_its_pods(small_cluster, run_on_node):
    # what Felix leaves for a local block the size of the podCIDR when the node goes back to Flannel
    c = small_cluster
    cidr = c.store.get(c.ctx.nodes, None, "worker-2")["spec"]["podCIDR"]
    c.ctx.hosts["worker-2"].routes.insert(0, f"blackhole {cidr} proto 80")
    a, b = pods_on(c, "worker-1")[0], pods_on(c, "worker-2")[0]
    verdict = c.network.reach(key(a), ip(b))
    assert not verdict.ok and f"blackhole {cidr}" in verdict.reason
    run_on_node(c, "worker-2", "del-blackhole", f"ip route del blackhole {cidr}")
    assert c.network.reach(key(a), ip(b)).ok
