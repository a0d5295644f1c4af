"""Calico installed from the official manifest the plan pinned, transformed for the migration and
applied dormant: calico-node runs only where a node carries the migration label."""
from __future__ import annotations

import hashlib
import urllib.request
from pathlib import Path

from ...calico_manifest import CalicoSettings, transform_manifest
from ...kube import AlreadyExists
from ..errors import StepFailed
from .base import StepKind, kind
from .objects import contains

# API paths of the kinds a Calico manifest install holds (cluster-scoped ones have no namespace).
RESOURCES = {
    ("v1", "Namespace"): ("/api/v1", "namespaces", False),
    ("v1", "ServiceAccount"): ("/api/v1", "serviceaccounts", True),
    ("v1", "ConfigMap"): ("/api/v1", "configmaps", True),
    ("v1", "Secret"): ("/api/v1", "secrets", True),
    ("v1", "Service"): ("/api/v1", "services", True),
    ("apps/v1", "DaemonSet"): ("/apis/apps/v1", "daemonsets", True),
    ("apps/v1", "Deployment"): ("/apis/apps/v1", "deployments", True),
    ("policy/v1", "PodDisruptionBudget"): ("/apis/policy/v1", "poddisruptionbudgets", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): ("/apis/rbac.authorization.k8s.io/v1",
                                                             "clusterrolebindings", False),
    ("rbac.authorization.k8s.io/v1", "Role"): ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): ("/apis/apiextensions.k8s.io/v1",
                                                              "customresourcedefinitions", False),
}


def collection_path(obj: dict) -> str:
    key = (obj["apiVersion"], obj["kind"])
    if key not in RESOURCES:
        raise StepFailed(f"the Calico manifest holds a {obj['kind']} ({obj['apiVersion']}) this tool cannot apply",
                         "report it; apply that object by hand, then `migrate resume PLAN`")
    base, plural, namespaced = RESOURCES[key]
    namespace = obj["metadata"].get("namespace", "default") if namespaced else None
    return f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"


def manifest_text(manifest: dict, plan_dir: Path | None = None) -> str:
    """The pinned manifest's text, from its file or its release address, checked against the plan's sha256."""
    source, pinned = manifest["source"], manifest.get("sha256")
    if not pinned:
        raise StepFailed("the plan does not pin a Calico manifest",
                         "download it and plan again with --calico-manifest FILE")
    try:
        if source.startswith(("https://", "http://")):
            with urllib.request.urlopen(source, timeout=30) as response:  # noqa: S310 (the address the plan pinned)
                data = response.read()
        else:
            path = Path(source)
            data = (path if path.is_absolute() or plan_dir is None or path.exists() else plan_dir / path).read_bytes()
    except OSError as exc:
        raise StepFailed(f"cannot read the Calico manifest {source}: {exc}",
                         "put the file the plan names back (same content), then `migrate resume PLAN`") from None
    if hashlib.sha256(data).hexdigest() != pinned:
        raise StepFailed(f"the Calico manifest {source} is not the one the plan pinned (sha256 differs)",
                         "restore the reviewed file, or plan again with the new one")
    return data.decode()


def transformed(ctx, step):
    p = step.params
    settings = CalicoSettings(node_label=next(iter(p["nodeSelector"])), node_label_value=next(iter(
        p["nodeSelector"].values())), vxlan_mtu=p["vxlanMTU"], pool_cidr=p["poolCIDR"],
        block_size=ctx.plan.options["blockSize"], ipam=p["ipam"], typha_replicas=p.get("typhaReplicas"))
    return transform_manifest(manifest_text(p["manifest"], ctx.cache.get("plan_dir")), settings)


@kind("calico-manifest")
class CalicoManifest(StepKind):
    def check(self, ctx, step):
        """Done only when apply would change nothing: every object there, the ones apply brings to the
        manifest's content holding it, and the CRDs established (what apply waits for)."""
        manifest = transformed(ctx, step)
        for obj in manifest.objects:
            current = ctx.kube.get_optional(f"{collection_path(obj)}/{obj['metadata']['name']}")
            if current is None:
                return None
            if obj["kind"] in ("DaemonSet", "ConfigMap", "Deployment", "CustomResourceDefinition") and not all(
                    contains(current.get(k), obj[k]) for k in ("spec", "data") if k in obj):
                return None
        crds = [o["metadata"]["name"] for o in manifest.objects if o["kind"] == "CustomResourceDefinition"]
        if not all(_established(ctx, name) for name in crds):
            return None
        return "every object of the transformed manifest is in place, its CRDs established"

    def apply(self, ctx, step):
        manifest = transformed(ctx, step)
        for obj in manifest.objects:
            collection = collection_path(obj)
            current = ctx.kube.get_optional(f"{collection}/{obj['metadata']['name']}")
            if current is None:
                try:
                    ctx.create(collection, obj)
                except AlreadyExists:
                    pass
            elif obj["kind"] in ("DaemonSet", "ConfigMap", "Deployment"):
                fields = {k: obj[k] for k in ("spec", "data") if k in obj and current.get(k) != obj[k]}
                if fields:
                    ctx.patch(f"{collection}/{obj['metadata']['name']}", fields, current=current)
            elif obj["kind"] == "CustomResourceDefinition" and not contains(current.get("spec"), obj["spec"]):
                # CRDs an older Calico installed (Canal's, from its canal.yaml) take this release's schemas, as
                # `kubectl apply -f calico.yaml` would: its calico-node writes fields they would prune. Journaled
                # with their before-image, so a rollback puts the old schemas back.
                ctx.patch(f"{collection}/{obj['metadata']['name']}", {"spec": obj["spec"]}, current=current)
        crds = [o["metadata"]["name"] for o in manifest.objects if o["kind"] == "CustomResourceDefinition"]
        ctx.wait_for(lambda: all(_established(ctx, n) for n in crds), timeout=120,
                     what="Calico's CustomResourceDefinitions to be established", hint="check the API server's log")


def _established(ctx, name: str) -> bool:
    crd = ctx.kube.get_optional(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
    return bool(crd) and any(c.get("type") == "Established" and c.get("status") == "True"
                             for c in (crd.get("status") or {}).get("conditions") or [])
