"""BGP as calico-node's confd and BIRD do it (Calico v3.32.1; the v3.30 template where it differs): which
peers each node's BIRD is configured with, when sessions reach Established, which blocks each node learns,
and the kernel routes BIRD installs for them. Also `calico-node -bird-ready`.

Modelled from:
- confd/pkg/backends/calico/bgp_processor.go processMeshPeers: with the mesh on (BGPConfiguration `default`
  nodeToNodeMeshEnabled, on when unset: client.go's default `node_mesh {"enabled": true}`), every Calico node
  with an IPv4 address peers with every other one, except route reflectors (a node with a cluster ID skips
  the mesh, and is skipped by the others' mesh). client.go's BGPPeer passes: `node` or `nodeSelector` (none:
  every node) pick the local side, `peerSelector` or `peerIP` the remote, and unless reversePeering is
  Manual the remote nodes peer back with the local ones.
- libcalico-go/lib/backend/k8s/resources/node.go: in the Kubernetes datastore a node's BGP address is the
  `projectcalico.org/IPv4Address` annotation and its cluster ID `projectcalico.org/RouteReflectorClusterID`;
  Calico Node labels are the Kubernetes node's.
- confd/etc/calico/confd/templates/bird.cfg.template bgp_template: `connect delay time 2`; a session is
  Established once both ends are configured for each other, both BIRDs run and TCP 179 passes
  (Timings.bgp_session after the later of the two configurations). iBGP keeps the originator's next hop.
- bird_aggr.cfg.template: each node originates the blocks affine to it.
- bgp_processor.go processIPPool / extraStatementForKernelProgrammingIPIPNoEncap (v3.32; v3.30's
  bird_ipam.cfg.template krt_tunnel does the same): VXLAN pools' routes are never put in the kernel (Felix's);
  IPIP Always -> via tunl0, CrossSubnet -> native when the next hop is in the node's subnet, else tunl0;
  neither -> native. From v3.32 BGPConfiguration programClusterRoutes: Disabled leaves them to Felix.
- node/pkg/health/health.go checkBIRDReady: no peers -> ready; within the threshold (30 s, calico-node
  -threshold-time) of the nodename file's write, every peer must be Established; after it, one.

Route reflection is approximated: a route passes through any chain of route reflectors whose cluster IDs
differ (the CLUSTER_LIST loop check), without BIRD's client/non-client distinction. A stopped BIRD's kernel routes
persist, and its peers keep its routes for the graceful-restart time (see stop). Not modelled: external
peers (a peerIP that is no node never establishes), AS numbers, BGP filters, communities, IPv6.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from .calico_ipam import CALICO_GROUP, calico_selector_matches
from .network import Peer, PeerTable

CALICO_IPV4_ADDRESS = "projectcalico.org/IPv4Address"
RR_CLUSTER_ID = "projectcalico.org/RouteReflectorClusterID"
BIRD_READY_THRESHOLD = 30.0  # node/cmd/calico-node/main.go -threshold-time default
GRACEFUL_RESTART_TIME = 120.0  # BIRD's default `graceful restart time` (bgp_template sets only `graceful restart`)


@dataclass
class Speaker:
    """One node's BIRD as confd configured it."""
    node: str
    address: str
    subnet: ipaddress.IPv4Network
    cluster_id: str
    started: float
    version: tuple[int, int, int]
    peers: dict[str, float] = field(default_factory=dict)   # peer (node name or external IP) -> configured since
    exports: list[ipaddress.IPv4Network] = field(default_factory=list)
    pools: list[dict] = field(default_factory=list)
    program_cluster_routes: bool = True  # BGPConfiguration programClusterRoutes (v3.32+): not Disabled


def version_tuple(tag: str) -> tuple[int, int, int]:
    """'v3.30.4' -> (3, 30, 4); an unparseable tag counts as the newest."""
    try:
        major, minor, patch = (int(x) for x in tag.lstrip("v").split("-")[0].split(".")[:3])
        return major, minor, patch
    except ValueError:
        return 99, 0, 0


class BirdFabric:
    """Every running BIRD in the cluster and the sessions between them."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.speakers: dict[str, Speaker] = {}
        # node -> (stopped at, the kernel routes its BIRD had installed): left in place by `persist`
        self.persisted: dict[str, tuple[float, dict[str, PeerTable]]] = {}
        # node -> (stopped at, peers Established then, its exports, its address): what its peers keep as stale
        self.restarting: dict[str, tuple[float, set[str], list, str]] = {}
        self._cache: tuple | None = None

    # ---- what calico-node tells us ---------------------------------------------------------------
    def configure(self, node_name: str, started: float, image_tag: str, pools: list[dict] | None = None) -> None:
        """confd rendered this node's bird.cfg from the datastore (called at start and on every change). `pools`:
        the IPPool specs as this node's confd sees them (default: the datastore's now). confd has its own watch
        (confd/pkg/backends/calico/client.go syncer), so a node's kernel programming of a pool changes when that
        node sees the change, not the cluster at once; modelled on the node's Felix's view (sim/felix_config.py)."""
        ctx = self.ctx
        nodes = {n["metadata"]["name"]: n for n in ctx.store.items(ctx.nodes)}
        me = nodes.get(node_name)
        address = _address(me)
        if me is None or address is None:
            self.stop(node_name)  # IPv4 disabled on this node: no BGP
            return
        now = ctx.now()
        old = self.speakers.get(node_name)
        wanted = self._peers(node_name, nodes)
        since = {p: (old.peers.get(p, now) if old else now) for p in wanted}
        since = {p: max(t, started) for p, t in since.items()}
        bgp = self._bgp_configuration()
        self.speakers[node_name] = Speaker(
            node=node_name, address=str(address.ip), subnet=address.network, cluster_id=_cluster_id(me),
            started=started, version=version_tuple(image_tag), peers=since, exports=self._exports(node_name),
            pools=self._pools() if pools is None else list(pools),
            program_cluster_routes=(bgp.get("programClusterRoutes") != "Disabled"))
        self._cache = None

    def stop(self, node_name: str) -> None:
        """BIRD exits. bird.cfg.template's kernel protocol has `persist`: the routes it installed stay in the
        kernel (until a BIRD there recovers, or for good). Its peers, with `graceful restart` in bgp_template,
        keep its routes as stale for GRACEFUL_RESTART_TIME (BIRD's default 120 s) unless it comes back sooner."""
        speaker = self.speakers.get(node_name)
        if speaker is None:
            return
        now = self.ctx.now()
        self.persisted[node_name] = (now, self.kernel_routes(node_name, now))
        up = {p for p in speaker.peers if self.established(node_name, p, now)}
        self.restarting[node_name] = (now, up, list(speaker.exports), speaker.address)
        del self.speakers[node_name]
        self._cache = None

    def _bgp_configuration(self) -> dict:
        rtype = self.ctx.registry.lookup(CALICO_GROUP, "v1", "bgpconfigurations")
        default = self.ctx.store.find(rtype, None, "default") if rtype else None
        return (default or {}).get("spec") or {}

    def _pools(self) -> list[dict]:
        rtype = self.ctx.registry.lookup(CALICO_GROUP, "v1", "ippools")
        return [p["spec"] for p in self.ctx.store.items(rtype)] if rtype else []

    def _exports(self, node_name: str) -> list[ipaddress.IPv4Network]:
        rtype = self.ctx.registry.lookup(CALICO_GROUP, "v1", "blockaffinities")
        found = []
        for affinity in self.ctx.store.items(rtype) if rtype else []:
            spec = affinity.get("spec") or {}
            if spec.get("node") == node_name and spec.get("state") == "confirmed" and ":" not in spec.get("cidr", ":"):
                found.append(ipaddress.ip_network(spec["cidr"]))
        return found

    def _peers(self, node_name: str, nodes: dict[str, dict]) -> set[str]:
        me = nodes[node_name]
        hosts = {name: _address(n) for name, n in nodes.items()}
        hosts = {name: a for name, a in hosts.items() if a is not None}
        mine = hosts[node_name].ip
        peers: set[str] = set()
        mesh = self._bgp_configuration().get("nodeToNodeMeshEnabled", True)
        if mesh and not _cluster_id(me):
            peers |= {name for name, a in hosts.items() if a.ip != mine and not _cluster_id(nodes[name])}
        rtype = self.ctx.registry.lookup(CALICO_GROUP, "v1", "bgppeers")
        by_ip = {str(a.ip): name for name, a in hosts.items()}

        def matching(selector: str) -> set[str]:
            return {n for n in hosts if calico_selector_matches(selector, nodes[n]["metadata"].get("labels") or {})}
        for bgp_peer in self.ctx.store.items(rtype) if rtype else []:
            spec = bgp_peer.get("spec") or {}
            local = ({spec["node"]} if spec.get("node") else
                     matching(spec["nodeSelector"]) if spec.get("nodeSelector") else set(hosts))
            if spec.get("peerSelector"):
                remote = matching(spec["peerSelector"])
            elif spec.get("peerIP"):
                ip = str(spec["peerIP"]).split(":")[0]
                remote = {by_ip.get(ip, ip)}
            else:
                continue
            if node_name in local:
                peers |= remote
            if node_name in remote and spec.get("reversePeering", "Auto") != "Manual":
                peers |= local & set(hosts)  # client.go: the automatic reverse peering
        peers.discard(node_name)
        peers.discard(str(mine))
        return peers

    # ---- sessions and routes ----------------------------------------------------------------------
    def established(self, a: str, b: str, now: float) -> bool:
        sa, sb = self.speakers.get(a), self.speakers.get(b)
        if sa is None or sb is None or b not in sa.peers or a not in sb.peers:
            return False
        cloud = self.ctx.cloud
        if cloud is not None and not cloud.allow_bgp:
            return False  # the security group drops TCP 179 between the nodes
        return now >= max(sa.peers[b], sb.peers[a]) + self.ctx.timings.bgp_session

    def peer_states(self, node_name: str, now: float) -> dict[str, bool]:
        speaker = self.speakers.get(node_name)
        return {p: self.established(node_name, p, now) for p in sorted(speaker.peers)} if speaker else {}

    def kernel_routes(self, node_name: str, now: float) -> dict[str, PeerTable]:
        """The routes this node's BIRD has put in the kernel now: {"tunl0": ..., "eth0": ...}."""
        key = (now, id(self.speakers.get(node_name)))
        if self._cache is None or self._cache[0] != now:
            self._cache = (now, {})
        cached = self._cache[1].get(node_name)
        if cached is not None and cached[0] == key:
            return cached[1]
        tables = self._compute(node_name, now)
        self._cache[1][node_name] = (key, tables)
        return tables

    def _compute(self, node_name: str, now: float) -> dict[str, PeerTable]:
        me = self.speakers.get(node_name)
        persisted = self.persisted.get(node_name)
        if me is None:
            return persisted[1] if persisted else {}
        routes: dict[str, list[Peer]] = {"tunl0": [], "eth0": []}
        origins = [(o, self.speakers[o].exports, self.speakers[o].address) for o in self._learned_from(node_name, now)]
        for origin, (stopped, peers_up, exports, address) in sorted(self.restarting.items()):
            if node_name in peers_up and now < stopped + GRACEFUL_RESTART_TIME and \
                    not self.established(node_name, origin, now):
                origins.append((origin, exports, address))  # stale, kept through the peer's restart
        for origin, exports, address in origins:
            for block in exports:
                device = _kernel_device(me, block, ipaddress.ip_address(address))
                if device is not None:
                    routes[device].append(Peer(origin, block, address, None, address))
        if persisted and self._recovered(me, persisted[0], now):
            del self.persisted[node_name]  # BIRD's kernel sync after recovery drops what it no longer has
        elif persisted:
            # a restarted BIRD keeps what it left in the kernel until it has relearnt (graceful restart)
            known = {(d, p.cidr) for d, peers in routes.items() for p in peers}
            for device, table in persisted[1].items():
                routes.setdefault(device, []).extend(p for p in table.peers() if (device, p.cidr) not in known)
        return {device: PeerTable(peers) for device, peers in routes.items() if peers}

    def _recovered(self, me: Speaker, stopped: float, now: float) -> bool:
        return now >= stopped + GRACEFUL_RESTART_TIME or all(self.established(me.node, p, now) for p in me.peers)

    def _learned_from(self, node_name: str, now: float) -> list[str]:
        """The nodes whose blocks reach this node: direct sessions, and through route reflectors."""
        found, queue, seen = [], [(node_name, frozenset())], {node_name}
        while queue:
            current, clusters = queue.pop(0)
            for peer in sorted(self.speakers[current].peers):
                if peer in seen or peer not in self.speakers or not self.established(current, peer, now):
                    continue
                seen.add(peer)
                found.append(peer)
                cluster = self.speakers[peer].cluster_id
                if cluster and cluster not in clusters:
                    queue.append((peer, clusters | {cluster}))  # a reflector passes on what it learns
        return found

    # ---- calico-node -bird-ready -------------------------------------------------------------------
    def ready(self, node_name: str, now: float, nodename_written: float) -> tuple[bool, str]:
        states = self.peer_states(node_name, now)
        down = [self._peer_ip(p) for p, up in states.items() if not up]
        if not states:
            return True, ""
        if now - nodename_written < BIRD_READY_THRESHOLD:
            if down:
                return False, f"calico/node is not ready: BIRD is not ready: BGP not established with {','.join(down)}"
            return True, ""
        if len(down) < len(states):
            return True, ""
        return False, f"calico/node is not ready: BIRD is not ready: BGP not established with {','.join(down)}"

    def _peer_ip(self, peer: str) -> str:
        speaker = self.speakers.get(peer)
        if speaker is not None:
            return speaker.address
        node = self.ctx.store.find(self.ctx.nodes, None, peer)
        address = _address(node)
        return str(address.ip) if address is not None else peer


def _kernel_device(me: Speaker, block: ipaddress.IPv4Network, next_hop) -> str | None:
    """calico_kernel_programming for one learned block: the device its route goes by, or None (rejected)."""
    pool = next((p for p in me.pools if ":" not in p.get("cidr", ":")
                 and block.subnet_of(ipaddress.ip_network(p["cidr"]))), None)
    if pool is None:
        return "eth0"  # not in any pool: accepted as is (a plain route by the next hop)
    if pool.get("vxlanMode", "Never") in ("Always", "CrossSubnet"):
        return None  # VXLAN routes are Felix's
    if me.version >= (3, 32, 0) and not me.program_cluster_routes:
        return None  # BGPConfiguration programClusterRoutes: Disabled -> Felix programs them
    mode = pool.get("ipipMode", "Never")
    if mode == "Always":
        return "tunl0"
    if mode == "CrossSubnet":
        return "eth0" if next_hop in me.subnet else "tunl0"
    return "eth0"


def _address(node: dict | None) -> ipaddress.IPv4Interface | None:
    text = ((node or {}).get("metadata", {}).get("annotations") or {}).get(CALICO_IPV4_ADDRESS)
    try:
        return ipaddress.IPv4Interface(text) if text else None
    except ValueError:
        return None


def _cluster_id(node: dict) -> str:
    return ((node.get("metadata") or {}).get("annotations") or {}).get(RR_CLUSTER_ID, "")
