"""What a node keeps after an agent leaves it: Felix's chains and ipsets (nothing removes them when calico-node
stops), the VXLAN filter they hold and the packets it drops, and the sandbox teardown (CNI DEL) a pod deletion
needs: through whatever CNI config the node has by then, failing when it has none."""
from migrate.sim import felix_tables
from migrate.sim.host import run_shell

LABEL = "projectcalico.org/node-network-during-migration"


def calico_node_gone(c, node):
    c.store.mutate(c.ctx.nodes, None, node, lambda n: n["metadata"]["labels"].__setitem__(LABEL, "none"))
    c.advance(30)
    assert not [p for p in c.store.items(c.ctx.pods, "kube-system")
                if p["metadata"]["name"].startswith("calico-node-") and p["spec"].get("nodeName") == node]


def demo_pods(c, node):
    return [p for p in c.store.items(c.ctx.pods, "demo") if p["spec"].get("nodeName") == node
            and not p["metadata"].get("deletionTimestamp")]


def key(pod):
    return pod["metadata"]["namespace"], pod["metadata"]["name"]


def events(c, reason):
    return [e for e in c.store.items(c.ctx.rtype("", "events")) if e["reason"] == reason]


# ---- Felix's tables and sets -------------------------------------------------------------

def test_felix_hooks_the_kernel_chains_and_admits_vxlan_from_the_other_vteps(
        small_cluster, prepare_calico, keep_flannel_off_calico_nodes, move_node_to_calico):
    c = small_cluster
    prepare_calico(c)
    keep_flannel_off_calico_nodes(c)
    move_node_to_calico(c, "worker-2")
    host = c.ctx.hosts["worker-2"]
    assert host.iptables["filter"]["INPUT"][0] == '-A INPUT -m comment --comment "cali:Cz_u1IQiXIMmKD4c" -j cali-INPUT'
    assert any("Drop IPv4 VXLAN packets from non-allowed hosts" in r and "--dports 8472" in r
               for r in host.iptables["filter"]["cali-INPUT"])
    others = {c.network.node_ip(n) for n in c.ctx.hosts if n != "worker-2"}
    assert host.ipsets[felix_tables.VXLAN_SOURCES] == others


def test_felix_leaves_its_chains_hooks_and_sets_when_calico_node_stops(
        small_cluster, prepare_calico, keep_flannel_off_calico_nodes, move_node_to_calico):
    c = small_cluster
    prepare_calico(c)
    keep_flannel_off_calico_nodes(c)
    move_node_to_calico(c, "worker-2")
    host = c.ctx.hosts["worker-2"]
    before = (host.snapshot()["iptables"], host.snapshot()["ipsets"])
    calico_node_gone(c, "worker-2")
    assert (host.snapshot()["iptables"], host.snapshot()["ipsets"]) == before
    assert any(chain.startswith("cali-") for chain in host.iptables["nat"])


def test_a_vxlan_filter_left_behind_drops_flannel_vxlan_from_a_host_it_does_not_list(small_cluster):
    c = small_cluster
    c.advance(60)
    a, b = demo_pods(c, "worker-1")[0], demo_pods(c, "worker-2")[0]
    assert c.network.reach(key(a), b["status"]["podIP"]).ok
    # what a stopped Felix leaves: a filter on Flannel's port whose allowed set never learned worker-1
    felix_tables.program(c.ctx.hosts["worker-2"], vxlan_port=8472, vxlan_sources=[c.network.node_ip("control-plane-1")],
                         pools=["10.244.0.0/16"], masq_pools=[], workloads=[])
    verdict = c.network.reach(key(a), b["status"]["podIP"])
    assert not verdict.ok
    assert f"worker-2's INPUT chain drops VXLAN (UDP 8472) from {c.network.node_ip('worker-1')}" in verdict.reason


def test_a_vxlan_filter_listing_the_sender_lets_flannel_vxlan_in(small_cluster):
    c = small_cluster
    c.advance(60)
    a, b = demo_pods(c, "worker-1")[0], demo_pods(c, "worker-2")[0]
    felix_tables.program(c.ctx.hosts["worker-2"], vxlan_port=8472, vxlan_sources=[c.network.node_ip("worker-1")],
                         pools=["10.244.0.0/16"], masq_pools=[], workloads=[])
    assert c.network.reach(key(a), b["status"]["podIP"]).ok


# ---- ipset --------------------------------------------------------------------------------

def test_ipset_refuses_to_destroy_a_set_an_iptables_rule_still_matches(small_cluster):
    host = small_cluster.ctx.hosts["worker-2"]
    felix_tables.program(host, vxlan_port=8472, vxlan_sources=["192.168.10.10"], pools=[], masq_pools=[],
                         workloads=[])
    refused = run_shell(host, "ipset destroy cali40all-vxlan-net")
    assert refused.exit_code == 1
    assert "Set cannot be destroyed: it is in use by a kernel component" in refused.stderr
    assert run_shell(host, "iptables -t filter -F cali-INPUT && ipset destroy cali40all-vxlan-net").exit_code == 0
    assert run_shell(host, "ipset list -n").stdout.split() == sorted(set(host.ipsets))
    assert "cali40all-vxlan-net" not in host.ipsets


def test_flannels_image_has_no_ipset(small_cluster, run_on_node):
    c = small_cluster
    flannel = next(p for p in c.store.items(c.ctx.pods, "kube-flannel"))["spec"]["containers"][0]["image"]
    c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "with-flannel-image", "namespace": "default"},
              "spec": {"nodeName": "worker-2", "hostNetwork": True, "restartPolicy": "Never",
                       "containers": [{"name": "main", "image": flannel, "command": ["sh", "-c", "ipset list -n"],
                                       "securityContext": {"privileged": True},
                                       "terminationMessagePolicy": "FallbackToLogsOnError"}]}})
    c.advance(10)
    state = c.store.find(c.ctx.pods, "default", "with-flannel-image")["status"]["containerStatuses"][0]["state"]
    assert state["terminated"]["exitCode"] == 127
    assert "ipset: not found" in state["terminated"]["message"]


# ---- sandbox teardown (CNI DEL) -------------------------------------------------------------

def test_a_pod_deleted_while_its_node_has_no_cni_config_stays_terminating_until_one_returns(small_cluster):
    c = small_cluster
    c.advance(60)
    pod = demo_pods(c, "worker-1")[0]
    host = c.ctx.hosts["worker-1"]
    conflist = host.read_file("/etc/cni/net.d/10-flannel.conflist")
    host.remove_file("/etc/cni/net.d/10-flannel.conflist")
    c.store.delete(c.ctx.pods, *key(pod))
    c.advance(60)
    assert c.store.find(c.ctx.pods, *key(pod)) is not None
    failed = [e["message"] for e in events(c, "FailedKillPod") if e["involvedObject"]["name"] == pod["metadata"]["name"]]
    assert failed and failed[0].endswith('": cni plugin not initialized"')
    host.write_file("/etc/cni/net.d/10-flannel.conflist", conflist)
    c.advance(20)
    assert c.store.find(c.ctx.pods, *key(pod)) is None


def test_a_pod_deleted_through_the_config_that_set_it_up_releases_its_host_local_reservation(small_cluster):
    c = small_cluster
    c.advance(60)
    pod = demo_pods(c, "worker-1")[0]
    reservation = f"/var/lib/cni/networks/cbr0/{pod['status']['podIP']}"
    host = c.ctx.hosts["worker-1"]
    assert host.read_file(reservation) == pod["metadata"]["uid"]
    c.store.delete(c.ctx.pods, *key(pod))
    c.advance(40)
    assert not host.is_file(reservation)
    assert host.is_file("/var/lib/cni/networks/cbr0/last_reserved_ip.0")


def test_a_flannel_pods_reservation_stays_when_another_plugins_config_tears_it_down(small_cluster):
    c = small_cluster
    c.advance(60)
    pod = demo_pods(c, "worker-1")[0]
    reservation = f"/var/lib/cni/networks/cbr0/{pod['status']['podIP']}"
    host = c.ctx.hosts["worker-1"]
    # a config the node's pods were not set up with comes first: the bridge plugin's own network
    host.write_file("/etc/cni/net.d/05-other.conflist",
                    '{"cniVersion": "0.3.1", "name": "other", "plugins": [{"type": "bridge", "bridge": "br9", '
                    '"ipam": {"type": "host-local", "subnet": "10.99.0.0/24"}}]}')
    c.store.delete(c.ctx.pods, *key(pod))
    c.advance(40)
    assert c.store.find(c.ctx.pods, *key(pod)) is None
    assert host.read_file(reservation) == pod["metadata"]["uid"]  # nobody will ever release it


def test_a_pod_deleted_under_a_placeholder_config_waits_for_a_config_whose_plugins_exist(small_cluster):
    c = small_cluster
    c.advance(60)
    pod = demo_pods(c, "worker-1")[0]
    host = c.ctx.hosts["worker-1"]
    host.write_file("/etc/cni/net.d/05-placeholder.conflist",
                    '{"name": "dummy", "plugins": [{"type": "flannel-migration-in-progress"}]}')
    c.store.delete(c.ctx.pods, *key(pod))
    c.advance(60)
    assert c.store.find(c.ctx.pods, *key(pod)) is not None
    assert any('failed to find plugin "flannel-migration-in-progress" in path [/opt/cni/bin]' in e["message"]
               for e in events(c, "FailedKillPod"))
    host.remove_file("/etc/cni/net.d/05-placeholder.conflist")
    c.advance(20)
    assert c.store.find(c.ctx.pods, *key(pod)) is None
