"""The simulator's own Calico release: a manifest install with the shape of Calico's calico.yaml
(Kubernetes datastore), built from data here so a demo runs with no download.

What it has, as the official manifest does: the Calico CRDs (schemas left open), the
ServiceAccounts, ClusterRoles and bindings of calico-node, the CNI plugin and
calico-kube-controllers, the calico-config ConfigMap (backend BIRD, MTU auto-detected, the CNI
config template with calico-ipam), the calico-node DaemonSet in kube-system (init containers
upgrade-ipam and install-cni, then calico-node with BGP, an IPIP default pool and BIRD in its
probes) and the calico-kube-controllers Deployment with its PodDisruptionBudget. It is the
release as published, not yet transformed for a migration.

With `typha=True` it is calico-typha.yaml instead, which Calico v3.32.1 publishes beside calico.yaml
(manifests/calico-typha.yaml, from charts/calico/templates/calico-typha.yaml): the same objects plus
the calico-typha PodDisruptionBudget (maxUnavailable 1), Service (port 5473 named calico-typha) and
Deployment (one replica as published, hostNetwork, tolerating every NoSchedule and NoExecute taint, no
pod anti-affinity), typha_service_name "calico-typha" in calico-config, and calico-node's
FELIX_TYPHAK8SSERVICENAME read from it.
"""
from __future__ import annotations

import copy

import yaml

from .flannel_install import calico_crds

CALICO_RELEASE_VERSION = "v3.32.1"
NAMESPACE = "kube-system"
REGISTRY = "docker.io/calico"
TYPHA = "calico-typha"
TYPHA_PORT = 5473

CNI_NETWORK_CONFIG = """{
  "name": "k8s-pod-network",
  "cniVersion": "0.3.1",
  "plugins": [
    {
      "type": "calico",
      "log_level": "info",
      "log_file_path": "/var/log/calico/cni/cni.log",
      "datastore_type": "kubernetes",
      "nodename": "__KUBERNETES_NODE_NAME__",
      "mtu": __CNI_MTU__,
      "ipam": {
        "type": "calico-ipam"
      },
      "policy": {
        "type": "k8s"
      },
      "kubernetes": {
        "kubeconfig": "__KUBECONFIG_FILEPATH__"
      }
    },
    {
      "type": "portmap",
      "snat": true,
      "capabilities": {"portMappings": true}
    }
  ]
}"""

_CALICO_PLURALS = ["bgpconfigurations", "bgpfilters", "bgppeers", "blockaffinities", "caliconodestatuses",
                   "clusterinformations", "felixconfigurations", "globalnetworkpolicies", "globalnetworksets",
                   "hostendpoints", "ipamblocks", "ipamconfigs", "ipamhandles", "ippools", "ipreservations",
                   "kubecontrollersconfigurations", "networkpolicies", "networksets", "tiers"]


def calico_release_manifest(version: str = CALICO_RELEASE_VERSION, typha: bool = False) -> str:
    """The release as one multi-document YAML text, in the official manifest's order (calico-typha.yaml's
    when `typha`)."""
    return yaml.safe_dump_all(calico_release_objects(version, typha), sort_keys=False, default_flow_style=False,
                              width=1000)


def calico_release_objects(version: str = CALICO_RELEASE_VERSION, typha: bool = False) -> list[dict]:
    if not version or any(c in version for c in " /:@"):
        raise ValueError(f"not a Calico version: {version!r}")
    return [
        _pdb(),
        *([_pdb("calico-typha")] if typha else []),
        _service_account("calico-kube-controllers"),
        _service_account("calico-node"),
        _service_account("calico-cni-plugin"),
        _calico_config(typha),
        *_crds(),
        _cluster_role("calico-kube-controllers", _KUBE_CONTROLLERS_RULES),
        _cluster_role("calico-node", _NODE_RULES),
        _cluster_role("calico-cni-plugin", _CNI_PLUGIN_RULES),
        _binding("calico-kube-controllers"),
        _binding("calico-node"),
        _binding("calico-cni-plugin"),
        *([_typha_service()] if typha else []),
        _calico_node(version, typha),
        _kube_controllers(version),
        *([_typha_deployment(version)] if typha else []),
    ]


def _crds() -> list[dict]:
    """The Calico CRDs the simulator already knows (as Canal installs them), plus the few more the
    official manifest carries, all under crd.projectcalico.org/v1 with open schemas."""
    crds = calico_crds()
    template = crds[0]
    for kind, plural in (("BGPFilter", "bgpfilters"), ("CalicoNodeStatus", "caliconodestatuses"), ("Tier", "tiers")):
        crd = copy.deepcopy(template)
        crd["metadata"]["name"] = f"{plural}.crd.projectcalico.org"
        crd["spec"]["scope"] = "Cluster"
        crd["spec"]["names"] = {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"}
        crds.append(crd)
    return sorted(crds, key=lambda crd: crd["metadata"]["name"])


# ---- small objects -----------------------------------------------------------------------------

def _meta(name: str, namespace: str | None = NAMESPACE, **labels: str) -> dict:
    meta = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    return meta


def _pdb(app: str = "calico-kube-controllers") -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": _meta(app, **{"k8s-app": app}),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"k8s-app": app}}}}


def _service_account(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name)}


def _calico_config(typha: bool = False) -> dict:
    return {"kind": "ConfigMap", "apiVersion": "v1", "metadata": _meta("calico-config"),
            "data": {"typha_service_name": TYPHA if typha else "none", "calico_backend": "bird", "veth_mtu": "0",
                     "cni_network_config": CNI_NETWORK_CONFIG}}


def _rule(groups: list[str], resources: list[str], verbs: list[str], names: list[str] | None = None) -> dict:
    rule = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names:
        rule["resourceNames"] = names
    return rule


_READ = ["get", "list", "watch"]
_CALICO = ["crd.projectcalico.org"]

_KUBE_CONTROLLERS_RULES = [
    _rule([""], ["nodes"], ["watch", "list", "get"]),
    _rule([""], ["pods"], ["get", "list", "watch"]),
    _rule([""], ["services", "endpoints"], ["get", "list", "watch"]),
    _rule(_CALICO, ["ipreservations"], ["list"]),
    _rule(_CALICO, ["blockaffinities", "ipamblocks", "ipamhandles"], ["get", "list", "create", "update", "delete", "watch"]),
    _rule(_CALICO, ["ippools"], ["list", "watch"]),
    _rule(_CALICO, ["hostendpoints"], ["get", "list", "create", "update", "delete", "watch"]),
    _rule(_CALICO, ["clusterinformations"], ["get", "list", "create", "update", "watch"]),
    _rule(_CALICO, ["kubecontrollersconfigurations"], ["get", "create", "list", "update", "watch"]),
]

_NODE_RULES = [
    _rule([""], ["pods", "nodes", "namespaces"], ["get"]),
    _rule(["discovery.k8s.io"], ["endpointslices"], ["watch", "list"]),
    _rule([""], ["endpoints", "services"], ["watch", "list", "get"]),
    _rule([""], ["configmaps"], ["get"]),
    _rule([""], ["nodes/status"], ["patch", "update"]),
    _rule(["networking.k8s.io"], ["networkpolicies"], ["watch", "list"]),
    _rule([""], ["pods", "namespaces", "serviceaccounts"], ["list", "watch"]),
    _rule([""], ["pods/status"], ["patch"]),
    _rule(_CALICO, ["globalfelixconfigs", *_CALICO_PLURALS], _READ),
    _rule(_CALICO, ["ippools", "felixconfigurations", "clusterinformations"], ["create", "update"]),
    _rule(_CALICO, ["caliconodestatuses"], ["update"]),
    _rule([""], ["nodes"], ["get", "list", "watch"]),
    _rule(_CALICO, ["bgpconfigurations", "bgppeers"], ["get", "list", "watch"]),
    _rule(_CALICO, ["blockaffinities", "ipamblocks", "ipamhandles"], ["get", "list", "create", "update", "delete"]),
    _rule(_CALICO, ["ipamconfigs"], ["get", "create"]),
    _rule(_CALICO, ["blockaffinities"], ["watch"]),
    _rule(["apps"], ["daemonsets"], ["get"]),
]

_CNI_PLUGIN_RULES = [
    _rule([""], ["pods", "nodes", "namespaces"], ["get"]),
    _rule([""], ["pods/status"], ["patch"]),
    _rule(_CALICO, ["blockaffinities", "ipamblocks", "ipamhandles", "clusterinformations", "ippools",
                    "ipreservations", "ipamconfigs"], ["get", "list", "create", "update", "delete"]),
]


def _cluster_role(name: str, rules: list[dict]) -> dict:
    return {"kind": "ClusterRole", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": _meta(name, None),
            "rules": rules}


def _binding(name: str) -> dict:
    return {"kind": "ClusterRoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": _meta(name, None),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}]}


# ---- calico-node -------------------------------------------------------------------------------

def _from_config(name: str, key: str) -> dict:
    return {"name": name, "valueFrom": {"configMapKeyRef": {"name": "calico-config", "key": key}}}


def _field(name: str, path: str) -> dict:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def _value(name: str, value: str) -> dict:
    return {"name": name, "value": value}


_SERVICES_ENDPOINT = [{"configMapRef": {"name": "kubernetes-services-endpoint", "optional": True}}]


def _host_path(name: str, path: str, kind: str | None = None) -> dict:
    source = {"path": path}
    if kind:
        source["type"] = kind
    return {"name": name, "hostPath": source}


def _calico_node(version: str, typha: bool = False) -> dict:
    cni_image, node_image = f"{REGISTRY}/cni:{version}", f"{REGISTRY}/node:{version}"
    privileged = {"privileged": True}
    upgrade_ipam = {
        "name": "upgrade-ipam", "image": cni_image, "imagePullPolicy": "IfNotPresent",
        "command": ["/opt/cni/bin/calico-ipam", "-upgrade"], "envFrom": _SERVICES_ENDPOINT,
        "env": [_field("KUBERNETES_NODE_NAME", "spec.nodeName"),
                _from_config("CALICO_NETWORKING_BACKEND", "calico_backend")],
        "volumeMounts": [{"mountPath": "/var/lib/cni/networks", "name": "host-local-net-dir"},
                         {"mountPath": "/host/opt/cni/bin", "name": "cni-bin-dir"}],
        "securityContext": privileged}
    install_cni = {
        "name": "install-cni", "image": cni_image, "imagePullPolicy": "IfNotPresent",
        "command": ["/opt/cni/bin/install"], "envFrom": _SERVICES_ENDPOINT,
        "env": [_value("CNI_CONF_NAME", "10-calico.conflist"),
                _from_config("CNI_NETWORK_CONFIG", "cni_network_config"),
                _field("KUBERNETES_NODE_NAME", "spec.nodeName"),
                _from_config("CNI_MTU", "veth_mtu"),
                _value("SLEEP", "false")],
        "volumeMounts": [{"mountPath": "/host/opt/cni/bin", "name": "cni-bin-dir"},
                         {"mountPath": "/host/etc/cni/net.d", "name": "cni-net-dir"}],
        "securityContext": privileged}
    node = {
        "name": "calico-node", "image": node_image, "imagePullPolicy": "IfNotPresent",
        "envFrom": _SERVICES_ENDPOINT,
        "env": [_value("DATASTORE_TYPE", "kubernetes"),
                *([_from_config("FELIX_TYPHAK8SSERVICENAME", "typha_service_name")] if typha else []),
                _value("WAIT_FOR_DATASTORE", "true"),
                _field("NODENAME", "spec.nodeName"),
                _from_config("CALICO_NETWORKING_BACKEND", "calico_backend"),
                _value("CLUSTER_TYPE", "k8s,bgp"), _value("IP", "autodetect"),
                _value("CALICO_IPV4POOL_IPIP", "Always"), _value("CALICO_IPV4POOL_VXLAN", "Never"),
                _value("CALICO_IPV6POOL_VXLAN", "Never"),
                _from_config("FELIX_IPINIPMTU", "veth_mtu"), _from_config("FELIX_VXLANMTU", "veth_mtu"),
                _from_config("FELIX_WIREGUARDMTU", "veth_mtu"),
                _value("CALICO_DISABLE_FILE_LOGGING", "true"),
                _value("FELIX_DEFAULTENDPOINTTOHOSTACTION", "ACCEPT"),
                _value("FELIX_IPV6SUPPORT", "false"), _value("FELIX_HEALTHENABLED", "true")],
        "securityContext": privileged,
        "resources": {"requests": {"cpu": "250m"}},
        "lifecycle": {"preStop": {"exec": {"command": ["/bin/calico-node", "-shutdown"]}}},
        "livenessProbe": {"exec": {"command": ["/bin/calico-node", "-felix-live", "-bird-live"]},
                          "periodSeconds": 10, "initialDelaySeconds": 10, "failureThreshold": 6,
                          "timeoutSeconds": 10},
        "readinessProbe": {"exec": {"command": ["/bin/calico-node", "-felix-ready", "-bird-ready"]},
                           "periodSeconds": 10, "timeoutSeconds": 10},
        "volumeMounts": [{"mountPath": "/host/etc/cni/net.d", "name": "cni-net-dir", "readOnly": False},
                         {"mountPath": "/lib/modules", "name": "lib-modules", "readOnly": True},
                         {"mountPath": "/run/xtables.lock", "name": "xtables-lock", "readOnly": False},
                         {"mountPath": "/var/run/calico", "name": "var-run-calico", "readOnly": False},
                         {"mountPath": "/var/lib/calico", "name": "var-lib-calico", "readOnly": False},
                         {"mountPath": "/var/run/nodeagent", "name": "policysync"},
                         {"mountPath": "/var/log/calico/cni", "name": "cni-log-dir", "readOnly": True}]}
    labels = {"k8s-app": "calico-node"}
    return {
        "kind": "DaemonSet", "apiVersion": "apps/v1", "metadata": _meta("calico-node", **labels),
        "spec": {
            "selector": {"matchLabels": dict(labels)},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "nodeSelector": {"kubernetes.io/os": "linux"}, "hostNetwork": True,
                    "tolerations": [{"effect": "NoSchedule", "operator": "Exists"},
                                    {"key": "CriticalAddonsOnly", "operator": "Exists"},
                                    {"effect": "NoExecute", "operator": "Exists"}],
                    "serviceAccountName": "calico-node",
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "terminationGracePeriodSeconds": 0, "priorityClassName": "system-node-critical",
                    "initContainers": [upgrade_ipam, install_cni],
                    "containers": [node],
                    "volumes": [_host_path("lib-modules", "/lib/modules"),
                                _host_path("var-run-calico", "/var/run/calico", "DirectoryOrCreate"),
                                _host_path("var-lib-calico", "/var/lib/calico", "DirectoryOrCreate"),
                                _host_path("xtables-lock", "/run/xtables.lock", "FileOrCreate"),
                                _host_path("cni-bin-dir", "/opt/cni/bin", "DirectoryOrCreate"),
                                _host_path("cni-net-dir", "/etc/cni/net.d"),
                                _host_path("cni-log-dir", "/var/log/calico/cni"),
                                _host_path("host-local-net-dir", "/var/lib/cni/networks"),
                                _host_path("policysync", "/var/run/nodeagent", "DirectoryOrCreate")]}}}}


def _kube_controllers(version: str) -> dict:
    labels = {"k8s-app": "calico-kube-controllers"}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta("calico-kube-controllers", **labels),
        "spec": {
            "replicas": 1, "selector": {"matchLabels": dict(labels)}, "strategy": {"type": "Recreate"},
            "template": {
                "metadata": {"name": "calico-kube-controllers", "namespace": NAMESPACE, "labels": dict(labels)},
                "spec": {
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                                    {"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"},
                                    {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
                    "serviceAccountName": "calico-kube-controllers",
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "priorityClassName": "system-cluster-critical",
                    "containers": [{
                        "name": "calico-kube-controllers", "image": f"{REGISTRY}/kube-controllers:{version}",
                        "imagePullPolicy": "IfNotPresent",
                        "env": [_value("ENABLED_CONTROLLERS", "node,loadbalancer"),
                                _value("DATASTORE_TYPE", "kubernetes")],
                        "livenessProbe": {"exec": {"command": ["/usr/bin/check-status", "-l"]},
                                          "periodSeconds": 10, "initialDelaySeconds": 10, "failureThreshold": 6,
                                          "timeoutSeconds": 10},
                        "readinessProbe": {"exec": {"command": ["/usr/bin/check-status", "-r"]},
                                           "periodSeconds": 10},
                        "securityContext": {"runAsNonRoot": True}}]}}}}


# ---- calico-typha (calico-typha.yaml only) -----------------------------------------------------

def _typha_service() -> dict:
    labels = {"k8s-app": TYPHA}
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(TYPHA, **labels),
            "spec": {"ports": [{"port": TYPHA_PORT, "protocol": "TCP", "targetPort": TYPHA, "name": TYPHA}],
                     "selector": dict(labels)}}


def _typha_deployment(version: str) -> dict:
    labels = {"k8s-app": TYPHA}
    health = {"path": "/readiness", "port": 9098, "host": "localhost"}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(TYPHA, **labels),
        "spec": {
            "replicas": 1, "revisionHistoryLimit": 2, "selector": {"matchLabels": dict(labels)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "100%", "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": dict(labels),
                             "annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}},
                "spec": {
                    "nodeSelector": {"kubernetes.io/os": "linux"}, "hostNetwork": True,
                    "terminationGracePeriodSeconds": 300,
                    "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                                    {"effect": "NoSchedule", "operator": "Exists"},
                                    {"effect": "NoExecute", "operator": "Exists"}],
                    "serviceAccountName": "calico-node", "priorityClassName": "system-cluster-critical",
                    "securityContext": {"fsGroup": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "image": f"{REGISTRY}/typha:{version}", "imagePullPolicy": "IfNotPresent", "name": TYPHA,
                        "ports": [{"containerPort": TYPHA_PORT, "name": TYPHA, "protocol": "TCP"}],
                        "envFrom": _SERVICES_ENDPOINT,
                        "env": [_value("TYPHA_LOGSEVERITYSCREEN", "info"), _value("TYPHA_LOGFILEPATH", "none"),
                                _value("TYPHA_LOGSEVERITYSYS", "none"),
                                _value("TYPHA_CONNECTIONREBALANCINGMODE", "kubernetes"),
                                _value("TYPHA_DATASTORETYPE", "kubernetes"), _value("TYPHA_HEALTHENABLED", "true"),
                                _value("TYPHA_SHUTDOWNTIMEOUTSECS", "300")],
                        "livenessProbe": {"httpGet": {**health, "path": "/liveness"}, "periodSeconds": 30,
                                          "initialDelaySeconds": 30, "timeoutSeconds": 10},
                        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
                        "readinessProbe": {"httpGet": health, "periodSeconds": 10, "timeoutSeconds": 10}}]}}}}
