"""CEL validation rules (x-kubernetes-validations) as a CRD create/update meets them.

A real apiserver compiles every rule of a new or changed CRD in its CEL environment and refuses
the CRD when a rule does not compile (k8s.io/apiextensions-apiserver
pkg/apiserver/schema/cel/compilation.go compileRule: "compilation failed: " + the cel-go issues;
pkg/apis/apiextensions/validation/validation.go reports it on ...x-kubernetes-validations[i].rule
with the rule struct as the bad value). Which functions that environment declares depends on the
Kubernetes version:
- up to 1.27 every library of k8s.io/apiserver pkg/cel/library/libraries.go (ExtensionLibs) is
  there at once;
- from 1.28 on, pkg/cel/environment/base.go gives each library an IntroducedVersion and compiles
  new expressions for the "compatibility version", one minor release behind the server
  (DefaultCompatibilityVersion), so a library introduced in 1.30 (IP, CIDR) can be used in a
  CRD from 1.31.
Function names per library follow k8s.io/apiserver pkg/cel/library/library_compatibility_test.go
and cel-go's ext/strings.go, ext/sets.go and ext/lists.go.

What is modelled of compilation: the calls a rule makes, found by scanning it (string literals
skipped), each checked against the environment: an undeclared function or an undeclared
namespace is "undeclared reference to 'x' (in container '')" at the position cel-go reports,
displayed as cel-go's Error.ToDisplayString does. The type checker's follow-on errors (for
example "found no matching overload for '_>_'" after an undeclared call) and syntax errors are
not modelled. Rules are not evaluated: an object is never refused by a rule, only a CRD whose
rule would not compile.
"""
from __future__ import annotations

import json
import re

from . import errors

# Always there: CEL's standard functions and macros (cel-go checker/decls, parser/macro.go).
_STANDARD = {"size", "contains", "endsWith", "startsWith", "matches", "int", "uint", "double", "string", "bytes",
             "bool", "duration", "timestamp", "type", "dyn", "getDate", "getDayOfMonth", "getDayOfWeek",
             "getDayOfYear", "getFullYear", "getHours", "getMilliseconds", "getMinutes", "getMonth", "getSeconds",
             "has", "all", "exists", "exists_one", "map", "filter"}
_COMPREHENSIONS = ("all", "exists", "exists_one", "map", "filter", "existsOne", "transformList", "transformMap",
                   "transformMapEntry")

# (introduced in, functions): environment/base.go's IntroducedVersion of the option that declares them.
LIBRARIES: dict[str, tuple[tuple[int, int], frozenset[str]]] = {
    "kubernetes.urls": ((1, 24), frozenset({"url", "isURL", "getScheme", "getHost", "getHostname", "getPort",
                                            "getEscapedPath", "getQuery"})),
    "kubernetes.regex": ((1, 24), frozenset({"find", "findAll"})),
    "kubernetes.lists": ((1, 24), frozenset({"isSorted", "sum", "max", "min", "indexOf", "lastIndexOf"})),
    "ext.strings": ((1, 24), frozenset({"charAt", "indexOf", "lastIndexOf", "lowerAscii", "replace", "split",
                                        "substring", "trim", "upperAscii", "join"})),
    "kubernetes.authz": ((1, 27), frozenset({"path", "group", "serviceAccount", "resource", "subresource",
                                             "namespace", "name", "check", "allowed", "reason", "errored", "error"})),
    "kubernetes.quantity": ((1, 28), frozenset({"quantity", "isQuantity", "sign", "isInteger", "asInteger",
                                                "asApproximateFloat", "add", "sub", "compareTo", "isGreaterThan",
                                                "isLessThan"})),
    "cel.optional": ((1, 28), frozenset({"optional.of", "optional.ofNonZeroValue", "optional.none", "hasValue",
                                         "value", "or", "orValue"})),
    "ext.strings.v2": ((1, 29), frozenset({"format", "strings.quote"})),
    "ext.sets": ((1, 29), frozenset({"sets.contains", "sets.equivalent", "sets.intersects"})),
    "kubernetes.net.ip": ((1, 30), frozenset({"ip", "isIP", "ip.isCanonical", "family", "isUnspecified",
                                              "isLoopback", "isLinkLocalMulticast", "isLinkLocalUnicast",
                                              "isGlobalUnicast"})),
    "kubernetes.net.cidr": ((1, 30), frozenset({"cidr", "isCIDR", "containsIP", "containsCIDR", "masked",
                                                "prefixLength"})),
    "kubernetes.format": ((1, 31), frozenset({"format.named", "validate"})),
    "kubernetes.authzSelectors": ((1, 31), frozenset({"fieldSelector", "labelSelector"})),
    "cel.twoVarComprehensions": ((1, 32), frozenset({"existsOne", "transformList", "transformMap",
                                                     "transformMapEntry"})),
    "kubernetes.semver": ((1, 33), frozenset({"semver", "isSemver", "major", "minor", "patch"})),
    "ext.lists.v3": ((1, 34), frozenset({"slice", "flatten", "sort", "sortBy", "lists.range", "reverse", "distinct",
                                         "first", "last"})),
    "kubernetes.lists.v1": ((1, 37), frozenset({"includes"})),
}


def parse_version(kubernetes_version: str) -> tuple[int, int]:
    major, minor = kubernetes_version.lstrip("v").split(".")[:2]
    return int(major), int(minor)


def environment_version(server: tuple[int, int]) -> tuple[int, int]:
    """The version whose libraries new expressions may use (base.go DefaultCompatibilityVersion)."""
    if server < (1, 28):
        return server
    return server[0], server[1] - 1


def declared_functions(kubernetes_version: str) -> set[str]:
    usable = environment_version(parse_version(kubernetes_version))
    names = set(_STANDARD)
    for introduced, functions in LIBRARIES.values():
        if introduced <= usable:
            names |= functions
    return names


# ---- scanning a rule -------------------------------------------------------------------------
_TOKEN = re.compile(r"""
    (?P<string>[rRbB]{0,2}(?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\"|'(?:\\.|[^\\'\n])*'|"(?:\\.|[^\\"\n])*"))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<other>\S)
""", re.VERBOSE | re.DOTALL)


def _tokens(rule: str) -> list[tuple[str, str, int]]:
    return [(m.lastgroup, m.group(), m.start()) for m in _TOKEN.finditer(rule)]


def undeclared_references(rule: str, declared: set[str]) -> list[tuple[int, str]]:
    """(offset, name) of each undeclared function or namespace the rule calls, in order.

    cel-go reports a call at its '(' and an undeclared identifier at its first character; a
    qualified name (sets.contains) is a function only when declared as a whole, otherwise its
    head is an identifier reference and its last part a member function."""
    tokens = _tokens(rule)
    variables = {"self", "oldSelf"}
    for i, (kind, text, _) in enumerate(tokens):  # comprehension variables: x.all(v, ...) / x.all(k, v, ...)
        if kind == "ident" and text in _COMPREHENSIONS and i + 2 < len(tokens) and tokens[i + 1][1] == "(":
            j = i + 2
            while j + 1 < len(tokens) and tokens[j][0] == "ident" and tokens[j + 1][1] == ",":
                variables.add(tokens[j][1])
                j += 2
    found: set[tuple[int, str]] = set()
    for k, (kind, name, _) in enumerate(tokens):
        if kind != "ident" or k + 1 >= len(tokens) or tokens[k + 1][1] != "(":
            continue
        paren = tokens[k + 1][2]
        # the identifiers a.b. chained before this call, if the receiver is nothing but identifiers
        head = k
        while head >= 2 and tokens[head - 1][1] == "." and tokens[head - 2][0] == "ident":
            head -= 2
        pure_chain = head < k and (head == 0 or tokens[head - 1][1] != ".")
        if pure_chain:
            qualified = ".".join(tokens[n][1] for n in range(head, k + 1, 2))
            if qualified in declared:
                continue
            if tokens[head][1] not in variables:
                found.add((tokens[head][2], tokens[head][1]))
        if name not in declared:
            found.add((paren, name))
    return sorted(found)


def display(rule: str, offset: int, message: str) -> str:
    """cel-go common/error.go Error.ToDisplayString for an error at `offset`."""
    line_no = rule.count("\n", 0, offset) + 1
    line_start = rule.rfind("\n", 0, offset) + 1
    line_end = rule.find("\n", offset)
    snippet = rule[line_start:line_end if line_end >= 0 else len(rule)].replace("\t", " ")
    column = offset - line_start
    return (f"ERROR: <input>:{line_no}:{column + 1}: {message}\n | {snippet}\n | "
            + "".join("." if ord(c) < 128 else "\uff0e" for c in snippet[:column]) + "^")


def compile_errors(rule: str, declared: set[str]) -> str | None:
    """The issues text cel-go would report for a rule, or None when it compiles (as far as modelled)."""
    problems = undeclared_references(rule, declared)
    if not problems:
        return None
    return "\n".join(display(rule, offset, f"undeclared reference to '{name}' (in container '')")
                     for offset, name in problems)


# ---- a CRD's rules ---------------------------------------------------------------------------
def _go_rule(rule: dict, version: tuple[int, int]) -> str:
    """The internal apiextensions.ValidationRule as %#v prints it, with the fields it has at `version`."""
    fields = [f"Rule:{json.dumps(rule.get('rule', ''))}", f"Message:{json.dumps(rule.get('message', ''))}"]
    if version >= (1, 27):
        fields.append(f"MessageExpression:{json.dumps(rule.get('messageExpression', ''))}")
    if version >= (1, 28):
        fields.append("Reason:(*apiextensions.FieldValueErrorReason)(nil)" if rule.get("reason") is None
                      else "Reason:(*apiextensions.FieldValueErrorReason)(0xc000a0c000)")
        fields.append(f"FieldPath:{json.dumps(rule.get('fieldPath', ''))}")
    if version >= (1, 29):
        fields.append("OptionalOldSelf:(*bool)(nil)" if rule.get("optionalOldSelf") is None
                      else "OptionalOldSelf:(*bool)(0xc000a0c008)")
    return "apiextensions.ValidationRule{" + ", ".join(fields) + "}"


def _walk(schema, path: str):
    """(field path, schema node) for every node, named as the CRD validation names them."""
    if not isinstance(schema, dict):
        return
    yield path, schema
    for name, child in (schema.get("properties") or {}).items():
        yield from _walk(child, f"{path}.properties[{name}]")
    for key in ("items", "additionalProperties", "not"):
        if isinstance(schema.get(key), dict):
            yield from _walk(schema[key], f"{path}.{key}")
    for key in ("allOf", "anyOf", "oneOf"):
        for i, child in enumerate(schema.get(key) or []):
            yield from _walk(child, f"{path}.{key}[{i}]")


def rule_causes(crd: dict, kubernetes_version: str) -> list[tuple[str, str]]:
    """The field errors a CRD's x-kubernetes-validations earn on a server of `kubernetes_version`."""
    versions = (crd.get("spec") or {}).get("versions") or []
    schemas = [((v.get("schema") or {}).get("openAPIV3Schema")) for v in versions]
    # The internal CRD hoists a schema every version shares to spec.validation (conversion.go).
    if schemas and all(s == schemas[0] for s in schemas):
        roots = [("spec.validation.openAPIV3Schema", schemas[0])]
    else:
        roots = [(f"spec.versions[{i}].schema.openAPIV3Schema", s) for i, s in enumerate(schemas)]
    server = parse_version(kubernetes_version)
    declared = declared_functions(kubernetes_version)
    causes = []
    for root, schema in roots:
        for path, node in _walk(schema, root):
            for i, rule in enumerate(node.get("x-kubernetes-validations") or []):
                if not isinstance(rule, dict):
                    continue
                text = rule.get("rule", "")
                where = f"{path}.x-kubernetes-validations[{i}]"
                if not text.strip():
                    causes.append((f"{where}.rule", "Required value"))
                    continue
                if "\n" in text and not rule.get("message") and not rule.get("messageExpression"):
                    causes.append((f"{where}.message",
                                   "Required value: message must be specified if rule contains line breaks"))
                    continue
                issues = compile_errors(text, declared)
                if issues:
                    causes.append((f"{where}.rule", f"Invalid value: {_go_rule(rule, server)}: "
                                                    f"compilation failed: {issues}"))
    return causes


class CrdRules:
    """Store admission hook: a CRD whose validation rules do not compile is refused (422)."""

    def __init__(self, kubernetes_version: str):
        self.kubernetes_version = kubernetes_version

    def __call__(self, operation, rtype, obj, old, subresource) -> None:
        if rtype.key != ("apiextensions.k8s.io", "customresourcedefinitions") or operation == "DELETE" \
                or subresource == "status":
            return
        if parse_version(self.kubernetes_version) < (1, 25):
            # Before 1.25 the CustomResourceValidationExpressions gate is off by default (alpha since 1.23;
            # the field does not exist before): the registry drops the rules (dropDisabledFields).
            for version in (obj.get("spec") or {}).get("versions") or []:
                for _, node in _walk((version.get("schema") or {}).get("openAPIV3Schema"), ""):
                    node.pop("x-kubernetes-validations", None)
            return
        if old is not None and (old.get("spec") or {}) == (obj.get("spec") or {}):
            return
        causes = rule_causes(obj, self.kubernetes_version)
        if causes:
            raise errors.invalid(rtype.kind, obj["metadata"].get("name", ""), causes, rtype.group)
