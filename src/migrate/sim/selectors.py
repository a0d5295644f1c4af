"""Label selectors, field selectors and the scheduler's node predicates, as Kubernetes has them.

- `parse_label_selector` follows `labels.Parse` of apimachinery (same grammar, same validation
  of keys and values, same error texts); `selector_from_label_selector_object` follows
  `metav1.LabelSelectorAsSelector` (a nil selector matches nothing, an empty one everything).
- `parse_field_selector` follows `fields.ParseSelector`; objects are read through the field
  sets the API server builds per kind (a missing field reads as "", booleans as "true"/"false").
- `pod_fits_node` and its parts follow the kube-scheduler's NodeUnschedulable, NodeName,
  TaintToleration and NodeAffinity filter plugins, in that (the default) order.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import NamedTuple


class SelectorError(ValueError):
    """A selector the API server would refuse (answered with 400 BadRequest)."""


# --- validation of label keys and values (k8s.io/apimachinery/pkg/util/validation) ---------

_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                       "with an alphanumeric character")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS1123_SUBDOMAIN_FMT = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                          "'-' or '.', and must start and end with an alphanumeric character")
_LABEL_VALUE_FMT = f"({_QUALIFIED_NAME_FMT})?"
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
                    "or '.', and must start and end with an alphanumeric character")


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def label_key_errors(key: str) -> list[str]:
    """Why `key` is not a qualified name ([DNS subdomain prefix '/'] name), as IsQualifiedName says."""
    parts = key.split("/")
    errors = []
    if len(parts) > 2:
        return ["a qualified name " + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT,
                                                   "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                errors.append("prefix part must be no more than 253 characters")
            if not _DNS1123_SUBDOMAIN.fullmatch(prefix):
                errors.append("prefix part " + _regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT,
                                                            "example.com"))
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    if not _QUALIFIED_NAME.fullmatch(name):
        errors.append("name part " + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT,
                                                  "MyName", "my.name", "123-abc"))
    return errors


def label_value_errors(value: str) -> list[str]:
    """Why `value` is not a valid label value (≤63 chars of [A-Za-z0-9_.-], alphanumeric ends, or empty)."""
    errors = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if value and not _QUALIFIED_NAME.fullmatch(value):
        errors.append(_regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errors


def _invalid(path: str, value, detail: str) -> str:
    """A field.Invalid error as it prints: `<path>: Invalid value: <value>: <detail>`."""
    if isinstance(value, str):
        shown = json.dumps(value)
    elif value:
        shown = "[]string{" + ", ".join(json.dumps(v) for v in value) + "}"
    else:
        shown = "[]string(nil)"
    return f"{path}: Invalid value: {shown}: {detail}"


def _aggregate(messages: list[str]) -> str:
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"


# --- label selectors ----------------------------------------------------------------------

# Operators by their selection.Operator spelling.
EXISTS, DOES_NOT_EXIST = "exists", "!"
EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "=", "==", "!="
IN, NOT_IN = "in", "notin"
GREATER_THAN, LESS_THAN = "gt", "lt"


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector: a key, an operator and (for most operators) values."""
    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: dict) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator in (IN, EQUALS, DOUBLE_EQUALS):
            return present and value in self.values
        if self.operator in (NOT_IN, NOT_EQUALS):
            return not present or value not in self.values  # an absent label is "not equal"
        if self.operator == EXISTS:
            return present
        if self.operator == DOES_NOT_EXIST:
            return not present
        if self.operator in (GREATER_THAN, LESS_THAN):
            return present and _compare_integers(value, self.values[0], self.operator)
        return False

    def __str__(self) -> str:
        if self.operator == EXISTS:
            return self.key
        if self.operator == DOES_NOT_EXIST:
            return "!" + self.key
        values = ",".join(sorted(self.values))
        if self.operator in (IN, NOT_IN):
            return f"{self.key} {self.operator} ({values})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(self.operator, self.operator)
        return f"{self.key}{symbol}{values}"


def _compare_integers(label_value: str, bound: str, operator: str) -> bool:
    try:
        number, limit = int(label_value), int(bound)
    except (TypeError, ValueError):
        return False  # a label that is not an integer matches neither Gt nor Lt
    return number > limit if operator == GREATER_THAN else number < limit


@dataclass(frozen=True)
class LabelSelector:
    """Requirements that must all hold. `matches_nothing` is the selector of a nil LabelSelector."""
    requirements: tuple[Requirement, ...] = ()
    matches_nothing: bool = False

    @property
    def empty(self) -> bool:
        """True when the selector selects everything."""
        return not self.requirements and not self.matches_nothing

    def matches(self, labels: dict | None) -> bool:
        if self.matches_nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def new_requirement(key: str, operator: str, values, path: str = "") -> Requirement:
    """Build a validated requirement, as labels.NewRequirement does; raises SelectorError."""
    values = [str(v) for v in (values or [])]
    prefix = f"{path}." if path else ""
    errors = []
    key_problems = label_key_errors(key)
    if key_problems:
        errors.append(_invalid(f"{prefix}key", key, "; ".join(key_problems)))
    values_path = f"{prefix}values"
    if operator in (IN, NOT_IN) and not values:
        errors.append(_invalid(values_path, values, "for 'in', 'notin' operators, values set can't be empty"))
    elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS) and len(values) != 1:
        errors.append(_invalid(values_path, values, "exact-match compatibility requires one single value"))
    elif operator in (EXISTS, DOES_NOT_EXIST) and values:
        errors.append(_invalid(values_path, values, "values set must be empty for exists and does not exist"))
    elif operator in (GREATER_THAN, LESS_THAN):
        if len(values) != 1:
            errors.append(_invalid(values_path, values, "for 'Gt', 'Lt' operators, exactly one value is required"))
        for i, value in enumerate(values):
            if not re.fullmatch(r"[+-]?\d+", value):
                errors.append(_invalid(f"{values_path}[{i}]", value,
                                       "for 'Gt', 'Lt' operators, the value must be an integer"))
    elif operator not in (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, EXISTS, DOES_NOT_EXIST):
        errors.append(f'{prefix}operator: Unsupported value: "{operator}": supported values: '
                      '"in", "notin", "=", "==", "!=", "gt", "lt", "exists", "!"')
    for i, value in enumerate(values):
        problems = label_value_errors(value)
        if problems:
            errors.append(_invalid(f"{values_path}[{i}][{key}]", value, "; ".join(problems)))
    if errors:
        raise SelectorError(_aggregate(errors))
    return Requirement(key, operator, tuple(values))


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse the `labelSelector` query syntax: `a=b,c!=d,e in (f,g),h notin (i),j,!k`.

    The message of the SelectorError raised is what labels.Parse reports, without the
    "unable to parse requirement: " prefix the API server puts in front of it.
    """
    requirements = _LabelParser(text or "").parse()
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


def selector_from_label_selector_object(obj: dict | None) -> LabelSelector:
    """A metav1.LabelSelector ({matchLabels, matchExpressions}) as a LabelSelector.

    None (a nil selector) matches nothing; {} (an empty one) matches everything.
    """
    if obj is None:
        return LabelSelector(matches_nothing=True)
    if not isinstance(obj, dict):
        raise SelectorError(f"a label selector must be an object, not {obj!r}")
    requirements = [new_requirement(k, EQUALS, [v]) for k, v in (obj.get("matchLabels") or {}).items()]
    for expression in obj.get("matchExpressions") or []:
        if not isinstance(expression, dict):
            raise SelectorError(f"a label selector requirement must be an object, not {expression!r}")
        operator = _SELECTOR_OPERATORS.get(expression.get("operator"))
        if operator is None:
            raise SelectorError(f'"{expression.get("operator")}" is not a valid label selector operator')
        requirements.append(new_requirement(expression.get("key", ""), operator, expression.get("values")))
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


_SELECTOR_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


class _Token(NamedTuple):
    kind: str  # "id", "end", or the operator/punctuation itself: "(", ")", ",", "!", "=", "in", ...
    text: str


_SYMBOLS = {")", ",", "!", "==", "=", ">", "<", "!=", "("}
_SPECIAL_CHARACTERS = set("=!(),><")
_WHITESPACE = set(" \t\r\n")
_KEYWORDS = {"in", "notin"}
_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"


def _lex(text: str) -> list[_Token]:
    """Split a label selector into tokens, the way labels.Lexer does."""
    tokens, position = [], 0
    while True:
        while position < len(text) and text[position] in _WHITESPACE:
            position += 1
        if position == len(text):
            tokens.append(_Token("end", ""))
            return tokens
        if text[position] in _SPECIAL_CHARACTERS:
            # the longest run of special characters that is still a symbol: "!=" but "=" "("
            end = position + 1
            while end < len(text) and text[position:end + 1] in _SYMBOLS:
                end += 1
            symbol = text[position:end]
            tokens.append(_Token(symbol, symbol))
        else:
            end = position
            while end < len(text) and text[end] not in _SPECIAL_CHARACTERS and text[end] not in _WHITESPACE:
                end += 1
            word = text[position:end]
            tokens.append(_Token(word if word in _KEYWORDS else "id", word))
        position = end


class _LabelParser:
    """Recursive descent over the tokens, following labels.Parser (and its error messages)."""

    def __init__(self, text: str):
        self.tokens = _lex(text)
        self.position = 0

    def peek(self, values: bool = True) -> _Token:
        return self._as_value(self.tokens[self.position]) if values else self.tokens[self.position]

    def take(self, values: bool = True) -> _Token:
        token = self.peek(values)
        self.position += 1
        return token

    @staticmethod
    def _as_value(token: _Token) -> _Token:
        # where a value may stand, 'in' and 'notin' are plain words: `x in (in,notin)`
        return _Token("id", token.text) if token.kind in _KEYWORDS else token

    def parse(self) -> list[Requirement]:
        requirements = []
        while True:
            token = self.peek()
            if token.kind == "end":
                return requirements
            if token.kind not in ("id", "!"):
                raise SelectorError(f"found '{token.text}', expected: !, identifier, or 'end of string'")
            requirements.append(self.requirement())
            separator = self.take()
            if separator.kind == "end":
                return requirements
            if separator.kind != ",":
                raise SelectorError(f"found '{separator.text}', expected: ',' or 'end of string'")
            following = self.peek()
            if following.kind not in ("id", "!"):
                raise SelectorError(f"found '{following.text}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        negated = self.peek().kind == "!"
        if negated:
            self.take()
        key = self.take()
        if key.kind != "id":
            raise SelectorError(f"found '{key.text}', expected: identifier")
        problems = label_key_errors(key.text)
        if problems:
            raise SelectorError(_invalid("<nil>", key.text, "; ".join(problems)))
        if negated:
            return new_requirement(key.text, DOES_NOT_EXIST, [])  # `!key=v` then fails in parse()
        if self.peek().kind in ("end", ","):
            return new_requirement(key.text, EXISTS, [])
        operator = self.operator()
        values = self.value_set() if operator in (IN, NOT_IN) else self.exact_value()
        return new_requirement(key.text, operator, sorted(values))

    def operator(self) -> str:
        token = self.take(values=False)
        operators = {"in": IN, "notin": NOT_IN, "=": EQUALS, "==": DOUBLE_EQUALS, "!=": NOT_EQUALS,
                     ">": GREATER_THAN, "<": LESS_THAN}
        if token.kind not in operators:
            raise SelectorError(f"found '{token.text}', expected: {_BINARY_OPERATORS}")
        return operators[token.kind]

    def value_set(self) -> set[str]:
        """`(a,b,c)`; empty entries are the empty value: `()` and `(a,)` both include ""."""
        opening = self.take()
        if opening.kind != "(":
            raise SelectorError(f"found '{opening.text}' expected: '('")
        token = self.peek()
        if token.kind == ")":
            self.take()
            return {""}
        if token.kind not in ("id", ","):
            raise SelectorError(f"found '{token.text}', expected: ',', ')' or identifier")
        values = self.identifiers()
        if self.take().kind != ")":
            raise SelectorError(f"found '{token.text}', expected: ')'")
        return values

    def identifiers(self) -> set[str]:
        values: set[str] = set()
        while True:
            token = self.take()
            if token.kind == "id":
                values.add(token.text)
                following = self.peek()
                if following.kind == ")":
                    return values
                if following.kind != ",":
                    raise SelectorError(f"found '{following.text}', expected: ',' or ')'")
            elif token.kind == ",":
                if not values or self.peek().kind in (")", ","):
                    values.add("")  # "(,a", "a,)" and "a,,b" hold an empty value
                if self.peek().kind == ")":
                    return values
            else:
                raise SelectorError(f"found '{token.text}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.peek().kind in ("end", ","):
            return {""}  # `key=` selects the empty value
        token = self.take()
        if token.kind != "id":
            raise SelectorError(f"found '{token.text}', expected: identifier")
        return {token.text}


# --- field selectors ------------------------------------------------------------------------

_OBJECT_META_FIELDS = ("metadata.name", "metadata.namespace")
DEFAULT_SUPPORTED_FIELDS = _OBJECT_META_FIELDS

# The field labels each kind's registry accepts (its GetAttrs / field label conversion).
SUPPORTED_FIELDS_BY_KIND: dict[str, tuple[str, ...]] = {
    "Pod": _OBJECT_META_FIELDS + (
        "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"),
    "Node": _OBJECT_META_FIELDS + ("spec.unschedulable",),
    "Event": _OBJECT_META_FIELDS + (
        "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
        "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
        "reason", "reportingComponent", "source", "type"),
    "Secret": _OBJECT_META_FIELDS + ("type",),
    "Namespace": _OBJECT_META_FIELDS + ("status.phase",),
    "ReplicaSet": _OBJECT_META_FIELDS + ("status.replicas",),
    "ReplicationController": _OBJECT_META_FIELDS + ("status.replicas",),
    "Job": _OBJECT_META_FIELDS + ("status.successful",),
}

# Field labels that are not a plain path into the object.
_FIELD_PATHS = {"source": "source.component"}  # Event: the reporting component
# Booleans the registries print with fmt.Sprint, so an unset one reads "false", not "".
_FALSE_WHEN_MISSING = {"spec.unschedulable", "spec.hostNetwork"}


class FieldRequirement(NamedTuple):
    field: str
    operator: str  # "=", "==" or "!="
    value: str


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: dict) -> bool:
        return all(_field_requirement_holds(obj, r) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(f"{r.field}{r.operator}{_escape(r.value)}" for r in self.requirements)


def _field_requirement_holds(obj: dict, requirement: FieldRequirement) -> bool:
    equal = field_value(obj, requirement.field) == requirement.value
    return not equal if requirement.operator == NOT_EQUALS else equal


def field_value(obj: dict, field_label: str) -> str:
    """The string a field selector compares for `field_label`; missing fields read as ""."""
    node = obj
    for part in _FIELD_PATHS.get(field_label, field_label).split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        return "false" if field_label in _FALSE_WHEN_MISSING else ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def parse_field_selector(text: str | None) -> FieldSelector:
    """Parse the `fieldSelector` query syntax: `a=b,c==d,e!=f` (values may escape `\\,` `\\=` `\\\\`)."""
    requirements = []
    for term in sorted(_split_terms(text or "")):
        if not term:
            continue
        split = _split_term(term)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        field_label, operator, raw_value = split
        requirements.append(FieldRequirement(field_label, operator, _unescape(raw_value)))
    return FieldSelector(tuple(requirements))


def check_supported_fields(selector: FieldSelector, kind: str) -> None:
    """Reject field labels the kind does not index, with the API server's message."""
    supported = SUPPORTED_FIELDS_BY_KIND.get(kind, DEFAULT_SUPPORTED_FIELDS)
    for requirement in selector.requirements:
        if requirement.field not in supported:
            raise SelectorError(f"field label not supported: {requirement.field}")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not escaped with a backslash."""
    terms, current, escaped = [], [], False
    for character in text:
        if escaped:
            escaped = False
        elif character == "\\":
            escaped = True
        elif character == ",":
            terms.append("".join(current))
            current = []
            continue
        current.append(character)
    terms.append("".join(current))
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """The first operator in the term splits it; '!=' and '==' win over '=' at the same place."""
    for position in range(len(term)):
        for operator in ("!=", "==", "="):
            if term.startswith(operator, position):
                return term[:position], operator, term[position + len(operator):]
    return None


def _unescape(value: str) -> str:
    result, escaped = [], False
    for character in value:
        if escaped:
            if character not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{character}")
            result.append(character)
            escaped = False
        elif character == "\\":
            escaped = True
        elif character in ",=":
            raise SelectorError(f"invalid field selector: unescaped character in value: {character!r}")
        else:
            result.append(character)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(result)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


# --- scheduling predicates -------------------------------------------------------------------

UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_NODE_NAME = "node(s) didn't match the requested node name"
REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector"


def _labels_of(node: dict) -> dict:
    return (node.get("metadata") or {}).get("labels") or {}


def node_selector_matches(pod_spec: dict, node: dict) -> bool:
    """`spec.nodeSelector`: every pair must be a label of the node, exactly."""
    labels = _labels_of(node)
    return all(key in labels and labels[key] == value
               for key, value in (pod_spec.get("nodeSelector") or {}).items())


def required_node_affinity_matches(pod_spec: dict, node: dict) -> bool:
    """requiredDuringSchedulingIgnoredDuringExecution: any term matches (each term: all its parts).

    An absent node affinity allows every node; a present one with no terms allows none.
    A term with nothing in it, or with an invalid requirement, matches no node.
    """
    node_affinity = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is None:
        return True
    return any(_term_matches(term, node) for term in required.get("nodeSelectorTerms") or [])


_NODE_SELECTOR_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST,
                            "Gt": GREATER_THAN, "Lt": LESS_THAN}


def _term_matches(term: dict, node: dict) -> bool:
    expressions = term.get("matchExpressions") or []
    field_expressions = term.get("matchFields") or []
    if not expressions and not field_expressions:
        return False
    try:
        label_requirements = [_node_label_requirement(e) for e in expressions]
        field_requirements = [_node_field_requirement(e) for e in field_expressions]
    except SelectorError:
        return False
    labels = _labels_of(node)
    node_fields = {"metadata": {"name": (node.get("metadata") or {}).get("name", "")}}
    return (all(r.matches(labels) for r in label_requirements)
            and FieldSelector(tuple(field_requirements)).matches(node_fields))


def _node_label_requirement(expression: dict) -> Requirement:
    operator = _NODE_SELECTOR_OPERATORS.get(expression.get("operator"))
    if operator is None:
        raise SelectorError(f'"{expression.get("operator")}" is not a valid node selector operator')
    return new_requirement(expression.get("key", ""), operator, expression.get("values"))


def _node_field_requirement(expression: dict) -> FieldRequirement:
    """matchFields allow only In/NotIn with exactly one value (the node's metadata.name)."""
    operator = {"In": EQUALS, "NotIn": NOT_EQUALS}.get(expression.get("operator"))
    values = expression.get("values") or []
    if operator is None or len(values) != 1:
        raise SelectorError(f"unsupported node field selector requirement: {expression}")
    return FieldRequirement(expression.get("key", ""), operator, str(values[0]))


def tolerates(toleration: dict, taint: dict) -> bool:
    """Toleration.ToleratesTaint: empty effect matches all effects, empty key with Exists all keys."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def untolerated_taint(tolerations: list[dict] | None, taints: list[dict] | None,
                      effects=("NoSchedule", "NoExecute")) -> dict | None:
    """The first taint with one of `effects` that no toleration tolerates, else None.

    tolerationSeconds plays no part here: it only delays eviction, it does not stop scheduling.
    """
    for taint in taints or []:
        if taint.get("effect") not in effects:
            continue
        if not any(tolerates(t, taint) for t in tolerations or []):
            return taint
    return None


def pod_fits_node(pod_spec: dict, node: dict) -> tuple[bool, str]:
    """(fits, reason): the scheduler's filters, in its order; reason is "" when the pod fits."""
    tolerations = pod_spec.get("tolerations") or []
    node_spec = node.get("spec") or {}
    # NodeUnschedulable: a cordon is the unschedulable:NoSchedule taint, whether or not the
    # node lifecycle controller has written it yet; tolerating it (DaemonSet pods do) passes.
    if node_spec.get("unschedulable") and not any(tolerates(t, UNSCHEDULABLE_TAINT) for t in tolerations):
        return False, REASON_UNSCHEDULABLE
    wanted_node = pod_spec.get("nodeName")
    if wanted_node and wanted_node != (node.get("metadata") or {}).get("name"):
        return False, REASON_NODE_NAME
    taint = untolerated_taint(tolerations, node_spec.get("taints"))
    if taint is not None:
        return False, f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}"
    if not node_selector_matches(pod_spec, node) or not required_node_affinity_matches(pod_spec, node):
        return False, REASON_AFFINITY
    return True, ""
