"""What Felix (calico-node v3.32.1, iptables data plane) keeps in a host's netfilter tables and ipsets, and the
verdict the oracle reads from them: whether a VXLAN packet is let in.

- Felix owns every chain named ``cali-*`` (felix/rules/rule_defs.go ChainNamePrefix; felix/iptables/table.go
  treats the chains its ourChainsRegexp matches as its own) and hooks each kernel chain it uses with one rule
  at the top, ``-m comment --comment "cali:<hash>" -j cali-<CHAIN>`` (felix/fv/cali-iptables-dump.txt shows the
  rendered rules and hashes).
- ``cali-INPUT`` starts with Felix's VXLAN filter when VXLAN is on: accept UDP to the VXLAN port from the
  addresses in ``cali40all-vxlan-net``, drop the rest ("Drop IPv4 VXLAN packets from non-allowed hosts",
  felix/rules/static.go filterInputChain). That set holds the parent-device address of every other node's
  VTEP (felix/dataplane/linux/vxlan_mgr.go updateNeighborsAndAllowedSources), so it is as current as Felix.
- Per workload interface Felix keeps ``cali-tw-<iface>`` and ``cali-fw-<iface>``, dispatched from
  ``cali-to-wl-dispatch`` / ``cali-from-wl-dispatch`` (felix/rules/dispatch.go, endpoints.go).
- NAT outgoing matches the pools through ``cali40masq-ipam-pools`` and ``cali40network-ip-pools``
  (felix/rules/nat.go, rule_defs.go IPSetIDNATOutgoingMasqPools, IPSetIDAllPools).
- Nothing removes any of it when calico-node stops: Felix's shutdown stops its data-plane driver and exits
  (felix/daemon/daemon.go monitorAndManageShutdown), so the chains, the jumps and the sets stay, frozen as
  they were, until someone deletes them or the node reboots.

Only the rules the oracle reads are rendered in full; the others are there by name, as a cleanup meets them.
"""
from __future__ import annotations

import ipaddress

from .host import HostState

PREFIX = "cali-"
VXLAN_SOURCES = "cali40all-vxlan-net"
ALL_POOLS = "cali40network-ip-pools"
MASQ_POOLS = "cali40masq-ipam-pools"

# kernel chain -> (Felix's chain, the hook rule's hash), per table (felix/fv/cali-iptables-dump.txt)
HOOKS = {
    "raw": [("PREROUTING", "cali-PREROUTING", "6gwbT8clXdHdC1b1"), ("OUTPUT", "cali-OUTPUT", "tVnHkvAo15HuiPy0")],
    "mangle": [("PREROUTING", "cali-PREROUTING", "6gwbT8clXdHdC1b1"),
               ("POSTROUTING", "cali-POSTROUTING", "O3lYWMrLQYEMJtB5")],
    "nat": [("PREROUTING", "cali-PREROUTING", "6gwbT8clXdHdC1b1"), ("OUTPUT", "cali-OUTPUT", "tVnHkvAo15HuiPy0"),
            ("POSTROUTING", "cali-POSTROUTING", "0i8pjzKKPyA34aQD")],
    "filter": [("INPUT", "cali-INPUT", "Cz_u1IQiXIMmKD4c"), ("FORWARD", "cali-FORWARD", "wUHhoiAYhphO9Mso"),
               ("OUTPUT", "cali-OUTPUT", "tVnHkvAo15HuiPy0")],
}
# Felix's other static chains (the same dump)
STATIC = {
    "raw": ["cali-from-host-endpoint", "cali-rpf-skip", "cali-to-host-endpoint"],
    "mangle": ["cali-from-host-endpoint", "cali-to-host-endpoint"],
    "nat": ["cali-fip-dnat", "cali-fip-snat", "cali-nat-outgoing"],
    "filter": ["cali-cidr-block", "cali-from-hep-forward", "cali-from-host-endpoint", "cali-from-wl-dispatch",
               "cali-to-hep-forward", "cali-to-host-endpoint", "cali-to-wl-dispatch", "cali-wl-to-host"],
}


def hook_rule(kernel_chain: str, chain: str, digest: str) -> str:
    return f'-A {kernel_chain} -m comment --comment "cali:{digest}" -j {chain}'


def program(host: HostState, *, vxlan_port: int | None, vxlan_sources: list[str], pools: list[str],
            masq_pools: list[str], workloads: list[str]) -> None:
    """Felix's resync: its chains, hooks and sets exactly as the current configuration wants them."""
    for table, hooks in HOOKS.items():
        chains = host.iptables.setdefault(table, {})
        for kernel_chain, chain, digest in hooks:
            rule = hook_rule(kernel_chain, chain, digest)
            rules = chains.setdefault(kernel_chain, [])
            if rule not in rules:
                rules.insert(0, rule)  # ChainInsertMode insert: ahead of everyone else's rules
        wanted = {chain: [] for _k, chain, _d in hooks}
        wanted.update({chain: [] for chain in STATIC[table]})
        if table == "filter":
            wanted["cali-INPUT"] = _vxlan_input(vxlan_port) + [
                '-A cali-INPUT -i cali+ -m comment --comment "cali:H03xYXARh4e8pwd4" -g cali-wl-to-host']
            wanted["cali-FORWARD"] = [
                '-A cali-FORWARD -i cali+ -m comment --comment "cali:tAzwBLPaV-j53OOZ" -j cali-from-wl-dispatch',
                '-A cali-FORWARD -o cali+ -m comment --comment "cali:4Z0Pf0byo05NFe-P" -j cali-to-wl-dispatch']
            for iface in sorted(workloads):
                wanted[f"cali-tw-{iface}"], wanted[f"cali-fw-{iface}"] = [], []
                wanted["cali-to-wl-dispatch"].append(f"-A cali-to-wl-dispatch -o {iface} -g cali-tw-{iface}")
                wanted["cali-from-wl-dispatch"].append(f"-A cali-from-wl-dispatch -i {iface} -g cali-fw-{iface}")
        if table == "nat":
            wanted["cali-POSTROUTING"] = ['-A cali-POSTROUTING -m comment --comment "cali:nYKhEzDlr11Jccal" '
                                          '-j cali-nat-outgoing']
            if masq_pools:
                wanted["cali-nat-outgoing"] = [f"-A cali-nat-outgoing -m set --match-set {MASQ_POOLS} src -m set ! "
                                               f"--match-set {ALL_POOLS} dst -j MASQUERADE --random-fully"]
        for chain in [c for c in chains if c.startswith(PREFIX) and c not in wanted]:
            del chains[chain]  # Felix removes the chains of its that it no longer wants
        for chain, rules in wanted.items():
            if chains.get(chain) != rules:
                chains[chain] = rules
    sets = {ALL_POOLS: set(pools), MASQ_POOLS: set(masq_pools)}
    if vxlan_port is not None:
        sets[VXLAN_SOURCES] = set(vxlan_sources)
    for name in [n for n in host.ipsets if n.startswith("cali40") and n not in sets]:
        del host.ipsets[name]
    for name, members in sets.items():
        current = host.ipsets.setdefault(name, set())
        if current != members:  # in place: a container's view of the host shares the set
            current.clear()
            current.update(members)


def _vxlan_input(port: int | None) -> list[str]:
    if port is None:
        return []
    return [f'-A cali-INPUT -p udp -m comment --comment "cali:Gtn781KKHXqD1ZWy" -m comment --comment "Allow IPv4 '
            f'VXLAN packets from allowed hosts" -m multiport --dports {port} -m set --match-set {VXLAN_SOURCES} src '
            "-m addrtype --dst-type LOCAL -j ACCEPT",
            '-A cali-INPUT -p udp -m comment --comment "cali:uwBdMK7MloVtOKLK" -m comment --comment "Drop IPv4 '
            f'VXLAN packets from non-allowed hosts" -m multiport --dports {port} -m addrtype --dst-type LOCAL -j DROP']


def vxlan_refused(host: HostState, port: int, source: str) -> str:
    """Why `host`'s INPUT chain drops a VXLAN packet to `port` from the underlay address `source`, or ''.

    Reads the rules as iptables would walk them, for the matches VXLAN packets meet (protocol, destination
    port, a source ipset, a local destination); a rule with any other match is taken not to match."""
    filter_table = host.iptables.get("filter", {})
    if not filter_table.get("INPUT") and host.iptables_policies.get("filter", {}).get("INPUT", "ACCEPT") == "ACCEPT":
        return ""
    verdict = _walk(host, filter_table, "INPUT", port, source, depth=0)
    if verdict == "DROP" or (verdict is None and host.iptables_policies["filter"].get("INPUT") == "DROP"):
        return f"{host.node_name}'s INPUT chain drops VXLAN (UDP {port}) from {source}"
    return ""


def _walk(host: HostState, chains: dict, chain: str, port: int, source: str, depth: int) -> str | None:
    if depth > 8:
        return None
    for rule in chains.get(chain, []):
        target = _target(rule)
        if target is None or not _matches(host, rule, port, source):
            continue
        if target in ("ACCEPT", "DROP", "REJECT"):
            return "DROP" if target in ("DROP", "REJECT") else "ACCEPT"
        if target == "RETURN":
            return None
        if target in chains:
            verdict = _walk(host, chains, target, port, source, depth + 1)
            if verdict is not None:
                return verdict
    return None


def _target(rule: str) -> str | None:
    tokens = rule.split()
    for i, token in enumerate(tokens[:-1]):
        if token in ("-j", "-g"):
            return tokens[i + 1]
    return None


def _matches(host: HostState, rule: str, port: int, source: str) -> bool:
    tokens, i = rule.split(), 2
    while i < len(tokens):
        token = tokens[i]
        negated = token == "!"
        if negated:
            i += 1
            token = tokens[i]
        if token in ("-j", "-g"):
            return True
        value = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token == "-m":
            i += 2
            continue
        if token == "--comment":
            i += 2
            while i < len(tokens) and not tokens[i - 1].endswith('"'):
                i += 1  # a quoted comment of several words
            continue
        if token == "-p":
            ok = value == "udp"
        elif token in ("--dports", "--dport"):
            ok = str(port) in value.split(",")
        elif token == "--match-set":
            ok = tokens[i + 2] == "src" and _in_set(host.ipsets.get(value), source)
            i += 1
        elif token == "--dst-type":
            ok = value == "LOCAL"
        elif token == "-s":
            ok = ipaddress.ip_address(source) in ipaddress.ip_network(value, strict=False)
        else:
            return False  # a match this model does not read: the packet is taken not to match
        if ok == negated:
            return False
        i += 2
    return True


def _in_set(members: set[str] | None, address: str) -> bool:
    if not members:
        return False
    if address in members:
        return True
    ip = ipaddress.ip_address(address)
    return any("/" in m and ip in ipaddress.ip_network(m, strict=False) for m in members)
