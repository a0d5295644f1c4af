"""A minimal OpenAPI v3 for the served kinds: what kubectl reads before `apply`/`create`.

kubectl asks /openapi/v3 for the group-version documents and checks, per kind, whether
the PATCH operation takes `fieldValidation` (server-side field validation). We describe
paths and parameters, not schemas: the simulator does not validate fields by schema.
"""
from __future__ import annotations

import hashlib
import json

from .resources import ResourceRegistry, ResourceType

_QUERY_PARAMETERS = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _operation(rtype: ResourceType, action: str) -> dict:
    return {
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": rtype.group, "version": rtype.version, "kind": rtype.kind},
        "parameters": [{"name": name, "in": "query", "schema": {"type": "string"}} for name in _QUERY_PARAMETERS],
        "responses": {"200": {"description": "OK"}},
    }


def group_version_document(registry: ResourceRegistry, group: str, version: str) -> dict | None:
    types = registry.in_group_version(group, version)
    if not types:
        return None
    paths: dict[str, dict] = {}
    for rtype in types:
        scope = "/namespaces/{namespace}" if rtype.namespaced else ""
        base = f"/{_gv_path(group, version)}{scope}/{rtype.plural}"
        paths[base] = {"get": _operation(rtype, "list"), "post": _operation(rtype, "post")}
        paths[f"{base}/{{name}}"] = {"get": _operation(rtype, "get"), "put": _operation(rtype, "put"),
                                     "patch": _operation(rtype, "patch"), "delete": _operation(rtype, "delete")}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "unversioned"}, "paths": paths,
            "components": {"schemas": {}}}


def root_document(registry: ResourceRegistry) -> dict:
    paths = {}
    for group, versions in sorted(registry.group_versions().items()):
        for version in versions:
            doc = group_version_document(registry, group, version)
            digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()
            paths[_gv_path(group, version)] = {"serverRelativeURL": f"/openapi/v3/{_gv_path(group, version)}?hash={digest}"}
    return {"paths": paths}
