"""What containers run: flanneld, calico-node, their install steps, a shell, or a plain server.

Each program acts on the node's host model and the API objects exactly as the real
binary does, so the simulator's Flannel and Calico are only as coherent as the
configuration a user (or our tool) gives them.
"""
from __future__ import annotations

import functools
import hashlib
import ipaddress
import posixpath
import json
from dataclasses import dataclass, field
from typing import Callable

from . import felix_tables
from .calico_autodetect import AutodetectionFailed, node_ipv4_address
from .calico_ipam import CALICO_GROUP, CalicoIpam
from .cni import CALICO_NODENAME, FLANNEL_SUBNET_ENV, CniError
from .container import image_identity, image_tag
from .felix_config import FelixWatch, read_inputs
from .context import SimContext, is_pod_ready, is_terminating
from .host import HostState, Interface, run_shell, stable_mac
from . import ipip
from .network import Network, Peer, PeerTable
from .vxlan_routes import VxlanRoutes

FLANNEL_PREFIX = "flannel.alpha.coreos.com/"
CALICO_TUNNEL_ADDR = "projectcalico.org/IPv4VXLANTunnelAddr"
CALICO_TUNNEL_MAC = "projectcalico.org/VXLANTunnelMACAddr"
CALICO_IPIP_ADDR = "projectcalico.org/IPv4IPIPTunnelAddr"

SHELLS = {"sh", "bash", "ash", "dash"}
# General-purpose images whose commands the shell subset runs (binaries of app images are opaque).
SHELL_IMAGES = {"busybox", "alpine", "ubuntu", "debian", "centos", "fedora", "netshoot", "curl", "bash", "toolbox",
                "ubi", "ubi-minimal", "flannel", "flannel-cni-plugin"}


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
    start_error: str = ""     # the runtime could not start the process (exit 128, StartError)


class Program:
    def start(self, run: ContainerRun) -> Outcome:
        return Outcome(None)

    def ready(self, run: ContainerRun, now: float) -> tuple[bool, str]:
        return True, ""

    def refresh(self, run: ContainerRun) -> None:
        """The cluster changed (nodes, Calico resources); re-read what this program watches."""

    def tick(self, run: ContainerRun, now: float) -> float | None:
        """Periodic work of a running process, done when due; returns when it is next due (None: none)."""
        return None

    def stop(self, run: ContainerRun) -> None:
        """SIGTERM: what the process does on its way out."""

    def handles_sigterm(self) -> bool:
        """Whether the process exits on SIGTERM; if not, only the grace period's SIGKILL ends it."""
        return True


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
        network, node = run.network, run.node_name
        run.host.programmed_routes = lambda: network.route_lines(node)  # what `ip route show` lists beside its own
        result = run_shell(run.view, run.args, http_get=lambda url, timeout=None: run.network.http_get(key, url),
                           env=run.env)
        if result.start_error:
            return Outcome(128, 0.0, start_error=(
                "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create "
                f"failed: unable to start container process: {result.start_error}: unknown"))
        if result.log:
            run.log.append(result.log)
        if result.still_running:
            return Outcome(None)
        return Outcome(result.exit_code, max(0.1, result.sleep_seconds))

    def handles_sigterm(self) -> bool:
        # The shell (or sleep, tail) is PID 1 and installs no SIGTERM handler; the kernel does not
        # apply the default action to PID 1, so the signal is ignored.
        return False


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


def _flannel_mtu(run: ContainerRun, kind: str, backend: dict) -> int:
    """FLANNEL_MTU as flanneld v0.28.9 computes it. The external interface is the NIC holding the node's
    public-ip (main.go LookupExtIface). VXLAN: Backend.MTU (encoding/json matches the key case-insensitively)
    is the *underlay* MTU, defaulting to that NIC's (pkg/backend/vxlan/vxlan.go parseVXLANConfig); both
    flannel.<VNI> (device.go: MTU - 50) and subnet.env (vxlan_network.go MTU(): mtu - encapOverhead 50)
    take 50 off it. host-gw: the NIC's MTU as is (pkg/backend/hostgw/hostgw.go, route_network.go)."""
    address = run.node_ip()
    nic = next((i for i in run.host.interfaces.values()
                if i.kind == "ether" and any(a.split("/")[0] == address for a in i.addresses)),
               run.host.interfaces["eth0"])
    if kind != "vxlan":
        return nic.mtu
    configured = next((v for k, v in backend.items() if k.lower() == "mtu"), 0)
    return int(configured or nic.mtu) - 50


def stored_vtep_mac(backend_data: str | None) -> str | None:
    """The MAC in a backend-data annotation, parsed as flannel v0.28.9 does (pkg/subnet/kube/kube.go
    GetStoredMacAddresses: trim `"}` from both ends, split on `:"`, exactly two parts)."""
    if not backend_data:
        return None
    parts = backend_data.strip('"}').split(':"')
    return parts[1] if len(parts) == 2 else None


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
        mtu = _flannel_mtu(run, kind, backend)
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
            # A MAC already stored in the node's backend-data annotation is the one flannel.<VNI> gets (flannel
            # pkg/backend/vxlan/vxlan.go newSubnetAttrs' caller: GetStoredMacAddresses in pkg/subnet/kube/kube.go)
            stored = stored_vtep_mac((node["metadata"].get("annotations") or {}).get(FLANNEL_PREFIX + "backend-data"))
            if existing and stored and existing.mac != stored:  # device.go ensureV4: "mac address wanted"
                run.host.delete_interface(self.device)
                existing = None
            mac = stored or (existing.mac if existing else stable_mac(f"flannel/{run.node_name}/{vni}"))
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
        # into the container's filesystem: on the host only through a /run/flannel hostPath mount, which
        # kube-flannel.yml has and canal.yaml (Calico v3.32.1) does not
        run.view.write_file(FLANNEL_SUBNET_ENV, (
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
    for rule in ('-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN',
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


CALICO_VERSION = "v3.32.1"
CALICO_IPV4_ADDRESS = "projectcalico.org/IPv4Address"
_FALLBACK_POOLS = ["192.168.0.0/16"] + [f"172.{i}.0.0/16" for i in range(16, 32)]


class CalicoNode(Program):
    """calico-node: startup (nodename, datastore defaults, default pool, node address), the tunnel
    address allocator, and Felix (VXLAN device, routes, policy).

    Readiness is Felix's (`calico-node -felix-ready`): Felix is ready once it runs and has synced,
    whatever the pools cover and whether or not its VXLAN device could be created; a device it
    cannot create is retried and logged (which is why Calico's own migration controller checks for
    vxlan.calico separately after waiting for the pod to be Ready)."""

    def __init__(self):
        self.ready_at: float | None = None
        self.device_problem = ""
        self.typha: str | None = None  # the Typha endpoint Felix connected to, once it found one
        self.felix: FelixWatch | None = None  # the configuration this node's Felix runs with (felix_config)

    def start(self, run: ContainerRun) -> Outcome:
        ctx = run.ctx
        if ctx.registry.lookup(CALICO_GROUP, "v1", "ippools") is None or \
                ctx.registry.lookup(CALICO_GROUP, "v1", "clusterinformations") is None:
            # startup cannot initialise the datastore and exits; the kubelet restarts it.
            run.say("[ERROR][1] startup/startup.go: Unable to set global default configuration "
                    "error=the server could not find the requested resource (post "
                    "clusterinformations.crd.projectcalico.org)")
            return Outcome(1, 1.0)
        run.host.write_file(CALICO_NODENAME, run.node_name)
        try:
            self._annotate_address(run)
        except AutodetectionFailed as exc:
            run.say(f"[WARNING][1] startup/startup.go: {exc}")
            return Outcome(1, 1.0)
        self._ensure_default_config(run)
        self._ensure_default_pool(run)
        self.felix = FelixWatch(run.node_name, read_inputs(ctx))
        self.ready_at = run.started + ctx.timings.calico_ready
        run.network.felix_nodes.add(run.node_name)
        self.refresh(run)
        run.say(f"Calico node started successfully on {run.node_name}")
        return Outcome(None)

    @staticmethod
    def _annotate_address(run: ContainerRun) -> None:
        """The Calico Node's IPv4 address (a node annotation in KDD), chosen by IP and
        IP_AUTODETECTION_METHOD as startup.go does (see calico_autodetect)."""
        if run.env.get("CALICO_NETWORKING_BACKEND") == "none":
            return
        node = run.node()
        existing = (node["metadata"].get("annotations") or {}).get(CALICO_IPV4_ADDRESS)
        address = node_ipv4_address(run.env, run.host, node, existing)
        if existing != address:
            run.ctx.store.mutate(run.ctx.nodes, None, run.node_name, lambda node: node["metadata"].setdefault(
                "annotations", {}).__setitem__(CALICO_IPV4_ADDRESS, address))

    @staticmethod
    def _ensure_default_config(run: ContainerRun) -> None:
        """ensureDefaultConfig: ClusterInformation, the global FelixConfiguration, BGPConfiguration."""
        ctx, store = run.ctx, run.ctx.store
        kubeadm = store.find(ctx.rtype("", "configmaps"), "kube-system", "kubeadm-config")
        cluster_type = ",".join(t for t in (run.env.get("CLUSTER_TYPE", ""), "kubeadm" if kubeadm else "") if t)
        cluster_type = f"{cluster_type},kdd" if cluster_type else "kdd"

        def ensure(plural: str, kind: str, spec: dict, fill: dict | None = None) -> None:
            rtype = ctx.registry.lookup(CALICO_GROUP, "v1", plural)
            if rtype is None:
                return
            current = store.find(rtype, None, "default")
            if current is None:
                store.create(rtype, {"apiVersion": f"{CALICO_GROUP}/v1", "kind": kind,
                                     "metadata": {"name": "default"}, "spec": spec})
            elif fill and any(k not in (current.get("spec") or {}) for k in fill):
                def complete(obj: dict) -> None:
                    for k, v in fill.items():
                        obj.setdefault("spec", {}).setdefault(k, v)
                store.mutate(rtype, None, "default", complete)
        tag = image_tag(run.container.get("image", "")) or CALICO_VERSION
        ensure("clusterinformations", "ClusterInformation", {
            "calicoVersion": tag, "clusterType": cluster_type, "datastoreReady": True,
            "clusterGUID": hashlib.sha1(ctx.cluster_cidr.encode()).hexdigest()[:32]})
        felix_defaults = {"logSeverityScreen": "Info", "reportingInterval": "0s"}
        ensure("felixconfigurations", "FelixConfiguration", dict(felix_defaults), felix_defaults)
        ensure("bgpconfigurations", "BGPConfiguration", {})

    def _ensure_default_pool(self, run: ContainerRun) -> None:
        """configureIPPools: with no IPv4 pool, create default-ipv4-ippool (unless NO_DEFAULT_POOLS).
        Its CIDR is CALICO_IPV4POOL_CIDR, else kubeadm's podSubnet, else 192.168.0.0/16 unless that
        overlaps a host address (then the first free 172.16-31.0.0/16)."""
        ctx, env = run.ctx, run.env
        pools_type = ctx.registry.lookup(CALICO_GROUP, "v1", "ippools")
        if env.get("NO_DEFAULT_POOLS", "").lower() == "true" or env.get("CALICO_IPV4POOL_CIDR") == "none":
            return
        if any(":" not in p["spec"].get("cidr", ":") for p in ctx.store.items(pools_type)):
            return
        cidr = env.get("CALICO_IPV4POOL_CIDR") or self._kubeadm_pod_subnet(run) or self._free_default(run)
        modes = {}
        for key, mode_field in (("CALICO_IPV4POOL_IPIP", "ipipMode"), ("CALICO_IPV4POOL_VXLAN", "vxlanMode")):
            value = env.get(key, "").lower()
            modes[mode_field] = {"": "Never", "off": "Never", "never": "Never", "always": "Always",
                            "crosssubnet": "CrossSubnet", "cross-subnet": "CrossSubnet"}.get(value, "Never")
        nat = env.get("CALICO_IPV4POOL_NAT_OUTGOING", "true").lower() not in ("false", "0", "no", "n", "f")
        spec = {"cidr": str(ipaddress.ip_network(cidr, strict=False)),
                "blockSize": int(env.get("CALICO_IPV4POOL_BLOCK_SIZE") or 26), **modes, "natOutgoing": nat,
                "nodeSelector": env.get("CALICO_IPV4POOL_NODE_SELECTOR") or "all()"}
        ctx.store.create(pools_type, {"apiVersion": f"{CALICO_GROUP}/v1", "kind": "IPPool",
                                      "metadata": {"name": "default-ipv4-ippool"}, "spec": spec})
        run.say(f"Created default IPv4 pool ({spec['cidr']}) with NAT outgoing {str(nat).lower()}. "
                f"IPIP mode: {modes['ipipMode']}, VXLAN mode: {modes['vxlanMode']}")

    @staticmethod
    def _kubeadm_pod_subnet(run: ContainerRun) -> str | None:
        cm = run.ctx.store.find(run.ctx.rtype("", "configmaps"), "kube-system", "kubeadm-config")
        for text in ((cm or {}).get("data") or {}).values():
            for line in text.splitlines():
                if "podSubnet:" in line:
                    for cidr in line.split("podSubnet:", 1)[1].strip().split(","):
                        if ":" not in cidr:
                            return cidr.strip()
        return None

    @staticmethod
    def _free_default(run: ContainerRun) -> str:
        used = [ipaddress.ip_interface(a).network for i in run.host.interfaces.values() for a in i.addresses
                if ":" not in a]
        return next((c for c in _FALLBACK_POOLS if not any(ipaddress.ip_network(c).overlaps(u) for u in used)),
                    _FALLBACK_POOLS[-1])

    def refresh(self, run: ContainerRun) -> None:
        if self.felix is not None:
            self.felix.observe(read_inputs(run.ctx), run.ctx.now(), run.ctx.seed, run.ctx.timings.felix_watch_spread)
        problem = self._program(run)
        if problem and problem != self.device_problem:
            run.say(f"[WARNING][1] felix/route_mgr.go: Failed to configure tunnel device, retrying... "
                    f"device=\"vxlan.calico\" error={problem}")
        self.device_problem = problem

    def _program(self, run: ContainerRun) -> str:
        """What Felix and the tunnel address allocator do with the current configuration; returns
        why the VXLAN device could not be set up, or ''."""
        ctx, env = run.ctx, run.env
        ipam = CalicoIpam(ctx)
        try:
            pools = self._felix_pools(run, "Tunnel")
        except Exception:  # the CRDs went away under a running calico-node
            return "the server could not find the requested resource (get ippools.crd.projectcalico.org)"
        policy_only = env.get("CALICO_NETWORKING_BACKEND") == "none"  # Canal: Flannel moves the packets
        vxlan_pools = [] if policy_only else [p for p in pools if p["spec"].get("vxlanMode", "Never") != "Never"]
        self._program_tables(run, pools, bool(vxlan_pools))
        if policy_only:
            return ""
        self._program_ipip(run, ipam)
        program_cluster_routes(run, self.felix.pool_objects() if self.felix is not None else None,
                               self._felix_spec(run))
        routes = VxlanRoutes(run.network.calico_table, [p["spec"] for p in self._felix_pool_objects(run)])
        if not vxlan_pools:
            device = run.host.interfaces.get("vxlan.calico")
            if device is not None and isinstance(getattr(device, "peers", None), VxlanRoutes):
                device.peers = routes  # left in place, routing only what this Felix still sees as VXLAN
            return ""  # VXLAN is off: no tunnel address, no new vxlan.calico
        node = run.node()
        annotations = node["metadata"].get("annotations") or {}
        address = self._tunnel_address(ipam, run.node_name, annotations.get(CALICO_TUNNEL_ADDR), vxlan_pools,
                                       "vxlan-tunnel-addr", "vxlanTunnelAddress")
        if address is None:
            return "Missing local address information (no VXLAN tunnel address could be assigned)"
        mac = annotations.get(CALICO_TUNNEL_MAC) or stable_mac(f"calico/{run.node_name}")
        if annotations.get(CALICO_TUNNEL_ADDR) != address or annotations.get(CALICO_TUNNEL_MAC) != mac:
            def put(obj: dict) -> None:
                obj["metadata"].setdefault("annotations", {}).update({CALICO_TUNNEL_ADDR: address, CALICO_TUNNEL_MAC: mac})
            ctx.store.mutate(ctx.nodes, None, run.node_name, put)
        felix = self._felix_config(run, self._felix_spec(run))
        vni, port, mtu = felix["vni"], felix["port"], felix["mtu"]
        device = run.host.interfaces.get("vxlan.calico")
        if device is not None and (device.vni, device.port, device.mac) != (vni, port, mac):
            run.host.delete_interface("vxlan.calico")  # incompatible configuration: recreate it
            device = None
        if device is None:
            clash = next((d for d in run.host.interfaces.values() if d.kind == "vxlan" and d.port == port
                          and d.vni == vni), None)
            if clash is not None:
                # The kernel refuses a second VXLAN device on the same VNI and port (EEXIST), which
                # Felix reads as a creation race and then cannot find its device.
                return "can't locate created tunnel device vxlan.calico"
            # the VXLAN source address is the VTEP's parent device address: the Node's IPv4Address
            # (felix/dataplane/linux/vxlan_mgr.go device(): vxlan.SrcAddr = ParentDeviceIp)
            parent = (annotations.get(CALICO_IPV4_ADDRESS) or run.node_ip()).split("/")[0]
            device = Interface(name="vxlan.calico", kind="vxlan", mac=mac, mtu=mtu, addresses=[f"{address}/32"],
                               vni=vni, port=port, local_ip=parent)
            run.host.add_interface(device)
        elif device.addresses != [f"{address}/32"]:
            device.addresses = [f"{address}/32"]
        device.mtu = mtu  # vxlan_mgr.go keepDeviceInSync sets the configured MTU on an existing device
        device.peers = routes
        return ""

    def _program_tables(self, run: ContainerRun, pools: list[dict], vxlan: bool) -> None:
        """Felix's chains and ipsets (felix_tables): the VXLAN filter admits the parent addresses of the other
        nodes' VTEPs, whichever pools their blocks are in (felix/calc/vxlan_resolver.go sends a node's VTEP once it
        has a tunnel address, MAC and IP)."""
        sources = sorted({p.underlay for p in run.network.calico_table.peers() if p.node != run.node_name})
        v4 = [p["spec"]["cidr"] for p in pools if ":" not in p["spec"].get("cidr", ":")]
        masq = [p["spec"]["cidr"] for p in pools if ":" not in p["spec"].get("cidr", ":") and p["spec"].get("natOutgoing")]
        workloads = [a.veth for node, a in run.network.attachments.values() if node == run.node_name
                     and a.plugin == "calico"]
        felix_tables.program(run.host, vxlan_port=self._felix_config(run, self._felix_spec(run))["port"] if vxlan else None,
                             vxlan_sources=sources, pools=v4, masq_pools=masq, workloads=workloads)

    def _program_ipip(self, run: ContainerRun, ipam: CalicoIpam) -> None:
        """An IPIP pool gets the node an IPIP tunnel address and Felix configures tunl0 with it, at ipipMTU
        (env FELIX_IPINIPMTU, else FelixConfiguration ipipMTU; 0: the host's MTU less 20, int_dataplane.go
        ConfigureDefaultMTUs). Routes over it come from Felix or BIRD (program_cluster_routes)."""
        pools = [p for p in self._felix_pools(run, "Tunnel") if p["spec"].get("ipipMode", "Never") != "Never"]
        annotations = run.node()["metadata"].get("annotations") or {}
        if not pools:
            # allocateip.go removeHostTunnelAddr: no IPIP pool for this node, so no IPIP tunnel address
            if annotations.get(CALICO_IPIP_ADDR):
                ipam.release_handle(f"ipip-tunnel-addr-{run.node_name}")
                run.ctx.store.mutate(run.ctx.nodes, None, run.node_name, lambda obj: obj["metadata"].setdefault(
                    "annotations", {}).pop(CALICO_IPIP_ADDR, None))
            tunnel = run.host.interfaces.get("tunl0")
            if tunnel is not None and self._felix_spec(run).get("ipipEnabled") is None:
                # int_dataplane.go cleanUpIPIPAddrs, IPIP implicitly off: the address goes, tunl0 (the kernel's) stays
                tunnel.addresses = []
            return
        if self._felix_spec(run).get("ipipEnabled") is False:
            return  # FelixConfiguration ipipEnabled: false: Felix starts no IPIP manager, makes no tunl0
        address = self._tunnel_address(ipam, run.node_name, annotations.get(CALICO_IPIP_ADDR), pools,
                                       "ipip-tunnel-addr", "ipipTunnelAddress")
        if address is None:
            return
        if annotations.get(CALICO_IPIP_ADDR) != address:
            run.ctx.store.mutate(run.ctx.nodes, None, run.node_name, lambda obj: obj["metadata"].setdefault(
                "annotations", {}).__setitem__(CALICO_IPIP_ADDR, address))
        mtu = int(run.env.get("FELIX_IPINIPMTU") or self._felix_spec(run).get("ipipMTU") or 0) or \
            min((i.mtu for i in run.host.interfaces.values()
                 if i.kind == "ether" and i.up and i.name.startswith("eth")), default=1500) - 20
        device = run.host.interfaces.get("tunl0")
        if device is None:
            run.host.add_interface(Interface(name="tunl0", kind="ipip", mac="", addresses=[f"{address}/32"], mtu=mtu))
        else:
            device.mtu = mtu  # route_mgr.go keepDeviceInSync: the configured MTU on an existing device
            if device.addresses != [f"{address}/32"]:
                device.addresses = [f"{address}/32"]

    @staticmethod
    def _tunnel_address(ipam: CalicoIpam, node_name: str, current: str | None, pools: list[dict],
                        handle_prefix: str, kind: str) -> str | None:
        """ensureHostTunnelAddress: keep an address IPAM holds for this node's tunnel handle in a
        pool of the right mode; otherwise release that handle and auto-assign a new one."""
        handle = f"{handle_prefix}-{node_name}"
        if current:
            held = ipam.assignment(current)
            in_pool = any(ipaddress.ip_address(current) in ipaddress.ip_network(p["spec"]["cidr"]) for p in pools)
            if held is not None and held.get("handle_id") == handle and in_pool:
                return current
            if held is None or held.get("handle_id") == handle:
                ipam.release_handle(handle)
        try:
            address, _block = ipam.allocate(node_name, handle, pools=pools, attrs={"node": node_name, "type": kind})
        except CniError:
            return None
        return address

    def _felix_pools(self, run: ContainerRun, use: str) -> list[dict]:
        """The IPPools selecting this node and allowing `use`, as this node's Felix last applied them
        (felix_config: not the datastore's of this instant)."""
        if self.felix is None:
            return CalicoIpam(run.ctx).pools_for(run.node_name, use)
        return self.felix.pools_for(run.node()["metadata"].get("labels") or {}, use)

    def _felix_pool_objects(self, run: ContainerRun) -> list[dict]:
        """Every IPPool as this node's Felix last applied it (the datastore's when it has no watch)."""
        if self.felix is not None:
            return self.felix.pool_objects()
        pools_type = run.ctx.registry.lookup(CALICO_GROUP, "v1", "ippools")
        return run.ctx.store.items(pools_type) if pools_type else []

    def _felix_spec(self, run: ContainerRun) -> dict:
        """The FelixConfiguration `default` spec this node's Felix last applied."""
        return self.felix.applied.config if self.felix is not None else felix_spec(run)

    def _felix_step(self, run: ContainerRun, now: float) -> None:
        """Felix sees a datastore change when its own delay is up, restarts if it must, then programs it."""
        if self.felix is None:
            return
        outcome = self.felix.step(read_inputs(run.ctx), now, run.ctx.timings.felix_restart, run.env)
        if outcome == "applied":
            self.refresh(run)
        elif outcome:
            run.say(f"[WARNING][1] felix/daemon/daemon.go: {outcome}")

    @staticmethod
    def _felix_config(run: ContainerRun, spec: dict | None = None) -> dict:
        """Felix's VXLAN settings: environment over the global FelixConfiguration over defaults
        (MTU 0 means auto-detect: the smallest MTU of the up eth* NICs less the VXLAN overhead of 50,
        felix/dataplane/linux/int_dataplane.go findHostMTU, ConfigureDefaultMTUs; MTUIfacePattern's default
        also matches en*, which simulated hosts do not have)."""
        spec = felix_spec(run) if spec is None else spec
        env = run.env
        mtu = int(env.get("FELIX_VXLANMTU") or spec.get("vxlanMTU") or 0)
        return {"vni": int(env.get("FELIX_VXLANVNI") or spec.get("vxlanVNI") or 4096),
                "port": int(env.get("FELIX_VXLANPORT") or spec.get("vxlanPort") or 4789),
                "mtu": mtu or min((i.mtu for i in run.host.interfaces.values()
                                   if i.kind == "ether" and i.up and i.name.startswith("eth")), default=1460) - 50}

    def ready(self, run: ContainerRun, now: float) -> tuple[bool, str]:
        if run.node_name in run.ctx.faults.settings.calico_never_ready:
            return False, "calico/node is not ready: BIRD is not ready: BGP not established (injected fault)"
        if self.ready_at is None or now < self.ready_at:
            return False, "calico/node is not ready: felix is not ready: readiness probe reporting 503"
        self._felix_step(run, now)
        if self.felix is not None and self.felix.restarting(now):
            return False, ('calico/node is not ready: felix is not ready: Get "http://localhost:9099/readiness": '
                           "dial tcp 127.0.0.1:9099: connect: connection refused")
        if self.typha is None and typha_service(run.env) is not None:
            self.typha = typha_endpoint(run)
            if self.typha is None:
                return False, "calico/node is not ready: felix is not ready: readiness probe reporting 503"
        probe = ((run.container.get("readinessProbe") or {}).get("exec") or {}).get("command") or []
        if "-bird-ready" in probe:
            return bird_ready(run, now)
        return True, ""

    def tick(self, run: ContainerRun, now: float) -> float | None:
        """Felix acting on a datastore change when its delay or restart is up (felix_config)."""
        self._felix_step(run, now)
        return self.felix.due() if self.felix is not None else None

    def stop(self, run: ContainerRun) -> None:
        run.network.felix_nodes.discard(run.node_name)
        run.network.bird.stop(run.node_name)
        device = run.host.interfaces.get("vxlan.calico")
        if device is not None and isinstance(getattr(device, "peers", None), VxlanRoutes):
            device.peers = PeerTable(device.peers.peers())  # the kernel keeps what this Felix programmed


def networking_backend(env: dict[str, str]) -> str:
    """CALICO_NETWORKING_BACKEND: bird (the default: node/filesystem/etc/rc.local starts confd and BIRD unless
    it is none or vxlan), vxlan or none."""
    return env.get("CALICO_NETWORKING_BACKEND") or "bird"


def felix_spec(run: ContainerRun) -> dict:
    felix_type = run.ctx.registry.lookup(CALICO_GROUP, "v1", "felixconfigurations")
    default = run.ctx.store.find(felix_type, None, "default") if felix_type is not None else None
    return (default or {}).get("spec") or {}


def program_cluster_routes(run: ContainerRun, pools: list[dict] | None = None, spec: dict | None = None) -> None:
    """Who puts routes to other nodes' IPIP and unencapsulated blocks on this node: Felix with
    ProgramClusterRoutes (sim/ipip.py), BIRD when the backend is bird (sim/bird.py), or nobody. `pools` (IPPool
    objects) and `spec` (the FelixConfiguration's) as this node's Felix sees them; default: the datastore's now."""
    ctx, network, tag = run.ctx, run.network, image_tag(run.container.get("image", "")) or CALICO_VERSION
    pools_type = ctx.registry.lookup(CALICO_GROUP, "v1", "ippools")
    affinity_type = ctx.registry.lookup(CALICO_GROUP, "v1", "blockaffinities")
    if pools is None:
        pools = ctx.store.items(pools_type) if pools_type else []
    pools = [p["spec"] for p in pools]  # disabled pools' blocks are routed too (felix/calc/l3_route_resolver.go)
    spec = felix_spec(run) if spec is None else spec
    affinities = ctx.store.items(affinity_type) if affinity_type else []
    program_routes = ipip.program_cluster_routes(spec, run.env, tag)
    if program_routes:
        routes = ipip.felix_routes(run.node_name, ctx.store.items(ctx.nodes), affinities, pools,
                                   spec.get("ipipEnabled"))
        network.felix_routes[run.node_name] = {d: PeerTable(peers) for d, peers in routes.items() if peers}
    else:
        network.felix_routes.pop(run.node_name, None)
    _sync_blackholes(run.host, ipip.felix_blackholes(run.node_name, affinities, pools, program_routes,
                                                     spec.get("ipipEnabled")))
    if networking_backend(run.env) == "bird":
        network.bird.configure(run.node_name, run.started, tag, pools)
    else:
        network.bird.stop(run.node_name)


def _sync_blackholes(host: HostState, wanted: set[str]) -> None:
    """Felix's route table for its blackhole class: exactly these, with its protocol (80). They stay when Felix
    goes (nothing removes them but a person or a reboot)."""
    mine = [r for r in host.routes if r.startswith("blackhole ") and r.endswith(" proto 80")]
    have = {r.split()[1] for r in mine}
    host.routes[:] = [r for r in host.routes if r not in mine or r.split()[1] in wanted]
    for cidr in sorted(wanted - have):
        host.add_route(f"blackhole {cidr} proto 80")


def bird_ready(run: ContainerRun, now: float) -> tuple[bool, str]:
    """`calico-node -bird-ready` (node/pkg/health/health.go): BIRD must run (its socket answers) and its
    sessions be up as checkBIRDReady requires (sim/bird.py BirdFabric.ready)."""
    if networking_backend(run.env) != "bird" or run.node_name not in run.network.bird.speakers:
        return False, ("calico/node is not ready: BIRD is not ready: Error querying BIRD: unable to connect to "
                       "BIRDv4 socket: dial unix /var/run/calico/bird.ctl: connect: no such file or directory")
    return run.network.bird.ready(run.node_name, now, run.started)


TYPHA_PORT_NAME = "calico-typha"  # typha/pkg/discovery/discovery.go New: k8sServicePortName's default


def typha_service(env: dict[str, str]) -> tuple[str, str] | None:
    """(namespace, name) of the Service through which Felix finds Typha, or None when Felix syncs from the API
    server itself. Calico v3.32.1 felix/config/config_params.go: TyphaK8sServiceName (env FELIX_TYPHAK8SSERVICENAME,
    empty by default) and TyphaK8sNamespace (default kube-system); the value "none" sets a field to its zero value,
    which is how calico.yaml's typha_service_name "none" turns Typha off."""
    name = env.get("FELIX_TYPHAK8SSERVICENAME", "")
    if not name or name.lower() == "none":
        return None
    return env.get("FELIX_TYPHAK8SNAMESPACE") or "kube-system", name


def typha_endpoint(run: ContainerRun) -> str | None:
    """A ready Typha endpoint as Felix discovers one, or None. Calico v3.32.1 felix/daemon/daemon.go: with a Typha
    service configured, Felix's start-up loop runs discovery (typha/pkg/discovery/discovery.go discoverTyphaAddrs)
    and, while it finds no ready endpoint, retries every second without reporting ready; it then connects to one
    (its own node's first). Discovery reads the Service's EndpointSlices: an endpoint of a port named calico-typha,
    ready (here: a pod the Service selects, Ready and not terminating, as the EndpointSlice controller marks it).
    Not modelled: what Felix does when its Typha goes later (it restarts and rediscovers)."""
    namespace, name = typha_service(run.env) or ("", "")
    ctx = run.ctx
    service = ctx.store.find(ctx.rtype("", "services"), namespace, name)
    spec = (service or {}).get("spec") or {}
    selector = spec.get("selector")
    if not selector or not any(p.get("name") == TYPHA_PORT_NAME for p in spec.get("ports") or []):
        return None
    ready = [p for p in ctx.store.items(ctx.pods, namespace)
             if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
             and is_pod_ready(p) and not is_terminating(p) and (p.get("status") or {}).get("podIP")]
    ready.sort(key=lambda p: (p["spec"].get("nodeName") != run.node_name, p["metadata"]["name"]))
    return f"{namespace}/{ready[0]['metadata']['name']}" if ready else None


MIGRATION_LABEL = "projectcalico.org/node-network-during-migration"
LEAK_GRACE_PERIOD = 15 * 60.0  # kube-controllers/pkg/config/runconfig.go: Node.LeakGracePeriod default 15m


class KubeControllers(Server):
    """calico-kube-controllers' IPAM garbage collection of empty blocks, as Calico v3.32.1 does it
    (kube-controllers/pkg/controllers/node/ipam.go releaseUnusedBlocks, ipam_allocation.go blockReleaseTracker):
    a block affine to a node (`host:<node>`) with no allocation is released (block and affinity deleted,
    ReleaseBlockAffinity requireEmpty) once it has been seen empty for longer than LeakGracePeriod, unless
    the node has no other affine block, or the node is "being migrated": nodeIsBeingMigrated finds the
    Kubernetes node's `projectcalico.org/node-network-during-migration` label with a value other than
    `calico` (flannelmigration/migration_controller.go NodeNetworkCalico). A node without the label is not
    being migrated. A skipped block is marked in use (its empty time restarts). The sync runs every
    LeakGracePeriod/2 (acceptScheduleRequests; 5 min when the period is unset); the syncs upstream
    also triggers on every datastore update are not modelled (they only release sooner, never later).
    The grace period is KubeControllersConfiguration `default` spec.controllers.node.leakGracePeriod.
    State lives in the process: a restarted pod starts timing afresh. Only with the node controller enabled
    (ENABLED_CONTROLLERS)."""

    def __init__(self):
        self.empty_since: dict[str, float] = {}
        self.next_sync: float | None = None

    def start(self, run: ContainerRun) -> Outcome:
        self.next_sync = run.started  # syncIPAM runs once the syncer is in sync
        return Outcome(None)

    def _grace(self, run: ContainerRun) -> float | None:
        rtype = run.ctx.registry.lookup(CALICO_GROUP, "v1", "kubecontrollersconfigurations")
        config = run.ctx.store.find(rtype, None, "default") if rtype else None
        value = ((((config or {}).get("spec") or {}).get("controllers") or {}).get("node") or {}).get("leakGracePeriod")
        return LEAK_GRACE_PERIOD if value is None else _parse_go_duration(value)

    def tick(self, run: ContainerRun, now: float) -> float | None:
        if "node" not in run.env.get("ENABLED_CONTROLLERS", "node").split(","):
            return None
        grace = self._grace(run)
        period = grace / 2 if grace else 300.0
        if self.next_sync is not None and now >= self.next_sync:
            self._release_unused_blocks(run, now, grace)
            self.next_sync = now + period
        return self.next_sync

    def _release_unused_blocks(self, run: ContainerRun, now: float, grace: float | None) -> None:
        ctx = run.ctx
        blocks_type = ctx.registry.lookup(CALICO_GROUP, "v1", "ipamblocks")
        affinities_type = ctx.registry.lookup(CALICO_GROUP, "v1", "blockaffinities")
        if blocks_type is None:
            return
        blocks = {b["spec"]["cidr"]: b for b in ctx.store.items(blocks_type)}
        self.empty_since = {c: t for c, t in self.empty_since.items() if c in blocks}  # onBlockDeleted
        by_node: dict[str, set[str]] = {}
        empty: dict[str, str] = {}
        for cidr, block in sorted(blocks.items()):
            affinity = block["spec"].get("affinity") or ""
            if not affinity.startswith("host:"):
                continue
            node = affinity[len("host:"):]
            by_node.setdefault(node, set()).add(cidr)
            if any(a is not None for a in block["spec"].get("allocations") or []):
                self.empty_since.pop(cidr, None)  # markInUse
            else:
                empty[cidr] = node
        for cidr, node in empty.items():
            if len(by_node.get(node, ())) <= 1:
                continue
            k8s_node = ctx.store.find(ctx.nodes, None, node)
            label = ((k8s_node or {}).get("metadata", {}).get("labels") or {}).get(MIGRATION_LABEL)
            if label is not None and label != "calico":
                self.empty_since.pop(cidr, None)  # being migrated from Flannel: skipped, marked in use
                continue
            if not grace:
                continue  # no grace period: block GC disabled
            first = self.empty_since.setdefault(cidr, now)
            if not now - first > grace:
                continue
            run.say(f"[INFO][1] ipam.go: Releasing affinity for empty block (node has {len(by_node[node])} total "
                    f"blocks) blockCIDR=\"{cidr}\" node=\"{node}\"")
            ctx.store.delete(blocks_type, None, blocks[cidr]["metadata"]["name"])
            if affinities_type is not None:
                for affinity in ctx.store.items(affinities_type):
                    if affinity["spec"].get("cidr") == cidr and affinity["spec"].get("node") == node:
                        ctx.store.delete(affinities_type, None, affinity["metadata"]["name"])
            self.empty_since.pop(cidr, None)
            by_node[node].discard(cidr)


def _parse_go_duration(text: str) -> float:
    """time.ParseDuration for the units a Duration field carries (h, m, s, ms)."""
    import re
    total = 0.0
    for number, unit in re.findall(r"([0-9.]+)(h|ms|m|s)", str(text)):
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total


def calico_peers(nodes: list[dict], affinities: list[dict]) -> list[Peer]:
    """Every block Felix routes over VXLAN: affine to a node that has a tunnel address and MAC, and a
    host IPv4 address. In the Kubernetes datastore that address is the node's
    projectcalico.org/IPv4Address annotation (calico-node writes it at startup; a node that never ran
    calico-node has one only if someone set it): without it Felix has no VTEP for the node. Which of these a
    node's vxlan.calico routes depends on its own Felix's view of the pools (sim/vxlan_routes.py)."""
    by_node = {n["metadata"]["name"]: n for n in nodes}
    peers = []
    for affinity in affinities:
        spec = affinity.get("spec") or {}
        node = by_node.get(spec.get("node"))
        if node is None or spec.get("state") != "confirmed" or ":" in spec.get("cidr", ":"):
            continue
        annotations = node["metadata"].get("annotations") or {}
        address, mac = annotations.get(CALICO_TUNNEL_ADDR), annotations.get(CALICO_TUNNEL_MAC)
        internal = (annotations.get(CALICO_IPV4_ADDRESS) or "").split("/")[0] or None
        if address and mac and internal:
            peers.append(Peer(node["metadata"]["name"], ipaddress.ip_network(spec["cidr"]), address, mac, internal))
    return peers


def program_for(pod: dict, container: dict, init: bool) -> Program:
    """Which program a container runs, decided from its image and command as a node would. The image is
    known by its identity (container.image_identity), so a mirrored Flannel or Calico runs as itself."""
    project, name = image_identity(container.get("image", ""))
    argv = list(container.get("command") or []) + list(container.get("args") or [])
    first = argv[0] if argv else ""
    if container.get("command") and posixpath.basename(first) in SHELLS:
        return Shell()  # a command given in the pod spec replaces the image's entrypoint, whatever the image
    if first.endswith("flanneld") or ((project, name) == ("flannel", "flannel") and not argv and not init):
        return Flanneld()
    if first.endswith("install-conf"):
        return InstallConf()
    if (project, name) == ("calico", "cni"):
        if first.endswith("calico-ipam"):
            return Exits()
        return CalicoInstallCni()
    if (project, name) == ("calico", "node"):
        if init or "-init" in argv:
            return Exits()
        return CalicoNode()
    if (project, name) == ("calico", "kube-controllers") and not init:
        return KubeControllers()
    if project == "calico" and name in ("kube-controllers", "typha", "pod2daemon-flexvol", "csi",
                                        "node-driver-registrar"):
        return Exits() if init else Server()
    if argv and (posixpath.basename(argv[0]) in SHELLS or name in SHELL_IMAGES):
        return Shell()
    return Server()  # an application image runs its own binary: a long-running server
