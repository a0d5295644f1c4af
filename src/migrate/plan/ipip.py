"""Finalize onto IPIP (Always or CrossSubnet) without dropping a flow.

Each node's Felix applies a FelixConfiguration or IPPool change on its own, seconds apart, so the switch is
built so that both paths work on every node before the pool moves, and the old one goes only after every node
has moved:

1. the cloud checklist (IP protocol 4 between nodes, TCP 179 for BGP, the source/destination check off for
   native routing inside a subnet);
2. a tunnel-address pool: calico-node's allocate-tunnel-addrs gives a node an IPIP tunnel address only from an
   enabled pool with IPIP on (Calico v3.32.1 node/pkg/allocateip/allocateip.go determineEnabledPoolCIDRs), and
   Felix configures tunl0 only once the node has one (felix/dataplane/linux/ipip_mgr.go device()). Flannel's pool
   cannot carry IPIP while it is VXLAN (Calico's CRD refuses both modes on), so a small pool restricted to tunnel
   addresses (allowedUses [Tunnel], never used for pods) brings tunl0 up on every node beforehand;
3. who programs the IPIP routes, by release: Felix from v3.31.0 (FelixConfiguration programClusterRoutes:
   Enabled, felix/dataplane/linux/ipip_mgr.go), BIRD before (calico_backend bird, the BIRD probes, a
   BGPConfiguration with the node-to-node mesh);
4. ipipEnabled on every Felix while vxlanEnabled stays on (the prepare step set it explicitly, so Felix keeps
   vxlan.calico whatever the pools say: felix/calc/encapsulation_resolver.go), tunl0 at the VXLAN-sized MTU;
5. a wait until every node has tunl0 up with its address and vxlan.calico still there;
6. the pool in ONE patch: vxlanMode Never and the target ipipMode;
7. a wait until no node routes the pool over vxlan.calico any more;
8. VXLAN retired (vxlanEnabled unset: from the pools, now off), then the IPIP MTU raised to the underlay's less 20.
"""
from __future__ import annotations

import ipaddress

from ..analysis.addressing import node_subnets
from ..analysis.finding import BLOCKER, INFO, WARNING, Finding, names
from ..analysis.release import release_minor
from .model import FINALIZE, PlanStep

PROGRAM_CLUSTER_ROUTES_SINCE = (3, 31)  # FelixConfiguration programClusterRoutes first ships in Calico v3.31.0
TUNNEL_POOL = "ipip-tunnel-addresses"
TUNNEL_POOL_BLOCK = 26
DEFAULT_TUNNEL_CIDR = "100.64.0.0/16"  # RFC 6598 shared space: in no VPC subnet nor pod network by default
IPIP_OVERHEAD, VXLAN_OVERHEAD = 20, 50
BGP_AS = 64512  # Calico's default AS number (BGPConfiguration asNumber)
# Calico's docs: the full node-to-node mesh suits clusters of up to about 100 nodes; beyond, route reflectors.
MESH_NODE_LIMIT = 100
BIRD_FLAGS = {"livenessProbe": "-bird-live", "readinessProbe": "-bird-ready"}
IPIP_TARGETS = ("ipip", "ipip-crosssubnet")


def route_programmer(calico_version: str) -> str:
    """felix when the release's Felix can program IPIP routes itself, else bird."""
    minor = release_minor(calico_version)
    return "felix" if minor is not None and minor >= PROGRAM_CLUSTER_ROUTES_SINCE else "bird"


def ipip_mode(target: str) -> str:
    return "CrossSubnet" if target == "ipip-crosssubnet" else "Always"


def finalize_ipip_steps(content: dict, options: dict, pool: str, vxlan_mtu: int) -> list[PlanStep]:
    target = options["encapsulation"]
    mode = ipip_mode(target)
    programmer = route_programmer(options["calicoVersion"])
    underlay = vxlan_mtu + VXLAN_OVERHEAD
    ipip_mtu = underlay - IPIP_OVERHEAD
    backend = content["flannel"]["netConf"]["backend"]
    tunnel_cidr = options.get("ipipTunnelCidr") or DEFAULT_TUNNEL_CIDR
    image = options["cleanupImage"] or content["flannel"].get("image")
    nodes = len(content["nodes"])

    def step(suffix, kind, target_, **fields):
        return PlanStep(f"finalize/ipip/{suffix}", kind, FINALIZE, target_, **fields)

    checklist = ["IP protocol 4 (IPIP) allowed between every node's security group"]
    if programmer == "bird":
        checklist.append("TCP 179 (BGP) allowed between every node")
    if mode == "CrossSubnet":
        checklist.append("the source/destination check off on every node's NIC (JD Cloud: the network "
                         "interface's sanityCheck 0, shown by the VPC API's describeNetworkInterface), since "
                         "pod traffic inside a subnet leaves unencapsulated with pod addresses")
    steps = [
        step("cloud-checklist", "cloud-checklist", "Cloud",
             changes="nothing in the cluster: before any node speaks IPIP, confirms the cloud lets it through: "
                     + "; ".join(checklist) + f". UDP {backend['port']} stays open until VXLAN is retired below",
             check="none: a person confirms it (guided mode asks; --yes takes it as done)",
             undo="nothing to undo", params={"items": checklist}),
        step("tunnel-pool", "ippool", f"IPPool/{TUNNEL_POOL}",
             changes=f"creates IPPool {TUNNEL_POOL} {tunnel_cidr} (blockSize {TUNNEL_POOL_BLOCK}, ipipMode {mode}, "
                     "vxlanMode Never, allowedUses [Tunnel], natOutgoing false): calico-node gives every node an IPIP "
                     "tunnel address from it and Felix brings tunl0 up, while pods keep their addresses and VXLAN "
                     f"keeps carrying them (Flannel's pool {pool} cannot enable IPIP while it is VXLAN)",
             check=f"IPPool {TUNNEL_POOL} exists with that spec",
             undo=f"deletes IPPool {TUNNEL_POOL} (calico-node releases the tunnel addresses)",
             params={"name": TUNNEL_POOL, "cidr": tunnel_cidr, "blockSize": TUNNEL_POOL_BLOCK, "vxlanMode": "Never",
                     "ipipMode": mode, "natOutgoing": False, "nodeSelector": "all()", "allowedUses": ["Tunnel"]}),
    ]
    felix = {"ipipEnabled": True, "ipipMTU": vxlan_mtu}
    if programmer == "felix":
        felix["programClusterRoutes"] = "Enabled"
        routes = ("Felix programs the IPIP routes itself (programClusterRoutes Enabled, Calico "
                  f"{options['calicoVersion']} has it since v3.31.0)")
    else:
        routes = (f"BIRD programs the IPIP routes (Calico {options['calicoVersion']}'s Felix cannot: "
                  "programClusterRoutes ships from v3.31.0)")
        steps += [
            step("bgp-configuration", "bgp-configuration", "BGPConfiguration/default",
                 changes=f"creates BGPConfiguration default: node-to-node mesh on, AS {BGP_AS}"
                         + (f" (a full mesh of {nodes} nodes opens {nodes * (nodes - 1) // 2} BGP sessions: above "
                            f"{MESH_NODE_LIMIT} nodes use route reflectors instead)" if nodes > MESH_NODE_LIMIT else ""),
                 check="BGPConfiguration default has that spec",
                 undo="deletes BGPConfiguration default, or restores the one there was",
                 params={"nodeToNodeMeshEnabled": True, "asNumber": BGP_AS}),
            step("bird", "calico-backend-bird", "DaemonSet/kube-system/calico-node",
                 changes="sets calico_backend bird in ConfigMap calico-config and rolls calico-node with "
                         "-bird-live in its liveness probe, so BIRD peers with every node while VXLAN still "
                         "carries the traffic; then rolls it again with -bird-ready in its readiness probe (BIRD's "
                         "readiness asks every peering to be up at start, which no first node could have while "
                         "the others ran no BIRD), so each node is Ready only with its BGP sessions established",
                 check="calico-config says bird, calico-node's probes have both BIRD flags and it is rolled out",
                 undo="puts calico_backend and the probes back and waits for calico-node to roll out",
                 params={"configMap": "calico-config", "probes": BIRD_FLAGS}),
        ]
    steps += [
        step("felix", "felix-settings", "FelixConfiguration/default",
             changes="sets " + ", ".join(f"{k} {v}" for k, v in felix.items()) + ": every Felix brings up tunl0 "
                     f"and accepts IPIP from the cluster's nodes; vxlanEnabled stays true, so vxlan.calico keeps "
                     f"carrying the traffic; tunl0 runs at {vxlan_mtu}, the pods' MTU, until VXLAN is gone. " + routes,
             check="FelixConfiguration default has those values",
             undo="puts the previous values back",
             params={"set": felix}),
        step("ready", "wait-encapsulation", "Nodes",
             changes=f"nothing: a read-only pod per node (hostNetwork) reads its links, addresses and routes, until "
                     "every node has tunl0 up with its tunnel address and vxlan.calico still up: every node can "
                     "then receive both, whichever way a peer sends",
             check="none: reads the nodes whenever a run reaches it", undo="nothing to undo",
             params={"state": "both", "image": image, "poolCIDR": content["flannel"]["netConf"]["network"]}),
        step("switch", "switch-encapsulation", f"IPPool/{pool}",
             changes=f"moves IPPool {pool} to vxlanMode Never, ipipMode {mode} in one patch (Calico's CRD refuses "
                     "both on at once); each Felix moves its routes on its own, and meanwhile each node still "
                     "receives both VXLAN and IPIP" + (", and pods inside one subnet reach each other natively"
                                                        if mode == "CrossSubnet" else ""),
             check=f"IPPool {pool} has those modes",
             undo="puts the pool's previous modes back (one patch) and waits until every node routes it over "
                  "VXLAN again, before IPIP is switched off anywhere",
             params={"from": {"vxlanMode": "Always", "ipipMode": "Never"},
                     "to": {"vxlanMode": "Never", "ipipMode": mode}, "undoWaitsFor": "vxlan",
                     "image": image, "poolCIDR": content["flannel"]["netConf"]["network"]}),
        step("converged", "wait-encapsulation", "Nodes",
             changes="nothing: reads every node again until none routes the pool over vxlan.calico any more and "
                     "tunl0 is up: every Felix has applied the switch",
             check="none: reads the nodes whenever a run reaches it", undo="nothing to undo",
             params={"state": "ipip", "image": image, "poolCIDR": content["flannel"]["netConf"]["network"]}),
        step("retire-vxlan", "felix-settings", "FelixConfiguration/default",
             changes=f"unsets vxlanEnabled (from the pools: off): every Felix removes vxlan.calico; UDP "
                     f"{backend['port']} can then be closed in the security groups",
             check="FelixConfiguration default sets no vxlanEnabled",
             undo="sets vxlanEnabled true again and waits until every node has vxlan.calico back",
             params={"set": {"vxlanEnabled": None}, "undoWaitsFor": "both",
                     "image": image, "poolCIDR": content["flannel"]["netConf"]["network"]}),
        step("mtu", "felix-settings", "FelixConfiguration/default",
             changes=f"raises ipipMTU to {ipip_mtu} (the underlay's {underlay} less IPIP's {IPIP_OVERHEAD}), now "
                     f"that no node sends VXLAN; pods keep their {vxlan_mtu}-byte interfaces until they are "
                     "re-created (calico-config veth_mtu is left as is)",
             check=f"FelixConfiguration default has ipipMTU {ipip_mtu}", undo=f"puts ipipMTU {vxlan_mtu} back",
             params={"set": {"ipipMTU": ipip_mtu}}),
    ]
    return steps


def tunnel_cidr_problem(content: dict, cidr: str) -> str | None:
    """Why the tunnel pool's CIDR cannot be used on this cluster (overlapping pods, nodes or services), or None."""
    try:
        network = ipaddress.ip_network(cidr)
    except ValueError:
        return f"{cidr} is not an IPv4 network"
    if network.version != 4 or network.prefixlen > TUNNEL_POOL_BLOCK:
        return f"{cidr} is not an IPv4 network of at least /{TUNNEL_POOL_BLOCK}"
    flannel = ((content.get("flannel") or {}).get("netConf") or {}).get("network")
    if flannel and network.overlaps(ipaddress.ip_network(flannel, strict=False)):
        return f"{cidr} overlaps Flannel's Network {flannel}"
    for node in content.get("nodes") or []:
        for address in node.get("addresses") or []:
            try:
                if ipaddress.ip_address(address.get("address", "")) in network:
                    return f"{cidr} holds node {node['name']}'s address {address['address']}"
            except ValueError:
                continue
    service = (content.get("serviceNetwork") or {}).get("serviceSubnet")
    if service and network.overlaps(ipaddress.ip_network(service, strict=False)):
        return f"{cidr} overlaps the service CIDR {service}"
    if network.num_addresses // 2 ** (32 - TUNNEL_POOL_BLOCK) < len(content.get("nodes") or []) * 2:
        return f"{cidr} has too few /{TUNNEL_POOL_BLOCK} blocks for twice the cluster's nodes"
    return None


def encapsulation_findings(content: dict, options) -> list[Finding]:
    """What the chosen target asks of this cluster and its cloud, found at planning."""
    target = options.encapsulation
    findings = []
    nodes = content.get("nodes") or []
    shared = {str(subnet): [n["name"] for n in members] for subnet, members in node_subnets(nodes).items()
              if len(members) > 1}
    if target in ("ipip-crosssubnet", "vxlan-crosssubnet") and shared:
        described = "; ".join(f"{subnet}: {names(members, 3)}" for subnet, members in sorted(shared.items()))
        findings.append(Finding(WARNING, "SOURCE_DEST_CHECK",
                                f"--encapsulation {target} routes pod traffic natively between nodes of one subnet "
                                f"({described}; a node's subnet assumed the /24 of its InternalIP): the VPC drops "
                                "those packets, whose addresses are pods', unless the source/destination check is "
                                "off on every node's network interface",
                                "turn the check off before finalize (JD Cloud: the elastic network interface's "
                                "source/destination IP check, `sanityCheck` 0 in the VPC API's network interface; "
                                "AWS: sourceDestCheck false), or plan with --encapsulation ipip to encapsulate "
                                "inside subnets too"))
    if target not in IPIP_TARGETS:
        return findings
    cidr = options.ipip_tunnel_cidr or DEFAULT_TUNNEL_CIDR
    problem = tunnel_cidr_problem(content, cidr)
    if problem:
        findings.append(Finding(BLOCKER, "IPIP_TUNNEL_CIDR",
                                f"the IPIP tunnel-address pool cannot use {cidr}: {problem}",
                                "plan with --ipip-tunnel-cidr CIDR, a range no node, pod or service uses (a /26 "
                                "per node)"))
    if route_programmer(options.calico_version) == "bird":
        findings.append(Finding(INFO, "IPIP_ROUTES_BY_BIRD",
                                f"Calico {options.calico_version}'s Felix cannot program IPIP routes "
                                "(programClusterRoutes ships from v3.31.0), so finalize turns BIRD on: BGP between "
                                "every node (node-to-node mesh), TCP 179 open between them",
                                "open TCP 179 between all nodes before finalize, or pin Calico v3.31.0 or later"))
        if len(nodes) > MESH_NODE_LIMIT:
            findings.append(Finding(WARNING, "BGP_MESH_TOO_LARGE",
                                    f"a node-to-node BGP mesh of {len(nodes)} nodes holds "
                                    f"{len(nodes) * (len(nodes) - 1) // 2} sessions; Calico's docs advise route "
                                    f"reflectors above about {MESH_NODE_LIMIT} nodes, which this tool does not set up",
                                    "pin Calico v3.31.0 or later (Felix programs the routes, no BGP), or set up "
                                    "route reflectors after finalize (BGPPeer, routeReflectorClusterID) and then "
                                    "turn the mesh off"))
    return findings
