"""Rendering of a simulated cluster as seen through the API (the demo's output)."""
from __future__ import annotations

import json
from collections import Counter

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table


def _print_table(console: Console, table: Table) -> None:
    """A terminal wraps the table to fit; piped output (a file, a pager, a test) gets it whole, unclipped."""
    if console.is_terminal:
        console.print(table)
        return
    width = max(console.width, Measurement.get(console, console.options.update_width(1000), table).maximum)
    Console(file=console.file, width=width, highlight=False, emoji=False, color_system=None).print(table)


def _node_status(node) -> str:
    """As kubectl's STATUS column says it."""
    ready = next((c.status for c in node.status.conditions or [] if c.type == "Ready"), None)
    text = {"True": "Ready", None: "Unknown"}.get(ready, "NotReady")
    return text + (",SchedulingDisabled" if node.spec.unschedulable else "")


def _vtep_mac(node) -> str:
    data = (node.metadata.annotations or {}).get("flannel.alpha.coreos.com/backend-data") or ""
    try:
        decoded = json.loads(data)
    except ValueError:
        return "-"
    return decoded.get("VtepMAC", "-") if isinstance(decoded, dict) else "-"


def render_cluster(console: Console, running) -> None:
    from kubernetes import client

    api = running.api_client()
    core = client.CoreV1Api(api)
    apps = client.AppsV1Api(api)
    nodes = core.list_node().items
    pods = core.list_pod_for_all_namespaces().items
    per_node = Counter(p.spec.node_name for p in pods)
    table = Table("node", "status", "roles", "zone", "internal IP", "podCIDR", "pods", "flannel VTEP MAC",
                  title=f"scenario {escape(running.cluster.scenario.name)}: nodes")
    for node in nodes:
        labels = node.metadata.labels or {}
        roles = ",".join(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")) or "worker"
        ip = next((a.address for a in node.status.addresses or [] if a.type == "InternalIP"), "")
        table.add_row(node.metadata.name, _node_status(node), roles, labels.get("topology.kubernetes.io/zone", ""), ip,
                      node.spec.pod_cidr or "-", str(per_node[node.metadata.name]), _vtep_mac(node))
    _print_table(console, table)
    phases = Counter(p.status.phase for p in pods)
    daemonsets = apps.list_daemon_set_for_all_namespaces().items
    console.print("pods: " + ", ".join(f"{n} {phase}" for phase, n in sorted(phases.items())))
    for ds in daemonsets:
        console.print(f"daemonset {ds.metadata.namespace}/{ds.metadata.name}: "
                      f"{ds.status.number_ready or 0}/{ds.status.desired_number_scheduled or 0} ready")
    probe = running.cluster.network.probe
    style = "green" if probe.failed == 0 else "red"
    console.print(f"traffic probe: {probe.samples} flows sampled, [{style}]{probe.failed} failed[/{style}], "
                  f"{probe.denied_by_policy} denied by NetworkPolicy")
