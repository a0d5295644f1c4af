"""The real-API test tier: a Kubernetes v1.26.5 control plane on loopback (controller-runtime's envtest
convention), and one small interface over it and over the simulator so a test body runs on both.

`control_plane(assets)` starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler from the
folder that KUBEBUILDER_ASSETS names (../shared/k8s/README.md says what they need), on free loopback
ports, in a temporary folder that also holds their certificates, tokens, kubeconfigs and logs. It hands
the cluster over once the apiserver answers /readyz and the `default` ServiceAccount of `default`
exists (pods are refused without it), and tears everything down afterwards.

There is no kubelet: `ControlPlane.add_node` creates a plain Node, gives it the status a kubelet would
post (Ready, capacity, addresses), lifts the not-ready taint the apiserver's admission put on it, and
waits for the controller-manager to allocate its podCIDR. A `FakeKubelets` thread then does for the
nodes what their kubelets would: renew their Leases, keep them Ready, report pods bound to them as
Running and Ready (an IP from the node's podCIDR), and finish the deletion of their terminating pods.
Nothing here sleeps in simulator tests: `SimSide.wait_until` advances the simulated clock instead.
"""
from __future__ import annotations

import abc
import contextlib
import ctypes
import datetime as dt
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path
from typing import Callable

import yaml

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
KUBERNETES_VERSION = "v1.26.5"
SERVICE_CIDR = "10.96.0.0/12"
CLUSTER_CIDR = "10.244.0.0/16"
NODE_CIDR_MASK = 24
TTL_ANNOTATION = "node.alpha.kubernetes.io/ttl"  # the controller-manager's ttl controller sets it on every node
# The default/kubernetes Endpoints refuse loopback; nothing needs to reach this documentation address.
ADVERTISE_ADDRESS = "192.0.2.10"
SKIP_UNSET = ("KUBEBUILDER_ASSETS is not set: the real-API tier needs etcd and the Kubernetes control-plane "
              "binaries (see ../shared/k8s/README.md)")

# Bounded waits, in real seconds (2 cores: etcd ~1 s, /readyz ~8 s, all controllers ~19 s).
ETCD_DEADLINE = 30.0
APISERVER_DEADLINE = 90.0
SERVICE_ACCOUNT_DEADLINE = 90.0
NODE_DEADLINE = 60.0
STOP_GRACE = 10.0
KUBELET_PERIOD = 0.5  # how often the fake kubelets look at their pods
LEASE_PERIOD = 10.0  # how often they renew their node Leases (kubelet's default)


class ControlPlaneError(RuntimeError):
    """The control plane did not come up; the message carries the failing process's last log lines."""


def skip_reason(assets: str | None) -> str | None:
    """Why the real-API tier cannot run with this KUBEBUILDER_ASSETS, or None when it can."""
    if not assets:
        return SKIP_UNSET
    missing = [b for b in BINARIES if not os.access(Path(assets) / b, os.X_OK)]
    if missing:
        return (f"KUBEBUILDER_ASSETS={assets} lacks {', '.join(missing)}: the real-API tier needs etcd and the "
                f"Kubernetes control-plane binaries (see ../shared/k8s/README.md)")
    return None


# ---- plain HTTP(S) with a bearer token ---------------------------------------------------------

class Answer:
    """status, headers, text and (when the body is JSON) json of one HTTP answer, errors included."""

    def __init__(self, status: int, headers, body: bytes):
        self.status, self.headers, self.body = status, headers, body
        self.text = body.decode(errors="replace")
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.text[:300]!r})"


class Rest:
    """Raw requests to one API server, as admin: the tests' view below migrate.kube."""

    def __init__(self, server: str, token: str, ca_file: str | Path | None = None):
        self.server, self.token = server.rstrip("/"), token
        self._context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None

    def request(self, method: str, path: str, body=None, headers: dict | None = None,
                timeout: float = 15.0) -> Answer:
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        request = urllib.request.Request(self.server + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self._context) as response:
                return Answer(response.status, response.headers, response.read())
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.headers, exc.read())

    def ok(self, method: str, path: str, body=None, content_type: str | None = None) -> dict:
        """A request that must succeed; its decoded answer."""
        answer = self.request(method, path, body, {"Content-Type": content_type} if content_type else None)
        if not 200 <= answer.status < 300:
            raise ControlPlaneError(f"{method} {path} answered {answer.status}: {answer.text[:500]}")
        return answer.json or {}


# ---- certificates, tokens, kubeconfigs ---------------------------------------------------------

def _write_pki(folder: Path) -> dict[str, Path]:
    """A CA, a serving certificate for the apiserver's names and addresses, a service-account key pair."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)

    def key_pem(key) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                 serialization.NoEncryption())

    def usage(**wanted) -> x509.KeyUsage:
        names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                 "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
        return x509.KeyUsage(**{n: wanted.get(n, False) for n in names})

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "realapi-ca")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(usage(digital_signature=True, key_cert_sign=True, crl_sign=True), critical=True)
          .add_extension(ca_ski, critical=False)
          .sign(ca_key, hashes.SHA256()))

    serving_key = ec.generate_private_key(ec.SECP256R1())
    names = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
             "kubernetes.default.svc.cluster.local"]
    addresses = ["127.0.0.1", ADVERTISE_ADDRESS, str(ipaddress.ip_network(SERVICE_CIDR)[1])]
    serving = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
               .issuer_name(ca_name).public_key(serving_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(usage(digital_signature=True, key_encipherment=True), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
               .add_extension(x509.SubjectAlternativeName(
                   [x509.DNSName(n) for n in names]
                   + [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
               .sign(ca_key, hashes.SHA256()))

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    files = {"ca.crt": ca.public_bytes(serialization.Encoding.PEM), "ca.key": key_pem(ca_key),
             "apiserver.crt": serving.public_bytes(serialization.Encoding.PEM), "apiserver.key": key_pem(serving_key),
             "sa.key": key_pem(sa_key),
             "sa.pub": sa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo)}
    paths = {}
    for name, content in files.items():
        paths[name] = folder / name
        paths[name].write_bytes(content)
        paths[name].chmod(0o600)
    return paths


def write_kubeconfig(path: Path, server: str, ca_file: Path, user: str, token: str) -> Path:
    config = {"apiVersion": "v1", "kind": "Config", "preferences": {},
              "clusters": [{"name": "realapi", "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
              "users": [{"name": user, "user": {"token": token}}],
              "contexts": [{"name": "realapi", "context": {"cluster": "realapi", "user": user}}],
              "current-context": "realapi"}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---- processes ---------------------------------------------------------------------------------

def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies, so a killed run leaves nothing behind."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass


class Process:
    """One control-plane binary, its output in a log file."""

    def __init__(self, name: str, args: list[str], log: Path):
        self.name, self.log = name, log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True, preexec_fn=_die_with_parent)

    def exit_code(self) -> int | None:
        return self.popen.poll()

    def tail(self, lines: int = 20) -> str:
        try:
            with self.log.open("rb") as text:
                return b"".join(deque(text, maxlen=lines)).decode(errors="replace").rstrip()
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(STOP_GRACE)


# ---- the control plane -------------------------------------------------------------------------

class ControlPlane:
    """etcd, kube-apiserver, kube-controller-manager, kube-scheduler; `start()`, then `stop()`."""

    def __init__(self, assets: str | Path, directory: Path, *, kubelets: bool = True, node_lifecycle: bool = False):
        """kubelets: run the FakeKubelets stand-in (add_node needs it); without it, whatever registers nodes
        (an attached simulator: migrate.sim.attach) is their kubelet. node_lifecycle: run the controller-manager's
        nodelifecycle controller, which lifts the not-ready taint, watches the nodes' Leases and taints and
        evicts as on a kubeadm cluster; it needs kubelets that keep their Leases fresh."""
        self.assets, self.directory = Path(assets), directory
        self.with_kubelets, self.node_lifecycle = kubelets, node_lifecycle
        self.processes: list[Process] = []
        self.admin_token = secrets.token_hex(16)
        self.server_url = ""
        self.kubeconfig_path = directory / "admin.kubeconfig"
        self.ca_file = directory / "pki" / "ca.crt"
        self.rest: Rest | None = None
        self.timings: dict[str, float] = {}  # seconds from start until each stage was ready
        self.kubelets: FakeKubelets | None = None

    # ---- starting ----------------------------------------------------------------------------
    def start(self) -> None:
        began = time.monotonic()
        pki_dir = self.directory / "pki"
        pki_dir.mkdir()
        pki = _write_pki(pki_dir)
        etcd_port, etcd_peer, api_port = _free_port(), _free_port(), _free_port()
        self.server_url = f"https://127.0.0.1:{api_port}"
        tokens = {"admin": self.admin_token, "kcm": secrets.token_hex(16), "scheduler": secrets.token_hex(16)}
        token_file = pki_dir / "tokens.csv"
        token_file.write_text(f'{tokens["admin"]},admin,realapi-admin,"system:masters"\n'
                              f'{tokens["kcm"]},system:kube-controller-manager,realapi-kcm\n'
                              f'{tokens["scheduler"]},system:kube-scheduler,realapi-scheduler\n')
        token_file.chmod(0o600)
        write_kubeconfig(self.kubeconfig_path, self.server_url, pki["ca.crt"], "admin", self.admin_token)
        kcm_config = write_kubeconfig(self.directory / "controller-manager.kubeconfig", self.server_url,
                                      pki["ca.crt"], "system:kube-controller-manager", tokens["kcm"])
        scheduler_config = write_kubeconfig(self.directory / "scheduler.kubeconfig", self.server_url,
                                            pki["ca.crt"], "system:kube-scheduler", tokens["scheduler"])
        self.rest = Rest(self.server_url, self.admin_token, pki["ca.crt"])

        etcd_url = f"http://127.0.0.1:{etcd_port}"
        etcd = self._spawn("etcd", [
            "--name", "realapi", "--data-dir", str(self.directory / "etcd"),
            "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
            "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-cluster", f"realapi=http://127.0.0.1:{etcd_peer}", "--initial-cluster-state", "new",
            "--logger", "zap"])
        self._wait("etcd to answer /health", lambda: _etcd_healthy(etcd_url), ETCD_DEADLINE, etcd)
        self.timings["etcd"] = time.monotonic() - began

        apiserver = self._spawn("kube-apiserver", [
            "--etcd-servers", etcd_url, "--bind-address", "127.0.0.1", "--secure-port", str(api_port),
            "--advertise-address", ADVERTISE_ADDRESS, "--cert-dir", str(self.directory / "apiserver-certs"),
            "--tls-cert-file", str(pki["apiserver.crt"]), "--tls-private-key-file", str(pki["apiserver.key"]),
            "--client-ca-file", str(pki["ca.crt"]),
            "--service-account-key-file", str(pki["sa.pub"]),
            "--service-account-signing-key-file", str(pki["sa.key"]),
            "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range", SERVICE_CIDR, "--authorization-mode", "Node,RBAC",
            "--allow-privileged=true", "--token-auth-file", str(token_file), "--profiling=false"])
        self._wait("kube-apiserver to answer /readyz", self._apiserver_ready, APISERVER_DEADLINE, apiserver)
        self.timings["kube-apiserver"] = time.monotonic() - began

        controller_manager = self._spawn("kube-controller-manager", [
            "--kubeconfig", str(kcm_config), "--bind-address", "127.0.0.1", "--secure-port", str(_free_port()),
            "--cert-dir", str(self.directory / "controller-manager-certs"), "--leader-elect=false",
            "--allocate-node-cidrs=true", "--cluster-cidr", CLUSTER_CIDR,
            "--node-cidr-mask-size", str(NODE_CIDR_MASK), "--service-cluster-ip-range", SERVICE_CIDR,
            "--controllers", "*,-service-ca-cert-publisher" if self.node_lifecycle
            else "*,-nodelifecycle,-service-ca-cert-publisher",
            "--use-service-account-credentials", "--service-account-private-key-file", str(pki["sa.key"]),
            "--root-ca-file", str(pki["ca.crt"])])
        scheduler = self._spawn("kube-scheduler", [
            "--kubeconfig", str(scheduler_config), "--bind-address", "127.0.0.1", "--secure-port", str(_free_port()),
            "--cert-dir", str(self.directory / "scheduler-certs"), "--leader-elect=false"])
        self._wait("the default ServiceAccount of namespace default (the controller-manager's serviceaccount "
                   "controller)", self._default_service_account, SERVICE_ACCOUNT_DEADLINE, controller_manager,
                   also=[scheduler])
        self.timings["controllers"] = time.monotonic() - began
        if self.with_kubelets:
            self.kubelets = FakeKubelets(self.rest)
            self.kubelets.start()

    def _spawn(self, name: str, args: list[str]) -> Process:
        process = Process(name, [str(self.assets / name), *args], self.directory / "logs" / f"{name}.log")
        self.processes.append(process)
        return process

    def _wait(self, what: str, ready: Callable[[], bool], timeout: float, owner: Process,
              also: list[Process] = ()) -> None:
        """Poll `ready` until it holds; any process exiting, or the deadline, fails with a log tail."""
        deadline = time.monotonic() + timeout
        while True:
            for process in self.processes + list(also):
                code = process.exit_code()
                if code is not None:
                    raise ControlPlaneError(f"{process.name} exited with code {code} while waiting for {what}; "
                                            f"the last lines of its log:\n{process.tail()}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"timed out after {timeout:.0f}s waiting for {what}; the last lines of "
                                        f"{owner.name}'s log:\n{owner.tail()}")
            time.sleep(0.2)

    def _apiserver_ready(self) -> bool:
        try:
            return self.rest.request("GET", "/readyz", timeout=5).status == 200
        except OSError:
            return False

    def _default_service_account(self) -> bool:
        try:
            return self.rest.request("GET", "/api/v1/namespaces/default/serviceaccounts/default", timeout=5).status == 200
        except OSError:
            return False

    # ---- stopping ----------------------------------------------------------------------------
    def stop(self) -> None:
        if self.kubelets is not None:
            self.kubelets.stop()
        for process in reversed(self.processes):
            process.stop()

    def logs(self) -> dict[str, str]:
        """The last lines of each process's log, for a failing test's message."""
        return {p.name: p.tail() for p in self.processes}

    # ---- nodes ---------------------------------------------------------------------------------
    def add_node(self, name: str, address: str | None = None) -> dict:
        """A plain Node, Ready as its kubelet would report it, untainted, with its podCIDR allocated."""
        if self.kubelets is None:
            raise ControlPlaneError("this control plane runs without the FakeKubelets stand-in (kubelets=False): "
                                    "its nodes come from whatever registers them")
        address = address or f"192.0.2.{100 + len(self.kubelets.nodes)}"
        labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                  "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"}
        rest = self.rest
        rest.ok("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                          "metadata": {"name": name, "labels": labels}})
        resources = {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "50Gi"}
        rest.ok("PATCH", f"/api/v1/nodes/{name}/status", {"status": {
            "capacity": resources, "allocatable": resources, "conditions": _node_conditions(),
            "addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"kubeletVersion": KUBERNETES_VERSION, "kubeProxyVersion": KUBERNETES_VERSION,
                         "containerRuntimeVersion": "containerd://1.6.21", "operatingSystem": "linux",
                         "architecture": "amd64", "osImage": "Debian GNU/Linux 12 (bookworm)",
                         "kernelVersion": "6.1.0-realapi", "machineID": name, "systemUUID": name,
                         "bootID": name}}}, "application/merge-patch+json")
        # The TaintNodesByCondition admission plugin taints every new node not-ready; the node lifecycle
        # controller (turned off here: no kubelet renews anything it could trust) would lift it.
        taints = rest.ok("GET", f"/api/v1/nodes/{name}")["spec"].get("taints") or []
        kept = [t for t in taints if t.get("key") != "node.kubernetes.io/not-ready"]
        if kept != taints:
            rest.ok("PATCH", f"/api/v1/nodes/{name}", {"spec": {"taints": kept or None}},
                    "application/merge-patch+json")
        self.kubelets.add(name, address)
        # Settled once the controllers that act on a new node have: nodeipam's podCIDR, ttl's annotation.
        deadline = time.monotonic() + NODE_DEADLINE
        while True:
            node = rest.ok("GET", f"/api/v1/nodes/{name}")
            if node["spec"].get("podCIDR") and TTL_ANNOTATION in (node["metadata"].get("annotations") or {}):
                return node
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"node {name} got no podCIDR or {TTL_ANNOTATION} within {NODE_DEADLINE:.0f}s; "
                                        f"last lines of the controller-manager's log:\n"
                                        f"{self.logs().get('kube-controller-manager')}")
            time.sleep(0.2)

    def ensure_node(self, name: str) -> dict:
        """The node `name`, added the first time it is asked for."""
        if name not in self.kubelets.nodes:
            return self.add_node(name)
        return self.rest.ok("GET", f"/api/v1/nodes/{name}")


def _etcd_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as response:
            return json.loads(response.read()).get("health") == "true"
    except (OSError, ValueError):
        return False


def _node_conditions() -> list[dict]:
    now = _now()

    def condition(kind, status, reason, message):
        return {"type": kind, "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": now, "lastTransitionTime": now}
    return [condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status")]


class FakeKubelets:
    """What the kubelets of the added nodes would do, from one thread: renew each node's Lease, keep it
    Ready, report each pod bound to it Running and Ready with an IP from its podCIDR (every container
    started and ready at once, no probes), and finish deleting its terminating pods (grace period 0,
    as a kubelet does once the containers stopped)."""

    def __init__(self, rest: Rest):
        self.rest = rest
        self.nodes: dict[str, str] = {}  # name -> InternalIP
        self._next_ip: dict[str, int] = {}
        self._renewed: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="realapi-kubelets", daemon=True)
        self.errors: deque[str] = deque(maxlen=20)

    def add(self, name: str, address: str) -> None:
        with self._lock:
            self.nodes[name] = address
            self._next_ip[name] = 2
        self._renew_lease(name)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(STOP_GRACE)

    def _run(self) -> None:
        while not self._stop.wait(KUBELET_PERIOD):
            with self._lock:
                nodes = list(self.nodes)
            for name in nodes:
                try:
                    if time.monotonic() - self._renewed.get(name, 0) >= LEASE_PERIOD:
                        self._renew_lease(name)
                        self._keep_ready(name)
                    self._sync_pods(name)
                except Exception as exc:  # noqa: BLE001 - a kubelet keeps going; waits that time out show these
                    self.errors.append(f"{name}: {exc!r}")

    def _renew_lease(self, name: str) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"
        answer = self.rest.request("PATCH", path, {"spec": {"renewTime": _micro_now()}},
                                   {"Content-Type": "application/merge-patch+json"})
        if answer.status == 404:
            self.rest.ok("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
                "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": _micro_now()}})
        self._renewed[name] = time.monotonic()

    def _keep_ready(self, name: str) -> None:
        """A kubelet reports its status every 5 minutes when nothing changed: only restore Ready if lost,
        so that a node's resourceVersion holds still under a test."""
        node = self.rest.ok("GET", f"/api/v1/nodes/{name}")
        ready = [c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"]
        if not ready or ready[0].get("status") != "True":
            self.rest.ok("PATCH", f"/api/v1/nodes/{name}/status", {"status": {"conditions": _node_conditions()}},
                         "application/strategic-merge-patch+json")

    def _sync_pods(self, name: str) -> None:
        pods = self.rest.ok("GET", f"/api/v1/pods?fieldSelector=spec.nodeName%3D{name}")["items"]
        node = None
        for pod in pods:
            meta, status = pod["metadata"], pod.get("status") or {}
            path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
            if meta.get("deletionTimestamp"):
                self.rest.request("DELETE", path, {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                                                   "preconditions": {"uid": meta["uid"]}})
            elif status.get("phase", "Pending") == "Pending" and not status.get("startTime"):
                node = node or self.rest.ok("GET", f"/api/v1/nodes/{name}")
                self.rest.ok("PATCH", path + "/status", {"status": self._running_status(pod, node)},
                             "application/merge-patch+json")

    def _running_status(self, pod: dict, node: dict) -> dict:
        name = node["metadata"]["name"]
        now = _now()
        host_ip = self.nodes[name]
        if pod["spec"].get("hostNetwork"):
            ip = host_ip
        else:
            with self._lock:
                ip = str(ipaddress.ip_network(node["spec"]["podCIDR"])[self._next_ip[name]])
                self._next_ip[name] += 1
        conditions = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
                      for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")]
        containers = [{"name": c["name"], "image": c["image"], "imageID": "", "ready": True, "started": True,
                       "restartCount": 0, "containerID": f"containerd://{secrets.token_hex(32)}",
                       "state": {"running": {"startedAt": now}}} for c in pod["spec"]["containers"]]
        return {"phase": "Running", "hostIP": host_ip, "podIP": ip, "podIPs": [{"ip": ip}], "startTime": now,
                "conditions": conditions, "containerStatuses": containers}


@contextlib.contextmanager
def control_plane(assets: str | Path, **options):
    """A started ControlPlane for the block (options: ControlPlane's); stopped and its folder removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="migrate-realapi-"))
    (directory / "logs").mkdir()
    plane = ControlPlane(assets, directory, **options)
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()
        shutil.rmtree(directory, ignore_errors=True)


# ---- one interface over the simulator and the real control plane -------------------------------

def _ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


class _Side(abc.ABC):
    """What a parity test sees of an API server: `kubeconfig_path`, `kube` (migrate.kube), raw
    `request`, a namespace of its own, `node_name` (a schedulable node), and waiting."""

    name = ""
    kubeconfig_path: Path
    kube = None
    rest: Rest
    node_name = ""

    def request(self, method: str, path: str, body=None, headers: dict | None = None) -> Answer:
        return self.rest.request(method, path, body, headers)

    def new_namespace(self, prefix: str = "parity") -> str:
        name = f"{prefix}-{secrets.token_hex(3)}"
        self.kube.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        return name

    @abc.abstractmethod
    def wait_until(self, predicate: Callable[[], object], what: str, timeout: float = 60.0) -> None:
        """Let the cluster run until predicate() holds; AssertionError naming `what` after `timeout` s."""

    def run_pods(self, namespace: str, *names: str) -> None:
        """Wait until these pods run and are Ready (scheduled, and started by a kubelet)."""
        for name in names:
            path = f"/api/v1/namespaces/{namespace}/pods/{name}"
            self.wait_until(lambda path=path: _ready(self.kube.get(path)), f"pod {namespace}/{name} to be Ready")


class SimSide(_Side):
    """The `small` scenario served on loopback; waiting advances its manual clock."""

    name = "sim"

    def __init__(self, running):
        from migrate.kube import connect
        self.running, self.cluster = running, running.cluster
        self.kubeconfig_path = running.kubeconfig_path
        self.kube = connect(str(self.kubeconfig_path), sleep=lambda seconds: None)
        self.rest = Rest(self.cluster.server.url, self.cluster.credentials.admin_token)
        workers = [n for n in self.kube.list("/api/v1/nodes")
                   if not any(k.startswith("node-role.kubernetes.io/") for k in n["metadata"].get("labels") or {})]
        self.node_name = workers[0]["metadata"]["name"]

    def wait_until(self, predicate, what: str, timeout: float = 60.0) -> None:
        if not self.cluster.run_until(predicate, timeout):
            raise AssertionError(f"the simulator: no {what} within {timeout:.0f} simulated seconds")


class RealSide(_Side):
    """The session's real control plane; waiting polls with a real deadline. Namespaces it made are
    deleted afterwards (`close`)."""

    name = "real"
    NODE = "realapi-node-1"

    def __init__(self, plane: ControlPlane):
        from migrate.kube import connect
        self.plane = plane
        self.kubeconfig_path = plane.kubeconfig_path
        self.kube = connect(str(self.kubeconfig_path))
        self.rest = plane.rest
        self.node_name = plane.ensure_node(self.NODE)["metadata"]["name"]
        self.namespaces: list[str] = []

    def new_namespace(self, prefix: str = "parity") -> str:
        """A namespace as its controllers leave it: with its `default` ServiceAccount (pods need it) and
        the `kube-root-ca.crt` ConfigMap, so nothing appears in it behind the test's back later."""
        name = super().new_namespace(prefix)
        self.namespaces.append(name)
        for path in (f"/api/v1/namespaces/{name}/serviceaccounts/default",
                     f"/api/v1/namespaces/{name}/configmaps/kube-root-ca.crt"):
            self.wait_until(lambda path=path: self.kube.get_optional(path), f"{path} (made by the controller-manager)")
        return name

    def wait_until(self, predicate, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"the real apiserver: no {what} within {timeout:.0f} s; kubelet errors: "
                                     f"{list(self.plane.kubelets.errors)}")
            time.sleep(0.1)

    def close(self) -> None:
        for name in self.namespaces:
            self.rest.request("DELETE", f"/api/v1/namespaces/{name}")
