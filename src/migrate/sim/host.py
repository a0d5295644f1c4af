"""The host of one simulated Kubernetes node.

``HostState`` models what a Flannel to Calico migration touches on a node:
files, network links, routes, iptables/ip6tables rules, ipsets and nftables tables.
The shell that a node's pods run against it lives in ``migrate.sim.shell``;
``run_shell`` and ``ShellResult`` are importable from here too.

Every change to a host's containers (``files``, ``directories``,
``interfaces``, ``routes``, ``iptables``, ...) happens in place: a container's
view of a node shares those objects, so replacing one would cut it off.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import ipaddress
import posixpath
import zlib
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .shell import ShellResult, run_shell

__all__ = ["BUILTIN_CHAINS", "HostState", "Interface", "ShellResult", "run_shell"]

BUILTIN_CHAINS: dict[str, tuple[str, ...]] = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "raw": ("PREROUTING", "OUTPUT"),
}


@dataclass
class Interface:
    """One network link, as ``ip link`` shows it."""

    name: str
    kind: str  # "ether", "bridge", "vxlan", "ipip", "veth", "wireguard", "loopback"
    mac: str = ""
    mtu: int = 1500
    addresses: list[str] = field(default_factory=list)  # CIDR strings
    up: bool = True
    vni: int | None = None  # vxlan only
    port: int | None = None  # vxlan only (UDP destination port)
    local_ip: str | None = None  # vxlan/ipip underlay address
    master: str | None = None  # e.g. a veth enslaved to cni0
    index: int = field(default=0, compare=False)  # ifindex; the host assigns it


def normpath(path: str) -> str:
    """An absolute path with ``.``, ``..`` and repeated slashes resolved."""
    normal = posixpath.normpath(path if path.startswith("/") else "/" + path)
    return "/" + normal.lstrip("/")


def stable_mac(seed: str) -> str:
    """A locally administered unicast MAC derived from a seed (reproducible runs)."""
    digest = hashlib.sha1(seed.encode()).digest()
    return ":".join(f"{b:02x}" for b in bytes([(digest[0] | 0x02) & 0xFE]) + digest[1:6])


def derived_mac(*seeds: str) -> str:
    """A stable, locally administered MAC for a simulated device."""
    digest = zlib.crc32("/".join(seeds).encode())
    return "52:54:00:%02x:%02x:%02x" % ((digest >> 16) & 0xFF, (digest >> 8) & 0xFF, digest & 0xFF)


@functools.lru_cache(maxsize=4096)
def connected_route(device: str, cidr: str) -> str | None:
    """The route the kernel adds for an address's subnet (none for /32 or lo)."""
    address = ipaddress.ip_interface(cidr)
    if address.version != 4 or address.network.prefixlen >= 32 or address.ip.is_loopback:
        return None
    return f"{address.network} dev {device} proto kernel scope link src {address.ip}"


def _route_uses_dev(route: str, device: str) -> bool:
    tokens = route.split()
    return any(tokens[i] == "dev" and tokens[i + 1] == device for i in range(len(tokens) - 1))


# Directories every node has even when no file under them is modelled.
def _no_routes() -> list[str]:
    return []


_BASE_DIRECTORIES = ("/etc", "/root", "/run", "/tmp", "/var/lib", "/var/log")


def _fresh_iptables() -> dict[str, dict[str, list[str]]]:
    return {table: {chain: [] for chain in chains} for table, chains in BUILTIN_CHAINS.items()}


def _fresh_policies() -> dict[str, dict[str, str]]:
    return {table: {chain: "ACCEPT" for chain in chains} for table, chains in BUILTIN_CHAINS.items()}


class HostState:
    """Everything on one node that the migration reads or changes.

    Files are a flat ``path -> content`` map; directories are implied by the
    paths under them, and ``directories`` remembers the ones that exist on
    their own (made by ``mkdir``, or emptied by removing their last file).
    """

    def __init__(self, node_name: str, host_ip: str = "192.168.0.10/24", mac: str | None = None):
        self.node_name = node_name
        self.files: dict[str, str] = {"/proc/sys/net/ipv4/ip_forward": "1\n"}
        self.directories: set[str] = set(_BASE_DIRECTORIES)
        self.interfaces: dict[str, Interface] = {}
        self.iptables = _fresh_iptables()
        self.ip6tables = _fresh_iptables()
        self.iptables_policies = _fresh_policies()
        self.ip6tables_policies = _fresh_policies()
        self.nftables: dict[tuple[str, str], list[str]] = {}
        # ipset name -> members (addresses or CIDRs); Felix's sets outlive it (see felix_tables)
        self.ipsets: dict[str, set[str]] = {}
        self.routes: list[str] = []
        # The routes agents keep programmed (flanneld, Felix, BIRD), rendered as `ip route` lines: read live from
        # the network model (Network.route_lines), shown by `ip route show`; not changed by `ip route del`.
        self.programmed_routes: Callable[[], list[str]] = _no_routes
        self._next_ifindex = 1
        self.add_interface(Interface("lo", "loopback", mac="00:00:00:00:00:00", mtu=65536,
                                     addresses=["127.0.0.1/8", "::1/128"]))
        self.add_interface(Interface("eth0", "ether", mac=mac or derived_mac(node_name, "eth0"),
                                     addresses=[host_ip]))

    def __repr__(self) -> str:
        return f"HostState({self.node_name!r}, interfaces={sorted(self.interfaces)})"

    # ---------------------------------------------------------- files

    def write_file(self, path: str, content: str) -> None:
        self.files[normpath(path)] = content

    def read_file(self, path: str) -> str | None:
        return self.files.get(normpath(path))

    def remove_file(self, path: str) -> bool:
        path = normpath(path)
        if path not in self.files:
            return False
        del self.files[path]
        self._keep_directory(posixpath.dirname(path))  # a directory outlives its last file
        return True

    def is_file(self, path: str) -> bool:
        return normpath(path) in self.files

    def is_dir(self, path: str) -> bool:
        path = normpath(path)
        if path == "/" or path in self.directories:
            return True
        prefix = path + "/"
        return any(p.startswith(prefix) for p in self.files) or any(
            d.startswith(prefix) for d in self.directories)

    def exists(self, path: str) -> bool:
        return self.is_file(path) or self.is_dir(path)

    def list_dir(self, path: str) -> list[str]:
        prefix = normpath(path).rstrip("/") + "/"
        names = {p[len(prefix):].split("/", 1)[0]
                 for p in [*self.files, *self.directories] if p.startswith(prefix)}
        return sorted(name for name in names if name)

    def make_dir(self, path: str) -> None:
        self._keep_directory(normpath(path))

    def remove_tree(self, path: str) -> None:
        """Remove a file or a directory with everything under it."""
        path = normpath(path)
        prefix = path + "/"
        for doomed in [p for p in self.files if p == path or p.startswith(prefix)]:
            del self.files[doomed]
        self.directories.difference_update([d for d in self.directories if d == path or d.startswith(prefix)])
        self._keep_directory(posixpath.dirname(path))

    def _keep_directory(self, path: str) -> None:
        if path != "/":
            self.directories.add(path)

    # ---------------------------------------------------------- links and routes

    def add_interface(self, iface: Interface) -> None:
        """Add a link; like the kernel, an up link gets its subnet routes."""
        if not iface.index:
            iface.index = self._next_ifindex
        self._next_ifindex = max(self._next_ifindex, iface.index + 1)
        self.interfaces[iface.name] = iface
        if iface.up:
            self.add_connected_routes(iface)

    def delete_interface(self, name: str) -> bool:
        if self.interfaces.pop(name, None) is None:
            return False
        self.drop_routes_via(name)
        for other in self.interfaces.values():
            if other.master == name:
                other.master = None
        return True

    def add_route(self, route: str) -> bool:
        """Append a route line unless an identical one is there already."""
        normal = " ".join(route.split())
        if any(" ".join(existing.split()) == normal for existing in self.routes):
            return False
        self.routes.append(normal)
        return True

    def add_connected_routes(self, iface: Interface) -> None:
        for cidr in iface.addresses:
            route = connected_route(iface.name, cidr)
            if route:
                self.add_route(route)

    def drop_routes_via(self, device: str) -> None:
        self.routes[:] = [r for r in self.routes if not _route_uses_dev(r, device)]

    # ---------------------------------------------------------- iptables

    def ensure_chain(self, table: str, chain: str) -> None:
        self.iptables.setdefault(table, {}).setdefault(chain, [])

    def delete_chain(self, table: str, chain: str) -> bool:
        return self.iptables.get(table, {}).pop(chain, None) is not None

    def add_rule(self, table: str, chain: str, rule: str) -> None:
        """Append a rule given in ``iptables -S`` form, with or without ``-A CHAIN``."""
        self.ensure_chain(table, chain)
        rule = " ".join(rule.split())
        if not rule.startswith("-A "):
            rule = f"-A {chain} {rule}"
        self.iptables[table][chain].append(rule)

    # ---------------------------------------------------------- pictures

    def snapshot(self) -> dict:
        """A plain, JSON-serialisable picture of the host."""
        return {
            "node_name": self.node_name,
            "files": dict(sorted(self.files.items())),
            "directories": sorted(self.directories),
            "interfaces": {name: asdict(iface) for name, iface in self.interfaces.items()},
            "routes": list(self.routes),
            "iptables": copy.deepcopy(self.iptables),
            "iptables_policies": copy.deepcopy(self.iptables_policies),
            "ip6tables": copy.deepcopy(self.ip6tables),
            "ip6tables_policies": copy.deepcopy(self.ip6tables_policies),
            "nftables": {f"{family} {name}": list(body)
                         for (family, name), body in self.nftables.items()},
            "ipsets": {name: sorted(members) for name, members in sorted(self.ipsets.items())},
        }

    def copy(self) -> HostState:
        return copy.deepcopy(self)


def __getattr__(name: str):
    """``run_shell`` and ``ShellResult`` come from the shell package, which imports this module.

    Importing them on first use keeps either import order working.
    """
    if name in ("run_shell", "ShellResult"):
        from . import shell

        return getattr(shell, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
