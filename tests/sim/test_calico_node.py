"""calico-node as the simulator runs it: startup (nodename, datastore defaults, default pool),
the tunnel address, Felix's VXLAN device, and readiness as `calico-node -felix-ready` reports it."""
import ipaddress

from migrate.sim.cluster import SimCluster
from migrate.sim.flannel_install import calico_crds
from migrate.sim.scenario import load_scenario

LABEL = "projectcalico.org/node-network-during-migration"
CALICO = "crd.projectcalico.org"


def calico_objects(c, plural):
    rtype = c.ctx.registry.lookup(CALICO, "v1", plural)
    return c.store.items(rtype) if rtype else []


def calico_node_pod(c, node="worker-2"):
    pods = [p for p in c.store.items(c.ctx.pods, "kube-system")
            if p["metadata"]["name"].startswith("calico-node-") and p["spec"].get("nodeName") == node]
    return pods[0] if pods else None


def ready(pod):
    return any(x["type"] == "Ready" and x["status"] == "True" for x in pod["status"].get("conditions") or [])


def log(c, pod, container="calico-node"):
    return c.kubelets.logs("kube-system", pod["metadata"]["name"], container)


def install_crds(c):
    for crd in calico_crds():
        c.create(crd)
    c.advance(1)


def start_calico_node(c, daemonset, node="worker-2", env=None, wait=20):
    if c.store.find(c.ctx.rtype("apps", "daemonsets"), "kube-system", "calico-node") is None:
        c.create(daemonset(env))
    c.store.mutate(c.ctx.nodes, None, node, lambda n: n["metadata"]["labels"].__setitem__(LABEL, "calico"))
    c.advance(wait)
    return calico_node_pod(c, node)


def unhealthy(c, pod):
    return [e["message"] for e in c.store.items(c.ctx.rtype("", "events"))
            if e["involvedObject"]["name"] == pod["metadata"]["name"] and e["reason"] == "Unhealthy"]


# ---- startup --------------------------------------------------------------------------

def test_calico_node_without_its_crds_exits_and_is_restarted(small_cluster, calico_node_daemonset):
    c = small_cluster
    pod = start_calico_node(c, calico_node_daemonset, wait=40)
    status = pod["status"]["containerStatuses"][0]
    assert not ready(pod)
    assert status["restartCount"] >= 1
    assert "Unable to set global default configuration" in log(c, pod)


def test_calico_node_starts_once_its_crds_are_installed(small_cluster, calico_node_daemonset):
    c = small_cluster
    start_calico_node(c, calico_node_daemonset, wait=15)
    install_crds(c)
    c.advance(120)  # the next restart after the back-off
    assert ready(calico_node_pod(c))


def test_calico_node_writes_its_nodename_file(small_cluster, calico_node_daemonset):
    c = small_cluster
    install_crds(c)
    start_calico_node(c, calico_node_daemonset)
    assert c.ctx.hosts["worker-2"].read_file("/var/lib/calico/nodename") == "worker-2"


def test_calico_node_creates_the_default_cluster_information_and_felix_configuration(small_cluster,
                                                                                     calico_node_daemonset):
    c = small_cluster
    install_crds(c)
    start_calico_node(c, calico_node_daemonset)
    [info] = calico_objects(c, "clusterinformations")
    assert info["metadata"]["name"] == "default"
    assert info["spec"]["clusterType"] == "k8s,bgp,kubeadm,kdd"
    assert info["spec"]["datastoreReady"] is True
    [felix] = calico_objects(c, "felixconfigurations")
    assert felix["spec"] == {"logSeverityScreen": "Info", "reportingInterval": "0s"}


def test_calico_node_keeps_an_existing_felix_configuration(small_cluster, calico_node_daemonset, prepare_calico):
    c = small_cluster
    prepare_calico(c, interop=False)
    start_calico_node(c, calico_node_daemonset)
    [felix] = calico_objects(c, "felixconfigurations")
    assert felix["spec"] == {"vxlanVNI": 1, "vxlanPort": 8472, "vxlanEnabled": True,
                             "logSeverityScreen": "Info", "reportingInterval": "0s"}


def test_calico_node_creates_the_default_pool_from_kubeadms_pod_subnet(small_cluster, calico_node_daemonset):
    c = small_cluster
    install_crds(c)
    start_calico_node(c, calico_node_daemonset, env={"CALICO_IPV4POOL_IPIP": "Always"})
    [pool] = calico_objects(c, "ippools")
    assert pool["metadata"]["name"] == "default-ipv4-ippool"
    assert pool["spec"] == {"cidr": "10.244.0.0/16", "blockSize": 26, "ipipMode": "Always", "vxlanMode": "Never",
                            "natOutgoing": True, "nodeSelector": "all()"}


def test_without_kubeadm_config_the_default_pool_is_192_168_0_0_16_when_it_is_free(calico_node_daemonset):
    scenario = load_scenario("small", overrides={"nodeGroups": [
        {"count": 2, "namePrefix": "worker-", "zone": "z", "region": "r", "subnet": "10.20.0.0/24"}]})
    c = SimCluster(scenario)
    c.store.delete(c.ctx.rtype("", "configmaps"), "kube-system", "kubeadm-config")
    install_crds(c)
    start_calico_node(c, calico_node_daemonset, node="worker-1")
    [pool] = calico_objects(c, "ippools")
    assert pool["spec"]["cidr"] == "192.168.0.0/16"


def test_without_kubeadm_config_the_default_pool_avoids_the_hosts_addresses(small_cluster, calico_node_daemonset):
    c = small_cluster  # nodes in 192.168.10.0/24, which 192.168.0.0/16 would swallow
    c.store.delete(c.ctx.rtype("", "configmaps"), "kube-system", "kubeadm-config")
    install_crds(c)
    start_calico_node(c, calico_node_daemonset)
    [pool] = calico_objects(c, "ippools")
    assert pool["spec"]["cidr"] == "172.16.0.0/16"


def test_calico_ipv4pool_cidr_sets_the_default_pool(small_cluster, calico_node_daemonset):
    c = small_cluster
    install_crds(c)
    start_calico_node(c, calico_node_daemonset, env={"CALICO_IPV4POOL_CIDR": "10.244.0.0/16",
                                                     "CALICO_IPV4POOL_VXLAN": "Always",
                                                     "CALICO_IPV4POOL_BLOCK_SIZE": "24"})
    [pool] = calico_objects(c, "ippools")
    assert (pool["spec"]["cidr"], pool["spec"]["vxlanMode"], pool["spec"]["blockSize"]) == ("10.244.0.0/16", "Always", 24)


def test_no_default_pools_leaves_the_pools_alone(small_cluster, calico_node_daemonset):
    c = small_cluster
    install_crds(c)
    pod = start_calico_node(c, calico_node_daemonset, env={"NO_DEFAULT_POOLS": "true"})
    assert calico_objects(c, "ippools") == []
    assert ready(pod)  # Felix does not need a pool to be ready


def test_an_existing_pool_means_no_default_pool(small_cluster, calico_node_daemonset, prepare_calico):
    c = small_cluster
    prepare_calico(c, interop=False)
    start_calico_node(c, calico_node_daemonset)
    assert [p["metadata"]["name"] for p in calico_objects(c, "ippools")] == ["default-ipv4-ippool"]
    assert calico_objects(c, "ippools")[0]["spec"]["vxlanMode"] == "Always"


# ---- readiness ------------------------------------------------------------------------

def test_calico_node_becomes_ready_with_a_coherent_config(small_cluster, prepare_calico,
                                                          keep_flannel_off_calico_nodes, move_node_to_calico):
    c = small_cluster
    prepare_calico(c)
    keep_flannel_off_calico_nodes(c)
    move_node_to_calico(c, "worker-2")
    pod = calico_node_pod(c)
    assert ready(pod)
    device = c.ctx.hosts["worker-2"].interfaces["vxlan.calico"]
    assert (device.vni, device.port, device.mtu) == (1, 8472, 1450)


def test_calico_node_is_not_ready_before_felix_has_started(small_cluster, calico_node_daemonset, prepare_calico):
    c = small_cluster
    prepare_calico(c, interop=False)
    pod = start_calico_node(c, calico_node_daemonset, wait=4)
    assert pod["status"]["containerStatuses"][0]["state"].get("running")
    assert not ready(pod)


def test_calico_never_ready_fault_keeps_calico_node_unready_with_a_reason(small_cluster, calico_node_daemonset,
                                                                          prepare_calico):
    c = small_cluster
    prepare_calico(c, interop=False)
    c.faults.update({"calico_never_ready": ["worker-2"]})
    pod = start_calico_node(c, calico_node_daemonset, wait=60)
    assert not ready(pod)
    assert "Readiness probe failed: calico/node is not ready: BIRD is not ready: BGP not established " \
           "(injected fault)" in unhealthy(c, pod)


def test_calico_node_becomes_ready_once_the_fault_is_lifted(small_cluster, calico_node_daemonset, prepare_calico):
    c = small_cluster
    prepare_calico(c, interop=False)
    c.faults.update({"calico_never_ready": ["worker-2"]})
    start_calico_node(c, calico_node_daemonset, wait=30)
    c.faults.update({"calico_never_ready": []})
    c.advance(5)
    assert ready(calico_node_pod(c))


def test_calico_node_is_ready_even_when_no_pool_covers_the_nodes_pod_cidr(small_cluster, calico_node_daemonset,
                                                                          prepare_calico):
    # Felix's readiness does not look at pools; with calico-ipam the podCIDR plays no part.
    c = small_cluster
    prepare_calico(c, pool="172.20.0.0/16", block_size=26, interop=False)
    pod = start_calico_node(c, calico_node_daemonset)
    assert ready(pod)
    tunnel = c.store.find(c.ctx.nodes, None, "worker-2")["metadata"]["annotations"][
        "projectcalico.org/IPv4VXLANTunnelAddr"]
    assert tunnel.startswith("172.20.")


def test_a_flannel_device_on_the_same_vni_and_port_stops_vxlan_calico_but_not_readiness(
        small_cluster, calico_node_daemonset, prepare_calico):
    # The kernel refuses a second VXLAN device on VNI 1 / port 8472; Felix retries and logs,
    # its readiness is unaffected - which is why Calico's controller checks for vxlan.calico.
    c = small_cluster
    prepare_calico(c)
    pod = start_calico_node(c, calico_node_daemonset)
    assert ready(pod)
    assert "vxlan.calico" not in c.ctx.hosts["worker-2"].interfaces
    assert "Failed to configure tunnel device, retrying... device=\"vxlan.calico\" " \
           "error=can't locate created tunnel device vxlan.calico" in log(c, pod)


def test_vxlan_calico_appears_once_flannel_1_is_deleted(small_cluster, calico_node_daemonset, prepare_calico,
                                                      run_on_node):
    c = small_cluster
    prepare_calico(c)
    start_calico_node(c, calico_node_daemonset)
    run_on_node(c, "worker-2", "del-flannel", "ip link delete flannel.1")
    assert c.ctx.hosts["worker-2"].interfaces["vxlan.calico"].vni == 1


def test_felix_uses_calicos_default_vni_and_port_without_felix_configuration(small_cluster, calico_node_daemonset):
    c = small_cluster
    install_crds(c)
    start_calico_node(c, calico_node_daemonset, env={"CALICO_IPV4POOL_VXLAN": "Always"})
    device = c.ctx.hosts["worker-2"].interfaces["vxlan.calico"]
    assert (device.vni, device.port) == (4096, 4789)


def test_felix_environment_overrides_felix_configuration(small_cluster, calico_node_daemonset, prepare_calico):
    c = small_cluster
    prepare_calico(c, interop=False)
    start_calico_node(c, calico_node_daemonset, env={"FELIX_VXLANVNI": "7", "FELIX_VXLANPORT": "4790"})
    device = c.ctx.hosts["worker-2"].interfaces["vxlan.calico"]
    assert (device.vni, device.port) == (7, 4790)


def test_no_vxlan_pool_means_no_vxlan_device(small_cluster, calico_node_daemonset, prepare_calico):
    c = small_cluster
    prepare_calico(c, vxlan="Never", interop=False)
    pod = start_calico_node(c, calico_node_daemonset)
    assert ready(pod)
    assert "vxlan.calico" not in c.ctx.hosts["worker-2"].interfaces


# ---- tunnel address and node resource --------------------------------------------------

def test_calico_node_assigns_a_tunnel_address_from_ipam(small_cluster, calico_node_daemonset, prepare_calico):
    c = small_cluster
    prepare_calico(c, interop=False, block_size=26)
    start_calico_node(c, calico_node_daemonset)
    annotations = c.store.find(c.ctx.nodes, None, "worker-2")["metadata"]["annotations"]
    address = annotations["projectcalico.org/IPv4VXLANTunnelAddr"]
    [affinity] = calico_objects(c, "blockaffinities")
    block_cidr = ipaddress.ip_network(affinity["spec"]["cidr"])
    # a /26 block of the pool, claimed for the node, whose first address becomes the tunnel address
    assert affinity["spec"]["node"] == "worker-2" and affinity["spec"]["state"] == "confirmed"
    assert block_cidr.prefixlen == 26 and block_cidr.subnet_of(ipaddress.ip_network("10.244.0.0/16"))
    assert address == str(block_cidr.network_address)
    [block] = calico_objects(c, "ipamblocks")
    assert block["spec"]["attributes"][block["spec"]["allocations"][0]] == {
        "handle_id": "vxlan-tunnel-addr-worker-2", "secondary": {"node": "worker-2", "type": "vxlanTunnelAddress"}}


def test_a_tunnel_address_ipam_does_not_hold_is_replaced(small_cluster, calico_node_daemonset, prepare_calico):
    c = small_cluster
    prepare_calico(c)
    c.store.mutate(c.ctx.nodes, None, "worker-2", lambda n: n["metadata"]["annotations"].__setitem__(
        "projectcalico.org/IPv4VXLANTunnelAddr", "10.244.2.77"))
    start_calico_node(c, calico_node_daemonset)
    annotations = c.store.find(c.ctx.nodes, None, "worker-2")["metadata"]["annotations"]
    assert annotations["projectcalico.org/IPv4VXLANTunnelAddr"] == "10.244.2.0"  # first free of its block


def test_calico_node_records_the_nodes_address(small_cluster, calico_node_daemonset, prepare_calico):
    c = small_cluster
    prepare_calico(c, interop=False)
    start_calico_node(c, calico_node_daemonset)
    annotations = c.store.find(c.ctx.nodes, None, "worker-2")["metadata"]["annotations"]
    assert annotations["projectcalico.org/IPv4Address"] == "192.168.10.12/24"


def test_pods_on_a_calico_node_get_addresses_from_its_affine_block(small_cluster, prepare_calico,
                                                                   keep_flannel_off_calico_nodes, move_node_to_calico):
    c = small_cluster
    prepare_calico(c)
    keep_flannel_off_calico_nodes(c)
    move_node_to_calico(c, "worker-2")
    c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "demo"},
              "spec": {"nodeName": "worker-2", "containers": [{"name": "m", "image": "registry.k8s.io/pause:3.10"}]}})
    c.advance(5)
    assert c.store.find(c.ctx.pods, "demo", "p")["status"]["podIP"] == "10.244.2.1"


def test_pods_on_a_calico_node_without_any_pool_fail_their_sandbox(small_cluster, calico_node_daemonset):
    c = small_cluster
    install_crds(c)
    start_calico_node(c, calico_node_daemonset, env={"NO_DEFAULT_POOLS": "true"})
    c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "demo"},
              "spec": {"nodeName": "worker-2", "containers": [{"name": "m", "image": "registry.k8s.io/pause:3.10"}]}})
    c.advance(5)
    [event] = [e for e in c.store.items(c.ctx.rtype("", "events"))
               if e["involvedObject"]["name"] == "p" and e["reason"] == "FailedCreatePodSandBox"]
    assert event["message"].endswith('plugin type="calico" failed (add): no configured Calico pools for node worker-2')


def test_canal_runs_calico_node_for_policy_only():
    c = SimCluster("canal")
    for name in ("worker-1", "worker-2", "worker-3"):
        assert "vxlan.calico" not in c.ctx.hosts[name].interfaces
        assert c.ctx.hosts[name].interfaces["flannel.1"].vni == 1
    pods = [p for p in c.store.items(c.ctx.pods, "kube-system") if p["metadata"]["name"].startswith("canal-")]
    assert pods and all(ready(p) for p in pods)
    # Canal's calico-node still creates a default pool; the migration controller deletes it later
    [pool] = calico_objects(c, "ippools")
    assert (pool["spec"]["cidr"], pool["spec"]["vxlanMode"], pool["spec"]["ipipMode"]) == ("10.244.0.0/16", "Never",
                                                                                            "Never")


def test_a_shell_command_in_the_calico_node_image_runs_the_shell_not_calico_node(small_cluster):
    """A pod's `command` replaces the image's entrypoint: calico/node with `sh -c` is a shell."""
    c = small_cluster
    c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "check", "namespace": "kube-system"},
              "spec": {"nodeName": "worker-1", "hostNetwork": True, "restartPolicy": "Never",
                       "containers": [{"name": "check", "image": "docker.io/calico/node:v3.32.1",
                                       "command": ["/bin/sh", "-c", "test -e /etc/hostname-does-not-exist"],
                                       "securityContext": {"privileged": True}}]}})
    c.advance(10)
    pod = c.store.find(c.ctx.pods, "kube-system", "check")
    assert pod["status"]["phase"] == "Failed"
