"""Tests for the model of a simulated node's host: files, links, routes, rules."""

import json

from migrate.sim.host import run_shell


def test_fresh_host_has_builtin_chains_loopback_and_eth0(host):
    assert set(host.iptables) == {"filter", "nat", "mangle", "raw"}
    assert list(host.iptables["nat"]) == ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]
    assert list(host.interfaces) == ["lo", "eth0"]
    assert host.interfaces["eth0"].addresses == ["192.168.0.10/24"]
    assert host.interfaces["eth0"].mac == "52:54:00:12:34:56"
    assert host.routes == ["192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.10"]


def test_delete_interface_drops_its_routes_and_frees_its_ports(flannel_node):
    node = flannel_node()
    assert node.delete_interface("cni0")
    assert node.interfaces["veth5f3a9c21"].master is None
    assert not any("cni0" in route for route in node.routes)
    assert not node.delete_interface("cni0")


def test_files_imply_directories(flannel_node):
    node = flannel_node()
    assert node.exists("/etc/cni") and node.is_dir("/etc/cni/net.d")
    assert node.list_dir("/etc/cni/net.d") == ["10-flannel.conflist"]
    assert node.list_dir("/run") == ["flannel"]


def test_removing_the_last_file_keeps_its_directory(flannel_node):
    node = flannel_node()
    assert node.remove_file("/run/flannel/subnet.env")
    assert node.is_dir("/run/flannel") and node.list_dir("/run/flannel") == []
    assert not node.remove_file("/run/flannel/subnet.env")


def test_snapshot_is_json_serialisable_and_copy_is_independent(flannel_node):
    node = flannel_node()
    node.nftables[("inet", "calico")] = ["chain input {", "}"]
    clone = node.copy()
    clone.delete_interface("flannel.1")
    snapshot = json.loads(json.dumps(node.snapshot()))
    assert "flannel.1" in snapshot["interfaces"]
    assert snapshot["nftables"] == {"inet calico": ["chain input {", "}"]}


def test_shell_changes_the_hosts_containers_in_place(flannel_node):
    """A container's view of a node shares these objects, so no command may replace them."""
    node = flannel_node()
    node.nftables[("ip", "nat")] = ["chain postrouting {", "masquerade", "}"]
    files, directories, routes, interfaces = node.files, node.directories, node.routes, node.interfaces
    iptables, nat, nft_body = node.iptables, node.iptables["nat"], node.nftables[("ip", "nat")]
    script = ("rm -rf /etc/cni && mv /run/flannel /tmp/flannel && ip link delete cni0 && "
              "ip link set flannel.1 down && ip addr flush dev eth0 && ip route replace 10.9.0.0/16 dev lo && "
              "ip route flush dev lo && iptables -t nat -F && nft flush table ip nat")
    result = run_shell(node, script)
    assert (result.exit_code, result.log) == (0, "")
    assert not node.exists("/etc/cni") and "cni0" not in node.interfaces and node.routes == []
    assert node.files is files and node.directories is directories
    assert node.routes is routes and node.interfaces is interfaces
    assert node.iptables is iptables and node.iptables["nat"] is nat
    assert node.nftables[("ip", "nat")] is nft_body and nft_body == ["chain postrouting {", "}"]
