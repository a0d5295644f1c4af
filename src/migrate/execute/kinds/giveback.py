"""Giving a node's host back to Flannel clean: what Felix left there, and the host-local reservations of pods
that are gone. Pure functions turn what a read-only pod saw on the host into the commands that remove it.

Felix removes nothing when calico-node stops (felix/daemon/daemon.go), so its chains, the rules hooking them
and its ipsets stay, among them an INPUT filter that drops VXLAN on Flannel's port from any host outside the
VTEP set of that moment (felix/rules/static.go "Drop IPv4 VXLAN packets from non-allowed hosts"). What is
Felix's is told by name, as Felix tells it: every chain named cali-* (felix/rules/rule_defs.go
ChainNamePrefix), every rule elsewhere that jumps to one or carries a "cali:" comment (its rule hashes), the
ipsets cali40*/cali60* and, in nftables mode, the tables ip/ip6 calico (int_dataplane.go)."""
from __future__ import annotations

import ipaddress
import json
import re
import shlex

FELIX_CHAIN = "cali-"
FELIX_SETS = ("cali40", "cali60")
# Printed by the read pod; each section of its log starts with one of these lines.
SECTIONS = ("iptables", "ip6tables", "ipsets", "nft")
READ_SCRIPT = ["echo '### iptables'", "iptables-save", "echo '### ip6tables'", "ip6tables-save",
               "echo '### ipsets'", "ipset list -n", "echo '### nft'", "nft list tables || true"]


# Felix's own chains that the kernel's chains jump to (felix/rules/rule_defs.go), by table. Flushed, every hook
# into them falls through, so nothing Felix left applies any more, though the chains and ipsets stay: what the
# give-back can do when it could not read the host's full listing.
FELIX_TOP_CHAINS = {"filter": ("cali-INPUT", "cali-FORWARD", "cali-OUTPUT"),
                    "nat": ("cali-PREROUTING", "cali-POSTROUTING", "cali-OUTPUT"),
                    "mangle": ("cali-PREROUTING", "cali-POSTROUTING"),
                    "raw": ("cali-PREROUTING", "cali-OUTPUT")}


def felix_neutralised() -> list[str]:
    """Commands flushing Felix's top chains in iptables and ip6tables; a chain that is not there is no error."""
    return [f"{tool} -t {table} -F {chain} 2>/dev/null || true" for tool in ("iptables", "ip6tables")
            for table, chains in FELIX_TOP_CHAINS.items() for chain in chains]


def sections(log: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {name: [] for name in SECTIONS}
    current = None
    for line in log.splitlines():
        if line.startswith("### ") and line[4:].strip() in found:
            current = line[4:].strip()
        elif current is not None and line.strip():
            found[current].append(line.rstrip())
    return found


def felix_cleanup(log: str) -> list[str]:
    """The commands that remove Felix's state the read pod's log shows: the rules hooking its chains (and its
    other rules in chains not its own), then its chains emptied and deleted, then its ipsets (a set a rule still
    matches cannot be destroyed), then its nftables tables."""
    parts = sections(log)
    commands: list[str] = []
    for program in ("iptables", "ip6tables"):
        table, chains, hooks = None, [], []
        for line in parts[program]:
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith(":") and table:
                name = line[1:].split()[0]
                if name.startswith(FELIX_CHAIN):
                    chains.append((table, name))
            elif line.startswith("-A ") and table:
                words = shlex.split(line)
                if not words[1].startswith(FELIX_CHAIN) and _felix_rule(words):
                    hooks.append(f"{program} -t {table} -D {shlex.join(words[1:])} || true")
        commands += hooks
        commands += [f"{program} -t {table} -F {name} || true" for table, name in chains]
        commands += [f"{program} -t {table} -X {name}" for table, name in chains]
    commands += [f"ipset destroy {name}" for name in parts["ipsets"] if name.startswith(FELIX_SETS)]
    for line in parts["nft"]:
        words = line.split()
        if len(words) == 3 and words[0] == "table" and words[1] in ("ip", "ip6") and words[2] == "calico":
            commands.append(f"nft delete table {words[1]} calico")
    return commands


def _felix_rule(words: list[str]) -> bool:
    target = next((words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-j", "-g")), "")
    comments = [words[i + 1] for i, w in enumerate(words[:-1]) if w == "--comment"]
    return target.startswith(FELIX_CHAIN) or any(c.startswith("cali:") for c in comments)


def reservation_files(log: str) -> list[str]:
    """The host-local reservations `ls` listed (files named by address; last_reserved_ip.* and lock are not)."""
    found = []
    for name in log.split():
        try:
            ipaddress.ip_address(name)
        except ValueError:
            continue
        found.append(name)
    return found


def network_name(configmap: dict | None, canal: bool) -> str:
    """The CNI network Flannel's pods are reserved under (/var/lib/cni/networks/<name>): the `name` of the CNI
    config its ConfigMap installs (kube-flannel.yml cni-conf.json: cbr0; canal.yaml cni_network_config:
    k8s-pod-network)."""
    data = (configmap or {}).get("data") or {}
    for key in ("cni-conf.json", "cni_network_config"):
        text = data.get(key)
        if not text:
            continue
        try:
            name = json.loads(text).get("name")
        except ValueError:  # canal's is a template with placeholders: read the name as text
            match = re.search(r'"name"\s*:\s*"([^"]+)"', text)
            name = match.group(1) if match else None
        if name:
            return name
    return "k8s-pod-network" if canal else "cbr0"
