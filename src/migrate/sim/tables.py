"""Server-side printing: the meta.k8s.io Table that `kubectl get` asks for."""
from __future__ import annotations

from typing import Callable

from .clock import parse_rfc3339


def human_age(seconds: float) -> str:
    """kubectl's HumanDuration rounding."""
    s = int(seconds)
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if d < 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 730:
        return f"{d}d"
    return f"{d // 365}y{d % 365}d"


def _age(obj: dict, now: float) -> str:
    created = obj["metadata"].get("creationTimestamp")
    return human_age(now - parse_rfc3339(created)) if created else "<unknown>"


def _node_status(node: dict) -> str:
    ready = next((c for c in node.get("status", {}).get("conditions", []) if c.get("type") == "Ready"), None)
    text = "Ready" if ready and ready.get("status") == "True" else ("NotReady" if ready else "Unknown")
    if node.get("spec", {}).get("unschedulable"):
        text += ",SchedulingDisabled"
    return text


def _node_roles(node: dict) -> str:
    roles = sorted(k.split("/", 1)[1] for k in node["metadata"].get("labels", {})
                   if k.startswith("node-role.kubernetes.io/"))
    return ",".join(roles) or "<none>"


def _node_address(node: dict, kind: str) -> str:
    return next((a["address"] for a in node.get("status", {}).get("addresses", []) if a.get("type") == kind), "<none>")


def _node_info(node: dict, field: str) -> str:
    return node.get("status", {}).get("nodeInfo", {}).get(field) or "<unknown>"


def _template_containers(obj: dict) -> list[dict]:
    return ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []


def _selector_string(obj: dict) -> str:
    """metav1.LabelSelectorAsSelector(spec.selector).String()"""
    from .selectors import SelectorError, selector_from_label_selector_object
    try:
        return str(selector_from_label_selector_object((obj.get("spec") or {}).get("selector")))
    except SelectorError:
        return ""


def _format_labels(labels: dict | None) -> str:
    """labels.FormatLabels: sorted k=v pairs, or <none>."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


# The priority-1 ("wide") columns that workload tables end with (layoutContainerCells).
_WORKLOAD_WIDE: list = [
    ("Containers", "string", 1, lambda o, n: ",".join(c.get("name", "") for c in _template_containers(o))),
    ("Images", "string", 1, lambda o, n: ",".join(c.get("image", "") for c in _template_containers(o))),
    ("Selector", "string", 1, lambda o, n: _selector_string(o)),
]


def pod_status_reason(pod: dict) -> str:
    """The STATUS column, as kubectl computes it from phase, init and container states."""
    status = pod.get("status", {})
    if pod["metadata"].get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            return "Unknown"
        if status.get("phase") not in ("Succeeded", "Failed"):
            return "Terminating"
    init_statuses = status.get("initContainerStatuses") or []
    init_total = len(pod.get("spec", {}).get("initContainers") or [])
    for i, cs in enumerate(init_statuses):
        state = cs.get("state", {})
        if "terminated" in state and state["terminated"].get("exitCode", 0) == 0:
            continue
        if "terminated" in state:
            return f"Init:{state['terminated'].get('reason') or 'Error'}"
        waiting = state.get("waiting", {}).get("reason")
        if waiting and waiting != "PodInitializing":
            return f"Init:{waiting}"
        return f"Init:{i}/{init_total}"
    reason = status.get("reason") or status.get("phase", "Pending")
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state", {})
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated", {}).get("reason"):
            reason = state["terminated"]["reason"]
    return reason


def _pod_ready(pod: dict) -> str:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    total = len(pod.get("spec", {}).get("containers") or [])
    return f"{sum(1 for c in statuses if c.get('ready'))}/{total}"


def _restarts(pod: dict, now: float) -> str:
    """printPod's RESTARTS: the count, and how long ago the last restart was ("3 (5m ago)")."""
    statuses = pod.get("status", {}).get("containerStatuses") or []
    restarts = sum(c.get("restartCount", 0) for c in statuses)
    finished = [parse_rfc3339(c["lastState"]["terminated"]["finishedAt"]) for c in statuses
                if ((c.get("lastState") or {}).get("terminated") or {}).get("finishedAt")]
    if restarts and finished:
        return f"{restarts} ({human_age(now - max(finished))} ago)"
    return str(restarts)


def _readiness_gates(pod: dict) -> str:
    gates = pod.get("spec", {}).get("readinessGates") or []
    if not gates:
        return "<none>"
    conditions = {c.get("type"): c.get("status") for c in pod.get("status", {}).get("conditions") or []}
    return f"{sum(1 for g in gates if conditions.get(g.get('conditionType')) == 'True')}/{len(gates)}"


Column = tuple[str, str, int, Callable[[dict, float], object]]  # name, type, priority, value

_COLUMNS: dict[str, list[Column]] = {
    "Node": [
        ("Name", "string", 0, lambda o, n: o["metadata"]["name"]),
        ("Status", "string", 0, lambda o, n: _node_status(o)),
        ("Roles", "string", 0, lambda o, n: _node_roles(o)),
        ("Age", "string", 0, _age),
        ("Version", "string", 0, lambda o, n: o.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "")),
        ("Internal-IP", "string", 1, lambda o, n: _node_address(o, "InternalIP")),
        ("External-IP", "string", 1, lambda o, n: _node_address(o, "ExternalIP")),
        ("OS-Image", "string", 1, lambda o, n: _node_info(o, "osImage")),
        ("Kernel-Version", "string", 1, lambda o, n: _node_info(o, "kernelVersion")),
        ("Container-Runtime", "string", 1, lambda o, n: _node_info(o, "containerRuntimeVersion")),
    ],
    "Pod": [
        ("Name", "string", 0, lambda o, n: o["metadata"]["name"]),
        ("Ready", "string", 0, lambda o, n: _pod_ready(o)),
        ("Status", "string", 0, lambda o, n: pod_status_reason(o)),
        ("Restarts", "string", 0, _restarts),
        ("Age", "string", 0, _age),
        ("IP", "string", 1, lambda o, n: ((o.get("status", {}).get("podIPs") or [{}])[0].get("ip")
                                          or o.get("status", {}).get("podIP") or "<none>")),
        ("Node", "string", 1, lambda o, n: o.get("spec", {}).get("nodeName") or "<none>"),
        ("Nominated Node", "string", 1, lambda o, n: o.get("status", {}).get("nominatedNodeName") or "<none>"),
        ("Readiness Gates", "string", 1, lambda o, n: _readiness_gates(o)),
    ],
    "DaemonSet": [
        ("Name", "string", 0, lambda o, n: o["metadata"]["name"]),
        ("Desired", "integer", 0, lambda o, n: o.get("status", {}).get("desiredNumberScheduled", 0)),
        ("Current", "integer", 0, lambda o, n: o.get("status", {}).get("currentNumberScheduled", 0)),
        ("Ready", "integer", 0, lambda o, n: o.get("status", {}).get("numberReady", 0)),
        ("Up-to-date", "integer", 0, lambda o, n: o.get("status", {}).get("updatedNumberScheduled", 0)),
        ("Available", "integer", 0, lambda o, n: o.get("status", {}).get("numberAvailable", 0)),
        ("Node Selector", "string", 0, lambda o, n: _format_labels(o["spec"]["template"]["spec"].get("nodeSelector"))),
        ("Age", "string", 0, _age),
        *_WORKLOAD_WIDE,
    ],
    "Deployment": [
        ("Name", "string", 0, lambda o, n: o["metadata"]["name"]),
        ("Ready", "string", 0, lambda o, n: f"{o.get('status', {}).get('readyReplicas', 0)}/{o['spec'].get('replicas', 1)}"),
        ("Up-to-date", "string", 0, lambda o, n: o.get("status", {}).get("updatedReplicas", 0)),
        ("Available", "string", 0, lambda o, n: o.get("status", {}).get("availableReplicas", 0)),
        ("Age", "string", 0, _age),
        *_WORKLOAD_WIDE,
    ],
    "Namespace": [
        ("Name", "string", 0, lambda o, n: o["metadata"]["name"]),
        ("Status", "string", 0, lambda o, n: o.get("status", {}).get("phase", "")),
        ("Age", "string", 0, _age),
    ],
    "ConfigMap": [
        ("Name", "string", 0, lambda o, n: o["metadata"]["name"]),
        ("Data", "string", 0, lambda o, n: len(o.get("data") or {}) + len(o.get("binaryData") or {})),
        ("Age", "string", 0, _age),
    ],
    "PodDisruptionBudget": [
        ("Name", "string", 0, lambda o, n: o["metadata"]["name"]),
        ("Min Available", "string", 0, lambda o, n: str(o["spec"].get("minAvailable", "N/A"))),
        ("Max Unavailable", "string", 0, lambda o, n: str(o["spec"].get("maxUnavailable", "N/A"))),
        ("Allowed Disruptions", "integer", 0, lambda o, n: o.get("status", {}).get("disruptionsAllowed", 0)),
        ("Age", "string", 0, _age),
    ],
}
_DEFAULT_COLUMNS: list[Column] = [
    ("Name", "string", 0, lambda o, n: o["metadata"]["name"]),
    ("Age", "string", 0, _age),
]


def to_table(kind: str, items: list[dict], now: float, list_meta: dict, include_object: str = "Metadata") -> dict:
    columns = _COLUMNS.get(kind, _DEFAULT_COLUMNS)
    rows = []
    for obj in items:
        if include_object == "Object":
            row_object = obj
        elif include_object == "None":
            row_object = None
        else:
            row_object = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
        rows.append({"cells": [value(obj, now) for _, _, _, value in columns], "object": row_object})
    return {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
        "columnDefinitions": [{"name": name, "type": typ, "format": "name" if name == "Name" else "",
                               "description": "", "priority": prio} for name, typ, prio, _ in columns],
        "rows": rows,
    }
