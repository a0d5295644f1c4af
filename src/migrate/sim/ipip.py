"""Felix's IPIP and unencapsulated cluster routes (Calico v3.32.1), for when Felix programs them itself.

felix/dataplane/linux/ipip_mgr.go: the IPIP manager keeps tunl0 (address: the node's IPIP tunnel address,
MTU: ipipMTU) whenever IPIP is enabled, but hands routes to its route manager only with ProgramClusterRoutes
(FelixConfiguration `programClusterRoutes: Enabled`, env FELIX_PROGRAMCLUSTERROUTES; added in v3.31.0,
felix/config/config_params.go): otherwise BIRD programs them (sim/bird.py). route_mgr.go: a remote block of
an IPIP pool (felix/calc/l3_route_resolver.go: pool type VXLAN when vxlanMode is not Never, else IPIP when
ipipMode is not Never, else no-encap) goes native by the node's interface when the pool is CrossSubnet and the
remote node's address is in this node's subnet (SameSubnet, from the Node's IPv4Address CIDR), else onlink via
tunl0 to the remote node's address. int_dataplane.go: with neither VXLAN nor IPIP enabled, the no-encap
manager routes every no-encap pool's remote blocks natively. A remote node is routed only once its address is
known (activeHostnameToIP: the Node's IPv4Address).
"""
from __future__ import annotations

import ipaddress

from .bird import CALICO_IPV4_ADDRESS, version_tuple
from .network import Peer

PROGRAM_CLUSTER_ROUTES_SINCE = (3, 31, 0)


def program_cluster_routes(felix_spec: dict, env: dict[str, str], image_tag: str) -> bool:
    """Whether this Felix programs IPIP and no-encap routes itself. Felix reads FELIX_<NAME> case-insensitively;
    the environment wins over the FelixConfiguration. A Felix older than v3.31.0 has no such parameter."""
    if version_tuple(image_tag) < PROGRAM_CLUSTER_ROUTES_SINCE:
        return False
    value = next((v for k, v in env.items() if k.upper() == "FELIX_PROGRAMCLUSTERROUTES"), None)
    if value is None:
        value = felix_spec.get("programClusterRoutes", "Disabled")
    return str(value) == "Enabled"


def pool_type(pool: dict) -> str:
    if pool.get("vxlanMode", "Never") != "Never":
        return "vxlan"
    if pool.get("ipipMode", "Never") != "Never":
        return "ipip"
    return "none"


def felix_routes(node_name: str, nodes: list[dict], affinities: list[dict], pools: list[dict],
                 ipip_enabled: bool | None = None) -> dict[str, list[Peer]]:
    """The routes a Felix with ProgramClusterRoutes puts in the main table for other nodes' blocks:
    {"tunl0": [...], "eth0": [...]} (eth0: the node's interface, native). IPIP is enabled by FelixConfiguration
    ipipEnabled when set, else by any IPIP pool (felix/calc/encapsulation_resolver.go)."""
    if ipip_enabled is None:
        ipip_enabled = any(pool_type(p) == "ipip" for p in pools)
    vxlan_enabled = any(pool_type(p) == "vxlan" for p in pools)
    addresses = {}
    for node in nodes:
        text = (node["metadata"].get("annotations") or {}).get(CALICO_IPV4_ADDRESS)
        if text:
            try:
                addresses[node["metadata"]["name"]] = ipaddress.IPv4Interface(text)
            except ValueError:
                continue
    mine = addresses.get(node_name)
    routes: dict[str, list[Peer]] = {"tunl0": [], "eth0": []}
    if mine is None:
        return routes
    for affinity in affinities:
        spec = affinity.get("spec") or {}
        remote = spec.get("node")
        if remote == node_name or remote not in addresses or spec.get("state") != "confirmed" \
                or ":" in spec.get("cidr", ":"):
            continue
        block = ipaddress.ip_network(spec["cidr"])
        pool = next((p for p in pools if ":" not in p.get("cidr", ":")
                     and block.subnet_of(ipaddress.ip_network(p["cidr"]))), None)
        if pool is None:
            continue
        kind, gateway = pool_type(pool), str(addresses[remote].ip)
        peer = Peer(remote, block, gateway, None, gateway)
        if kind == "ipip" and ipip_enabled:
            same_subnet = pool.get("ipipMode") == "CrossSubnet" and addresses[remote].ip in mine.network
            routes["eth0" if same_subnet else "tunl0"].append(peer)
        elif kind == "none" and not ipip_enabled and not vxlan_enabled:
            routes["eth0"].append(peer)
    return routes


def felix_blackholes(node_name: str, affinities: list[dict], pools: list[dict], program_routes: bool,
                     ipip_enabled: bool | None = None) -> set[str]:
    """The blackhole routes Felix keeps for this node's own IPAM blocks (route_mgr.go routeIsLocalBlock,
    blackholeRoutes): blocks of VXLAN pools (the VXLAN manager always runs its route manager), and with
    ProgramClusterRoutes those of IPIP pools (IPIP on) or no-encap pools (neither encapsulation on); /32
    blocks never."""
    if ipip_enabled is None:
        ipip_enabled = any(pool_type(p) == "ipip" for p in pools)
    vxlan_enabled = any(pool_type(p) == "vxlan" for p in pools)
    wanted = set()
    for affinity in affinities:
        spec = affinity.get("spec") or {}
        if spec.get("node") != node_name or spec.get("state") != "confirmed" or ":" in spec.get("cidr", ":"):
            continue
        block = ipaddress.ip_network(spec["cidr"])
        pool = next((p for p in pools if ":" not in p.get("cidr", ":")
                     and block.subnet_of(ipaddress.ip_network(p["cidr"]))), None)
        if pool is None or block.prefixlen == 32:
            continue
        kind = pool_type(pool)
        if kind == "vxlan" or (program_routes and ((kind == "ipip" and ipip_enabled) or
                                                   (kind == "none" and not ipip_enabled and not vxlan_enabled))):
            wanted.add(str(block))
    return wanted
