"""Every object's resourceVersion, read through discovery: the proof that a dry run wrote nothing.

Works the same on the simulator and on a real API server, so one assertion holds on both."""
from __future__ import annotations


def listable_collections(kube) -> list[str]:
    """The collection path of every resource the server lists (subresources left out)."""
    groups = [("/api/v1", kube.get("/api/v1"))]
    for group in kube.get("/apis").get("groups") or []:
        version = group["preferredVersion"]["groupVersion"]
        groups.append((f"/apis/{version}", kube.get(f"/apis/{version}")))
    return [f"{prefix}/{resource['name']}" for prefix, listing in groups
            for resource in listing.get("resources") or []
            if "/" not in resource["name"] and "list" in (resource.get("verbs") or [])]


def resource_versions(kube, *, skip: tuple[str, ...] = ("/api/v1/events", "/apis/events.k8s.io/v1/events")) -> dict:
    """{(collection, namespace, name): resourceVersion} for every object; events are left out (a
    kubelet or controller records them on its own)."""
    versions = {}
    for collection in listable_collections(kube):
        if collection in skip:
            continue
        for obj in kube.list(collection):
            meta = obj["metadata"]
            versions[(collection, meta.get("namespace", ""), meta["name"])] = meta.get("resourceVersion")
    return versions
