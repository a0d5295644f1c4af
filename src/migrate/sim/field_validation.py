"""Server-side field validation (fieldValidation=Ignore|Warn|Strict) and request body limits.

Upstream (k8s.io/apiserver v0.26.5 pkg/endpoints/handlers):
- create.go, update.go, patch.go read the body through limitedReadBody (rest.go): more than
  MaxRequestBodyBytes (3 MiB, pkg/server/config.go) is 413 "Request entity too large: limit is
  3145728". Then the options are validated (an unknown fieldValidation is 422 on
  CreateOptions/UpdateOptions/PatchOptions), then the body is decoded with the strict serializer
  unless the directive is Ignore (rest.go fieldValidation: Warn when none is given, the
  ServerSideFieldValidation gate being on by default since 1.25).
- Strict decoding reports duplicate fields (sigs.k8s.io/json: `duplicate field "a.b"`) and unknown
  fields: for built-in kinds the typed decoder's (`unknown field "spec.bogus"`, in document
  order), for custom resources the pruning's (customresource_handler.go schemaCoercingDecoder).
- Warn: each becomes a `Warning: 299 - "..."` header (addStrictDecodingWarnings; the recorder in
  endpoints/filters/warning.go dedupes and truncates past 4096 runes). Strict: create and update
  answer 400 `<Kind> in version "<v>" cannot be handled as a <Kind>: strict decoding error: ...`
  (transformDecodeError); a patch answers 422 with the patched object (jsonPatcher) or the patch
  map (strategic merge) as the bad value of the field `patch`.

Known fields of built-in kinds come from the official Python client's models (generated from the
Kubernetes OpenAPI), less the fields added after the simulated server's version listed in
FIELDS_ADDED. Like the Go decoder, unknown fields inside a CRD schema's `items` or
`additionalProperties` are dropped without a report (JSONSchemaPropsOrArray and
JSONSchemaPropsOrBool unmarshal themselves, non-strictly).
"""
from __future__ import annotations

import json

from . import errors
from .crd_cel import parse_version
from .gofmt import go_json, go_plus_v, go_quote

MAX_REQUEST_BODY_BYTES = 3 * 1024 * 1024  # k8s.io/apiserver pkg/server/config.go
DIRECTIVES = ("Ignore", "Warn", "Strict")  # metav1.FieldValidation*; "" means Warn

# Fields of the client's models that a server older than the given version does not know.
FIELDS_ADDED = {
    ("V1JSONSchemaProps", "x_kubernetes_validations"): (1, 23),
    ("V1ValidationRule", "message_expression"): (1, 27),
    ("V1ValidationRule", "reason"): (1, 28),
    ("V1ValidationRule", "field_path"): (1, 28),
    ("V1ValidationRule", "optional_old_self"): (1, 29),
    ("V1CustomResourceDefinitionVersion", "selectable_fields"): (1, 30),
    ("V1Container", "resize_policy"): (1, 27),
    ("V1Container", "restart_policy"): (1, 28),
}
# Types whose Go UnmarshalJSON decodes non-strictly: unknown fields below them are dropped silently.
_SELF_UNMARSHALLING = {("V1JSONSchemaProps", "items"), ("V1JSONSchemaProps", "additional_properties"),
                       ("V1JSONSchemaProps", "additional_items")}
_SCALARS = {"str", "int", "bool", "float", "datetime", "date", "object", "bytes"}


def check_body_size(body: bytes) -> None:
    if len(body) > MAX_REQUEST_BODY_BYTES:
        raise errors.ApiError(413, "RequestEntityTooLarge",
                              f"Request entity too large: limit is {MAX_REQUEST_BODY_BYTES}")


def directive(params: dict, options_kind: str) -> str:
    """The request's fieldValidation, validated as ValidateCreateOptions (and Update, Patch) do."""
    value = params.get("fieldValidation", "")
    if value not in ("",) + DIRECTIVES:
        supported = ", ".join(go_quote(v) for v in sorted(("",) + DIRECTIVES))
        raise errors.ApiError(422, "Invalid", f'{options_kind}.meta.k8s.io "" is invalid: fieldValidation: '
                                              f'Unsupported value: {go_quote(value)}: supported values: {supported}',
                              {"group": "meta.k8s.io", "kind": options_kind, "causes": [{
                                  "reason": "FieldValueNotSupported", "field": "fieldValidation",
                                  "message": f"Unsupported value: {go_quote(value)}: supported values: {supported}"}]})
    return value or "Warn"


# ---- duplicates ------------------------------------------------------------------------------
class _Pairs(list):
    pass


def duplicate_fields(raw: bytes | str, prefix: str = "") -> list[str]:
    """`duplicate field "path"` for each key repeated in a JSON object of the document."""
    try:
        tree = json.loads(raw, object_pairs_hook=_Pairs)
    except ValueError:
        return []
    found: list[str] = []

    def walk(node, path: str) -> None:
        if isinstance(node, _Pairs):
            seen = set()
            for key, value in node:
                child = f"{path}.{key}" if path else key
                if key in seen:
                    found.append(f"{prefix}duplicate field {go_quote(child)}")
                seen.add(key)
                walk(value, child)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")
    walk(tree, "")
    return list(dict.fromkeys(found))


# ---- built-in kinds --------------------------------------------------------------------------
_MODELS = None


def _models():
    global _MODELS
    if _MODELS is None:
        from kubernetes.client import models
        _MODELS = models
    return _MODELS


def _model_name(api_version: str, kind: str) -> str:
    version = api_version.rsplit("/", 1)[-1]
    return version[:1].upper() + version[1:] + kind


def prune_builtin(obj: dict, api_version: str, kind: str, kubernetes_version: str) -> list[str] | None:
    """Drop the fields a built-in kind does not have; their paths in document order (None when the
    kind is not known to the client's models)."""
    model = getattr(_models(), _model_name(api_version, kind), None)
    if model is None or not hasattr(model, "attribute_map"):
        return None
    found: list[str] = []
    _walk(obj, model.__name__, "", True, parse_version(kubernetes_version), found, skip={"apiVersion", "kind"})
    return found


def _walk(value, type_name: str, path: str, report: bool, version, found: list[str], skip=()) -> None:
    if type_name in _SCALARS or value is None:
        return
    if type_name[:5].lower() == "list[":  # the client writes list[X] or List[X]
        if isinstance(value, list):
            for i, item in enumerate(value):
                _walk(item, type_name[5:-1], f"{path}[{i}]", report, version, found)
        return
    if type_name[:5].lower() in ("dict(", "dict["):  # dict(str, X) or Dict[str, X]
        if isinstance(value, dict):
            inner = type_name[type_name.index(",") + 1:-1].strip()
            for key, item in value.items():
                _walk(item, inner, f"{path}.{key}" if path else key, report, version, found)
        return
    model = getattr(_models(), type_name, None)
    if model is None or not isinstance(value, dict):
        return
    by_json = {json_name: attr for attr, json_name in model.attribute_map.items()}
    for key in list(value):
        child = f"{path}.{key}" if path else key
        attr = by_json.get(key)
        if key in skip:
            continue
        if attr is None or FIELDS_ADDED.get((type_name, attr), (0, 0)) > version:
            if report:
                found.append(child)
            del value[key]
            continue
        inner = model.openapi_types[attr]
        if (type_name, attr) in _SELF_UNMARSHALLING:
            _walk(value[key], type_name, child, False, version, found)
        else:
            _walk(value[key], inner, child, report, version, found)


# ---- the decode step of a write ----------------------------------------------------------------
class FieldValidation:
    """What a write's decoding does to the object, for custom resources and built-in kinds."""

    def __init__(self, custom_resources, kubernetes_version: str):
        self.custom_resources = custom_resources
        self.kubernetes_version = kubernetes_version

    def _unknown(self, req, obj: dict) -> list[str]:
        unknown = self.custom_resources.decode(req.rtype, obj)
        if unknown is None:
            if req.subresource in ("eviction", "binding", "scale"):
                return []
            unknown = prune_builtin(obj, req.rtype.api_version, req.rtype.kind, self.kubernetes_version) or []
        return [f"unknown field {go_quote(path)}" for path in unknown]

    def decode_body(self, req, obj: dict, options_kind: str) -> None:
        """Create and update: prune/default `obj` in place; warn, or refuse with 400 under Strict."""
        mode = directive(req.params, options_kind)
        problems = duplicate_fields(req.body) if mode != "Ignore" else []
        problems += self._unknown(req, obj)
        if not problems or mode == "Ignore":
            return
        if mode == "Strict":
            kind, version = req.rtype.kind, req.rtype.version
            raise errors.bad_request(f"{kind} in version {go_quote(version)} cannot be handled as a {kind}: "
                                     f"strict decoding error: {', '.join(problems)}")
        req.warnings.extend(problems)

    def decode_patched(self, req, patched: dict, content_type: str) -> None:
        """Patch: the patch document's own strict errors, then the patched object's."""
        mode = directive(req.params, "PatchOptions")
        before = go_json(patched) if mode == "Strict" else ""
        applied: list[str] = []
        if mode != "Ignore":
            if content_type == "application/json-patch+json":
                applied = [f"json patch {p}" for p in duplicate_fields(req.body)]
                try:
                    operations = json.loads(req.body)
                except ValueError:
                    operations = []
                for i, op in enumerate(operations if isinstance(operations, list) else []):
                    for key in op if isinstance(op, dict) else ():
                        if key not in ("op", "path", "from", "value"):
                            applied.append(f"json patch unknown field {go_quote(f'[{i}].{key}')}")
            else:
                applied = duplicate_fields(req.body)
        problems = applied + self._unknown(req, patched)
        if not problems or mode == "Ignore":
            return
        if mode == "Warn":
            req.warnings.extend(problems)
            return
        if content_type == "application/strategic-merge-patch+json":
            try:
                value = go_plus_v(json.loads(req.body))
            except ValueError:
                value = ""
        else:
            value = before
        body = f"Invalid value: {go_quote(value)}: strict decoding error: {', '.join(problems)}"
        raise errors.ApiError(422, "Invalid", f' "" is invalid: patch: {body}',
                              {"causes": [{"reason": "FieldValueInvalid", "message": body, "field": "patch"}]})


def warning_headers(texts: list[str]) -> list[str]:
    """Warning header values as the recorder writes them (endpoints/filters/warning.go)."""
    total_limit, item_limit = 4 * 1024, 256
    unique = list(dict.fromkeys(t for t in texts if t))
    truncate = sum(len(t) for t in unique) > total_limit
    headers = []
    for text in unique:
        if truncate and len(text) > item_limit:
            text = text[:item_limit]
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        headers.append(f'299 - "{escaped}"')
    return headers
