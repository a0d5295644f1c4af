"""The CNI plugins a node can run, acting on the node's host model as the real binaries do.

The kubelet (through the container runtime) uses the lexicographically first config file
in /etc/cni/net.d; every plugin named there must exist in /opt/cni/bin. Errors read as
the runtime reports them, because that is what a user sees in `kubectl describe pod`.
"""
from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
from dataclasses import dataclass, field

from .host import HostState, Interface

NET_D = "/etc/cni/net.d"
BIN_DIR = "/opt/cni/bin"
CONFIG_SUFFIXES = (".conf", ".conflist", ".json")
# What the kubernetes-cni package puts on every node.
STANDARD_PLUGINS = ("bridge", "host-local", "loopback", "portmap", "bandwidth", "tuning", "ptp", "static")
FLANNEL_SUBNET_ENV = "/run/flannel/subnet.env"
CALICO_NODENAME = "/var/lib/calico/nodename"
CNI_NOT_INITIALIZED = "cni plugin not initialized"  # go-cni's ErrCNINotInitialized


@functools.lru_cache(maxsize=8192)  # the same few subnets are parsed for every pod
def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text, strict=False)


@functools.lru_cache(maxsize=8192)
def parse_interface(text: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    return ipaddress.ip_interface(text)


class CniError(Exception):
    """A failed CNI ADD: the pod stays in ContainerCreating and the kubelet retries."""


@dataclass
class Attachment:
    """How a pod is wired into its node: what the oracle checks is still intact."""
    ip: str
    plugin: str               # "flannel", "calico", "bridge"
    veth: str
    bridge: Interface | None = None
    ipam_file: str | None = None
    ipam_block: tuple[str, str] | None = None   # (namespace-less CR name, ip) for calico-ipam
    extra: dict = field(default_factory=dict)
    mtu: int = 1500           # the pod's interface MTU, as the CNI config it was created with set it
    container_id: str = ""    # the sandbox's CNI_CONTAINERID (the pod's uid here), written in its reservation
    network: str = ""         # the CNI network (config name) that set it up


def active_config(host: HostState) -> tuple[str | None, dict | None, str | None]:
    """(file name, parsed config, error) of the config the runtime would use."""
    names = sorted(n for n in host.list_dir(NET_D) if n.endswith(CONFIG_SUFFIXES))
    if not names:
        return None, None, "cni plugin not initialized"
    name = names[0]
    text = host.read_file(f"{NET_D}/{name}") or ""
    try:
        config = json.loads(text)
    except ValueError as exc:
        return name, None, f"error parsing configuration: {NET_D}/{name}: {exc}"
    if not isinstance(config, dict):
        return name, None, f"error parsing configuration: {NET_D}/{name}: not a JSON object"
    if name.endswith(".conflist") or "plugins" in config:
        plugins = config.get("plugins")
        if not isinstance(plugins, list) or not plugins:
            return name, None, f"error parsing configuration list: no plugins in list ({NET_D}/{name})"
    elif not config.get("type"):
        return name, None, f'error parsing configuration: missing \'type\' ({NET_D}/{name})'
    return name, config, None


def network_ready(host: HostState) -> tuple[bool, str]:
    """The runtime's NetworkReady: a loadable config exists (plugins may still fail per pod)."""
    _name, config, _error = active_config(host)
    if config is None:
        # containerd's go-cni resets its networks when a load fails, so a missing and an unloadable
        # config read the same: the runtime only says the plugin is not initialized.
        return False, ("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
                       f"message:Network plugin returns error: {CNI_NOT_INITIALIZED}")
    return True, ""


def plugin_chain(config: dict) -> list[dict]:
    return list(config["plugins"]) if "plugins" in config else [config]


def veth_name(prefix: str, namespace: str, pod: str) -> str:
    """Host-side veth names as the plugins make them: the bridge plugin's `veth` + 8 hex digits,
    Calico's `cali` + 11 (both stable per pod here, for reproducible runs)."""
    digest = hashlib.sha1(f"{namespace}.{pod}".encode()).hexdigest()
    return f"{prefix}{digest[:8 if prefix == 'veth' else 15 - len(prefix)]}"


# ---- host-local IPAM ----------------------------------------------------------------
def host_local_allocate(host: HostState, network_name: str, subnet: str, gateway: str | None,
                        container_id: str) -> tuple[str, str]:
    """Next free address after the last reserved one, as host-local does; (ip, state file)."""
    net = parse_network(subnet)
    state_dir = f"/var/lib/cni/networks/{network_name}"
    last_file = f"{state_dir}/last_reserved_ip.0"
    first, last_host = int(net.network_address) + 1, int(net.broadcast_address) - 1
    gateway_ip = int(ipaddress.ip_address(gateway)) if gateway else first
    size = last_host - first + 1
    start = first
    last = host.read_file(last_file)
    if last:
        try:
            start = int(ipaddress.ip_address(last.strip())) + 1
        except ValueError:
            start = first
    for offset in range(size):
        candidate = first + (start - first + offset) % size
        if candidate == gateway_ip:
            continue
        ip = str(ipaddress.ip_address(candidate))
        path = f"{state_dir}/{ip}"
        if not host.is_file(path):
            host.write_file(path, container_id)
            host.write_file(last_file, ip)
            return ip, path
    raise CniError(f"failed to allocate for range 0: no IP addresses available in range set: "
                   f"{ipaddress.ip_address(first)}-{ipaddress.ip_address(last_host)}")


def host_local_release(host: HostState, network_name: str, container_id: str) -> None:
    """host-local's DEL: every reservation of the container in the network's directory goes; last_reserved_ip
    stays (containernetworking/plugins plugins/ipam/host-local/backend/disk/backend.go ReleaseByID)."""
    state_dir = f"/var/lib/cni/networks/{network_name}"
    for name in host.list_dir(state_dir):
        path = f"{state_dir}/{name}"
        if not name.startswith("last_reserved_ip") and (host.read_file(path) or "").strip() == container_id:
            host.remove_file(path)


def read_subnet_env(host: HostState) -> dict[str, str]:
    text = host.read_file(FLANNEL_SUBNET_ENV)
    if text is None:
        raise CniError(f"plugin type=\"flannel\" failed (add): loadFlannelSubnetEnv failed: open "
                       f"{FLANNEL_SUBNET_ENV}: no such file or directory")
    values = {}
    for line in text.splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def ensure_bridge(host: HostState, name: str, gateway_cidr: str, mtu: int, mac: str) -> Interface:
    bridge = host.interfaces.get(name)
    if bridge is None:
        bridge = Interface(name=name, kind="bridge", mac=mac, mtu=mtu, addresses=[gateway_cidr])
        host.add_interface(bridge)
    elif gateway_cidr not in bridge.addresses:
        # The bridge plugin refuses a bridge that carries another subnet's gateway.
        other = ", ".join(bridge.addresses) or "none"
        raise CniError(f'plugin type="bridge" failed (add): failed to set bridge addr: "{name}" already has an IP '
                       f"address different from {gateway_cidr} ({other})")
    return bridge
