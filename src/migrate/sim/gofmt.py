"""Values printed as Go prints them in API error messages (fmt's %v, %q and %#v).

Field errors render their bad value with k8s.io/apimachinery/pkg/util/validation/field/errors.go
(Error.ErrorBody): simple types with %v, strings with %q, anything else with %#v. Custom
resources hold what encoding/json decodes into interface{}: string, int64 (the apiserver decodes
with PreserveInts), float64, bool, nil, []interface{} and map[string]interface{}.
"""
from __future__ import annotations

import json
import math
from decimal import Decimal


def go_quote(text: str) -> str:
    """strconv.Quote, as %q prints a string (close enough: printable Unicode stays as is)."""
    return json.dumps(text, ensure_ascii=False)


def go_float(value: float) -> str:
    """A float64 as %v prints it: strconv.FormatFloat(v, 'g', -1, 64): the shortest digits, in
    exponent form when the exponent is < -4 or >= 6 (strconv/ftoa.go uses precision 6 for
    that decision when the precision is the shortest)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(str(d) for d in digits)
    point = len(text) + exponent  # where the decimal point falls in the digits
    exp = point - 1
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:  # ftoa.go: shortest %g decides with precision 6
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text}"
    if point >= len(text):
        return prefix + text + "0" * (point - len(text))
    return f"{prefix}{text[:point]}.{text[point:]}"


def go_number(value) -> str:
    """int64 or float64 with %v."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return go_float(value)


def go_sharp_v(value) -> str:
    """%#v of a decoded JSON value (map[string]interface {}, []interface {}, ...)."""
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, (bool, int, float)):
        return go_number(value)
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(go_sharp_v(v) for v in value) + "}"
    if isinstance(value, dict):
        return "map[string]interface {}{" + ", ".join(f"{go_quote(k)}:{go_sharp_v(value[k])}"
                                                       for k in sorted(value)) + "}"
    return repr(value)


def go_bad_value(value) -> str:
    """A field error's bad value as ErrorBody prints it (%v for simple types, %q for strings, else %#v)."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, (bool, int, float)):
        return go_number(value)
    return go_sharp_v(value)


def go_plus_v(value) -> str:
    """%+v of a decoded JSON value (the patch map in a strategic-merge-patch strict error)."""
    if value is None:
        return "<nil>"
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return go_number(value)
    if isinstance(value, list):
        return "[" + " ".join(go_plus_v(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_plus_v(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def go_json(value) -> str:
    """encoding/json.Marshal of a decoded object: map keys sorted, <, > and & escaped as \\u003c etc."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
