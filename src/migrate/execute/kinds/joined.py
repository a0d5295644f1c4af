"""The joined-nodes step: the run reaches finalize only once every node that joined is handed off."""
from __future__ import annotations

import json

from ...plan.steps import MIGRATION_LABEL
from ...snapshot import FLANNEL_ANNOTATION
from .base import StepKind, kind

HINT = ("see `kubectl get node NAME -o jsonpath={.spec.podCIDR}` (the controller-manager allocates it); once it "
        "has one (or the node is gone), `migrate resume PLAN`")


def waiting_for_flannel(ctx) -> list[str]:
    """Nodes that joined but that the run has not adopted yet (node IPAM has not given them a podCIDR)."""
    known = {n for w in ctx.plan.waves for n in w.nodes}
    return sorted(n["metadata"]["name"] for n in ctx.kube.list("/api/v1/nodes", label_selector=f"!{MIGRATION_LABEL}")
                  if n["metadata"]["name"] not in known)


@kind("joined-nodes")
class JoinedNodes(StepKind):
    always_run = True  # a node may join at any time before finalize

    def apply(self, ctx, step):
        if not ctx.writes or ctx.dry_run:
            ctx.say("would hand off the nodes that joined during the run")
            return
        # The executor adopts a joined node on its next look (every wait polls it), so this only waits.
        pending: list[str] = []

        def none_pending():
            pending[:] = waiting_for_flannel(ctx)
            return not pending
        ctx.wait_for(none_pending, timeout=300, interval=5, what="a podCIDR on the nodes that joined", hint=HINT)
        joined = [n for w in ctx.plan.waves if w.name.startswith("joined-") for n in w.nodes]
        ctx.say(f"{len(joined)} node(s) joined during the run and were handed off: {', '.join(joined)}"
                if joined else "no node joined during the run")


@kind("flannel-vtep-mac")
class FlannelVtepMac(StepKind):
    """The backend-data annotation flanneld reads its VTEP MAC from at start, written as flanneld writes it
    (compact JSON: GetStoredMacAddresses splits the text on `:"`)."""

    @staticmethod
    def _annotations(step) -> dict:
        data = json.dumps({"VNI": step.params["vni"], "VtepMAC": step.params["vtepMAC"]}, separators=(",", ":"))
        return {f"{FLANNEL_ANNOTATION}backend-data": data, f"{FLANNEL_ANNOTATION}backend-type": "vxlan"}

    def check(self, ctx, step):
        node = ctx.kube.get(f"/api/v1/nodes/{step.node}")
        stored = (node["metadata"].get("annotations") or {}).get(f"{FLANNEL_ANNOTATION}backend-data") or "{}"
        try:
            mac = json.loads(stored).get("VtepMAC") if stored != "null" else None
        except ValueError:
            mac = None
        return "the node stores that VTEP MAC already" if mac == step.params["vtepMAC"] else None

    def apply(self, ctx, step):
        ctx.patch(f"/api/v1/nodes/{step.node}", {"metadata": {"annotations": self._annotations(step)}})

    def revert(self, ctx, step, mutations):
        """Nothing: from its first start Flannel owns the annotation and keeps writing the same MAC; taking it
        away would make every other flanneld drop its route to the node (pkg/subnet/kube/kube.go)."""
