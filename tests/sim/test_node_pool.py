"""Nodes joining and leaving a running simulated cluster (migrate/sim/node_pool.py), and what Flannel does on
a node that joins: it takes the VTEP MAC already stored in the node's annotation (flannel
pkg/subnet/kube/kube.go GetStoredMacAddresses, pkg/backend/vxlan/vxlan.go)."""
from __future__ import annotations

import json

from migrate.sim.cluster import SimCluster

BACKEND_DATA = "flannel.alpha.coreos.com/backend-data"


def node(c, name):
    return c.store.find(c.ctx.nodes, None, name)


def ready(c, name) -> bool:
    return any(x["type"] == "Ready" and x["status"] == "True" for x in node(c, name)["status"]["conditions"])


def test_a_joined_node_gets_a_podcidr_flannel_and_becomes_ready():
    c = SimCluster("small")
    status, answer = c.admin("POST", ["nodes"], {}, {"join": "worker-", "count": 1})
    assert (status, answer) == (201, {"joined": ["worker-3"]})
    c.advance(60)
    assert node(c, "worker-3")["spec"]["podCIDR"] and ready(c, "worker-3")
    assert json.loads(node(c, "worker-3")["metadata"]["annotations"][BACKEND_DATA])["VtepMAC"]
    assert "flannel.1" in c.ctx.hosts["worker-3"].interfaces


def test_flannel_on_a_joined_node_uses_the_vtep_mac_stored_in_its_annotation():
    c = SimCluster("small")
    c.store.mutate(c.ctx.registry.lookup("apps", "v1", "daemonsets"), "kube-flannel", "kube-flannel-ds",
                   lambda ds: ds["spec"]["template"]["spec"].__setitem__("nodeSelector", {"flannel": "yes"}))
    c.admin("POST", ["nodes"], {}, {"join": "worker-", "count": 1})
    c.advance(5)
    stored = "0e:11:22:33:44:55"

    def annotate(n):
        n["metadata"].setdefault("annotations", {})[BACKEND_DATA] = json.dumps({"VNI": 1, "VtepMAC": stored},
                                                                             separators=(",", ":"))
        n["metadata"]["labels"]["flannel"] = "yes"
    c.store.mutate(c.ctx.nodes, None, "worker-3", annotate)
    c.advance(60)
    assert c.ctx.hosts["worker-3"].interfaces["flannel.1"].mac == stored
    assert json.loads(node(c, "worker-3")["metadata"]["annotations"][BACKEND_DATA])["VtepMAC"] == stored


def test_a_scaled_down_node_is_drained_then_deleted_with_its_instance():
    c = SimCluster("small")
    status, _ = c.admin("DELETE", ["nodes", "worker-2"], {}, {})
    assert status == 200
    c.advance(120)
    assert node(c, "worker-2") is None and "worker-2" not in c.ctx.hosts
    assert c.network.probe.failed == 0
    assert [h for h in c.node_pool.history if h["node"] == "worker-2"][0].get("left")
