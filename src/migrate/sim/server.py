"""The simulated cluster's HTTP API on loopback, as the official client and kubectl expect it.

HTTP only here: paths to requests, bearer tokens to users, faults, JSON and chunked
watch streams. What each request does is in api.py.
"""
from __future__ import annotations

import errno
import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from . import discovery, errors, openapi
from .field_validation import warning_headers
from . import request_scope
from .api import Request
from .rbac import User

INSECURE_PORT_USER = User("system:unsecured", ("system:masters", "system:authenticated"))
_VERB_BY_METHOD = {"POST": "create", "PUT": "update", "PATCH": "patch"}


class PortInUse(Exception):
    def __init__(self, port: int):
        super().__init__(f"port {port} on 127.0.0.1 is already in use; choose another with --port or use --port 0")
        self.port = port


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    verb: str
    resource: str
    status: int
    user: str
    dry_run: bool

    @property
    def is_write(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH", "DELETE") and not self.path.startswith("/admin")

    def as_dict(self) -> dict:
        return {"method": self.method, "path": self.path, "verb": self.verb, "resource": self.resource,
                "status": self.status, "user": self.user, "dryRun": self.dry_run}


class RequestLog:
    """Every API request, so tests can say 'nothing was written' and benchmarks can count calls."""

    def __init__(self):
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def writes(self, include_dry_run: bool = False) -> list[RequestRecord]:
        return [r for r in self.records() if r.is_write and (include_dry_run or not r.dry_run)
                and r.resource != "selfsubjectaccessreviews"]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY a keep-alive client
    # waits ~40 ms for each response (Nagle against delayed ACKs).
    disable_nagle_algorithm = True
    server: "SimHTTPServer"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")

    # ---- plumbing ----------------------------------------------------------------
    _pending: dict | None = None  # this request's log record, until the response goes out
    _warnings: list | None = None  # this request's warnings (Request.warnings), sent as Warning headers
    _response_code = 0

    def send_response(self, code, message=None):
        self._response_code = code
        super().send_response(code, message)

    def end_headers(self):
        # The warning recorder adds its headers to whatever response goes out, errors included
        # (k8s.io/apiserver pkg/endpoints/filters/warning.go); one header per warning.
        for value in warning_headers(self._warnings or []):
            self.send_header("Warning", value)
        self._warnings = None
        # What admission recorded for this request (pod_security.py: PodSecurity warn mode)
        for text in request_scope.take_warnings():
            self.send_header("Warning", request_scope.warning_header(text))
        # Log the request before the client can see the answer, so whoever reads the request
        # log right after a call finds the call in it.
        self._commit_record(self._response_code)
        super().end_headers()

    def _commit_record(self, status: int) -> None:
        record, self._pending = self._pending, None
        if record is not None:
            record["status"] = status
            self.server.sim.request_log.add(RequestRecord(**record))

    def _send_json(self, code: int, body, extra_headers: dict | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_text(self, code: int, text: str) -> None:
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, exc: errors.ApiError) -> None:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        self._send_json(exc.code, exc.status(), headers)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _user(self) -> User | None:
        """The caller. A presented token must be valid; a request with none is served as the
        old insecure port served it (kubectl sends no credentials over plain HTTP: client-go
        applies a kubeconfig's auth only to TLS transports)."""
        auth = self.headers.get("Authorization", "")
        if not auth:
            return INSECURE_PORT_USER
        if not auth.startswith("Bearer "):
            return None
        return self.server.sim.users.get(auth[len("Bearer "):].strip())

    # ---- dispatch ----------------------------------------------------------------
    def _handle(self, method: str) -> None:
        sim = self.server.sim
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        body = self._read_body()
        user = self._user()
        record = {"method": method, "path": url.path, "verb": "", "resource": "", "status": 0,
                  "user": user.name if user else "", "dry_run": params.get("dryRun") == "All"}
        self._pending = record
        scope = request_scope.begin(user.name if user else "")
        self._warnings = None
        try:
            if user is None:
                raise errors.ApiError(401, "Unauthorized", "Unauthorized")
            if url.path.startswith("/admin/"):
                record["status"] = self._admin(method, url.path, params, body, user)
                return
            parts = [p for p in url.path.split("/") if p]
            if self._discovery(method, url.path, parts):
                record["status"] = 200
                return
            req, watch = self._resource_request(method, parts, params, body, user)
            record["verb"], record["resource"] = req.verb, req.rtype.plural
            record["dry_run"] = req.dry_run
            fault = sim.faults.draw_api_fault(method)
            latency = sim.faults.settings.latency_ms
            if latency:
                time.sleep(latency / 1000.0)
            if fault and fault.kind == "drop":
                record["status"] = -1
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault:
                retry = sim.faults.settings.retry_after_seconds if fault.code in (429, 503) else None
                reason = {429: "TooManyRequests", 503: "ServiceUnavailable"}.get(fault.code, "InternalError")
                raise errors.ApiError(fault.code, reason, f"injected fault: the server returned {fault.code}",
                                      retry_after=retry)
            sim.api.authorize(req)
            if req.verb in ("create", "update", "patch", "delete", "deletecollection"):
                req.check_dry_run()
            if watch:
                record["status"] = 200
                self._watch(req)
                return
            record["status"] = self._serve(req)
        except errors.ApiError as exc:
            record["status"] = exc.code
            self._send_error(exc)
        except (BrokenPipeError, ConnectionResetError):
            record["status"] = record["status"] or -1
        except Exception as exc:  # an unexpected bug must answer 500, not hang the client
            record["status"] = 500
            self._send_error(errors.ApiError(500, "InternalError", f"simulator error: {exc!r}"))
        finally:
            request_scope.end(scope)
            if self._pending is not None:  # no response went out (a dropped connection)
                self._commit_record(record["status"])

    def _discovery(self, method: str, path: str, parts: list[str]) -> bool:
        sim = self.server.sim
        if method != "GET":
            return False
        registry = sim.registry
        if path in ("/healthz", "/livez", "/readyz"):
            self._send_text(200, "ok")
            return True
        # The official Python client asks for "/version/"; go-restful serves the WebService
        # root with or without the slash.
        if path in ("/version", "/version/"):
            self._send_json(200, discovery.server_version(sim.scenario.kubernetes_version))
            return True
        body = None
        if parts == ["api"]:
            body = discovery.api_versions(f"127.0.0.1:{self.server.server_address[1]}")
        elif parts == ["api", "v1"]:
            body = discovery.api_resource_list(registry, "", "v1")
        elif parts == ["apis"]:
            body = discovery.api_group_list(registry)
        elif len(parts) == 2 and parts[0] == "apis":
            body = discovery.api_group(registry, parts[1])
            if body is None:
                raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        elif len(parts) == 3 and parts[0] == "apis":
            body = discovery.api_resource_list(registry, parts[1], parts[2])
            if body is None:
                raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        elif parts == ["openapi", "v3"]:
            body = openapi.root_document(registry)
        elif len(parts) >= 4 and parts[:2] == ["openapi", "v3"]:
            group, version = ("", parts[3]) if parts[2] == "api" else (parts[3], parts[4] if len(parts) > 4 else "")
            body = openapi.group_version_document(registry, group, version)
            if body is None:
                raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        elif parts == ["openapi", "v2"]:
            self._openapi_v2()
            return True
        elif parts and parts[0] in ("openapi", "metrics"):
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        if body is None:
            return False
        self._send_json(200, body)
        return True

    def _openapi_v2(self) -> None:
        """k8s.io/kube-openapi pkg/handler: protobuf to whoever accepts it (client-go's discovery sends
        application/com.github.proto-openapi.spec.v2@v1.0+protobuf), JSON otherwise; the content types are the
        ones a v1.26.5 apiserver answers with."""
        version = self.server.sim.scenario.kubernetes_version
        if "application/com.github.proto-openapi.spec.v2" in self.headers.get("Accept", ""):
            data, content_type = openapi.v2_protobuf(version), "application/octet-stream"
        else:
            data, content_type = json.dumps(openapi.v2_document(version)).encode(), "text/plain; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _resource_request(self, method, parts, params, body, user) -> tuple[Request, bool]:
        registry = self.server.sim.registry
        not_found = errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise not_found
        watch = params.get("watch") in ("true", "1")
        if rest and rest[0] == "watch":
            watch, rest = True, rest[1:]
        namespace = name = subresource = None
        rtype = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            candidate = registry.lookup(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                rtype, namespace = candidate, rest[1]
                name = rest[3] if len(rest) > 3 else None
                subresource = rest[4] if len(rest) > 4 else None
                if len(rest) > 5:
                    raise not_found
        if rtype is None and rest:
            rtype = registry.lookup(group, version, rest[0])
            name = rest[1] if len(rest) > 1 else None
            subresource = rest[2] if len(rest) > 2 else None
            if len(rest) > 3:
                raise not_found
        if rtype is None:
            raise not_found
        if subresource and subresource not in rtype.subresources:
            raise not_found
        if method == "GET":
            verb = "get" if name else ("watch" if watch else "list")
        elif method == "DELETE":
            verb = "delete" if name else "deletecollection"
        else:
            verb = _VERB_BY_METHOD[method]
            if method == "POST" and name and not subresource:
                raise errors.method_not_allowed()
            if method in ("PUT", "PATCH") and not name:
                raise errors.method_not_allowed()
        if verb not in rtype.verbs:
            raise errors.method_not_allowed()
        if rtype.namespaced is False and namespace:
            raise not_found
        req = Request(verb=verb, rtype=rtype, namespace=namespace, name=name, subresource=subresource, user=user,
                      params=params, body=body, content_type=self.headers.get("Content-Type", ""),
                      dry_run_query=tuple(v for k, v in parse_qsl(urlsplit(self.path).query, keep_blank_values=True)
                                          if k == "dryRun"),
                      user_agent=self.headers.get("User-Agent", ""))
        self._warnings = req.warnings
        return req, watch

    def _serve(self, req: Request) -> int:
        api = self.server.sim.api
        wants_table = "as=Table" in self.headers.get("Accept", "")
        with self.server.sim.store.lock:
            if req.verb == "get" and req.subresource == "log":
                text = api.log(req)
            else:
                text = None
                code, body = 200, None
                if req.verb == "get":
                    body = api.get(req)
                    if wants_table and not req.subresource:
                        body = self._single_row_table(req, body)
                elif req.verb == "list":
                    body = api.list(req, as_table=wants_table)
                elif req.verb == "create":
                    code, body = api.create(req)
                elif req.verb == "update":
                    body = api.update(req)
                    code = 201 if req.created else 200  # handlers/update.go: wasCreated
                elif req.verb == "patch":
                    body = api.patch(req)
                    code = 201 if req.created else 200  # handlers/patch.go: an apply that created the object
                elif req.verb == "delete":
                    body = api.delete(req)
                elif req.verb == "deletecollection":
                    body = api.delete_collection(req)
                data = json.dumps(body, separators=(",", ":")).encode()
        if text is not None:
            self._send_text(200, text)
            return 200
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return code

    def _single_row_table(self, req: Request, obj: dict) -> dict:
        from .tables import to_table
        return to_table(req.rtype.kind, [obj], self.server.sim.clock.now(),
                        {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                        req.params.get("includeObject", "Metadata"))

    # ---- watch -------------------------------------------------------------------
    def _write_chunk(self, payload: dict) -> None:
        data = json.dumps(payload, separators=(",", ":")).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _watch(self, req: Request) -> None:
        """A chunked stream of watch events, with no bookmarks."""
        sim = self.server.sim
        store = sim.store
        flt = store.make_filter(req.rtype, req.namespace, req.params.get("labelSelector"),
                                req.params.get("fieldSelector"))
        rv_param = req.params.get("resourceVersion", "")
        timeout = float(req.params.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        initial: list[dict] = []
        with store.lock:
            if rv_param in ("", "0"):
                initial, rv, _, _ = store.list(req.rtype, flt)
                last_rv = int(rv)
            else:
                try:
                    last_rv = int(rv_param)
                except ValueError:
                    raise errors.bad_request(f'invalid resource version "{rv_param}"')
        as_table = "as=Table" in self.headers.get("Accept", "")
        headers_sent = False

        def shown(obj: dict) -> dict:
            """The event's object; as a one-row Table when kubectl asks for Tables (get -w). Only the
            first Table carries the column definitions (watchEmbeddedEncoder sets NoHeaders after it)."""
            nonlocal headers_sent
            if not as_table:
                return obj
            from .tables import to_table
            table = to_table(req.rtype.kind, [obj], sim.clock.now(),
                             {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                             req.params.get("includeObject", "Metadata"))
            if headers_sent:
                table["columnDefinitions"] = None
            headers_sent = True
            return table

        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        try:
            for obj in initial:
                self._write_chunk({"type": "ADDED", "object": shown(obj)})
            while time.monotonic() < deadline and not store.closed and not self.server.stopping:
                try:
                    events, reached = store.events_since(last_rv, req.rtype.key)
                except errors.ApiError as exc:
                    self._write_chunk({"type": "ERROR", "object": exc.status()})
                    break
                for event in events:
                    kind = _filtered_event_type(event, flt)
                    if kind:
                        self._write_chunk({"type": kind, "object": shown(event.obj)})
                last_rv = reached
                store.wait_for_change(last_rv, min(1.0, max(0.0, deadline - time.monotonic())))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass

    # ---- admin -------------------------------------------------------------------
    def _admin(self, method: str, path: str, params: dict, body: bytes, user: User) -> int:
        sim = self.server.sim
        if not user.is_superuser:
            raise errors.forbidden(f'User "{user.name}" cannot use the simulator\'s admin endpoints '
                                   "(they need a system:masters user, such as the kubeconfig's)")
        parts = [p for p in path.split("/") if p][1:]
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            raise errors.bad_request("the admin request body is not valid JSON")
        try:
            code, result = sim.admin(method, parts, params, payload)
        except KeyError as exc:
            raise errors.ApiError(404, "NotFound", f"admin: {exc.args[0]}")
        except ValueError as exc:
            raise errors.bad_request(f"admin: {exc}")
        self._send_json(code, result)
        return code


def _filtered_event_type(event, flt) -> str | None:
    """Map a store event onto a filtered watch, as the watch cache does."""
    now_matches = flt.matches(event.obj) if event.type != "DELETED" else False
    was_matching = flt.matches(event.old) if event.old is not None else False
    if event.type == "DELETED":
        return "DELETED" if was_matching else None
    if event.type == "ADDED":
        return "ADDED" if now_matches else None
    if now_matches and was_matching:
        return "MODIFIED"
    if now_matches:
        return "ADDED"
    if was_matching:
        return "DELETED"
    return None


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 128

    def __init__(self, sim, port: int = 0):
        self.sim = sim
        self.stopping = False
        try:
            super().__init__(("127.0.0.1", port), _Handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(port) from None
            raise

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_in_thread(self) -> threading.Thread:
        # A short poll interval: stop() waits for the loop to notice, once per served cluster.
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02},
                                  name="sim-api", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.stopping = True
        self.shutdown()
        self.server_close()
