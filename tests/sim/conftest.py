"""Hosts and strings shared by the tests of the node host model and its shell."""

import pytest

from migrate.sim.host import HostState, Interface

FLANNEL_CONFLIST = """{
  "name": "cbr0",
  "cniVersion": "0.3.1",
  "plugins": [
    {"type": "flannel", "delegate": {"hairpinMode": true, "isDefaultGateway": true}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
"""

SUBNET_ENV = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n"

FLANNEL_MASQ_RULES = [
    '-m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN',
    '-s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN',
    '-s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN',
    '! -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN',
    '-s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
    '! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
]

KUBE_POSTROUTING_JUMP = '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING'
KUBE_FORWARD_JUMP = '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD'


def build_flannel_node() -> HostState:
    """A node as flanneld (vxlan backend) and kube-proxy leave it."""
    host = HostState("node-b", host_ip="192.168.0.11/24")
    host.write_file("/etc/cni/net.d/10-flannel.conflist", FLANNEL_CONFLIST)
    host.write_file("/run/flannel/subnet.env", SUBNET_ENV)
    host.write_file("/opt/cni/bin/flannel", "\x7fELF")
    host.add_interface(Interface("flannel.1", "vxlan", mac="6e:2b:9c:11:22:33", mtu=1450,
                                 addresses=["10.244.1.0/32"], vni=1, port=8472, local_ip="192.168.0.11"))
    host.add_interface(Interface("cni0", "bridge", mac="2a:7c:44:55:66:77", mtu=1450,
                                 addresses=["10.244.1.1/24"]))
    host.add_interface(Interface("veth5f3a9c21", "veth", mac="d2:1e:88:99:aa:bb", mtu=1450, master="cni0"))
    for subnet in ("10.244.0.0", "10.244.2.0"):
        host.add_route(f"{subnet}/24 via {subnet} dev flannel.1 onlink")
    host.ensure_chain("nat", "KUBE-POSTROUTING")
    host.add_rule("nat", "POSTROUTING", KUBE_POSTROUTING_JUMP)
    host.ensure_chain("nat", "FLANNEL-POSTRTG")
    host.add_rule("nat", "POSTROUTING", '-m comment --comment "flanneld masq" -j FLANNEL-POSTRTG')
    for rule in FLANNEL_MASQ_RULES:
        host.add_rule("nat", "FLANNEL-POSTRTG", rule)
    host.ensure_chain("filter", "KUBE-FORWARD")
    host.add_rule("filter", "FORWARD", KUBE_FORWARD_JUMP)
    host.ensure_chain("filter", "FLANNEL-FWD")
    host.add_rule("filter", "FORWARD", '-m comment --comment "flanneld forward" -j FLANNEL-FWD')
    host.add_rule("filter", "FLANNEL-FWD", '-s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT')
    host.add_rule("filter", "FLANNEL-FWD", '-d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT')
    return host


@pytest.fixture
def host() -> HostState:
    return HostState("node-a", host_ip="192.168.0.10/24", mac="52:54:00:12:34:56")


@pytest.fixture
def flannel_node():
    """Builds a node as flanneld (vxlan backend) and kube-proxy leave it; call it for a fresh one."""
    return build_flannel_node


@pytest.fixture
def subnet_env() -> str:
    """What flanneld wrote to /run/flannel/subnet.env on the flannel node."""
    return SUBNET_ENV


@pytest.fixture
def kube_postrouting_jump() -> str:
    return KUBE_POSTROUTING_JUMP


@pytest.fixture
def kube_forward_jump() -> str:
    return KUBE_FORWARD_JUMP
