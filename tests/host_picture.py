"""A node's host as a rollback must leave it: what the migration's agents and steps change there, with what
belongs to single pods (their veths, routes and reservations) read as whether it still has an owner."""
from __future__ import annotations

import posixpath

KEPT_DIRS = ("/etc/cni/net.d/", "/run/flannel/", "/var/lib/cni/")
NETWORKS = "/var/lib/cni/networks/"


def host_picture(cluster, node: str) -> dict:
    """Interfaces (but pods' veths), routes (but those to pods' veths), iptables/ip6tables chains and
    policies, nftables tables, ipsets, the files under /etc/cni/net.d, /run/flannel and /var/lib/cni (host-local
    reservations as the ones no live sandbox owns), and the sandboxes of deleted pods not yet torn down."""
    host, network = cluster.ctx.hosts[node], cluster.network
    snapshot = host.snapshot()
    veths = {name for name, i in host.interfaces.items() if i.kind == "veth"}
    live = {a.container_id for n, a in network.attachments.values() if n == node}
    files, stale = {}, []
    for path, content in snapshot["files"].items():
        if not path.startswith(KEPT_DIRS):
            continue
        if path.startswith(NETWORKS) and path.count("/") == 6:  # /var/lib/cni/networks/<network>/<entry>
            entry = posixpath.basename(path)
            if not entry.startswith("last_reserved_ip") and content.strip() not in live:
                stale.append(path)
            continue
        files[path] = content
    return {
        "interfaces": {name: {k: v for k, v in i.items() if k != "index"}
                       for name, i in snapshot["interfaces"].items() if name not in veths},
        "routes": sorted(r for r in snapshot["routes"] if not any(f"dev {v}" in r.split(" scope")[0] for v in veths)),
        **{k: snapshot[k] for k in ("iptables", "iptables_policies", "ip6tables", "ip6tables_policies", "nftables",
                                    "ipsets")},
        "files": files, "stale reservations": sorted(stale),
        "sandboxes of deleted pods": len(network.parked.get(node, [])),
    }


def differences(before: dict, after: dict) -> dict:
    """Each part of two pictures that differs, as (before, after): an assertion message a person can read."""
    return {k: (before.get(k), after.get(k)) for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)}
