"""``ip address``: show, add, replace, delete and flush."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from ..host import HostState, Interface, connected_route
from .common import IO
from .ip_link import (IpOptions, display_name, ip_selector, keyword_matches, link_address_line, link_header,
                      operstate, render_block, report_garbage, sorted_links)

if TYPE_CHECKING:
    from .interpreter import Shell


def ip_addr(sh: Shell, io: IO, options: IpOptions, args: list[str]) -> int:
    if not args:
        return _ip_addr_show(sh, io, options, [])
    sub, rest = args[0], args[1:]
    if keyword_matches(sub, "add") or keyword_matches(sub, "replace") or keyword_matches(sub, "change"):
        return _ip_addr_add(sh, io, rest, replace=not keyword_matches(sub, "add"))
    if keyword_matches(sub, "delete"):
        return _ip_addr_delete(sh, io, rest)
    if keyword_matches(sub, "show") or keyword_matches(sub, "list") or keyword_matches(sub, "lst"):
        return _ip_addr_show(sh, io, options, rest)
    if keyword_matches(sub, "flush"):
        return _ip_addr_flush(sh, io, options, rest)
    io.err(f'Command "{sub}" is unknown, try "ip addr help".\n')
    return 255


def _family_of(cidr: str) -> int:
    return ipaddress.ip_interface(cidr).version


def _address_lines(link: Interface, cidr: str) -> list[str]:
    address = ipaddress.ip_interface(cidr)
    scope = "host" if address.ip.is_loopback else "link" if address.ip.is_link_local else "global"
    if address.version == 4:
        has_broadcast = address.network.prefixlen < 31 and not address.ip.is_loopback
        broadcast = f" brd {address.network.broadcast_address}" if has_broadcast else ""
        first = f"    inet {cidr}{broadcast} scope {scope} {link.name}"
    else:
        first = f"    inet6 {cidr} scope {scope} "
    return [first, "       valid_lft forever preferred_lft forever"]


def _ip_addr_show(sh: Shell, io: IO, options: IpOptions, args: list[str]) -> int:
    name, filters, garbage = ip_selector(args, ("scope", "label", "to", "type", "master"))
    if garbage:
        return report_garbage(io, garbage)
    host = sh.host
    if name is not None and name not in host.interfaces:
        io.err(f'Device "{name}" does not exist.\n')
        return 1
    only_family = options.family if options.family in (4, 6) else None
    # `to PREFIX` lists only the addresses inside PREFIX, and only links that have one (iproute2 ip/ipaddress.c
    # ipaddr_filter, inet_addr_match)
    prefix = _parse_cidr(filters["to"]) if filters.get("to") else None
    if filters.get("to") and prefix is None:
        io.err(f'Error: any valid prefix is expected rather than "{filters["to"]}".\n')
        return 1
    for link in [host.interfaces[name]] if name else sorted_links(host):
        if filters.get("up") and not link.up:
            continue
        addresses = [a for a in link.addresses if only_family in (None, _family_of(a))]
        if prefix is not None:
            addresses = [a for a in addresses if _parse_cidr(a) is not None
                         and _parse_cidr(a).ip in prefix.network]
            if not addresses:
                continue
        if only_family and not addresses:
            continue  # "ip -4 addr" skips links without IPv4 addresses
        if options.brief:
            io.out(f"{display_name(link):<16} {operstate(host, link):<14} {' '.join(addresses)} \n")
            continue
        lines = [link_header(host, link, with_mode=False)]
        if only_family is None:
            lines.append(link_address_line(link))
        for cidr in addresses:
            lines.extend(_address_lines(link, cidr))
        io.out(render_block(lines, options))
    return 0


def _parse_cidr(text: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface | None:
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        return None


def _address_target(sh: Shell, io: IO, args: list[str]):
    """Common argument handling of ``ip addr add|del ADDRESS dev NAME``."""
    name = address_text = None
    items = iter(args)
    for arg in items:
        if arg == "dev":
            name = next(items, None)
        elif arg in ("brd", "broadcast", "label", "scope", "peer", "valid_lft", "preferred_lft", "metric"):
            next(items, None)
        elif arg in ("local",):
            address_text = next(items, None)
        elif address_text is None:
            address_text = arg
    if name is None:
        io.err('Not enough information: "dev" argument is required.\n')
        return None, None, 255
    address = _parse_cidr(address_text or "")
    if address is None:
        io.err(f'Error: any valid prefix is expected rather than "{address_text}".\n')
        return None, None, 1
    link = sh.host.interfaces.get(name)
    if link is None:
        io.err(f'Cannot find device "{name}"\n')
        return None, None, 1
    return link, address, 0


def _ip_addr_add(sh: Shell, io: IO, args: list[str], replace: bool) -> int:
    link, address, status = _address_target(sh, io, args)
    if status:
        return status
    if any(_parse_cidr(existing) == address for existing in link.addresses):
        if replace:
            return 0
        io.err("RTNETLINK answers: File exists\n")
        return 2
    link.addresses.append(str(address))
    if link.up:
        route = connected_route(link.name, str(address))
        if route:
            sh.host.add_route(route)
    return 0


def _ip_addr_delete(sh: Shell, io: IO, args: list[str]) -> int:
    link, address, status = _address_target(sh, io, args)
    if status:
        return status
    matching = [cidr for cidr in link.addresses if _parse_cidr(cidr) == address]
    if not matching:
        io.err("RTNETLINK answers: Cannot assign requested address\n")
        return 2
    _remove_addresses(sh.host, link, matching[:1])
    return 0


def _ip_addr_flush(sh: Shell, io: IO, options: IpOptions, args: list[str]) -> int:
    name, _, garbage = ip_selector(args, ("scope", "label", "to"))
    if garbage:
        return report_garbage(io, garbage)
    if name is None:
        io.err("Flush requires arguments.\n")
        return 1
    link = sh.host.interfaces.get(name)
    if link is None:
        io.err(f'Device "{name}" does not exist.\n')
        return 1
    family = options.family if options.family in (4, 6) else None
    _remove_addresses(sh.host, link, [a for a in link.addresses if family in (None, _family_of(a))])
    return 0


def _remove_addresses(host: HostState, link: Interface, cidrs: list[str]) -> None:
    for cidr in cidrs:
        link.addresses.remove(cidr)
        route = connected_route(link.name, cidr)
        host.routes[:] = [r for r in host.routes if r != route]
    if not any(_family_of(a) == 4 for a in link.addresses):
        host.drop_routes_via(link.name)  # losing its last IPv4 address disables IP on the link
