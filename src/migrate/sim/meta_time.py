"""metav1.Time and metav1.MicroTime as a write's decoding reads them.

k8s.io/apimachinery v0.26 pkg/apis/meta/v1/micro_time.go: MicroTime.UnmarshalJSON takes `null` as the zero
time, anything else must be a JSON string, parsed with time.Parse(RFC3339Micro) where
RFC3339Micro = "2006-01-02T15:04:05.000000Z07:00": exactly six fractional digits, so
"2024-01-01T00:00:00Z" fails. MarshalJSON writes t.UTC().Format(RFC3339Micro) (null for the zero time).
pkg/apis/meta/v1/time.go: Time does the same with time.RFC3339 ("2006-01-02T15:04:05Z07:00"), which
accepts any fraction, and writes UTC whole seconds. A value that does not parse fails the decoding of the
whole body: 400 `<Kind> in version "<v>" cannot be handled as a <Kind>: <error>` on create and update
(endpoints/handlers/create.go, update.go: transformDecodeError), 422 on the field `patch` for a patch
(handlers/patch.go applyPatchToCurrentObject: NewInvalid(GroupKind{}, "", patch: Invalid value)).

The parser follows Go 1.19's time/format.go (kube-apiserver v1.26.5 is built with go1.19) for the chunks
of these two layouts, error texts included: ParseError's `cannot parse "<rest>" as "<element>"` names
what was left of the value after the failing element consumed its part, range errors read
`parsing time "<value>": month out of range`, trailing text `: extra text: "<rest>"`.

Fields modelled (the kinds the simulator serves that have them): Lease spec.acquireTime and
spec.renewTime (*MicroTime: null drops the field), core Event eventTime and series.lastObservedTime
(MicroTime), and, as Time, Event firstTimestamp/lastTimestamp and every object's
metadata.managedFields[].time (ManagedFieldsEntry.Time is *metav1.Time, not MicroTime).
"""
from __future__ import annotations

import calendar
import datetime as dt
import json

from . import errors
from .gofmt import go_json, go_plus_v, go_quote

RFC3339 = "2006-01-02T15:04:05Z07:00"
RFC3339_MICRO = "2006-01-02T15:04:05.000000Z07:00"

# (group, plural) -> [(path, layout, Go struct type holding the last key, pointer field)]
_FIELDS: dict[tuple[str, str], list[tuple[tuple[str, ...], str, str, bool]]] = {
    # k8s.io/api coordination/v1 types.go LeaseSpec: AcquireTime, RenewTime *metav1.MicroTime
    ("coordination.k8s.io", "leases"): [(("spec", "acquireTime"), RFC3339_MICRO, "LeaseSpec", True),
                                        (("spec", "renewTime"), RFC3339_MICRO, "LeaseSpec", True)],
    # k8s.io/api core/v1 types.go Event: EventTime metav1.MicroTime, Series *EventSeries whose
    # LastObservedTime is a MicroTime; FirstTimestamp, LastTimestamp metav1.Time
    ("", "events"): [(("eventTime",), RFC3339_MICRO, "Event", False),
                     (("series", "lastObservedTime"), RFC3339_MICRO, "EventSeries", False),
                     (("firstTimestamp",), RFC3339, "Event", False),
                     (("lastTimestamp",), RFC3339, "Event", False)],
}


class TimeParseError(ValueError):
    pass


# ---- Go's time.Parse for the chunks of RFC3339 and RFC3339Micro -------------------------------------------

def _quote(text: bytes) -> str:
    """time.quote: printable ASCII as is (with " and \\ escaped), every other byte as \\xNN."""
    out = ['"']
    for byte in text:
        if byte >= 0x80 or byte < 0x20:
            out.append(f"\\x{byte:02x}")
        else:
            char = chr(byte)
            out.append("\\" + char if char in '"\\' else char)
    out.append('"')
    return "".join(out)


def _digit(value: bytes, i: int) -> bool:
    return i < len(value) and 0x30 <= value[i] <= 0x39


def _getnum(value: bytes, fixed: bool):
    if not _digit(value, 0):
        return 0, value, True
    if not _digit(value, 1):
        if fixed:
            return 0, value, True
        return value[0] - 0x30, value[1:], False
    return (value[0] - 0x30) * 10 + value[1] - 0x30, value[2:], False


def _atoi(text: bytes):
    """time.atoi: an optional sign, then digits only."""
    body = text[1:] if text[:1] in (b"-", b"+") else text
    if not body or not body.isdigit():
        return 0, True
    number = int(body)
    return (-number if text[:1] == b"-" else number), False


def _nanoseconds(value: bytes, nbytes: int):
    """parseNanoseconds: value[0] is '.' or ',', then digits (at most nine count)."""
    if value[:1] not in (b".", b","):
        return 0, True
    nbytes = min(nbytes, 10)
    number, bad = _atoi(value[1:nbytes])
    if bad or number < 0:
        return 0, True
    return number * 10 ** (10 - nbytes), False


def _chunks(layout: str) -> list[tuple[str, str]]:
    """(literal prefix, element) pairs of the two layouts, as nextStdChunk splits them."""
    if layout == RFC3339_MICRO:
        return [("", "2006"), ("-", "01"), ("-", "02"), ("T", "15"), (":", "04"), (":", "05"),
                ("", ".000000"), ("", "Z07:00")]
    return [("", "2006"), ("-", "01"), ("-", "02"), ("T", "15"), (":", "04"), (":", "05"), ("", "Z07:00")]


def go_parse(layout: str, text: str) -> dt.datetime:
    """time.Parse(layout, text) for RFC3339 / RFC3339Micro; TimeParseError carries Go's message."""
    raw = text.encode()
    value = raw

    def fail(element: str, rest: bytes, message: str = "") -> TimeParseError:
        if message:
            return TimeParseError(f"parsing time {_quote(raw)}{message}")
        return TimeParseError(f"parsing time {_quote(raw)} as {_quote(layout.encode())}: cannot parse "
                              f"{_quote(rest)} as {_quote(element.encode())}")

    year = month = day = hour = minute = second = nanos = 0
    offset = None
    chunks = _chunks(layout)
    for index, (prefix, element) in enumerate(chunks):
        if prefix:  # skip(): the literal must be there
            if not value.startswith(prefix.encode()):
                raise fail(prefix, value)
            value = value[len(prefix):]
        bad, out_of_range = False, ""
        if element == "2006":
            if len(value) < 4 or not _digit(value, 0):
                bad = True
            else:
                year, bad = _atoi(value[:4])
                value = value[4:]
        elif element == "01":
            month, value, bad = _getnum(value, True)
            if not bad and not 1 <= month <= 12:
                out_of_range = "month"
        elif element == "02":
            day, value, bad = _getnum(value, True)
        elif element == "15":
            hour, value, bad = _getnum(value, False)
            if not 0 <= hour < 24:
                out_of_range = "hour"
        elif element == "04":
            minute, value, bad = _getnum(value, True)
            if not 0 <= minute < 60:
                out_of_range = "minute"
        elif element == "05":
            second, value, bad = _getnum(value, True)
            if not 0 <= second < 60:
                out_of_range = "second"
            elif len(value) >= 2 and value[:1] in (b".", b",") and _digit(value, 1) \
                    and chunks[index + 1][1] != ".000000":
                # a fraction the layout does not spell out (RFC3339): all its digits are read
                n = 2
                while _digit(value, n):
                    n += 1
                nanos, bad = _nanoseconds(value, n)
                value = value[n:]
        elif element == ".000000":
            if len(value) < 7:
                bad = True
            else:
                nanos, bad = _nanoseconds(value, 7)
                value = value[7:]
        elif element == "Z07:00":
            if value[:1] == b"Z":
                value, offset = value[1:], 0
            elif len(value) < 6 or value[3:4] != b":":
                bad = True
            else:
                sign, hours, minutes, value = value[:1], value[1:3], value[4:6], value[6:]
                hh, bad = _atoi(hours)
                mm, bad2 = (0, True) if bad else _atoi(minutes)
                bad = bad or bad2 or sign not in (b"+", b"-")
                offset = (hh * 60 + mm) * 60 * (-1 if sign == b"-" else 1)
        if out_of_range:
            raise fail(element, value, f": {out_of_range} out of range")
        if bad:
            raise fail(element, value)
    if value:
        raise fail("", value, f": extra text: {_quote(value)}")
    if day < 1 or day > (calendar.monthrange(year, month)[1] if year >= 1 else 31):
        raise fail("", value, ": day out of range")
    try:
        moment = dt.datetime(year, month, day, hour, minute, second, nanos // 1000, tzinfo=dt.timezone.utc)
    except ValueError as exc:  # year 0 and the like: beyond what Python's datetime holds
        raise TimeParseError(f"parsing time {_quote(raw)}: {exc}")
    return moment - dt.timedelta(seconds=offset or 0)


def format_time(moment: dt.datetime, layout: str) -> str:
    """MarshalJSON: UTC, whole seconds (Time) or six fractional digits (MicroTime)."""
    utc = moment.astimezone(dt.timezone.utc)
    if layout == RFC3339_MICRO:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return {list: "array", dict: "object"}.get(type(value), "value")


def _decoded(value, layout: str, go_field: str):
    """The value MarshalJSON will write for `value`, None for a null; TimeParseError when it does not decode."""
    if value is None:
        return None
    if not isinstance(value, str):
        # UnmarshalJSON's json.Unmarshal(b, &str), with the outer decoder's field context
        raise TimeParseError(f"json: cannot unmarshal {_json_kind(value)} into Go struct field {go_field} "
                             f"of type string")
    return format_time(go_parse(layout, value), layout)


def decode_times(rtype, obj: dict) -> None:
    """Parse and normalise the kind's (Micro)Time fields in place, or TimeParseError with the decoder's text
    (then `obj` is left as it was)."""
    found = []  # (holder, key, layout, Go field, pointer)
    for path, layout, struct, pointer in _FIELDS.get(rtype.key, ()):
        holder = obj
        for key in path[:-1]:
            holder = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and path[-1] in holder:
            found.append((holder, path[-1], layout, f"{struct}.{'.'.join(path)}", pointer))
    entries = (obj.get("metadata") or {}).get("managedFields")
    if isinstance(entries, list):
        found += [(entry, "time", RFC3339, "ManagedFieldsEntry.metadata.managedFields.time", True)
                  for entry in entries if isinstance(entry, dict) and "time" in entry]
    decoded = [_decoded(holder[key], layout, go_field) for holder, key, layout, go_field, _ in found]
    for (holder, key, _, _, pointer), value in zip(found, decoded):
        if value is None and pointer:
            del holder[key]  # a nil pointer is omitted
        else:
            holder[key] = value


def decode_body(rtype, obj: dict) -> None:
    """Create and update: a time that does not decode is the body's 400."""
    try:
        decode_times(rtype, obj)
    except TimeParseError as exc:
        kind, version = rtype.kind, rtype.version
        raise errors.bad_request(f"{kind} in version {go_quote(version)} cannot be handled as a {kind}: {exc}")


def decode_patched(rtype, patched: dict, patch_body: bytes, content_type: str) -> None:
    """Patch: the patched object does not decode. The bad value is the patched JSON (JSON and merge
    patches) or the patch map printed with %v (strategic merge patch), as patch.go reports it; the JSON's
    key order here is sorted, not the Go structs' field order."""
    try:
        decode_times(rtype, patched)
    except TimeParseError as exc:
        if content_type == "application/strategic-merge-patch+json":
            try:
                value = go_plus_v(json.loads(patch_body))
            except ValueError:
                value = ""
        else:
            value = go_json(patched)
        body = f"Invalid value: {go_quote(value)}: {exc}"
        raise errors.ApiError(422, "Invalid", f' "" is invalid: patch: {body}',
                              {"causes": [{"reason": "FieldValueInvalid", "message": body, "field": "patch"}]})
