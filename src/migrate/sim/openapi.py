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


def v2_document(kubernetes_version: str) -> dict:
    """/openapi/v2's frame: the swagger version and the info a v1.26 apiserver gives ("Kubernetes", its
    version). The simulator leaves paths and definitions empty: kubectl reads this document only to validate,
    on the client, objects whose kind the server's OpenAPI v3 does not describe (a kind the server does not
    serve, a v1 List), and finds no schema for those kinds in the real document either."""
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": kubernetes_version}, "paths": {},
            "definitions": {}}


def _protobuf_field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    def varint(value: int) -> bytes:
        out = bytearray()
        while True:
            byte, value = value & 0x7F, value >> 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                return bytes(out)
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def v2_protobuf(kubernetes_version: str) -> bytes:
    """v2_document as gnostic's openapi_v2.Document protobuf (swagger = 1, info = 2: title = 1, version = 2),
    what client-go's OpenAPISchema() asks for and unmarshals; empty paths and definitions are left out."""
    document = v2_document(kubernetes_version)
    info = (_protobuf_field(1, document["info"]["title"].encode())
            + _protobuf_field(2, document["info"]["version"].encode()))
    return _protobuf_field(1, document["swagger"].encode()) + _protobuf_field(2, info)


def root_document(registry: ResourceRegistry) -> dict:
    paths = {}
    for group, versions in sorted(registry.group_versions().items()):
        for version in versions:
            doc = group_version_document(registry, group, version)
            digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()
            paths[_gv_path(group, version)] = {"serverRelativeURL": f"/openapi/v3/{_gv_path(group, version)}?hash={digest}"}
    return {"paths": paths}
