"""The three patch formats of the Kubernetes API, applied to plain JSON-shaped objects.

- JSON merge patch (RFC 7386): `application/merge-patch+json`
- JSON patch (RFC 6902): `application/json-patch+json`
- strategic merge patch: `application/strategic-merge-patch+json`, the Kubernetes dialect
  of merge patch in which some lists are merged element by element (by a merge key taken
  from the Go struct tags of the built-in types) and `$`-directives steer the merge.

Every function returns a new object and leaves its inputs untouched.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


class PatchError(ValueError):
    """A patch that cannot be applied; `code` is the HTTP status the API server answers with."""

    def __init__(self, message: str, code: int = 422):
        super().__init__(message)
        self.message = message
        self.code = code


class UnsupportedPatchType(PatchError):
    """A Content-Type that is not one of the patch formats handled here (e.g. server-side apply)."""

    def __init__(self, content_type: str):
        super().__init__(f"unsupported patch type: {content_type!r}", code=415)
        self.content_type = content_type


def apply_patch(target: dict, patch_body: bytes | str, content_type: str) -> dict:
    """Apply a request body of the given patch Content-Type to `target`, as the PATCH verb does."""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type not in (MERGE_PATCH, JSON_PATCH, STRATEGIC_MERGE_PATCH):
        raise UnsupportedPatchType(content_type)
    patch = _decode_json(patch_body)
    if media_type == JSON_PATCH:
        result = json_patch(target, patch)
    elif media_type == MERGE_PATCH:
        if not isinstance(patch, dict):
            raise PatchError(f"merge patch must be a JSON object, not {_json_type(patch)}", code=400)
        result = json_merge_patch(target, patch)
    else:
        result = strategic_merge_patch(target, patch)
    if not isinstance(result, dict):
        raise PatchError(f"the patched object must be a JSON object, not {_json_type(result)}")
    return result


def _decode_json(body: bytes | str):
    try:
        text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body
        return json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PatchError(f"the patch body is not valid JSON: {exc}", code=400) from None


def _json_type(value) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "a string"


# --- JSON merge patch (RFC 7386) ------------------------------------------------------

def json_merge_patch(target, patch):
    """RFC 7386: objects merge key by key, null deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result


# --- JSON patch (RFC 6902) ------------------------------------------------------------

def json_patch(target, operations):
    """RFC 6902: apply the operations in order to a copy of target; all or nothing."""
    if not isinstance(operations, list):
        raise PatchError(f"a JSON patch must be an array of operations, not {_json_type(operations)}", code=400)
    document = copy.deepcopy(target)
    for index, operation in enumerate(operations):
        document = _apply_operation(document, operation, index)
    return document


def _apply_operation(document, operation, index: int):
    if not isinstance(operation, dict):
        raise PatchError(f"operation {index} is not a JSON object", code=400)
    op = operation.get("op")
    path = _required_member(operation, "path", op, index)
    if op == "add":
        return _add(document, path, copy.deepcopy(_required_member(operation, "value", op, index)), op)
    if op == "remove":
        return _remove(document, path, op)[0]
    if op == "replace":
        value = copy.deepcopy(_required_member(operation, "value", op, index))
        document, _old = _remove(document, path, op)
        return _add(document, path, value, op)
    if op == "move":
        source = _required_member(operation, "from", op, index)
        if path != source and path.startswith(source + "/"):
            raise PatchError(f'move operation does not apply: "from" {source} is a prefix of "path" {path}')
        document, value = _remove(document, source, op)
        return _add(document, path, value, op)
    if op == "copy":
        source = _required_member(operation, "from", op, index)
        value = copy.deepcopy(_get(document, source, op))
        return _add(document, path, value, op)
    if op == "test":
        expected = _required_member(operation, "value", op, index)
        if not _json_equal(_get(document, path, op), expected):
            raise PatchError(f"testing value {path} failed: test failed")
        return document
    raise PatchError(f"operation {index}: unexpected kind of operation: {op!r} "
                     "(want add, remove, replace, move, copy or test)", code=400)


def _required_member(operation: dict, member: str, op, index: int):
    if member not in operation:
        raise PatchError(f"operation {index} ({op}) is missing the {member!r} member", code=400)
    value = operation[member]
    if member in ("path", "from") and not isinstance(value, str):
        raise PatchError(f"operation {index} ({op}): {member!r} must be a JSON pointer string", code=400)
    return value


def _parse_pointer(pointer: str) -> list[str]:
    """RFC 6901: '' is the whole document; '/a~1b/~0c' is ['a/b', '~c']."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"invalid JSON pointer {pointer!r}: it must be empty or start with '/'", code=400)
    # ~1 before ~0, so that '~01' decodes to '~1' and not '/'
    return [token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/")]


def _array_index(token: str, array: list, pointer: str, op: str, *, allow_end: bool) -> int:
    """A list index token: decimal without leading zeros, '-' meaning one past the end (add only)."""
    if token == "-" and allow_end:
        return len(array)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(f"{op} operation does not apply: invalid array index {token!r} in {pointer}")
    position = int(token)
    limit = len(array) if allow_end else len(array) - 1
    if position > limit:
        raise PatchError(f"{op} operation does not apply: array index {position} out of bounds in {pointer}")
    return position


def _parent(document, pointer: str, op: str):
    """The container that holds the pointer's last token, and that token."""
    tokens = _parse_pointer(pointer)
    node = document
    for depth, token in enumerate(tokens[:-1]):
        node = _child(node, token, pointer, op, "/" + "/".join(tokens[:depth + 1]))
    return node, tokens[-1]


def _child(node, token: str, pointer: str, op: str, prefix: str):
    if isinstance(node, dict):
        if token not in node:
            raise PatchError(f'{op} operation does not apply: doc is missing path: "{pointer}": missing value')
        return node[token]
    if isinstance(node, list):
        return node[_array_index(token, node, pointer, op, allow_end=False)]
    raise PatchError(f"{op} operation does not apply: {prefix} is not an object or array in {pointer}")


def _get(document, pointer: str, op: str):
    node = document
    tokens = _parse_pointer(pointer)
    for depth, token in enumerate(tokens):
        node = _child(node, token, pointer, op, "/" + "/".join(tokens[:depth + 1]))
    return node


def _add(document, pointer: str, value, op: str):
    if pointer == "":
        return value
    parent, token = _parent(document, pointer, op)
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_array_index(token, parent, pointer, op, allow_end=True), value)
    else:
        raise PatchError(f"{op} operation does not apply: the parent of {pointer} is not an object or array")
    return document


def _remove(document, pointer: str, op: str):
    """Returns (document without the value, the removed value)."""
    if pointer == "":
        return None, document
    parent, token = _parent(document, pointer, op)
    if isinstance(parent, dict):
        if token not in parent:
            raise PatchError(f'{op} operation does not apply: doc is missing path: "{pointer}": missing value')
        return document, parent.pop(token)
    if isinstance(parent, list):
        return document, parent.pop(_array_index(token, parent, pointer, op, allow_end=False))
    raise PatchError(f"{op} operation does not apply: the parent of {pointer} is not an object or array")


def _json_equal(left, right) -> bool:
    """Equality of JSON values: unlike Python's ==, true is not 1 and 1 is 1.0."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_json_equal(a, b) for a, b in zip(left, right))
    return type(left) is type(right) and left == right


# --- strategic merge patch ------------------------------------------------------------
#
# Which lists merge, and by which key, comes from the `patchStrategy`/`patchMergeKey` tags
# of the Go types (k8s.io/api). The schemas below transcribe those tags for the kinds a
# migration touches. A field not listed has no strategy: maps still merge key by key, but
# its lists are replaced whole, like tolerations (PodSpec.Tolerations has no patchStrategy)
# and node taints (NodeSpec.Taints has none either).

@dataclass(frozen=True)
class _MergeList:
    """A list merged element by element: objects matched on `key`, or scalars as a set (key None)."""
    key: str | None
    fields: dict = field(default_factory=dict)  # schema of each element (objects only)


_OBJECT_META = {"ownerReferences": _MergeList("uid"), "finalizers": _MergeList(None)}
_CONTAINER = {
    "ports": _MergeList("containerPort"),
    "env": _MergeList("name"),
    "volumeMounts": _MergeList("mountPath"),
    "volumeDevices": _MergeList("devicePath"),
}
_POD_SPEC = {
    "containers": _MergeList("name", _CONTAINER),
    "initContainers": _MergeList("name", _CONTAINER),
    "ephemeralContainers": _MergeList("name", _CONTAINER),
    "volumes": _MergeList("name"),
    "imagePullSecrets": _MergeList("name"),
    "hostAliases": _MergeList("ip"),
    "topologySpreadConstraints": _MergeList("topologyKey"),
    "resourceClaims": _MergeList("name"),
    "schedulingGates": _MergeList("name"),
}
_POD_TEMPLATE = {"metadata": _OBJECT_META, "spec": _POD_SPEC}
_CONDITIONS = _MergeList("type")
_POD_STATUS = {
    "conditions": _CONDITIONS,
    "podIPs": _MergeList("ip"),
    "hostIPs": _MergeList("ip"),
    "resourceClaimStatuses": _MergeList("name"),
}
_NODE_SPEC = {"podCIDRs": _MergeList(None)}
_NODE_STATUS = {"conditions": _CONDITIONS, "addresses": _MergeList("type")}
_WITH_CONDITIONS = {"conditions": _CONDITIONS}
_WORKLOAD = {"metadata": _OBJECT_META, "spec": {"template": _POD_TEMPLATE}, "status": _WITH_CONDITIONS}

_SCHEMA_BY_KIND = {
    "Pod": {"metadata": _OBJECT_META, "spec": _POD_SPEC, "status": _POD_STATUS},
    "PodTemplate": {"metadata": _OBJECT_META, "template": _POD_TEMPLATE},
    "Node": {"metadata": _OBJECT_META, "spec": _NODE_SPEC, "status": _NODE_STATUS},
    "Deployment": _WORKLOAD,
    "DaemonSet": _WORKLOAD,
    "StatefulSet": _WORKLOAD,
    "ReplicaSet": _WORKLOAD,
    "ReplicationController": _WORKLOAD,
    "Job": _WORKLOAD,
    "CronJob": {"metadata": _OBJECT_META, "status": {},
                "spec": {"jobTemplate": {"metadata": _OBJECT_META, "spec": {"template": _POD_TEMPLATE}}}},
    "Service": {"metadata": _OBJECT_META, "spec": {"ports": _MergeList("port")}, "status": _WITH_CONDITIONS},
    "ServiceAccount": {"metadata": _OBJECT_META, "secrets": _MergeList("name")},
    "Namespace": {"metadata": _OBJECT_META, "status": _WITH_CONDITIONS},
    "PersistentVolumeClaim": {"metadata": _OBJECT_META, "status": _WITH_CONDITIONS},
    "PodDisruptionBudget": {"metadata": _OBJECT_META, "status": _WITH_CONDITIONS},
}
# Every kind, custom resources included, has ObjectMeta.
_OTHER_KINDS = {"metadata": _OBJECT_META}
# An object without `kind`: merge lists by where they sit (pod spec, template, node, status).
_KINDLESS = {
    "metadata": _OBJECT_META,
    "template": _POD_TEMPLATE,
    "spec": {**_POD_SPEC, **_NODE_SPEC, "template": _POD_TEMPLATE, "ports": _MergeList("port"),
             "jobTemplate": {"metadata": _OBJECT_META, "spec": {"template": _POD_TEMPLATE}}},
    "status": {**_POD_STATUS, **_NODE_STATUS},
}

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ELEMENT_ORDER = "$setElementOrder/"
_DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"


def strategic_merge_patch(target: dict, patch: dict) -> dict:
    """Apply a strategic merge patch the way the API server does for built-in kinds."""
    if not isinstance(patch, dict):
        raise PatchError(f"a strategic merge patch must be a JSON object, not {_json_type(patch)}", code=400)
    kind = patch.get("kind") or (target or {}).get("kind")
    schema = _SCHEMA_BY_KIND.get(kind, _OTHER_KINDS) if kind else _KINDLESS
    # Work on copies: the merge below reuses and rearranges pieces of both documents.
    original = copy.deepcopy(target) if isinstance(target, dict) else {}
    return _merge_map(original, copy.deepcopy(patch), schema)


def _merge_map(original: dict, patch: dict, schema: dict) -> dict:
    """Merge one map; directives first ($patch, $retainKeys, $setElementOrder), deletions last."""
    if _DIRECTIVE in patch:
        return _map_directive(patch, schema)
    result = dict(original)
    _retain_keys(result, patch)
    ordered: set[str] = set()  # lists already merged together with their $setElementOrder
    for key, value in patch.items():
        if key.startswith(_SET_ELEMENT_ORDER):
            name = key[len(_SET_ELEMENT_ORDER):]
            _merge_ordered_list(result, name, patch, value, schema)
            ordered.add(name)
    for key, value in patch.items():
        if key in ordered or key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif key not in result:
            result[key] = _materialize(value, schema.get(key))
        else:
            result[key] = _merge_value(result[key], value, schema.get(key))
    for key, value in patch.items():
        if key.startswith(_DELETE_FROM_PRIMITIVE_LIST):
            _delete_from_primitive_list(result, key[len(_DELETE_FROM_PRIMITIVE_LIST):], value)
    return result


def _map_directive(patch: dict, schema: dict) -> dict:
    """`$patch: replace` makes the map exactly the patch; `$patch: delete` empties it."""
    directive = patch[_DIRECTIVE]
    if directive == "replace":
        return _materialize({k: v for k, v in patch.items() if k != _DIRECTIVE}, schema)
    if directive == "delete":
        return {}
    raise PatchError(f"unknown patch type: {directive} in map: {patch}")


def _retain_keys(result: dict, patch: dict) -> None:
    """`$retainKeys`: drop the original's keys not listed (used for union types like volume sources)."""
    if _RETAIN_KEYS not in patch:
        return
    keep = patch[_RETAIN_KEYS]
    if not isinstance(keep, list):
        raise PatchError("invalid patch format of retainKeys")
    for key, value in patch.items():
        if value is None or key.startswith("$"):
            continue
        if key not in keep:
            raise PatchError(f"invalid patch format of retainKeys: {key!r} is in the patch but not in $retainKeys")
    for key in list(result):
        if key not in keep:
            del result[key]


def _merge_value(original, value, schema):
    if isinstance(original, dict) and isinstance(value, dict):
        return _merge_map(original, value, schema if isinstance(schema, dict) else {})
    if isinstance(original, list) and isinstance(value, list) and isinstance(schema, _MergeList):
        return _merge_list(original, value, schema)
    return _materialize(value, schema)  # different types, a plain list or a scalar: replaced


def _merge_list(original: list, patch: list, schema: _MergeList) -> list:
    if schema.key is None:
        merged = _unique(original + [v for v in patch if v is not None])
        return _order(merged, patch, original, None)
    original, patch, replaced = _apply_list_directives(original, patch, schema.key)
    if replaced:
        return [_materialize(v, schema.fields) for v in patch]
    merged = list(original)
    for element in patch:
        if not isinstance(element, dict) or schema.key not in element:
            raise PatchError(f"map: {element} does not contain declared merge key: {schema.key}")
        position = _find_by_key(merged, schema.key, element[schema.key])
        if position is None:
            merged.append(_materialize(element, schema.fields))
        else:
            merged[position] = _merge_map(merged[position], element, schema.fields)
    return _order(merged, patch, original, schema.key)


def _apply_list_directives(original: list, patch: list, key: str):
    """Handle `$patch` elements: `delete` removes the element with that key, `replace` the whole list.

    Returns (original after deletions, patch without directive elements, whether to replace).
    """
    plain, replaced = [], False
    for element in patch:
        directive = element.get(_DIRECTIVE) if isinstance(element, dict) else None
        if directive is None:
            plain.append(element)
        elif directive == "delete":
            if key not in element:
                raise PatchError(f"map: {element} does not contain declared merge key: {key}")
            original = [e for e in original if not (isinstance(e, dict) and e.get(key) == element[key])]
        elif directive == "replace":
            replaced = True
        elif directive == "merge":
            raise PatchError("merging lists cannot yet be specified in the patch")
        else:
            raise PatchError(f"unknown patch type: {directive} in map: {element}")
    return original, plain, replaced


def _merge_ordered_list(result: dict, name: str, patch: dict, order, schema: dict) -> None:
    """`$setElementOrder/<name>`: merge the list, then order it as kubectl computed it."""
    if not isinstance(order, list):
        raise PatchError("invalid patch format of setElementOrder list")
    list_schema = schema.get(name)
    original, value = result.get(name), patch.get(name)
    if original is None and value is None:
        return
    if original is not None and value is not None:
        merged = _merge_value(original, value, list_schema)
    else:
        merged = _materialize(value, list_schema) if value is not None else original
    if not isinstance(merged, list):
        raise PatchError(f"$setElementOrder/{name} refers to a field that is not a list")
    key = list_schema.key if isinstance(list_schema, _MergeList) else None
    result[name] = _order(merged, order, original if isinstance(original, list) else [], key)


def _order(merged: list, wanted: list, original: list, key: str | None) -> list:
    """Order a merged list as the API server does.

    Elements named in `wanted` (the patch, or `$setElementOrder`) come in that order; the
    others keep their original order; the two runs are interleaved where the original order
    relates them, and otherwise the wanted elements go first. So an element added by a patch
    lands at the front, unless kubectl sent a `$setElementOrder` that places it.
    """
    def identity(element):
        return element.get(key) if key is not None and isinstance(element, dict) else element

    wanted_ids = [identity(e) for e in wanted if not _is_directive(e)]
    original_ids = [identity(e) for e in original]
    patch_items = [e for e in merged if identity(e) in wanted_ids]
    server_only = [e for e in merged if identity(e) not in wanted_ids]
    patch_items.sort(key=lambda e: wanted_ids.index(identity(e)))
    server_only.sort(key=lambda e: _position(original_ids, identity(e)))
    ordered = []
    while patch_items or server_only:
        if server_only and patch_items:
            left, right = (_position(original_ids, identity(x), -1) for x in (server_only[0], patch_items[0]))
            take_server = left >= 0 and right >= 0 and left < right
        else:
            take_server = bool(server_only)
        ordered.append((server_only if take_server else patch_items).pop(0))
    return ordered


def _position(ids: list, identity, missing: int = 1 << 30) -> int:
    return ids.index(identity) if identity in ids else missing


def _is_directive(element) -> bool:
    return isinstance(element, dict) and _DIRECTIVE in element


def _delete_from_primitive_list(result: dict, name: str, doomed) -> None:
    """`$deleteFromPrimitiveList/<name>`: remove these values from a list of scalars."""
    if not isinstance(doomed, list):
        raise PatchError("invalid patch format of primitive list")
    if isinstance(result.get(name), list):
        result[name] = [v for v in result[name] if v not in doomed]


def _materialize(value, schema):
    """A patch value that lands where the original has nothing: what the server stores.

    Nulls have nothing to delete and directives nothing to steer, so both vanish.
    """
    if isinstance(value, dict):
        return _merge_map({}, value, schema if isinstance(schema, dict) else {})
    if isinstance(value, list):
        fields = schema.fields if isinstance(schema, _MergeList) else {}
        return [_materialize(v, fields) for v in value if not _is_directive(v)]
    return value


def _find_by_key(elements: list, key: str, value) -> int | None:
    for position, element in enumerate(elements):
        if isinstance(element, dict) and key in element and _json_equal(element[key], value):
            return position
    return None


def _unique(values: list) -> list:
    seen, unique = [], []
    for value in values:
        if not any(_json_equal(value, s) for s in seen):
            seen.append(value)
            unique.append(value)
    return unique
