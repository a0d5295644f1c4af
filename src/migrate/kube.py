"""Kubernetes API access: the one module that imports `kubernetes`.

Client construction follows kubectl (--kubeconfig, else KUBECONFIG, else ~/.kube/config, else
in-cluster). Everything above this module sees plain dicts and typed errors, never client models.
"""
from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from .errors import UserError

DEFAULT_PAGE_SIZE = 500
DEFAULT_ATTEMPTS = 5
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 10.0
REQUEST_TIMEOUT = (5, 60)  # (connect, read) seconds


class KubeconfigError(UserError):
    """The kubeconfig is missing, unreadable or not a kubeconfig."""


class UnknownContext(UserError):
    """--context names a context the kubeconfig does not have."""


class ApiUnreachable(UserError):
    """Nothing answers at the server URL, or it kept failing after retries."""


class Forbidden(UserError):
    """The user may not do what the tool asked (RBAC)."""


class AdmissionRefused(UserError):
    """403 from Pod Security admission: the namespace's policy level forbids the pod, whoever asks."""


class NamespaceTerminating(UserError):
    """403 on create in a namespace being deleted (plugin/pkg/admission/namespace/lifecycle)."""


class NotFound(UserError):
    """A required object does not exist."""


class Unauthorized(UserError):
    """The credentials were refused."""


class AlreadyExists(Exception):
    """409 on create: an object of that name exists."""


class Conflict(Exception):
    """409 on update: the object changed since it was read (resourceVersion), or a precondition failed."""


class Rejected(UserError):
    """422/400: the API server refused the object as invalid."""


class TooManyRequests(Exception):
    """429 where the caller handles it itself (an eviction a PodDisruptionBudget refuses)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class _Expired(Exception):
    """410: what the request referred to (a continue token) is older than the server's history."""


class _Transient(Exception):
    """A failure worth retrying; carries the server's Retry-After, if any."""

    def __init__(self, cause: str, retry_after: float | None = None):
        super().__init__(cause)
        self.retry_after = retry_after


def kubeconfig_source(explicit: str | None) -> str | None:
    """Which kubeconfig kubectl would read: the flag, else KUBECONFIG, else ~/.kube/config if it exists.
    None means in-cluster."""
    if explicit:
        return explicit
    env = os.environ.get("KUBECONFIG", "")
    if env.strip(os.pathsep):
        return env
    default = Path("~/.kube/config").expanduser()
    return str(default) if default.exists() else None


def connect(kubeconfig: str | None = None, context: str | None = None, *,
            sleep: Callable[[float], None] = time.sleep, attempts: int = DEFAULT_ATTEMPTS) -> "Kube":
    """Build a Kube from kubeconfig/context as kubectl would; raises typed UserErrors."""
    configuration = client.Configuration()
    # Our own retry policy (tenacity) decides; urllib3 must not retry behind its back.
    source = kubeconfig_source(kubeconfig)
    if source is None:
        try:
            config.load_incluster_config(client_configuration=configuration)
        except ConfigException as exc:
            raise KubeconfigError("no kubeconfig found (~/.kube/config is absent, KUBECONFIG is unset) and not "
                                  "running in a cluster", "pass --kubeconfig FILE or set KUBECONFIG") from exc
        user = "in-cluster service account"
    else:
        user = _load_kubeconfig(source, context, configuration)
    configuration.retries = 0
    return Kube(client.ApiClient(configuration), server=configuration.host, user=user, sleep=sleep,
                attempts=attempts)


def _load_kubeconfig(source: str, context: str | None, configuration) -> str:
    """Load `source` (one path or a KUBECONFIG-style list) into `configuration`; returns the user name."""
    paths = [p for p in source.split(os.pathsep) if p]
    for path in paths:
        if not os.path.exists(path) and len(paths) == 1:
            raise KubeconfigError(f"kubeconfig {path} does not exist", "pass --kubeconfig FILE or set KUBECONFIG")
        if os.path.exists(path):
            try:
                parsed = yaml.safe_load(Path(path).read_text())
            except OSError as exc:
                raise KubeconfigError(f"cannot read kubeconfig {path}: {exc.strerror}",
                                      "check the path and its permissions") from exc
            except yaml.YAMLError as exc:
                raise KubeconfigError(f"kubeconfig {path} is not valid YAML",
                                      "fix the file or pass another with --kubeconfig") from exc
            if parsed is not None and not isinstance(parsed, dict):
                raise KubeconfigError(f"kubeconfig {path} is not a kubeconfig",
                                      "pass another with --kubeconfig")
    try:
        contexts, current = config.list_kube_config_contexts(config_file=source)
    except ConfigException as exc:
        raise KubeconfigError(f"kubeconfig {source} has no usable configuration ({exc})",
                              "pass another with --kubeconfig") from exc
    known = [c["name"] for c in contexts or []]
    if context is not None and context not in known:
        raise UnknownContext(f"context {context!r} is not in kubeconfig {source}",
                             f"use one of: {', '.join(known) or '(none)'}")
    chosen = context or (current or {}).get("name")
    if chosen is None:
        raise UnknownContext(f"kubeconfig {source} has no current-context",
                             f"pass --context, one of: {', '.join(known) or '(none)'}")
    try:
        config.load_kube_config(config_file=source, context=chosen, client_configuration=configuration)
    except (ConfigException, OSError, ValueError) as exc:
        raise KubeconfigError(f"kubeconfig {source}, context {chosen}: {exc}",
                              "fix the kubeconfig or choose another --context") from exc
    entry = next(c for c in contexts if c["name"] == chosen)
    return (entry.get("context") or {}).get("user") or "(unknown user)"


def _wait(base: float, cap: float) -> Callable[[RetryCallState], float]:
    """Capped exponential backoff, never shorter than the server's Retry-After."""
    def wait(state: RetryCallState) -> float:
        backoff = min(cap, base * 2 ** (state.attempt_number - 1))
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        return min(cap, max(backoff, retry_after)) if retry_after is not None else backoff
    return wait


class Kube:
    """One API server: plain dicts in and out, typed errors, retries, call counts, server-side dry-run."""

    def __init__(self, api_client, *, server: str, user: str, sleep: Callable[[float], None] = time.sleep,
                 attempts: int = DEFAULT_ATTEMPTS, page_size: int = DEFAULT_PAGE_SIZE):
        self._api = api_client
        self.server = server
        self.user = user
        self.page_size = page_size
        self.calls: Counter[str] = Counter()  # API requests sent, by verb (retries included)
        self.attempts = attempts
        # Hooks the executor sets: a line per retry ("attempt 2/6 failed; will retry in 4s: HTTP 503"),
        # and a record per write sent (verb, path, dryRun) for the audit log.
        self.on_retry: Callable[[str], None] | None = None
        self.on_write: Callable[[dict], None] | None = None
        # and the server's verdict on each dryRun write: (verb, path, None when accepted, else the error raised).
        self.on_dry_run: Callable[[str, str, Exception | None], None] | None = None
        self._retrying = Retrying(stop=stop_after_attempt(attempts), wait=_wait(BACKOFF_BASE_SECONDS,
                                  BACKOFF_CAP_SECONDS), retry=retry_if_exception_type(_Transient),
                                  sleep=sleep, reraise=True, before_sleep=self._retrying_note)

    def _retrying_note(self, state: RetryCallState) -> None:
        if self.on_retry is not None:
            wait = state.next_action.sleep if state.next_action else 0
            self.on_retry(f"attempt {state.attempt_number}/{self.attempts} failed; will retry in {wait:.0f}s: "
                          f"{state.outcome.exception()}")

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def get(self, path: str, query: dict | None = None) -> dict:
        """GET one object (or discovery document) as a dict; NotFound when it does not exist."""
        return self._request("get", path, query or {})

    def text(self, path: str, query: dict | None = None) -> str:
        """GET a plain-text subresource, such as a pod's log."""
        return self._request("get", path, query or {}, raw=True)

    def get_optional(self, path: str) -> dict | None:
        """GET, with a missing object (or an API group not served) as None."""
        try:
            return self.get(path)
        except NotFound:
            return None

    def list(self, path: str, *, label_selector: str | None = None, field_selector: str | None = None,
             page_size: int | None = None) -> list[dict]:
        """Every item of a collection, fetched page by page (limit + continue). When a continue
        token expires mid-way (410), the list is read again whole, as client-go's pager does."""
        query: dict = {}
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        items: list[dict] = []
        page_query = {**query, "limit": page_size or self.page_size}
        try:
            while True:
                page = self._request("list", path, page_query)
                items.extend(page.get("items") or [])
                token = (page.get("metadata") or {}).get("continue")
                if not token:
                    return items
                page_query = {**page_query, "continue": token}
        except _Expired as exc:
            if "continue" not in page_query:
                raise UserError(f"the API server at {self.server} answered 410 to list {path}: {exc}",
                                "try again") from None
            return self._request("list", path, query).get("items") or []

    # ---- writes: each takes dry_run="All" to have the server validate without persisting --------

    def create(self, path: str, body: dict, *, dry_run: str | None = None) -> dict:
        """POST to a collection; AlreadyExists when the name is taken."""
        return self._write("create", "POST", path, body, dry_run)

    def replace(self, path: str, body: dict, *, dry_run: str | None = None) -> dict:
        """PUT an object read earlier; Conflict when it changed since (resourceVersion)."""
        return self._write("update", "PUT", path, body, dry_run)

    def patch(self, path: str, body, *, patch_type: str = "merge", dry_run: str | None = None) -> dict:
        """PATCH with a merge (RFC 7386), strategic-merge or JSON (RFC 6902) patch."""
        content_type = {"merge": "application/merge-patch+json", "json": "application/json-patch+json",
                        "strategic": "application/strategic-merge-patch+json"}[patch_type]
        return self._write("patch", "PATCH", path, body, dry_run, content_type=content_type)

    def delete(self, path: str, *, dry_run: str | None = None, grace_period: int | None = None,
               uid: str | None = None, propagation: str | None = None) -> dict:
        """DELETE; with `uid`, only that incarnation of the object (Conflict if it was replaced)."""
        body: dict = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period is not None:
            body["gracePeriodSeconds"] = grace_period
        if uid:
            body["preconditions"] = {"uid": uid}
        if propagation:
            body["propagationPolicy"] = propagation
        if dry_run:
            # A DELETE with a body takes its options from the body alone: the apiserver never reads
            # ?dryRun= then (k8s.io/apiserver pkg/endpoints/handlers/delete.go), so a dry run in the
            # query would delete for real.
            body["dryRun"] = [dry_run]
        return self._write("delete", "DELETE", path, body, dry_run, in_query=False)

    def evict(self, namespace: str, name: str, *, dry_run: str | None = None,
              grace_period: int | None = None) -> dict:
        """POST an Eviction; TooManyRequests (not retried here) when a PodDisruptionBudget refuses."""
        body: dict = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": namespace}}
        if grace_period is not None:
            body["deleteOptions"] = {"gracePeriodSeconds": grace_period}
        if dry_run:
            # The eviction registry merges the query's dryRun into these options and refuses the two when
            # they differ (pkg/registry/core/pod/storage/eviction.go propagateDryRun): say it in both.
            body.setdefault("deleteOptions", {})["dryRun"] = [dry_run]
        return self._write("create", "POST", f"/api/v1/namespaces/{namespace}/pods/{name}/eviction", body, dry_run,
                           transient=TRANSIENT_STATUSES - {429})

    def _write(self, verb: str, method: str, path: str, body, dry_run: str | None, *,
               content_type: str = "application/json", transient=TRANSIENT_STATUSES, in_query: bool = True) -> dict:
        query = {"dryRun": dry_run} if dry_run and in_query else {}
        if method in ("POST", "PUT", "PATCH"):
            # An unknown or duplicate field is a bug in what we send: have the server refuse it (400) rather
            # than drop it with a warning. Servers before 1.25 ignore the parameter.
            query["fieldValidation"] = "Strict"
        if self.on_write is not None:
            self.on_write({"verb": verb, "path": path, "dryRun": dry_run})
        try:
            answer = self._request(verb, path, query, method=method, body=body, content_type=content_type,
                                   transient=transient)
        except Exception as exc:
            if dry_run and self.on_dry_run is not None:
                self.on_dry_run(verb, path, exc)
            raise
        if dry_run and self.on_dry_run is not None:
            self.on_dry_run(verb, path, None)
        return answer

    def _request(self, verb: str, path: str, query: dict, **send) -> dict:
        try:
            return self._retrying(self._send, verb, path, query, **send)
        except _Transient as exc:
            raise ApiUnreachable(f"the API server at {self.server} kept failing ({exc})",
                                 "check the control plane and try again") from None

    def _send(self, verb: str, path: str, query: dict, *, method: str = "GET", body=None,
              content_type: str = "application/json", transient=TRANSIENT_STATUSES, raw: bool = False):
        self.calls[verb] += 1
        headers = {"Accept": "*/*" if raw else "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        request = self._api.param_serialize(method, path, query_params=list(query.items()), header_params=headers,
                                            body=body, auth_settings=["BearerToken"])
        try:
            response = self._api.call_api(*request, _request_timeout=REQUEST_TIMEOUT)
            body = response.read()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if _is_refused(exc):
                # Nothing listens there: retrying will not help, say so at once.
                raise ApiUnreachable(f"cannot reach the API server at {self.server}",
                                     "check the kubeconfig's server URL, VPN and network") from None
            raise _Transient(f"connection error: {type(exc).__name__}") from None
        except ApiException as exc:  # raised by the REST layer for some failures
            response, body = exc, (exc.body or b"")
        status = response.status
        if 200 <= status < 300:
            return body.decode(errors="replace") if raw else json.loads(body or b"{}")
        self._raise_for(status, verb, path, body, _header(response, "Retry-After"), transient)
        raise AssertionError("unreachable")

    def _raise_for(self, status: int, verb: str, path: str, body, retry_after: str | None,
                   transient=TRANSIENT_STATUSES) -> None:
        message = _status_message(body)
        if status in transient:
            raise _Transient(f"HTTP {status}", _seconds(retry_after))
        if status == 429:  # an eviction's causes name the PodDisruptionBudget and its numbers
            causes = "; ".join(_status_causes(body))
            raise TooManyRequests(f"{message or 'too many requests'}{' (' + causes + ')' if causes else ''}",
                                  _seconds(retry_after))
        if status == 409:
            reason = _status_reason(body)
            raise (AlreadyExists if reason == "AlreadyExists" else Conflict)(message or f"conflict on {path}")
        if status in (400, 422):
            raise Rejected(f"the API server refused to {verb} {path}: {message or status}",
                           "this is likely a bug in the plan or the tool; report it with the message")
        resource = _resource_of(path)
        if status == 401:
            raise Unauthorized(f"the API server at {self.server} refused the credentials of {self.user}",
                               "refresh the kubeconfig's token or certificate")
        if status == 403 and "violates PodSecurity" in message:
            namespace = _namespace_of(path)
            raise AdmissionRefused(f"PodSecurity refused to {verb} {resource} in namespace {namespace}: {message}",
                                   f"allow privileged pods there: kubectl label namespace {namespace} "
                                   "pod-security.kubernetes.io/enforce=privileged --overwrite (or exempt it in the "
                                   "apiserver's PodSecurity AdmissionConfiguration)")
        if status == 403 and ("NamespaceTerminating" in _status_cause_types(body)
                              or "because it is being terminated" in message):
            namespace = _namespace_of(path)
            raise NamespaceTerminating(f"namespace {namespace} is being deleted, so it takes nothing new: {message}",
                                       f"wait until `kubectl get namespace {namespace}` finds nothing (or see what "
                                       "finalizers hold it), then run again")
        if status == 403:
            raise Forbidden(f"user {self.user} may not {verb} {resource} ({message or 'forbidden'})",
                            f"grant {verb} on {resource}, e.g. run with a cluster-admin kubeconfig")
        if status == 410:
            raise _Expired(message)
        if status == 404:
            raise NotFound(f"{path} was not found on {self.server}", "check the name and namespace")
        raise UserError(f"the API server at {self.server} answered HTTP {status} to {verb} {path}"
                        f"{': ' + message if message else ''}", "check the server version and its logs")


def _is_refused(exc: BaseException) -> bool:
    seen = exc
    for _ in range(5):
        if isinstance(seen, ConnectionRefusedError) or "Connection refused" in str(seen):
            return True
        seen = getattr(seen, "reason", None) or seen.__cause__ or seen.__context__
        if seen is None:
            return False
    return False


def _header(response, name: str) -> str | None:
    headers = getattr(response, "headers", None) or {}
    return headers.get(name)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP-date Retry-After: fall back to our own backoff


def _status_reason(body) -> str:
    try:
        return str(json.loads(body).get("reason", ""))
    except (ValueError, TypeError, AttributeError):
        return ""


def _status_causes(body) -> list[str]:
    try:
        causes = (json.loads(body).get("details") or {}).get("causes") or []
    except (ValueError, TypeError, AttributeError):
        return []
    return [c["message"] for c in causes if isinstance(c, dict) and c.get("message")]


def _status_cause_types(body) -> list[str]:
    try:
        causes = (json.loads(body).get("details") or {}).get("causes") or []
    except (ValueError, TypeError, AttributeError):
        return []
    return [str(c.get("reason", "")) for c in causes if isinstance(c, dict)]


def _namespace_of(path: str) -> str:
    parts = path.strip("/").split("/")
    return parts[parts.index("namespaces") + 1] if "namespaces" in parts[:-1] else ""


def _status_message(body) -> str:
    try:
        return str(json.loads(body).get("message", ""))
    except (ValueError, TypeError, AttributeError):
        return ""


def _resource_of(path: str) -> str:
    """The resource a path names, for messages: /api/v1/namespaces/x/pods/y → pods."""
    parts = [p for p in path.split("/") if p]
    rest = parts[2:] if parts[:1] == ["api"] else parts[3:]
    if rest[:1] == ["namespaces"] and len(rest) > 2:
        rest = rest[2:]
    return rest[0] if rest else path
