"""Rendering of a simulated cluster as seen through the API (the demo's output)."""
from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table


def render_cluster(console: Console, running) -> None:
    from kubernetes import client

    api = running.api_client()
    core = client.CoreV1Api(api)
    apps = client.AppsV1Api(api)
    nodes = core.list_node().items
    pods = core.list_pod_for_all_namespaces().items
    per_node = Counter(p.spec.node_name for p in pods)
    table = Table("node", "roles", "zone", "internal IP", "podCIDR", "ready", "pods", "flannel VTEP MAC",
                  title=f"scenario {running.cluster.scenario.name}: nodes")
    for node in nodes:
        labels = node.metadata.labels or {}
        roles = ",".join(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")) or "worker"
        ready = next((c.status for c in node.status.conditions if c.type == "Ready"), "?")
        ip = next((a.address for a in node.status.addresses if a.type == "InternalIP"), "")
        backend = (node.metadata.annotations or {}).get("flannel.alpha.coreos.com/backend-data", "")
        mac = backend.split('"VtepMAC":"')[1].split('"')[0] if '"VtepMAC":"' in backend else "-"
        table.add_row(node.metadata.name, roles, labels.get("topology.kubernetes.io/zone", ""), ip,
                      node.spec.pod_cidr or "-", ready, str(per_node[node.metadata.name]), mac)
    console.print(table)
    phases = Counter(p.status.phase for p in pods)
    daemonsets = apps.list_daemon_set_for_all_namespaces().items
    console.print("pods: " + ", ".join(f"{n} {phase}" for phase, n in sorted(phases.items())))
    for ds in daemonsets:
        console.print(f"daemonset {ds.metadata.namespace}/{ds.metadata.name}: "
                      f"{ds.status.number_ready}/{ds.status.desired_number_scheduled} ready")
    probe = running.cluster.network.probe
    style = "green" if probe.failed == 0 else "red"
    console.print(f"traffic probe: {probe.samples} flows sampled, [{style}]{probe.failed} failed[/{style}], "
                  f"{probe.denied_by_policy} denied by NetworkPolicy")
