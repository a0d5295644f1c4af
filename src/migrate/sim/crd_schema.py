"""Custom resources as kube-apiserver v1.26 serves them: pruned, defaulted and validated by the
structural schema of their CRD version.

Upstream (k8s.io/apiextensions-apiserver v0.26.5, k8s.io/kube-openapi 172d655c2280):
- decoding a request body: pkg/apiserver/customresource_handler.go (schemaCoercingDecoder,
  unstructuredSchemaCoercer.apply): ObjectMeta is coerced (unknown metadata fields dropped),
  unknown fields pruned (pkg/apiserver/schema/pruning/algorithm.go) unless the schema preserves
  them, non-nullable nulls without a default dropped (schema/defaulting/prunenulls.go), then
  defaults applied (unstructuredDefaulter -> schema/defaulting/algorithm.go). The same decoder
  reads objects back from etcd, so a default added to the schema later shows on read.
- validating: pkg/registry/customresource/strategy.go and validator.go (metadata, then
  pkg/apiserver/validation/validation.go ValidateCustomResource: the kube-openapi validator's
  errors mapped to field errors), schema/objectmeta/validation.go for embedded resources.
  PrepareForCreate drops the status of a kind with a status subresource.

The kube-openapi validator is not rewritten here: the schema is converted to a JSON Schema
(draft 4, as OpenAPI v3.0 schemas are) after folding in the OpenAPI quirks (nullable,
x-kubernetes-int-or-string, formats kube-openapi does not know stripped as formats.go does), and
the `jsonschema` library's errors are mapped onto the messages kube-openapi's errors become.
"""
from __future__ import annotations

import base64
import ipaddress
import re
import threading
from collections import deque
from datetime import date

from . import errors
from .gofmt import go_bad_value, go_number, go_quote

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")

# pkg/apiserver/validation/formats.go: formats kube-openapi's strfmt.Default knows; any other
# format is stripped from the schema before validation (StripUnsupportedFormatsPostProcess).
SUPPORTED_FORMATS = {"bsonobjectid", "uri", "email", "hostname", "ipv4", "ipv6", "cidr", "mac", "uuid", "uuid3",
                     "uuid4", "uuid5", "isbn", "isbn10", "isbn13", "creditcard", "ssn", "hexcolor", "rgbcolor",
                     "byte", "password", "date", "duration", "datetime"}

# ObjectMeta's JSON fields (k8s.io/apimachinery/pkg/apis/meta/v1/types.go, v0.26): anything else
# under metadata is dropped by schema/objectmeta/coerce.go (GetObjectMetaWithOptions) and reported.
OBJECT_META_FIELDS = {"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
                      "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
                      "annotations", "ownerReferences", "finalizers", "managedFields"}
_META_FIELDS = ("apiVersion", "kind", "metadata")


# ---- the CRD's schema ----------------------------------------------------------------------
def version_schema(crd: dict, version: str) -> dict | None:
    for entry in (crd.get("spec") or {}).get("versions") or []:
        if entry.get("name") == version:
            return ((entry.get("schema") or {}).get("openAPIV3Schema")) or None
    return None


def has_status_subresource(crd: dict, version: str) -> bool:
    for entry in (crd.get("spec") or {}).get("versions") or []:
        if entry.get("name") == version:
            return "status" in (entry.get("subresources") or {})
    return False


def _has_defaults(schema) -> bool:
    if not isinstance(schema, dict):
        return False
    if "default" in schema:
        return True
    children = list((schema.get("properties") or {}).values())
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            children.append(schema[key])
    return any(_has_defaults(child) for child in children)


# ---- pruning (schema/pruning/algorithm.go) -------------------------------------------------
def prune(obj, schema: dict | None, *, root: bool = True) -> list[str]:
    """Drop the fields the schema does not declare; returns their paths, sorted (PruneWithOptions
    with TrackUnknownFieldPaths). At the root apiVersion, kind and metadata are never pruned."""
    if root:
        schema = dict(schema or {})
        schema["x-kubernetes-embedded-resource"] = True
    unknown: list[str] = []
    _prune(obj, schema, [], unknown)
    return sorted(unknown)


def _join(path: list[str], key: str) -> list[str]:
    return path + ([".", key] if path else [key])


def _prune(x, s: dict | None, path: list[str], unknown: list[str]) -> None:
    if s is not None and s.get("x-kubernetes-preserve-unknown-fields"):
        _skip_prune(x, s, path, unknown)
        return
    if isinstance(x, dict):
        if s is None:
            for key in list(x):
                unknown.append("".join(_join(path, key)))
                del x[key]
            return
        properties = s.get("properties") or {}
        additional = s.get("additionalProperties")
        for key in list(x):
            if s.get("x-kubernetes-embedded-resource") and key in _META_FIELDS:
                continue
            if key in properties:
                _prune(x[key], properties[key], _join(path, key), unknown)
            elif isinstance(additional, dict):
                _prune(x[key], additional, _join(path, key), unknown)
            else:
                if key not in _META_FIELDS or path:
                    unknown.append("".join(_join(path, key)))
                del x[key]
    elif isinstance(x, list):
        items = s.get("items") if s is not None else None
        for i, value in enumerate(x):
            _prune(value, items if isinstance(items, dict) else None, path + ["[", str(i), "]"], unknown)


def _skip_prune(x, s: dict, path: list[str], unknown: list[str]) -> None:
    if isinstance(x, dict):
        properties = s.get("properties") or {}
        additional = s.get("additionalProperties")
        for key in list(x):
            if s.get("x-kubernetes-embedded-resource") and key in _META_FIELDS:
                continue
            if key in properties:
                _prune(x[key], properties[key], _join(path, key), unknown)
            elif isinstance(additional, dict):
                _prune(x[key], additional, _join(path, key), unknown)
    elif isinstance(x, list):
        items = s.get("items")
        if isinstance(items, dict):
            for i, value in enumerate(x):
                _skip_prune(value, items, path + ["[", str(i), "]"], unknown)


def coerce_metadata(obj: dict, path: str = "metadata") -> list[str]:
    """schema/objectmeta/coerce.go GetObjectMetaWithOptions: metadata round-trips through ObjectMeta,
    so fields ObjectMeta lacks are dropped (and reported when unknown paths are asked for)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return []
    dropped = [key for key in meta if key not in OBJECT_META_FIELDS]
    for key in dropped:
        del meta[key]
    return [f"{path}.{key}" for key in dropped]


def _child_schema(s: dict | None, key: str) -> dict | None:
    if s is None:
        return None
    properties = s.get("properties") or {}
    if key in properties:
        return properties[key]
    additional = s.get("additionalProperties")
    return additional if isinstance(additional, dict) else None


def prune_nulls(x, s: dict | None) -> None:
    """schema/defaulting/prunenulls.go: drop null map values whose schema is neither nullable nor defaulted."""
    if isinstance(x, dict):
        for key in list(x):
            child = _child_schema(s, key)
            if x[key] is None and child is not None and not child.get("nullable") and "default" not in child:
                del x[key]
            else:
                prune_nulls(x[key], child)
    elif isinstance(x, list):
        items = s.get("items") if s is not None else None
        for value in x:
            prune_nulls(value, items if isinstance(items, dict) else None)


# ---- defaulting (schema/defaulting/algorithm.go) -------------------------------------------
def _copy(value):
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _non_nullable_null(value, s: dict | None) -> bool:
    return value is None and s is not None and not s.get("nullable")


def apply_defaults(x, s: dict | None) -> None:
    """Fill absent (and non-nullable null) fields from the schema's defaults, depth first, so a
    defaulted object gets its own nested defaults too."""
    if s is None:
        return
    if isinstance(x, dict):
        properties = s.get("properties") or {}
        for key, prop in properties.items():
            if "default" not in prop or prop["default"] is None:
                continue
            if key not in x or _non_nullable_null(x[key], prop):
                x[key] = _copy(prop["default"])
        additional = s.get("additionalProperties")
        for key in list(x):
            if key in properties:
                apply_defaults(x[key], properties[key])
            elif isinstance(additional, dict):
                if _non_nullable_null(x[key], additional) and additional.get("default") is not None:
                    x[key] = _copy(additional["default"])
                apply_defaults(x[key], additional)
    elif isinstance(x, list):
        items = s.get("items")
        if not isinstance(items, dict):
            return
        for i, value in enumerate(x):
            if _non_nullable_null(value, items) and items.get("default") is not None:
                x[i] = _copy(items["default"])
            apply_defaults(x[i], items)


# ---- validation (kube-openapi's validator, through jsonschema) -----------------------------
def _format_name(fmt: str) -> str:
    return fmt.replace("-", "")  # go-openapi's format name normalisation


def to_json_schema(s: dict) -> dict:
    """An OpenAPI v3.0 structural schema as a draft-4 JSON Schema, with kube-openapi's reading of
    the Kubernetes extensions (validation.go ConvertJSONSchemaPropsWithPostProcess)."""
    out: dict = {}
    if s.get("x-kubernetes-int-or-string"):
        types = ["integer", "string"]
    elif s.get("type"):
        types = [s["type"]]
    else:
        types = []
    if types:
        out["type"] = types + (["null"] if s.get("nullable") else [])
    elif s.get("nullable") is False:
        pass
    for key in ("maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern",
                "maxItems", "minItems", "uniqueItems", "multipleOf", "enum", "maxProperties", "minProperties",
                "required"):
        if key in s:
            out[key] = s[key]
    if s.get("format") and _format_name(s["format"]) in SUPPORTED_FORMATS:
        out["format"] = s["format"]
    if isinstance(s.get("properties"), dict):
        out["properties"] = {k: to_json_schema(v) for k, v in s["properties"].items()}
    if isinstance(s.get("additionalProperties"), dict):
        out["additionalProperties"] = to_json_schema(s["additionalProperties"])
    elif isinstance(s.get("additionalProperties"), bool):
        out["additionalProperties"] = s["additionalProperties"]
    if isinstance(s.get("items"), dict):
        out["items"] = to_json_schema(s["items"])
    for key in ("allOf", "anyOf", "oneOf"):
        if isinstance(s.get(key), list):
            out[key] = [to_json_schema(v) for v in s[key]]
    if isinstance(s.get("not"), dict):
        out["not"] = to_json_schema(s["not"])
    return out


_IPV4 = re.compile(r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$|^([0-9A-Fa-f]{2}[:-]){7}[0-9A-Fa-f]{2}$|"
                  r"^([0-9A-Fa-f]{2}[:-]){19}[0-9A-Fa-f]{2}$|^([0-9A-Fa-f]{4}\.){2}[0-9A-Fa-f]{4}$")
_UUID = {"uuid": r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
         "uuid3": r"^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$",
         "uuid4": r"^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$",
         "uuid5": r"^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$"}
_DATE_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})?$")
_DURATION = re.compile(r"^(\s*-?\d+(\.\d+)?\s*(ns|us|µs|ms|s|m|h|d|w|[a-z]+)\s*)+$")


def _check_cidr(value: str) -> bool:
    """Go's net.ParseCIDR: an address, a slash and a decimal prefix length; host bits may be set."""
    address, sep, bits = value.partition("/")
    if not sep or not bits.isdigit() or (len(bits) > 1 and bits[0] == "0"):
        return False
    try:
        ipaddress.ip_interface(value)
        return True
    except ValueError:
        return False


def _check_ip(value: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(value).version == version if version == 6 else bool(_IPV4.match(value))
    except ValueError:
        return False


def _check_date_time(value: str) -> bool:
    match = _DATE_TIME.match(value)
    if not match:
        return False
    try:
        date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return False
    return int(match.group(4)) < 24 and int(match.group(5)) < 60 and int(match.group(6)) < 61


def _check_byte(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
        return True
    except (ValueError, TypeError):
        return False


# strfmt.Default's checkers for the formats structural schemas keep (kube-openapi
# pkg/validation/strfmt/default.go). The ISBN, credit card and similar checks are not modelled:
# a value of those formats is accepted.
_FORMAT_CHECKS = {
    "cidr": _check_cidr,
    "ipv4": lambda v: _check_ip(v, 4),
    "ipv6": lambda v: _check_ip(v, 6),
    "mac": lambda v: bool(_MAC.match(v)),
    "hostname": lambda v: bool(_HOSTNAME.match(v)) and len(v) <= 255,
    "datetime": _check_date_time,
    "date": lambda v: bool(re.match(r"^\d{4}-\d{2}-\d{2}$", v)) and _check_date_time(v + "T00:00:00Z"),
    "duration": lambda v: bool(_DURATION.match(v)),
    "byte": _check_byte,
    "email": lambda v: bool(re.match(r"^[^@\s]+@[^@\s]+$", v)),
    "uri": lambda v: bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S*$|^/\S*$", v)),
    "hexcolor": lambda v: bool(re.match(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$", v)),
    "rgbcolor": lambda v: bool(re.match(r"^rgb\(\s*\d{1,3}%?\s*,\s*\d{1,3}%?\s*,\s*\d{1,3}%?\s*\)$", v)),
    "ssn": lambda v: bool(re.match(r"^\d{3}[- ]?\d{2}[- ]?\d{4}$", v)),
    "bsonobjectid": lambda v: bool(re.match(r"^[0-9a-fA-F]{24}$", v)),
    **{name: (lambda pattern: lambda v: bool(re.match(pattern, v, re.IGNORECASE)))(pattern)
       for name, pattern in _UUID.items()},
}


_POSIX_CLASSES = {"alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
                  "space": r"\s", "xdigit": "0-9A-Fa-f", "word": r"\w", "punct": r"!-/:-@\[-`{-~"}
_GO_REGEXES: dict[str, "re.Pattern | None"] = {}


def go_regex(pattern: str):
    """A Go RE2 pattern (what kube-openapi's Pattern check compiles) as a Python regex: `$` and `\\z`
    end the text, flag groups such as `(?i)` may stand anywhere, POSIX classes. None if invalid."""
    if pattern in _GO_REGEXES:
        return _GO_REGEXES[pattern]
    out, i, in_class, closers = [], 0, False, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append(r"\Z" if nxt == "z" and not in_class else c + nxt)
            i += 2
            continue
        if in_class:
            match = re.match(r"\[:(\w+):\]", pattern[i:])
            if match and match.group(1) in _POSIX_CLASSES:
                out.append(_POSIX_CLASSES[match.group(1)])
                i += match.end()
                continue
            if c == "]":
                in_class = False
            out.append(c)
        elif c == "[":
            in_class = True
            out.append(c)
            if pattern[i + 1:i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1:i + 2] == "]":
                out.append("\\]")
                i += 1
        elif c == "$":
            out.append(r"\Z")
        elif c == "(" and re.match(r"\(\?[imsU]+\)", pattern[i:]) and i > 0:
            flags = re.match(r"\(\?([imsU]+)\)", pattern[i:])
            out.append(f"(?{flags.group(1).replace('U', '')}:")
            closers += 1
            i += flags.end()
            continue
        else:
            out.append(c)
        i += 1
    text = "".join(out) + ")" * closers
    try:
        compiled = re.compile(text)
    except re.error:
        compiled = None
    _GO_REGEXES[pattern] = compiled
    return compiled


def _validator_class():
    """Draft 4 with kube-openapi's types: an integer-valued float is an integer (typeValidator's
    isFloatInt), formats checked by strfmt.Default's rules."""
    import jsonschema
    from jsonschema import validators

    def is_integer(checker, instance):
        if isinstance(instance, bool):
            return False
        return isinstance(instance, int) or (isinstance(instance, float) and instance.is_integer())

    type_checker = jsonschema.Draft4Validator.TYPE_CHECKER.redefine("integer", is_integer)
    format_checker = jsonschema.FormatChecker(formats=())
    for name in SUPPORTED_FORMATS:
        check = _FORMAT_CHECKS.get(name)
        if check is None:
            continue
        for spelled in {name, "date-time" if name == "datetime" else name}:
            format_checker.checks(spelled)(lambda value, check=check: not isinstance(value, str) or check(value))
    def pattern(validator, wanted, instance, schema):
        if isinstance(instance, str):
            compiled = go_regex(wanted)
            if compiled is not None and not compiled.search(instance):
                yield jsonschema.ValidationError(f"{instance!r} does not match {wanted!r}")

    cls = validators.extend(jsonschema.Draft4Validator, validators={"pattern": pattern}, type_checker=type_checker)
    return cls, format_checker


_VALIDATOR = None


def _compile(json_schema: dict):
    global _VALIDATOR
    if _VALIDATOR is None:
        _VALIDATOR = _validator_class()
    cls, format_checker = _VALIDATOR
    return cls(json_schema, format_checker=format_checker)


def _go_type(value) -> str:
    """typeValidator.schemaInfoForType: the JSON type kube-openapi names in a type error."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, list):
        return "array"
    return "object"


def _go_format_of(value) -> str:
    """The Go format schemaInfoForType reports for a non-string value (int64, float64, or none)."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    return ""


def _path_of(parts) -> str:
    """kube-openapi's error Name for an instance path: properties joined with '.', items as [i]."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


# A cause: (field, body, reason) as field.Error's Field, ErrorBody() and Type.
Cause = tuple[str, str, str]


def _invalid(path: str, value, detail: str, reason: str = "FieldValueInvalid") -> Cause:
    return (path or "<nil>", f"Invalid value: {go_bad_value(value)}: {detail}", reason)


def _map_error(error, schema_node: dict) -> list[Cause]:
    """One jsonschema error as the field errors ValidateCustomResource makes of kube-openapi's."""
    path = _path_of(error.absolute_path)
    name = path or ""
    where = f"{name} in body" if name else " in body"
    keyword = error.validator
    value = error.instance
    limit = error.validator_value
    if keyword == "type":
        wanted = [t for t in (limit if isinstance(limit, list) else [limit]) if t != "null"]
        fmt = schema_node.get("format")
        if fmt and not isinstance(value, (str, list)) and value is not None:
            # typeValidator: a non-string value under a string format is named by its Go format
            bad = _go_format_of(value)
            return [_invalid(path, bad, f"{where} must be of type {fmt}: {go_quote(bad)}", "FieldValueTypeInvalid")]
        bad = _go_type(value)
        return [_invalid(path, bad, f"{where} must be of type {','.join(wanted)}: {go_quote(bad)}",
                         "FieldValueTypeInvalid")]
    if keyword == "required":
        missing = [key for key in limit if isinstance(value, dict) and key not in value]
        return [(f"{path}.{key}" if path else key, "Required value", "FieldValueRequired") for key in missing]
    if keyword == "enum":
        supported = ", ".join(go_quote(v if isinstance(v, str) else _json(v)) for v in limit)
        return [(path or "<nil>", f"Unsupported value: {go_bad_value(value)}: supported values: {supported}",
                 "FieldValueNotSupported")]
    if keyword == "maxLength":
        return [(path or "<nil>", f"Too long: may not be longer than {limit}", "FieldValueTooLong")]
    if keyword == "minLength":
        return [_invalid(path, value, f"{where} should be at least {limit} chars long")]
    if keyword == "pattern":
        return [_invalid(path, value, f"{where} should match '{limit}'")]
    if keyword in ("maxItems", "maxProperties"):
        return [(path or "<nil>", f"Too many: {len(value)}: must have at most {limit} items", "FieldValueTooMany")]
    if keyword == "minItems":
        return [_invalid(path, len(value), f"{where} should have at least {limit} items")]
    if keyword == "minProperties":
        return [_invalid(path, len(value), f"{where} should have at least {limit} properties")]
    if keyword in ("maximum", "minimum"):
        exclusive = bool(schema_node.get("exclusiveMaximum" if keyword == "maximum" else "exclusiveMinimum"))
        bound = int(limit) if isinstance(value, int) and not isinstance(value, bool) else limit
        relation = {("maximum", False): "less than or equal to", ("maximum", True): "less than",
                    ("minimum", False): "greater than or equal to", ("minimum", True): "greater than"}
        return [_invalid(path, value, f"{where} should be {relation[(keyword, exclusive)]} {go_number(bound)}")]
    if keyword == "multipleOf":
        return [_invalid(path, value, f"{where} should be a multiple of {go_number(limit)}")]
    if keyword == "uniqueItems":
        return [_invalid(path, "", f"{where} shouldn't contain duplicates")]
    if keyword == "format":
        return [_invalid(path, value, f"{where} must be of type {limit}: {go_quote(value)}", "FieldValueTypeInvalid")]
    if keyword in ("anyOf", "oneOf"):
        # schema_props.go: a composite error (no field: "<nil>"), then the best branch's errors
        message = (f"{go_quote(path)} must validate at least one schema (anyOf)" if keyword == "anyOf" else
                   f"{go_quote(path)} must validate one and only one schema (oneOf). Found none valid")
        causes = [("<nil>", f'Invalid value: "": {message}', "FieldValueInvalid")]
        branches: dict[int, list] = {}
        for sub in error.context or ():
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        if branches:
            first = branches[min(branches)]
            for sub in first:
                causes.extend(_map_error(sub, _node_at(schema_node[keyword][sub.relative_schema_path[0]],
                                                       list(sub.relative_schema_path)[1:-1])))
        return causes
    if keyword == "not":
        return [("<nil>", f'Invalid value: "": {go_quote(path)} must not validate the schema (not)', "FieldValueInvalid")]
    if keyword == "additionalProperties":
        return [_invalid(path, "", f"{where} is a forbidden property")]
    return [_invalid(path, value, error.message)]


def _json(value) -> str:
    import json
    return json.dumps(value, separators=(",", ":"))


def _node_at(schema: dict, schema_path: list) -> dict:
    node = schema
    for part in schema_path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return {}
    return node if isinstance(node, dict) else {}


def _all_of_paths(error) -> tuple[str, ...] | None:
    """Where an error came from inside an allOf: the instance path of the allOf's node."""
    schema_path = list(error.schema_path)
    if "allOf" not in schema_path:
        return None
    consumed = 0
    for i, part in enumerate(schema_path):
        if part == "allOf":
            return tuple(list(error.absolute_path)[:consumed])
        if part in ("properties", "additionalProperties", "items", "patternProperties") and (
                i == 0 or schema_path[i - 1] not in ("properties", "patternProperties")):
            consumed += 1
    return None


def validate(obj: dict, compiled) -> list[Cause]:
    """ValidateCustomResource: every schema violation as a field error."""
    validator, json_schema = compiled
    causes: list[Cause] = []
    failed_all_of: list[str] = []
    for error in validator.iter_errors(obj):
        node = _node_at(json_schema, list(error.schema_path)[:-1])
        causes.extend(cause for cause in _map_error(error, node) if cause not in causes)
        where = _all_of_paths(error)
        if where is not None:
            path = _path_of(where)
            if path not in failed_all_of:
                failed_all_of.append(path)
    for path in failed_all_of:
        causes.append(("<nil>", f'Invalid value: "": {go_quote(path)} must validate all the schemas (allOf)',
                       "FieldValueInvalid"))
    return causes


def validate_embedded(x, s: dict | None, path: str = "") -> list[Cause]:
    """schema/objectmeta/validation.go: an x-kubernetes-embedded-resource object needs apiVersion and kind."""
    if s is None or x is None:
        return []
    causes: list[Cause] = []
    if isinstance(x, dict):
        if s.get("x-kubernetes-embedded-resource") and path:
            for key in ("apiVersion", "kind"):
                if not x.get(key):
                    causes.append((f"{path}.{key}", "Required value: must not be empty", "FieldValueRequired"))
        properties = s.get("properties") or {}
        additional = s.get("additionalProperties")
        for key, value in x.items():
            child = properties.get(key) if key in properties else (additional if isinstance(additional, dict) else None)
            causes.extend(validate_embedded(value, child, f"{path}.{key}" if path else key))
    elif isinstance(x, list) and isinstance(s.get("items"), dict):
        for i, value in enumerate(x):
            causes.extend(validate_embedded(value, s["items"], f"{path}[{i}]"))
    return causes


# ---- the served kinds ----------------------------------------------------------------------
class _Served:
    """One CRD version as the handler serves it (crdHandler.getOrCreateServingInfoFor)."""

    def __init__(self, crd: dict, version: str):
        self.schema = version_schema(crd, version)
        self.preserve_unknown = bool((crd.get("spec") or {}).get("preserveUnknownFields"))
        self.status_subresource = has_status_subresource(crd, version)
        self.has_defaults = _has_defaults(self.schema)
        self._compiled = None

    @property
    def compiled(self):
        if self._compiled is None and self.schema is not None:
            json_schema = to_json_schema(self.schema)
            self._compiled = (_compile(json_schema), json_schema)
        return self._compiled


class CustomResources:
    """Finds the schema behind a custom resource type and applies it."""

    def __init__(self, store, registry):
        self.store = store
        self.registry = registry
        self._cache: dict[tuple[str, str, str], tuple[str, _Served]] = {}
        self._lock = threading.Lock()

    def served(self, rtype) -> _Served | None:
        if rtype.group in ("", "apps", "batch", "policy", "networking.k8s.io", "coordination.k8s.io", "rbac.authorization.k8s.io",
                           "apiextensions.k8s.io", "authorization.k8s.io", "scheduling.k8s.io"):
            return None
        crd_type = self.registry.by_key(CRD_KEY)
        if crd_type is None:
            return None
        crd = self.store.find(crd_type, None, f"{rtype.plural}.{rtype.group}")
        if crd is None:
            return None
        key = (rtype.group, rtype.plural, rtype.version)
        stamp = f"{crd['metadata'].get('uid')}/{crd['metadata'].get('resourceVersion')}"
        with self._lock:
            cached = self._cache.get(key)
            if cached is None or cached[0] != stamp:
                cached = (stamp, _Served(crd, rtype.version))
                self._cache[key] = cached
            return cached[1]

    def decode(self, rtype, obj: dict) -> list[str] | None:
        """What the handler's decoder does to a body: returns the unknown field paths it dropped
        (None when `rtype` is not a custom resource)."""
        served = self.served(rtype)
        if served is None:
            return None
        unknown = coerce_metadata(obj)
        if served.schema is not None and not served.preserve_unknown:
            unknown += prune(obj, served.schema)
            prune_nulls(obj, served.schema)
        if served.schema is not None:
            apply_defaults(obj, served.schema)
        return unknown

    def on_read(self, rtype, obj: dict) -> dict:
        """The storage decoder defaults what it reads (a default added to the schema later shows)."""
        served = self.served(rtype)
        if served is None or not served.has_defaults:
            return obj
        from .store import clone
        copy = clone(obj)
        apply_defaults(copy, served.schema)
        return copy

    def __call__(self, operation: str, rtype, obj: dict, old: dict | None, subresource: str | None) -> None:
        """Store admission hook: what the CR strategy does between decoding and storage."""
        if operation == "DELETE":
            return
        served = self.served(rtype)
        if served is None or served.schema is None:
            return
        # Writes from inside the simulator (controllers, agents) skip the HTTP decoder: decode them
        # here (a no-op for bodies the handler already decoded).
        coerce_metadata(obj)
        if not served.preserve_unknown:
            prune(obj, served.schema)
            prune_nulls(obj, served.schema)
        apply_defaults(obj, served.schema)
        if operation == "CREATE" and served.status_subresource:
            obj.pop("status", None)  # strategy.go PrepareForCreate
        causes = validate(obj, served.compiled)
        causes += validate_embedded(obj, served.schema)
        if causes:
            raise errors.invalid(rtype.kind, obj.get("metadata", {}).get("name", ""),
                                 [(field, body) for field, body, _ in causes], rtype.group,
                                 reasons=[reason for _, _, reason in causes])
