"""`migrate verify`: prove the pod network now, on any cluster, mid-migration or long after."""
from __future__ import annotations

import ipaddress

import click
from rich.markup import escape

from .console import console, err_console
from .errors import EXIT_FAILED, UserError
from .execute import clock as clocks
from .execute.context import StepContext
from .execute.kinds.handoff import calico_node_on, pod_ready
from .execute.kinds.objects import namespace_labels
from .execute.kinds.verify import check_connectivity, check_leftovers
from .kube import AlreadyExists, NotFound, connect
from .plan.options import DEFAULT_NAMESPACE

CALICO_NODE = "/apis/apps/v1/namespaces/kube-system/daemonsets/calico-node"


def node_checks(kube) -> list[tuple[str, bool, str]]:
    """Per node: Ready, and every pod-network pod's IP inside the node's podCIDR."""
    results = []
    pods = kube.list("/api/v1/pods")
    for node in kube.list("/api/v1/nodes"):
        name = node["metadata"]["name"]
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (node.get("status") or {}).get("conditions") or [])
        results.append((f"{name} Ready", ready, "" if ready else "the kubelet reports NotReady"))
        cidr = node["spec"].get("podCIDR")
        if not cidr:
            continue
        outside = [f"{p['metadata']['namespace']}/{p['metadata']['name']} {p['status']['podIP']}" for p in pods
                   if p["spec"].get("nodeName") == name and not p["spec"].get("hostNetwork")
                   and (p.get("status") or {}).get("podIP")
                   and ipaddress.ip_address(p["status"]["podIP"]) not in ipaddress.ip_network(cidr)]
        results.append((f"{name} pod IPs in {cidr}", not outside, "; ".join(outside[:4])))
    return results


def verify_now(kube, clock, *, namespace: str, emit=lambda event: None) -> list[tuple[str, bool, str]]:
    """Every check, each as (what, passed, why not). Leaves nothing behind but the namespace it found."""
    ctx = StepContext(kube, None, clock=clock, emit=emit)
    results = node_checks(kube)
    created = False
    if kube.get_optional(f"/api/v1/namespaces/{namespace}") is None:
        try:
            # labelled as the migration's own namespace: the leftover check runs privileged host pods
            kube.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                               "metadata": {"name": namespace, "labels": namespace_labels()}})
            created = True
        except AlreadyExists:
            pass
    try:
        try:
            sample = check_connectivity(ctx, namespace)
            results.append((f"pod-to-pod, service and DNS between {', '.join(sample)}", True, ""))
        except UserError as failed:
            results.append(("pod-to-pod, service and DNS", False, failed.message))
        calico = kube.get_optional(CALICO_NODE)
        if calico is not None:
            image = calico["spec"]["template"]["spec"]["containers"][0]["image"]
            for node in kube.list("/api/v1/nodes"):
                name = node["metadata"]["name"]
                agent = calico_node_on(ctx, name)
                if not (agent and pod_ready(agent)):
                    continue  # still on Flannel: leftovers are expected there
                try:
                    # Flannel's VNI is gone with its ConfigMap; 1 is its default and near universal. Whether it ran
                    # in nftables mode is gone too: look for its iptables chains and its nftables tables
                    check_leftovers(ctx, name, namespace=namespace, image=image, vni=1, nft=None)
                    results.append((f"{name} has no Flannel leftover", True, ""))
                except UserError as failed:  # a refused pod too (PodSecurity, a webhook)
                    results.append((f"{name} has no Flannel leftover", False, failed.message))
    finally:
        if created:
            try:
                kube.delete(f"/api/v1/namespaces/{namespace}")
            except NotFound:
                pass
    return results


@click.command()
@click.option("--kubeconfig", metavar="FILE", help="Kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster).")
@click.option("--context", metavar="NAME", help="Kubeconfig context.")
@click.option("--namespace", default=DEFAULT_NAMESPACE, show_default=True,
              help="Where the probe pods run (created and removed if absent).")
def verify(kubeconfig, context, namespace):
    """Prove the pod network: nodes Ready, pod IPs inside their node's podCIDR, pod-to-pod across zones,
    pod-to-service and DNS, and no Flannel leftover on nodes that run Calico.

    Exit codes: 0 every check passed, 1 a check failed, 2 bad input (no cluster reached)."""
    kube = connect(kubeconfig, context)
    results = verify_now(kube, clocks.cli_clock(), namespace=namespace)
    for what, passed, why in results:
        mark = "[green]ok  [/green]" if passed else "[bold red]FAIL[/bold red]"
        console.print(f"{mark} {escape(what)}" + (f": {escape(why)}" if why else ""), soft_wrap=True)
    failed = sum(not passed for _, passed, _ in results)
    err_console.print(f"{len(results) - failed} passed, {failed} failed", soft_wrap=True)
    if failed:
        click.get_current_context().exit(EXIT_FAILED)
