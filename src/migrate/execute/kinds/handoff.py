"""The node hand-off itself: Flannel's leftovers removed by a pod on the host, calico-node awaited and
its VXLAN device checked, and the mirror images that give a node back to Flannel."""
from __future__ import annotations

import json
import shlex

from ... import objects
from ...kube import Conflict, NotFound
from ...snapshot import pod_ready
from ..drain import DrainPolicy, drain_node
from ...errors import UserError
from ..errors import StepFailed
from .base import StepKind, kind, undo_mutations
from . import giveback
from .node import NodeNetworkLabel, flannel_pods_on, timestamp
from .pods import run_to_completion
from ..events import Event

CALICO_NODE_SELECTOR = "k8s-app=calico-node"
CALICO_NODE_NAMESPACE = "kube-system"  # where the official manifest puts it
# What the hand-off's undo removes, so Flannel's config is again the kubelet's first choice.
CALICO_LEFTOVERS = ["rm -f /etc/cni/net.d/10-calico.conflist /etc/cni/net.d/calico-kubeconfig",
                    "ip link delete vxlan.calico || true"]


def host_pod(ctx, node: str, name: str, script: list[str], paths: list[str], image: str | None = None) -> dict:
    """A privileged hostNetwork pod on `node`, in the hand-off pod's image (or `image`), running `script`."""
    params = dict(ctx.plan.step(f"node/{node}/host-cleanup").params, script=script, hostPaths=paths)
    if image:
        params["image"] = image
    pod = objects.hand_off_pod(node, ctx.plan.options["namespace"], params)
    pod["metadata"]["name"] = f"{name}-{node}"
    return pod


@kind("host-cleanup")
class HostCleanup(StepKind):
    def apply(self, ctx, step):
        pod = objects.hand_off_pod(step.node, ctx.plan.options["namespace"], step.params)
        run_to_completion(ctx, pod, timeout=180, what=f"the hand-off on {step.node}",
                          hint="read the pod's log above; fix the node by hand (runbooks/troubleshooting.md), then "
                               "`migrate resume PLAN`")

    def revert(self, ctx, step, mutations):
        # Felix blackholes each local IPAM block; with blocks the size of the podCIDR that route would
        # shadow the one Flannel's cni0 brings back.
        claim = next((s for s in ctx.plan.steps if s.node == step.node and s.kind == "claim-node-ipam"), None)
        blackholes = [f"ip route del blackhole {block} || true" for block in (claim.params["blocks"] if claim else [])]
        image = calico_node_image(ctx) if ctx.writes and not ctx.dry_run else None
        seen = run_to_completion(ctx, host_pod(ctx, step.node, "felix-state", giveback.READ_SCRIPT, [], image=image),
                                 timeout=180, what=f"reading what Felix left on {step.node}", read_log=True,
                                 hint="rerun `migrate rollback PLAN`; or remove the cali-* chains and ipsets by hand "
                                      "(runbooks/rollback-by-hand.md)")
        # Flannel's CNI config goes back at once (what its install-cni copies from the ConfigMap; Canal's is a
        # template its install-cni renders, so Canal's comes back with its pod): the node's pods can then be
        # deleted now, their sandboxes torn down through it, while no pod can start until flanneld has
        # written subnet.env again (the flannel plugin reads it first).
        conflist = flannel_conflist(ctx)
        restore = [f"printf '%s\\n' {shlex.quote(conflist)} > /etc/cni/net.d/10-flannel.conflist"] if conflist else []
        # calico/node's image: Flannel's has no ipset (flannel images/Dockerfile; calico node/Dockerfile has)
        if seen is None:  # its log was unreachable (the kubelet's log endpoint): make Felix's rules inert instead
            ctx.emit(Event("warning", f"{step.node}: Felix's cali-* chains are flushed, so none of its rules apply, "
                                      "but the chains and its cali40*/cali60* ipsets stay (their names could not be "
                                      "read); remove them by hand (runbooks/rollback-by-hand.md)", node=step.node))
        felix = giveback.felix_neutralised() if seen is None else giveback.felix_cleanup(seen)
        pod = host_pod(ctx, step.node, "give-back", CALICO_LEFTOVERS + restore + blackholes + felix,
                       ["/etc/cni/net.d"], image=image)
        run_to_completion(ctx, pod, timeout=180, what=f"removing Calico's CNI config and Felix's state from {step.node}",
                          hint="remove /etc/cni/net.d/10-calico.conflist, vxlan.calico and the cali-* chains and "
                               "ipsets by hand (runbooks/rollback-by-hand.md), then rerun `migrate rollback PLAN`")
        # Without a CNI config the pods' sandboxes could not be torn down and they would hang in Terminating:
        # with Flannel's back they go now, else once Flannel is Ready again (the flannel-off undo).
        if conflist and ctx.writes and not ctx.dry_run:
            pods_back = PodsBack(ctx, step.node)
            pods_back.delete_pods()
            pods_back.read_reservations()
            pods_back.finish()


def calico_node_image(ctx) -> str:
    """The image of the calico-node DaemonSet the run installed (node undos run before it is removed)."""
    ds = ctx.kube.get_optional(f"/apis/apps/v1/namespaces/{CALICO_NODE_NAMESPACE}/daemonsets/calico-node")
    containers = ((((ds or {}).get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    image = next((c.get("image") for c in containers if c.get("name") == "calico-node"), None)
    if not image:
        raise StepFailed(f"the calico-node DaemonSet in {CALICO_NODE_NAMESPACE} is gone: its image removes what "
                         "Felix left on the node", "remove the cali-* chains and ipsets by hand "
                         "(runbooks/rollback-by-hand.md), then rerun `migrate rollback PLAN`")
    return image


def pod_network_pods(ctx, node: str) -> list[dict]:
    return [p for p in ctx.kube.list("/api/v1/pods", field_selector=f"spec.nodeName={node}")
            if not p["spec"].get("hostNetwork")]


def _flannel_configmap(ctx) -> tuple[dict | None, bool]:
    """Flannel's ConfigMap as it is now (the backup names it), and whether it is Canal's."""
    backup = ctx.plan.step("prepare/backup").params["objects"]
    ref = next((o for o in backup if o["kind"] == "ConfigMap"), None)
    configmap = ctx.kube.get_optional(f"/api/v1/namespaces/{ref['namespace']}/configmaps/{ref['name']}") if ref else None
    return configmap, bool(((configmap or {}).get("data") or {}).get("cni_network_config"))


def flannel_network(ctx) -> str:
    configmap, canal = _flannel_configmap(ctx)
    return giveback.network_name(configmap, canal=canal)


def flannel_conflist(ctx) -> str | None:
    """The CNI config Flannel's install-cni copies to 10-flannel.conflist (kube-flannel.yml: cp -f
    /etc/kube-flannel/cni-conf.json), compacted; None for Canal (its install-cni renders a template)."""
    configmap, canal = _flannel_configmap(ctx)
    text = ((configmap or {}).get("data") or {}).get("cni-conf.json")
    if canal or not text:
        return None
    try:
        return json.dumps(json.loads(text), separators=(",", ":"))
    except ValueError:
        return None


class PodsBack:
    """The undo's half that needs Flannel's CNI config on the node: the pods left there since the hand-off are
    deleted (their sandboxes torn down through Flannel's config), and the host-local reservations no pod owns
    are released. Which ones is read while no pod can reserve one (no CNI config on the node, or Flannel's
    before flanneld has written subnet.env); host-local never reuses an address whose file exists, so the list
    stays true afterwards."""

    def __init__(self, ctx, node: str):
        self.ctx, self.node = ctx, node
        self.network = flannel_network(ctx)
        self.pods = pod_network_pods(ctx, node)

    def delete_pods(self) -> None:
        """Their data plane is gone: out of their Services at once (the endpoints drop terminating pods)."""
        for pod in self.pods:
            meta = pod["metadata"]
            try:
                self.ctx.kube.delete(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}", uid=meta["uid"])
            except (NotFound, Conflict):
                pass  # gone already, or replaced since

    def read_reservations(self) -> None:
        ctx, node = self.ctx, self.node
        listing = run_to_completion(ctx, host_pod(ctx, node, "reservations", [f"ls /var/lib/cni/networks/{self.network}"
                                                                             " 2>/dev/null || true"], ["/var/lib/cni"]),
                                    timeout=180, what=f"listing the pod address reservations on {node}", read_log=True,
                                    hint="rerun `migrate rollback PLAN`")
        if listing is None:
            ctx.emit(Event("warning", f"{node}: the pod address reservations under /var/lib/cni/networks/"
                                      f"{self.network} could not be listed, so stale ones stay (host-local skips a "
                                      "reserved address; remove the files no pod holds by hand)", node=node))
        self.files = set(giveback.reservation_files(listing or ""))

    def finish(self) -> None:
        ctx, node = self.ctx, self.node
        uids = {p["metadata"]["uid"] for p in self.pods}
        ctx.wait_for(lambda: not any(p["metadata"]["uid"] in uids for p in pod_network_pods(ctx, node)), timeout=300,
                     what=f"the pods left on {node} since the hand-off to go",
                     hint=f"`kubectl describe pod` on {node}'s Terminating pods says why (FailedKillPod)")
        held = {(p.get("status") or {}).get("podIP") for p in self.pods}
        # Reservations no pod held, and those under the addresses of pods Calico set up after the hand-off's
        # cleanup (Flannel never reserved those for them: the files are of pods deleted before).
        cleaned = ctx.step_started(f"node/{node}/host-cleanup") or 0.0
        calico_set_up = {(p.get("status") or {}).get("podIP") for p in self.pods
                         if timestamp(p["metadata"].get("creationTimestamp")) >= cleaned}
        stale = sorted(f for f in self.files if f not in held or f in calico_set_up)
        if stale:
            script = [f"rm -f {' '.join(f'/var/lib/cni/networks/{self.network}/{f}' for f in stale[i:i + 32])}"
                      for i in range(0, len(stale), 32)]
            run_to_completion(ctx, host_pod(ctx, node, "release", script, ["/var/lib/cni"]), timeout=180,
                              what=f"releasing {len(stale)} stale address reservation(s) on {node}",
                              hint="rerun `migrate rollback PLAN`")


@kind("node-network-label")
class HandOffLabel(NodeNetworkLabel):
    """The migration label, with the undo that gives the node back: off Calico only once its pods
    are drained, back on Flannel only once Flannel is Ready there again."""

    def revert(self, ctx, step, mutations):
        if step.params["value"] == "calico":
            drain = ctx.plan.step(f"node/{step.node}/drain").params
            policy = DrainPolicy(timeout_seconds=drain["timeoutSeconds"], grace_period=drain["gracePeriodSeconds"],
                                 delete_emptydir_data=drain["deleteEmptyDirData"], force=drain["force"])
            if ctx.writes:
                drain_node(ctx.kube, step.node, policy, clock=ctx.clock, emit=ctx.emit, should_stop=ctx.should_stop)
        # Canal's config comes back only with its pod: then the node's pods are deleted after that
        handed_off = (step.params["value"] == "none" and ctx.step_started(f"node/{step.node}/host-cleanup")
                      and ctx.writes and not ctx.dry_run and flannel_conflist(ctx) is None)
        pods_back = PodsBack(ctx, step.node) if handed_off else None
        if pods_back is not None:
            pods_back.read_reservations()  # now, while the node has no CNI config at all
        undo_mutations(ctx, mutations)
        if step.params["value"] == "calico":
            forget_calico_node(ctx, step.node)
        if step.params["value"] == "none":
            ctx.wait_for(lambda: flannel_ready_on(ctx, step.node), timeout=300,
                         what=f"Flannel Ready on {step.node}", hint="check the Flannel pod's log on the node")
            if pods_back is not None:
                pods_back.delete_pods()
                pods_back.finish()


# What calico-node writes on its Node at startup besides the addresses the plan gave it; preflight made
# sure no Calico ran before the migration. (IPv4Address stays: Calico nodes still route to this node by it,
# and the plan's prepare step, undone last, removes it.)
CALICO_NODE_ANNOTATIONS = ("projectcalico.org/IPv6Address", "projectcalico.org/IPv4IPIPTunnelAddr",
                           "projectcalico.org/ASNumber")


def forget_calico_node(ctx, node: str) -> None:
    """Once calico-node has left the node, the annotations it wrote there go, and the host address is the
    plan's again (calico-node may have rewritten it with its subnet's prefix)."""
    path = f"/api/v1/nodes/{node}"
    current = ctx.kube.get(path)
    annotations = current["metadata"].get("annotations") or {}
    patch = {k: None for k in CALICO_NODE_ANNOTATIONS if k in annotations}
    prepared = next((s for s in ctx.plan.steps if s.node == node and s.phase == "prepare"), None)
    wanted = (prepared.params.get("hostAddress") if prepared else None)
    if wanted and annotations.get(objects.HOST_ADDRESS_ANNOTATION) not in (None, wanted):
        patch[objects.HOST_ADDRESS_ANNOTATION] = wanted
    if patch and ctx.writes:
        ctx.patch(path, {"metadata": {"annotations": patch}}, current=current)


def flannel_ready_on(ctx, node: str) -> bool:
    return any(pod_ready(p) for p in flannel_pods_on(ctx, node))


def calico_node_on(ctx, node: str) -> dict | None:
    pods = ctx.kube.list(f"/api/v1/namespaces/{CALICO_NODE_NAMESPACE}/pods", label_selector=CALICO_NODE_SELECTOR,
                         field_selector=f"spec.nodeName={node}")
    return next((p for p in pods if not p["metadata"].get("deletionTimestamp")), None)


@kind("wait-calico-node")
class WaitCalicoNode(StepKind):
    def apply(self, ctx, step):
        try:
            ready = ctx.wait_for(lambda: (lambda p: p if p and pod_ready(p) else None)(calico_node_on(ctx, step.node)),
                                 timeout=step.params["timeoutSeconds"], what=f"calico-node Ready on {step.node}",
                                 hint="see runbooks/troubleshooting.md (calico-node not Ready), then "
                                      "`migrate resume PLAN`")
        except StepFailed as failed:
            refused = _refused_pod_creates(ctx, CALICO_NODE_NAMESPACE, "calico-node")
            raise StepFailed(f"{failed.message}{'; the DaemonSet cannot create its pod: ' + refused if refused else ''}",
                             failed.hint) from None
        if not ctx.writes or ctx.dry_run:
            return
        vni = ctx.plan.step("prepare/calico/felix-configuration").params["vxlanVNI"]
        check = host_pod(ctx, step.node, "vxlan-check", ["ip -d link show vxlan.calico", "echo vxlan.calico present",
                                                    f"echo 'Calico VXLAN VNI {vni} expected'"], ["/etc/cni/net.d"])
        try:
            run_to_completion(ctx, check, timeout=120, what=f"checking vxlan.calico on {step.node}",
                              hint="calico-node is Ready but has no VXLAN device; its log says why")
        except StepFailed as failed:
            reason = _felix_complaint(ctx, ready)
            raise StepFailed(f"{failed.message}{'; calico-node says: ' + reason if reason else ''}",
                             failed.hint) from None


def _refused_pod_creates(ctx, namespace: str, daemonset: str) -> str:
    """The newest FailedCreate event of a DaemonSet: a pod admission refused (Pod Security, a webhook, a
    quota) shows only there."""
    try:
        events = ctx.kube.list(f"/api/v1/namespaces/{namespace}/events",
                               field_selector=f"involvedObject.kind=DaemonSet,involvedObject.name={daemonset},"
                                              "reason=FailedCreate")
    except UserError:  # events are a hint only
        return ""
    newest = max(events, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "", default=None)
    return (newest or {}).get("message", "")


def _felix_complaint(ctx, pod: dict) -> str:
    meta = pod["metadata"]
    try:
        log = ctx.kube.text(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/log",
                            {"container": "calico-node", "tailLines": 50})
    except Exception:  # the log is a hint only; its absence must not hide the real failure
        return ""
    complaints = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
    return complaints[-1].strip() if complaints else ""
