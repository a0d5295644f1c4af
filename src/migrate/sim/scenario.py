"""Scenarios: clusters described as data, validated field by field before anything is built."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from importlib import resources as importlib_resources
from pathlib import Path

import yaml

from .context import Timings
from .faults import FaultSettings

BACKENDS = ("vxlan", "host-gw", "wireguard", "udp")
FLAVORS = ("manifest", "legacy", "canal", "none")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Pod", "Job")


class ScenarioError(ValueError):
    """A scenario that cannot be used: names the file, the field and what was expected."""

    def __init__(self, source: str, field_path: str, expected: str):
        super().__init__(f"{source}: {field_path}: {expected}")
        self.source, self.field_path, self.expected = source, field_path, expected


class UnknownScenario(ValueError):
    def __init__(self, name: str, known: list[str]):
        super().__init__(f"unknown scenario {name!r}; known scenarios: {', '.join(known)} (or give a path to a YAML file)")
        self.name, self.known = name, known


@dataclass
class NodeGroup:
    count: int
    name_prefix: str
    roles: list[str]
    zone: str
    region: str
    subnet: str
    instance_type: str = "g.n2.xlarge"
    taints: list[dict] = field(default_factory=list)
    labels: dict = field(default_factory=dict)
    unschedulable: bool = False


@dataclass
class FlannelSpec:
    flavor: str = "manifest"
    backend: str = "vxlan"
    network: str = "10.244.0.0/16"
    vni: int = 1
    port: int = 0
    direct_routing: bool = False
    enable_nftables: bool = False
    ip_masq: bool = True
    enable_ipv6: bool = False
    version: str = "v0.28.9"
    addon_manager: bool = False


@dataclass
class Scenario:
    name: str
    description: str
    source: str
    node_groups: list[NodeGroup]
    flannel: FlannelSpec
    node_cidr_mask: int = 24
    service_cidr: str = "10.96.0.0/12"
    kubernetes_version: str = "v1.31.4"
    mtu: int = 1500
    pods_per_node: int = 0          # large: spread replicas of generated deployments
    workloads: list[dict] = field(default_factory=list)
    network_policies: list[dict] = field(default_factory=list)
    namespaces: list[dict] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
    faults: FaultSettings = field(default_factory=FaultSettings)

    @property
    def node_count(self) -> int:
        return sum(g.count for g in self.node_groups)


def bundled_scenarios() -> dict[str, Path]:
    folder = importlib_resources.files("migrate.sim") / "scenarios"
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml")}


def describe_bundled() -> list[tuple[str, str]]:
    rows = []
    for name, path in sorted(bundled_scenarios().items()):
        data = yaml.safe_load(path.read_text()) or {}
        rows.append((name, str(data.get("description", "")).strip()))
    return rows


def load_scenario(name_or_path: str, overrides: dict | None = None) -> Scenario:
    """A bundled scenario by name, or a YAML file by path. `overrides` replace top-level keys."""
    bundled = bundled_scenarios()
    if name_or_path in bundled:
        path = bundled[name_or_path]
    else:
        path = Path(name_or_path)
        if not (path.suffix in (".yaml", ".yml") or path.exists()):
            raise UnknownScenario(name_or_path, sorted(bundled))
        if not path.is_file():
            raise ScenarioError(str(path), "(file)", "a readable YAML file; it does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        raise ScenarioError(str(path), where, f"valid YAML ({getattr(exc, 'problem', exc)})")
    except OSError as exc:
        raise ScenarioError(str(path), "(file)", f"a readable file ({exc.strerror})")
    if overrides:
        data = {**(data or {}), **overrides}
    return parse_scenario(data, str(path))


class _Reader:
    """Typed access to a mapping that reports the exact field on error."""

    def __init__(self, source: str, data, path: str = ""):
        self.source, self.path = source, path
        if not isinstance(data, dict):
            raise ScenarioError(source, path or "(top level)", f"a mapping, got {type(data).__name__}")
        self.data = data

    def _fail(self, key: str, expected: str):
        raise ScenarioError(self.source, f"{self.path}.{key}" if self.path else key, expected)

    def get(self, key: str, kind, default=None, required: bool = False):
        if key not in self.data or self.data[key] is None:
            if required:
                self._fail(key, f"required ({_kind_name(kind)})")
            return default
        value = self.data[key]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            self._fail(key, f"an integer, got {value!r}")
        if kind is bool and not isinstance(value, bool):
            self._fail(key, f"true or false, got {value!r}")
        if kind is str and not isinstance(value, (str, int, float)):
            self._fail(key, f"a string, got {type(value).__name__}")
        if kind is list and not isinstance(value, list):
            self._fail(key, f"a list, got {type(value).__name__}")
        if kind is dict and not isinstance(value, dict):
            self._fail(key, f"a mapping, got {type(value).__name__}")
        if kind is float and not isinstance(value, (int, float)):
            self._fail(key, f"a number, got {value!r}")
        return str(value) if kind is str else value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            self._fail(key, f"one of {', '.join(choices)}, got {value!r}")
        return value

    def cidr(self, key: str, default: str | None = None, required: bool = False) -> str:
        value = self.get(key, str, default, required)
        try:
            return str(ipaddress.ip_network(value))
        except ValueError:
            self._fail(key, f"a CIDR such as 10.244.0.0/16, got {value!r}")

    def child(self, key: str, value) -> "_Reader":
        return _Reader(self.source, value, f"{self.path}.{key}" if self.path else key)

    def unknown(self, allowed: set[str]) -> None:
        extra = sorted(set(self.data) - allowed)
        if extra:
            self._fail(extra[0], f"not a known field; known fields: {', '.join(sorted(allowed))}")


def _kind_name(kind) -> str:
    return {int: "an integer", str: "a string", bool: "true or false", list: "a list", dict: "a mapping",
            float: "a number"}.get(kind, "a value")


_TOP = {"name", "description", "cluster", "flannel", "nodeGroups", "workloads", "networkPolicies", "namespaces",
        "timings", "faults", "podsPerNode"}


def parse_scenario(data, source: str) -> Scenario:
    top = _Reader(source, data)
    top.unknown(_TOP)
    cluster = top.child("cluster", top.get("cluster", dict, {}))
    cluster.unknown({"clusterCIDR", "nodeCIDRMaskSize", "serviceCIDR", "kubernetesVersion", "mtu"})
    flannel_raw = top.child("flannel", top.get("flannel", dict, {}))
    flannel_raw.unknown({"flavor", "backend", "vni", "port", "directRouting", "enableNFTables", "ipMasq",
                         "enableIPv6", "version", "addonManager"})
    flannel = FlannelSpec(
        flavor=flannel_raw.choice("flavor", FLAVORS, "manifest"),
        backend=flannel_raw.choice("backend", BACKENDS, "vxlan"),
        network=cluster.cidr("clusterCIDR", "10.244.0.0/16"),
        vni=flannel_raw.get("vni", int, 1), port=flannel_raw.get("port", int, 0),
        direct_routing=flannel_raw.get("directRouting", bool, False),
        enable_nftables=flannel_raw.get("enableNFTables", bool, False),
        ip_masq=flannel_raw.get("ipMasq", bool, True), enable_ipv6=flannel_raw.get("enableIPv6", bool, False),
        version=flannel_raw.get("version", str, "v0.28.9"), addon_manager=flannel_raw.get("addonManager", bool, False))
    groups = []
    raw_groups = top.get("nodeGroups", list, required=True)
    if not raw_groups:
        raise ScenarioError(source, "nodeGroups", "at least one node group")
    for i, raw in enumerate(raw_groups):
        g = top.child(f"nodeGroups[{i}]", raw)
        g.unknown({"count", "namePrefix", "roles", "zone", "region", "subnet", "instanceType", "taints", "labels",
                   "unschedulable"})
        count = g.get("count", int, required=True)
        if count < 1:
            g._fail("count", f"a positive integer, got {count}")
        roles = g.get("roles", list, [])
        for role in roles:
            if role not in ("control-plane", "master", "worker"):
                g._fail("roles", f"control-plane, master or worker, got {role!r}")
        groups.append(NodeGroup(count=count, name_prefix=g.get("namePrefix", str, required=True), roles=roles,
                                zone=g.get("zone", str, "zone-a"), region=g.get("region", str, "region-1"),
                                subnet=g.cidr("subnet", required=True),
                                instance_type=g.get("instanceType", str, "g.n2.xlarge"),
                                taints=g.get("taints", list, []), labels=g.get("labels", dict, {}),
                                unschedulable=g.get("unschedulable", bool, False)))
    for i, workload in enumerate(top.get("workloads", list, [])):
        w = top.child(f"workloads[{i}]", workload)
        w.unknown({"kind", "name", "namespace", "replicas", "labels", "pdb", "emptyDir", "hostNetwork", "port",
                   "nodeSelector", "image", "command", "tolerations", "completions"})
        w.choice("kind", WORKLOAD_KINDS, "Deployment")
        w.get("name", str, required=True)
        w.get("replicas", int, 1)
        if "pdb" in workload:
            pdb = w.child("pdb", w.get("pdb", dict))
            pdb.unknown({"minAvailable", "maxUnavailable", "name"})
    for i, policy in enumerate(top.get("networkPolicies", list, [])):
        p = top.child(f"networkPolicies[{i}]", policy)
        p.unknown({"name", "namespace", "spec"})
        p.get("name", str, required=True)
        p.get("spec", dict, required=True)
    timings_raw = top.child("timings", top.get("timings", dict, {}))
    timings_raw.unknown(set(Timings.__dataclass_fields__))
    for key in timings_raw.data:
        timings_raw.get(key, float)
    faults_raw = top.child("faults", top.get("faults", dict, {}))
    faults_raw.unknown(set(FaultSettings.__dataclass_fields__))
    try:
        faults = FaultSettings(**faults_raw.data)
        faults.validate()
    except (TypeError, ValueError) as exc:
        raise ScenarioError(source, "faults", str(exc))
    mask = cluster.get("nodeCIDRMaskSize", int, 24)
    if not 8 <= mask <= 30:
        cluster._fail("nodeCIDRMaskSize", f"an integer from 8 to 30, got {mask}")
    return Scenario(
        name=top.get("name", str, Path(source).stem), description=top.get("description", str, ""), source=source,
        node_groups=groups, flannel=flannel, node_cidr_mask=mask,
        service_cidr=cluster.cidr("serviceCIDR", "10.96.0.0/12"),
        kubernetes_version=cluster.get("kubernetesVersion", str, "v1.31.4"), mtu=cluster.get("mtu", int, 1500),
        pods_per_node=top.get("podsPerNode", int, 0), workloads=top.get("workloads", list, []),
        network_policies=top.get("networkPolicies", list, []), namespaces=top.get("namespaces", list, []),
        timings=Timings(**{k: float(v) for k, v in timings_raw.data.items()}), faults=faults)
