"""``ip link``, how ``ip`` shows a link, and helpers every ``ip`` sub-command uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..host import HostState, Interface, derived_mac
from .common import IO

if TYPE_CHECKING:
    from .interpreter import Shell


def keyword_matches(word: str, keyword: str) -> bool:
    """iproute2's rule: any non-empty prefix of a keyword selects it."""
    return 0 < len(word) <= len(keyword) and keyword.startswith(word)


@dataclass
class IpOptions:
    family: int | None = None
    brief: bool = False
    details: bool = False
    oneline: bool = False


def ip_selector(args: list[str], keywords: tuple[str, ...] = ()) -> tuple[str | None, dict, str | None]:
    """Split ``[dev] NAME [KEY VALUE]...`` into the name, other values, and any garbage."""
    name, values = None, {}
    items = iter(args)
    for arg in items:
        if arg == "dev":
            name = next(items, None)
        elif arg in keywords:
            values[arg] = next(items, None)
        elif arg == "up":
            values["up"] = True
        elif name is None:
            name = arg
        else:
            return name, values, arg
    return name, values, None


def report_garbage(io: IO, word: str) -> int:
    io.err(f'Error: either "dev" is duplicate, or "{word}" is a garbage.\n')
    return 255


def render_block(lines: list[str], options: IpOptions) -> str:
    return ("\\".join(lines) if options.oneline else "\n".join(lines)) + "\n"


# ------------------------------------------------------------ link presentation


def _has_carrier(host: HostState, link: Interface) -> bool:
    if link.kind == "bridge":  # a bridge has carrier once one of its ports is up
        return any(port.master == link.name and port.up for port in host.interfaces.values())
    return True


def operstate(host: HostState, link: Interface) -> str:
    if not link.up or not _has_carrier(host, link):
        return "DOWN"
    return "UNKNOWN" if link.kind in ("loopback", "vxlan", "ipip", "wireguard") else "UP"


def _link_flags(host: HostState, link: Interface) -> str:
    base = {"loopback": ["LOOPBACK"], "ipip": ["NOARP"], "wireguard": ["POINTOPOINT", "NOARP"]}.get(
        link.kind, ["BROADCAST", "MULTICAST"])
    if not link.up:
        return ",".join(base)
    if not _has_carrier(host, link):
        return ",".join(["NO-CARRIER", *base, "UP"])
    return ",".join([*base, "UP", "LOWER_UP"])


def display_name(link: Interface) -> str:
    return f"{link.name}@NONE" if link.kind == "ipip" else link.name


def link_header(host: HostState, link: Interface, with_mode: bool) -> str:
    qdisc = "fq_codel" if link.kind == "ether" else "noqueue"
    parts = [f"{link.index}: {display_name(link)}: <{_link_flags(host, link)}> mtu {link.mtu} qdisc {qdisc}"]
    if link.master:
        parts.append(f"master {link.master}")
    parts.append(f"state {operstate(host, link)}")
    if with_mode:
        parts.append("mode DEFAULT")
    parts.append("group default")
    has_queue = link.kind in ("ether", "loopback", "bridge", "ipip", "wireguard")
    return " ".join(parts) + (" qlen 1000" if has_queue else " ")


def link_address_line(link: Interface) -> str:
    if link.kind == "loopback":
        return "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00"
    if link.kind == "ipip":
        return f"    link/ipip {link.local_ip or '0.0.0.0'} brd 0.0.0.0"
    if link.kind == "wireguard":
        return "    link/none "
    return f"    link/ether {link.mac} brd ff:ff:ff:ff:ff:ff"


_DETAIL_TAIL = "addrgenmode eui64 numtxqueues 1 numrxqueues 1 gso_max_size 65536 gso_max_segs 65535 "


def _link_details(host: HostState, link: Interface) -> list[str]:
    """The extra lines ``ip -d link`` prints for each kind of link."""
    if link.kind == "vxlan":
        local = f" local {link.local_ip}" if link.local_ip else ""
        underlay = _device_holding(host, link.local_ip)
        dev = f" dev {underlay}" if underlay else ""
        return [f"    vxlan id {link.vni or 0}{local}{dev} srcport 0 0 dstport {link.port or 0} "
                f"nolearning ttl auto ageing 300 udpcsum noudp6zerocsumtx noudp6zerocsumrx {_DETAIL_TAIL}"]
    if link.kind == "bridge":
        return ["    bridge forward_delay 1500 hello_time 200 max_age 2000 ageing_time 30000 stp_state 0 "
                f"priority 32768 vlan_filtering 0 vlan_protocol 802.1Q {_DETAIL_TAIL}"]
    if link.kind == "veth":
        port = ["    bridge_slave state forwarding priority 32 cost 2 hairpin on guard off "
                f"root_block off fastleave off learning on flood on {_DETAIL_TAIL}"] if link.master else []
        return ["    veth " + ("" if link.master else _DETAIL_TAIL), *port]
    if link.kind == "ipip":
        return [f"    ipip ipip remote any local {link.local_ip or 'any'} ttl inherit nopmtudisc {_DETAIL_TAIL}"]
    if link.kind == "wireguard":
        return [f"    wireguard {_DETAIL_TAIL}"]
    return []


def _device_holding(host: HostState, address: str | None) -> str | None:
    for link in host.interfaces.values():
        if address and any(cidr.split("/")[0] == address for cidr in link.addresses):
            return link.name
    return None


def _link_lines(host: HostState, link: Interface, options: IpOptions) -> list[str]:
    address_line = link_address_line(link)
    if not options.details:
        return [link_header(host, link, with_mode=True), address_line]
    details = _link_details(host, link)
    address_line += " promiscuity 0 minmtu 68 maxmtu 65535 " + ("" if details else _DETAIL_TAIL)
    return [link_header(host, link, with_mode=True), address_line, *details]


def _brief_link(host: HostState, link: Interface) -> str:
    mac = "" if link.kind in ("wireguard",) else (
        (link.local_ip or "0.0.0.0") + " " if link.kind == "ipip" else link.mac + " ")
    return f"{display_name(link):<16} {operstate(host, link):<14} {mac}<{_link_flags(host, link)}> \n"


def sorted_links(host: HostState) -> list[Interface]:
    return sorted(host.interfaces.values(), key=lambda link: link.index)


# ------------------------------------------------------------ ip link


def ip_link(sh: Shell, io: IO, options: IpOptions, args: list[str]) -> int:
    if not args:
        return _ip_link_show(sh, io, options, [])
    sub, rest = args[0], args[1:]
    if keyword_matches(sub, "add"):
        return _ip_link_add(sh, io, rest)
    if keyword_matches(sub, "set") or keyword_matches(sub, "change"):
        return _ip_link_set(sh, io, rest)
    if keyword_matches(sub, "delete"):
        return _ip_link_delete(sh, io, rest)
    if keyword_matches(sub, "show") or keyword_matches(sub, "list") or keyword_matches(sub, "lst"):
        return _ip_link_show(sh, io, options, rest)
    io.err(f'Command "{sub}" is unknown, try "ip link help".\n')
    return 255


def _ip_link_show(sh: Shell, io: IO, options: IpOptions, args: list[str]) -> int:
    name, filters, garbage = ip_selector(args, ("type", "master", "group"))
    if garbage:
        return report_garbage(io, garbage)
    host = sh.host
    if name is not None and name not in host.interfaces:
        io.err(f'Device "{name}" does not exist.\n')
        return 1
    links = [host.interfaces[name]] if name else sorted_links(host)
    for link in links:
        if filters.get("up") and not link.up:
            continue
        if filters.get("type") and filters["type"] != link.kind:
            continue
        if filters.get("master") and filters["master"] != link.master:
            continue
        io.out(_brief_link(host, link) if options.brief else render_block(_link_lines(host, link, options), options))
    return 0


def _ip_link_delete(sh: Shell, io: IO, args: list[str]) -> int:
    name, _, garbage = ip_selector(args, ("type", "group"))
    if garbage:
        return report_garbage(io, garbage)
    if name is None:
        io.err('Not enough information: "dev" argument is required.\n')
        return 255
    link = sh.host.interfaces.get(name)
    if link is None:
        io.err(f'Cannot find device "{name}"\n')
        return 1
    if link.kind in ("ether", "loopback"):  # physical NICs and lo cannot be deleted
        io.err("RTNETLINK answers: Operation not supported\n")
        return 2
    if link.kind == "ipip" and name == "tunl0":
        # the ipip module's fallback device: the kernel ignores its deletion (ip_tunnel_dellink skips the
        # fallback device) and the command succeeds; only unloading the module removes it (projectcalico/calico
        # issue 1375: tunl0 "still exists after I deleting it")
        return 0
    sh.host.delete_interface(name)
    return 0


_LINK_SET_VALUES = ("mtu", "master", "address", "name", "alias", "txqueuelen", "qlen", "netns", "group")


def _ip_link_set(sh: Shell, io: IO, args: list[str]) -> int:
    name, actions = None, []
    items = iter(args)
    for arg in items:
        if arg == "dev":
            name = next(items, None)
        elif arg in ("up", "down", "nomaster"):
            actions.append((arg, None))
        elif arg in _LINK_SET_VALUES:
            actions.append((arg, next(items, None)))
        elif name is None:
            name = arg
        else:
            return report_garbage(io, arg)
    if name is None:
        io.err('Not enough information: "dev" argument is required.\n')
        return 255
    link = sh.host.interfaces.get(name)
    if link is None:
        io.err(f'Cannot find device "{name}"\n')
        return 1
    for action, value in actions:
        status = _apply_link_action(sh, io, link, action, value)
        if status:
            return status
    return 0


def _apply_link_action(sh: Shell, io: IO, link: Interface, action: str, value: str | None) -> int:
    host = sh.host
    if action in ("up", "down"):
        _set_link_state(host, link, action == "up")
    elif action == "mtu":
        if not (value or "").isdigit():
            io.err(f'Error: argument "{value}" is wrong: Invalid "mtu" value\n\n')
            return 255
        link.mtu = int(value)
    elif action == "master":
        if value not in host.interfaces:
            io.err(f'Device "{value}" does not exist.\n')
            return 1
        link.master = value
    elif action == "nomaster":
        link.master = None
    elif action == "address":
        link.mac = value or link.mac
    elif action in ("name", "netns"):
        io.err(f"ip: 'ip link set {action}' is not modelled by the simulator\n")
        return 2
    return 0


def _set_link_state(host: HostState, link: Interface, up: bool) -> None:
    if link.up == up:
        return
    link.up = up
    if up:
        host.add_connected_routes(link)
    else:
        host.drop_routes_via(link.name)  # the kernel flushes a downed link's routes


_LINK_KINDS = {"bridge": "bridge", "vxlan": "vxlan", "veth": "veth", "dummy": "dummy",
               "ipip": "ipip", "wireguard": "wireguard"}


def _ip_link_add(sh: Shell, io: IO, args: list[str]) -> int:
    head, _, tail = _partition(args, "type")
    name, link_values, garbage = ip_selector([a for a in head if a != "name"], ("link", "mtu", "address"))
    if garbage or name is None:
        io.err('Not enough information: "dev" argument is required.\n')
        return 255
    kind = tail[0] if tail else None
    if kind not in _LINK_KINDS:
        io.err(f"ip: link type '{kind}' is not modelled by the simulator\n")
        return 2
    settings = _keyword_values(tail[1:], ("id", "vni", "dstport", "local", "dev", "name", "ttl"))
    numbers = {key: settings.get(key) or link_values.get(key) for key in ("id", "vni", "dstport", "mtu")}
    bad = next((value for value in numbers.values() if value is not None and not value.isdigit()), None)
    if bad is not None:
        io.err(f'Error: argument "{bad}" is wrong: invalid value\n')
        return 255
    peer = settings.get("name") if kind == "veth" else None
    if name in sh.host.interfaces or (peer and peer in sh.host.interfaces):
        io.err("RTNETLINK answers: File exists\n")
        return 2
    vni = numbers["id"] or numbers["vni"]
    for new_name in filter(None, (name, peer)):
        sh.host.add_interface(Interface(  # new links start down, as the kernel creates them
            new_name, _LINK_KINDS[kind], mac=link_values.get("address") or derived_mac(sh.host.node_name, new_name),
            mtu=int(numbers["mtu"] or 1500), up=False,
            vni=int(vni or 0) if kind == "vxlan" else None,
            port=int(numbers["dstport"] or 0) if kind == "vxlan" else None,
            local_ip=settings.get("local") if kind in ("vxlan", "ipip") else None))
    return 0


def _keyword_values(words: list[str], keys: tuple[str, ...]) -> dict[str, str]:
    """Values that follow known keywords; other words (flags) are skipped."""
    values = {}
    for index, word in enumerate(words[:-1]):
        if word in keys:
            values[word] = words[index + 1]
    return values


def _partition(args: list[str], keyword: str) -> tuple[list[str], str | None, list[str]]:
    if keyword not in args:
        return list(args), None, []
    index = args.index(keyword)
    return args[:index], keyword, args[index + 1:]
