"""What containers run: flanneld, calico-node, their install steps, a shell, or a plain server.

Each program acts on the node's host model and the API objects exactly as the real
binary does, so the simulator's Flannel and Calico are only as coherent as the
configuration a user (or our tool) gives them.
"""
from __future__ import annotations

import functools
import hashlib
import posixpath
import ipaddress
import json
from dataclasses import dataclass, field
from typing import Callable

from .cni import CALICO_NODENAME, FLANNEL_SUBNET_ENV
from .container import image_name, image_repository
from .context import SimContext
from .host import HostState, Interface, run_shell
from .network import CalicoIpam, Network, Peer, PeerTable

FLANNEL_PREFIX = "flannel.alpha.coreos.com/"
CALICO_TUNNEL_ADDR = "projectcalico.org/IPv4VXLANTunnelAddr"
CALICO_TUNNEL_MAC = "projectcalico.org/VXLANTunnelMACAddr"
CALICO_GROUP = "crd.projectcalico.org"
SHELLS = {"sh", "bash", "ash", "dash"}
# General-purpose images whose commands the shell subset runs (binaries of app images are opaque).
SHELL_IMAGES = {"busybox", "alpine", "ubuntu", "debian", "centos", "fedora", "netshoot", "curl", "bash", "toolbox",
                "ubi", "ubi-minimal", "flannel", "flannel-cni-plugin"}


def stable_mac(seed: str) -> str:
    """A locally administered unicast MAC derived from a seed (reproducible runs)."""
    digest = hashlib.sha1(seed.encode()).digest()
    first = (digest[0] | 0x02) & 0xFE
    return ":".join(f"{b:02x}" for b in bytes([first]) + digest[1:6])


@dataclass
class ContainerRun:
    ctx: SimContext
    network: Network
    node_name: str
    host: HostState
    view_factory: Callable[[], HostState]   # built on first use: most programs never look
    pod: dict
    container: dict
    env_factory: Callable[[], dict[str, str]]
    started: float
    log: list[str] = field(default_factory=list)

    @functools.cached_property
    def view(self) -> HostState:
        """The host as this container sees it (mounts, network namespace)."""
        return self.view_factory()

    @functools.cached_property
    def env(self) -> dict[str, str]:
        return self.env_factory()

    def say(self, line: str) -> None:
        self.log.append(line.rstrip("\n") + "\n")

    @property
    def args(self) -> list[str]:
        return list(self.container.get("command") or []) + list(self.container.get("args") or [])

    def node(self) -> dict:
        return self.ctx.store.get(self.ctx.nodes, None, self.node_name)

    def node_ip(self) -> str:
        return self.network.node_ip(self.node_name)


@dataclass
class Outcome:
    exit_code: int | None     # None: keeps running
    duration: float = 0.0     # simulated seconds until it exits


class Program:
    def start(self, run: ContainerRun) -> Outcome:
        return Outcome(None)

    def ready(self, run: ContainerRun, now: float) -> tuple[bool, str]:
        return True, ""

    def refresh(self, run: ContainerRun) -> None:
        """The cluster changed (nodes, Calico resources); re-read what this program watches."""

    def stop(self, run: ContainerRun) -> None:
        """SIGTERM: what the process does on its way out."""


class Server(Program):
    """An image's default entrypoint: a long-running process that serves and is ready."""


class Exits(Program):
    """A one-shot step that succeeds (e.g. `calico-node -init`, `calico-ipam -upgrade`)."""

    def start(self, run: ContainerRun) -> Outcome:
        return Outcome(0, 0.5)


class Shell(Program):
    """`sh -c ...` and other commands, run by the shell subset against the container's view."""

    def start(self, run: ContainerRun) -> Outcome:
        key = (run.pod["metadata"]["namespace"], run.pod["metadata"]["name"])
        result = run_shell(run.view, run.args, http_get=lambda url, timeout=None: run.network.http_get(key, url),
                           env=run.env)
        if result.log:
            run.log.append(result.log)
        if result.still_running:
            return Outcome(None)
        return Outcome(result.exit_code, max(0.1, result.sleep_seconds))


class InstallConf(Program):
    """flannel's /opt/bin/install-conf SRC DST: copy the CNI config onto the host."""

    def start(self, run: ContainerRun) -> Outcome:
        args = run.args[1:]
        if len(args) != 2:
            run.say("usage: install-conf SRC DST")
            return Outcome(1, 0.1)
        src, dst = args
        content = run.view.read_file(src)
        if content is None:
            run.say(f"open {src}: no such file or directory")
            return Outcome(1, 0.1)
        run.view.write_file(dst, content)
        return Outcome(0, 0.2)


class CalicoInstallCni(Program):
    """calico/cni's install: binaries into /opt/cni/bin, the conflist and kubeconfig into net.d."""

    def start(self, run: ContainerRun) -> Outcome:
        env = run.env
        bin_dir, net_dir = "/host/opt/cni/bin", "/host/etc/cni/net.d"
        for binary in ("calico", "calico-ipam"):
            run.view.write_file(f"{bin_dir}/{binary}", f"\x7fELF {binary}")
        template = env.get("CNI_NETWORK_CONFIG")
        if not template:
            run.say("CNI_NETWORK_CONFIG is not set; nothing to install")
            return Outcome(1, 0.2)
        node_name = env.get("KUBERNETES_NODE_NAME") or run.node_name
        config = (template.replace("__CNI_MTU__", env.get("CNI_MTU", "1500"))
                  .replace("__KUBERNETES_NODE_NAME__", node_name)
                  .replace("__KUBECONFIG_FILEPATH__", "/etc/cni/net.d/calico-kubeconfig")
                  .replace("__CNI_NET_DIR__", "/etc/cni/net.d"))
        try:
            json.loads(config)
        except ValueError as exc:
            run.say(f"CNI_NETWORK_CONFIG is not valid JSON after substitution: {exc}")
            return Outcome(1, 0.2)
        name = env.get("CNI_CONF_NAME", "10-calico.conflist")
        run.view.write_file(f"{net_dir}/{name}", config)
        run.view.write_file(f"{net_dir}/calico-kubeconfig", "# kubeconfig for the calico CNI plugin\n")
        run.say(f"Created {net_dir}/{name}")
        return Outcome(0, 0.5)


class Flanneld(Program):
    """flanneld --kube-subnet-mgr: device, subnet.env, iptables, node annotations, peer routes."""

    def __init__(self):
        self.device: str | None = None
        self.ready_at: float | None = None

    def start(self, run: ContainerRun) -> Outcome:
        node = run.node()
        cidr = node["spec"].get("podCIDR")
        if "--kube-subnet-mgr" not in run.args:
            run.say("the simulator models flanneld with --kube-subnet-mgr only (etcd mode is not simulated)")
            return Outcome(1, 0.5)
        if not cidr:
            run.say(f'Error registering network: failed to acquire lease: node "{run.node_name}" pod cidr not assigned')
            return Outcome(1, 1.0)
        conf_text = run.view.read_file("/etc/kube-flannel/net-conf.json")
        try:
            conf = json.loads(conf_text or "")
            network = ipaddress.ip_network(conf["Network"])
        except (ValueError, KeyError, TypeError) as exc:
            run.say(f"Failed to create SubnetManager: error parsing subnet config: {exc!r}")
            return Outcome(1, 1.0)
        backend = conf.get("Backend") or {}
        kind = backend.get("Type", "vxlan")
        subnet = ipaddress.ip_network(cidr)
        mtu = run.host.interfaces["eth0"].mtu - (50 if kind == "vxlan" else 0)
        ip_masq = "--ip-masq" in run.args
        annotations = {FLANNEL_PREFIX + "kube-subnet-manager": "true", FLANNEL_PREFIX + "public-ip": run.node_ip(),
                       FLANNEL_PREFIX + "backend-type": kind}
        if kind == "vxlan":
            vni = int(backend.get("VNI", 1))
            port = int(backend.get("Port", 0) or 8472)
            self.device = f"flannel.{vni}"
            existing = run.host.interfaces.get(self.device)
            if existing and (existing.vni != vni or existing.port != port):
                run.host.delete_interface(self.device)
                existing = None
            mac = existing.mac if existing else stable_mac(f"flannel/{run.node_name}/{vni}")
            if existing is None:
                run.host.add_interface(Interface(name=self.device, kind="vxlan", mac=mac, mtu=mtu,
                                                 addresses=[f"{subnet.network_address}/32"], vni=vni, port=port,
                                                 local_ip=run.node_ip()))
            annotations[FLANNEL_PREFIX + "backend-data"] = json.dumps({"VNI": vni, "VtepMAC": mac},
                                                                      separators=(",", ":"))
            run.host.interfaces[self.device].peers = run.network.flannel_table
        elif kind == "host-gw":
            annotations[FLANNEL_PREFIX + "backend-data"] = "null"
            run.host.interfaces["eth0"].peers = run.network.flannel_table
            self.device = "eth0"
        else:
            run.say(f"backend {kind!r} is not simulated; flanneld exits")
            return Outcome(1, 1.0)
        run.host.write_file(FLANNEL_SUBNET_ENV, (
            f"FLANNEL_NETWORK={network}\nFLANNEL_SUBNET={subnet.network_address + 1}/{subnet.prefixlen}\n"
            f"FLANNEL_MTU={mtu}\nFLANNEL_IPMASQ={'true' if ip_masq else 'false'}\n"))
        if conf.get("EnableNFTables"):
            run.host.nftables[("ip", "flannel-ipv4")] = [f"chain postrtg {{ ip saddr {network} masquerade }}",
                                                         f"chain forward {{ ip saddr {network} accept }}"]
        else:
            _flannel_iptables(run.host, network, subnet, ip_masq)
        self._annotate(run, annotations)
        self.ready_at = run.started + run.ctx.timings.flannel_ready
        run.say(f"Running backend. Wrote subnet file to {FLANNEL_SUBNET_ENV}")
        return Outcome(None)

    @staticmethod
    def _annotate(run: ContainerRun, annotations: dict[str, str]) -> None:
        def put(node: dict) -> None:
            node["metadata"].setdefault("annotations", {}).update(annotations)
        run.ctx.store.mutate(run.ctx.nodes, None, run.node_name, put)

    def ready(self, run: ContainerRun, now: float) -> tuple[bool, str]:
        if self.ready_at is None or now < self.ready_at:
            return False, "flanneld is starting"
        return True, ""

    def stop(self, run: ContainerRun) -> None:
        # The process goes; the kernel keeps the device and the routes it programmed.
        iface = run.host.interfaces.get(self.device or "")
        if iface is not None and getattr(iface, "peers", None) is run.network.flannel_table:
            iface.peers = PeerTable(run.network.flannel_table.peers())


def _flannel_iptables(host: HostState, network, subnet, ip_masq: bool) -> None:
    """The chains flanneld keeps (and never removes)."""
    host.ensure_chain("filter", "FLANNEL-FWD")
    for rule in (f'-A FLANNEL-FWD -s {network} -m comment --comment "flanneld forward" -j ACCEPT',
                 f'-A FLANNEL-FWD -d {network} -m comment --comment "flanneld forward" -j ACCEPT'):
        if rule not in host.iptables["filter"]["FLANNEL-FWD"]:
            host.add_rule("filter", "FLANNEL-FWD", rule)
    jump = '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD'
    if jump not in host.iptables["filter"]["FORWARD"]:
        host.add_rule("filter", "FORWARD", jump)
    if not ip_masq:
        return
    host.ensure_chain("nat", "FLANNEL-POSTRTG")
    for rule in (f'-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN',
                 f'-A FLANNEL-POSTRTG -s {subnet} -d {network} -m comment --comment "flanneld masq" -j RETURN',
                 f'-A FLANNEL-POSTRTG -s {network} -d {subnet} -m comment --comment "flanneld masq" -j RETURN',
                 f'-A FLANNEL-POSTRTG ! -s {network} -d {subnet} -m comment --comment "flanneld masq" -j RETURN',
                 f'-A FLANNEL-POSTRTG -s {network} ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
                 f'-A FLANNEL-POSTRTG ! -s {network} -d {network} -m comment --comment "flanneld masq" -j MASQUERADE --random-fully'):
        if rule not in host.iptables["nat"]["FLANNEL-POSTRTG"]:
            host.add_rule("nat", "FLANNEL-POSTRTG", rule)
    jump = '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG'
    if jump not in host.iptables["nat"]["POSTROUTING"]:
        host.add_rule("nat", "POSTROUTING", jump)


def flannel_peers(nodes: list[dict]) -> list[Peer]:
    """Every node flanneld would route to: annotated by a flanneld, with a podCIDR."""
    peers = []
    for node in nodes:
        annotations = node["metadata"].get("annotations") or {}
        cidr = node["spec"].get("podCIDR")
        public_ip = annotations.get(FLANNEL_PREFIX + "public-ip")
        kind = annotations.get(FLANNEL_PREFIX + "backend-type")
        if not cidr or not public_ip or not kind:
            continue
        net = ipaddress.ip_network(cidr)
        if kind == "vxlan":
            try:
                mac = json.loads(annotations.get(FLANNEL_PREFIX + "backend-data") or "{}").get("VtepMAC")
            except ValueError:
                continue
            if mac:
                peers.append(Peer(node["metadata"]["name"], net, str(net.network_address), mac, public_ip))
        elif kind == "host-gw":
            peers.append(Peer(node["metadata"]["name"], net, public_ip, None, public_ip))
    return peers


class CalicoNode(Program):
    """calico-node: startup (nodename, default pool, tunnel address) and Felix (VXLAN device, routes, policy)."""

    def __init__(self):
        self.ready_at: float | None = None
        self.problem = ""

    def start(self, run: ContainerRun) -> Outcome:
        run.host.write_file(CALICO_NODENAME, run.node_name)
        self._ensure_default_pool(run)
        self.ready_at = run.started + run.ctx.timings.calico_ready
        run.network.felix_nodes.add(run.node_name)
        self.refresh(run)
        run.say(f"Calico node started successfully on {run.node_name}")
        return Outcome(None)

    def _ensure_default_pool(self, run: ContainerRun) -> None:
        """calico-node creates a default pool when none exists, unless told not to (real behaviour)."""
        pools_type = run.ctx.registry.lookup(CALICO_GROUP, "v1", "ippools")
        if pools_type is None or run.ctx.store.items(pools_type) or run.env.get("NO_DEFAULT_POOLS") == "true":
            return
        if run.env.get("CALICO_NETWORKING_BACKEND") == "none":
            return
        cidr = run.env.get("CALICO_IPV4POOL_CIDR", "192.168.0.0/16")
        mode = lambda key: "Always" if run.env.get(key, "Never") == "Always" else (
            "CrossSubnet" if run.env.get(key) == "CrossSubnet" else "Never")
        run.ctx.store.create(pools_type, {
            "apiVersion": f"{CALICO_GROUP}/v1", "kind": "IPPool", "metadata": {"name": "default-ipv4-ippool"},
            "spec": {"cidr": cidr, "blockSize": int(run.env.get("CALICO_IPV4POOL_BLOCK_SIZE", 26)),
                     "ipipMode": mode("CALICO_IPV4POOL_IPIP"), "vxlanMode": mode("CALICO_IPV4POOL_VXLAN"),
                     "natOutgoing": True, "nodeSelector": "all()"}})

    def refresh(self, run: ContainerRun) -> None:
        self.problem = self._program(run)

    def _program(self, run: ContainerRun) -> str:
        """Felix's view of the configuration; returns why it cannot be ready, or ''."""
        ctx, env = run.ctx, run.env
        if env.get("CALICO_NETWORKING_BACKEND") == "none":
            return ""  # policy only (Canal): Flannel moves the packets
        pools_type = ctx.registry.lookup(CALICO_GROUP, "v1", "ippools")
        if pools_type is None:
            return "the Calico CRDs are not installed"
        pools = [p for p in ctx.store.items(pools_type) if not p["spec"].get("disabled")
                 and ":" not in p["spec"].get("cidr", "")]
        if not pools:
            return "no enabled IPv4 IPPool"
        node = run.node()
        cidr = node["spec"].get("podCIDR")
        if cidr and not any(ipaddress.ip_network(cidr).subnet_of(ipaddress.ip_network(p["spec"]["cidr"])) for p in pools):
            return f"no IPPool covers this node's podCIDR {cidr}"
        if not any(p["spec"].get("vxlanMode", "Never") != "Never" for p in pools):
            return ""
        felix = self._felix_config(run)
        vni, port, mtu = felix["vni"], felix["port"], felix["mtu"]
        clash = next((d for d in run.host.interfaces.values() if d.kind == "vxlan" and d.name != "vxlan.calico"
                      and d.port == port and d.vni == vni), None)
        if clash is not None:
            return (f'failed to create vxlan.calico: a VXLAN device with VNI {vni} and port {port} already exists '
                    f'({clash.name})')
        annotations = node["metadata"].get("annotations") or {}
        address = annotations.get(CALICO_TUNNEL_ADDR)
        mac = annotations.get(CALICO_TUNNEL_MAC)
        if not address:
            try:
                address, _block = CalicoIpam(ctx).allocate(run.node_name, f"vxlan-tunnel-addr-{run.node_name}")
            except Exception as exc:  # an IPAM failure keeps calico-node unready, as it would
                return f"failed to assign a VXLAN tunnel address: {exc}"
        if not mac:
            mac = stable_mac(f"calico/{run.node_name}")
        if annotations.get(CALICO_TUNNEL_ADDR) != address or annotations.get(CALICO_TUNNEL_MAC) != mac:
            def put(obj: dict) -> None:
                obj["metadata"].setdefault("annotations", {}).update({CALICO_TUNNEL_ADDR: address, CALICO_TUNNEL_MAC: mac})
            ctx.store.mutate(ctx.nodes, None, run.node_name, put)
        device = run.host.interfaces.get("vxlan.calico")
        if device is not None and (device.vni, device.port, device.mac) != (vni, port, mac):
            run.host.delete_interface("vxlan.calico")
            device = None
        if device is None:
            device = Interface(name="vxlan.calico", kind="vxlan", mac=mac, mtu=mtu, addresses=[f"{address}/32"],
                               vni=vni, port=port, local_ip=run.node_ip())
            run.host.add_interface(device)
        device.peers = run.network.calico_table
        for table, chain in (("filter", "cali-FORWARD"), ("filter", "cali-INPUT"), ("nat", "cali-nat-outgoing")):
            run.host.ensure_chain(table, chain)
        return ""

    @staticmethod
    def _felix_config(run: ContainerRun) -> dict:
        felix_type = run.ctx.registry.lookup(CALICO_GROUP, "v1", "felixconfigurations")
        spec = {}
        if felix_type is not None:
            default = run.ctx.store.find(felix_type, None, "default")
            spec = (default or {}).get("spec") or {}
        env = run.env
        return {"vni": int(env.get("FELIX_VXLANVNI", spec.get("vxlanVNI", 4096))),
                "port": int(env.get("FELIX_VXLANPORT", spec.get("vxlanPort", 4789))),
                "mtu": int(env.get("FELIX_VXLANMTU", spec.get("vxlanMTU", run.host.interfaces["eth0"].mtu - 50)))}

    def ready(self, run: ContainerRun, now: float) -> tuple[bool, str]:
        if run.node_name in run.ctx.faults.settings.calico_never_ready:
            return False, "calico/node is not ready: BIRD is not ready: BGP not established (injected fault)"
        if self.problem:
            return False, f"calico/node is not ready: felix is not ready: {self.problem}"
        if self.ready_at is None or now < self.ready_at:
            return False, "calico/node is not ready: felix is not ready: starting"
        return True, ""

    def stop(self, run: ContainerRun) -> None:
        run.network.felix_nodes.discard(run.node_name)
        device = run.host.interfaces.get("vxlan.calico")
        if device is not None and getattr(device, "peers", None) is run.network.calico_table:
            device.peers = PeerTable(run.network.calico_table.peers())


def calico_peers(nodes: list[dict], affinities: list[dict]) -> list[Peer]:
    """Every block Felix routes over VXLAN: affine to a node that has a tunnel address and MAC."""
    by_node = {n["metadata"]["name"]: n for n in nodes}
    peers = []
    for affinity in affinities:
        spec = affinity.get("spec") or {}
        node = by_node.get(spec.get("node"))
        if node is None or spec.get("state") != "confirmed" or ":" in spec.get("cidr", ":"):
            continue
        annotations = node["metadata"].get("annotations") or {}
        address, mac = annotations.get(CALICO_TUNNEL_ADDR), annotations.get(CALICO_TUNNEL_MAC)
        internal = next((a["address"] for a in node.get("status", {}).get("addresses") or []
                         if a.get("type") == "InternalIP"), None)
        if address and mac and internal:
            peers.append(Peer(node["metadata"]["name"], ipaddress.ip_network(spec["cidr"]), address, mac, internal))
    return peers


def program_for(pod: dict, container: dict, init: bool) -> Program:
    """Which program a container runs, decided from its image and command as a node would."""
    image = container.get("image", "")
    name = image_name(image)
    repository = image_repository(image)
    argv = list(container.get("command") or []) + list(container.get("args") or [])
    first = argv[0] if argv else ""
    if first.endswith("flanneld") or (name == "flannel" and not argv and not init):
        return Flanneld()
    if first.endswith("install-conf"):
        return InstallConf()
    if "calico" in repository and name == "cni":
        if first.endswith("calico-ipam"):
            return Exits()
        return CalicoInstallCni()
    if "calico" in repository and name == "node":
        if init or "-init" in argv:
            return Exits()
        return CalicoNode()
    if "calico" in repository and name in ("kube-controllers", "typha", "pod2daemon-flexvol", "csi",
                                           "node-driver-registrar"):
        return Exits() if init else Server()
    if argv and (posixpath.basename(argv[0]) in SHELLS or name in SHELL_IMAGES):
        return Shell()
    return Server()  # an application image runs its own binary: a long-running server
