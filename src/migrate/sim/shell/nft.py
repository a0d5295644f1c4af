"""``nft``, as nftables 1.0: list, add, flush and delete whole tables.

``Error: Could not process rule: No such file or directory`` plus the command
and a caret line, exit 1.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from .common import IO, CommandTable

if TYPE_CHECKING:
    from .interpreter import Shell

COMMANDS = CommandTable()


_NFT_FAMILIES = ("ip", "ip6", "inet", "arp", "bridge", "netdev")
_NFT_HARMLESS_OPTIONS = ("-a", "--handle", "-n", "--numeric", "-s", "--stateless", "-t", "--terse",
                         "-N", "-y", "--numeric-priority")


@COMMANDS.register("nft")
def _cmd_nft(sh: Shell, io: IO, argv: list[str]) -> int:
    args = list(argv[1:])
    while args and args[0].startswith("-"):
        option = args.pop(0)
        if option not in _NFT_HARMLESS_OPTIONS:
            io.err(f"Error: nft option {option} is not modelled by the simulator\n")
            return 1
    try:
        words = shlex.split(" ".join(args))  # nft takes its command as one or many arguments
    except ValueError:
        io.err("Error: syntax error, unterminated string\n")
        return 1
    if not words:
        return 0
    if not getattr(sh.host, "net_admin", True):
        io.err("netlink: Error: cache initialization failed: Operation not permitted\n")  # no CAP_NET_ADMIN
        return 1
    command = " ".join(words)
    handler = _NFT_HANDLERS.get(tuple(words[:2]))
    if handler is None:
        io.err(f"Error: 'nft {command}' is not modelled by the simulator\n")
        return 1
    return handler(sh, io, command, words[2:])


def _nft_table_ref(io: IO, command: str, rest: list[str]) -> tuple[str, str] | None:
    family = rest[0] if rest and rest[0] in _NFT_FAMILIES else "ip"
    names = rest[1:] if rest and rest[0] in _NFT_FAMILIES else rest
    if not names:
        io.err(f"Error: syntax error, unexpected end of file\n{command}\n{' ' * len(command)}^\n")
        return None
    return family, names[0]


def _nft_missing(io: IO, command: str, name: str, headline: str) -> int:
    caret = " " * (len(command) - len(name)) + "^" * len(name)
    io.err(f"{headline}\n{command}\n{caret}\n")
    return 1


def _nft_render(family: str, name: str, body: list[str]) -> str:
    lines = [f"table {family} {name} {{"]
    depth = 1
    for raw in body:
        line = raw.strip()
        if not line:
            continue
        if line.startswith("}"):
            depth = max(1, depth - 1)
        lines.append("\t" * depth + line)
        if line.endswith("{"):
            depth += 1
    lines.append("}")
    return "\n".join(lines) + "\n"


def _nft_list_tables(sh: Shell, io: IO, command: str, rest: list[str]) -> int:
    for family, name in sh.host.nftables:
        if not rest or rest[0] == family:
            io.out(f"table {family} {name}\n")
    return 0


def _nft_list_table(sh: Shell, io: IO, command: str, rest: list[str]) -> int:
    ref = _nft_table_ref(io, command, rest)
    if ref is None:
        return 1
    if ref not in sh.host.nftables:
        return _nft_missing(io, command, ref[1], "Error: No such file or directory")
    io.out(_nft_render(*ref, sh.host.nftables[ref]))
    return 0


def _nft_list_ruleset(sh: Shell, io: IO, command: str, rest: list[str]) -> int:
    for (family, name), body in sh.host.nftables.items():
        if not rest or rest[0] == family:
            io.out(_nft_render(family, name, body))
    return 0


def _nft_delete_table(sh: Shell, io: IO, command: str, rest: list[str]) -> int:
    ref = _nft_table_ref(io, command, rest)
    if ref is None:
        return 1
    if sh.host.nftables.pop(ref, None) is None and not command.startswith("destroy"):
        return _nft_missing(io, command, ref[1], "Error: Could not process rule: No such file or directory")
    return 0


def _nft_flush_table(sh: Shell, io: IO, command: str, rest: list[str]) -> int:
    ref = _nft_table_ref(io, command, rest)
    if ref is None:
        return 1
    if ref not in sh.host.nftables:
        return _nft_missing(io, command, ref[1], "Error: Could not process rule: No such file or directory")
    body = sh.host.nftables[ref]
    body[:] = _nft_without_rules(body)
    return 0


def _nft_without_rules(body: list[str]) -> list[str]:
    """Keep chains, their hooks and policies, sets and maps; drop the rules."""
    kept, blocks = [], []
    for raw in body:
        line = raw.strip()
        inside_chain = bool(blocks) and blocks[-1] == "chain"
        if line.startswith("}"):
            if blocks:
                blocks.pop()
        elif line.endswith("{"):
            blocks.append(line.split()[0])
        elif inside_chain and not line.startswith(("type ", "policy ", "comment ")):
            continue
        kept.append(raw)
    return kept


def _nft_flush_ruleset(sh: Shell, io: IO, command: str, rest: list[str]) -> int:
    for ref in [ref for ref in sh.host.nftables if not rest or ref[0] == rest[0]]:
        del sh.host.nftables[ref]
    return 0


def _nft_add_table(sh: Shell, io: IO, command: str, rest: list[str]) -> int:
    ref = _nft_table_ref(io, command, rest)
    if ref is None:
        return 1
    if ref in sh.host.nftables and command.startswith("create"):
        return _nft_missing(io, command, ref[1], "Error: Could not process rule: File exists")
    sh.host.nftables.setdefault(ref, [])
    return 0


_NFT_HANDLERS = {
    ("list", "tables"): _nft_list_tables,
    ("list", "table"): _nft_list_table,
    ("list", "ruleset"): _nft_list_ruleset,
    ("delete", "table"): _nft_delete_table,
    ("destroy", "table"): _nft_delete_table,
    ("flush", "table"): _nft_flush_table,
    ("flush", "ruleset"): _nft_flush_ruleset,
    ("add", "table"): _nft_add_table,
    ("create", "table"): _nft_add_table,
}
