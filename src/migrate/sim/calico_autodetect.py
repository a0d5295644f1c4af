"""calico-node's IPv4 address detection at startup, as Calico v3.32.1 does it.

Modelled from projectcalico/calico v3.32.1:
- node/pkg/lifecycle/startup/startup.go, configureIPsAndSubnets: with IP=autodetect (the manifest's
  value), or IP unset while the Node has no IPv4 address yet, the address comes from
  IP_AUTODETECTION_METHOD and replaces whatever the Node had; a method that finds nothing keeps an
  existing address, and with none calico-node exits ("failed to autodetect an IPv4 address"). IP=none
  keeps the Node's address; any other IP value is used as given (its subnet taken from the interface
  that holds it, GetLocalCIDR). The result, "address/prefix", is the Node's BGP IPv4Address (the
  projectcalico.org/IPv4Address annotation in the Kubernetes datastore), which Felix uses as the
  VTEP's parent device address: the underlay address other nodes send VXLAN to and the source address
  of this node's VXLAN packets (felix/dataplane/linux/vxlan_mgr.go: ParentDeviceIp, vxlan.SrcAddr).
- node/pkg/lifecycle/startup/autodetection/autodetection_methods.go, AutoDetectCIDR: first-found (or no
  method), interface=, skip-interface=, cidr=, can-reach=, kubernetes-internal-ip; anything else
  terminates calico-node.
- .../autodetection/interfaces.go, GetInterfaces: walks the host's links in *reverse* order ("Loop in
  reverse order to maintain behavior with older versions"; the kernel lists links by ifindex), keeping
  those an include regex matches and no exclude regex matches (Go's MatchString: a search, not a full
  match).
- .../autodetection/filtered.go, FilteredEnumeration: the first global unicast address (optionally
  inside one of the cidr= CIDRs) of the first interface that has one.
- .../autodetection/autodetection_linux.go, DEFAULT_INTERFACES_TO_EXCLUDE: what first-found skips.
- .../autodetection/reachaddr.go, ReachDestination: the source address the kernel picks to reach the
  destination (a UDP "connect", no packet sent), matched to an interface's CIDR.

So on a host whose second NIC came after eth0 (higher ifindex), first-found picks the second NIC.
"""
from __future__ import annotations

import ipaddress
import re

from .host import HostState

DEFAULT_INTERFACES_TO_EXCLUDE = (
    "^docker.*", "^cbr.*", "^dummy.*", "^podman.*",
    "^virbr.*", "^lxcbr.*", "^veth.*", "^lo", "^br-.*",
    "^cali.*", "^tunl.*", "^flannel.*", "^kube-ipvs.*", "^cni.*",
    r"^vxlan\.calico.*", r"^vxlan-v6\.calico.*", r"^wireguard\.cali.*", r"^wg-v6\.cali.*",
    "^nodelocaldns.*",
)


class AutodetectionFailed(Exception):
    """calico-node exits: the message is the line it logs."""


def node_ipv4_address(env: dict[str, str], host: HostState, k8s_node: dict, existing: str | None) -> str:
    """configureIPsAndSubnets for IPv4: the address/prefix calico-node writes on its Node."""
    ip_env = env.get("IP", "")
    if ip_env == "autodetect" or (ip_env == "" and not existing):
        detected = autodetect_cidr(env.get("IP_AUTODETECTION_METHOD", ""), host, k8s_node)
        if detected is not None:
            return detected
        if not existing:
            raise AutodetectionFailed("Couldn't autodetect an IPv4 address. If auto-detecting, choose a different "
                                      "autodetection method. Otherwise provide an explicit address.")
        return existing  # "Autodetection of IPv4 address failed, keeping existing value"
    if ip_env == "none" and existing:
        return existing
    if ip_env not in ("", "none"):
        value = local_cidr(ip_env, host)
        try:
            parsed = ipaddress.ip_interface(value)
        except ValueError:
            raise AutodetectionFailed(f"Environment does not contain a valid IPv4 address: IP={value}") from None
        if parsed.version != 4:
            raise AutodetectionFailed(f"Environment does not contain a valid IPv4 address: IP={value}")
        return str(parsed)  # a bare address parses as a /32 (cnet.IPNet's ParseCIDROrIP)
    return existing or ""


def autodetect_cidr(method: str, host: HostState, k8s_node: dict) -> str | None:
    """AutoDetectCIDR for IPv4: "address/prefix", or None when the method finds nothing."""
    if method in ("", "first-found"):
        return _filtered(host, [], list(DEFAULT_INTERFACES_TO_EXCLUDE), [])
    if method.startswith("interface="):
        return _filtered(host, _split(method[len("interface="):]), [], [])
    if method.startswith("cidr="):
        try:
            cidrs = [ipaddress.ip_network(c, strict=False) for c in _split(method[len("cidr="):])]
        except ValueError:
            return None  # "Invalid CIDR %q for IP autodetection method"
        return _filtered(host, [], [], cidrs)
    if method.startswith("can-reach="):
        return _reach(method[len("can-reach="):], host)
    if method.startswith("skip-interface="):
        return _filtered(host, [], [*DEFAULT_INTERFACES_TO_EXCLUDE, *_split(method[len("skip-interface="):])], [])
    if method.startswith("kubernetes-internal-ip"):
        for address in (k8s_node.get("status") or {}).get("addresses") or []:
            if address.get("type") == "InternalIP" and ":" not in address.get("address", ":"):
                found = local_cidr(address["address"], host)
                # ParseCIDR of a bare address (no interface holds it) fails: nothing detected
                return found if "/" in found else None
        return None
    raise AutodetectionFailed(f"Invalid IP autodetection method: {method}")


def local_cidr(ip: str, host: HostState) -> str:
    """GetLocalCIDR: the interface CIDR holding `ip` (all interfaces, none excluded), else `ip` as given."""
    if "/" in ip:
        return ip
    wanted = ipaddress.ip_address(ip)
    for _name, cidr in _interfaces(host, [], []):
        if cidr.ip == wanted:
            return str(cidr)
    return ip


def _split(text: str) -> list[str]:
    return re.split(r"\s*,\s*", text)


def _interfaces(host: HostState, include: list[str], exclude: list[str]) -> list[tuple[str, ipaddress.IPv4Interface]]:
    """GetInterfaces: (name, IPv4 address/prefix) in reverse ifindex order, filtered by the regexes."""
    inc = re.compile("(" + ")|(".join(include) + ")") if include else None
    exc = re.compile("(" + ")|(".join(exclude) + ")") if exclude else None
    found = []
    for iface in sorted(host.interfaces.values(), key=lambda i: i.index, reverse=True):
        if (inc is None or inc.search(iface.name)) and not (exc is not None and exc.search(iface.name)):
            for address in iface.addresses:
                cidr = ipaddress.ip_interface(address)
                if cidr.version == 4:
                    found.append((iface.name, cidr))
    return found


def _global_unicast(ip: ipaddress.IPv4Address) -> bool:
    """Go's net.IP.IsGlobalUnicast (private ranges count as global unicast there)."""
    return not (ip.is_unspecified or ip.is_loopback or ip.is_multicast or ip.is_link_local
                or ip == ipaddress.IPv4Address("255.255.255.255"))


def _filtered(host: HostState, include: list[str], exclude: list[str],
              cidrs: list[ipaddress.IPv4Network]) -> str | None:
    for _name, cidr in _interfaces(host, include, exclude):
        if _global_unicast(cidr.ip) and (not cidrs or any(cidr.ip in c for c in cidrs)):
            return str(cidr)
    return None


def _reach(dest: str, host: HostState) -> str | None:
    """ReachDestination: the kernel's source address towards `dest`: an interface whose subnet holds it,
    else the default route's, which in the simulation is always eth0 (the VPC NIC)."""
    try:
        target = ipaddress.ip_address(dest)
    except ValueError:
        return None
    source = None
    for iface in sorted(host.interfaces.values(), key=lambda i: i.index):
        for address in iface.addresses:
            cidr = ipaddress.ip_interface(address)
            if cidr.version == 4 and iface.up and cidr.network.prefixlen < 32 and target in cidr.network \
                    and not cidr.ip.is_loopback:
                source = source or cidr.ip
    if source is None and "eth0" in host.interfaces:
        source = ipaddress.ip_interface(host.interfaces["eth0"].addresses[0]).ip
    if source is None:
        return None
    for _name, cidr in _interfaces(host, [], []):
        if cidr.ip == source:
            return str(cidr)
    return None
