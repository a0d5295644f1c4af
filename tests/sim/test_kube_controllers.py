"""calico-kube-controllers' IPAM garbage collection as Calico v3.32.1 does it
(kube-controllers/pkg/controllers/node/ipam.go releaseUnusedBlocks): a node's empty blocks beyond its
last one are released after the leak grace period (15 min), unless the node is labelled as being
migrated from Flannel. It runs in the calico-kube-controllers pod, on the simulator's clock."""
import ipaddress

import pytest
import yaml

from migrate.sim.calico_release import calico_release_manifest

LABEL = "projectcalico.org/node-network-during-migration"
CALICO = "crd.projectcalico.org"
GRACE = 15 * 60


@pytest.fixture
def cluster(small_cluster):
    """`small` with Calico's CRDs and calico-kube-controllers running (no calico-node: Flannel still
    networks every node), and worker-1 holding two empty blocks of its podCIDR 10.244.1.0/24."""
    c = small_cluster
    for obj in yaml.safe_load_all(calico_release_manifest()):
        if obj and not (obj["kind"] == "DaemonSet" and obj["metadata"]["name"] == "calico-node"):
            c.create(obj)
    for cidr in ("10.244.1.0/25", "10.244.1.128/25"):
        name = cidr.replace(".", "-").replace("/", "-")
        size = ipaddress.ip_network(cidr).num_addresses
        c.create({"apiVersion": f"{CALICO}/v1", "kind": "BlockAffinity", "metadata": {"name": f"worker-1-{name}"},
                  "spec": {"cidr": cidr, "node": "worker-1", "state": "confirmed", "deleted": "false"}})
        c.create({"apiVersion": f"{CALICO}/v1", "kind": "IPAMBlock", "metadata": {"name": name},
                  "spec": {"cidr": cidr, "affinity": "host:worker-1", "allocations": [None] * size,
                           "unallocated": list(range(size)), "attributes": [], "strictAffinity": False,
                           "deleted": False}})
    c.advance(30)
    assert any(p["metadata"]["name"].startswith("calico-kube-controllers-") and p["status"].get("phase") == "Running"
               for p in c.store.items(c.ctx.pods, "kube-system"))
    return c


def blocks(c):
    return sorted(b["spec"]["cidr"] for b in c.store.items(c.ctx.registry.lookup(CALICO, "v1", "ipamblocks")))


def affinities(c):
    return sorted(a["spec"]["cidr"] for a in c.store.items(c.ctx.registry.lookup(CALICO, "v1", "blockaffinities")))


def label(c, node, value):
    c.store.mutate(c.ctx.nodes, None, node, lambda n: n["metadata"].setdefault("labels", {}).__setitem__(LABEL, value))


def test_an_unlabelled_nodes_empty_blocks_are_released_after_the_grace_period_down_to_one(cluster):
    cluster.advance(GRACE - 60)
    assert len(blocks(cluster)) == 2
    cluster.advance(GRACE)
    assert len(blocks(cluster)) == 1
    assert affinities(cluster) == blocks(cluster)


def test_a_node_labelled_flannel_keeps_its_empty_blocks(cluster):
    label(cluster, "worker-1", "flannel")
    cluster.advance(4 * GRACE)
    assert blocks(cluster) == ["10.244.1.0/25", "10.244.1.128/25"]
    assert affinities(cluster) == blocks(cluster)


def test_a_node_labelled_calico_is_not_guarded(cluster):
    label(cluster, "worker-1", "calico")
    cluster.advance(2 * GRACE + 60)
    assert len(blocks(cluster)) == 1


def test_a_block_holding_an_address_is_kept(cluster):
    rtype = cluster.ctx.registry.lookup(CALICO, "v1", "ipamblocks")

    def take(obj):
        obj["spec"]["allocations"][0] = 0
        obj["spec"]["unallocated"].remove(0)
        obj["spec"]["attributes"].append({"handle_id": "vxlan-tunnel-addr-worker-1", "secondary": {}})
    cluster.store.mutate(rtype, None, "10-244-1-0-25", take)
    cluster.advance(4 * GRACE)
    assert blocks(cluster) == ["10.244.1.0/25"]
