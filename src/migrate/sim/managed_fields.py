"""metadata.managedFields for non-apply writes: the field manager's Update operation.

Upstream, k8s.io/apiserver v0.26 pkg/endpoints/handlers/fieldmanager (its internal/ package) with
sigs.k8s.io/structured-merge-diff/v4 merge/update.go:
- the manager is the request's fieldManager option, else the User-Agent up to its first "/" (non-printable
  characters dropped, at most 128 bytes): handlers/rest.go managerOrUserAgent, prefixFromUserAgent;
- fieldmanager.go FieldManager.Update: the managed fields sent in the body are used when they decode and are
  not empty and the write is not to a subresource, else the live object's; stripmeta.go leaves apiVersion,
  kind and metadata's name, namespace, uid, resourceVersion, generation, creationTimestamp, selfLink,
  managedFields out of every set; the strategy's reset fields (a main-resource write does not own status, a
  status write owns nothing but status) are left out too;
- managedfieldsupdater.go runs the write as "current-operation": merge.Updater.Update compares live and new,
  takes every added, changed or removed field from every entry (the writer's own earlier entry included),
  and the writer owns what it added or changed; only when it took something is its entry (manager,
  operation Update, apiVersion, subresource) merged with what it owned and its time set to now;
- entries left with no fields go; capmanagers.go folds the oldest Update entries beyond 10 into
  "ancient-changes" per apiVersion; managedfields.go sortEncodedManagedFields orders them by operation,
  time (seconds), manager, apiVersion, subresource; none at all leaves metadata.managedFields out.

The fields follow the kind's schema (server_side_apply.py: associative lists by key, sets, atomic lists,
maps and structs; a create compares against the kind's zero value) when the API passes it; without it, every
non-empty JSON object is descended into and every list is atomic. Simplified either way: what the
simulator's admission hooks default or add counts as the writer's (upstream, decoding defaults do, mutating
admission does not), and only metadata, spec and status count as present in the zero value. The entries'
presence, identity, order and times follow upstream.
"""
from __future__ import annotations

import unicodedata

from .clock import parse_rfc3339

MAX_UPDATE_MANAGERS = 10  # fieldmanager.go DefaultMaxUpdateManagers
ANCIENT_CHANGES = "ancient-changes"
FIELD_MANAGER_MAX_LENGTH = 128  # apimachinery validation.FieldManagerMaxLength
_STRIPPED_META = ("name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "selfLink",
                  "managedFields", "clusterName")


def manager_name(field_manager: str | None, user_agent: str) -> str:
    """managerOrUserAgent / prefixFromUserAgent."""
    if field_manager:
        return field_manager
    out, size = [], 0
    for char in (user_agent or "").split("/")[0]:
        if not char.isprintable() and unicodedata.category(char) != "Zs":
            continue
        width = len(char.encode())
        if size + width > FIELD_MANAGER_MAX_LENGTH:
            break
        out.append(char)
        size += width
    return "".join(out)


# ---- field sets (simplified, see above) -------------------------------------------------------------------

def _leaves(value, prefix: tuple, out: dict) -> None:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            _leaves(child, prefix + ("f:" + key,), out)
    else:
        out[prefix] = value


def owned_values(obj: dict | None, subresource: str | None, has_status: bool) -> dict[tuple, object]:
    """path -> value of every field a write of `obj` can own."""
    out: dict[tuple, object] = {}
    for key, value in (obj or {}).items():
        if key in ("apiVersion", "kind"):
            continue
        if subresource == "status" and key != "status":
            continue
        if subresource is None and has_status and key == "status":
            continue
        if key == "metadata" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in _STRIPPED_META}
            if not value:
                continue
        _leaves(value, ("f:" + key,), out)
    return out


def to_fields_v1(paths) -> dict:
    """The fieldsV1 tree of a set of paths (tuples of "f:", "k:", "v:", "i:" elements); a path that is owned and
    has owned children gets ".": {}."""
    from .server_side_apply import to_fields_v1 as encode
    return encode(set(paths))


def from_fields_v1(tree, prefix: tuple = ()) -> set[tuple]:
    """The paths a fieldsV1 tree owns."""
    from .server_side_apply import from_fields_v1 as decode
    return decode(tree, prefix)


# ---- entries ------------------------------------------------------------------------------------------------

def _identity(entry: dict) -> tuple:
    """BuildManagerIdentifier: manager, operation, apiVersion (not for Apply), subresource."""
    operation = entry.get("operation", "")
    return (entry.get("manager", ""), operation, "" if operation == "Apply" else entry.get("apiVersion", ""),
            entry.get("subresource", ""))


def _decode(entries) -> list[dict] | None:
    """DecodeManagedFields: None when the list does not decode (then the live object's are used)."""
    if not isinstance(entries, list):
        return None
    decoded = []
    for entry in entries:
        if (not isinstance(entry, dict) or entry.get("fieldsType") != "FieldsV1"
                or entry.get("operation") not in ("Apply", "Update")):
            return None
        decoded.append({**entry, "_paths": from_fields_v1(entry.get("fieldsV1") or {})})
    return decoded


def _seconds(entry: dict) -> float:
    try:
        return float(int(parse_rfc3339(entry["time"])))
    except (KeyError, ValueError, TypeError, AttributeError):
        return 0.0


def _cap(entries: list[dict]) -> list[dict]:
    """capmanagers.go capUpdateManagers."""
    updaters = [e for e in entries if e.get("operation") != "Apply"]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return entries
    updaters.sort(key=lambda e: (_seconds(e), repr(_identity(e))))
    first_of_version: dict[str, dict] = {}
    length = len(updaters)
    for entry in updaters:
        if length <= MAX_UPDATE_MANAGERS:
            break
        version = entry.get("apiVersion", "")
        if version not in first_of_version:
            first_of_version[version] = entry
            continue
        bucket = next((e for e in entries if _identity(e) == (ANCIENT_CHANGES, "Update", version, "")), None)
        if bucket is entry:
            continue
        if bucket is None:
            bucket = first_of_version[version]
            bucket.update(manager=ANCIENT_CHANGES, operation="Update", apiVersion=version)
            bucket.pop("subresource", None)
        bucket["_paths"] = bucket["_paths"] | entry["_paths"]
        if "time" in entry:
            bucket["time"] = entry["time"]
        entries = [e for e in entries if e is not entry]
        length -= 1
    return entries


def _encode(entries: list[dict]) -> list[dict]:
    ordered = sorted(entries, key=lambda e: (e.get("operation", ""), _seconds(e), e.get("manager", ""),
                                             e.get("apiVersion", ""), e.get("subresource", "")))
    out = []
    for entry in ordered:
        encoded = {k: v for k, v in entry.items() if k not in ("_paths", "fieldsV1", "subresource")}
        encoded["fieldsV1"] = to_fields_v1(entry["_paths"])
        if not encoded.get("manager"):
            encoded.pop("manager", None)  # omitempty
        if entry.get("subresource"):
            encoded["subresource"] = entry["subresource"]
        out.append(encoded)
    return out


def record_update(live: dict | None, new: dict, *, manager: str, api_version: str, subresource: str | None,
                  has_status: bool, now: str, schema=None) -> None:
    """Set new's metadata.managedFields after a non-apply write of `new` over `live` (None for a create).
    With `schema` (server_side_apply.schema_for), fields are the kind's, as upstream's; without, simplified."""
    meta = new.setdefault("metadata", {})
    entries = None if subresource else _decode(meta.get("managedFields"))
    if not entries:
        entries = _decode((live or {}).get("metadata", {}).get("managedFields")) or []
    if schema is not None:
        from . import server_side_apply
        base = live if live is not None else server_side_apply.zero_object(schema)
        added, modified, removed = server_side_apply.compare(base, new, schema)
        changed = server_side_apply.owned_paths(added | modified, has_status, subresource)
        touched = changed | server_side_apply.owned_paths(removed, has_status, subresource)
    else:
        before = owned_values(live, subresource, has_status)
        after = owned_values(new, subresource, has_status)
        changed = {p for p, v in after.items() if p not in before or before[p] != v}  # added or modified
        touched = changed | (before.keys() - after.keys())  # ... or removed
    for entry in entries:
        entry["_paths"] = entry["_paths"] - touched
    if changed:
        mine = {"manager": manager, "operation": "Update", "apiVersion": api_version, "time": now,
                "fieldsType": "FieldsV1", **({"subresource": subresource} if subresource else {})}
        previous = next((e for e in entries if _identity(e) == _identity(mine)), None)
        if previous is not None:
            entries.remove(previous)
            changed |= previous["_paths"]
        entries.append({**mine, "_paths": changed})
    entries = _cap([e for e in entries if e["_paths"]])
    if entries:
        meta["managedFields"] = _encode(entries)
    else:
        meta.pop("managedFields", None)
