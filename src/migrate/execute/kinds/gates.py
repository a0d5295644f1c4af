"""Gates: read the live cluster and refuse to go on when it is not what the plan was built for."""
from __future__ import annotations

from ...analysis import BLOCKER, analyse
from ...snapshot import gather_snapshot
from ..errors import StepFailed
from .base import StepKind, kind
from ...kube import AdmissionRefused, AlreadyExists
from .calico import transformed
from .objects import contains, hand_off_admitted, namespace_labels


def live_snapshot(ctx):
    if "snapshot" not in ctx.cache:
        ctx.cache["snapshot"] = gather_snapshot(ctx.kube)
    return ctx.cache["snapshot"]


@kind("preflight")
class Preflight(StepKind):
    def apply(self, ctx, step):
        blockers = [f for f in analyse(live_snapshot(ctx), block_size=ctx.plan.options.get("blockSize"))
                    if f.severity == BLOCKER]
        if blockers:
            raise StepFailed(f"preflight found {len(blockers)} blocker(s) on the live cluster: "
                             + "; ".join(f"{f.code}: {f.message}" for f in blockers),
                             "fix them (`migrate preflight` shows how), then `migrate resume PLAN`")


def plan_facts(plan) -> dict:
    """What the plan assumed about the cluster: nodes and their podCIDRs, Flannel's network and VXLAN."""
    cidrs = plan.step("verify/cluster").params["podCIDRs"]
    pool = plan.step("prepare/calico/ippool").params
    felix = plan.step("prepare/calico/felix-configuration").params
    return {"podCIDRs": cidrs, "network": pool["cidr"], "vni": felix["vxlanVNI"], "port": felix["vxlanPort"]}


def drift(plan, content: dict) -> list[str]:
    """Differences that matter between the plan's snapshot and the live cluster, in words."""
    facts = plan_facts(plan)
    live = {n["name"]: next((c["cidr"] for c in n["podCIDRs"] if ":" not in c["cidr"]), None)
            for n in content["nodes"]}
    planned = facts["podCIDRs"]
    found = []
    # Nodes added or gone since the snapshot are not drift: the run adopts the ones that join (waves/joined-nodes)
    # and skips the steps of the ones that left (node_changes says which).
    changed = [f"{n} {planned[n]} -> {live[n]}" for n in sorted(set(live) & set(planned)) if live[n] != planned[n]]
    if changed:
        found.append(f"podCIDRs changed: {', '.join(changed)}")
    flannel = content["flannel"]
    if flannel.get("found"):  # gone only once finalize retired it
        net_conf = flannel.get("netConf") or {}
        backend = net_conf.get("backend") or {}
        now = {"network": net_conf.get("network"), "vni": backend.get("vni"), "port": backend.get("port")}
        was = {k: facts[k] for k in now}
        if now != was:
            found.append("Flannel's net-conf.json changed: " + ", ".join(
                f"{k} {was[k]} -> {now[k]}" for k in now if now[k] != was[k]))
    return found


def node_changes(plan, content: dict) -> list[str]:
    """Nodes added and gone since the plan's snapshot, in words."""
    live = {n["name"] for n in content["nodes"]}
    planned = set(plan_facts(plan)["podCIDRs"])
    added, gone = sorted(live - planned), sorted(planned - live)
    return ([f"nodes added since the snapshot (handed off as they join): {', '.join(added)}"] if added else []) + (
        [f"nodes gone since the snapshot (their steps are skipped): {', '.join(gone)}"] if gone else [])


@kind("drift-check")
class DriftCheck(StepKind):
    always_run = True

    def apply(self, ctx, step):
        for change in node_changes(ctx.plan, live_snapshot(ctx).content):
            ctx.say(change)
        differences = drift(ctx.plan, live_snapshot(ctx).content)
        if differences:
            raise StepFailed("the cluster changed since the plan's snapshot: " + "; ".join(differences),
                             "take a new snapshot and plan again (`migrate snapshot -o F && migrate plan --snapshot F "
                             "...`), or roll back what this plan already did with `migrate rollback PLAN`")


# (verb, group, resource, subresource, namespace key) for every write a run makes.
WRITES = (("create", "", "namespaces", "", None), ("create", "", "configmaps", "", "namespace"),
          ("patch", "", "nodes", "", None), ("create", "", "pods", "eviction", ""), ("delete", "", "pods", "", ""),
          ("create", "", "pods", "", "namespace"), ("patch", "apps", "daemonsets", "", "flannel"),
          ("delete", "apps", "daemonsets", "", "flannel"), ("create", "apiextensions.k8s.io",
                                                               "customresourcedefinitions", "", None),
          ("create", "crd.projectcalico.org", "ippools", "", None),
          ("create", "coordination.k8s.io", "leases", "", "kube-system"))


@kind("permissions")
class Permissions(StepKind):
    def apply(self, ctx, step):
        if not ctx.writes or ctx.dry_run:
            ctx.say("would ask the API server whether each write is allowed (SelfSubjectAccessReview)")
            return
        namespaces = {"namespace": ctx.plan.options["namespace"], "kube-system": "kube-system", "": "",
                      "flannel": ctx.plan.step("prepare/flannel/keep-off-migrated").target.split("/")[1]}
        denied = []
        for verb, group, resource, subresource, where in WRITES:
            attributes = {"verb": verb, "group": group, "resource": resource}
            if subresource:
                attributes["subresource"] = subresource
            if where is not None and namespaces[where]:
                attributes["namespace"] = namespaces[where]
            review = ctx.kube.create("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                                     {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                                      "spec": {"resourceAttributes": attributes}})
            if not (review.get("status") or {}).get("allowed"):
                denied.append(f"{verb} {resource}{'/' + subresource if subresource else ''}"
                              f"{' in ' + attributes['namespace'] if 'namespace' in attributes else ''}")
        if denied:
            raise StepFailed(f"user {ctx.kube.user} may not: {', '.join(denied)}",
                             "run with a cluster-admin kubeconfig, then `migrate resume PLAN`")
        self._foresee_admission(ctx, namespaces["namespace"])
        self._foresee_calico_node(ctx)

    @staticmethod
    def _foresee_admission(ctx, namespace: str) -> None:
        """RBAC is not all that can refuse the hand-off pod: Pod Security admission, a webhook or a
        namespace being deleted. Where the migration namespace already exists as the run will leave it,
        ask the server (dry run) now, before any node is cordoned; otherwise prepare/namespace asks
        right after labelling it, still before any node is touched."""
        current = ctx.kube.get_optional(f"/api/v1/namespaces/{namespace}")
        if current is None:
            return
        if current["metadata"].get("deletionTimestamp"):
            raise StepFailed(f"namespace {namespace} is being deleted; the run needs it",
                             f"wait until `kubectl get namespace {namespace}` finds nothing (see its finalizers), "
                             "then `migrate resume PLAN`")
        if contains(current["metadata"].get("labels") or {}, namespace_labels()):
            refusal = hand_off_admitted(ctx, namespace)
            if refusal is not None:
                raise StepFailed(refusal.message, refusal.hint)

    @staticmethod
    def _foresee_calico_node(ctx) -> None:
        """calico-node is privileged and hostNetwork too, in the manifest's namespace (kube-system): a
        Pod Security level enforced there (a cluster default without a kube-system exemption) would
        refuse its pods, and the DaemonSet would only say so in its events. Ask now (dry run)."""
        step = next((s for s in ctx.plan.steps if s.kind == "calico-manifest"), None)
        daemonset = next((o for o in transformed(ctx, step).objects if o["kind"] == "DaemonSet"
                          and o["metadata"]["name"] == "calico-node"), None) if step else None
        if daemonset is None:
            return
        namespace = daemonset["metadata"].get("namespace", "kube-system")
        template = daemonset["spec"]["template"]
        # The ServiceAccount comes with the manifest; admission of the pod's security does not depend on it.
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "calico-node-admission-check", "namespace": namespace,
                            "labels": template["metadata"].get("labels") or {}},
               "spec": {**template["spec"], "serviceAccountName": "default", "serviceAccount": "default",
                        "automountServiceAccountToken": False}}
        try:
            ctx.kube.create(f"/api/v1/namespaces/{namespace}/pods", pod, dry_run="All")
        except AdmissionRefused as refused:
            raise StepFailed(f"calico-node would be refused: {refused.message}",
                             f"let privileged pods run in {namespace}: kubectl label namespace {namespace} "
                             "pod-security.kubernetes.io/enforce=privileged --overwrite (or exempt it in the "
                             "apiserver's PodSecurity configuration), then `migrate resume PLAN`") from None
        except AlreadyExists:
            pass
