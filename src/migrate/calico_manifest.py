"""Calico's manifest (calico.yaml), transformed for a live migration from Flannel.

The official manifest runs calico-node on every node with BGP (BIRD), an IPIP default pool and
auto-detected MTU. For a node-by-node migration calico-node must run only on nodes labelled for
Calico, network with VXLAN and no BGP, use Flannel's MTU, create no pool of its own (the tool
creates the pool) and allocate with the chosen IPAM. `transform_manifest` makes exactly those
changes, says what it changed, and leaves everything else as published. Pure: no API calls.
"""
from __future__ import annotations

import copy
import difflib
import ipaddress
import json
import re
from dataclasses import dataclass

import yaml

from .analysis.typha import typha_deployment
from .errors import UserError

IPAMS = ("calico-ipam", "host-local")
BIRD_FLAGS = ("-bird-live", "-bird-ready")
ADDRESS_METHOD = "kubernetes-internal-ip"  # calico-node's IP_AUTODETECTION_METHOD (see _transform_daemonset)
_CALICO_CONFIG = "calico-config"
_APPLY_RANK = {"Namespace": 0, "CustomResourceDefinition": 1}


class ManifestError(UserError, ValueError):
    """The text is not a Calico manifest this tool can transform, or the settings are unusable."""


@dataclass(frozen=True)
class CalicoSettings:
    node_label: str            # "projectcalico.org/node-network-during-migration"
    node_label_value: str      # "calico"
    vxlan_mtu: int             # Flannel's MTU, e.g. 1450
    pool_cidr: str             # Flannel's Network
    block_size: int
    ipam: str                  # "calico-ipam" or "host-local"
    typha_replicas: int | None = None  # calico-typha's replicas, when the manifest runs Typha (None: as published)


@dataclass(frozen=True)
class TransformedManifest:
    objects: list[dict]        # every object, transformed, in apply order (namespaces and CRDs first)
    changes: list[str]         # one line per change made
    diff: str                  # unified diff (original YAML vs transformed YAML) of the changed objects only


def transform_manifest(text: str, settings: CalicoSettings) -> TransformedManifest:
    _check_settings(settings)
    original = _parse(text)
    objects = copy.deepcopy(original)
    daemonset = _find(objects, "DaemonSet", "calico-node")
    config = _find(objects, "ConfigMap", _CALICO_CONFIG)
    if daemonset is None or config is None:
        missing = " and ".join(what for what, obj in (("no calico-node DaemonSet", daemonset),
                                                        (f"no {_CALICO_CONFIG} ConfigMap", config)) if obj is None)
        raise ManifestError(f"not a Calico manifest: {missing}",
                            "give Calico's manifest install (calico.yaml of a Calico release, Kubernetes datastore)")
    changes: list[str] = []
    _transform_config(config, settings, _Notes(changes, _title(config)))
    _transform_daemonset(daemonset, settings, _Notes(changes, _title(daemonset)))
    typha = typha_deployment(objects)
    if typha is not None and settings.typha_replicas is not None:
        _size_typha(typha, settings.typha_replicas, _Notes(changes, _title(typha)))

    order = sorted(range(len(objects)), key=lambda i: (_APPLY_RANK.get(objects[i].get("kind"), 2), i))
    diff = "".join(_diff(original[i], objects[i]) for i in order if original[i] != objects[i])
    return TransformedManifest(objects=[objects[i] for i in order], changes=changes, diff=diff)


# ---- input -------------------------------------------------------------------------------------

def _check_settings(s: CalicoSettings) -> None:
    if s.ipam not in IPAMS:
        raise ManifestError(f"unknown IPAM {s.ipam!r}", f"use one of {', '.join(IPAMS)}")
    if not s.node_label or not s.node_label_value:
        raise ManifestError("the node label for Calico is empty", "give a label key and value")
    if not isinstance(s.vxlan_mtu, int) or isinstance(s.vxlan_mtu, bool) or not 576 <= s.vxlan_mtu <= 9000:
        raise ManifestError(f"VXLAN MTU {s.vxlan_mtu!r} is out of range", "give Flannel's MTU, e.g. 1450")
    try:
        network = ipaddress.ip_network(s.pool_cidr)
    except (TypeError, ValueError):
        raise ManifestError(f"pool CIDR {s.pool_cidr!r} is not a network", "give Flannel's Network, e.g. 10.244.0.0/16")
    if s.typha_replicas is not None and (not isinstance(s.typha_replicas, int) or s.typha_replicas < 1):
        raise ManifestError(f"Typha replicas {s.typha_replicas!r} is not a positive count",
                            "give one or more (with 0, Felix never starts)")
    if not isinstance(s.block_size, int) or not network.prefixlen <= s.block_size <= network.max_prefixlen:
        raise ManifestError(f"block size {s.block_size!r} does not fit pool {s.pool_cidr}",
                            f"give a prefix length between {network.prefixlen} and {network.max_prefixlen}")


def manifest_objects(text: str) -> list[dict]:
    """The manifest's objects as plain data (ManifestError when it is not a list of Kubernetes objects)."""
    return _parse(text)


def _parse(text: str) -> list[dict]:
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ManifestError(f"the Calico manifest is not YAML{where}",
                            "give calico.yaml as published by a Calico release") from None
    objects = []
    for number, doc in enumerate(documents, 1):
        if doc is None:
            continue
        if not isinstance(doc, dict) or not doc.get("kind") or not isinstance(doc.get("metadata"), dict):
            raise ManifestError(f"document {number} of the Calico manifest is not a Kubernetes object",
                                "give calico.yaml as published by a Calico release")
        if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
            objects.extend(item for item in doc["items"] if item)
        else:
            objects.append(doc)
    return objects


_RELEASE_TAG = re.compile(r"v\d+\.\d+\.\d+")


def manifest_release(text: str) -> tuple[str | None, str]:
    """(the release tag of the calico-node image, that image) in a Calico manifest; the tag is None when
    the image carries no release tag (a digest, a mirror's own tag)."""
    daemonset = _find(_parse(text), "DaemonSet", "calico-node")
    containers = ((((daemonset or {}).get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "containers") or []
    image = next((c.get("image", "") for c in containers if c.get("name") == "calico-node"), "")
    if not image:
        raise ManifestError("the Calico manifest has no calico-node DaemonSet with a calico-node container",
                            "give calico.yaml as published by a Calico release")
    tag = image.split("@", 1)[0].rsplit("/", 1)[-1].partition(":")[2]
    return (tag if _RELEASE_TAG.fullmatch(tag) else None), image


def _find(objects: list[dict], kind: str, name: str) -> dict | None:
    return next((o for o in objects if o.get("kind") == kind and o["metadata"].get("name") == name), None)


def _title(obj: dict) -> str:
    meta = obj["metadata"]
    where = f"{meta['namespace']}/{meta.get('name')}" if meta.get("namespace") else str(meta.get("name"))
    return f"{obj['kind']} {where}"


class _Notes:
    """Collects one change line per change, prefixed with the object's kind and name."""

    def __init__(self, changes: list[str], title: str):
        self.changes, self.title = changes, title

    def __call__(self, line: str) -> None:
        self.changes.append(f"{self.title}: {line}")


# ---- calico-config -----------------------------------------------------------------------------

def _transform_config(config: dict, s: CalicoSettings, note: _Notes) -> None:
    data = config.setdefault("data", {})
    for key, wanted in (("calico_backend", "vxlan"), ("veth_mtu", str(s.vxlan_mtu))):
        if data.get(key) != wanted:
            note(f"{key} {_shown(data.get(key))} -> {wanted}")
            data[key] = wanted
    template = data.get("cni_network_config")
    if not isinstance(template, str):
        raise ManifestError(f"{_CALICO_CONFIG} has no cni_network_config",
                            "give calico.yaml as published by a Calico release")
    data["cni_network_config"] = _set_ipam(template, s.ipam, note)


_BARE_PLACEHOLDER = re.compile(r'(?<![\w"])(__[A-Z0-9_]+__)(?![\w"])')
_QUOTED_PLACEHOLDER = re.compile(r'"@@placeholder@@(__[A-Z0-9_]+__)"')


def _wanted_ipam(ipam: str) -> dict:
    return {"type": "calico-ipam"} if ipam == "calico-ipam" else {"type": "host-local", "subnet": "usePodCidr"}


def _set_ipam(template: str, ipam: str, note: _Notes) -> str:
    """The CNI config template with the calico plugin's ipam set; the rest of the text untouched
    where possible. Bare placeholders (`"mtu": __CNI_MTU__`) are not JSON, so they are quoted to
    parse and unquoted again."""
    try:
        conf = json.loads(_BARE_PLACEHOLDER.sub(r'"@@placeholder@@\1"', template))
    except ValueError as exc:
        raise ManifestError(f"{_CALICO_CONFIG} cni_network_config is not a JSON template ({exc})",
                            "give calico.yaml as published by a Calico release") from None
    plugins = conf.get("plugins") if isinstance(conf, dict) and "plugins" in conf else [conf]
    plugin = next((p for p in plugins if isinstance(p, dict) and p.get("type") == "calico"), None)
    if plugin is None:
        raise ManifestError(f"{_CALICO_CONFIG} cni_network_config has no calico plugin",
                            "give calico.yaml as published by a Calico release")
    wanted = _wanted_ipam(ipam)
    current = plugin.get("ipam")
    if current == wanted:
        return template
    note(f"cni_network_config ipam {_ipam_text(current)} -> {_ipam_text(wanted)}")
    keys = list(re.finditer(r'"ipam"\s*:\s*', template))
    if len(keys) == 1 and isinstance(current, dict):
        # the one ipam object is the calico plugin's: replace just its text
        start = keys[0].end()
        try:
            _, end = json.JSONDecoder().raw_decode(template, start)
        except ValueError:
            end = None
        if end is not None:
            return template[:start] + json.dumps(wanted) + template[end:]
    plugin["ipam"] = wanted
    return _QUOTED_PLACEHOLDER.sub(r"\1", json.dumps(conf, indent=2))


def _ipam_text(ipam) -> str:
    if not isinstance(ipam, dict):
        return "(none)"
    extra = ", ".join(f"{k} {v}" for k, v in ipam.items() if k != "type")
    return f"{ipam.get('type')}" + (f" ({extra})" if extra else "")


# ---- calico-node DaemonSet ---------------------------------------------------------------------

def _transform_daemonset(ds: dict, s: CalicoSettings, note: _Notes) -> None:
    try:
        pod = ds["spec"]["template"]["spec"]
    except (KeyError, TypeError):
        raise ManifestError("the calico-node DaemonSet has no pod template",
                            "give calico.yaml as published by a Calico release") from None
    selector = pod.get("nodeSelector") or {}
    if selector.get(s.node_label) != s.node_label_value:
        note(f"nodeSelector += {s.node_label}={s.node_label_value}")
        pod["nodeSelector"] = {**selector, s.node_label: s.node_label_value}

    node = next((c for c in pod.get("containers") or [] if c.get("name") == "calico-node"), None)
    if node is None:
        raise ManifestError("the calico-node DaemonSet has no calico-node container",
                            "give calico.yaml as published by a Calico release")
    env = _Env(node, _Notes(note.changes, f"{note.title}: container calico-node"))
    # the backend: from calico-config (now vxlan) as published, or set outright
    if not env.from_config("CALICO_NETWORKING_BACKEND", "calico_backend"):
        env.set("CALICO_NETWORKING_BACKEND", "vxlan")
    # the pool calico-node would create if none existed: VXLAN, no IPIP; but with NO_DEFAULT_POOLS
    # it creates none (the tool creates it), and calico-node refuses to start when
    # CALICO_IPV4POOL_CIDR is set together with NO_DEFAULT_POOLS, so the CIDR is left unset.
    env.set("CALICO_IPV4POOL_IPIP", "Never")
    env.set("CALICO_IPV4POOL_VXLAN", "Always")
    env.set("CALICO_IPV4POOL_BLOCK_SIZE", str(s.block_size))
    env.remove("CALICO_IPV4POOL_CIDR", "calico-node exits when it is set together with NO_DEFAULT_POOLS")
    env.set("NO_DEFAULT_POOLS", "true", why=f"the migration creates the pool {s.pool_cidr} itself")
    # The node's address, which Felix makes its VTEP's underlay address (where other nodes send VXLAN, and
    # the source of this node's): it must stay the one Flannel uses, the address of the NIC holding the
    # default route (flannel pkg/ipmatch/match.go LookupExtIface), or migrated and unmigrated nodes stop
    # reaching each other. The manifest's IP=autodetect with no method is first-found, which takes the
    # *last* NIC the kernel lists that its name filter keeps (node/pkg/lifecycle/startup/autodetection/
    # interfaces.go walks links in reverse), so on a multi-homed host a second NIC's address. Of Calico's
    # methods, kubernetes-internal-ip is the one the snapshot can check (every node's InternalIP against
    # its Flannel public-ip) and that needs no knowledge the cluster does not hold: cidr= would need the
    # VPC's subnets (the API has none, and a node joining in a new subnet would make calico-node exit), and
    # can-reach= follows a route the plan cannot see.
    env.set("IP_AUTODETECTION_METHOD", ADDRESS_METHOD,
            why="Calico keeps Flannel's node address, the node's InternalIP (IP=autodetect alone is first-found, "
                "which can take another NIC on multi-homed hosts and move the VXLAN underlay address)")
    # VXLAN MTU: from calico-config veth_mtu (now Flannel's MTU) as published, or set outright
    if not env.from_config("FELIX_VXLANMTU", "veth_mtu"):
        env.set("FELIX_VXLANMTU", str(s.vxlan_mtu))
    if s.ipam == "host-local":
        env.set("USE_POD_CIDR", "true", why="host-local IPAM allocates from each node's podCIDR")

    for probe in ("livenessProbe", "readinessProbe"):
        command = ((node.get(probe) or {}).get("exec") or {}).get("command")
        if isinstance(command, list) and any(flag in command for flag in BIRD_FLAGS):
            dropped = [arg for arg in command if arg in BIRD_FLAGS]
            node[probe]["exec"]["command"] = [arg for arg in command if arg not in BIRD_FLAGS]
            env.note(f"{probe} drops {' '.join(dropped)} (no BIRD with the VXLAN backend)")

    if s.ipam == "host-local":
        inits = pod.get("initContainers") or []
        if any(c.get("name") == "upgrade-ipam" for c in inits):
            pod["initContainers"] = [c for c in inits if c.get("name") != "upgrade-ipam"]
            note("initContainers -= upgrade-ipam (it would move host-local allocations into calico-ipam)")


def _size_typha(deployment: dict, replicas: int, note: _Notes) -> None:
    """calico-typha's replicas as Calico's docs size them for the cluster (analysis/typha.py typha_replicas). Its
    placement stays as published (linux nodes, every NoSchedule/NoExecute taint tolerated, hostNetwork): Typha serves
    every Felix, so it must run on Flannel nodes too, never only on nodes labelled for Calico."""
    spec = deployment.setdefault("spec", {})
    if spec.get("replicas") != replicas:
        note(f"replicas {_shown(spec.get('replicas'))} -> {replicas} (Calico's docs: one per 200 nodes, at least 3, "
             "at most 20, fewer than the nodes)")
        spec["replicas"] = replicas


class _Env:
    """A container's env list, edited in place with one change line per edit."""

    def __init__(self, container: dict, note: _Notes):
        self.container, self.note = container, note

    def _entries(self) -> list[dict]:
        return self.container.setdefault("env", [])

    def _find(self, name: str) -> dict | None:
        return next((e for e in self._entries() if e.get("name") == name), None)

    def from_config(self, name: str, key: str) -> bool:
        """True when the variable already comes from calico-config's `key`."""
        ref = ((self._find(name) or {}).get("valueFrom") or {}).get("configMapKeyRef") or {}
        return ref.get("name") == _CALICO_CONFIG and ref.get("key") == key

    def set(self, name: str, value: str, why: str = "") -> None:
        entry = self._find(name)
        if entry is not None and entry.get("value") == value and "valueFrom" not in entry:
            return
        if entry is None:
            self._entries().append({"name": name, "value": value})
            self.note(f"env {name} = {value} (added{': ' + why if why else ''})")
        else:
            before = _describe(entry)
            entry.pop("valueFrom", None)
            entry["value"] = value
            self.note(f"env {name} {before} -> {value}" + (f" ({why})" if why else ""))

    def remove(self, name: str, why: str) -> None:
        entry = self._find(name)
        if entry is not None:
            self.container["env"] = [e for e in self._entries() if e is not entry]
            self.note(f"env {name} {_describe(entry)} removed ({why})")


def _describe(entry: dict) -> str:
    if "valueFrom" in entry:
        ref = entry["valueFrom"].get("configMapKeyRef")
        return f"from ConfigMap {ref.get('name')}/{ref.get('key')}" if ref else "from valueFrom"
    return _shown(entry.get("value"))


def _shown(value) -> str:
    return "(unset)" if value is None else json.dumps(value) if value == "" else str(value)


# ---- diff --------------------------------------------------------------------------------------

class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (the CNI template) as literal blocks, so a diff shows lines, not escapes."""


def _str(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def _yaml(obj: dict) -> list[str]:
    return yaml.dump(obj, Dumper=_BlockDumper, sort_keys=False, default_flow_style=False,
                     width=1000).splitlines(keepends=True)


def _diff(before: dict, after: dict) -> str:
    title = _title(after).replace(" ", "/")
    return "".join(difflib.unified_diff(_yaml(before), _yaml(after), fromfile=f"a/{title}", tofile=f"b/{title}"))
