"""Pod addressing: every node's podCIDR inside Flannel's Network, blocks that fit, no VPC conflicts."""
from __future__ import annotations

import ipaddress

from .finding import BLOCKER, WARNING, Finding, names
from .flannel import flannel_network

# The snapshot records no VPC subnet, so nodes are grouped by the /24 holding their InternalIP: the
# smallest subnet VPC clouds commonly hand out, so two nodes in different /24s are most likely routed.
ASSUMED_SUBNET_PREFIX = 24


def check(content: dict, *, block_size: int | None = None) -> list[Finding]:
    network = flannel_network(content)
    nodes = content.get("nodes") or []
    findings = _ipv6(content, nodes)
    if network is not None:
        findings += _pod_cidrs(nodes, network, _block_size(content, network, block_size))
        findings += _overlaps(content, nodes, network)
    findings += _subnets(nodes)
    findings += _calico_address(nodes)
    return findings


def _block_size(content: dict, network, chosen: int | None) -> int:
    if chosen is not None:
        return chosen
    for pool in (content.get("calico") or {}).get("ipPools") or []:
        if pool.get("cidr") and ipaddress.ip_network(pool["cidr"], strict=False) == network and pool.get("blockSize"):
            return int(pool["blockSize"])
    return int(((content.get("flannel") or {}).get("netConf") or {}).get("subnetLen") or 24)


def _internal_ips(node: dict) -> list:
    return [ipaddress.ip_address(a["address"]) for a in node.get("addresses") or []
            if a.get("type") == "InternalIP" and a.get("address")]


def _ipv6(content: dict, nodes: list[dict]) -> list[Finding]:
    net_conf = (content.get("flannel") or {}).get("netConf") or {}
    v6_nodes = [n["name"] for n in nodes
                if any(ipaddress.ip_network(c["cidr"], strict=False).version == 6 for c in n.get("podCIDRs") or [])]
    if not (net_conf.get("enableIPv6") or net_conf.get("ipv6Network") or v6_nodes):
        return []
    where = f"net-conf.json EnableIPv6/IPv6Network {net_conf.get('ipv6Network')}" if net_conf.get("enableIPv6") else ""
    if v6_nodes:
        where += ("; " if where else "") + f"IPv6 podCIDRs on {names(v6_nodes)}"
    return [Finding(BLOCKER, "IPV6_DUAL_STACK", f"IPv6 / dual-stack pod networking is in use ({where}); the "
                    "Flannel-compatible VXLAN hand-off is IPv4 only",
                    "migrate in a maintenance window, or disable IPv6 in Flannel first if no workload needs it")]


def _pod_cidrs(nodes: list[dict], network, block_size: int) -> list[Finding]:
    missing, outside, too_small = [], [], []
    for node in nodes:
        cidrs = [ipaddress.ip_network(c["cidr"], strict=False) for c in node.get("podCIDRs") or []]
        same_family = [c for c in cidrs if c.version == network.version]
        if not same_family:
            missing.append(node["name"])
            continue
        for cidr in same_family:
            if not cidr.subnet_of(network):
                outside.append(f"{node['name']} ({cidr})")
            elif cidr.prefixlen > block_size:
                too_small.append(f"{node['name']} ({cidr})")
    findings = []
    if missing:
        findings.append(Finding(BLOCKER, "NODE_WITHOUT_POD_CIDR", f"nodes without a podCIDR: {names(missing)}",
                                "enable --allocate-node-cidrs on the controller-manager (or set spec.podCIDR) so "
                                "every node has a pod range; Flannel with --kube-subnet-mgr needs it too"))
    if outside:
        findings.append(Finding(BLOCKER, "POD_CIDR_OUTSIDE_NETWORK",
                                f"podCIDRs outside Flannel's Network {network}: {names(outside)}",
                                f"make the controller-manager's --cluster-cidr match {network} and re-create "
                                "those nodes, or correct Network in net-conf.json"))
    if too_small:
        findings.append(Finding(BLOCKER, "NODE_MASK_SMALLER_THAN_BLOCK",
                                f"node pod ranges smaller than the /{block_size} Calico IPAM block: {names(too_small)}; "
                                f"a /{block_size} block cannot be claimed inside them, so each node could not keep "
                                "its exact range",
                                "choose a Calico blockSize no larger than the smallest node range (a prefix at least "
                                "as long as the nodes' podCIDR mask), or use host-local IPAM with usePodCidr"))
    return findings


def _overlaps(content: dict, nodes: list[dict], network) -> list[Finding]:
    findings = []
    inside = [f"{n['name']} ({ip})" for n in nodes for ip in _internal_ips(n)
              if ip.version == network.version and ip in network]
    if inside:
        findings.append(Finding(BLOCKER, "POD_NETWORK_OVERLAPS_NODES",
                                f"Flannel's Network {network} contains node addresses: {names(inside)}; pod and "
                                "VPC addresses collide (the VPC conflict)",
                                "move the pod network to a range outside every VPC subnet; this needs a rebuild or "
                                "a re-addressing, not a CNI swap"))
    services = content.get("serviceNetwork") or {}
    service_cidr = services.get("serviceSubnet")
    if service_cidr:
        service_net = ipaddress.ip_network(service_cidr, strict=False)
        if service_net.version == network.version and service_net.overlaps(network):
            findings.append(Finding(BLOCKER, "POD_NETWORK_OVERLAPS_SERVICES",
                                    f"Flannel's Network {network} overlaps the service range {service_net}",
                                    "give the pod network and the service range disjoint CIDRs before migrating"))
    elif services.get("kubernetesServiceIP"):
        ip = ipaddress.ip_address(services["kubernetesServiceIP"])
        if ip.version == network.version and ip in network:
            findings.append(Finding(BLOCKER, "POD_NETWORK_OVERLAPS_SERVICES",
                                    f"the kubernetes Service IP {ip} lies in Flannel's Network {network} (the service "
                                    "range is not recorded; inferred from that IP)",
                                    "give the pod network and the service range disjoint CIDRs before migrating"))
    return findings


def _calico_address(nodes: list[dict]) -> list[Finding]:
    """calico-node runs with IP_AUTODETECTION_METHOD=kubernetes-internal-ip (calico_manifest.py), so its
    address, the underlay of its VTEP, is the node's first IPv4 InternalIP (Calico v3.32.1
    node/pkg/lifecycle/startup/autodetection/autodetection_methods.go autoDetectUsingK8sInternalIP). Flannel
    sends VXLAN to its public-ip; where the two differ the hand-off moves the node's underlay address."""
    moved = []
    for node in nodes:
        public = (node.get("flannel") or {}).get("publicIP")
        first = next((ip for ip in _internal_ips(node) if ip.version == 4), None)
        if public and first is not None and ipaddress.ip_address(public) != first:
            moved.append(f"{node['name']} (Flannel {public}, InternalIP {first})")
    if not moved:
        return []
    return [Finding(BLOCKER, "FLANNEL_ADDRESS_NOT_INTERNAL_IP",
                    f"Flannel's public-ip is not the node's InternalIP on {names(moved)}: Calico takes the "
                    "InternalIP as the node's VXLAN underlay address, so migrated and unmigrated nodes would stop "
                    "reaching each other's pods",
                    "make the two agree before migrating: the kubelet's --node-ip set to Flannel's address, or "
                    "Flannel's --iface / public-ip-overwrite annotation set to the InternalIP's NIC")]


def node_subnets(nodes: list[dict]) -> dict:
    """Nodes grouped by the subnet assumed to hold their first InternalIP."""
    groups: dict = {}
    for node in nodes:
        for ip in _internal_ips(node)[:1]:
            prefix = ASSUMED_SUBNET_PREFIX if ip.version == 4 else 64
            groups.setdefault(ipaddress.ip_network(f"{ip}/{prefix}", strict=False), []).append(node)
    return groups


def _subnets(nodes: list[dict]) -> list[Finding]:
    groups = node_subnets(nodes)
    if len(groups) < 2:
        return []
    described = "; ".join(
        f"{subnet}: {len(members)} nodes in zones {', '.join(sorted({m.get('zone') or 'unknown' for m in members}))} "
        f"({names([m['name'] for m in members], 4)})" for subnet, members in sorted(groups.items()))
    return [Finding(WARNING, "NODES_IN_SEVERAL_SUBNETS",
                    f"nodes span {len(groups)} subnets ({described}); assumed each node's subnet is the "
                    f"/{ASSUMED_SUBNET_PREFIX} holding its InternalIP, as the snapshot records no subnet",
                    "keep encapsulation across subnets: VXLAN (the migration's mode) works everywhere, and "
                    "afterwards VXLAN or IPIP CrossSubnet encapsulates only between subnets; plain BGP without "
                    "encapsulation works only if the VPC route tables carry every node's pod CIDR")]
