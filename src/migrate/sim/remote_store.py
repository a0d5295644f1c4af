"""The Store interface over a real Kubernetes API server, for the simulator's node side (sim/attach.py).

The kubelets, agents, CNI IPAM, the oracle and the probe were written against `store.Store`: they read
objects (`find`, `get`, `items`), write them (`create`, `mutate`, `delete`), react to `WatchEvent`s
delivered to `listeners`, and run under `lock`. `RemoteStore` gives them the same interface over a real
API server, the way client-go gives a real kubelet an informer cache and a clientset:

- reads come from a local cache that a reflector per resource type fills: a paginated LIST, then a WATCH
  from its resourceVersion, again from scratch on 410 Gone (k8s.io/client-go tools/cache/reflector.go
  ListAndWatch). Types nobody caches are read straight from the API;
- writes go to the API: `create` is a POST, `mutate` a read-modify-PUT with the object's resourceVersion
  as precondition, retried on 409 Conflict from a fresh GET (client-go util/retry RetryOnConflict),
  through the status subresource where the component writes status; `delete` sends DeleteOptions in the
  body. What the server answers goes into the cache at once, so a component reads its own writes; the
  watch's later copy of the same resourceVersion, or anything older, is ignored, and a deleted object's
  stale events cannot bring it back;
- every change the cache takes is handed to `listeners` as a `WatchEvent`, with the previous object as
  `old`. Top-level parts that did not change are the very objects of the previous version (a status
  write keeps the same `spec` object), which is what `Store` guarantees and what the kubelet relies on
  to tell its own status writes from spec changes.

Calico's resource types appear when their CRDs are Established (a reflector on CustomResourceDefinitions
adds them to the registry); a cached type is registered only once its first LIST is in the cache, so no
component ever mistakes an unsynced cache for an empty cluster (client-go's HasSynced).
"""
from __future__ import annotations

import json
import logging
import random
import ssl
import threading
import time
import urllib.parse
import uuid
from typing import Callable, Iterator

from . import errors
from .resources import ResourceRegistry, ResourceType, types_from_crd
from .store import WatchEvent, clone

log = logging.getLogger("migrate.sim.remote")

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
LIST_PAGE = 500
WATCH_SECONDS = (240, 480)  # reflector.go: a random timeout between minWatchTimeout (5 min) and twice that
REQUEST_TIMEOUT = 30.0
CONFLICT_RETRIES = 10
RECONNECT_DELAY = 1.0


# ---- HTTP ---------------------------------------------------------------------------------------

class KubeconfigError(ValueError):
    """The kubeconfig cannot be read or used (missing, not YAML, no such context, no server)."""


class RemoteApi:
    """Requests to the API server a kubeconfig names: its TLS settings and credentials, kept-alive
    connections. Non-2xx answers raise `errors.ApiError` with the server's own code, reason and message."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None, *, user_agent: str = "migrate-sim"):
        import urllib3
        from kubernetes import client, config

        configuration = client.Configuration()
        try:
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
        except Exception as exc:  # noqa: BLE001 - ConfigException, a YAML or OS error: all say the file is unusable
            raise KubeconfigError(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__) from exc
        self.configuration = configuration
        self.server = configuration.host.rstrip("/")
        pool_args = {"cert_reqs": ssl.CERT_REQUIRED if configuration.verify_ssl else ssl.CERT_NONE,
                     "ca_certs": configuration.ssl_ca_cert, "cert_file": configuration.cert_file,
                     "key_file": configuration.key_file, "maxsize": 16, "block": False}
        if getattr(configuration, "assert_hostname", None) is not None:
            pool_args["assert_hostname"] = configuration.assert_hostname
        if getattr(configuration, "tls_server_name", None):
            pool_args["server_hostname"] = configuration.tls_server_name
        self._pool = urllib3.PoolManager(**pool_args)
        self._urllib3 = urllib3
        self.user_agent = user_agent
        self.requests = 0
        # Warning headers the server answered with (e.g. fields it does not know and dropped), counted by
        # (method, resource, text): what the simulated components send that this server's release lacks.
        self.warnings: dict[tuple[str, str, str], int] = {}

    def _headers(self, content_type: str | None = None) -> dict:
        configuration = self.configuration
        if configuration.refresh_api_key_hook is not None:
            configuration.refresh_api_key_hook(configuration)
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        # the client's own auth settings (their key names differ between client releases)
        for setting in configuration.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"].title()] = setting["value"]
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def url(self, path: str, query: dict | None = None) -> str:
        query = {k: v for k, v in (query or {}).items() if v is not None}
        return self.server + path + ("?" + urllib.parse.urlencode(query) if query else "")

    def request(self, method: str, path: str, *, query: dict | None = None, body=None,
                content_type: str = "application/json", timeout: float = REQUEST_TIMEOUT):
        """The decoded answer (None when empty). Connection failures and 429s are retried a few times, and
        5xx answers to reads; a write is not repeated after the server answered it."""
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(4):
            self.requests += 1
            try:
                response = self._pool.request(method, self.url(path, query), body=data,
                                              headers=self._headers(content_type if data is not None else None),
                                              timeout=self._urllib3.Timeout(connect=10.0, read=timeout), retries=False)
            except self._urllib3.exceptions.HTTPError as exc:
                if attempt == 3:
                    raise errors.ApiError(503, "ServiceUnavailable", f"{method} {path}: {exc}") from exc
                time.sleep(0.5 * (attempt + 1))
                continue
            status, payload = response.status, response.data
            for warning in response.headers.getlist("Warning") if hasattr(response.headers, "getlist") else []:
                key = (method, rtype_of(path), warning)
                self.warnings[key] = self.warnings.get(key, 0) + 1
            if 200 <= status < 300:
                return json.loads(payload) if payload else None
            error = _api_error(status, payload, response.headers)
            if attempt < 3 and (status == 429 or (status >= 500 and method == "GET")):
                time.sleep(min(5.0, float(error.retry_after or 0.5 * (attempt + 1))))
                continue
            raise error
        raise AssertionError("unreachable")

    def stream(self, path: str, query: dict, on_response: Callable[[object], None] | None = None,
               read_timeout: float = 600.0) -> Iterator[dict]:
        """The lines of a watch, decoded, until the server ends it."""
        response = self._pool.request("GET", self.url(path, query), headers=self._headers(), preload_content=False,
                                      timeout=self._urllib3.Timeout(connect=10.0, read=read_timeout), retries=False)
        try:
            if on_response is not None:
                on_response(response)
            if response.status != 200:
                raise _api_error(response.status, response.read(), response.headers)
            buffer = b""
            for chunk in response.stream(8192, decode_content=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
            if buffer.strip():
                yield json.loads(buffer)
        finally:
            response.release_conn()

    def list_all(self, rtype: ResourceType, namespace: str | None = None) -> tuple[list[dict], str]:
        """Every object of a type, page by page, and the list's resourceVersion."""
        items, token = [], None
        while True:
            answer = self.request("GET", rtype.path(namespace), query={"limit": LIST_PAGE, "continue": token})
            for item in answer.get("items") or []:
                item.setdefault("apiVersion", rtype.api_version)
                item.setdefault("kind", rtype.kind)
                items.append(item)
            token = (answer.get("metadata") or {}).get("continue")
            if not token:
                return items, (answer.get("metadata") or {}).get("resourceVersion", "")

    def close(self) -> None:
        self._pool.clear()


def rtype_of(path: str) -> str:
    """'/api/v1/namespaces/demo/pods/web-1/status' -> 'pods/status'; '/apis/g/v1/ippools/x' -> 'ippools'."""
    parts = [p for p in path.split("?")[0].split("/") if p]
    parts = parts[2:] if parts[:1] == ["api"] else parts[3:]
    if parts[:1] == ["namespaces"] and len(parts) > 2:
        parts = parts[2:]
    return "/".join(parts[:1] + parts[2:3])


def _api_error(status: int, payload: bytes, headers) -> errors.ApiError:
    try:
        body = json.loads(payload) if payload else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict) or body.get("kind") != "Status":
        body = {"message": (payload or b"").decode(errors="replace").strip() or f"HTTP {status}"}
    retry_after = None
    try:
        retry_after = int(headers.get("Retry-After")) if headers and headers.get("Retry-After") else None
    except ValueError:
        pass
    return errors.ApiError(int(body.get("code") or status), body.get("reason", ""), body.get("message", ""),
                           body.get("details"), retry_after=retry_after)


def _rv(obj: dict | None) -> int:
    """An object's resourceVersion as a number (etcd revisions; opaque to clients, ordered per object)."""
    try:
        return int((obj or {}).get("metadata", {}).get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0


def _canonical(obj: dict) -> str:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in ("resourceVersion", "managedFields")}
    return json.dumps({**obj, "metadata": meta}, sort_keys=True)


# ---- the store -----------------------------------------------------------------------------------

class _Gone(Exception):
    """The watch's resourceVersion was compacted away: list again."""


class Reflector:
    """LIST then WATCH one resource type into the store's cache, on a thread of its own."""

    def __init__(self, store: "RemoteStore", rtype: ResourceType, on_synced: Callable[[], None] | None = None):
        self.store, self.rtype, self.on_synced = store, rtype, on_synced
        self.rv: str | None = None
        self.synced = False
        self._stop = threading.Event()
        self._response = None
        self._thread = threading.Thread(target=self._run, name=f"reflector-{rtype.plural}", daemon=True)

    def start(self, sync_now: bool = True) -> None:
        """sync_now: the first LIST happens here, before this returns."""
        if sync_now:
            self._relist()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        response = self._response
        if response is not None:
            try:
                getattr(response, "shutdown", response.close)()
            except Exception:  # noqa: BLE001 - the connection may already be gone
                pass

    def _relist(self) -> None:
        items, rv = self.store.api.list_all(self.rtype)
        self.store._replace(self.rtype, items, rv)
        self.rv = rv
        if not self.synced:
            self.synced = True
            if self.on_synced is not None:
                self.on_synced()

    def _run(self) -> None:
        rng = random.Random()
        while not self._stop.is_set():
            try:
                if self.rv is None:
                    self._relist()
                self._watch(rng.randint(*WATCH_SECONDS))
            except _Gone:
                self.rv = None
            except Exception as exc:  # noqa: BLE001 - a reflector logs and starts over, as client-go's does
                if self._stop.is_set():
                    return
                if isinstance(exc, errors.ApiError) and exc.code == 404 and self.rtype.group:
                    self.rv = None  # a CRD on its way out; the CRD reflector stops this one
                self.store._report(f"reflector {self.rtype.plural}", exc)
                self._stop.wait(RECONNECT_DELAY)

    def _watch(self, seconds: int) -> None:
        query = {"watch": "true", "resourceVersion": self.rv, "allowWatchBookmarks": "true",
                 "timeoutSeconds": seconds}
        for event in self.store.api.stream(self.rtype.path(), query, self._remember, read_timeout=seconds + 60):
            if self._stop.is_set():
                return
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise _Gone(obj.get("message"))
                raise errors.ApiError(int(obj.get("code") or 500), obj.get("reason", ""), obj.get("message", ""))
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                obj.setdefault("apiVersion", self.rtype.api_version)
                obj.setdefault("kind", self.rtype.kind)
                self.store._apply(self.rtype, kind, obj)
            if rv:
                self.rv = rv

    def _remember(self, response) -> None:
        self._response = response


class RemoteStore:
    """store.Store's interface over a real API server (see the module's docstring)."""

    def __init__(self, api: RemoteApi, clock, registry: ResourceRegistry, seed: int = 0):
        self.api = api
        self.clock = clock
        self.registry = registry
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._objects: dict[tuple[str, str], dict[tuple[str, str], dict]] = {}
        self._sorted: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self._tombstones: dict[tuple[str, str], dict[tuple[str, str], int]] = {}
        self._written: dict[tuple, tuple[int, str]] = {}  # (type, key, subresource) -> (rv answered, what was sent)
        self._reflectors: dict[tuple[str, str], Reflector] = {}
        self._rv = 1
        self._random = random.Random(seed)
        self.listeners: list[Callable[[WatchEvent], None]] = []
        self.admission: list = []  # the real server admits; kept for Store's interface
        self.errors = None  # an ErrorLog (loop.py): what reflectors run into
        self.closed = False
        self.cached_plurals: dict[str, set[str]] = {}  # CRD group -> plurals to cache once served

    # ---- Store's helpers -----------------------------------------------------------------------
    @property
    def lock(self) -> threading.RLock:
        return self._lock

    @property
    def resource_version(self) -> int:
        """A counter of the changes this cache took (what the loop waits on), not the server's."""
        return self._rv

    def new_uid(self) -> str:
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def random(self) -> random.Random:
        return self._random

    @staticmethod
    def _obj_key(rtype: ResourceType, namespace: str | None, name: str) -> tuple[str, str]:
        return ((namespace or "") if rtype.namespaced else "", name)

    def _report(self, component: str, exc: BaseException) -> None:
        if self.errors is not None:
            self.errors.record(component, exc)
        else:
            log.warning("%s: %s", component, exc)

    # ---- reflectors --------------------------------------------------------------------------
    def cache(self, rtype: ResourceType, *, register: bool = False) -> None:
        """Keep every object of this type in the cache: LIST now, then WATCH on a thread.
        register: add the type to the registry once the first LIST is in (a CRD's type)."""
        with self._lock:
            if rtype.key in self._reflectors:
                return
            reflector = Reflector(self, rtype, (lambda: self.registry.add(rtype)) if register else None)
            self._reflectors[rtype.key] = reflector
        try:
            reflector.start()
        except BaseException:
            with self._lock:
                self._reflectors.pop(rtype.key, None)
            raise

    def follow_crds(self, cached: dict[str, set[str]]) -> None:
        """Serve the kinds of CRDs as they become Established; keep those of `cached` (group -> plurals) in
        the cache, read the others straight from the API."""
        self.cached_plurals = {g: set(p) for g, p in cached.items()}
        crd_type = self.registry.by_key(CRD_KEY)
        self.listeners.insert(0, self._on_crd_event)
        self.cache(crd_type)

    def _on_crd_event(self, event: WatchEvent) -> None:
        if event.key != CRD_KEY:
            return
        spec = event.obj.get("spec") or {}
        group, plural = spec.get("group", ""), (spec.get("names") or {}).get("plural", "")
        if event.type == "DELETED":
            self.registry.remove(group, plural)
            reflector = self._reflectors.pop((group, plural), None)
            if reflector is not None:
                reflector.stop()
            self._drop_type((group, plural))
            return
        established = any(c.get("type") == "Established" and c.get("status") == "True"
                          for c in (event.obj.get("status") or {}).get("conditions") or [])
        if not established:
            return
        served = [t for t in types_from_crd(event.obj) if t.version == _storage_version(spec)] or \
            types_from_crd(event.obj)[:1]
        if not served:
            return
        rtype = served[0]
        if plural in self.cached_plurals.get(group, ()):
            if (group, plural) not in self._reflectors:
                # Not on this (the CRD reflector's) thread: its first LIST would hold up every other CRD event.
                threading.Thread(target=self._cache_quietly, args=(rtype,), daemon=True,
                                 name=f"sync-{plural}").start()
        elif self.registry.lookup(rtype.group, rtype.version, rtype.plural) is None:
            self.registry.add(rtype)

    def _cache_quietly(self, rtype: ResourceType) -> None:
        for attempt in range(30):
            try:
                self.cache(rtype, register=True)
                return
            except Exception as exc:  # noqa: BLE001 - an Established CRD is served within moments
                if attempt == 29 or self.closed:
                    self._report(f"reflector {rtype.plural}", exc)
                    return
                time.sleep(RECONNECT_DELAY)

    def synced(self, key: tuple[str, str]) -> bool:
        reflector = self._reflectors.get(key)
        return reflector is not None and reflector.synced

    # ---- the cache -----------------------------------------------------------------------------
    def _emit(self, rtype_key, kind: str, obj: dict, old: dict | None) -> None:
        self._rv += 1
        event = WatchEvent(self._rv, kind, rtype_key, obj, old)
        for listener in list(self.listeners):
            listener(event)
        self._changed.notify_all()

    def _apply(self, rtype: ResourceType, kind: str, obj: dict) -> None:
        """One change seen (by a watch or in a write's answer): into the cache unless it is older than what
        the cache holds for that object."""
        meta = obj.get("metadata") or {}
        key = self._obj_key(rtype, meta.get("namespace"), meta.get("name", ""))
        rv = _rv(obj)
        with self._lock:
            bucket = self._objects.setdefault(rtype.key, {})
            tombs = self._tombstones.setdefault(rtype.key, {})
            old = bucket.get(key)
            if kind == "DELETED":
                if old is None or _rv(old) > rv:
                    tombs[key] = max(rv, tombs.get(key, 0))
                    return
                del bucket[key]
                self._sorted.pop(rtype.key, None)
                tombs[key] = rv
                for subresource in (None, "status"):
                    self._written.pop((rtype.key, key, subresource), None)
                self._emit(rtype.key, "DELETED", obj, old)
                return
            if old is not None and _rv(old) >= rv:
                return
            if old is None and tombs.get(key, -1) >= rv:
                return  # an event from before this object was deleted
            tombs.pop(key, None)
            if old is not None:
                for part, value in obj.items():
                    if part in old and old[part] == value:
                        obj[part] = old[part]  # unchanged parts stay the same objects, as Store keeps them
            bucket[key] = obj
            if old is None:
                self._sorted.pop(rtype.key, None)
            self._emit(rtype.key, "ADDED" if old is None else "MODIFIED", obj, old)

    def _replace(self, rtype: ResourceType, items: list[dict], list_rv: str = "") -> None:
        """A fresh LIST: what changed since the cache last saw it, as events (DeltaFIFO.Replace). An object
        the cache got from a write answered after the LIST was served stays."""
        with self._lock:
            bucket = self._objects.setdefault(rtype.key, {})
            listed = {}
            for item in items:
                meta = item["metadata"]
                listed[self._obj_key(rtype, meta.get("namespace"), meta["name"])] = item
            newest = _rv({"metadata": {"resourceVersion": list_rv}})
            for key, old in list(bucket.items()):
                if key not in listed and not (newest and _rv(old) > newest):
                    gone = clone(old)
                    self._apply(rtype, "DELETED", gone)
            for item in listed.values():
                self._apply(rtype, "ADDED", item)

    def _drop_type(self, key: tuple[str, str]) -> None:
        """A CRD went away: so did its objects (each seen to go)."""
        with self._lock:
            for obj in list(self._objects.get(key, {}).values()):
                self._emit(key, "DELETED", obj, obj)
            self._objects.pop(key, None)
            self._sorted.pop(key, None)
            self._tombstones.pop(key, None)

    def _cached(self, rtype: ResourceType) -> bool:
        return self.synced(rtype.key)

    # ---- reads ---------------------------------------------------------------------------------
    def find(self, rtype: ResourceType, namespace: str | None, name: str) -> dict | None:
        if self._cached(rtype):
            with self._lock:
                return self._objects.get(rtype.key, {}).get(self._obj_key(rtype, namespace, name))
        try:
            return self._fetch(rtype, namespace, name)
        except errors.ApiError as exc:
            if exc.code == 404:
                return None
            raise

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> dict:
        obj = self.find(rtype, namespace, name)
        if obj is None:
            raise errors.not_found(rtype.plural, name, rtype.group)
        return obj

    def items(self, rtype: ResourceType, namespace: str | None = None) -> list[dict]:
        if not self._cached(rtype):
            objects, _ = self.api.list_all(rtype, namespace if rtype.namespaced else None)
            return sorted(objects, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        with self._lock:
            bucket = self._objects.get(rtype.key, {})
            keys = self._sorted.get(rtype.key)
            if keys is None:
                keys = self._sorted[rtype.key] = sorted(bucket)
            return [bucket[k] for k in keys if not namespace or k[0] == namespace]

    def _fetch(self, rtype: ResourceType, namespace: str | None, name: str) -> dict:
        obj = self.api.request("GET", rtype.path(namespace, name))
        obj.setdefault("apiVersion", rtype.api_version)
        obj.setdefault("kind", rtype.kind)
        return obj

    # ---- writes --------------------------------------------------------------------------------
    def _took(self, rtype: ResourceType, obj: dict) -> dict:
        """A write's answer: into the cache (read your writes), handed back."""
        if isinstance(obj, dict) and obj.get("metadata"):
            obj.setdefault("apiVersion", rtype.api_version)
            obj.setdefault("kind", rtype.kind)
            if self._cached(rtype):
                self._apply(rtype, "MODIFIED", obj)
                with self._lock:
                    meta = obj["metadata"]
                    return self._objects.get(rtype.key, {}).get(
                        self._obj_key(rtype, meta.get("namespace"), meta["name"]), obj)
        return obj

    def create(self, rtype: ResourceType, obj: dict, *, dry_run: bool = False, **_ignored) -> dict:
        body = clone(obj)
        body["apiVersion"], body["kind"] = rtype.api_version, rtype.kind
        meta = body.setdefault("metadata", {})
        namespace = (meta.get("namespace") or "default") if rtype.namespaced else None
        with self._lock:
            answer = self.api.request("POST", rtype.path(namespace), body=body,
                                      query={"dryRun": "All"} if dry_run else None)
            return answer if dry_run else self._took(rtype, answer)

    def update(self, rtype: ResourceType, obj: dict, *, subresource: str | None = None, dry_run: bool = False,
               check_rv: bool = True, **_ignored) -> dict:
        body = clone(obj)
        meta = body.setdefault("metadata", {})
        if not check_rv:
            meta.pop("resourceVersion", None)
        path = rtype.path(meta.get("namespace"), meta["name"]) + (f"/{subresource}" if subresource else "")
        with self._lock:
            answer = self.api.request("PUT", path, body=body, query={"dryRun": "All"} if dry_run else None)
            return answer if dry_run else self._took(rtype, answer)

    def mutate(self, rtype: ResourceType, namespace: str | None, name: str, change: Callable[[dict], None], *,
               subresource: str | None = None, dry_run: bool = False, shallow: bool = False) -> dict:
        """Read-modify-write: the change applied to the cached object and PUT with its resourceVersion; on a
        conflict, to the object as the server has it now. Nothing is sent when the change changes nothing,
        or sends again exactly what the server already answered for this object's current version."""
        key = self._obj_key(rtype, namespace, name)
        written_key = (rtype.key, key, subresource)
        conflict = None
        with self._lock:
            for attempt in range(CONFLICT_RETRIES):
                base = self.find(rtype, namespace, name) if attempt == 0 else None
                if base is None:
                    base = self._fetch(rtype, namespace, name)
                current = clone(base)
                change(current)
                if current == base:
                    return base
                sent = _canonical(current)
                if self._written.get(written_key) == (_rv(base), sent):
                    return base  # the server normalised our last write to this: the same write again is a no-op
                try:
                    answer = self.update(rtype, current, subresource=subresource, dry_run=dry_run)
                except errors.ApiError as exc:
                    if exc.code == 409 and exc.reason == "Conflict":
                        conflict = exc
                        continue
                    raise
                if not dry_run:
                    self._written[written_key] = (_rv(answer), sent)
                return answer
        raise conflict

    def delete(self, rtype: ResourceType, namespace: str | None, name: str, *, grace_period: int | None = None,
               propagation: str | None = None, preconditions: dict | None = None, dry_run: bool = False) -> dict:
        options: dict = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if grace_period is not None:
            options["gracePeriodSeconds"] = grace_period
        if propagation:
            options["propagationPolicy"] = propagation
        if preconditions:
            options["preconditions"] = dict(preconditions)
        if dry_run:
            options["dryRun"] = ["All"]
        with self._lock:
            answer = self.api.request("DELETE", rtype.path(namespace, name), body=options)
            if dry_run or not isinstance(answer, dict) or not answer.get("metadata", {}).get("name"):
                return answer
            meta = answer["metadata"]
            if self._cached(rtype) and not meta.get("finalizers") and (grace_period == 0 or (
                    not meta.get("deletionTimestamp") or not meta.get("deletionGracePeriodSeconds"))):
                answer.setdefault("apiVersion", rtype.api_version)
                answer.setdefault("kind", rtype.kind)
                self._apply(rtype, "DELETED", answer)  # gone now: its watch events are history
                return answer
            return self._took(rtype, answer)

    def force_remove(self, rtype: ResourceType, namespace: str | None, name: str) -> dict | None:
        try:
            return self.delete(rtype, namespace, name, grace_period=0)
        except errors.ApiError as exc:
            if exc.code == 404:
                return None
            raise

    # ---- waiting, closing ----------------------------------------------------------------------
    def wait_for_change(self, after_rv: int, timeout: float) -> bool:
        with self._lock:
            if self._rv > after_rv:
                return True
            self._changed.wait(timeout)
            return self._rv > after_rv

    def close(self) -> None:
        with self._lock:
            self.closed = True
            reflectors = list(self._reflectors.values())
            self._changed.notify_all()
        for reflector in reflectors:
            reflector.stop()
        self.api.close()


def _storage_version(spec: dict) -> str:
    return next((v["name"] for v in spec.get("versions") or [] if v.get("storage")), "")
