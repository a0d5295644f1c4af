"""Steps that create or change cluster objects: the migration namespace, backups, Calico's settings,
per-node IPAM claims, selectors and labels, and finally retiring Flannel."""
from __future__ import annotations

import math
from abc import abstractmethod

import yaml

from ... import objects
from ...objects import backup_key
from ...kube import AdmissionRefused, AlreadyExists, Forbidden, NamespaceTerminating
from ..errors import StepFailed
from .base import StepKind, kind, undo_mutations

CALICO = "/apis/crd.projectcalico.org/v1"
MIGRATION_LABELS = {"app.kubernetes.io/managed-by": "migrate"}


def object_path(ref: dict) -> str:
    """The API path of a {kind, namespace?, name} reference."""
    kinds = {"Namespace": ("/api/v1", "namespaces"), "ServiceAccount": ("/api/v1", "serviceaccounts"),
             "ConfigMap": ("/api/v1", "configmaps"),
             "DaemonSet": ("/apis/apps/v1", "daemonsets"),
             "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles"),
             "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings")}
    base, plural = kinds[ref["kind"]]
    namespace = f"/namespaces/{ref['namespace']}" if ref.get("namespace") else ""
    return f"{base}{namespace}/{plural}/{ref['name']}"


def ensure(ctx, collection: str, desired: dict, *, compare=("spec",)) -> None:
    """Create `desired`, or merge-patch the compared fields of the object already there."""
    path = f"{collection}/{desired['metadata']['name']}"
    current = ctx.kube.get_optional(path)
    if current is None:
        try:
            ctx.create(collection, desired)
            return
        except AlreadyExists:
            current = ctx.kube.get(path)
    patch = {field: desired[field] for field in compare if current.get(field) != desired[field]}
    if patch:
        ctx.patch(path, patch, current=current)


def matches(ctx, path: str, desired: dict, fields=("spec",)) -> bool:
    current = ctx.kube.get_optional(path)
    return current is not None and all(contains(current.get(f), desired[f]) for f in fields)


def contains(actual, wanted) -> bool:
    """Every key of `wanted` has the same value in `actual` (extra keys in `actual` are fine)."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(contains(actual.get(k), v) for k, v in wanted.items())
    return actual == wanted


@kind("namespace")
class Namespace(StepKind):
    """The migration namespace, labelled so Pod Security admission lets the privileged hostNetwork
    hand-off pods in; done only when a server dry run of such a pod is admitted there."""

    def check(self, ctx, step):
        name = step.target.split("/", 1)[1]
        current = ctx.kube.get_optional(f"/api/v1/namespaces/{name}")
        if current is None or current["metadata"].get("deletionTimestamp") or not contains(
                current["metadata"].get("labels") or {}, namespace_labels()):
            return None
        return f"namespace {name} exists, allows privileged pods and admits a hand-off pod" \
            if hand_off_admitted(ctx, name) is None else None

    def apply(self, ctx, step):
        name = step.target.split("/", 1)[1]
        path = f"/api/v1/namespaces/{name}"
        if not ctx.writes:
            ctx.say(f"would create or label namespace {name}")
            return
        if _terminating(ctx.kube.get_optional(path)):  # else a dry run would announce a wait for nothing
            ctx.wait_for(lambda: not _terminating(ctx.kube.get_optional(path)), timeout=300,
                         what=f"namespace {name}, which is being deleted, to be gone",
                         hint=f"see which finalizers hold it: kubectl get namespace {name} -o yaml")
        current = ctx.kube.get_optional(path)
        if current is None:
            ctx.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": name, "labels": namespace_labels()}})
        elif not contains(current["metadata"].get("labels") or {}, namespace_labels()):
            ctx.patch(path, {"metadata": {"labels": namespace_labels()}}, current=current)
        else:
            return
        ctx.cache[("namespace-written", name)] = True

    def verify(self, ctx, step):
        if not ctx.writes or (ctx.dry_run and ctx.cache.get(("namespace-written", step.target.split("/", 1)[1]))):
            return  # a server dry run did not really create or relabel it: its admission says nothing yet
        refusal = hand_off_admitted(ctx, step.target.split("/", 1)[1])
        if refusal is not None:
            raise StepFailed(refusal.message, refusal.hint)


def namespace_labels() -> dict:
    """Ours, and Pod Security's levels (pod-security.kubernetes.io/*) at privileged: the hand-off pods
    are privileged and hostNetwork by nature, refused under a baseline or restricted default."""
    return {**MIGRATION_LABELS, **{f"pod-security.kubernetes.io/{mode}": "privileged"
                                   for mode in ("enforce", "warn", "audit")}}


def hand_off_admitted(ctx, namespace: str):
    """None when the API server admits a hand-off pod in `namespace` (a server dry run, which admission
    webhooks see too); otherwise the typed refusal (PodSecurity, a terminating namespace, RBAC)."""
    step = next((s for s in ctx.plan.steps if s.kind == "host-cleanup"), None)
    if step is None:
        return None
    pod = objects.hand_off_pod(step.node, namespace, step.params)
    pod["metadata"]["name"] = "hand-off-admission-check"
    try:
        ctx.kube.create(f"/api/v1/namespaces/{namespace}/pods", pod, dry_run="All")
    except AlreadyExists:
        return None  # storage answers after admission: admitted
    except (AdmissionRefused, NamespaceTerminating, Forbidden) as refused:
        return refused
    return None


def _terminating(obj: dict | None) -> bool:
    return bool(obj and obj["metadata"].get("deletionTimestamp"))


@kind("backup")
class Backup(StepKind):
    """Every Flannel object the run touches, copied unchanged into one ConfigMap (one key per object)."""

    def _path(self, step):
        _, namespace, name = step.target.split("/")
        return namespace, name

    def check(self, ctx, step):
        namespace, name = self._path(step)
        found = ctx.kube.get_optional(f"/api/v1/namespaces/{namespace}/configmaps/{name}")
        keys = {backup_key(ref) for ref in step.params["objects"]}
        if found and keys <= set((found.get("data") or {})):
            return f"ConfigMap {namespace}/{name} already holds the backup"
        return None

    def apply(self, ctx, step):
        namespace, name = self._path(step)
        data = {}
        for ref in step.params["objects"]:
            obj = ctx.kube.get_optional(object_path(ref))
            if obj is not None:
                data[backup_key(ref)] = yaml.safe_dump(obj, sort_keys=True)
        ctx.create(f"/api/v1/namespaces/{namespace}/configmaps",
                   {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": namespace, "labels": MIGRATION_LABELS},
                    "data": data})


@kind("felix-configuration")
class FelixConfiguration(StepKind):
    path = f"{CALICO}/felixconfigurations/default"

    def _desired(self, ctx, step):
        current = ctx.kube.get_optional(self.path)
        return objects.felix_configuration(step.params, (current or {}).get("spec"))

    def check(self, ctx, step):
        wanted = {"spec": {"vxlanEnabled": True, **{k: step.params[k] for k in ("vxlanVNI", "vxlanPort", "vxlanMTU")}}}
        return "FelixConfiguration default already has Flannel's VXLAN settings" if matches(
            ctx, self.path, wanted) else None

    def apply(self, ctx, step):
        ensure(ctx, f"{CALICO}/felixconfigurations", self._desired(ctx, step))


class _CalicoObject(StepKind):
    """A Calico object built from the step's parameters (by `build`, one of migrate.objects' builders),
    created or brought to that spec."""
    plural = ""

    @abstractmethod
    def build(self, params: dict) -> dict:
        """The object the step's parameters stand for."""

    def check(self, ctx, step):
        desired = self.build(step.params)
        path = f"{CALICO}/{self.plural}/{desired['metadata']['name']}"
        return f"{desired['kind']} {desired['metadata']['name']} already has this spec" if matches(
            ctx, path, desired) else None

    def apply(self, ctx, step):
        ensure(ctx, f"{CALICO}/{self.plural}", self.build(step.params))


@kind("ippool")
class IpPool(_CalicoObject):
    plural = "ippools"
    build = staticmethod(objects.ip_pool)


@kind("ipam-config")
class IpamConfig(_CalicoObject):
    plural = "ipamconfigs"
    build = staticmethod(objects.ipam_config)


@kind("policy-hold")
class PolicyHold(_CalicoObject):
    plural = "globalnetworkpolicies"
    build = staticmethod(objects.allow_all_policy)


@kind("policy-release")
class PolicyRelease(StepKind):
    def check(self, ctx, step):
        path = f"{CALICO}/globalnetworkpolicies/{step.params['name']}"
        return "the policy hold is already gone" if ctx.kube.get_optional(path) is None else None

    def apply(self, ctx, step):
        ctx.delete(f"{CALICO}/globalnetworkpolicies/{step.params['name']}")


def _annotations_match(ctx, node: str, wanted: dict) -> bool:
    current = ctx.kube.get_optional(f"/api/v1/nodes/{node}")
    return current is not None and contains((current["metadata"].get("annotations") or {}), wanted)


@kind("set-node-tunnel")
class SetNodeTunnel(StepKind):
    def check(self, ctx, step):
        wanted = objects.tunnel_annotations(step.params)
        return "the node already carries Flannel's VTEP as its tunnel" if _annotations_match(
            ctx, step.node, wanted) else None

    def apply(self, ctx, step):
        ctx.patch(f"/api/v1/nodes/{step.node}", {"metadata": {"annotations": objects.tunnel_annotations(step.params)}})


@kind("claim-node-ipam")
class ClaimNodeIpam(StepKind):
    """BlockAffinity + IPAMBlock per block, the tunnel address allocated under its handle, the annotations."""

    def _objects(self, step):
        node, params = step.node, step.params
        built = []
        for cidr in params["blocks"]:
            built.append(("blockaffinities", objects.block_affinity(node, cidr)))
            built.append(("ipamblocks", objects.ipam_block(node, cidr, params["tunnelAddress"])))
        holder = next(c for c in params["blocks"] if objects.block_contains(c, params["tunnelAddress"]))
        built.append(("ipamhandles", objects.ipam_handle(node, holder)))
        return built

    def check(self, ctx, step):
        present = all(ctx.kube.get_optional(f"{CALICO}/{plural}/{obj['metadata']['name']}") is not None
                      for plural, obj in self._objects(step))
        wanted = objects.tunnel_annotations(step.params)
        return "the node's blocks, tunnel address and annotations are in place" if (
            present and _annotations_match(ctx, step.node, wanted)) else None

    def apply(self, ctx, step):
        for plural, obj in self._objects(step):
            path = f"{CALICO}/{plural}/{obj['metadata']['name']}"
            existing = ctx.kube.get_optional(path)
            if existing is None:
                ctx.create(f"{CALICO}/{plural}", obj)
            elif plural == "ipamblocks" and (existing["spec"].get("affinity") != obj["spec"]["affinity"]):
                if not _held_by_deleted_node(ctx, existing):
                    raise_claimed(step, existing)
                _release_deleted_nodes_block(ctx, existing)
                ctx.create(f"{CALICO}/{plural}", obj)
        ctx.patch(f"/api/v1/nodes/{step.node}", {"metadata": {"annotations": objects.tunnel_annotations(step.params)}})


def _held_by_deleted_node(ctx, block: dict) -> bool:
    """A block affine to a node that is gone: node IPAM gave the deleted node's podCIDR to a node that joined."""
    holder = block["spec"].get("affinity") or ""
    return holder.startswith("host:") and ctx.kube.get_optional(f"/api/v1/nodes/{holder[5:]}") is None


def _release_deleted_nodes_block(ctx, block: dict) -> None:
    """What calico-kube-controllers does for a node deleted from Kubernetes once none of its addresses is in use
    (kube-controllers/pkg/controllers/node/ipam.go checkAllocations, cleanupNode: ReleaseHostAffinities), done
    now for the one block the new node needs; journaled, so a rollback puts it back."""
    node = block["spec"]["affinity"][5:]
    for affinity in ctx.kube.list(f"{CALICO}/blockaffinities"):
        if affinity["spec"].get("node") == node and affinity["spec"].get("cidr") == block["spec"]["cidr"]:
            ctx.delete(f"{CALICO}/blockaffinities/{affinity['metadata']['name']}", current=affinity)
    ctx.delete(f"{CALICO}/ipamblocks/{block['metadata']['name']}", current=block)


def raise_claimed(step, block: dict) -> None:
    raise StepFailed(f"IPAM block {block['spec']['cidr']} is already affine to {block['spec'].get('affinity')}, "
                     f"not {step.node}", "another Calico installation claimed it; find who, then re-plan")


@kind("flannel-node-affinity")
class FlannelNodeAffinity(StepKind):
    """Adds `label In [flannel]` to every required node-affinity term of Flannel's DaemonSet."""

    def _expression(self, step):
        return {"key": step.params["label"], "operator": "In", "values": step.params["in"]}

    def _terms(self, daemonset):
        affinity = daemonset["spec"]["template"]["spec"].get("affinity") or {}
        required = (affinity.get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {}
        return affinity, required.get("nodeSelectorTerms") or []

    def check(self, ctx, step):
        daemonset = ctx.kube.get(object_path(_daemonset_ref(step)))
        _, terms = self._terms(daemonset)
        wanted = self._expression(step)
        # Done only once every Flannel pod runs that template too: a run killed during the rollout must wait on.
        if terms and all(wanted in (t.get("matchExpressions") or []) for t in terms) and rolled_out(daemonset):
            return "Flannel's DaemonSet already stays off handed-off nodes, rolled out"
        return None

    def apply(self, ctx, step):
        path = object_path(_daemonset_ref(step))
        daemonset = updated = ctx.kube.get(path)
        affinity, terms = self._terms(daemonset)
        wanted = self._expression(step)
        if not terms or any(wanted not in (t.get("matchExpressions") or []) for t in terms):
            terms = [dict(t, matchExpressions=[*(t.get("matchExpressions") or []), wanted])
                     if wanted not in (t.get("matchExpressions") or []) else t for t in terms] or [
                         {"matchExpressions": [wanted]}]
            node_affinity = dict(affinity.get("nodeAffinity") or {})
            node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": terms}
            updated = ctx.patch(path, {"spec": {"template": {"spec": {"affinity": {
                **affinity, "nodeAffinity": node_affinity}}}}}, current=daemonset)
        # A template change rolls every Flannel pod once; its data plane stays in the kernel meanwhile.
        wait_flannel_rolled_out(ctx, path, updated, "with the new affinity")

    def revert(self, ctx, step, mutations):
        undo_mutations(ctx, mutations)
        path = object_path(_daemonset_ref(step))
        current = ctx.kube.get_optional(path)
        if current is not None:
            wait_flannel_rolled_out(ctx, path, current, "with its own affinity again")


def wait_flannel_rolled_out(ctx, path: str, daemonset: dict, how: str) -> None:
    """Until every node runs Flannel's current template, Ready: a rollback is over only then."""
    ctx.wait_for(lambda: rolled_out(ctx.kube.get(path)), timeout=rollout_budget(daemonset), interval=10,
                 what=f"Flannel's DaemonSet to roll out {how}", hint="check the Flannel pods that are not Ready")


def _daemonset_ref(step) -> dict:
    _, namespace, name = step.target.split("/")
    return {"kind": "DaemonSet", "namespace": namespace, "name": name}


@kind("retire-flannel")
class RetireFlannel(StepKind):
    def apply(self, ctx, step):
        for ref in reversed(step.params["objects"]):  # the DaemonSet first, its namespace last
            if ref["kind"] == "Namespace" and foreign_objects(ctx, ref["name"], step.params["objects"]):
                ctx.say(f"kept namespace {ref['name']}: it holds objects that are not Flannel's "
                        f"({', '.join(foreign_objects(ctx, ref['name'], step.params['objects'])[:5])})")
                continue
            ctx.delete(object_path(ref))

    def revert(self, ctx, step, mutations):
        undo_mutations(ctx, mutations)
        ref = next(r for r in step.params["objects"] if r["kind"] == "DaemonSet")
        current = ctx.kube.get_optional(object_path(ref))
        if current is not None:
            wait_flannel_rolled_out(ctx, object_path(ref), current, "again")

    def check(self, ctx, step):
        left = [r for r in step.params["objects"] if ctx.kube.get_optional(object_path(r)) is not None
                and not (r["kind"] == "Namespace" and foreign_objects(ctx, r["name"], step.params["objects"]))]
        return "Flannel's objects are already gone" if not left else None


def foreign_objects(ctx, namespace: str, flannel: list[dict]) -> list[str]:
    """What else lives in Flannel's namespace (deleting the namespace would take it too)."""
    ours = {(r["kind"], r["name"]) for r in flannel}
    found = []
    for what, path in (("ConfigMap", "configmaps"), ("Service", "services"), ("Secret", "secrets"),
                       ("Deployment", "deployments"), ("Pod", "pods")):
        base = "/apis/apps/v1" if what == "Deployment" else "/api/v1"
        for obj in ctx.kube.list(f"{base}/namespaces/{namespace}/{path}"):
            name = obj["metadata"]["name"]
            owners = {o.get("kind") for o in obj["metadata"].get("ownerReferences") or []}
            if (what, name) in ours or name == "kube-root-ca.crt" or owners & {"DaemonSet", "ServiceAccount"}:
                continue
            if what == "Secret" and obj.get("type") == "kubernetes.io/service-account-token":
                continue
            found.append(f"{what} {name}")
    return found


@kind("calico-node-selector")
class CalicoNodeSelector(StepKind):
    path = "/apis/apps/v1/namespaces/kube-system/daemonsets/calico-node"

    def check(self, ctx, step):
        daemonset = ctx.kube.get(self.path)
        selector = daemonset["spec"]["template"]["spec"].get("nodeSelector") or {}
        if step.params["label"] in selector or not rolled_out(daemonset):
            return None
        return "calico-node already runs everywhere without the migration selector"

    def apply(self, ctx, step):
        daemonset = ctx.kube.get(self.path)
        if step.params["label"] in (daemonset["spec"]["template"]["spec"].get("nodeSelector") or {}):
            daemonset = ctx.patch(self.path, {"spec": {"template": {"spec": {"nodeSelector": {
                step.params["label"]: None}}}}}, current=daemonset)
        seen = [None]

        def done():
            current = ctx.kube.get(self.path)
            status = current.get("status") or {}
            counts = (status.get("updatedNumberScheduled", 0), status.get("desiredNumberScheduled", 0))
            if counts != seen[0]:
                seen[0] = counts
                ctx.say(f"calico-node rolling update: {counts[0]}/{counts[1]} nodes on the new template")
            return rolled_out(current)
        ctx.wait_for(done, timeout=rollout_budget(daemonset), interval=10,
                     what="calico-node's rolling update to finish", hint="check calico-node pods that are not Ready")


# A calico-node restart: the old pod terminates, the new one starts and Felix reports ready.
SECONDS_PER_ROLLOUT_BATCH = 90


def rollout_budget(daemonset: dict) -> float:
    """How long a DaemonSet's rolling update may take: its batches (nodes / maxUnavailable, rounded up as
    the DaemonSet controller rounds a percentage) at a generous pace each, plus a margin."""
    desired = max(1, (daemonset.get("status") or {}).get("desiredNumberScheduled", 0))
    rolling = ((daemonset["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {})
    value = rolling.get("maxUnavailable", 1)
    at_once = math.ceil(desired * int(str(value).rstrip("%")) / 100) if str(value).endswith("%") else int(value)
    return 300 + math.ceil(desired / max(1, at_once)) * SECONDS_PER_ROLLOUT_BATCH


def rolled_out(daemonset: dict) -> bool:
    """Every node runs the DaemonSet's current template, Ready (what `kubectl rollout status` waits for)."""
    status = daemonset.get("status") or {}
    desired = status.get("desiredNumberScheduled", 0)
    return (status.get("observedGeneration", 0) >= daemonset["metadata"].get("generation", 0)
            and status.get("updatedNumberScheduled", 0) == desired and status.get("numberAvailable", 0) == desired)


@kind("label-unmigrated-nodes")
class LabelUnmigratedNodes(StepKind):
    """Labels the plan's nodes that carry no migration label yet `flannel`, as Calico's own migration controller
    does (kube-controllers/pkg/controllers/flannelmigration/migration_controller.go runIpamMigrationForNodes):
    calico-kube-controllers' IPAM GC then leaves their empty blocks alone (node/ipam.go nodeIsBeingMigrated).
    A node already labelled (none or calico, mid-run) keeps its value. Undo: the journal's pre-images drop it."""

    def _unlabelled(self, ctx, step):
        nodes = {n["metadata"]["name"]: n for n in ctx.kube.list("/api/v1/nodes")}
        return [nodes[name] for name in step.params["nodes"]
                if name in nodes and step.params["label"] not in (nodes[name]["metadata"].get("labels") or {})]

    def check(self, ctx, step):
        return "every node carries the migration label" if not self._unlabelled(ctx, step) else None

    def apply(self, ctx, step):
        for node in self._unlabelled(ctx, step):
            ctx.patch(f"/api/v1/nodes/{node['metadata']['name']}",
                      {"metadata": {"labels": {step.params["label"]: step.params["value"]}}}, current=node)


@kind("remove-migration-labels")
class RemoveMigrationLabels(StepKind):
    def _labelled(self, ctx, step):
        return ctx.kube.list("/api/v1/nodes", label_selector=step.params["label"])

    def check(self, ctx, step):
        return "no node carries the migration label" if not self._labelled(ctx, step) else None

    def apply(self, ctx, step):
        for node in self._labelled(ctx, step):
            ctx.patch(f"/api/v1/nodes/{node['metadata']['name']}",
                      {"metadata": {"labels": {step.params["label"]: None}}}, current=node)
