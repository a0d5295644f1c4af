"""MTU as Flannel v0.28.9 and Calico v3.32.1 set it, and what the data plane does with it: NIC MTUs per
node group, flanneld's FLANNEL_MTU, the pods' interface MTU from their CNI config, and flows whose packets
do not fit the underlay (migrate/sim/agents.py _flannel_mtu, network.py _too_big)."""
import json
from pathlib import Path

import pytest

from migrate.sim.cluster import SimCluster
from migrate.sim.scenario import load_scenario

SCENARIOS = Path(__file__).parents[1] / "scenarios"
MTU1400 = str(SCENARIOS / "mtu1400.yaml")
MIXED = str(SCENARIOS / "mixed-mtu.yaml")


@pytest.fixture
def cluster():
    made = []

    def make(scenario):
        made.append(SimCluster(scenario))
        return made[-1]
    yield make
    for c in made:
        c.stop()


def subnet_env_mtu(c, node):
    text = c.ctx.hosts[node].read_file("/run/flannel/subnet.env")
    return int(dict(line.split("=", 1) for line in text.splitlines())["FLANNEL_MTU"])


def pinned_pod(c, name, node):
    c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "demo"},
              "spec": {"nodeName": node, "containers": [{"name": "m", "image": "registry.k8s.io/pause:3.10"}]}})


def pod_ip(c, name):
    return c.network.attachments[("demo", name)][1].ip


def test_a_node_groups_mtu_sets_its_nics_and_others_keep_the_clusters(cluster):
    c = cluster(MIXED)
    assert c.ctx.hosts["small-1"].interfaces["eth0"].mtu == 1400
    assert c.ctx.hosts["worker-1"].interfaces["eth0"].mtu == 1500


def test_flanneld_takes_vxlans_50_bytes_off_each_nodes_own_nic(cluster):
    c = cluster(MIXED)
    assert {n: subnet_env_mtu(c, n) for n in ("worker-1", "small-1")} == {"worker-1": 1450, "small-1": 1350}
    assert c.ctx.hosts["small-1"].interfaces["flannel.1"].mtu == 1350


def test_backend_mtu_is_the_underlays_and_flanneld_still_takes_50_off(cluster):
    scenario = load_scenario(MIXED, {"flannel": {"flavor": "manifest", "backend": "vxlan", "mtu": 1400}})
    c = cluster(scenario)
    net_conf = json.loads(c.store.find(c.ctx.rtype("", "configmaps"), "kube-flannel",
                                       "kube-flannel-cfg")["data"]["net-conf.json"])
    assert net_conf["Backend"]["MTU"] == 1400
    assert {n: subnet_env_mtu(c, n) for n in ("worker-1", "small-1")} == {"worker-1": 1350, "small-1": 1350}


def test_flannel_pods_get_flannel_mtu_on_their_interface(cluster):
    c = cluster(MTU1400)
    pinned_pod(c, "a", "worker-1")
    c.advance(10)
    node, attachment = c.network.attachments[("demo", "a")]
    assert attachment.mtu == 1350 and c.ctx.hosts[node].interfaces[attachment.veth].mtu == 1350


def test_flannel_with_mixed_nic_mtus_reaches_across_pools(cluster):
    c = cluster(MIXED)
    pinned_pod(c, "big", "worker-1")
    pinned_pod(c, "small", "small-1")
    c.advance(10)
    assert c.network.reach(("demo", "big"), pod_ip(c, "small")).ok
    assert c.network.reach(("demo", "small"), pod_ip(c, "big")).ok


def calico_on(c, nodes, mtu, prepare_calico, move_node_to_calico, calico_node_daemonset):
    """Nodes handed to Calico whose CNI config and FelixConfiguration both say `mtu`."""
    prepare_calico(c)
    daemonset = calico_node_daemonset({"FELIX_VXLANMTU": str(mtu)})
    install = daemonset["spec"]["template"]["spec"]["initContainers"][0]
    next(e for e in install["env"] if e["name"] == "CNI_MTU")["value"] = str(mtu)
    for node in nodes:
        move_node_to_calico(c, node, daemonset)


def test_calico_with_a_larger_mtu_than_the_nics_carry_black_holes_cross_node_flows(
        cluster, prepare_calico, move_node_to_calico, calico_node_daemonset):
    c = cluster(MTU1400)
    calico_on(c, ["worker-1", "worker-2"], 1450, prepare_calico, move_node_to_calico, calico_node_daemonset)
    pinned_pod(c, "a", "worker-1")
    pinned_pod(c, "b", "worker-2")
    c.advance(30)
    assert c.network.attachments[("demo", "a")][1].mtu == 1450
    verdict = c.network.reach(("demo", "a"), pod_ip(c, "b"))
    assert not verdict.ok and "1450-byte packets exceed the 1350 bytes the underlay carries" in verdict.reason


def test_calico_with_flannels_mtu_reaches_across_nodes(cluster, prepare_calico, move_node_to_calico,
                                                      calico_node_daemonset):
    c = cluster(MTU1400)
    calico_on(c, ["worker-1", "worker-2"], 1350, prepare_calico, move_node_to_calico, calico_node_daemonset)
    pinned_pod(c, "a", "worker-1")
    pinned_pod(c, "b", "worker-2")
    c.advance(30)
    assert c.network.reach(("demo", "a"), pod_ip(c, "b")).ok


def test_a_same_node_flow_never_fails_on_mtu(cluster, prepare_calico, move_node_to_calico, calico_node_daemonset):
    c = cluster(MTU1400)
    calico_on(c, ["worker-1"], 1450, prepare_calico, move_node_to_calico, calico_node_daemonset)
    pinned_pod(c, "a", "worker-1")
    pinned_pod(c, "b", "worker-1")
    c.advance(30)
    assert c.network.reach(("demo", "a"), pod_ip(c, "b")).ok


def test_a_flannel_pod_talking_to_an_oversized_calico_pod_gets_through(
        cluster, prepare_calico, move_node_to_calico, calico_node_daemonset):
    # TCP's MSS follows the smaller interface of the two, so the Flannel pod's 1350 bytes fit the 1400-byte NICs
    c = cluster(MTU1400)
    calico_on(c, ["worker-1"], 1450, prepare_calico, move_node_to_calico, calico_node_daemonset)
    pinned_pod(c, "calico", "worker-1")
    pinned_pod(c, "flannel", "worker-2")
    c.advance(30)
    assert c.network.reach(("demo", "flannel"), pod_ip(c, "calico")).ok
    assert c.network.reach(("demo", "calico"), pod_ip(c, "flannel")).ok


def test_ip_addr_show_to_an_address_lists_only_the_nic_holding_it_with_its_mtu(cluster, run_on_node):
    # what prepare/flannel-mtu's reading pod runs (iproute2 `to PREFIX` filters addresses, and links without one)
    c = cluster(MIXED)
    address = c.network.node_ip("small-1")
    pod = run_on_node(c, "small-1", "read", f"ip -4 addr show to {address}/32 > /dev/termination-log")
    message = pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"]
    assert message.splitlines()[0].startswith("2: eth0: <") and " mtu 1400 " in message.splitlines()[0]
    assert [line.split()[1] for line in message.splitlines() if line.strip().startswith("inet ")] == [f"{address}/24"]


@pytest.mark.parametrize("text, field", [
    ("nodeGroups: [{count: 1, namePrefix: w-, subnet: 192.168.10.0/24, mtu: 40}]\n", "nodeGroups[0].mtu"),
    ("nodeGroups: [{count: 1, namePrefix: w-, subnet: 192.168.10.0/24}]\nflannel: {mtu: -1}\n", "flannel.mtu"),
])
def test_an_mtu_out_of_range_in_a_scenario_is_named(tmp_path, text, field):
    from migrate.sim.scenario import ScenarioError
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(str(path))
    assert info.value.field_path == field
