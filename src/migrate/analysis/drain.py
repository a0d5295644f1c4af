"""What a node-by-node drain will run into: PDBs, pods that die with their node, nodes not there."""
from __future__ import annotations

from ..labels import selector_matches
from ..snapshot import REPLICATED_WORKLOADS
from .finding import BLOCKER, WARNING, Finding, names


def check(content: dict, **_) -> list[Finding]:
    nodes = content.get("nodes") or []
    findings = []
    not_ready = [f"{n['name']} (Ready={n.get('ready')})" for n in nodes if n.get("ready") != "True"]
    if not_ready:
        findings.append(Finding(BLOCKER, "NODE_NOT_READY", f"nodes not Ready: {names(not_ready)}; their hand-off pod "
                                "cannot run and calico-node cannot be verified there",
                                "repair or remove those nodes (kubectl delete node) before migrating"))
    blocking = [p for p in content.get("podDisruptionBudgets") or []
                if (p.get("status") or {}).get("disruptionsAllowed") == 0]
    if blocking:
        described = [f"{p['namespace']}/{p['name']} (disruptionsAllowed={p['status'].get('disruptionsAllowed')}, "
                     f"currentHealthy={p['status'].get('currentHealthy')}, "
                     f"desiredHealthy={p['status'].get('desiredHealthy')})" for p in blocking]
        findings.append(Finding(BLOCKER, "PDB_BLOCKS_DRAIN",
                                f"PodDisruptionBudgets allow no disruption now, so draining a node with their pods "
                                f"would block: {names(described)}",
                                "scale those workloads up or relax minAvailable/maxUnavailable, and wait until "
                                "their pods are healthy, so each allows at least one disruption"))
    if len(nodes) == 1:
        findings.append(Finding(WARNING, "SINGLE_NODE_CLUSTER",
                                f"the cluster has one node ({nodes[0]['name']}): drained pods have nowhere to go, so "
                                "every pod is down while the node is handed off",
                                "add a node first for a migration without downtime, or schedule a maintenance window"))
    findings += _lost_on_drain(content.get("pods") or {})
    findings += _system_without_budget(content.get("pods") or {}, content.get("podDisruptionBudgets") or [])
    return findings


def _system_without_budget(pods_by_node: dict, pdbs: list[dict]) -> list[Finding]:
    """Replicated kube-system workloads no PDB covers (kubeadm's CoreDNS: 2 replicas, none): only the order of
    the waves and the drain's own wait for another ready replica keep one of them up."""
    replicas: dict[str, list] = {}
    for node, pods in pods_by_node.items():
        for p in pods:
            if p["namespace"] == "kube-system" and (p.get("workload") or "").startswith(REPLICATED_WORKLOADS):
                replicas.setdefault(p["workload"], []).append((node, p.get("labels") or {}))
    budgets = [b for b in pdbs if b["namespace"] == "kube-system"]
    bare = [f"{workload} ({len(on)} replicas on {', '.join(sorted({n for n, _ in on}))})"
            for workload, on in sorted(replicas.items())
            if len(on) > 1 and not any(selector_matches(b.get("selector"), on[0][1]) for b in budgets)]
    if not bare:
        return []
    return [Finding(WARNING, "SYSTEM_WORKLOAD_WITHOUT_PDB",
                    f"replicated kube-system workloads have no PodDisruptionBudget, so nothing in the API stops "
                    f"a drain from evicting all their replicas at once: {names(bare)}",
                    "add a PodDisruptionBudget (e.g. kubectl -n kube-system create pdb coredns "
                    "--selector=k8s-app=kube-dns --min-available=1); the plan already keeps their replicas' nodes in "
                    "different waves and the drain waits for another ready replica")]


def _lost_on_drain(pods_by_node: dict) -> list[Finding]:
    unmanaged, empty_dir = [], []
    for node, pods in pods_by_node.items():
        bare = [f"{p['namespace']}/{p['name']}" for p in pods if p.get("kind") == "unmanaged"]
        scratch = [f"{p['namespace']}/{p['name']}" for p in pods
                   if p.get("emptyDir") and p.get("kind") not in ("daemonset", "mirror")]
        if bare:
            unmanaged.append(f"{node}: {names(bare, 5)}")
        if scratch:
            empty_dir.append(f"{node}: {names(scratch, 5)}")
    findings = []
    if unmanaged:
        findings.append(Finding(WARNING, "UNMANAGED_PODS",
                                f"pods no controller will re-create are deleted for good when their node is drained: "
                                f"{'; '.join(unmanaged)}",
                                "run them under a Deployment/StatefulSet/Job, or accept their loss (the plan's drain "
                                "then needs force)"))
    if empty_dir:
        findings.append(Finding(WARNING, "EMPTYDIR_PODS",
                                f"pods with emptyDir volumes lose that data when their node is drained: "
                                f"{'; '.join(empty_dir)}",
                                "move data that matters to persistent volumes, or accept its loss (the plan's drain "
                                "then deletes emptyDir data)"))
    return findings
