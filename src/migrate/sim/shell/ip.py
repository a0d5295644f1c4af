"""``ip`` (iproute2): global options, then ``ip link``, ``ip address`` or ``ip route``.

Exit 1 for ``Cannot find device "X"`` and ``Device "X" does not exist.``, 2
when the kernel refuses (``RTNETLINK answers: ...``), 255 for an unknown
sub-command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .common import IO, CommandTable
from .ip_addr import ip_addr
from .ip_link import IpOptions, ip_link, keyword_matches
from .ip_route import ip_route

if TYPE_CHECKING:
    from .interpreter import Shell

COMMANDS = CommandTable()


_IP_UNMODELLED = ("neighbour", "neighbor", "rule", "netns", "tunnel", "tuntap", "monitor", "xfrm",
                  "maddress", "mroute", "nexthop", "vrf", "netconf", "addrlabel", "ntable")


@COMMANDS.register("ip")
def _cmd_ip(sh: Shell, io: IO, argv: list[str]) -> int:
    args = list(argv[1:])
    options = IpOptions()
    while args and args[0].startswith("-") and len(args[0]) > 1:
        option = args.pop(0)
        if not _apply_ip_option(options, option.lstrip("-"), args):
            io.err(f'Option "{option}" is unknown, try "ip -help".\n')
            return 255
    if not args:
        io.err("Usage: ip [ OPTIONS ] OBJECT { COMMAND | help }\n")
        return 255
    obj = args.pop(0)
    for keyword, handler in (("address", ip_addr), ("route", ip_route), ("link", ip_link)):
        if keyword_matches(obj, keyword):
            if _needs_net_admin(sh, keyword, args) and not getattr(sh.host, "net_admin", True):
                io.err("RTNETLINK answers: Operation not permitted\n")  # EPERM: no CAP_NET_ADMIN
                return 2
            return handler(sh, io, options, args)
    if any(keyword_matches(obj, name) for name in _IP_UNMODELLED):
        io.err(f"ip: 'ip {obj}' is not modelled by the simulator\n")
        return 2
    io.err(f'Object "{obj}" is unknown, try "ip help".\n')
    return 1


_CHANGES = {"link": ("add", "delete", "set", "change"),
            "address": ("add", "delete", "change", "replace", "flush"),
            "route": ("add", "delete", "change", "replace", "append", "flush")}


def _needs_net_admin(sh: Shell, obj: str, args: list[str]) -> bool:
    """A change the kernel allows only with CAP_NET_ADMIN; a device that does not exist is
    reported as such first (iproute2 resolves the name before it asks the kernel)."""
    if not args or not any(keyword_matches(args[0], verb) for verb in _CHANGES[obj]):
        return False
    if obj == "link" and not keyword_matches(args[0], "add"):
        names = [a for a in args[1:] if a != "dev"]
        return bool(names) and names[0] in sh.host.interfaces
    return True


def _apply_ip_option(options: IpOptions, name: str, args: list[str]) -> bool:
    if name in ("4", "6", "0"):
        options.family = int(name)
    elif len(name) >= 2 and keyword_matches(name, "brief"):
        options.brief = True
    elif keyword_matches(name, "details"):
        options.details = True
    elif keyword_matches(name, "oneline"):
        options.oneline = True
    elif keyword_matches(name, "statistics") or keyword_matches(name, "stats") or name.startswith("colo"):
        pass  # counters and colour change nothing in the model
    elif keyword_matches(name, "family") and args:
        options.family = {"inet": 4, "inet6": 6, "link": 0}.get(args.pop(0))
    else:
        return False
    return True
