"""What an API request carries through admission besides its object: the user who sent it and the
warnings recorded on its way (k8s.io/apiserver pkg/warning AddWarning, written as `Warning` response
headers by pkg/endpoints/filters/warning.go). The HTTP server opens a scope per request; code called
outside one (controllers, tests calling the store directly) records nothing.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field


@dataclass
class Scope:
    user_name: str = ""
    warnings: list[str] = field(default_factory=list)


_current: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("sim_request_scope", default=None)


def begin(user_name: str = "") -> contextvars.Token:
    """Open the scope of one request (the server calls end(token) when the request is done)."""
    return _current.set(Scope(user_name))


def end(token: contextvars.Token) -> None:
    _current.reset(token)


@contextlib.contextmanager
def serving(user_name: str = ""):
    """A request scope for in-process callers (tests): yields the Scope, whose .warnings fill up."""
    token = begin(user_name)
    try:
        yield _current.get()
    finally:
        end(token)


def add_warning(text: str) -> None:
    """warning.AddWarning: recorded once per distinct text (the recorder drops exact duplicates)."""
    scope = _current.get()
    if scope is not None and text and text not in scope.warnings:
        scope.warnings.append(text)


def user_name() -> str:
    scope = _current.get()
    return scope.user_name if scope is not None else ""


def take_warnings() -> list[str]:
    """The warnings recorded so far, cleared (each goes out in one response's headers)."""
    scope = _current.get()
    if scope is None:
        return []
    taken, scope.warnings = scope.warnings, []
    return taken


def warning_header(text: str, code: int = 299, agent: str = "-") -> str:
    """k8s.io/apimachinery pkg/util/net/http.go NewWarningHeader: `299 - "text"`, with `"` and `\\` escaped."""
    quoted = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'{code:03d} {agent} "{quoted}"'
