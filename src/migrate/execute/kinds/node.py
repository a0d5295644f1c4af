"""Steps on one node: cordon, drain, the migration label, deleting the pods left on the old network."""
from __future__ import annotations

import datetime

from ...kube import Conflict, NotFound
from ..drain import DrainPolicy, drain_node, pods_to_drain
from .base import StepKind, kind


def timestamp(value: str | None) -> float:
    """Seconds since the epoch of an API timestamp (2026-11-24T08:00:00Z); 0 when absent."""
    if not value:
        return 0.0
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _node(ctx, step) -> dict:
    return ctx.kube.get(f"/api/v1/nodes/{step.node}")


@kind("cordon")
class Cordon(StepKind):
    def check(self, ctx, step):
        if _node(ctx, step)["spec"].get("unschedulable"):
            return "already cordoned before the migration" if step.params.get("wasCordoned") else "already cordoned"
        return None

    def apply(self, ctx, step):
        ctx.patch(f"/api/v1/nodes/{step.node}", {"spec": {"unschedulable": True}})
        if not ctx.writes or ctx.dry_run:
            ctx.result = f"would cordon {step.node}"


@kind("uncordon")
class Uncordon(StepKind):
    def check(self, ctx, step):
        return None if _node(ctx, step)["spec"].get("unschedulable") else "already schedulable"

    def apply(self, ctx, step):
        ctx.patch(f"/api/v1/nodes/{step.node}", {"spec": {"unschedulable": None}})
        if not ctx.writes or ctx.dry_run:
            ctx.result = f"would uncordon {step.node}"


@kind("drain")
class Drain(StepKind):
    def check(self, ctx, step):
        return None if pods_to_drain(ctx.kube, step.node) else "no pod left to evict"

    def apply(self, ctx, step):
        p = step.params
        policy = DrainPolicy(timeout_seconds=p["timeoutSeconds"], grace_period=p["gracePeriodSeconds"],
                             delete_emptydir_data=p["deleteEmptyDirData"], force=p["force"])
        if not ctx.writes:
            ctx.result = f"would drain {step.node}: evict {len(pods_to_drain(ctx.kube, step.node))} pod(s)"
            return
        result = drain_node(ctx.kube, step.node, policy, clock=ctx.clock, emit=ctx.emit,
                            should_stop=ctx.should_stop, dry_run=ctx.dry_run)
        if ctx.dry_run:  # the server accepted these evictions without performing them
            ctx.result = (f"would drain {step.node}: evict {len(result.evicted)} pod(s)"
                          + (f", {len(result.refused)} refused by their budget" if result.refused else ""))
            return
        ctx.say(f"drained {step.node}: {len(result.evicted)} evicted", evicted=list(result.evicted))

    def revert(self, ctx, step, mutations):
        """Nothing to put back: controllers re-created the evicted pods; uncordon lets them return."""


def flannel_pods_on(ctx, node: str) -> list[dict]:
    flannel = ctx.plan.step("prepare/flannel/keep-off-migrated").target.split("/")
    namespace, daemonset = flannel[1], flannel[2]
    pods = ctx.kube.list(f"/api/v1/namespaces/{namespace}/pods", field_selector=f"spec.nodeName={node}")
    return [p for p in pods if any(o.get("kind") == "DaemonSet" and o.get("name") == daemonset
                                   for o in p["metadata"].get("ownerReferences") or [])]


@kind("node-network-label")
class NodeNetworkLabel(StepKind):
    def check(self, ctx, step):
        labels = _node(ctx, step)["metadata"].get("labels") or {}
        if labels.get(step.params["label"]) != step.params["value"]:
            return None
        if step.params.get("waitFor") == "flannel-gone" and flannel_pods_on(ctx, step.node):
            return None
        return f"already labelled {step.params['value']}"

    def apply(self, ctx, step):
        ctx.patch(f"/api/v1/nodes/{step.node}", {"metadata": {"labels": {step.params["label"]: step.params["value"]}}})
        if step.params.get("waitFor") == "flannel-gone":
            ctx.wait_for(lambda: not flannel_pods_on(ctx, step.node), timeout=300,
                         what=f"Flannel's pod to leave {step.node}",
                         hint="check the Flannel DaemonSet's node affinity (prepare/flannel/keep-off-migrated)")


@kind("delete-node-pods")
class DeleteNodePods(StepKind):
    """Pods still on the node's old network hang off the removed bridge: delete them so their
    controllers re-create them on Calico."""

    def _on_old_network(self, ctx, step) -> list[dict]:
        """Running pod-network pods created before this step first started (later ones are on Calico)."""
        pods = ctx.kube.list("/api/v1/pods", field_selector=f"spec.nodeName={step.node}")
        return [p for p in pods if not p["spec"].get("hostNetwork")
                and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
                and not p["metadata"].get("deletionTimestamp")
                and timestamp(p["metadata"].get("creationTimestamp")) < ctx.started_at]

    def check(self, ctx, step):
        return None if self._on_old_network(ctx, step) else "no pod is left on the old network"

    def apply(self, ctx, step):
        for pod in self._on_old_network(ctx, step):
            meta = pod["metadata"]
            if not ctx.writes:
                ctx.say(f"would delete pod {meta['namespace']}/{meta['name']}")
                continue
            try:
                ctx.kube.delete(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}", dry_run=ctx.dry_run,
                                uid=meta["uid"])
            except (NotFound, Conflict):
                pass  # already gone, or replaced by a new pod since

    def revert(self, ctx, step, mutations):
        """Nothing to put back: their controllers re-created them."""
