"""``iptables``/``ip6tables`` and ``iptables-save``, as iptables-nft v1.8.7.

Exit 1 for the ``iptables: ...`` errors, 4 for ``CHAIN_USER_DEL failed
(Device or resource busy)`` (the kernel refuses to delete a chain that still
holds rules or is still jumped to), 2 for parameter problems, 3 for an unknown
table.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from ..host import BUILTIN_CHAINS, HostState
from .common import IO, CommandTable, c_time

if TYPE_CHECKING:
    from .interpreter import Shell

IPTABLES_VERSION = "v1.8.7"

COMMANDS = CommandTable()


_IPT_COMMANDS = {
    "-A": "A", "--append": "A", "-D": "D", "--delete": "D", "-C": "C", "--check": "C",
    "-I": "I", "--insert": "I", "-R": "R", "--replace": "R", "-F": "F", "--flush": "F",
    "-X": "X", "--delete-chain": "X", "-N": "N", "--new-chain": "N", "-L": "L", "--list": "L",
    "-S": "S", "--list-rules": "S", "-P": "P", "--policy": "P", "-Z": "Z", "--zero": "Z",
    "-E": "E", "--rename-chain": "E",
}
_IPT_NEEDS_CHAIN = "ADCIRNPE"
_IPT_COMBINED_FLAGS = re.compile(r"-[nvxLSFXZ]{2,}")
_IPT_LONG_ALIASES = {"--source": "-s", "--src": "-s", "--destination": "-d", "--dst": "-d",
                     "--protocol": "-p", "--in-interface": "-i", "--out-interface": "-o",
                     "--jump": "-j", "--goto": "-g", "--match": "-m"}
_IPT_TARGETS = frozenset({
    "ACCEPT", "DROP", "RETURN", "REJECT", "QUEUE", "MASQUERADE", "SNAT", "DNAT", "REDIRECT", "MARK",
    "CONNMARK", "LOG", "NFLOG", "NFQUEUE", "NOTRACK", "CT", "TPROXY", "TCPMSS", "CHECKSUM", "TRACE",
    "AUDIT", "CLASSIFY", "DSCP", "TOS", "TTL", "HL", "SET", "SECMARK", "CONNSECMARK", "TEE", "HMARK"})
_IMPLICIT_PROTOCOL_MATCHES = ("tcp", "udp", "sctp", "icmp", "icmpv6", "udplite")


@dataclass
class _Netfilter:
    """One iptables family: its program name, tables and chain policies."""

    prog: str
    tables: dict[str, dict[str, list[str]]]
    policies: dict[str, dict[str, str]]

    def message(self, text: str, dmesg: bool = False) -> str:
        hint = " Run `dmesg' for more information." if dmesg else ""  # iptables adds it for EINVAL
        return f"{self.prog}: {text}.{hint}\n"

    def problem(self, text: str) -> str:
        return (f"{self.prog} {IPTABLES_VERSION} (nf_tables): {text}\n"
                f"Try `{self.prog} -h' or '{self.prog} --help' for more information.\n")


class _IptError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class _IptRequest:
    table: str = "filter"
    command: str | None = None
    chain: str | None = None
    rulenum: int | None = None
    argument: str | None = None
    spec: list[str] = field(default_factory=list)
    numeric: bool = False
    line_numbers: bool = False


def _netfilter_for(host: HostState, program: str) -> _Netfilter:
    if program.startswith("ip6tables"):
        return _Netfilter("ip6tables", host.ip6tables, host.ip6tables_policies)
    return _Netfilter("iptables", host.iptables, host.iptables_policies)


@COMMANDS.register("iptables", "ip6tables", "iptables-nft", "ip6tables-nft")
def _cmd_iptables(sh: Shell, io: IO, argv: list[str]) -> int:
    netfilter = _netfilter_for(sh.host, posixpath.basename(argv[0]))
    if not getattr(sh.host, "net_admin", True) and not _only_help(argv[1:]):
        io.err(_permission_denied(netfilter))  # no CAP_NET_ADMIN: the kernel refuses the netlink socket
        return 4
    try:
        request = _parse_iptables(netfilter, argv[1:])
        chains = _ipt_table(netfilter, request.table)
        io.out(_IPT_ACTIONS[request.command](netfilter, request, chains))
    except _IptError as error:
        io.err(error.message)
        return error.code
    return 0


def _parse_iptables(netfilter: _Netfilter, raw_args: list[str]) -> _IptRequest:
    args = []
    for arg in raw_args:
        if _IPT_COMBINED_FLAGS.fullmatch(arg):  # "-nL" is "-n -L"
            args.extend(f"-{letter}" for letter in arg[1:])
        else:
            args.append(arg)
    request = _IptRequest()
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg in ("-t", "--table"):
            request.table, index = _required(netfilter, args, index, arg), index + 1
        elif arg in ("-w", "--wait"):
            if index < len(args) and re.fullmatch(r"\d+(\.\d+)?", args[index]):
                index += 1  # the optional number of seconds to wait for the lock
        elif arg in ("-W", "--wait-interval"):
            index += 1
        elif arg in ("-n", "--numeric"):
            request.numeric = True
        elif arg == "--line-numbers":
            request.line_numbers = True
        elif arg in ("-v", "--verbose", "-x", "--exact", "-4", "--ipv4", "-6", "--ipv6"):
            continue
        elif arg in _IPT_COMMANDS:
            if request.command:
                raise _IptError(netfilter.problem(f"Cannot use -{request.command} with -{_IPT_COMMANDS[arg]}"), 2)
            request.command = _IPT_COMMANDS[arg]
            index = _command_arguments(netfilter, request, args, index, arg)
        else:
            request.spec.append(arg)
    if request.command is None:
        raise _IptError(netfilter.problem("no command specified"), 2)
    if request.command in "RE":
        raise _IptError(f"{netfilter.prog}: -{request.command} is not modelled by the simulator\n", 2)
    return request


def _required(netfilter: _Netfilter, args: list[str], index: int, option: str) -> str:
    if index >= len(args):
        raise _IptError(netfilter.problem(f'option "{option}" requires an argument'), 2)
    return args[index]


def _command_arguments(netfilter, request: _IptRequest, args: list[str], index: int, flag: str) -> int:
    if index >= len(args) or args[index].startswith("-"):
        if request.command in _IPT_NEEDS_CHAIN:
            raise _IptError(netfilter.problem(f'option "{flag}" requires an argument'), 2)
        return index
    request.chain = args[index]
    index += 1
    if request.command in "DILS" and index < len(args) and args[index].isdigit():
        request.rulenum = int(args[index])
        index += 1
    if request.command == "P":
        request.argument = _required(netfilter, args, index, flag)
        index += 1
    return index


def _ipt_table(netfilter: _Netfilter, table: str) -> dict[str, list[str]]:
    if table not in BUILTIN_CHAINS and table not in netfilter.tables:
        raise _IptError(f"{netfilter.prog} {IPTABLES_VERSION} (nf_tables): table '{table}' does not exist\n"
                        f"Perhaps {netfilter.prog} or your kernel needs to be upgraded.\n", 3)
    chains = netfilter.tables.setdefault(table, {})
    for chain in BUILTIN_CHAINS.get(table, ()):
        chains.setdefault(chain, [])
        netfilter.policies.setdefault(table, {}).setdefault(chain, "ACCEPT")
    return chains


# ------------------------------------------------------------ rule specs


def _canonical_rule(netfilter: _Netfilter, spec: list[str]) -> list[str]:
    """Reorder a rule spec the way ``iptables -S`` prints it back.

    Addresses first (with /32 added), then interfaces and protocol, then each
    match with its options (``-p tcp --dport`` gains its implicit ``-m tcp``),
    then the target with its options.
    """
    base: dict[str, list[str]] = {}
    matches: list[list[str]] = []
    target: list[str] = []
    current: list[str] | None = None
    negate = False
    index = 0
    while index < len(spec):
        token = _IPT_LONG_ALIASES.get(spec[index], spec[index])
        index += 1
        if token == "!":
            negate = True
            continue
        if token in ("-s", "-d", "-i", "-o", "-p", "-m", "-j", "-g"):
            value = _required(netfilter, spec, index, token)
            index += 1
            if token in ("-s", "-d"):
                value = value if "/" in value else f"{value}/{128 if ':' in value else 32}"
            if token == "-m":
                current = ["-m", value]
                matches.append(current)
            elif token in ("-j", "-g"):
                current = target = [token, value]
            else:
                base[token] = (["!"] if negate else []) + [token, value]
                current = None
            negate = False
            continue
        if current is None:
            current = _implicit_match(netfilter, base, matches, token)
        current.extend((["!"] if negate else []) + [token])
        negate = False
        while index < len(spec) and not spec[index].startswith("-") and spec[index] != "!":
            current.append(spec[index])
            index += 1
    ordered = [token for key in ("-s", "-d", "-i", "-o", "-p") for token in base.get(key, [])]
    return ordered + [token for match in matches for token in match] + target


def _implicit_match(netfilter: _Netfilter, base: dict[str, list[str]], matches: list[list[str]],
                    option: str) -> list[str]:
    """``-p tcp --dport 22`` loads the tcp match implicitly, as if ``-m tcp`` were given."""
    protocol = base.get("-p", [None])[-1]
    if protocol not in _IMPLICIT_PROTOCOL_MATCHES:
        raise _IptError(netfilter.problem(f'unknown option "{option}"'), 2)
    for match in matches:
        if match[1] == protocol:
            return match
    match = ["-m", protocol]
    matches.append(match)
    return match


def _save_string(value: str) -> str:
    """Quote like xtables_save_string: only when a character needs it."""
    if value and re.fullmatch(r"[A-Za-z0-9_-]+", value):
        return value
    return '"' + re.sub(r'(["\\\'])', r"\\\1", value) + '"'


def _render_rule(chain: str, tokens: list[str]) -> str:
    shown = []
    for position, token in enumerate(tokens):
        follows_comment = position > 0 and tokens[position - 1] == "--comment"
        shown.append(_save_string(token) if follows_comment or not token or " " in token else token)
    return " ".join(["-A", chain, *shown])


def _rule_tokens(netfilter: _Netfilter, rule: str) -> list[str]:
    try:
        tokens = shlex.split(rule)
    except ValueError:
        tokens = rule.split()
    if tokens[:1] == ["-A"]:
        tokens = tokens[2:]
    try:
        return _canonical_rule(netfilter, tokens)
    except _IptError:
        return tokens


def _jump_target(tokens: list[str]) -> str | None:
    for index, token in enumerate(tokens[:-1]):
        if token in ("-j", "-g"):
            return tokens[index + 1]
    return None


def _references(netfilter: _Netfilter, chains: dict[str, list[str]], name: str) -> int:
    return sum(1 for rules in chains.values() for rule in rules
               if _jump_target(_rule_tokens(netfilter, rule)) == name)


def _find_rule(netfilter: _Netfilter, rules: list[str] | None, spec: list[str]) -> int | None:
    wanted = _canonical_rule(netfilter, spec)
    for index, rule in enumerate(rules or []):
        if _rule_tokens(netfilter, rule) == wanted:
            return index
    return None


def _ordered_chains(table: str, chains: dict[str, list[str]]) -> list[str]:
    builtins = [chain for chain in BUILTIN_CHAINS.get(table, ()) if chain in chains]
    return builtins + sorted(chain for chain in chains if chain not in builtins)


# ------------------------------------------------------------ iptables actions


def _no_chain(netfilter: _Netfilter) -> _IptError:
    return _IptError(netfilter.message("No chain/target/match by that name"), 1)


def _bad_rule(netfilter: _Netfilter) -> _IptError:
    return _IptError(netfilter.message("Bad rule (does a matching rule exist in that chain?)"), 1)


def _ipt_append(netfilter: _Netfilter, request: _IptRequest, chains: dict[str, list[str]]) -> str:
    if request.chain not in chains:
        raise _no_chain(netfilter)
    tokens = _canonical_rule(netfilter, request.spec)
    target = _jump_target(tokens)
    if target and target not in chains and target not in _IPT_TARGETS:
        raise _IptError(netfilter.problem(f"Chain '{target}' does not exist"), 2)
    rule = _render_rule(request.chain, tokens)
    rules = chains[request.chain]
    if request.command == "I":
        position = (request.rulenum or 1) - 1
        if position > len(rules):
            raise _IptError(netfilter.message("Index of insertion too big"), 1)
        rules.insert(position, rule)
    else:
        rules.append(rule)
    return ""


def _ipt_delete(netfilter: _Netfilter, request: _IptRequest, chains: dict[str, list[str]]) -> str:
    rules = chains.get(request.chain)
    if request.rulenum is not None and not request.spec:
        if rules is None or not 1 <= request.rulenum <= len(rules):
            raise _IptError(netfilter.message("Index of deletion too big"), 1)
        del rules[request.rulenum - 1]
        return ""
    index = _find_rule(netfilter, rules, request.spec)
    if index is None:
        raise _bad_rule(netfilter)
    del rules[index]
    return ""


def _ipt_check(netfilter: _Netfilter, request: _IptRequest, chains: dict[str, list[str]]) -> str:
    if _find_rule(netfilter, chains.get(request.chain), request.spec) is None:
        raise _bad_rule(netfilter)
    return ""


def _ipt_flush(netfilter: _Netfilter, request: _IptRequest, chains: dict[str, list[str]]) -> str:
    if request.chain is not None:
        if request.chain not in chains:
            raise _no_chain(netfilter)
        chains[request.chain].clear()
        return ""
    for rules in chains.values():
        rules.clear()
    return ""


def _ipt_delete_chain(netfilter: _Netfilter, request: _IptRequest, chains: dict[str, list[str]]) -> str:
    builtins = BUILTIN_CHAINS.get(request.table, ())
    if request.chain is not None:
        if request.chain not in chains:
            raise _no_chain(netfilter)
        if request.chain in builtins:
            raise _IptError(netfilter.message("Can't delete built-in chain", dmesg=True), 1)
        victims = [request.chain]
    else:
        victims = sorted(chain for chain in chains if chain not in builtins)
    for chain in victims:
        # The kernel refuses (EBUSY) to delete a chain that holds rules or is jumped to;
        # the whole batch is then rolled back.
        if chains[chain] or _references(netfilter, chains, chain):
            raise _IptError(f"{netfilter.prog} {IPTABLES_VERSION} (nf_tables):  CHAIN_USER_DEL failed "
                            f"(Device or resource busy): chain {chain}\n", 4)
    for chain in victims:
        del chains[chain]
    return ""


def _ipt_new_chain(netfilter: _Netfilter, request: _IptRequest, chains: dict[str, list[str]]) -> str:
    if request.chain in chains:
        raise _IptError(netfilter.message("Chain already exists"), 1)
    chains[request.chain] = []
    return ""


def _ipt_policy(netfilter: _Netfilter, request: _IptRequest, chains: dict[str, list[str]]) -> str:
    if request.chain not in BUILTIN_CHAINS.get(request.table, ()):
        raise _IptError(netfilter.message("Bad built-in chain name"), 1)
    if request.argument not in ("ACCEPT", "DROP"):
        raise _IptError(netfilter.message("Bad policy name", dmesg=True), 1)
    netfilter.policies[request.table][request.chain] = request.argument
    return ""


def _ipt_zero(netfilter: _Netfilter, request: _IptRequest, chains: dict[str, list[str]]) -> str:
    if request.chain is not None and request.chain not in chains:
        raise _no_chain(netfilter)
    return ""  # there are no counters to zero


def _ipt_list_rules(netfilter: _Netfilter, request: _IptRequest, chains: dict[str, list[str]]) -> str:
    if request.chain is not None and request.chain not in chains:
        raise _no_chain(netfilter)
    if request.chain and request.rulenum:  # "-S CHAIN N" prints just that rule
        chosen = chains[request.chain][request.rulenum - 1:request.rulenum]
        return "".join(_render_rule(request.chain, _rule_tokens(netfilter, rule)) + "\n" for rule in chosen)
    names = [request.chain] if request.chain else _ordered_chains(request.table, chains)
    policies = netfilter.policies.get(request.table, {})
    lines = [f"-P {name} {policies.get(name, 'ACCEPT')}" if name in BUILTIN_CHAINS.get(request.table, ())
             else f"-N {name}" for name in names]
    lines.extend(_render_rule(name, _rule_tokens(netfilter, rule)) for name in names for rule in chains[name])
    return "".join(line + "\n" for line in lines)


def _ipt_list(netfilter: _Netfilter, request: _IptRequest, chains: dict[str, list[str]]) -> str:
    if request.chain is not None and request.chain not in chains:
        raise _no_chain(netfilter)
    names = [request.chain] if request.chain else _ordered_chains(request.table, chains)
    blocks = [_list_chain(netfilter, request, chains, name) for name in names]
    return "\n".join(blocks)


def _list_chain(netfilter: _Netfilter, request: _IptRequest, chains: dict[str, list[str]], name: str) -> str:
    if name in BUILTIN_CHAINS.get(request.table, ()):
        title = f"Chain {name} (policy {netfilter.policies[request.table].get(name, 'ACCEPT')})"
    else:
        title = f"Chain {name} ({_references(netfilter, chains, name)} references)"
    number = f"{'num':<4} " if request.line_numbers else ""
    lines = [title, f"{number}{'target':<10} {'prot':<4} {'opt':<3} {'source':<20} {'destination':<20}"]
    for position, rule in enumerate(chains[name], 1):
        prefix = f"{position:<4} " if request.line_numbers else ""
        lines.append(prefix + _list_line(netfilter, _rule_tokens(netfilter, rule), request.numeric))
    return "".join(line + "\n" for line in lines)


def _list_line(netfilter: _Netfilter, tokens: list[str], numeric: bool) -> str:
    """One rule in ``iptables -L`` columns (an approximation of the extension output)."""
    anywhere = ("::/0" if netfilter.prog == "ip6tables" else "0.0.0.0/0") if numeric else "anywhere"
    values = {"-s": anywhere, "-d": anywhere, "-p": "all"}
    extras: list[str] = []
    target = ""
    index = 0
    while index < len(tokens):
        negate = tokens[index] == "!"
        token = tokens[index + negate]
        value = tokens[index + negate + 1] if index + negate + 1 < len(tokens) else ""
        index += negate + 2
        if token in values:
            values[token] = ("!" if negate else "") + value
        elif token in ("-j", "-g"):
            target = value
            extras.extend(_option_words(tokens[index:]))
            break
        elif token == "-m":
            options = []
            while index < len(tokens) and tokens[index] not in ("-m", "-j", "-g"):
                options.append(tokens[index])
                index += 1
            extras.extend(_match_words(value, options))
    return f"{target:<10} {values['-p']:<4} {'--':<3} {values['-s']:<20} {values['-d']:<20} " + " ".join(extras)


def _match_words(name: str, options: list[str]) -> list[str]:
    if name == "comment" and len(options) >= 2:
        return [f"/* {options[1]} */"]
    if name in _IMPLICIT_PROTOCOL_MATCHES:
        text = " ".join(options).replace("--dport ", "dpt:").replace("--sport ", "spt:")
        return [f"{name} {text}".strip()]
    if name == "mark" and len(options) >= 2:
        return [f"mark match {options[-1]}"]
    return _option_words(options)


def _option_words(options: list[str]) -> list[str]:
    return [option.lstrip("-") if option.startswith("--") else option for option in options]


_IPT_ACTIONS: dict[str, Callable[[_Netfilter, _IptRequest, dict], str]] = {
    "A": _ipt_append, "I": _ipt_append, "D": _ipt_delete, "C": _ipt_check, "F": _ipt_flush,
    "X": _ipt_delete_chain, "N": _ipt_new_chain, "P": _ipt_policy, "Z": _ipt_zero,
    "S": _ipt_list_rules, "L": _ipt_list,
}


def _permission_denied(netfilter: _Netfilter) -> str:
    return (f"{netfilter.prog} {IPTABLES_VERSION} (nf_tables): Could not fetch rule set generation id: "
            "Permission denied (you must be root)\n")


def _only_help(args: list[str]) -> bool:
    return bool(args) and all(a in ("-h", "--help", "-V", "--version") for a in args)


@COMMANDS.register("iptables-save", "ip6tables-save", "iptables-nft-save", "ip6tables-nft-save")
def _cmd_iptables_save(sh: Shell, io: IO, argv: list[str]) -> int:
    netfilter = _netfilter_for(sh.host, posixpath.basename(argv[0]))
    if not getattr(sh.host, "net_admin", True):
        io.err(_permission_denied(netfilter).replace(netfilter.prog, f"{netfilter.prog}-save", 1))
        return 1
    only = None
    args = argv[1:]
    for index, arg in enumerate(args):
        if arg in ("-t", "--table") and index + 1 < len(args):
            only = args[index + 1]
    stamp = c_time(sh.now)
    out = []
    for table, chains in netfilter.tables.items():
        if only and table != only:
            continue
        policies = netfilter.policies.get(table, {})
        names = _ordered_chains(table, chains)
        out.append(f"# Generated by {netfilter.prog}-nft-save {IPTABLES_VERSION} on {stamp}\n*{table}\n")
        out.extend(f":{name} {policies.get(name, 'ACCEPT') if name in BUILTIN_CHAINS.get(table, ()) else '-'}"
                   " [0:0]\n" for name in names)
        out.extend(_render_rule(name, _rule_tokens(netfilter, rule)) + "\n"
                   for name in names for rule in chains[name])
        out.append(f"COMMIT\n# Completed on {stamp}\n")
    io.out("".join(out))
    return 0
