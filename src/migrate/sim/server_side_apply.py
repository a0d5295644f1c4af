"""Server-side apply (PATCH with application/apply-patch+yaml) and the field sets managedFields hold.

Upstream, at the versions kube-apiserver v1.26 vendors:
- sigs.k8s.io/structured-merge-diff/v4: typed/tofieldset.go (which paths an applied object sets: every scalar,
  every atomic list, map or struct as a whole, every item of an associative list or set by its key or value,
  map entries that are not struct fields, null or empty maps), typed/merge.go (live.Merge(config): structs and
  maps merged key by key, associative lists item by item in visitListItems' order, atomic values replaced),
  typed/compare.go (added, modified, removed), merge/update.go (Updater.Apply: merge, prune what the manager
  applied before and no longer applies unless another manager owns it, conflicts with other managers' fields
  that the result adds or changes, force taking them over, removed fields leaving every manager; Updater.Update
  for other writes), fieldpath/serialize.go (fieldsV1: "f:<field>", "k:<keys as JSON>", "v:<value>", "i:<n>",
  "." for a path that is itself a member and has children);
- k8s.io/apiserver pkg/endpoints/handlers/patch.go (applyPatcher: the body's apiVersion must be the
  resource's, fieldManager is required, an absent object is created), pkg/endpoints/handlers/fieldmanager/
  (stripmeta.go: metadata's identity fields belong to nobody; the strategies' reset fields: a main-resource
  write owns no status; conflict.go: the 409 and its message; lastappliedmanager.go and
  lastappliedupdater.go: `kubectl apply --server-side` over an object that kubectl apply made takes over the
  fields the last-applied annotation still describes, and keeps that annotation current).

The schema of built-in kinds is ssa_schema.py; a custom resource's is read from its CRD's structural schema.
A path is a tuple of fieldsV1 elements, e.g. ("f:spec", "f:containers", 'k:{"name":"main"}', "f:image").
"""
from __future__ import annotations

import json

import yaml

from . import errors, ssa_schema
from .clock import parse_rfc3339, rfc3339
from .store import clone

APPLY_PATCH = "application/apply-patch+yaml"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_STRIPPED_META = ("name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "selfLink",
                  "managedFields", "clusterName")  # stripmeta.go


# ---- types --------------------------------------------------------------------------------------------------

def _resolve(t):
    """("scalar",), ("deduced",), ("struct", atomic, fields, key_defaults), ("list", rel, elem), ("map", atomic, elem)."""
    if t is None:
        return ("scalar",)
    if t == "?":
        return ("deduced",)
    if isinstance(t, str):
        found = ssa_schema.TYPES.get(t)
        return ("struct", *found) if found else ("deduced",)
    return t


def _crd_type(props: dict | None):
    """A CRD's structural schema as a type (x-kubernetes-list-type, -list-map-keys, -map-type)."""
    props = props or {}
    if props.get("x-kubernetes-int-or-string"):
        return None
    kind = props.get("type")
    if kind == "object":
        atomic = props.get("x-kubernetes-map-type") == "atomic"
        if props.get("properties"):
            fields, defaults = {}, {}
            for name, child in props["properties"].items():
                child_type = _crd_type(child)
                if child_type is not None:
                    fields[name] = child_type
                if isinstance(child, dict) and "default" in child and not isinstance(child["default"], (dict, list)):
                    defaults[name] = child["default"]
            return ("struct", atomic, fields, defaults)
        if isinstance(props.get("additionalProperties"), dict):
            return ("map", atomic, _crd_type(props["additionalProperties"]))
        return "?"
    if kind == "array":
        list_type = props.get("x-kubernetes-list-type", "atomic")
        rel = tuple(props.get("x-kubernetes-list-map-keys") or ()) if list_type == "map" else list_type
        return ("list", rel, _crd_type(props.get("items")))
    if kind is None and (props.get("x-kubernetes-preserve-unknown-fields") or props.get("properties")):
        return "?"
    return None


def type_of(rtype, crd: dict | None = None):
    """The type of a whole object of `rtype`: a built-in's from ssa_schema, a custom resource's from its CRD."""
    name = ssa_schema.ROOTS.get(f"{rtype.group}/{rtype.version}/{rtype.kind}")
    if name is not None:
        return name
    for version in ((crd or {}).get("spec") or {}).get("versions") or []:
        if version.get("name") == rtype.version:
            root = _crd_type(((version.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object"})
            if isinstance(root, tuple) and root[0] == "struct":
                return ("struct", root[1], {**root[2], "metadata": "meta.v1.ObjectMeta"}, root[3])
    return ("struct", False, {"metadata": "meta.v1.ObjectMeta"}, {})


def schema_for(store, registry, rtype):
    """type_of(rtype), reading a custom resource's CRD from the store."""
    crd = None
    if f"{rtype.group}/{rtype.version}/{rtype.kind}" not in ssa_schema.ROOTS:
        crd_type = registry.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        crd = store.find(crd_type, None, f"{rtype.plural}.{rtype.group}") if crd_type else None
    return type_of(rtype, crd)


def zero_object(t) -> dict:
    """What Update compares a create against: the kind's zero value, whose metadata, spec and status structs
    are there, empty (the fields of those structs it holds are not the creator's as a whole)."""
    kind = _resolve(t)
    fields = kind[2] if kind[0] == "struct" else {}
    return {name: {} for name in ("metadata", "spec", "status") if isinstance(fields.get(name), str)}


def _field_type(struct, key: str):
    return struct[2].get(key) if struct[0] == "struct" else None


# ---- path elements ------------------------------------------------------------------------------------------

def _json(value) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _item_element(item, rel, elem) -> str:
    if rel == "set":
        return "v:" + _json(item)
    struct = _resolve(elem)
    defaults = struct[3] if struct[0] == "struct" else {}
    key = {}
    for name in rel:
        if isinstance(item, dict) and name in item:
            key[name] = item[name]
        elif name in defaults:
            key[name] = defaults[name]
        else:
            raise _typed_error(f"associative list with keys has an element that omits key field {name!r}")
    return "k:" + _json(key)


def path_string(path) -> str:
    """fieldpath.Path.String(): .spec.containers[name="main"].env[name="A"]; [=value] for sets, [n] for indexes."""
    out = []
    for element in path:
        kind, text = element[:2], element[2:]
        if kind == "f:":
            out.append("." + text)
        elif kind == "k:":
            out.append("[" + ",".join(f"{k}={_json(v)}" for k, v in sorted(json.loads(text).items())) + "]")
        elif kind == "v:":
            out.append("[=" + text + "]")
        else:
            out.append("[" + text + "]")
    return "".join(out)


# ---- the applied object as a typed value (typed/validate.go) -------------------------------------------------

def validation_errors(value, t, path: tuple = ()) -> list[str]:
    """What converting the applied object to a typed value reports for a built-in kind: fields its struct does
    not declare (e.g. a CRD's x-kubernetes-validations[].reason on a v1.26 server), walked in key order."""
    out: list[str] = []
    _validate(value, t, path, out)
    return out


def _validate(value, t, path: tuple, out: list) -> None:
    if value is None:
        return
    kind = _resolve(t)
    if kind[0] == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            if kind[1] == "atomic":
                element = f"i:{i}"
            else:
                try:
                    element = _item_element(item, kind[1], kind[2])
                except errors.ApiError:
                    element = f"i:{i}"
            _validate(item, kind[2], path + (element,), out)
    elif kind[0] == "map" and isinstance(value, dict):
        for key in sorted(value):
            _validate(value[key], kind[2], path + ("f:" + key,), out)
    elif kind[0] == "struct" and isinstance(value, dict) and isinstance(t, str):
        for key in sorted(value):
            if key not in kind[2]:
                out.append(f"{path_string(path + ('f:' + key,))}: field not declared in schema")
            else:
                _validate(value[key], kind[2][key], path + ("f:" + key,), out)


# ---- field sets (typed/tofieldset.go) -------------------------------------------------------------------------

def field_set(value, t, path: tuple = ()) -> set:
    """The paths an object sets (ToFieldSet)."""
    out: set = set()
    _to_field_set(value, t, path, out)
    return out


def _to_field_set(value, t, path: tuple, out: set) -> None:
    kind = _resolve(t)
    if kind[0] == "scalar" or value is None:
        out.add(path)
        return
    if kind[0] == "deduced":
        if isinstance(value, dict):
            for key, child in value.items():
                child_path = path + ("f:" + key,)
                _to_field_set(child, "?", child_path, out)
                out.add(child_path)  # not a declared field
        else:
            out.add(path)  # scalars and (atomic) lists
        return
    if kind[0] == "list":
        if kind[1] == "atomic" or not isinstance(value, list):
            out.add(path)
            return
        for item in value:
            item_path = path + (_item_element(item, kind[1], kind[2]),)
            _to_field_set(item, kind[2], item_path, out)
            out.add(item_path)
        return
    atomic = kind[1]
    if atomic or not isinstance(value, dict):
        out.add(path)
        return
    for key, child in value.items():
        child_path = path + ("f:" + key,)
        child_type = kind[2] if kind[0] == "map" else _field_type(kind, key)
        _to_field_set(child, child_type, child_path, out)
        if child is None or child == {} or kind[0] == "map":
            out.add(child_path)


# ---- merge (typed/merge.go) -----------------------------------------------------------------------------------

_ABSENT = object()


def merge(live, config, t):
    """live.Merge(config): the config's values win, what only live has stays."""
    if config is _ABSENT:
        return live
    if live is _ABSENT or live is None or config is None:
        return config
    kind = _resolve(t)
    if kind[0] == "scalar":
        return config
    if kind[0] == "deduced":
        if isinstance(live, dict) and isinstance(config, dict):
            return _merge_maps(live, config, lambda key: "?")
        return config
    if kind[0] == "list":
        if kind[1] == "atomic" or not isinstance(live, list) or not isinstance(config, list):
            return config
        return _merge_lists(live, config, kind[1], kind[2])
    if kind[1] or not isinstance(live, dict) or not isinstance(config, dict):
        return config  # atomic
    if kind[0] == "map":
        return _merge_maps(live, config, lambda key: kind[2])
    return _merge_maps(live, config, lambda key: _field_type(kind, key))


def _merge_maps(live: dict, config: dict, child_type) -> dict:
    out = {}
    for key, value in live.items():
        out[key] = merge(value, config.get(key, _ABSENT), child_type(key)) if key in config else value
    for key, value in config.items():
        if key not in live:
            out[key] = value
    return {k: v for k, v in out.items() if v is not None}


def _merge_lists(live: list, config: list, rel, elem) -> list:
    """visitListItems: items merged by key; live's order, each shared item taking its place as config orders
    the shared ones, config's new items where config puts them."""
    lhs = [(_item_element(item, rel, elem), item) for item in live]
    rhs = [(_item_element(item, rel, elem), item) for item in config]
    observed_lhs, observed_rhs = dict(lhs), dict(rhs)
    shared = [pe for pe, _ in rhs if pe in observed_lhs]
    next_shared = shared.pop(0) if shared else None
    merged_rhs: set = set()
    out = []
    li = ri = 0
    while li < len(lhs) or ri < len(rhs):
        if li < len(lhs) and ri < len(rhs):
            pe = lhs[li][0]
            if pe == rhs[ri][0]:
                merged_rhs.add(pe)
                out.append(merge(observed_lhs[pe], observed_rhs[pe], elem))
                li += 1
                ri += 1
                next_shared = shared.pop(0) if shared else None
                continue
            if pe in observed_rhs and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < len(lhs):
            pe = lhs[li][0]
            if pe not in observed_rhs:
                out.append(lhs[li][1])
                li += 1
                continue
            if pe in merged_rhs:
                li += 1
                continue
        if ri < len(rhs):
            pe = rhs[ri][0]
            merged_rhs.add(pe)
            out.append(merge(observed_lhs.get(pe, _ABSENT), observed_rhs[pe], elem))
            ri += 1
            if next_shared is not None and next_shared == pe:
                next_shared = shared.pop(0) if shared else None
    return out


# ---- compare (typed/compare.go) -------------------------------------------------------------------------------

def compare(old, new, t) -> tuple[set, set, set]:
    """(added, modified, removed) from `old` to `new`."""
    added, modified, removed = set(), set(), set()
    _compare(old, new, t, (), added, modified, removed)
    return added, modified, removed


def _compare(old, new, t, path, added, modified, removed) -> None:
    if old is _ABSENT and new is _ABSENT:
        return
    if old is _ABSENT or old is None:
        if new is not _ABSENT and new is not None:
            added.add(path)
            added.update(p for p in field_set(new, t, path) if p != path)
        return
    if new is _ABSENT or new is None:
        removed.add(path)
        removed.update(p for p in field_set(old, t, path) if p != path)
        return
    kind = _resolve(t)
    if kind[0] == "scalar":
        if old != new:
            modified.add(path)
        return
    if kind[0] == "deduced":
        if isinstance(old, dict) and isinstance(new, dict):
            for key in {**old, **new}:
                _compare(old.get(key, _ABSENT), new.get(key, _ABSENT), "?", path + ("f:" + key,), added, modified,
                         removed)
        elif old != new:
            modified.add(path)
        return
    if kind[0] == "list":
        if kind[1] == "atomic" or not isinstance(old, list) or not isinstance(new, list):
            if old != new:
                modified.add(path)
            return
        lhs = {_item_element(item, kind[1], kind[2]): item for item in old}
        rhs = {_item_element(item, kind[1], kind[2]): item for item in new}
        for pe in {**lhs, **rhs}:
            _compare(lhs.get(pe, _ABSENT), rhs.get(pe, _ABSENT), kind[2], path + (pe,), added, modified, removed)
        return
    if kind[1] or not isinstance(old, dict) or not isinstance(new, dict):
        if old != new:
            modified.add(path)
        return
    for key in {**old, **new}:
        child_type = kind[2] if kind[0] == "map" else _field_type(kind, key)
        _compare(old.get(key, _ABSENT), new.get(key, _ABSENT), child_type, path + ("f:" + key,), added, modified,
                 removed)


# ---- removing items (RemoveItems, for pruning) ---------------------------------------------------------------

def _remove(value, path: tuple, t) -> None:
    """Remove the field or list item at `path` from `value` (in place); empty parents it leaves go too."""
    if not path:
        return
    element, rest = path[0], path[1:]
    kind = _resolve(t)
    if element.startswith("f:") and isinstance(value, dict):
        key = element[2:]
        if key not in value:
            return
        if rest:
            child_type = ("?" if kind[0] == "deduced" else kind[2] if kind[0] == "map" else _field_type(kind, key))
            _remove(value[key], rest, child_type)
            if value[key] in ({}, []):
                del value[key]
        else:
            del value[key]
        return
    if isinstance(value, list) and kind[0] == "list" and kind[1] != "atomic":
        for i, item in enumerate(value):
            if _item_element(item, kind[1], kind[2]) == element:
                if rest:
                    _remove(item, rest, kind[2])
                else:
                    del value[i]
                return


def _with_meta_stripped(paths: set, has_status: bool, subresource: str | None) -> set:
    """stripmeta.go and the strategies' reset fields: what no manager owns."""
    out = set()
    for path in paths:
        if not path or path[0] in ("f:apiVersion", "f:kind"):
            continue
        if path[0] == "f:metadata" and (len(path) == 1 or path[1][2:] in _STRIPPED_META):
            continue
        if has_status and subresource is None and path[0] == "f:status":
            continue
        out.add(path)
    return out


# ---- managedFields (fieldpath/serialize.go, managedfields.go) ------------------------------------------------

def to_fields_v1(paths: set) -> dict:
    tree: dict = {}
    members = []
    for path in sorted(paths):
        node = tree
        for element in path:
            node = node.setdefault(element, {})
        members.append(node)
    for node in members:
        if node and "." not in node:
            node["."] = {}
    return _sorted_tree(tree)


def _sorted_tree(tree: dict) -> dict:
    return {k: _sorted_tree(v) for k, v in sorted(tree.items())}


def from_fields_v1(tree, prefix: tuple = ()) -> set:
    paths: set = set()
    if not isinstance(tree, dict):
        return paths
    for key, child in tree.items():
        if key == ".":
            paths.add(prefix)
            continue
        sub = from_fields_v1(child, prefix + (key,))
        if child and sub:
            paths |= sub
        else:
            paths.add(prefix + (key,))
    return paths


def _identity(entry: dict) -> tuple:
    operation = entry.get("operation", "")
    return (entry.get("manager", ""), operation, "" if operation == "Apply" else entry.get("apiVersion", ""),
            entry.get("subresource", ""))


def _entries(obj: dict) -> list[dict]:
    out = []
    for entry in ((obj or {}).get("metadata") or {}).get("managedFields") or []:
        if isinstance(entry, dict) and entry.get("fieldsType") == "FieldsV1":
            out.append({**entry, "_paths": from_fields_v1(entry.get("fieldsV1") or {})})
    return out


def _seconds(entry: dict) -> float:
    try:
        return float(int(parse_rfc3339(entry["time"])))
    except (KeyError, ValueError, TypeError, AttributeError):
        return 0.0


def encode_entries(entries: list[dict]) -> list[dict]:
    """Entries with fields, sorted as sortEncodedManagedFields sorts them."""
    kept = [e for e in entries if e["_paths"]]
    kept.sort(key=lambda e: (e.get("operation", ""), _seconds(e), e.get("manager", ""), e.get("apiVersion", ""),
                             e.get("subresource", "")))
    out = []
    for entry in kept:
        encoded = {k: v for k, v in entry.items() if k not in ("_paths", "fieldsV1", "subresource")}
        encoded["fieldsV1"] = to_fields_v1(entry["_paths"])
        if entry.get("subresource"):
            encoded["subresource"] = entry["subresource"]
        out.append(encoded)
    return out


# ---- conflicts (fieldmanager/internal/conflict.go) --------------------------------------------------------------

def _print_manager(entry: dict) -> str:
    text = json.dumps(entry.get("manager", ""))
    if entry.get("subresource"):
        text += f" with subresource {json.dumps(entry['subresource'])}"
    if entry.get("operation") == "Apply":
        return text
    return f"{text} using {entry.get('apiVersion', '')}"


def conflict_error(conflicts: list[tuple[dict, tuple]]) -> errors.ApiError:
    """NewConflictError: 409 Conflict, one cause per conflicting field, managers sorted."""
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {_print_manager(e)}",
               "field": path_string(p)} for e, p in conflicts]
    if len(conflicts) == 1:
        entry, path = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {_print_manager(entry)}: {path_string(path)}"
    else:
        by_manager: dict[str, list] = {}
        printed: dict[str, str] = {}
        for entry, path in conflicts:
            key = _json({"manager": entry.get("manager", ""), "operation": entry.get("operation", ""),
                         "apiVersion": entry.get("apiVersion", ""), "subresource": entry.get("subresource", "")})
            by_manager.setdefault(key, []).append(path)
            printed[key] = _print_manager(entry)
        lines = []
        for key in sorted(by_manager):
            lines.append(f"conflicts with {printed[key]}:")
            lines.extend(f"- {path_string(p)}" for p in by_manager[key])
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return errors.ApiError(409, "Conflict", message, {"causes": causes})


def _typed_error(detail: str) -> errors.ApiError:
    return errors.ApiError(500, "", f"failed to create typed patch object: {detail}")


# ---- Updater.Apply / Updater.Update (merge/update.go) ----------------------------------------------------------

def apply_fields(live: dict | None, config: dict, t, entries: list[dict], manager: str, api_version: str,
                 force: bool, now: str, has_status: bool):
    """(new object, entries, conflicts) for `manager` applying `config` over `live` (None when absent). With
    conflicts and no force, the object and entries are None. `entries` are the live object's (consumed)."""
    live_value = clone(live) if live is not None else {}
    applied = _with_meta_stripped(field_set(config, t), has_status, None)
    previous = next((e for e in entries if _identity(e) == (manager, "Apply", "", "")), None)
    others = [e for e in entries if e is not previous]
    merged = merge(live_value, config, t)
    if previous is not None:  # prune what this manager applied before and nobody owns now
        keep = applied.union(*(e["_paths"] for e in others))
        for path in sorted(previous["_paths"] - keep, key=len):
            if not any(len(k) > len(path) and k[:len(path)] == path for k in keep):
                _remove(merged, path, t)
    added, modified, removed = compare(live_value, merged, t)
    changed = _with_meta_stripped(added | modified, has_status, None)
    removed = _with_meta_stripped(removed, has_status, None)
    conflicts = [(entry, path) for entry in others for path in sorted(entry["_paths"] & changed)]
    if conflicts and not force:
        return None, None, conflicts
    for entry in others:
        entry["_paths"] = entry["_paths"] - changed - removed
    others.append({"manager": manager, "operation": "Apply", "apiVersion": api_version, "time": now,
                   "fieldsType": "FieldsV1", "_paths": applied})
    return merged, others, conflicts


def update_fields(live: dict | None, new: dict, t, entries: list[dict], manager: str, api_version: str,
                  subresource: str | None, now: str, has_status: bool) -> list[dict]:
    """Updater.Update for a non-apply write: every manager loses what the write changed or removed; the writer
    owns what it added or changed, on top of what it owned."""
    added, modified, removed = compare(clone(live) if live is not None else zero_object(t), new, t)
    changed = owned_paths(added | modified, has_status, subresource)
    removed = owned_paths(removed, has_status, subresource)
    for entry in entries:
        entry["_paths"] = entry["_paths"] - changed - removed
    if changed:
        mine = {"manager": manager, "operation": "Update", "apiVersion": api_version, "time": now,
                "fieldsType": "FieldsV1", **({"subresource": subresource} if subresource else {})}
        previous = next((e for e in entries if _identity(e) == _identity(mine)), None)
        if previous is not None:
            entries = [e for e in entries if e is not previous]
            changed = changed | previous["_paths"]
        entries.append({**mine, "_paths": changed})
    return entries


def owned_paths(paths: set, has_status: bool, subresource: str | None) -> set:
    """The paths a write can own: not metadata's identity, and status only through the status subresource."""
    paths = _with_meta_stripped(paths, has_status, subresource)
    if subresource == "status":
        paths = {p for p in paths if p[:1] == ("f:status",)}
    return paths


# ---- the PATCH handler's part -----------------------------------------------------------------------------------

def _unmanaged(obj: dict) -> dict:
    return {**obj, "metadata": {k: v for k, v in (obj.get("metadata") or {}).items()
                                if k not in ("managedFields", "resourceVersion")}}


def _decode_config(req) -> dict:
    try:
        config = yaml.safe_load(req.body.decode() if isinstance(req.body, bytes) else req.body)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"error decoding YAML: {exc}")
    if not isinstance(config, dict):
        raise errors.bad_request("error decoding YAML: the apply patch is not an object")
    return config


def _last_applied_allowed(live: dict, t) -> set | None:
    """lastappliedmanager.go allowedConflictsFromLastApplied: the fields the last-applied annotation sets that the
    live object still holds unchanged; None without a usable annotation."""
    text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not text:
        return None
    try:
        last = json.loads(text)
    except ValueError:
        return None
    if not isinstance(last, dict) or last.get("apiVersion") != live.get("apiVersion"):
        return None
    fields = field_set(last, t)
    added, modified, removed = compare(last, live, t)
    return fields - modified - added - removed


def server_side_apply(store, registry, req, now: float, kubernetes_version: str = "v1.26.5") -> dict:
    """PATCH application/apply-patch+yaml; sets req.created when the apply made the object. Fields a built-in
    kind does not declare are refused on a v1.26 server, whose schema ssa_schema.py is; other versions' schemas
    differ in what they declare, so there the simulator lets undeclared fields through."""
    rtype = req.rtype
    manager = req.params.get("fieldManager") or ""
    if not manager:
        raise errors.invalid("PatchOptions", "", [("fieldManager", "Required value: is required for apply patch")],
                             "meta.k8s.io")
    force = req.params.get("force", "").lower() in ("true", "1", "t")
    config = _decode_config(req)
    if config.get("apiVersion") != rtype.api_version:
        raise errors.bad_request("Incorrect version specified in apply patch. Specified patch version: "
                                 f"{config.get('apiVersion') or ''}, expected: {rtype.api_version}")
    if config.get("kind") != rtype.kind:
        raise errors.bad_request(f"invalid object type: {rtype.api_version}, Kind={config.get('kind') or ''}")
    meta = config.setdefault("metadata", {}) if isinstance(config.get("metadata"), dict) else None
    if meta is None:
        raise errors.bad_request("metadata must be an object")
    if meta.get("name", req.name) != req.name:
        raise errors.bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                                 f"({req.name})")
    if rtype.namespaced and meta.get("namespace") and meta["namespace"] != req.namespace:
        raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the "
                                 "request")
    t = schema_for(store, registry, rtype)
    problems = validation_errors(config, t) if kubernetes_version.lstrip("v").startswith("1.26.") else []
    if problems:
        gvk = f"{rtype.api_version if rtype.group else '/' + rtype.api_version}, Kind={rtype.kind}"
        detail = problems[0] if len(problems) == 1 else "errors:\n  " + "\n  ".join(problems)
        raise errors.ApiError(500, "", f"failed to create typed patch object ({meta.get('namespace') or ''}/"
                                       f"{meta.get('name') or ''}; {gvk}): {detail}")
    has_status = "status" in rtype.subresources
    stamp = rfc3339(now)
    with store.lock:
        live = store.find(rtype, req.namespace, req.name)

        def run(forced: bool):
            entries = _entries(live)
            if live is not None and not entries:
                # skipNonAppliedManager: fields of an object nobody manages yet go to "before-first-apply"
                entries = update_fields(None, clone(live), t, [], "before-first-apply", rtype.api_version, None,
                                        stamp, has_status)
            return apply_fields(live, config, t, entries, manager, rtype.api_version, forced, stamp, has_status)

        merged, entries, conflicts = run(force)
        if conflicts and not force:
            allowed = _last_applied_allowed(live, t) if manager == "kubectl" and live is not None else None
            if allowed is not None:
                # lastappliedmanager.go: kubectl's own apply takes over what its client-side apply set and
                # the live object still holds, as a forced apply; other conflicts stand
                conflicts = [(entry, path) for entry, path in conflicts if path not in allowed]
                if not conflicts:
                    merged, entries, _ = run(True)
            if conflicts:
                raise conflict_error(conflicts)
        if live is not None and _unmanaged(merged) == _unmanaged(live):
            # managedfieldsupdater.go: the applier's time moves only when the object changes
            mine, before = entries[-1], next((e for e in _entries(live) if _identity(e) == (manager, "Apply", "", "")),
                                             None)
            if before is not None and before.get("time"):
                mine["time"] = before["time"]
            else:
                mine.pop("time", None)
        if manager == "kubectl" and live is not None and LAST_APPLIED in (
                (live.get("metadata") or {}).get("annotations") or {}):
            # lastappliedupdater.go: the annotation follows what kubectl applied
            last = clone(config)
            annotations = (last.get("metadata") or {}).get("annotations")
            if isinstance(annotations, dict):
                annotations.pop(LAST_APPLIED, None)
            merged.setdefault("metadata", {}).setdefault("annotations", {})[LAST_APPLIED] = (
                json.dumps(last, separators=(",", ":"), sort_keys=True) + "\n")
        merged.setdefault("metadata", {})
        encoded = encode_entries(entries)
        if encoded:
            merged["metadata"]["managedFields"] = encoded
        else:
            merged["metadata"].pop("managedFields", None)
        merged["metadata"]["name"] = req.name
        if live is None:
            req.created = True
            if rtype.namespaced:
                merged["metadata"]["namespace"] = req.namespace
            return store.create(rtype, merged, dry_run=req.dry_run, owned=True)
        return store.update(rtype, merged, dry_run=req.dry_run, owned=True, managed=ignore_managed_fields_timestamps)


def ignore_managed_fields_timestamps(live: dict | None, new: dict) -> None:
    """equality.go IgnoreManagedFieldsTimestampsTransformer: a write whose object, defaulted, differs from the
    live one in nothing but managedFields' times keeps the live managedFields, and so writes nothing."""
    if live is None or _unmanaged(new) != _unmanaged(live):
        return
    untimed = lambda obj: [{k: v for k, v in e.items() if k != "time"}  # noqa: E731
                           for e in (obj.get("metadata") or {}).get("managedFields") or []]
    if untimed(new) == untimed(live):
        new["metadata"]["managedFields"] = live["metadata"].get("managedFields")
