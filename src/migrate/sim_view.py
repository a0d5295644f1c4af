"""Rendering of a simulated cluster as seen through the API (the demo's output)."""
from __future__ import annotations

import json
from collections import Counter

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from . import kube


def _print_table(console: Console, table: Table) -> None:
    """A terminal wraps the table to fit; piped output (a file, a pager, a test) gets it whole, unclipped."""
    if console.is_terminal:
        console.print(table)
        return
    width = max(console.width, Measurement.get(console, console.options.update_width(1000), table).maximum)
    Console(file=console.file, width=width, highlight=False, emoji=False, color_system=None).print(table)


def _node_status(node: dict) -> str:
    """As kubectl's STATUS column says it."""
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = next((c.get("status") for c in conditions if c.get("type") == "Ready"), None)
    text = {"True": "Ready", None: "Unknown"}.get(ready, "NotReady")
    return text + (",SchedulingDisabled" if (node.get("spec") or {}).get("unschedulable") else "")


def _vtep_mac(node: dict) -> str:
    data = (node["metadata"].get("annotations") or {}).get("flannel.alpha.coreos.com/backend-data") or ""
    try:
        decoded = json.loads(data)
    except ValueError:
        return "-"
    return decoded.get("VtepMAC", "-") if isinstance(decoded, dict) else "-"


def render_cluster(console: Console, running) -> None:
    """The cluster as the tool reads it: through the API (migrate.kube), as plain objects."""
    api = kube.connect(str(running.kubeconfig_path))
    nodes = api.list("/api/v1/nodes")
    pods = api.list("/api/v1/pods")
    per_node = Counter((p.get("spec") or {}).get("nodeName") for p in pods)
    table = Table("node", "status", "roles", "zone", "internal IP", "podCIDR", "pods", "flannel VTEP MAC",
                  title=f"scenario {escape(running.cluster.scenario.name)}: nodes")
    for node in nodes:
        name, labels = node["metadata"]["name"], node["metadata"].get("labels") or {}
        roles = ",".join(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")) or "worker"
        ip = next((a["address"] for a in (node.get("status") or {}).get("addresses") or []
                   if a.get("type") == "InternalIP"), "")
        table.add_row(name, _node_status(node), roles, labels.get("topology.kubernetes.io/zone", ""), ip,
                      (node.get("spec") or {}).get("podCIDR") or "-", str(per_node[name]), _vtep_mac(node))
    _print_table(console, table)
    phases = Counter((p.get("status") or {}).get("phase") for p in pods)
    console.print("pods: " + ", ".join(f"{n} {phase}" for phase, n in sorted(phases.items())))
    for ds in api.list("/apis/apps/v1/daemonsets"):
        status = ds.get("status") or {}
        console.print(f"daemonset {ds['metadata']['namespace']}/{ds['metadata']['name']}: "
                      f"{status.get('numberReady', 0)}/{status.get('desiredNumberScheduled', 0)} ready")
    probe = running.cluster.network.probe
    style = "green" if probe.failed == 0 else "red"
    console.print(f"traffic probe: {probe.samples} flows sampled, [{style}]{probe.failed} failed[/{style}], "
                  f"{probe.denied_by_policy} denied by NetworkPolicy")
