"""Discovery documents (/api, /apis, /apis/G/V) shaped as kubectl and client-go expect them."""
from __future__ import annotations

from .resources import ResourceRegistry, ResourceType

def server_version(kubernetes_version: str) -> dict:
    """/version for a cluster running `kubernetes_version` (e.g. "v1.34.2")."""
    major, minor = kubernetes_version.lstrip("v").split(".")[:2]
    return {"major": major, "minor": minor, "gitVersion": kubernetes_version,
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.22.10", "compiler": "gc",
            "platform": "linux/amd64"}


# Subresources with a kind of their own (kubectl drain looks for pods/eviction in policy/v1).
_SUBRESOURCE_KINDS = {
    "eviction": ("policy", "v1", "Eviction", ["create"]),
    "binding": ("", "v1", "Binding", ["create"]),
    "scale": ("autoscaling", "v1", "Scale", ["get", "patch", "update"]),
    "log": ("", "v1", "Pod", ["get"]),
}


def api_versions(server_address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group_entry(group: str, versions: list[str]) -> dict:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list(registry: ResourceRegistry) -> dict:
    groups = [_group_entry(g, vs) for g, vs in sorted(registry.group_versions().items()) if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: ResourceRegistry, group: str) -> dict | None:
    versions = registry.group_versions().get(group)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group, versions)}


def _resource_entry(rtype: ResourceType) -> dict:
    entry = {"name": rtype.plural, "singularName": rtype.singular, "namespaced": rtype.namespaced,
             "kind": rtype.kind, "verbs": list(rtype.verbs)}
    if rtype.short_names:
        entry["shortNames"] = list(rtype.short_names)
    if rtype.categories:
        entry["categories"] = list(rtype.categories)
    return entry


def _subresource_entry(rtype: ResourceType, sub: str) -> dict:
    entry = {"name": f"{rtype.plural}/{sub}", "singularName": "", "namespaced": rtype.namespaced,
             "kind": rtype.kind, "verbs": ["get", "patch", "update"]}
    if sub in _SUBRESOURCE_KINDS:
        group, version, kind, verbs = _SUBRESOURCE_KINDS[sub]
        entry.update(kind=kind, verbs=verbs)
        if group:
            entry.update(group=group, version=version)
    return entry


def api_resource_list(registry: ResourceRegistry, group: str, version: str) -> dict | None:
    types = registry.in_group_version(group, version)
    if not types:
        return None
    resources = []
    for rtype in types:
        resources.append(_resource_entry(rtype))
        resources.extend(_subresource_entry(rtype, sub) for sub in rtype.subresources)
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": resources}
