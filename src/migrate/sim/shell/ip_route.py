"""``ip route``: show, add, replace, delete and flush."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .common import IO
from .ip_link import IpOptions, keyword_matches

if TYPE_CHECKING:
    from .interpreter import Shell


_ROUTE_TYPES = ("unicast", "local", "broadcast", "blackhole", "unreachable", "prohibit", "throw", "multicast")
_ROUTE_KEYS = ("via", "dev", "proto", "scope", "src", "metric", "table", "mtu", "weight", "realm")


@dataclass
class _Route:
    kind: str | None
    destination: str
    values: dict[str, str]
    flags: list[str]


def _parse_route(tokens: list[str]) -> _Route:
    tokens = list(tokens)
    kind = tokens.pop(0) if tokens and tokens[0] in _ROUTE_TYPES else None
    destination, values, flags = None, {}, []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token in _ROUTE_KEYS and index + 1 < len(tokens):
            values[token] = tokens[index + 1]
            index += 2
            continue
        if token == "to" and index + 1 < len(tokens):
            destination = tokens[index + 1]
            index += 2
            continue
        if destination is None and token not in ("onlink", "pervasive", "linkdown"):
            destination = token
        else:
            flags.append(token)
        index += 1
    return _Route(kind, destination or "", values, flags)


def _network(destination: str):
    if destination in ("default", "all", "any"):
        return ipaddress.ip_network("0.0.0.0/0")
    try:
        return ipaddress.ip_network(destination, strict=False)
    except ValueError:
        return None


def _route_text(route: _Route) -> str:
    parts = [route.kind] if route.kind and route.kind != "unicast" else []
    network = _network(route.destination)
    if route.destination == "default" or (network is not None and network.prefixlen == 0):
        parts.append("default")
    elif network is not None and network.prefixlen == network.max_prefixlen:
        parts.append(str(network.network_address))  # ip prints host routes without /32
    else:
        parts.append(str(network) if network is not None else route.destination)
    for key in ("via", "dev", "proto", "scope", "src", "metric"):
        if key in route.values:
            parts.append(f"{key} {route.values[key]}")
    return " ".join(parts + route.flags)


def _route_sort_key(line: str) -> tuple[int, int, int]:
    network = _network(_parse_route(line.split()).destination)
    if network is None:
        return (2, 0, 0)
    return (network.version, int(network.network_address), network.prefixlen)


def ip_route(sh: Shell, io: IO, options: IpOptions, args: list[str]) -> int:
    if not args:
        return _ip_route_show(sh, io, options, [])
    sub, rest = args[0], args[1:]
    if keyword_matches(sub, "add") or keyword_matches(sub, "append"):
        return _ip_route_add(sh, io, rest, replace=False)
    if keyword_matches(sub, "replace") or keyword_matches(sub, "change"):
        return _ip_route_add(sh, io, rest, replace=True)
    if keyword_matches(sub, "delete"):
        return _ip_route_delete(sh, io, rest)
    if keyword_matches(sub, "show") or keyword_matches(sub, "list") or keyword_matches(sub, "lst"):
        return _ip_route_show(sh, io, options, rest)
    if keyword_matches(sub, "flush"):
        return _ip_route_flush(sh, io, rest)
    if keyword_matches(sub, "get"):
        io.err("ip: 'ip route get' is not modelled by the simulator\n")
        return 2
    io.err(f'Command "{sub}" is unknown, try "ip route help".\n')
    return 255


def _route_matches(line: str, wanted: _Route) -> bool:
    route = _parse_route(line.split())
    if wanted.destination and _network(route.destination) != _network(wanted.destination):
        return False
    return all(route.values.get(key) == value for key, value in wanted.values.items()
               if key not in ("table",))


def _ip_route_show(sh: Shell, io: IO, options: IpOptions, args: list[str]) -> int:
    wanted = _parse_route(args)
    family = 6 if options.family == 6 else 4
    device = wanted.values.get("dev")
    if device is not None and device not in sh.host.interfaces:
        io.err(f'Cannot find device "{device}"\n')
        return 1
    programmed = [line for line in sh.host.programmed_routes() if line not in sh.host.routes]
    for line in sorted(sh.host.routes + programmed, key=_route_sort_key):
        network = _network(_parse_route(line.split()).destination)
        if network is None or network.version != family or not _route_matches(line, wanted):
            continue
        if device:  # filtering by device leaves it out of each line, as ip does
            line = re.sub(rf" dev {re.escape(device)}(?= |$)", "", line)
        io.out(line + "\n")
    return 0


def _ip_route_add(sh: Shell, io: IO, args: list[str], replace: bool) -> int:
    route = _parse_route(args)
    try:
        network = ipaddress.ip_network("0.0.0.0/0" if route.destination == "default" else route.destination)
    except ValueError:
        io.err("Error: Invalid prefix for given prefix length.\n")
        return 2
    device = route.values.get("dev")
    if device is not None and device not in sh.host.interfaces:
        io.err(f'Cannot find device "{device}"\n')
        return 1
    if "via" not in route.values and "scope" not in route.values and route.kind in (None, "unicast"):
        route.values["scope"] = "link"  # the kernel's choice for a route without a gateway
    existing = [line for line in sh.host.routes
                if _network(_parse_route(line.split()).destination) == network]
    if existing and not replace:
        io.err("RTNETLINK answers: File exists\n")
        return 2
    sh.host.routes[:] = [line for line in sh.host.routes if line not in existing]
    sh.host.add_route(_route_text(route))
    return 0


def _ip_route_delete(sh: Shell, io: IO, args: list[str]) -> int:
    wanted = _parse_route(args)
    for line in sh.host.routes:
        if wanted.destination and _route_matches(line, wanted):
            sh.host.routes.remove(line)
            return 0
    io.err("RTNETLINK answers: No such process\n")
    return 2


def _ip_route_flush(sh: Shell, io: IO, args: list[str]) -> int:
    wanted = _parse_route(args)
    if not wanted.destination and not wanted.values:
        io.err('"ip route flush" requires arguments.\n')
        return 255
    sh.host.routes[:] = [line for line in sh.host.routes if not _route_matches(line, wanted)]
    return 0
