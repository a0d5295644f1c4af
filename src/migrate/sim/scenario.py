"""Scenarios: clusters described as data, validated field by field before anything is built."""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from importlib import resources as importlib_resources
from pathlib import Path

import yaml

from .cloud import CloudSettings
from .context import Timings
from .faults import FaultError, FaultSettings
from .pod_security import PodSecurityConfig, PodSecurityConfigError

BACKENDS = ("vxlan", "host-gw", "wireguard", "udp")
FLAVORS = ("manifest", "legacy", "canal", "none")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Pod", "Job")


class ScenarioError(ValueError):
    """A scenario that cannot be used: names the file, the field and what was expected.

    `message` is the one line a person reads (file, field, what was expected, what was found);
    `hint` says how to fix it.
    """

    def __init__(self, source: str, field_path: str, expected: str, *, message: str | None = None,
                 hint: str = "fix that field and run again"):
        self.source, self.field_path, self.expected, self.hint = source, field_path, expected, hint
        self.message = message or (f"scenario file {source}: field {field_path}: expected {expected}" if field_path
                                   else f"scenario file {source}: expected {expected}")
        super().__init__(self.message)


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
    # More NICs (eth1, eth2, ...), each with an address in one of these subnets: networks such as a storage
    # or backup network that only the NICs on them reach (the VPC does not route them). The default route
    # stays on eth0.
    secondary_subnets: list[str] = field(default_factory=list)
    # The MTU of this pool's NICs (the instance type's network); None: the cluster's `mtu`.
    mtu: int | None = None
    # The cloud's source/destination check on this group's subnet; None: the cluster's `srcDstCheck`.
    src_dst_check: bool | None = None


@dataclass
class NodeChange:
    """A node pool that changes while the cluster runs: at `at` simulated seconds after the scenario is up,
    `count` nodes join the group named by its namePrefix (`join`), or the node `leave` is scaled down."""
    at: float
    join: str | None = None
    count: int = 1
    leave: str | None = None


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
    mtu: int = 0                    # net-conf.json Backend.MTU (the underlay's MTU, not the overlay's); 0: unset


@dataclass
class Scenario:
    name: str
    description: str
    source: str
    node_groups: list[NodeGroup]
    flannel: FlannelSpec
    node_cidr_mask: int = 24
    service_cidr: str = "10.96.0.0/12"
    kubernetes_version: str = "v1.34.2"
    mtu: int = 1500
    pods_per_node: int = 0          # large: spread replicas of generated deployments
    workloads: list[dict] = field(default_factory=list)
    network_policies: list[dict] = field(default_factory=list)
    namespaces: list[dict] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
    faults: FaultSettings = field(default_factory=FaultSettings)
    # the PodSecurity admission plugin's configuration (PodSecurityConfiguration: defaults, exemptions)
    pod_security: PodSecurityConfig = field(default_factory=PodSecurityConfig)
    node_changes: list[NodeChange] = field(default_factory=list)  # nodes joining and leaving (autoscaling)
    cloud: CloudSettings = field(default_factory=CloudSettings)  # src/dst check, security group (sim/cloud.py)

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
        if not path.exists():
            raise ScenarioError(str(path), "", "", message=f"scenario file {path} does not exist",
                                hint=f"give a bundled scenario ({', '.join(sorted(bundled))}) or the path of a "
                                     "scenario YAML file")
        if not path.is_file():
            raise ScenarioError(str(path), "", "", message=f"scenario file {path} is not a file",
                                hint="give the path of a scenario YAML file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ScenarioError(str(path), where, "valid YAML",
                            message=f"scenario file {path}: {where}: expected valid YAML ({problem})",
                            hint="fix the YAML syntax there and run again") from None
    except UnicodeDecodeError:
        raise ScenarioError(str(path), "", "", message=f"scenario file {path} is not UTF-8 text",
                            hint="give the path of a scenario YAML file") from None
    except OSError as exc:
        raise ScenarioError(str(path), "", "", message=f"scenario file {path} cannot be read ({exc.strerror})",
                            hint="check the path and its permissions") from None
    if data is None and not overrides:
        raise ScenarioError(str(path), "", "", message=f"scenario file {path} is empty",
                            hint="describe at least nodeGroups (see `migrate sim scenarios` for examples)")
    if overrides:
        data = {**(data or {}), **overrides}
    return parse_scenario(data, str(path))


def resize(scenario: Scenario, nodes: int) -> Scenario:
    """Make the scenario `nodes` nodes in total by resizing its last node group (as --nodes does)."""
    groups = scenario.node_groups
    fixed = sum(g.count for g in groups[:-1])
    if nodes <= fixed:
        raise ScenarioError(scenario.source, "--nodes", "",
                            message=f"--nodes {nodes} leaves no node for the last node group of scenario "
                                    f"{scenario.name} ({fixed} {'node is' if fixed == 1 else 'nodes are'} in the "
                                    "other groups)",
                            hint=f"give --nodes {fixed + 1} or more")
    was, groups[-1].count = groups[-1].count, nodes - fixed
    try:
        check_capacity(scenario)
    except ScenarioError as exc:
        groups[-1].count = was
        raise ScenarioError(scenario.source, "--nodes", "", message=f"--nodes {nodes} does not fit scenario "
                            f"{scenario.name}: {exc.field_path}: expected {exc.expected}",
                            hint="give fewer nodes") from None
    return scenario


def check_capacity(scenario: Scenario) -> None:
    """Every node needs a host address in its group's subnet and a podCIDR out of the cluster CIDR."""
    per_subnet: dict[str, int] = {}
    for group in scenario.node_groups:
        per_subnet[group.subnet] = per_subnet.get(group.subnet, 0) + group.count
    for i, group in enumerate(scenario.node_groups):
        subnet = ipaddress.ip_network(group.subnet)
        # node addresses start at the subnet's 10th address and stop before the broadcast address
        room = max(0, subnet.num_addresses - 11)
        if per_subnet[group.subnet] > room:
            raise ScenarioError(scenario.source, f"nodeGroups[{i}].subnet",
                                f"a subnet with room for {per_subnet[group.subnet]} node addresses (from its 10th "
                                f"address on), got {group.subnet} with room for {room}",
                                hint="use a larger subnet or fewer nodes")
    network = ipaddress.ip_network(scenario.flannel.network)
    pod_cidrs = 2 ** (scenario.node_cidr_mask - network.prefixlen)
    if scenario.node_count > pod_cidrs:
        raise ScenarioError(scenario.source, "cluster.clusterCIDR",
                            f"a CIDR with room for {scenario.node_count} /{scenario.node_cidr_mask} node podCIDRs, "
                            f"got {network} with room for {pod_cidrs}",
                            hint="use a larger clusterCIDR, a larger nodeCIDRMaskSize or fewer nodes")


_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_VERSION = re.compile(r"^v\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")
_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


class _Reader:
    """Typed access to a mapping that reports the exact field on error."""

    def __init__(self, source: str, data, path: str = ""):
        self.source, self.path = source, path
        if not isinstance(data, dict):
            raise ScenarioError(source, path or "(top level)", f"a mapping of fields, got {_shown(data)}")
        self.data = data

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _fail(self, key: str, expected: str):
        raise ScenarioError(self.source, self.where(key), expected)

    def get(self, key: str, kind, default=None, required: bool = False):
        if key not in self.data or self.data[key] is None:
            if required:
                self._fail(key, f"{_kind_name(kind)} (the field is required)")
            return default
        value = self.data[key]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            self._fail(key, f"an integer, got {value!r}")
        if kind is bool and not isinstance(value, bool):
            self._fail(key, f"true or false, got {value!r}")
        if kind is str and (isinstance(value, bool) or not isinstance(value, (str, int, float))):
            self._fail(key, f"a string, got {_shown(value)}")
        if kind is list and not isinstance(value, list):
            self._fail(key, f"a list, got {_shown(value)}")
        if kind is dict and not isinstance(value, dict):
            self._fail(key, f"a mapping, got {_shown(value)}")
        if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
            self._fail(key, f"a number, got {value!r}")
        return str(value) if kind is str else value

    def int_in(self, key: str, low: int, high: int | None, default: int | None = None, required: bool = False):
        value = self.get(key, int, default, required)
        if value is not None and (value < low or (high is not None and value > high)):
            self._fail(key, f"an integer from {low} to {high}, got {value}" if high is not None
                       else f"an integer of {low} or more, got {value}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            self._fail(key, f"one of {', '.join(choices)}, got {value!r}")
        return value

    def cidr(self, key: str, default: str | None = None, required: bool = False, min_addresses: int = 0) -> str:
        value = self.get(key, str, default, required)
        try:
            network = ipaddress.ip_network(value)
        except ValueError:
            self._fail(key, f"an IPv4 CIDR such as 10.244.0.0/16, got {value!r}")
        if network.version != 4:
            self._fail(key, f"an IPv4 CIDR such as 10.244.0.0/16, got {value!r}")
        if network.num_addresses < min_addresses:
            self._fail(key, f"a CIDR of at least {min_addresses} addresses, got {value!r}")
        return str(network)

    def name(self, key: str, rule: str, required: bool = True, default: str | None = None) -> str | None:
        """A Kubernetes object name: rule is 'label' (DNS-1123), 'dns1035' or 'subdomain'."""
        value = self.get(key, str, default, required)
        if value is not None:
            _check_name(self, key, value, rule)
        return value

    def string_map(self, key: str, what: str) -> dict:
        """labels / nodeSelector: qualified names to strings (quote numbers and booleans)."""
        value = self.get(key, dict, {})
        for k, v in value.items():
            if not isinstance(k, str) or not _qualified_name_ok(k):
                self._fail(f"{key}.{k}", f"a {what} key (a name such as app or example.com/app), got {k!r}")
            if not isinstance(v, str):
                self._fail(f"{key}.{k}", f"a string (quote it), got {v!r}")
            if len(v) > 63 or not _LABEL_VALUE.match(v):
                self._fail(f"{key}.{k}", f"a {what} value of at most 63 letters, digits, '-', '_' or '.', "
                                         f"starting and ending with a letter or digit, got {v!r}")
        return value

    def strings(self, key: str, required: bool = False) -> list[str]:
        value = self.get(key, list, [], required)
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self._fail(f"{key}[{i}]", f"a string, got {_shown(item)}")
        return value

    def child(self, key: str, value) -> "_Reader":
        return _Reader(self.source, value, self.where(key))

    def items(self, key: str, required: bool = False) -> list["_Reader"]:
        return [self.child(f"{key}[{i}]", item) for i, item in enumerate(self.get(key, list, [], required))]

    def unknown(self, allowed: set[str]) -> None:
        extra = sorted((str(k) for k in set(self.data) - allowed))
        if extra:
            raise ScenarioError(self.source, self.where(extra[0]), "a known field",
                                message=f"scenario file {self.source}: field {self.where(extra[0])} is not a known "
                                        f"field (known here: {', '.join(sorted(allowed))})",
                                hint="remove or rename it and run again")


def _shown(value) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _kind_name(kind) -> str:
    return {int: "an integer", str: "a string", bool: "true or false", list: "a list", dict: "a mapping",
            float: "a number"}.get(kind, "a value")


def _qualified_name_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_LABEL_NAME.match(name))


def _check_name(reader: _Reader, key: str, value: str, rule: str, shown: str | None = None) -> None:
    what = shown or repr(value)
    if rule == "dns1035":
        if len(value) > 63 or not _DNS1035_LABEL.match(value):
            reader._fail(key, f"a name of at most 63 lower-case letters, digits or '-', starting with a letter and "
                              f"ending with a letter or digit, got {what}")
    elif rule == "label":
        if len(value) > 63 or not _DNS1123_LABEL.match(value):
            reader._fail(key, f"a name of at most 63 lower-case letters, digits or '-', starting and ending with a "
                              f"letter or digit, got {what}")
    elif len(value) > 253 or not _DNS1123_SUBDOMAIN.match(value):
        reader._fail(key, f"a name of lower-case letters, digits, '-' or '.', starting and ending with a letter or "
                          f"digit, got {what}")


_TOP = {"name", "description", "cluster", "flannel", "nodeGroups", "workloads", "networkPolicies", "namespaces",
        "timings", "faults", "podsPerNode", "podSecurity", "nodeChanges"}
_GROUP_FIELDS = {"count", "namePrefix", "roles", "zone", "region", "subnet", "instanceType", "taints", "labels",
                 "unschedulable", "secondarySubnets", "mtu", "srcDstCheck"}
_WORKLOAD_FIELDS = {"kind", "name", "namespace", "replicas", "labels", "pdb", "emptyDir", "hostNetwork", "port",
                    "nodeSelector", "image", "command", "tolerations", "completions"}
# Timings that pace a retry or a period: zero would spin the control loop.
_POSITIVE_TIMINGS = {"sandbox_retry", "crash_backoff", "probe_interval"}


def parse_scenario(data, source: str) -> Scenario:
    top = _Reader(source, data)
    top.unknown(_TOP)
    cluster = top.child("cluster", top.get("cluster", dict, {}))
    cluster.unknown({"clusterCIDR", "nodeCIDRMaskSize", "serviceCIDR", "kubernetesVersion", "mtu", "srcDstCheck",
                     "securityGroup"})
    flannel = _flannel(top, cluster)
    groups = _node_groups(top)
    mask = cluster.int_in("nodeCIDRMaskSize", 8, 30, 24)
    if mask < ipaddress.ip_network(flannel.network).prefixlen:
        cluster._fail("nodeCIDRMaskSize", f"a mask no shorter than clusterCIDR's /"
                                          f"{ipaddress.ip_network(flannel.network).prefixlen}, got {mask}")
    version = cluster.get("kubernetesVersion", str, "v1.34.2")
    if not _VERSION.match(version):
        cluster._fail("kubernetesVersion", f"a version such as v1.34.2, got {version!r}")
    namespaces = _namespaces(top)
    workloads = _workloads(top)
    policies = _policies(top)
    timings_raw = top.child("timings", top.get("timings", dict, {}))
    timings_raw.unknown(set(Timings.__dataclass_fields__))
    for key in timings_raw.data:
        value = timings_raw.get(key, float)
        if value < 0 or (key in _POSITIVE_TIMINGS and value == 0):
            timings_raw._fail(key, f"a number of simulated seconds, {'above' if key in _POSITIVE_TIMINGS else 'at least'}"
                                   f" 0, got {value!r}")
    faults_raw = top.child("faults", top.get("faults", dict, {}))
    faults_raw.unknown(set(FaultSettings.__dataclass_fields__))
    try:
        faults = FaultSettings(**faults_raw.data)
        faults.validate()
    except FaultError as exc:
        raise ScenarioError(source, f"faults.{exc.field}", exc.expected) from None
    try:
        pod_security = PodSecurityConfig.from_dict(top.get("podSecurity", dict, {}))
    except PodSecurityConfigError as exc:
        raise ScenarioError(source, "podSecurity" + (f".{exc.field_path}" if exc.field_path else ""),
                            exc.expected) from None
    scenario = Scenario(
        name=top.get("name", str, Path(source).stem), description=top.get("description", str, ""), source=source,
        node_groups=groups, flannel=flannel, node_cidr_mask=mask,
        service_cidr=cluster.cidr("serviceCIDR", "10.96.0.0/12", min_addresses=16),
        kubernetes_version=version, mtu=cluster.int_in("mtu", 68, 65535, 1500),
        pods_per_node=top.int_in("podsPerNode", 0, 110, 0), workloads=workloads,
        network_policies=policies, namespaces=namespaces,
        timings=Timings(**{k: float(v) for k, v in timings_raw.data.items()}), faults=faults,
        pod_security=pod_security, node_changes=_node_changes(top, groups), cloud=_cloud(cluster, groups))
    check_capacity(scenario)
    return scenario


def _flannel(top: _Reader, cluster: _Reader) -> FlannelSpec:
    raw = top.child("flannel", top.get("flannel", dict, {}))
    raw.unknown({"flavor", "backend", "vni", "port", "directRouting", "enableNFTables", "ipMasq", "enableIPv6",
                 "version", "addonManager", "mtu"})
    version = raw.get("version", str, "v0.28.9")
    if not _VERSION.match(version):
        raw._fail("version", f"a Flannel release such as v0.28.9, got {version!r}")
    return FlannelSpec(
        flavor=raw.choice("flavor", FLAVORS, "manifest"), backend=raw.choice("backend", BACKENDS, "vxlan"),
        network=cluster.cidr("clusterCIDR", "10.244.0.0/16"),
        vni=raw.int_in("vni", 0, 16777215, 1), port=raw.int_in("port", 0, 65535, 0),
        direct_routing=raw.get("directRouting", bool, False),
        enable_nftables=raw.get("enableNFTables", bool, False),
        ip_masq=raw.get("ipMasq", bool, True), enable_ipv6=raw.get("enableIPv6", bool, False),
        version=version, addon_manager=raw.get("addonManager", bool, False), mtu=raw.int_in("mtu", 0, 65535, 0))


def _node_changes(top: _Reader, groups: list[NodeGroup]) -> list[NodeChange]:
    prefixes = {g.name_prefix for g in groups}
    changes = []
    for c in top.items("nodeChanges"):
        c.unknown({"at", "join", "count", "leave"})
        at = c.get("at", float, required=True)
        if isinstance(at, bool) or at < 0:
            c._fail("at", f"simulated seconds after the scenario is up, at least 0, got {at!r}")
        join, leave = c.get("join", str), c.get("leave", str)
        if (join is None) == (leave is None):
            c._fail("join", "exactly one of join (a node group's namePrefix) or leave (a node's name)")
        if join is not None and join not in prefixes:
            c._fail("join", f"the namePrefix of a node group ({', '.join(sorted(prefixes))}), got {join!r}")
        if leave is not None and not any(leave.startswith(p) and leave[len(p):].isdigit() for p in prefixes):
            c._fail("leave", f"the name of a node of a node group (a namePrefix and a number), got {leave!r}")
        changes.append(NodeChange(at=float(at), join=join, count=c.int_in("count", 1, 100, 1), leave=leave))
    return sorted(changes, key=lambda change: change.at)


def _node_groups(top: _Reader) -> list[NodeGroup]:
    readers = top.items("nodeGroups", required=True)
    if not readers:
        top._fail("nodeGroups", "at least one node group, got an empty list")
    groups, names = [], {}
    for i, g in enumerate(readers):
        g.unknown(_GROUP_FIELDS)
        count = g.int_in("count", 1, None, required=True)
        prefix = g.get("namePrefix", str, required=True)
        last = f"{prefix}{count}"
        if len(last) > 63 or not _DNS1123_LABEL.match(f"{prefix}1") or not _DNS1123_LABEL.match(last):
            g._fail("namePrefix", f"a prefix that makes node names of at most 63 lower-case letters, digits or '-' "
                                  f"(such as worker-), got {prefix!r}")
        for n in (f"{prefix}{k + 1}" for k in range(count)):
            if n in names:
                g._fail("namePrefix", f"a prefix whose node names no other group uses ({n} is also in "
                                      f"nodeGroups[{names[n]}])")
            names[n] = i
        roles = g.strings("roles")
        for role in roles:
            if role not in ("control-plane", "master", "worker"):
                g._fail("roles", f"control-plane, master or worker, got {role!r}")
        taints = []
        for t in g.items("taints"):
            t.unknown({"key", "value", "effect"})
            key = t.get("key", str, required=True)
            if not _qualified_name_ok(key):
                t._fail("key", f"a taint key such as dedicated or example.com/gpu, got {key!r}")
            value = t.get("value", str)
            if value is not None and (len(value) > 63 or not _LABEL_VALUE.match(value)):
                t._fail("value", f"a taint value of at most 63 letters, digits, '-', '_' or '.', got {value!r}")
            effect = t.get("effect", str, required=True)
            if effect not in _TAINT_EFFECTS:
                t._fail("effect", f"one of {', '.join(_TAINT_EFFECTS)}, got {effect!r}")
            taints.append({k: v for k, v in (("key", key), ("value", value), ("effect", effect)) if v is not None})
        labels = g.string_map("labels", "label")
        zone, region, instance = (g.get("zone", str, "zone-a"), g.get("region", str, "region-1"),
                                  g.get("instanceType", str, "g.n2.xlarge"))
        for key, value in (("zone", zone), ("region", region), ("instanceType", instance)):
            if len(value) > 63 or not _LABEL_VALUE.match(value):
                g._fail(key, f"a label value of at most 63 letters, digits, '-', '_' or '.', got {value!r}")
        groups.append(NodeGroup(count=count, name_prefix=prefix, roles=roles, zone=zone, region=region,
                                subnet=g.cidr("subnet", required=True), instance_type=instance, taints=taints,
                                labels=labels, unschedulable=g.get("unschedulable", bool, False),
                                secondary_subnets=_secondary_subnets(g), mtu=g.int_in("mtu", 68, 65535, None),
                                src_dst_check=g.get("srcDstCheck", bool)))
    return groups


def _cloud(cluster: _Reader, groups: list[NodeGroup]) -> CloudSettings:
    """cluster.srcDstCheck (default off), nodeGroups[].srcDstCheck per subnet (groups sharing a subnet must
    agree: the check is the subnet's here), cluster.securityGroup {allowIPIP, allowBGP} (default allowed)."""
    group = cluster.child("securityGroup", cluster.get("securityGroup", dict, {}))
    group.unknown({"allowIPIP", "allowBGP"})
    by_subnet: dict[str, bool] = {}
    for i, g in enumerate(groups):
        if g.src_dst_check is None:
            continue
        if by_subnet.get(g.subnet, g.src_dst_check) != g.src_dst_check:
            raise ScenarioError(cluster.source, f"nodeGroups[{i}].srcDstCheck",
                                f"the same value as the other groups on subnet {g.subnet}")
        by_subnet[g.subnet] = g.src_dst_check
    return CloudSettings(src_dst_check=cluster.get("srcDstCheck", bool, False), src_dst_check_by_subnet=by_subnet,
                         allow_ipip=group.get("allowIPIP", bool, True), allow_bgp=group.get("allowBGP", bool, True))


def _secondary_subnets(g: _Reader) -> list[str]:
    subnets = []
    for i, value in enumerate(g.strings("secondarySubnets")):
        try:
            network = ipaddress.ip_network(value)
        except ValueError:
            network = None
        if network is None or network.version != 4 or network.num_addresses < 16:
            g._fail(f"secondarySubnets[{i}]", f"an IPv4 CIDR of at least 16 addresses such as 10.250.0.0/24, "
                                              f"got {value!r}")
        subnets.append(str(network))
    return subnets


def _namespaces(top: _Reader) -> list[dict]:
    result, seen = [], set()
    for n in top.items("namespaces"):
        n.unknown({"name", "labels"})
        name = n.name("name", "label")
        if name in seen:
            n._fail("name", f"a namespace not listed before, got {name!r} twice")
        seen.add(name)
        result.append({"name": name, "labels": n.string_map("labels", "label")})
    return result


def _workloads(top: _Reader) -> list[dict]:
    result, seen = [], {}
    for i, w in enumerate(top.items("workloads")):
        w.unknown(_WORKLOAD_FIELDS)
        kind = w.choice("kind", WORKLOAD_KINDS, "Deployment")
        # Deployments, StatefulSets and DaemonSets get a Service of the same name: a DNS-1035 label.
        name = w.name("name", "subdomain" if kind in ("Pod", "Job") else "dns1035")
        if kind == "StatefulSet":
            _check_name(w, "name", f"{name}-headless", "dns1035", shown=f"{name!r} (its Service is {name}-headless)")
        namespace = w.name("namespace", "label", required=False, default="default")
        if (namespace, name) in seen:
            w._fail("name", f"a name no other workload in namespace {namespace} uses; workloads[{seen[namespace, name]}]"
                            f" is also {name!r}")
        seen[namespace, name] = i
        w.int_in("replicas", 0, None, 1)
        w.int_in("completions", 1, None, 1)
        w.int_in("port", 1, 65535, 8080)
        labels = w.string_map("labels", "label")
        if "app" in labels and labels["app"] != name:
            w._fail("labels.app", f"the workload's own name {name!r} (the selector uses app={name}), "
                                  f"got {labels['app']!r}")
        w.string_map("nodeSelector", "label")
        w.get("emptyDir", bool, False)
        w.get("hostNetwork", bool, False)
        image = w.get("image", str)
        if image is not None and (not image or any(c.isspace() for c in image)):
            w._fail("image", f"an image reference such as docker.io/library/busybox:1.36, got {image!r}")
        w.strings("command")
        for t in w.items("tolerations"):
            t.unknown({"key", "operator", "value", "effect", "tolerationSeconds"})
            key = t.get("key", str, "")
            operator = t.choice("operator", ("Exists", "Equal"), "Equal")
            if key and not _qualified_name_ok(key):
                t._fail("key", f"a taint key such as dedicated or example.com/gpu, got {key!r}")
            if not key and operator != "Exists":
                t._fail("operator", "Exists when the toleration has no key")
            if operator == "Exists" and t.get("value", str):
                t._fail("value", "no value with operator Exists")
            t.get("value", str)
            effect = t.get("effect", str, "")
            if effect not in ("",) + _TAINT_EFFECTS:
                t._fail("effect", f"one of {', '.join(_TAINT_EFFECTS)} (or none), got {effect!r}")
            t.get("tolerationSeconds", int)
        if "pdb" in w.data:
            pdb = w.child("pdb", w.get("pdb", dict, {}))
            pdb.unknown({"minAvailable", "maxUnavailable", "name"})
            pdb.name("name", "subdomain", required=False)
            given = [k for k in ("minAvailable", "maxUnavailable") if pdb.data.get(k) is not None]
            if len(given) != 1:
                pdb._fail("minAvailable", "exactly one of minAvailable and maxUnavailable (as PodDisruptionBudget "
                                          f"allows), got {' and '.join(given) or 'neither'}")
            value = pdb.data[given[0]]
            if not ((isinstance(value, int) and not isinstance(value, bool) and value >= 0)
                    or (isinstance(value, str) and re.match(r"^\d+%$", value))):
                pdb._fail(given[0], f"a count of 0 or more or a percentage such as 50%, got {value!r}")
        result.append(w.data)
    return result


def _policies(top: _Reader) -> list[dict]:
    result, seen = [], set()
    for p in top.items("networkPolicies"):
        p.unknown({"name", "namespace", "spec"})
        name = p.name("name", "subdomain")
        namespace = p.name("namespace", "label", required=False, default="default")
        if (namespace, name) in seen:
            p._fail("name", f"a name no other policy in namespace {namespace} uses, got {name!r} twice")
        seen.add((namespace, name))
        spec = p.child("spec", p.get("spec", dict, required=True))
        spec.unknown({"podSelector", "policyTypes", "ingress", "egress"})
        _label_selector(spec.child("podSelector", spec.get("podSelector", dict, required=True)))
        for i, kind in enumerate(spec.strings("policyTypes")):
            if kind not in ("Ingress", "Egress"):
                spec._fail(f"policyTypes[{i}]", f"Ingress or Egress, got {kind!r}")
        for direction, peers in (("ingress", "from"), ("egress", "to")):
            for rule in spec.items(direction):
                rule.unknown({peers, "ports"})
                for peer in rule.items(peers):
                    peer.unknown({"podSelector", "namespaceSelector", "ipBlock"})
                    if not peer.data:
                        peer._fail("podSelector", "one of podSelector, namespaceSelector or ipBlock")
                    for key in ("podSelector", "namespaceSelector"):
                        if key in peer.data:
                            _label_selector(peer.child(key, peer.get(key, dict, {})))
                    if "ipBlock" in peer.data:
                        block = peer.child("ipBlock", peer.get("ipBlock", dict, {}))
                        block.unknown({"cidr", "except"})
                        block.cidr("cidr", required=True)
                        for i, item in enumerate(block.strings("except")):
                            try:
                                ipaddress.ip_network(item)
                            except ValueError:
                                block._fail(f"except[{i}]", f"a CIDR such as 10.0.1.0/24, got {item!r}")
                for port in rule.items("ports"):
                    port.unknown({"protocol", "port", "endPort"})
                    port.choice("protocol", ("TCP", "UDP", "SCTP"), "TCP")
                    value = port.data.get("port")
                    if value is not None and not ((isinstance(value, int) and not isinstance(value, bool)
                                                   and 1 <= value <= 65535) or isinstance(value, str)):
                        port._fail("port", f"a port number from 1 to 65535 or a named port, got {value!r}")
                    port.int_in("endPort", 1, 65535)
        result.append(p.data)
    return result


def _label_selector(selector: _Reader) -> None:
    selector.unknown({"matchLabels", "matchExpressions"})
    selector.string_map("matchLabels", "label")
    for e in selector.items("matchExpressions"):
        e.unknown({"key", "operator", "values"})
        key = e.get("key", str, required=True)
        if not _qualified_name_ok(key):
            e._fail("key", f"a label key such as app or example.com/app, got {key!r}")
        operator = e.choice("operator", ("In", "NotIn", "Exists", "DoesNotExist"), "In")
        values = e.strings("values")
        if operator in ("In", "NotIn") and not values:
            e._fail("values", f"at least one value with operator {operator}")
        if operator in ("Exists", "DoesNotExist") and values:
            e._fail("values", f"no values with operator {operator}")
