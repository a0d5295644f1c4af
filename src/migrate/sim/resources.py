"""The resource types the simulated API serves: built-ins plus whatever CRDs create.

Discovery documents, URL routing and validation all read from here, so a kind
exists exactly once.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    categories: tuple[str, ...] = ()
    # Whether the registry keeps metadata.generation (its strategy sets it on create and bumps it on
    # spec changes): workloads, Pods, PDBs, NetworkPolicies, CRDs and custom resources do; ConfigMaps,
    # Secrets, Services, Nodes, Namespaces, RBAC objects and the like do not.
    has_generation: bool = True

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


_WITHOUT_GENERATION = {"Namespace", "Node", "ConfigMap", "Secret", "ServiceAccount", "Service", "Endpoints", "Event",
                       "ControllerRevision", "Lease", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding",
                       "SelfSubjectAccessReview", "PriorityClass"}


def _rt(group, version, kind, plural, namespaced, short=(), sub=(), verbs=ALL_VERBS, cats=()):
    return ResourceType(group, version, kind, plural, namespaced, tuple(short), tuple(sub), tuple(verbs), tuple(cats),
                        has_generation=kind not in _WITHOUT_GENERATION)


_CREATE_ONLY = ("create",)

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _rt("", "v1", "Namespace", "namespaces", False, ["ns"], ["status"]),
    _rt("", "v1", "Node", "nodes", False, ["no"], ["status"]),
    _rt("", "v1", "Pod", "pods", True, ["po"], ["status", "eviction", "log", "binding"], cats=["all"]),
    _rt("", "v1", "ConfigMap", "configmaps", True, ["cm"]),
    _rt("", "v1", "Secret", "secrets", True),
    _rt("", "v1", "ServiceAccount", "serviceaccounts", True, ["sa"]),
    _rt("", "v1", "Service", "services", True, ["svc"], ["status"], cats=["all"]),
    _rt("", "v1", "Endpoints", "endpoints", True, ["ep"]),
    _rt("", "v1", "Event", "events", True, ["ev"]),
    _rt("apps", "v1", "DaemonSet", "daemonsets", True, ["ds"], ["status"], cats=["all"]),
    _rt("apps", "v1", "Deployment", "deployments", True, ["deploy"], ["status", "scale"], cats=["all"]),
    _rt("apps", "v1", "ReplicaSet", "replicasets", True, ["rs"], ["status", "scale"], cats=["all"]),
    _rt("apps", "v1", "StatefulSet", "statefulsets", True, ["sts"], ["status", "scale"], cats=["all"]),
    _rt("apps", "v1", "ControllerRevision", "controllerrevisions", True),
    _rt("batch", "v1", "Job", "jobs", True, [], ["status"], cats=["all"]),
    _rt("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ["pdb"], ["status"]),
    _rt("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, ["netpol"]),
    _rt("coordination.k8s.io", "v1", "Lease", "leases", True),
    _rt("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    _rt("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    _rt("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _rt("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _rt("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False, ["crd", "crds"], ["status"]),
    _rt("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False, verbs=_CREATE_ONLY),
    _rt("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, ["pc"]),
)

# Group versions that exist for discovery even though they are created lazily (CRDs).
PREFERRED_VERSION_ORDER = ("v1", "v1beta1", "v1alpha1")


@dataclass
class ResourceRegistry:
    """All served types. Thread-safe: CRDs are added and removed while requests run."""

    _types: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def with_builtins(cls) -> "ResourceRegistry":
        registry = cls()
        for rtype in BUILTIN_TYPES:
            registry.add(rtype)
        return registry

    def add(self, rtype: ResourceType) -> None:
        with self._lock:
            self._types[(rtype.group, rtype.version, rtype.plural)] = rtype

    def remove(self, group: str, plural: str) -> None:
        with self._lock:
            for k in [k for k in self._types if k[0] == group and k[2] == plural]:
                del self._types[k]

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def by_key(self, key: tuple[str, str]) -> ResourceType | None:
        with self._lock:
            for rtype in self._types.values():
                if rtype.key == key:
                    return rtype
        return None

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        with self._lock:
            for rtype in self._types.values():
                if rtype.api_version == api_version and rtype.kind == kind:
                    return rtype
        return None

    def all(self) -> list[ResourceType]:
        with self._lock:
            return list(self._types.values())

    def group_versions(self) -> dict[str, list[str]]:
        """group -> versions, preferred first."""
        groups: dict[str, set[str]] = {}
        for rtype in self.all():
            groups.setdefault(rtype.group, set()).add(rtype.version)
        order = {v: i for i, v in enumerate(PREFERRED_VERSION_ORDER)}
        return {g: sorted(vs, key=lambda v: order.get(v, 99)) for g, vs in groups.items()}

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return sorted((r for r in self.all() if r.group == group and r.version == version), key=lambda r: r.plural)


def types_from_crd(crd: dict) -> list[ResourceType]:
    """The resource types a CustomResourceDefinition serves (one per served version)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    namespaced = spec.get("scope") == "Namespaced"
    types = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = tuple(sorted((version.get("subresources") or {}).keys()))
        types.append(ResourceType(
            group=spec.get("group", ""), version=version["name"], kind=names.get("kind", ""),
            plural=names.get("plural", ""), namespaced=namespaced,
            short_names=tuple(names.get("shortNames") or ()), subresources=subresources,
            categories=tuple(names.get("categories") or ()),
        ))
    return types
