"""A whole Flannel clean-up script run against a node that Flannel left behind."""

from migrate.sim.host import run_shell

FLANNEL_CLEANUP = """\
set -e
mkdir -p /etc/cni/net.d
# Keep kubelet from starting pods here until calico-node writes its own config.
printf '{"cniVersion":"0.3.1","name":"k8s-pod-network","plugins":[]}\\n' \\
    > /etc/cni/net.d/00-migration-placeholder.conflist
ip link delete cni0 2>/dev/null || true
ip link delete flannel.1 2>/dev/null || true
rm -f /etc/cni/net.d/*flannel* /run/flannel/subnet.env
iptables -w -t nat -D POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
iptables -w -t nat -F FLANNEL-POSTRTG
iptables -w -t nat -X FLANNEL-POSTRTG
iptables -w -t filter -D FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
iptables -w -F FLANNEL-FWD
iptables -w -X FLANNEL-FWD
echo "flannel removed from ${NODE_NAME:-an unknown node}"
"""


def test_flannel_cleanup_script_leaves_a_clean_host(flannel_node, kube_forward_jump, kube_postrouting_jump):
    node = flannel_node()
    result = run_shell(node, ["/bin/sh", "-c", FLANNEL_CLEANUP], env={"NODE_NAME": "node-b"})
    assert (result.exit_code, result.log) == (0, "flannel removed from node-b\n")
    assert sorted(node.interfaces) == ["eth0", "lo", "veth5f3a9c21"]
    assert node.interfaces["veth5f3a9c21"].master is None
    assert node.routes == ["192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.11"]
    assert node.list_dir("/etc/cni/net.d") == ["00-migration-placeholder.conflist"]
    assert not node.exists("/run/flannel/subnet.env") and node.exists("/opt/cni/bin/flannel")
    assert node.iptables["nat"]["POSTROUTING"] == [kube_postrouting_jump]
    assert node.iptables["filter"]["FORWARD"] == [kube_forward_jump]
    assert "FLANNEL-POSTRTG" not in node.iptables["nat"] and "FLANNEL-FWD" not in node.iptables["filter"]


def test_flannel_cleanup_rerun_stops_at_the_missing_jump_rule(flannel_node):
    node = flannel_node()
    run_shell(node, FLANNEL_CLEANUP)
    again = run_shell(node, FLANNEL_CLEANUP)
    assert again.exit_code == 1
    assert again.log == "iptables: Bad rule (does a matching rule exist in that chain?).\n"
