"""Pod networking: CNI ADD/DEL per plugin, the data-plane oracle, and the traffic probe.

The oracle answers "does a packet from pod A reach pod B" only from what is on the
hosts: devices (VNI, port, MAC), the peer tables agents programmed onto them, and the
pods' veths and bridges. Nothing here knows which tool changed the hosts or why.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from .cni import (BIN_DIR, CALICO_NODENAME, CNI_NOT_INITIALIZED, Attachment, CniError, active_config, ensure_bridge,
                  host_local_allocate, host_local_release, parse_interface, plugin_chain, read_subnet_env, veth_name)
from . import felix_tables
from .calico_ipam import CALICO_GROUP, CalicoIpam, calico_selector_matches
from .context import SimContext, is_pod_ready, is_terminating
from .host import HostState, Interface, stable_mac
from .selectors import selector_from_label_selector_object

K8S_POLICY_ORDER = 1000.0  # Calico renders each Kubernetes NetworkPolicy at this order in the default tier



@dataclass(frozen=True)
class Peer:
    """One remote node as an agent programmed it: route, neighbour and FDB entry in one."""
    node: str
    cidr: ipaddress.IPv4Network
    gateway: str          # VTEP IP (overlay) or the node's address (host-gw)
    mac: str | None       # VTEP MAC (overlay)
    underlay: str         # the node address the encapsulated packet goes to


class PeerTable:
    """Longest-prefix lookup over the peers an agent programmed on one device."""

    def __init__(self, peers: list[Peer] | None = None):
        self._by_len: dict[int, dict[int, Peer]] = {}
        self.replace(peers or [])

    def replace(self, peers: list[Peer]) -> None:
        """What an agent does on every resync: program exactly these peers."""
        by_len: dict[int, dict[int, Peer]] = {}
        for peer in peers:
            by_len.setdefault(peer.cidr.prefixlen, {})[int(peer.cidr.network_address)] = peer
        self._by_len = by_len

    def lookup(self, ip: ipaddress.IPv4Address, keep=None) -> Peer | None:
        """The longest-prefix peer for `ip`, among those `keep` (a predicate) accepts when given."""
        for length in sorted(self._by_len, reverse=True):
            mask = (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF
            peer = self._by_len[length].get(int(ip) & mask)
            if peer is not None and (keep is None or keep(peer)):
                return peer
        return None

    def peers(self) -> list[Peer]:
        return [p for table in self._by_len.values() for p in table.values()]

    def __len__(self) -> int:
        return sum(len(t) for t in self._by_len.values())


@dataclass
class Verdict:
    ok: bool
    reason: str = ""
    policy_denied: bool = False
    # For a routed cross-node path: the largest inner packet the underlay carries (0: not limited here) and
    # the MTU of the device the sending host routes it through.
    carries: int = 0
    device_mtu: int = 0
    device: str = ""  # the device the sending host routes it by (flannel.1, vxlan.calico, tunl0, eth0)


# Bytes an encapsulation adds to each packet: VXLAN's outer IPv4 + UDP + VXLAN + inner Ethernet headers, IPIP's
# outer IPv4 header (flannel pkg/backend/vxlan/vxlan_network.go encapOverhead; felix/dataplane/linux/
# int_dataplane.go vxlanMTUOverhead, ipipMTUOverhead). Native routing (host-gw) adds none.
ENCAP_OVERHEAD = {"vxlan": 50, "ipip": 20}


@dataclass
class ProbeReport:
    samples: int = 0
    ok: int = 0
    failed: int = 0
    denied_by_policy: int = 0
    recent_failures: list[dict] = field(default_factory=list)
    dns_lookups: int = 0
    dns_failed: int = 0
    recent_dns_failures: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"samples": self.samples, "ok": self.ok, "failed": self.failed,
                "deniedByPolicy": self.denied_by_policy, "recentFailures": list(self.recent_failures),
                "dnsLookups": self.dns_lookups, "dnsFailed": self.dns_failed,
                "recentDNSFailures": list(self.recent_dns_failures)}


class Network:
    def __init__(self, ctx: SimContext):
        self.ctx = ctx
        self.attachments: dict[tuple[str, str], tuple[str, Attachment]] = {}
        self.by_ip: dict[str, tuple[str, str]] = {}
        self.probe = ProbeReport()
        self.felix_nodes: set[str] = set()   # nodes where calico-node enforces policy now
        # The routes live agents keep programmed (shared: every live flanneld programs the same set).
        self._node_ips: dict[str, str] = {}
        self._nodes_by_ip: dict[str, str] = {}
        self._secondary_nics: dict[str, tuple[HostState, list[tuple[ipaddress.IPv4Interface, Interface]]]] = {}
        self.flannel_table = PeerTable()
        self.calico_table = PeerTable()
        # Cluster routes per node and device ({"tunl0": ..., "eth0": ...}) that Felix programs itself
        # (ProgramClusterRoutes), and the BGP fabric whose BIRDs program them otherwise.
        self.felix_routes: dict[str, dict[str, PeerTable]] = {}
        from .bird import BirdFabric  # bird.py builds on this module's PeerTable
        self.bird = BirdFabric(ctx)
        self.parked: dict[str, list[Attachment]] = {}  # per node: sandboxes of deleted pods not yet torn down

    @property
    def hosts(self) -> dict[str, HostState]:
        return self.ctx.hosts

    # ---- CNI ---------------------------------------------------------------------
    def cni_add(self, node_name: str, pod: dict) -> Attachment:
        host = self.hosts[node_name]
        name, config, error = active_config(host)
        if config is None:
            raise CniError(CNI_NOT_INITIALIZED)
        attachment = None
        for plugin in plugin_chain(config):
            kind = plugin.get("type", "")
            if not host.exists(f"{BIN_DIR}/{kind}"):
                raise CniError(f'plugin type="{kind}" failed (add): failed to find plugin "{kind}" in path [{BIN_DIR}]')
            if attachment is None:
                attachment = self._main_plugin(kind, plugin, config, host, node_name, pod)
        if attachment is None:
            raise CniError(f"plugin chain in {name} assigned no IP address to the pod")
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        attachment.container_id, attachment.network = pod["metadata"]["uid"], config.get("name", "")
        self.attachments[key] = (node_name, attachment)
        self.by_ip[attachment.ip] = key
        return attachment

    def _main_plugin(self, kind: str, plugin: dict, config: dict, host: HostState, node_name: str,
                     pod: dict) -> Attachment | None:
        container_id = pod["metadata"]["uid"]
        if kind == "flannel":
            env = read_subnet_env(host)
            subnet = parse_interface(env["FLANNEL_SUBNET"])
            delegate = plugin.get("delegate") or {}
            bridge_name = delegate.get("bridge", "cni0")
            # the flannel CNI plugin gives its bridge delegate FLANNEL_MTU unless the delegate sets an mtu
            # (flannel-io/cni-plugin flannel_linux.go; README "delegate"); bridge and veths take that MTU
            mtu = int(delegate.get("mtu") or env.get("FLANNEL_MTU", 1500))
            bridge = ensure_bridge(host, bridge_name, str(subnet), mtu, stable_mac(f"{node_name}/{bridge_name}"))
            ip, state = host_local_allocate(host, config.get("name", "cbr0"), str(subnet.network), str(subnet.ip),
                                            container_id)
            return self._veth(host, pod, "veth", ip, "flannel", bridge, state, mtu)
        if kind == "bridge":
            ipam = plugin.get("ipam") or {}
            subnet = _host_local_subnet(ipam, self._node(node_name))
            net = ipaddress.ip_network(subnet)
            gateway = f"{next(net.hosts())}/{net.prefixlen}"
            mtu = int(plugin.get("mtu") or 1500)  # containernetworking/plugins bridge.go: 0 leaves the kernel's 1500
            bridge = ensure_bridge(host, plugin.get("bridge", "cni0"), gateway, mtu, stable_mac(f"{node_name}/bridge"))
            ip, state = host_local_allocate(host, config.get("name", "bridge"), subnet, None, container_id)
            return self._veth(host, pod, "veth", ip, "bridge", bridge, state, mtu)
        if kind == "calico":
            if not host.exists(CALICO_NODENAME):
                raise CniError('plugin type="calico" failed (add): stat /var/lib/calico/nodename: no such file or '
                               "directory: check that the calico/node container is running and has mounted "
                               "/var/lib/calico/")
            ipam = plugin.get("ipam") or {}
            mtu = _calico_cni_mtu(host, plugin)
            if ipam.get("type") == "host-local":
                subnet = _host_local_subnet(ipam, self._node(node_name))
                ip, state = host_local_allocate(host, config.get("name", "k8s-pod-network"), subnet, None,
                                                container_id)
                return self._veth(host, pod, "cali", ip, "calico", None, state, mtu)
            if ipam.get("type") == "calico-ipam":
                if not host.exists(f"{BIN_DIR}/calico-ipam"):
                    raise CniError('plugin type="calico" failed (add): failed to find plugin "calico-ipam" in path '
                                   f"[{BIN_DIR}]")
                ip, block = CalicoIpam(self.ctx).allocate(node_name, f"{pod['metadata']['namespace']}.{pod['metadata']['name']}")
                attachment = self._veth(host, pod, "cali", ip, "calico", None, None, mtu)
                attachment.ipam_block = block
                return attachment
            raise CniError(f'plugin type="calico" failed (add): unsupported IPAM type "{ipam.get("type")}"')
        if kind in ("portmap", "bandwidth", "tuning", "loopback"):
            return None
        raise CniError(f'plugin type="{kind}" failed (add): the simulated node has no model of this plugin')

    def _veth(self, host: HostState, pod: dict, prefix: str, ip: str, plugin: str, bridge: Interface | None,
              state_file: str | None, mtu: int) -> Attachment:
        name = veth_name(prefix, pod["metadata"]["namespace"], pod["metadata"]["name"])
        # Calico gives every host-side veth the MAC ee:ee:ee:ee:ee:ee; the bridge plugin's are random.
        mac = stable_mac(f"{host.node_name}/{name}") if bridge is not None else "ee:ee:ee:ee:ee:ee"
        host.add_interface(Interface(name=name, kind="veth", mac=mac, mtu=mtu, addresses=[],
                                     master=bridge.name if bridge else None))
        if bridge is None:
            host.routes.append(f"{ip} dev {name} scope link")
        return Attachment(ip=ip, plugin=plugin, veth=name, bridge=bridge, ipam_file=state_file, mtu=mtu)

    def cni_del(self, namespace: str, name: str) -> str:
        """The runtime's teardown of a pod's sandbox network; '' once done, else why it failed (the sandbox, its
        veth and its address then stay as they are, for a later attempt)."""
        entry = self.attachments.get((namespace, name))
        if entry is None:
            return ""
        error = self._teardown(*entry)
        if not error:
            self._forget((namespace, name), entry[1])
        return error

    def park(self, namespace: str, name: str) -> None:
        """A sandbox whose teardown failed after its pod left the API: the runtime keeps it and retries."""
        entry = self.attachments.pop((namespace, name), None)
        if entry is not None:
            self._forget((namespace, name), entry[1])
            self.parked.setdefault(entry[0], []).append(entry[1])

    def retry_parked(self, node_name: str) -> None:
        self.parked[node_name] = [a for a in self.parked.get(node_name, []) if self._teardown(node_name, a)]

    def _teardown(self, node_name: str, attachment: Attachment) -> str:
        """CNI DEL as containerd runs it: through the config the node has now, not the one that set the pod up
        (go-cni Remove walks the networks it loaded last; libcni DelNetworkList runs that list's plugins in
        reverse). No config at all fails before any plugin runs (go-cni Status: ErrCNINotInitialized), as does a
        plugin whose binary is missing. Each plugin releases what it knows of the container: host-local its
        reservation by container ID, calico-ipam its handle, flannel its delegate's (only for a sandbox flannel
        set up: flannel-io/cni-plugin flannel_linux.go doCmdDel ignores a missing scratch netconf)."""
        host = self.hosts.get(node_name)
        if host is None:
            return ""
        _name, config, _error = active_config(host)
        if config is None:
            return CNI_NOT_INITIALIZED
        chain = plugin_chain(config)
        for plugin in reversed(chain):
            kind = plugin.get("type", "")
            if not host.exists(f"{BIN_DIR}/{kind}"):
                return f'plugin type="{kind}" failed (delete): failed to find plugin "{kind}" in path [{BIN_DIR}]'
        for plugin in reversed(chain):
            kind, ipam = plugin.get("type", ""), (plugin.get("ipam") or {}).get("type")
            if kind == "flannel" and attachment.plugin == "flannel":
                host_local_release(host, attachment.network, attachment.container_id)
            elif kind == "bridge" or (kind == "calico" and ipam == "host-local"):
                host_local_release(host, config.get("name", ""), attachment.container_id)
            elif kind == "calico" and ipam == "calico-ipam" and attachment.ipam_block:
                CalicoIpam(self.ctx).release(*attachment.ipam_block)
        # the runtime removes the sandbox's network namespace, and its veth with it
        host.delete_interface(attachment.veth)  # and the routes through it
        return ""

    def _forget(self, key: tuple[str, str], attachment: Attachment) -> None:
        self.attachments.pop(key, None)
        if self.by_ip.get(attachment.ip) == key:
            del self.by_ip[attachment.ip]

    def _node(self, name: str) -> dict:
        return self.ctx.store.get(self.ctx.nodes, None, name)

    # ---- oracle ------------------------------------------------------------------
    def is_attached(self, key: tuple[str, str]) -> bool:
        entry = self.attachments.get(key)
        if entry is None:
            return False
        node_name, attachment = entry
        host = self.hosts.get(node_name)
        veth = host.interfaces.get(attachment.veth) if host is not None else None  # the node's instance is gone
        if veth is None:
            return False
        if attachment.bridge is not None:
            return veth.master == attachment.bridge.name and host.interfaces.get(attachment.bridge.name) is attachment.bridge
        return True

    def reach(self, src: tuple[str, str], dst_ip: str) -> Verdict:
        """Whether a TCP connection from pod `src` to `dst_ip` is answered, and if not, why."""
        src_pod = self.ctx.store.find(self.ctx.pods, *src)
        if src_pod is None:
            return Verdict(False, f"pod {src[0]}/{src[1]} does not exist")
        src_node = src_pod["spec"].get("nodeName")
        if src_pod["spec"].get("hostNetwork"):
            src_ip = self.node_ip(src_node)
        else:
            if not self.is_attached(src):
                return Verdict(False, f"pod {src[1]} has lost its network attachment on {src_node}")
            src_ip = self.attachments[src][1].ip
        dst_key = self.by_ip.get(dst_ip)
        if dst_key is None:
            node = self._node_by_ip(dst_ip)
            if node is None:
                return Verdict(False, f"no pod or node has address {dst_ip}")
            return self._path(src_node, dst_ip, node) if not src_pod["spec"].get("hostNetwork") else Verdict(True)
        dst_pod = self.ctx.store.find(self.ctx.pods, *dst_key)
        if dst_pod is None or not self.is_attached(dst_key):
            return Verdict(False, f"pod at {dst_ip} has lost its network attachment")
        dst_node = self.attachments[dst_key][0]
        forward = self._path(src_node, dst_ip, dst_node)
        if not forward.ok:
            return forward
        host_source = bool(src_pod["spec"].get("hostNetwork"))
        back = None if host_source else self._path(dst_node, src_ip, src_node)
        if back is not None and not back.ok:
            return Verdict(False, f"return path: {back.reason}")
        # A host's own connection takes its MSS from the device its route uses (the tunnel), a pod's from its
        # interface, whose MTU the CNI plugin set when the pod was created.
        src_mtu = forward.device_mtu if host_source else self.attachments[src][1].mtu
        too_big = _too_big(min(src_mtu, self.attachments[dst_key][1].mtu), forward, back)
        if too_big:
            return Verdict(False, f"{too_big} between {src_node} and {dst_node}: segments that fill the MSS "
                                  "are lost (path MTU)")
        return self._policy(src_pod, src_ip, dst_pod)

    def _path(self, from_node: str, ip: str, to_node: str) -> Verdict:
        if from_node == to_node:
            return Verdict(True)
        if self.by_ip.get(ip) is None:
            return Verdict(True)  # node addresses are reached over the VPC directly
        host = self.hosts[from_node]
        addr = ipaddress.ip_address(ip)
        best: tuple[int, Interface, Peer] | None = None
        for iface, table, _proto in self._route_tables(from_node, host):
            peer = table.lookup(addr)
            if peer is not None and (best is None or peer.cidr.prefixlen > best[2].cidr.prefixlen):
                best = (peer.cidr.prefixlen, iface, peer)
        if best is None:
            return Verdict(False, f"{from_node} has no route to {ip}")
        _, iface, peer = best
        target = self._node_by_ip(peer.underlay)
        if target is None:
            return Verdict(False, f"{from_node} routes {ip} to {peer.underlay}, which is no node")
        if iface.kind in ("vxlan", "ipip"):
            unreachable = self._underlay_unreachable(from_node, peer.underlay, target, iface.kind)
            if unreachable:
                return Verdict(False, unreachable)
        if iface.kind == "ipip":
            dropped = self._ipip_dropped(from_node, target)
            if dropped:
                return Verdict(False, dropped)
        elif iface.kind == "vxlan":
            remote = self.hosts[target]
            match = next((d for d in remote.interfaces.values() if d.kind == "vxlan" and d.up and d.vni == iface.vni
                          and d.port == iface.port and d.mac == peer.mac), None)
            if match is None:
                return Verdict(False, f"VXLAN from {from_node} ({iface.name}: VNI {iface.vni}, port {iface.port}, "
                                      f"dst MAC {peer.mac}) is dropped on {target}: no device matches")
            # the host's firewall sees the packet before the VXLAN device does (Felix's cali-INPUT, live or left)
            refused = felix_tables.vxlan_refused(remote, iface.port, iface.local_ip or self.node_ip(from_node))
            if refused:
                return Verdict(False, refused)
        elif iface.kind == "ether":
            if not _same_subnet(host, self.hosts[target]):
                return Verdict(False, f"native route from {from_node} to {target} crosses subnets: the VPC "
                                      "router knows no pod addresses")
            checked = next((n for n in (from_node, target) if self._src_dst_checked(n)), None)
            if checked is not None:
                return Verdict(False, f"native pod traffic from {from_node} to {target} is dropped by the cloud's "
                                      f"source/destination check on {checked}")
        if target != to_node:
            return Verdict(False, f"{from_node} sends {ip} to {target}, but the pod is on {to_node}")
        shadowed = self._blackholed(to_node, ip)
        if shadowed:
            return Verdict(False, shadowed)
        path_mtu = min(self._nic_for(from_node, peer.underlay, sending=True).mtu,
                       self._nic_for(target, peer.underlay, sending=False).mtu)
        return Verdict(True, carries=path_mtu - ENCAP_OVERHEAD.get(iface.kind, 0), device_mtu=iface.mtu,
                       device=iface.name)

    def path(self, from_node: str, ip: str, to_node: str) -> Verdict:
        """How `from_node` sends a packet for `ip` (on `to_node`): the oracle's one-way answer, with the device."""
        return self._path(from_node, ip, to_node)

    def _route_tables(self, node: str, host: HostState) -> list[tuple[Interface, PeerTable, str]]:
        """Every table of routes to other nodes an agent keeps on this node, with the (up) device its routes go
        by and their protocol as `ip route` shows it: the ones on the agents' devices (flanneld's flannel.<VNI> or,
        for host-gw, eth0; Felix's vxlan.calico), then those Felix (ProgramClusterRoutes, sim/ipip.py) or BIRD
        (sim/bird.py) put in the main table by tunl0 or eth0; a route via a missing tunl0 cannot exist.
        On equal prefixes the first listed wins."""
        found = []
        for iface in host.interfaces.values():
            table = getattr(iface, "peers", None)
            if table is not None and iface.up:
                found.append((iface, table, "80" if iface.name == "vxlan.calico" else ""))
        for source, proto in ((self.felix_routes.get(node) or {}, "80"),
                              (self.bird.kernel_routes(node, self.ctx.now()), "bird")):
            for device, table in source.items():
                iface = host.interfaces.get(device)
                if iface is not None and iface.up and (device != "tunl0" or iface.kind == "ipip"):
                    found.append((iface, table, proto))
        return found

    def route_lines(self, node: str) -> list[str]:
        """The routes to other nodes' pods the agents keep programmed on `node`, as `ip route` prints them
        (Felix's protocol is 80, felix/dataplane/linux/dataplanedefs DefaultRouteProto; tunnels' routes are
        onlink). What the oracle routes by, so a host pod's `ip route show` reads the same truth."""
        host = self.hosts.get(node)
        if host is None:
            return []
        seen, lines = set(), []
        for iface, table, proto in self._route_tables(node, host):
            for peer in sorted(table.peers(), key=lambda p: (int(p.cidr.network_address), p.cidr.prefixlen)):
                if peer.node == node or peer.cidr in seen:
                    continue
                seen.add(peer.cidr)
                lines.append(f"{peer.cidr} via {peer.gateway} dev {iface.name}" + (f" proto {proto}" if proto else "")
                             + (" onlink" if iface.kind in ("vxlan", "ipip") else ""))
        return lines

    def _blackholed(self, node: str, ip: str) -> str:
        """Why a packet arriving on `node` for the pod at `ip` is dropped by a blackhole route, or ''. Only a pod
        on a bridge is exposed: it is reached by the bridge's subnet route, and a blackhole as long or longer
        (Felix's for a local IPAM block, route_mgr.go blackholeRoutes, priority 0 like the kernel's subnet route)
        wins, the older of two equal ones first (the kernel appends a subnet route after an existing route of
        the same prefix and metric). A Calico pod's /32 is longer than any block."""
        entry = self.attachments.get(self.by_ip.get(ip) or ("", ""))
        bridge = entry[1].bridge if entry else None
        if bridge is None:
            return ""
        addr = ipaddress.ip_address(ip)
        best: tuple[int, str] | None = None  # (prefix length, blackhole cidr or '' for the bridge's route)
        for line in self.hosts[node].routes:
            parts = line.split()
            if parts[0] == "blackhole" and len(parts) > 1:
                cidr, is_blackhole = parts[1], True
            elif f" dev {bridge.name} " in f" {line} " and "proto kernel" in line:
                cidr, is_blackhole = parts[0], False
            else:
                continue
            try:
                network = ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                continue
            if addr in network and (best is None or network.prefixlen > best[0]):
                best = (network.prefixlen, cidr if is_blackhole else "")
        if best is not None and best[1]:
            return f"{node} drops traffic for {ip}: route blackhole {best[1]} shadows {bridge.name}'s"
        return ""

    def _ipip_dropped(self, from_node: str, target: str) -> str:
        """Why an IPIP packet from `from_node` is not decapsulated on `target`, or ''. The security group must
        pass IP protocol 4; the target needs tunl0 up; its Felix (felix/rules/static.go, cali-INPUT) drops
        IPIP from hosts outside its all-hosts set, the nodes with a Calico IPv4 address."""
        cloud = self.ctx.cloud
        if cloud is not None and not cloud.allow_ipip:
            return f"IPIP from {from_node} to {target} is dropped by the security group (IP protocol 4 not allowed)"
        tunnel = self.hosts[target].interfaces.get("tunl0")
        if tunnel is None or tunnel.kind != "ipip" or not tunnel.up:
            return f"IPIP from {from_node} is dropped on {target}: no tunl0 to decapsulate it"
        if target in self.felix_nodes:
            node = self.ctx.store.find(self.ctx.nodes, None, from_node)
            if not ((node or {}).get("metadata", {}).get("annotations") or {}).get("projectcalico.org/IPv4Address"):
                return f"IPIP from {from_node} is dropped on {target}: Felix accepts IPIP only from Calico hosts"
        return ""

    def _src_dst_checked(self, node: str) -> bool:
        cloud = self.ctx.cloud
        return cloud is not None and cloud.checks_source(self.node_ip(node))

    def forget_host(self, node_name: str) -> None:
        """A node's instance is gone (scaled down): its address no longer answers."""
        ip = self._node_ips.pop(node_name, None)
        self._nodes_by_ip.pop(ip, None)

    def node_ip(self, node_name: str) -> str:
        """A node's VPC address (its eth0 address never changes in the simulation)."""
        ip = self._node_ips.get(node_name)
        if ip is None:
            ip = self._node_ips[node_name] = self.hosts[node_name].interfaces["eth0"].addresses[0].split("/")[0]
            self._nodes_by_ip[ip] = node_name
        return ip

    def _node_by_ip(self, ip: str) -> str | None:
        if len(self._node_ips) != len(self.hosts):
            for name in self.hosts:
                self.node_ip(name)
        found = self._nodes_by_ip.get(ip)
        if found is None:
            found = next((name for name, host in self.hosts.items() if _nic_holding(host, ip) is not None), None)
        return found

    def _nic_for(self, node: str, address: str, *, sending: bool) -> Interface:
        """The NIC an underlay packet to `address` leaves `node` by (the one whose subnet holds it, else eth0,
        the default route), or, receiving, the NIC holding `address` (else eth0). The oracle runs for every
        probed flow, so each host's secondary NICs are looked up once (a host object is rebuilt, never given
        NICs later); MTUs are read live from the interfaces."""
        host = self.hosts[node]
        cached = self._secondary_nics.get(node)
        if cached is None or cached[0] is not host:
            cached = self._secondary_nics[node] = (host, [
                (ipaddress.ip_interface(a), iface) for iface in host.interfaces.values()
                if iface.kind == "ether" and iface.name != "eth0" for a in iface.addresses])
        if cached[1]:
            wanted = ipaddress.ip_address(address)
            for addr, iface in cached[1]:
                if (wanted in addr.network) if sending else (wanted == addr.ip):
                    return iface
        return host.interfaces["eth0"]

    def _underlay_unreachable(self, from_node: str, address: str, target: str, kind: str = "vxlan") -> str:
        """Why an encapsulated packet from `from_node` to the underlay `address` (on `target`) is not delivered,
        or ''. The kernel sends it out of the NIC whose subnet holds the address, else by the default route
        (eth0, into the VPC). A secondary NIC's network (scenario secondarySubnets) reaches only the NICs on
        it: the VPC routes its subnets to the nodes' eth0 and knows nothing of other networks."""
        host, remote = self.hosts[from_node], self.hosts[target]
        nic = _nic_holding(remote, address)
        if nic is None or nic.name == "eth0":
            return ""
        wanted = ipaddress.ip_address(address)
        for iface in host.interfaces.values():
            if iface.kind != "ether" or not iface.up:
                continue
            for cidr in iface.addresses:
                net = ipaddress.ip_interface(cidr).network
                if net.version == 4 and net.prefixlen < 32 and wanted in net:
                    return ""
        return (f"{from_node} sends {kind.upper()} to {address} ({target}'s {nic.name}) by its default route, and the VPC "
                f"does not route {ipaddress.ip_interface(nic.addresses[0]).network}: no path")

    # ---- NetworkPolicy (enforced only where Felix runs) ------------------------------
    # Calico renders each Kubernetes NetworkPolicy as a policy of order 1000 in the default tier.
    def _policy(self, src_pod: dict, src_ip: str, dst_pod: dict) -> Verdict:
        dst_key = (dst_pod["metadata"]["namespace"], dst_pod["metadata"]["name"])
        src_key = (src_pod["metadata"]["namespace"], src_pod["metadata"]["name"])
        if self._enforced(dst_key) and not self._allowed(dst_pod, src_pod, src_ip, "Ingress"):
            return Verdict(False, f"NetworkPolicy denies ingress to {dst_key[0]}/{dst_key[1]}", policy_denied=True)
        if self._enforced(src_key) and not self._allowed(src_pod, dst_pod, None, "Egress"):
            return Verdict(False, f"NetworkPolicy denies egress from {src_key[0]}/{src_key[1]}", policy_denied=True)
        return Verdict(True)

    def _enforced(self, key: tuple[str, str]) -> bool:
        entry = self.attachments.get(key)
        return bool(entry and entry[1].plugin == "calico" and entry[0] in self.felix_nodes)

    def _allowed(self, subject: dict, peer: dict, peer_ip: str | None, direction: str) -> bool:
        """Felix's default tier: policies in order (Calico global policies by their `order`, Kubernetes
        NetworkPolicies at order 1000); the first Allow or Deny decides; when some policy selected the
        endpoint and none decided, the end of the tier drops the packet; when none selected it, it passes."""
        namespace = subject["metadata"]["namespace"]
        policies = [p for p in self.ctx.store.items(self.ctx.rtype("networking.k8s.io", "networkpolicies"), namespace)
                    if direction in (p["spec"].get("policyTypes") or ["Ingress"])
                    and selector_from_label_selector_object(p["spec"].get("podSelector") or {}).matches(
                        subject["metadata"].get("labels"))]
        global_policies = self._global_policies(subject, direction)
        for order, _name, verdict in global_policies:
            if order < K8S_POLICY_ORDER and verdict is not None:
                return verdict
        field = "ingress" if direction == "Ingress" else "egress"
        peers_key = "from" if direction == "Ingress" else "to"
        for policy in policies:
            for rule in policy["spec"].get(field) or []:
                targets = rule.get(peers_key)
                if not targets or any(self._peer_matches(t, namespace, peer, peer_ip) for t in targets):
                    return True
        for order, _name, verdict in global_policies:
            if order >= K8S_POLICY_ORDER and verdict is not None:
                return verdict
        return not (policies or global_policies)

    def _global_policies(self, subject: dict, direction: str) -> list[tuple[float, str, bool | None]]:
        """Calico GlobalNetworkPolicies selecting `subject` for `direction`, in order, each with the verdict
        of its first rule that matches everything (Allow/Pass: True, Deny: False); rules with match
        criteria are not modelled and match nothing."""
        rtype = self.ctx.registry.lookup(CALICO_GROUP, "v1", "globalnetworkpolicies")
        if rtype is None:
            return []
        labels = dict(subject["metadata"].get("labels") or {},
                      **{"projectcalico.org/namespace": subject["metadata"]["namespace"]})
        found = []
        for policy in self.ctx.store.items(rtype):
            spec = policy.get("spec") or {}
            types = spec.get("types") or (["Ingress", "Egress"] if spec.get("egress") else ["Ingress"])
            if direction not in types or not calico_selector_matches(spec.get("selector", "all()"), labels):
                continue
            rules = spec.get("ingress" if direction == "Ingress" else "egress") or []
            decisive = next((r for r in rules if not set(r) - {"action", "metadata"}), None)
            verdict = None if decisive is None else decisive.get("action") in ("Allow", "Pass")
            found.append((float(spec.get("order", float("inf"))), policy["metadata"]["name"], verdict))
        return sorted(found)

    def _peer_matches(self, target: dict, namespace: str, peer: dict, peer_ip: str | None) -> bool:
        if "ipBlock" in target:
            ip = peer_ip or (peer.get("status") or {}).get("podIP")
            block = target["ipBlock"]
            if not ip:
                return False
            addr = ipaddress.ip_address(ip)
            return addr in ipaddress.ip_network(block["cidr"]) and not any(
                addr in ipaddress.ip_network(e) for e in block.get("except") or [])
        peer_ns = peer["metadata"]["namespace"]
        if "namespaceSelector" in target:
            ns_obj = self.ctx.store.find(self.ctx.rtype("", "namespaces"), None, peer_ns)
            ns_labels = (ns_obj or {}).get("metadata", {}).get("labels") or {}
            if not selector_from_label_selector_object(target["namespaceSelector"]).matches(ns_labels):
                return False
        elif peer_ns != namespace:
            return False
        if "podSelector" in target:
            return selector_from_label_selector_object(target["podSelector"]).matches(peer["metadata"].get("labels"))
        return True

    # ---- services and DNS ----------------------------------------------------------
    def resolve(self, src: tuple[str, str], host: str) -> tuple[str | None, str]:
        """A name or address as the pod would resolve it (through a reachable CoreDNS)."""
        try:
            ipaddress.ip_address(host)
            return host, ""
        except ValueError:
            pass
        dns = self.service_endpoints("kube-system", "kube-dns")
        if not dns or not any(self.reach(src, ip).ok for ip in dns):
            return None, f"bad address '{host}': DNS is unreachable"
        parts = host.rstrip(".").split(".")
        name, namespace = parts[0], parts[1] if len(parts) > 1 else src[0]
        svc = self.ctx.store.find(self.ctx.rtype("", "services"), namespace, name)
        if svc is None:
            return None, f"bad address '{host}'"
        return svc["spec"].get("clusterIP"), ""

    def service_endpoints(self, namespace: str, name: str) -> list[str]:
        svc = self.ctx.store.find(self.ctx.rtype("", "services"), namespace, name)
        if svc is None or not svc["spec"].get("selector"):
            return []
        selector = svc["spec"]["selector"]
        return [p["status"]["podIP"] for p in self.ctx.store.items(self.ctx.pods, namespace)
                if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
                and is_pod_ready(p) and not is_terminating(p) and p.get("status", {}).get("podIP")]

    def http_get(self, src: tuple[str, str], url: str) -> tuple[bool, str]:
        """What wget/curl in pod `src` gets: through DNS, kube-proxy and the data plane."""
        from urllib.parse import urlsplit
        host = urlsplit(url if "://" in url else f"http://{url}").hostname or ""
        ip, error = self.resolve(src, host)
        if ip is None:
            return False, error
        for svc in self.ctx.store.items(self.ctx.rtype("", "services")):
            if svc["spec"].get("clusterIP") == ip:
                endpoints = self.service_endpoints(svc["metadata"]["namespace"], svc["metadata"]["name"])
                if not endpoints:
                    return False, f"connection refused: service {svc['metadata']['name']} has no endpoints"
                ip = self.ctx.rng.choice(endpoints)
                break
        verdict = self.reach(src, ip)
        if not verdict.ok:
            return False, verdict.reason
        dst = self.by_ip.get(ip)
        return True, f"ok from {dst[1] if dst else ip}\n"

    # ---- traffic probe -----------------------------------------------------------
    def sample(self, pairs: int = 40) -> None:
        """Try `pairs` connections between ready pods on different nodes; count the outcomes."""
        ready = [key for key, (node, _att) in self.attachments.items() if self._probe_candidate(key)]
        if len(ready) < 2:
            return
        rng = self.ctx.rng
        for _ in range(pairs):
            a, b = rng.sample(ready, 2)
            if self.attachments[a][0] == self.attachments[b][0]:
                continue
            verdict = self.reach(a, self.attachments[b][1].ip)
            self.probe.samples += 1
            if verdict.ok:
                self.probe.ok += 1
            elif verdict.policy_denied:
                self.probe.denied_by_policy += 1
            else:
                self.probe.failed += 1
                self.probe.recent_failures.append({"from": "/".join(a), "to": "/".join(b), "reason": verdict.reason,
                                                   "time": self.ctx.now()})
                del self.probe.recent_failures[:-50]

    def sample_dns(self) -> None:
        """One lookup of `kubernetes.default` from a ready pod, as its resolv.conf sends it: to the kube-dns
        Service, answered only by a CoreDNS pod that is ready (the endpoints controller publishes ready pods
        only, and kubeadm's CoreDNS Deployment has 2 replicas and no PodDisruptionBudget: kubernetes/kubernetes
        cmd/kubeadm/app/phases/addons/dns/manifests.go, CoreDNSDeployment; constants.CoreDNSReplicas)."""
        keys = list(self.attachments)  # round robin, not the seeded rng: sampling must not shift the world's draws
        start = self.probe.dns_lookups * 7
        src = next((key for key in (keys[(start + i) % len(keys)] for i in range(min(len(keys), 8)))
                    if self._probe_candidate(key)), None)
        if src is None:
            return
        ip, error = self.resolve(src, "kubernetes.default")
        self.probe.dns_lookups += 1
        if ip is None:
            self.probe.dns_failed += 1
            self.probe.recent_dns_failures.append({"from": "/".join(src), "reason": error, "time": self.ctx.now()})
            del self.probe.recent_dns_failures[:-50]

    def _probe_candidate(self, key: tuple[str, str]) -> bool:
        pod = self.ctx.store.find(self.ctx.pods, *key)
        return bool(pod and is_pod_ready(pod) and not is_terminating(pod) and not pod["spec"].get("hostNetwork"))

    def reset_probe(self) -> None:
        self.probe = ProbeReport()


def _calico_cni_mtu(host: HostState, plugin: dict) -> int:
    """The veth MTU Calico's CNI plugin sets: the conflist's `mtu`, else /var/lib/calico/mtu when present, else
    the kernel's 1500 (cni-plugin/pkg/plugin/plugin.go MTUFromFile; pkg/dataplane/linux/dataplane_linux.go
    la.MTU). The simulated Felix does not write that file."""
    configured = int(plugin.get("mtu") or 0)
    if configured:
        return configured
    text = (host.read_file("/var/lib/calico/mtu") or "").strip()
    return int(text) if text.isdigit() and int(text) else 1500


def _host_local_subnet(ipam: dict, node: dict) -> str:
    subnet = ipam.get("subnet")
    if subnet is None and ipam.get("ranges"):
        subnet = ipam["ranges"][0][0].get("subnet")
    if subnet == "usePodCidr":
        subnet = node["spec"].get("podCIDR")
        if not subnet:
            raise CniError(f'plugin type="calico" failed (add): node {node["metadata"]["name"]} has no podCIDR '
                           "to use with usePodCidr")
    if not subnet:
        raise CniError("IPAM config missing 'subnet' or 'ranges'")
    return subnet


def _nic_holding(host: HostState, ip: str) -> Interface | None:
    """The host's physical NIC that has `ip` as one of its addresses."""
    for iface in host.interfaces.values():
        if iface.kind == "ether" and any(a.split("/")[0] == ip for a in iface.addresses):
            return iface
    return None


def _too_big(mss_mtu: int, *paths: Verdict | None) -> str:
    """Why a TCP connection's full-sized segments do not get through, or ''. The model: both ends announce an
    MSS from their own interface's MTU, so each direction sends packets of the smaller of the two. The sending
    host clamps them to its tunnel (or route) device's MTU, since a too-big packet there gets a local ICMP
    'fragmentation needed' that the pod's kernel honours. What leaves is that packet plus the encapsulation's
    headers, and it must fit both nodes' NICs (the VPC's MTU): larger ones are taken as lost, and the pod
    hears nothing, so the connection opens and then hangs (a black hole, what a too-large Calico MTU does on
    clouds). Not modelled: the outer packet's fragmentation and the kernel's tunnel PMTU feedback from the
    sending NIC's route (net/ipv4 skb_tunnel_check_pmtu), which on some kernels rescue the sending side's
    smaller NIC. A same-node flow never fails on MTU."""
    for path in paths:
        if path is None or not path.carries:
            continue
        packet = min(mss_mtu, path.device_mtu or mss_mtu)
        if packet > path.carries:
            return f"{packet}-byte packets exceed the {path.carries} bytes the underlay carries"
    return ""


def _same_subnet(a: HostState, b: HostState) -> bool:
    ia = ipaddress.ip_interface(a.interfaces["eth0"].addresses[0])
    ib = ipaddress.ip_interface(b.interfaces["eth0"].addresses[0])
    return ib.ip in ia.network
