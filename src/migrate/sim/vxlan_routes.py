"""Felix's VXLAN routes on one node: the cluster's VTEP routes seen through that node's own view of the IPPools.

Calico v3.32.1: each node's calculation graph tags every remote block's route with the type of the pool it is in
(felix/calc/l3_route_resolver.go, from the pools that Felix has received), and its VXLAN route manager programs
only routes of VXLAN pools (felix/dataplane/linux/route_mgr.go isRemoteTunnelRoute; vxlan_mgr.go builds it with
IPPoolType_VXLAN), while the IPIP manager (ipip_mgr.go) and the no-encap one take the others. So when a pool's mode
flips, a node swaps a block's VXLAN route for its IPIP or native one when its own Felix applies the change
(sim/felix_config.py), not when the datastore changes. The routes are shared (every Felix programs the same VTEPs,
one table for the cluster); what is per node is only which pools' blocks it leaves out: a view, so 1000 nodes do
not each copy 1000 peers.
"""
from __future__ import annotations

import ipaddress

from .ipip import pool_type
from .network import Peer, PeerTable


class VxlanRoutes:
    """The peers of the shared VTEP table whose blocks are not in an IPIP or unencapsulated pool of `pools`
    (IPPool specs as this node's Felix applied them; disabled pools count: their blocks are still routed)."""

    def __init__(self, shared: PeerTable, pools):
        self.shared = shared
        nets = [ipaddress.ip_network(p["cidr"]) for p in pools
                if ":" not in p.get("cidr", ":") and pool_type(p) != "vxlan"]
        self._other = [(int(n.network_address), int(n.netmask)) for n in nets]

    def _ours(self, peer: Peer) -> bool:
        address = int(peer.cidr.network_address)
        return not any(address & mask == network for network, mask in self._other)

    def lookup(self, ip: ipaddress.IPv4Address) -> Peer | None:
        return self.shared.lookup(ip, self._ours if self._other else None)

    def peers(self) -> list[Peer]:
        return [p for p in self.shared.peers() if self._ours(p)]

    def __len__(self) -> int:
        return len(self.peers())
