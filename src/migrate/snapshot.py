"""The snapshot: facts gathered from a cluster into plain, frozen data, and its YAML file.

Gathering only reads. Every collection is listed page by page, so the number of API calls grows
with pages, never with nodes. The digest covers the cluster id and content (not the capture time),
so two snapshots of an unchanged cluster have the same digest and a hand-edited file is refused.
"""
from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import yaml_files
from .errors import UserError
from .labels import selector_matches

SCHEMA = "migrate.snapshot/v1"
FLANNEL_NAMESPACES = ("kube-flannel", "kube-system")
FLANNEL_DAEMONSETS = ("kube-flannel-ds", "kube-flannel-ds-amd64", "canal")
FLANNEL_ANNOTATION = "flannel.alpha.coreos.com/"
ADDON_MANAGER_LABEL = "addonmanager.kubernetes.io/mode"
ROLE_LABELS = {"node-role.kubernetes.io/control-plane": "control-plane", "node-role.kubernetes.io/master": "master"}
ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
CALICO_GROUP = "crd.projectcalico.org"


class SnapshotFileError(UserError):
    """A snapshot file that cannot be trusted: truncated, of another schema, or edited."""


@dataclass(frozen=True)
class Snapshot:
    """What a cluster looked like. `content` is plain JSON-able data; nothing here has behaviour."""
    cluster_id: str
    captured_at: str
    content: dict
    digest: str
    schema: str = SCHEMA


def content_digest(cluster_id: str, content: dict) -> str:
    canonical = json.dumps({"clusterId": cluster_id, "content": content}, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


# ---- gathering -------------------------------------------------------------------------------

def gather_snapshot(kube, *, now: datetime.datetime | None = None) -> Snapshot:
    """Read the cluster through `kube` (a migrate.kube.Kube) into a Snapshot. Makes no writes."""
    cluster_id = kube.get("/api/v1/namespaces/kube-system")["metadata"]["uid"]
    daemonsets = kube.list("/apis/apps/v1/daemonsets")
    pods = kube.list("/api/v1/pods")
    nodes = kube.list("/api/v1/nodes")
    crds = kube.list("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
    content = {
        "server": _server(kube),
        "apis": _apis(kube),
        "flannel": _flannel(kube, daemonsets, pods),
        "nodes": [_node(n) for n in sorted(nodes, key=_name)],
        "pods": _pods_by_node(pods),
        "podDisruptionBudgets": [_pdb(p) for p in kube.list("/apis/policy/v1/poddisruptionbudgets")],
        "networkPolicies": [_network_policy(p, pods) for p in
                            kube.list("/apis/networking.k8s.io/v1/networkpolicies")],
        "kubeProxy": _kube_proxy(kube),
        "serviceNetwork": _service_network(kube),
        "coreDNS": sorted(({"pod": _name(p), "node": p["spec"].get("nodeName")} for p in pods
                           if _namespace(p) == "kube-system" and _labels(p).get("k8s-app") == "kube-dns"),
                          key=lambda d: d["pod"]),
        "calico": _calico(kube, daemonsets, crds),
    }
    captured = (now or datetime.datetime.now(datetime.timezone.utc)).isoformat(timespec="seconds")
    return Snapshot(cluster_id=cluster_id, captured_at=captured, content=content,
                    digest=content_digest(cluster_id, content))


def _name(obj: dict) -> str:
    return obj["metadata"]["name"]


def _namespace(obj: dict) -> str:
    return obj["metadata"].get("namespace", "")


def _labels(obj: dict) -> dict:
    return obj["metadata"].get("labels") or {}


def _server(kube) -> dict:
    version = kube.get("/version")
    return {"gitVersion": version.get("gitVersion"), "major": version.get("major"), "minor": version.get("minor")}


def _apis(kube) -> dict:
    core = kube.get("/api/v1")
    coordination = kube.get_optional("/apis/coordination.k8s.io/v1")
    return {"eviction": any(r.get("name") == "pods/eviction" for r in core.get("resources", [])),
            "leases": bool(coordination and any(r.get("name") == "leases" for r in coordination.get("resources", [])))}


def _flannel(kube, daemonsets: list[dict], pods: list[dict]) -> dict:
    searched = [f"DaemonSet {n} in namespace {ns}" for ns in FLANNEL_NAMESPACES for n in FLANNEL_DAEMONSETS]
    searched.append("pods labelled app=flannel, k8s-app=flannel or k8s-app=canal in any namespace")
    by_key = {(_namespace(d), _name(d)): d for d in daemonsets}
    found = next((by_key[(ns, n)] for ns in FLANNEL_NAMESPACES for n in FLANNEL_DAEMONSETS if (ns, n) in by_key), None)
    if found is None:  # renamed or moved: follow a flannel pod to its DaemonSet
        for pod in pods:
            if _labels(pod).get("app") == "flannel" or _labels(pod).get("k8s-app") in ("flannel", "canal"):
                owner = next((o for o in pod["metadata"].get("ownerReferences") or [] if o.get("kind") == "DaemonSet"), None)
                if owner and (_namespace(pod), owner["name"]) in by_key:
                    found = by_key[(_namespace(pod), owner["name"])]
                    break
    if found is None:
        return {"found": False, "searched": searched}
    namespace, name = _namespace(found), _name(found)
    pod_spec = found["spec"]["template"]["spec"]
    container = next((c for c in pod_spec.get("containers", []) if "flannel" in c.get("name", "")
                      or "flanneld" in " ".join(c.get("command") or [])), pod_spec["containers"][0])
    config_map, net_conf = _net_conf(kube, namespace, pod_spec)
    account = pod_spec.get("serviceAccountName") or pod_spec.get("serviceAccount") or "default"
    bindings = [b for b in kube.list("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings")
                if any(s.get("kind") == "ServiceAccount" and s.get("name") == account
                       and s.get("namespace") == namespace for s in b.get("subjects") or [])]
    canal = name == "canal" or ((found["spec"]["template"].get("metadata") or {}).get("labels") or {}).get("k8s-app") == "canal"
    return {"found": True, "flavor": "canal" if canal else
            ("legacy" if namespace == "kube-system" else "manifest"),
            "namespace": namespace, "daemonSet": name, "image": container.get("image"),
            "args": list(container.get("args") or []), "command": list(container.get("command") or []),
            "addonManager": _labels(found).get(ADDON_MANAGER_LABEL),
            "nodeSelector": pod_spec.get("nodeSelector") or {}, "configMap": config_map, "netConf": net_conf,
            "serviceAccount": account, "clusterRoleBindings": sorted(_name(b) for b in bindings),
            "clusterRoles": sorted({b["roleRef"]["name"] for b in bindings if b.get("roleRef", {}).get("kind") == "ClusterRole"}),
            "searched": searched}


def _net_conf(kube, namespace: str, pod_spec: dict) -> tuple[str | None, dict]:
    """The ConfigMap the DaemonSet mounts that holds net-conf.json, and its parse."""
    mounted = [v["configMap"]["name"] for v in pod_spec.get("volumes") or [] if v.get("configMap")]
    for cm in kube.list(f"/api/v1/namespaces/{namespace}/configmaps"):
        if _name(cm) in mounted and "net-conf.json" in (cm.get("data") or {}):
            return _name(cm), parse_net_conf(cm["data"]["net-conf.json"])
    return None, {"parseError": f"no ConfigMap mounted by the DaemonSet in {namespace} holds net-conf.json"}


def parse_net_conf(text: str) -> dict:
    """Flannel's net-conf.json with flannel's defaults filled in; a parse error is recorded, not raised."""
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        backend = raw.get("Backend") or {}
        if not isinstance(backend, dict):
            raise ValueError("Backend is not a JSON object")
        network = raw.get("Network")
        if network is not None:
            ipaddress.ip_network(network)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        return {"parseError": f"net-conf.json is not valid: {exc}", "raw": text}
    backend_type = backend.get("Type", "udp")
    is_vxlan = backend_type == "vxlan"
    return {"network": network, "subnetLen": raw.get("SubnetLen", 24),
            "backend": {"type": backend_type, "vni": backend.get("VNI", 1) if is_vxlan else backend.get("VNI"),
                        "port": backend.get("Port", 8472) if is_vxlan else backend.get("Port"),
                        "directRouting": bool(backend.get("DirectRouting", False)),
                        **({"gbp": True} if is_vxlan and backend.get("GBP") else {}),
                        **({"mtu": mtu} if (mtu := _backend_mtu(backend)) else {})},
            "enableIPv6": bool(raw.get("EnableIPv6", False)),
            "ipv6Network": raw.get("IPv6Network"), "enableNFTables": bool(raw.get("EnableNFTables", False))}


def _backend_mtu(backend: dict) -> int | None:
    """Backend.MTU, recorded only when set. Flannel has no top-level MTU: the backend's MTU is the underlay's (the
    default is the external NIC's), and FLANNEL_MTU is it less the encapsulation (flannel v0.28.9
    pkg/backend/vxlan/vxlan.go parseVXLANConfig, vxlan_network.go MTU(); Go's JSON matches the key in any case).
    The MTU a node derives from its NIC is in no API object (Node status has no MTU, Flannel's annotations carry
    none), so a read-only snapshot cannot know it: the plan's prepare/flannel-mtu step reads it on each node."""
    value = next((v for k, v in backend.items() if k.lower() == "mtu"), None)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _node(node: dict) -> dict:
    labels, spec, status = _labels(node), node.get("spec") or {}, node.get("status") or {}
    annotations = node["metadata"].get("annotations") or {}
    cidrs = spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else [])
    backend_data = annotations.get(FLANNEL_ANNOTATION + "backend-data")
    try:
        vtep_mac = json.loads(backend_data).get("VtepMAC") if backend_data else None
    except (ValueError, AttributeError):
        vtep_mac = None
    ready = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), "Unknown")
    return {"name": _name(node), "roles": sorted(role for label, role in ROLE_LABELS.items() if label in labels),
            "zone": labels.get(ZONE_LABEL) or labels.get("failure-domain.beta.kubernetes.io/zone"),
            "region": labels.get(REGION_LABEL) or labels.get("failure-domain.beta.kubernetes.io/region"),
            "taints": [{k: t[k] for k in ("key", "value", "effect") if k in t} for t in spec.get("taints") or []],
            "unschedulable": bool(spec.get("unschedulable", False)),
            "addresses": [{"type": a.get("type"), "address": a.get("address")} for a in status.get("addresses") or []],
            "podCIDRs": [{"cidr": c, "prefixLength": ipaddress.ip_network(c, strict=False).prefixlen} for c in cidrs],
            "flannel": {"backendType": annotations.get(FLANNEL_ANNOTATION + "backend-type"), "vtepMAC": vtep_mac,
                        "publicIP": annotations.get(FLANNEL_ANNOTATION + "public-ip")},
            "ready": ready, "kubeletVersion": (status.get("nodeInfo") or {}).get("kubeletVersion"),
            **_non_linux(labels)}


def node_facts(node: dict) -> dict:
    """One Node as a snapshot records it; also how a run records a node that joined after the snapshot."""
    return _node(node)


def pods_by_node(pods: list[dict]) -> dict:
    """Per node, the pods a drain reckons with, as a snapshot records them."""
    return _pods_by_node(pods)


def _non_linux(labels: dict) -> dict:
    """{"os": ...} for a node whose OS label is not linux (windows, ...); nothing for Linux nodes, so
    snapshots of Linux-only clusters stay as they were."""
    os_name = labels.get("kubernetes.io/os") or labels.get("beta.kubernetes.io/os") or "linux"
    return {} if os_name == "linux" else {"os": os_name}


def _pod_kind(pod: dict) -> str:
    if MIRROR_ANNOTATION in (pod["metadata"].get("annotations") or {}):
        return "mirror"
    owners = pod["metadata"].get("ownerReferences") or []
    controller = next((o for o in owners if o.get("controller")), None)
    if controller is None:
        return "unmanaged"
    return "daemonset" if controller.get("kind") == "DaemonSet" else "controller"


def _pods_by_node(pods: list[dict]) -> dict:
    """Per node, the pods a drain has to reckon with; finished pods do not matter to a drain."""
    by_node: dict[str, list] = {}
    for pod in sorted(pods, key=lambda p: (_namespace(p), _name(p))):
        phase = (pod.get("status") or {}).get("phase")
        node = (pod.get("spec") or {}).get("nodeName")
        if not node or phase in ("Succeeded", "Failed"):
            continue
        spec = pod["spec"]
        by_node.setdefault(node, []).append({
            "namespace": _namespace(pod), "name": _name(pod), "kind": _pod_kind(pod),
            "hostNetwork": bool(spec.get("hostNetwork", False)),
            "emptyDir": any("emptyDir" in v for v in spec.get("volumes") or []), "labels": _labels(pod),
            "workload": _workload(pod), "ready": pod_ready(pod)})
    return dict(sorted(by_node.items()))


# The workloads `_workload` names that keep replicas (a DaemonSet's pods are per node, not replicas).
REPLICATED_WORKLOADS = ("Deployment/", "StatefulSet/", "ReplicaSet/")


def _workload(pod: dict) -> str | None:
    """The workload a pod's controller serves, as `Kind/name`: a ReplicaSet named `<deployment>-<pod-template-hash>`
    stands for its Deployment (how the deployment controller names them, pkg/controller/deployment/sync.go)."""
    controller = next((o for o in pod["metadata"].get("ownerReferences") or [] if o.get("controller")), None)
    if controller is None or controller.get("kind") == "DaemonSet":
        return None
    kind, name = controller.get("kind"), controller.get("name", "")
    template_hash = _labels(pod).get("pod-template-hash")
    if kind == "ReplicaSet" and template_hash and name.endswith(f"-{template_hash}"):
        return f"Deployment/{name[:-len(template_hash) - 1]}"
    return f"{kind}/{name}"


def pod_ready(pod: dict) -> bool:
    """The pod's Ready condition is True (what the kubelet reports, readiness probes included)."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _pdb(pdb: dict) -> dict:
    spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
    return {"namespace": _namespace(pdb), "name": _name(pdb), "selector": spec.get("selector"),
            "minAvailable": spec.get("minAvailable"), "maxUnavailable": spec.get("maxUnavailable"),
            "status": {k: status.get(k) for k in ("currentHealthy", "desiredHealthy", "disruptionsAllowed", "expectedPods")}}


def _network_policy(policy: dict, pods: list[dict]) -> dict:
    spec, namespace = policy.get("spec") or {}, _namespace(policy)
    selector = spec.get("podSelector") or {}
    selected = sorted(_name(p) for p in pods if _namespace(p) == namespace and selector_matches(selector, _labels(p)))
    return {"namespace": namespace, "name": _name(policy), "podSelector": selector,
            "policyTypes": spec.get("policyTypes") or (["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]),
            "ingress": spec.get("ingress") or [], "egress": spec.get("egress") or [], "selectedPods": selected}


def _config_yaml(kube, namespace: str, name: str, key: str) -> dict:
    cm = kube.get_optional(f"/api/v1/namespaces/{namespace}/configmaps/{name}")
    try:
        parsed = yaml.safe_load(((cm or {}).get("data") or {}).get(key) or "")
    except yaml.YAMLError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _kube_proxy(kube) -> dict:
    conf = _config_yaml(kube, "kube-system", "kube-proxy", "config.conf")
    return {"mode": conf.get("mode") or ("iptables" if conf else None), "clusterCIDR": conf.get("clusterCIDR")}


def _service_network(kube) -> dict:
    networking = _config_yaml(kube, "kube-system", "kubeadm-config", "ClusterConfiguration").get("networking") or {}
    service = kube.get_optional("/api/v1/namespaces/default/services/kubernetes")
    return {"podSubnet": networking.get("podSubnet"), "serviceSubnet": networking.get("serviceSubnet"),
            "kubernetesServiceIP": ((service or {}).get("spec") or {}).get("clusterIP")}


def _calico(kube, daemonsets: list[dict], crds: list[dict]) -> dict:
    calico_crds = sorted(_name(c) for c in crds if (c.get("spec") or {}).get("group") == CALICO_GROUP)
    pools = []
    if f"ippools.{CALICO_GROUP}" in calico_crds:
        pools = [{"name": _name(p), **{k: (p.get("spec") or {}).get(k) for k in
                                        ("cidr", "blockSize", "ipipMode", "vxlanMode", "natOutgoing", "disabled")}}
                 for p in kube.list(f"/apis/{CALICO_GROUP}/v1/ippools")]
    node_ds = next(({"namespace": _namespace(d), "name": _name(d)} for d in daemonsets if _name(d) == "calico-node"), None)
    return {"crds": calico_crds, "ipPools": pools, "calicoNode": node_ds}


# ---- the file -------------------------------------------------------------------------------

def snapshot_to_yaml(snapshot: Snapshot) -> str:
    document = {"schema": snapshot.schema, "capturedAt": snapshot.captured_at, "clusterId": snapshot.cluster_id,
                "digest": snapshot.digest, "content": snapshot.content}
    return yaml_files.dump(document)


def load_snapshot(path: str | Path) -> Snapshot:
    """Read a snapshot file, refusing one that is unreadable, truncated, of another schema or edited."""
    path = Path(path)
    fix = "take a fresh one with `migrate snapshot -o FILE`"
    document = yaml_files.read_document(path, "snapshot", SnapshotFileError, fix)
    if not isinstance(document, dict) or not {"schema", "clusterId", "digest", "content"} <= set(document):
        raise SnapshotFileError(f"snapshot {path} is incomplete (truncated?)", fix)
    if document["schema"] != SCHEMA:
        raise SnapshotFileError(f"snapshot {path} has schema {document['schema']!r}, this tool reads {SCHEMA!r}", fix)
    if not isinstance(document["content"], dict):
        raise SnapshotFileError(f"snapshot {path} is incomplete (truncated?)", fix)
    digest = content_digest(document["clusterId"], document["content"])
    if digest != document["digest"]:
        raise SnapshotFileError(f"snapshot {path} does not match its digest (edited or truncated)", fix)
    return Snapshot(cluster_id=document["clusterId"], captured_at=str(document.get("capturedAt")),
                    content=document["content"], digest=digest)
