"""API errors as the real API server reports them: a metav1.Status with code and reason."""
from __future__ import annotations


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None,
                 retry_after: int | None = None, list_meta: dict | None = None, empty_details: bool = False):
        super().__init__(message)
        self.list_meta = list_meta or {}
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}
        self.retry_after = retry_after
        # The Status carries `"details": {}` when the Go error set a StatusDetails with nothing in it
        # (NewGenericServerResponse, k8s.io/apimachinery pkg/api/errors/errors.go)
        self.empty_details = empty_details

    def status(self) -> dict:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": dict(self.list_meta), "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if not self.reason:
            del body["reason"]  # StatusReasonUnknown is "", omitted
        if self.details or self.empty_details:
            body["details"] = self.details
        return body


def _details(kind_plural: str, name: str, group: str = "") -> dict:
    details = {"name": name, "kind": kind_plural}
    if group:
        details["group"] = group
    return details


def _qualified(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, name: str, group: str = "") -> ApiError:
    return ApiError(404, "NotFound", f'{_qualified(plural, group)} "{name}" not found', _details(plural, name, group))


def already_exists(plural: str, name: str, group: str = "") -> ApiError:
    return ApiError(409, "AlreadyExists", f'{_qualified(plural, group)} "{name}" already exists',
                    _details(plural, name, group))


def conflict(plural: str, name: str, group: str = "", why: str = "") -> ApiError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {_qualified(plural, group)} "{name}": {why}',
                    _details(plural, name, group))


# field.ErrorType: the text that opens an error's body, and the cause reason it is reported with.
_FIELD_ERROR_TYPES = (
    ("Required value", "FieldValueRequired"), ("Invalid value", "FieldValueInvalid"),
    ("Unsupported value", "FieldValueNotSupported"), ("Forbidden", "FieldValueForbidden"),
    ("Duplicate value", "FieldValueDuplicate"), ("Not found", "FieldValueNotFound"),
    ("Too long", "FieldValueTooLong"), ("Too many", "FieldValueTooMany"), ("Internal error", "InternalError"),
)


def _cause_reason(body: str) -> str:
    return next((reason for text, reason in _FIELD_ERROR_TYPES if body.startswith(text)), "FieldValueInvalid")


def invalid(kind: str, name: str, causes: list[tuple[str, str]], group: str = "",
            reasons: list[str] | None = None) -> ApiError:
    """causes: (field, error body) pairs, the body as field.Error.ErrorBody renders it ("Required value",
    'Invalid value: "x": detail'). The message is NewInvalid's: one error as is, several as "[a, b]".
    reasons: each cause's field.ErrorType where the body's text does not tell it (FieldValueTypeInvalid)."""
    errors = list(dict.fromkeys(f"{f}: {m}" for f, m in causes))
    text = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
    reasons = reasons or [_cause_reason(m) for _, m in causes]
    details = {**({"name": name} if name else {}), **({"group": group} if group else {}), "kind": kind,  # omitempty
               "causes": [{"reason": r, "message": m, "field": f} for (f, m), r in zip(causes, reasons)]}
    return ApiError(422, "Invalid", f'{kind}{"." + group if group else ""} "{name}" is invalid: {text}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(reason: str, plural: str = "", name: str = "", group: str = "") -> ApiError:
    """NewForbidden: `<resource>[.group] ["name"] is forbidden: <reason>`, or `forbidden: <reason>`."""
    if not plural:
        return ApiError(403, "Forbidden", f"forbidden: {reason}")
    named = f' "{name}"' if name else ""
    details = {**({"name": name} if name else {}), **({"group": group} if group else {}), "kind": plural}
    return ApiError(403, "Forbidden", f"{_qualified(plural, group)}{named} is forbidden: {reason}", details)


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def too_many_requests(message: str, retry_after: int = 1, cause: str | None = None) -> ApiError:
    """429; a Retry-After header only when retry_after > 0 (as NewTooManyRequests does)."""
    details = {"retryAfterSeconds": retry_after} if retry_after else {}
    if cause:
        details["causes"] = [{"reason": "DisruptionBudget", "message": cause}]
    return ApiError(429, "TooManyRequests", message, details, retry_after=retry_after or None)


def unsupported_media_type(message: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", message)
