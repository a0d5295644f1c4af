"""The IPIP data plane: tunl0 on every node, routes to other nodes' blocks via tunl0 or natively per the pool's
ipipMode and the two nodes' subnets, as Felix programs them itself (FelixConfiguration programClusterRoutes),
and what the cloud does to them (src/dst check, security group, path MTU)."""
from ipip_cluster import (calico, flip_timeline, install_calico, mixed, pin_pods, reach, two_subnets,
                          vxlan_cluster_ready_for_ipip)

FELIX_ROUTES = {"programClusterRoutes": "Enabled"}


def felix_cluster(**cluster):
    c = install_calico(two_subnets(**cluster), backend="vxlan", felix=FELIX_ROUTES)
    return c, pin_pods(c)


def device(c, pods, src, dst):
    ip = c.store.find(c.ctx.pods, *pods[dst])["status"]["podIP"]
    return c.network.path(src, ip, dst).device


def test_ipip_crosssubnet_goes_over_tunl0_between_subnets_and_natively_within_one():
    c, pods = felix_cluster()
    assert reach(c, pods, "a-1", "b-1").ok and reach(c, pods, "a-1", "a-2").ok
    assert device(c, pods, "a-1", "b-1") == "tunl0"
    assert device(c, pods, "b-2", "a-2") == "tunl0"
    assert device(c, pods, "a-1", "a-2") == "eth0"
    assert device(c, pods, "b-1", "b-2") == "eth0"


def test_ipip_always_goes_over_tunl0_within_a_subnet_too():
    c = install_calico(two_subnets(), backend="vxlan", ipip="Always", felix=FELIX_ROUTES)
    pods = pin_pods(c)
    assert reach(c, pods, "a-1", "a-2").ok
    assert device(c, pods, "a-1", "a-2") == "tunl0"


def test_the_src_dst_check_drops_native_pod_traffic_but_not_ipip():
    c, pods = felix_cluster(srcDstCheck=True)
    native = reach(c, pods, "a-1", "a-2")
    assert not native.ok and "source/destination check" in native.reason
    assert reach(c, pods, "a-1", "b-1").ok


def test_without_program_cluster_routes_or_bird_no_node_reaches_another():
    c = install_calico(two_subnets(), backend="vxlan")
    pods = pin_pods(c)
    for dst in ("a-2", "b-1"):
        verdict = reach(c, pods, "a-1", dst)
        assert not verdict.ok and "has no route" in verdict.reason


def test_a_felix_older_than_v3_31_ignores_program_cluster_routes():
    c = install_calico(two_subnets(), backend="vxlan", felix=FELIX_ROUTES, version="v3.30.4")
    pods = pin_pods(c)
    assert "has no route" in reach(c, pods, "a-1", "b-1").reason


def test_an_ipip_packet_larger_than_the_path_mtu_is_lost():
    # veth_mtu 1500 (FELIX_IPINIPMTU, which wins over FelixConfiguration ipipMTU) on 1500-byte NICs: tunl0 and the
    # pods take 1500-byte packets, 20 bytes more than the VPC carries once IPIP wraps them
    c = install_calico(two_subnets(), backend="vxlan", felix=FELIX_ROUTES, veth_mtu=1500)
    pods = pin_pods(c)
    verdict = reach(c, pods, "a-1", "b-1")
    assert not verdict.ok and "path MTU" in verdict.reason
    assert reach(c, pods, "a-1", "a-2").ok  # native within the subnet: no overhead


def test_tunl0_takes_the_nic_mtu_less_20_by_default():
    c, pods = felix_cluster()
    assert c.ctx.hosts["a-1"].interfaces["tunl0"].mtu == 1480
    assert reach(c, pods, "a-1", "b-1").ok


def test_a_security_group_without_ip_protocol_4_drops_ipip_but_not_native_routes():
    c, pods = felix_cluster(securityGroup={"allowIPIP": False})
    verdict = reach(c, pods, "a-1", "b-1")
    assert not verdict.ok and "security group" in verdict.reason
    assert reach(c, pods, "a-1", "a-2").ok


def test_ipip_to_a_node_whose_tunl0_is_gone_is_dropped_there():
    c, pods = felix_cluster()
    c.ctx.hosts["b-1"].delete_interface("tunl0")
    verdict = reach(c, pods, "a-1", "b-1")
    assert not verdict.ok and "no tunl0" in verdict.reason


def test_a_tunnel_only_ipip_pool_gives_every_node_tunl0_while_pods_keep_their_pool():
    # a second pool with allowedUses [Tunnel]: tunnel addresses come from it, pod addresses never do
    c = install_calico(two_subnets(), backend="vxlan", ipip="Never", felix=FELIX_ROUTES)
    assert "tunl0" not in c.ctx.hosts["a-1"].interfaces
    c.create(calico("IPPool", "tunnels", {"cidr": "10.245.0.0/24", "blockSize": 30, "ipipMode": "Always",
                                          "vxlanMode": "Never", "allowedUses": ["Tunnel"], "nodeSelector": "all()"}))
    c.advance(5)
    pods = pin_pods(c)
    tunl0 = c.ctx.hosts["a-1"].interfaces["tunl0"]
    assert tunl0.addresses[0].startswith("10.245.0.")
    assert all(c.store.find(c.ctx.pods, *key)["status"]["podIP"].startswith("10.244.") for key in pods.values())


def test_without_an_ipip_pool_the_node_gives_its_ipip_tunnel_address_back():
    c, _ = felix_cluster()
    pools = c.ctx.registry.lookup("crd.projectcalico.org", "v1", "ippools")
    c.store.mutate(pools, None, "default-ipv4-ippool", lambda p: p["spec"].__setitem__("ipipMode", "Never"))
    c.advance(10)  # each Felix restarts for it on its own (sim/felix_config.py)
    annotations = c.store.get(c.ctx.nodes, None, "a-1")["metadata"]["annotations"]
    assert "projectcalico.org/IPv4IPIPTunnelAddr" not in annotations


def test_flipping_the_pool_from_vxlan_to_ipip_crosssubnet_moves_flows_off_vxlan_calico():
    c = install_calico(two_subnets(), backend="vxlan", ipip="Never", vxlan="Always", felix=FELIX_ROUTES)
    pods = pin_pods(c)
    assert device(c, pods, "a-1", "b-1") == "vxlan.calico" and device(c, pods, "a-1", "a-2") == "vxlan.calico"
    pools = c.ctx.registry.lookup("crd.projectcalico.org", "v1", "ippools")
    c.store.mutate(pools, None, "default-ipv4-ippool",
                   lambda p: p["spec"].update({"vxlanMode": "Never", "ipipMode": "CrossSubnet"}))
    c.advance(10)  # each Felix restarts for it on its own (sim/felix_config.py)
    assert reach(c, pods, "a-1", "b-1").ok and reach(c, pods, "a-1", "a-2").ok
    assert device(c, pods, "a-1", "b-1") == "tunl0" and device(c, pods, "a-1", "a-2") == "eth0"



def test_at_the_pool_flip_nodes_felix_has_and_has_not_moved_yet_still_reach_each_other():
    # each Felix swaps a block's VXLAN route for its IPIP or native one when it applies the flip itself
    # (route_mgr.go per pool type, from its own calc graph): a node not there yet keeps its VXLAN routes
    c, pods = vxlan_cluster_ready_for_ipip("vxlan", FELIX_ROUTES)
    timeline = flip_timeline(c, pods)
    assert [m for m in timeline if any(d.startswith("FAILED") for d in m.values())] == []
    assert any(mixed(moment) for moment in timeline)
    assert set(timeline[-1].values()) == {"tunl0", "eth0"}

def test_felix_strips_the_address_from_tunl0_when_no_ipip_pool_is_left_and_leaves_the_device():
    c, _ = felix_cluster()
    pools = c.ctx.registry.lookup("crd.projectcalico.org", "v1", "ippools")
    c.store.mutate(pools, None, "default-ipv4-ippool", lambda p: p["spec"].__setitem__("ipipMode", "Never"))
    c.advance(10)  # each Felix restarts for it on its own (sim/felix_config.py)
    assert c.ctx.hosts["a-1"].interfaces["tunl0"].addresses == []


def host_routes(c, node, device):
    """`ip route show dev DEVICE` in a privileged hostNetwork pod on the node."""
    name = f"routes-{node}-{device.replace('.', '-')}"
    c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "kube-system"},
              "spec": {"nodeName": node, "hostNetwork": True, "restartPolicy": "Never",
                       "tolerations": [{"operator": "Exists"}],
                       "containers": [{"name": "main", "image": "docker.io/library/busybox:1.36",
                                       "command": ["sh", "-c", f"ip route show dev {device}"],
                                       "securityContext": {"privileged": True}}]}})
    c.advance(10)
    pod = c.store.find(c.ctx.pods, "kube-system", name)
    return c.kubelets.logs("kube-system", pod["metadata"]["name"], "main").splitlines()


def test_a_host_pod_reads_the_routes_felix_programs_with_ip_route():
    c, _ = felix_cluster()
    b1 = c.store.get(c.ctx.nodes, None, "b-1")["metadata"]["annotations"]["projectcalico.org/IPv4Address"]
    tunnel = host_routes(c, "a-1", "tunl0")
    assert any(line.endswith(f"via {b1.split('/')[0]} proto 80 onlink") for line in tunnel)
    assert len(tunnel) == 2  # one block on each node of the other subnet
    assert len(host_routes(c, "a-1", "eth0")) == 2  # a-2's block natively, and eth0's own subnet


def test_felix_blackholes_each_local_block_and_leaves_the_routes_when_it_goes():
    c = install_calico(two_subnets(), backend="vxlan", ipip="Never", vxlan="Always")
    affinities = c.store.items(c.ctx.registry.lookup("crd.projectcalico.org", "v1", "blockaffinities"))
    blocks = {a["spec"]["cidr"] for a in affinities if a["spec"]["node"] == "a-1"}
    assert blocks and {f"blackhole {b} proto 80" for b in blocks} <= set(c.ctx.hosts["a-1"].routes)
    c.store.delete(c.ctx.rtype("apps", "daemonsets"), "kube-system", "calico-node")
    c.advance(30)
    assert {f"blackhole {b} proto 80" for b in blocks} <= set(c.ctx.hosts["a-1"].routes)
