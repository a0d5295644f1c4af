"""``ipset``, as ipset v7.11: list the sets (names or members), flush and destroy them.

A set that an iptables rule still matches on (``-m set --match-set NAME``) is in use by the kernel and
cannot be destroyed (exit 1), which is why a cleanup removes Felix's rules before its sets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .common import IO, CommandTable

if TYPE_CHECKING:
    from .interpreter import Shell

COMMANDS = CommandTable()
IPSET_VERSION = "v7.11"


def _in_use(host, name: str) -> bool:
    for tables in (host.iptables, host.ip6tables):
        for chains in tables.values():
            for rules in chains.values():
                if any(f"--match-set {name} " in f"{rule} " for rule in rules):
                    return True
    return False


def _fail(io: IO, text: str) -> int:
    io.err(f"ipset {IPSET_VERSION}: {text}\n")
    return 1


@COMMANDS.register("ipset")
def _cmd_ipset(sh: Shell, io: IO, argv: list[str]) -> int:
    args = list(argv[1:])
    names_only = any(a in ("-n", "-name", "--name") for a in args)
    args = [a for a in args if a not in ("-n", "-name", "--name", "-q", "-quiet", "--quiet")]
    if not args:
        return _fail(io, "No command specified: unknown argument")
    host, command, rest = sh.host, args[0], args[1:]
    if not getattr(host, "net_admin", True):
        return _fail(io, "Kernel error received: Operation not permitted")
    sets: dict[str, set[str]] = host.ipsets
    if command in ("list", "-L", "save", "-S"):
        chosen = rest[:1] or sorted(sets)
        if rest and rest[0] not in sets:
            return _fail(io, "The set with the given name does not exist")
        for name in chosen:
            if names_only:
                io.out(f"{name}\n")
                continue
            members = sorted(sets[name])
            io.out(f"Name: {name}\nType: hash:net\nRevision: 7\nHeader: family "
                   f"{'inet6' if name.startswith('cali60') else 'inet'} hashsize 1024 maxelem 1048576\n"
                   f"References: {int(_in_use(host, name))}\nNumber of entries: {len(members)}\nMembers:\n"
                   + "".join(f"{m}\n" for m in members))
        return 0
    if command in ("flush", "-F"):
        for name in rest[:1] or list(sets):
            if name not in sets:
                return _fail(io, "The set with the given name does not exist")
            sets[name].clear()
        return 0
    if command in ("destroy", "-X"):
        doomed = rest[:1] or list(sets)
        for name in doomed:
            if name not in sets:
                return _fail(io, "The set with the given name does not exist")
            if _in_use(host, name):
                return _fail(io, "Set cannot be destroyed: it is in use by a kernel component")
        for name in doomed:
            del sets[name]
        return 0
    return _fail(io, f"ipset {command} is not modelled by the simulator")
