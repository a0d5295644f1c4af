"""Hosts with a second NIC (scenario secondarySubnets): calico-node's address detection picks what
Calico v3.32.1 picks there, Felix sends VXLAN to that address, and the data plane delivers it only
where the underlay routes it (migrate/sim/calico_autodetect.py, network.py)."""
from pathlib import Path

import pytest

from migrate.sim.cluster import SimCluster

MULTI_NIC = str(Path(__file__).parents[1] / "scenarios" / "multinic.yaml")


@pytest.fixture
def multinic():
    c = SimCluster(MULTI_NIC)
    yield c
    c.stop()


def pinned_pod(c, name, node):
    c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "demo"},
              "spec": {"nodeName": node, "containers": [{"name": "m", "image": "registry.k8s.io/pause:3.10"}]}})


def migrate_two_nodes(c, prepare_calico, move_node_to_calico, calico_node_daemonset, env):
    prepare_calico(c)
    daemonset = calico_node_daemonset(env)
    for node in ("worker-1", "storage-1"):
        move_node_to_calico(c, node, daemonset)
    pinned_pod(c, "on-worker", "worker-1")
    pinned_pod(c, "on-storage", "storage-1")
    c.advance(30)
    return c.network.attachments[("demo", "on-storage")][1].ip


def address(c, node):
    return c.store.find(c.ctx.nodes, None, node)["metadata"]["annotations"]["projectcalico.org/IPv4Address"]


def test_the_storage_nic_is_a_second_nic_with_its_own_address(multinic):
    nics = {i.name: i.addresses for i in multinic.ctx.hosts["storage-1"].interfaces.values() if i.kind == "ether"}
    assert nics == {"eth0": ["192.168.10.13/24"], "eth1": ["10.250.0.10/24"]}


def test_first_found_moves_a_multi_homed_nodes_vtep_off_the_vpc_and_its_flows_break(
        multinic, prepare_calico, move_node_to_calico, calico_node_daemonset):
    c = multinic
    target = migrate_two_nodes(c, prepare_calico, move_node_to_calico, calico_node_daemonset, {"IP": "autodetect"})
    assert address(c, "storage-1") == "10.250.0.10/24"
    assert c.ctx.hosts["storage-1"].interfaces["vxlan.calico"].local_ip == "10.250.0.10"
    verdict = c.network.reach(("demo", "on-worker"), target)
    assert not verdict.ok and "the VPC does not route 10.250.0.0/24" in verdict.reason


def test_kubernetes_internal_ip_keeps_the_vpc_address_and_the_flows(
        multinic, prepare_calico, move_node_to_calico, calico_node_daemonset):
    c = multinic
    target = migrate_two_nodes(c, prepare_calico, move_node_to_calico, calico_node_daemonset,
                               {"IP": "autodetect", "IP_AUTODETECTION_METHOD": "kubernetes-internal-ip"})
    assert address(c, "storage-1") == "192.168.10.13/24"
    assert c.network.reach(("demo", "on-worker"), target).ok
