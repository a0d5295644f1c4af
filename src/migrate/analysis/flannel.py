"""Is there a Flannel this tool can migrate live, and is anything else already in the way?"""
from __future__ import annotations

import ipaddress

from .finding import BLOCKER, INFO, WARNING, Finding, names

LIVE_BACKEND = "vxlan"  # Calico's VXLAN can only impersonate Flannel's VXLAN (DESIGN section 2)
MAINTENANCE_WINDOW = ("use a maintenance-window strategy instead (all nodes switch to Calico in one outage window), "
                      "or first switch Flannel's backend to vxlan with DirectRouting off in a separate change")


def flannel_network(content: dict) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """Flannel's `Network` from net-conf.json, when Flannel was found and its config parsed."""
    network = ((content.get("flannel") or {}).get("netConf") or {}).get("network")
    return ipaddress.ip_network(network, strict=False) if network else None


def check(content: dict, **_) -> list[Finding]:
    flannel = content.get("flannel") or {}
    if not flannel.get("found"):
        return [Finding(BLOCKER, "FLANNEL_NOT_FOUND",
                        "no Flannel found; looked for " + "; ".join(flannel.get("searched") or ["nothing recorded"]),
                        "check the kubeconfig points at the right cluster; if Flannel runs under another name, "
                        "label its pods app=flannel and take a new snapshot")]
    where = f"{flannel.get('namespace')}/{flannel.get('daemonSet')}"
    findings = [Finding(INFO, "FLANNEL_FOUND",
                        f"Flannel found in namespace {flannel.get('namespace')} as DaemonSet {flannel.get('daemonSet')} "
                        f"({flannel.get('flavor')}, image {flannel.get('image')}, ConfigMap {flannel.get('configMap')})",
                        "nothing to do")]
    if flannel.get("flavor") == "canal":
        # As Calico's own controller does for Canal (Calico v3.32.1 kube-controllers/pkg/controllers/
        # flannelmigration/migration_controller.go CheckShouldMigrate, ipam_migrator.go, network_migrator.go):
        # the canal DaemonSet leaves each node as calico.yaml's calico-node arrives, Canal's pool is adopted.
        findings.append(Finding(INFO, "CANAL_DETECTED",
                                f"Canal detected ({where}): its calico-node container enforces NetworkPolicy today "
                                "and its flannel container moves the packets; each node is handed from the canal "
                                "DaemonSet to calico-node, which keeps enforcing the policies, and the Calico "
                                "objects Canal created (its IPPool, FelixConfiguration) are adopted, not replaced",
                                "nothing to do; keep --policy per-node (the default here)"))
    findings += _addon_manager(flannel, where)
    net_conf = flannel.get("netConf") or {}
    if "parseError" in net_conf:
        findings.append(Finding(BLOCKER, "NET_CONF_UNREADABLE",
                                f"{where}: {net_conf['parseError']} (ConfigMap {flannel.get('configMap')})",
                                "repair net-conf.json in Flannel's ConfigMap (Network, Backend.Type) and take a new "
                                "snapshot"))
        return findings
    backend = net_conf.get("backend") or {}
    if backend.get("type") != LIVE_BACKEND:
        findings.append(Finding(BLOCKER, "BACKEND_NOT_VXLAN",
                                f"Flannel backend is {backend.get('type')!r} ({where}); a live, node-by-node migration "
                                "needs the vxlan backend, which Calico's VXLAN can interoperate with",
                                MAINTENANCE_WINDOW))
    elif backend.get("directRouting"):
        findings.append(Finding(BLOCKER, "VXLAN_DIRECT_ROUTING",
                                f"Flannel VXLAN has DirectRouting on ({where}): same-subnet traffic is routed "
                                "host-gw style, which Calico's VXLAN cannot interoperate with",
                                MAINTENANCE_WINDOW))
    else:
        findings += _vteps(content.get("nodes") or [])
        if backend.get("gbp"):
            # flannel v0.28.9 Documentation/backends.md: "GBP (Boolean): Enable VXLAN Group Based Policy";
            # Calico's VXLAN device carries no GBP extension, so Flannel's group-policy marking ends at hand-off
            findings.append(Finding(WARNING, "VXLAN_GBP",
                                    f"Flannel VXLAN has GBP (Group Based Policy) on ({where}): Calico's VXLAN device "
                                    "does not use the GBP extension, so any rule that reads the VXLAN group-policy "
                                    "ID stops matching on migrated nodes",
                                    "move such rules to Calico NetworkPolicy, or set Backend.GBP false and restart "
                                    "Flannel before migrating"))
    findings += _non_linux(content.get("nodes") or [])
    if not net_conf.get("network"):
        findings.append(Finding(BLOCKER, "NETWORK_UNKNOWN", f"net-conf.json in {where} has no Network",
                                "set Network in net-conf.json to the cluster's pod CIDR"))
    findings += _calico(content.get("calico") or {}, flannel_network(content))
    return findings


def _non_linux(nodes: list[dict]) -> list[Finding]:
    """Windows (or any non-Linux) nodes: the hand-off is Linux-only (a privileged shell pod, `ip`, cni0),
    calico.yaml's calico-node runs only on kubernetes.io/os=linux, and Flannel on Windows cannot share the
    Linux VXLAN settings: flannel v0.28.9 Documentation/backends.md, VXLAN "VNI ... On Windows should be
    greater than or equal to 4096", "Port ... on Windows, must be 4789", GBP and DirectRouting "not
    supported on Windows"."""
    others = [f"{n['name']} ({n['os']})" for n in nodes if n.get("os")]
    if not others:
        return []
    return [Finding(BLOCKER, "NODE_NOT_LINUX",
                    f"non-Linux nodes: {', '.join(others)}; this tool hands off Linux nodes only (Calico's "
                    "calico.yaml runs calico-node on kubernetes.io/os=linux only), and Flannel on Windows needs "
                    "VXLAN VNI 4096 or above and port 4789, which Calico's Flannel-compatible VXLAN (the Linux "
                    "VNI and port) cannot serve for both",
                    "drain and remove the Windows nodes (or move their workloads to Linux nodes) before "
                    "migrating, and add them back after finalize with Calico for Windows; a cluster that must "
                    "keep Windows nodes during the change needs a maintenance-window migration")]


def _vteps(nodes: list[dict]) -> list[Finding]:
    """Calico takes over each node's Flannel VTEP MAC; a node without one has nothing to take over."""
    missing = [n["name"] for n in nodes if not (n.get("flannel") or {}).get("vtepMAC") and not n.get("os")]
    if not missing:
        return []
    return [Finding(BLOCKER, "NODE_WITHOUT_FLANNEL_VTEP",
                    f"nodes without Flannel's VTEP annotation (flannel.alpha.coreos.com/backend-data): "
                    f"{names(missing)}; Calico cannot take over a VTEP Flannel never set up there",
                    "check the Flannel pod on those nodes (kubectl -n <flannel namespace> get pods -o wide), fix it "
                    "until it runs and annotates the node, then take a new snapshot")]


def _addon_manager(flannel: dict, where: str) -> list[Finding]:
    mode = flannel.get("addonManager")
    if not mode:
        return []
    if mode == "EnsureExists":  # recreated only when deleted: a problem only at finalize
        return [Finding(WARNING, "FLANNEL_ADDON_MANAGED",
                        f"{where} is owned by the addon manager (mode EnsureExists): deleting it at the end would "
                        "bring Flannel back", "remove Flannel's manifest from the addon manager's directory on the "
                        "control-plane nodes before finalizing")]
    return [Finding(BLOCKER, "FLANNEL_ADDON_MANAGED",
                    f"{where} is owned by the addon manager (mode {mode}): it would revert the migration's "
                    "node selector on the DaemonSet and put Flannel back on migrated nodes",
                    "remove Flannel's manifest from the addon manager's directory (usually "
                    "/etc/kubernetes/addons) on the control-plane nodes, or set its label to EnsureExists")]


def _calico(calico: dict, network) -> list[Finding]:
    findings = []
    node = calico.get("calicoNode")
    if node:
        findings.append(Finding(BLOCKER, "CALICO_ALREADY_RUNNING",
                                f"a calico-node DaemonSet already runs ({node.get('namespace')}/{node.get('name')})",
                                "find out who installed it; remove it, or migrate with that installation's own tooling"))
    for pool in calico.get("ipPools") or []:
        cidr = pool.get("cidr")
        if not cidr or pool.get("disabled"):
            continue
        pool_net = ipaddress.ip_network(cidr, strict=False)
        if network is None or pool_net.version != network.version or pool_net == network:
            continue
        if pool_net.overlaps(network):
            findings.append(Finding(BLOCKER, "CALICO_POOL_CONFLICT",
                                    f"Calico IPPool {pool.get('name')} ({cidr}) overlaps Flannel's Network {network} "
                                    "without matching it: Calico could hand out addresses Flannel nodes also use",
                                    f"delete or disable IPPool {pool.get('name')}, or change its cidr to {network}"))
        else:
            findings.append(Finding(WARNING, "CALICO_POOL_EXTRA",
                                    f"Calico IPPool {pool.get('name')} ({cidr}) lies outside Flannel's Network "
                                    f"{network}: pods on migrated nodes could get addresses from it",
                                    f"disable IPPool {pool.get('name')} during the migration"))
    return findings
