"""Flannel as users install it: the upstream manifest's objects (current and legacy) and Canal's.

These are the shapes real clusters carry, written out so the simulator can stand up a
Flannel cluster without network access; tests check them against the upstream files.
"""
from __future__ import annotations

import json

from .scenario import FlannelSpec

CNI_CONF = {"name": "cbr0", "cniVersion": "0.3.1", "plugins": [
    {"type": "flannel", "delegate": {"hairpinMode": True, "isDefaultGateway": True}},
    {"type": "portmap", "capabilities": {"portMappings": True}}]}


def net_conf(spec: FlannelSpec) -> str:
    backend: dict = {"Type": spec.backend}
    if spec.backend == "vxlan":
        if spec.vni != 1:
            backend["VNI"] = spec.vni
        if spec.port:
            backend["Port"] = spec.port
        if spec.direct_routing:
            backend["DirectRouting"] = True
    conf: dict = {"Network": spec.network, "EnableNFTables": spec.enable_nftables, "Backend": backend}
    if spec.enable_ipv6:
        conf.update(EnableIPv6=True, IPv6Network="fd00:10:244::/56")
    return json.dumps(conf, indent=2) + "\n"


def _rbac(namespace: str, name: str) -> list[dict]:
    rules = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
             {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
             {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]}]
    labels = {"k8s-app": "flannel"}
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": name, "labels": labels}, "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": name, "labels": labels},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace, "labels": labels}},
    ]


def _volumes(cm_name: str) -> list[dict]:
    return [{"name": "run", "hostPath": {"path": "/run/flannel"}},
            {"name": "cni-plugin", "hostPath": {"path": "/opt/cni/bin"}},
            {"name": "cni", "hostPath": {"path": "/etc/cni/net.d"}},
            {"name": "flannel-cfg", "configMap": {"name": cm_name}},
            {"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"}}]


def manifest_objects(spec: FlannelSpec) -> list[dict]:
    """flannel >= v0.19: namespace kube-flannel, DaemonSet kube-flannel-ds."""
    ns, version = "kube-flannel", spec.version
    labels = {"tier": "node", "app": "flannel", "k8s-app": "flannel"}
    if spec.addon_manager:
        labels["addonmanager.kubernetes.io/mode"] = "Reconcile"
    flannel_image = f"ghcr.io/flannel-io/flannel:{version}"
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {
            "k8s-app": "flannel", "pod-security.kubernetes.io/enforce": "privileged"}}},
        *_rbac(ns, "flannel"),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-flannel-cfg", "namespace": ns,
                                                              "labels": labels},
         "data": {"cni-conf.json": json.dumps(CNI_CONF, indent=2) + "\n", "net-conf.json": net_conf(spec)}},
        {"apiVersion": "apps/v1", "kind": "DaemonSet",
         "metadata": {"name": "kube-flannel-ds", "namespace": ns, "labels": labels},
         "spec": {"selector": {"matchLabels": {"app": "flannel"}}, "template": {
             "metadata": {"labels": {"tier": "node", "app": "flannel"}},
             "spec": {
                 "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                     {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}]}}},
                 "hostNetwork": True, "priorityClassName": "system-node-critical",
                 "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}], "serviceAccountName": "flannel",
                 "initContainers": [
                     {"name": "install-cni-plugin", "image": "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3",
                      "command": ["cp"], "args": ["-f", "/flannel", "/opt/cni/bin/flannel"],
                      "volumeMounts": [{"name": "cni-plugin", "mountPath": "/opt/cni/bin"}]},
                     {"name": "install-cni", "image": flannel_image, "command": ["/opt/bin/install-conf"],
                      "args": ["/etc/kube-flannel/cni-conf.json", "/etc/cni/net.d/10-flannel.conflist"],
                      "volumeMounts": [{"name": "cni", "mountPath": "/etc/cni/net.d"},
                                       {"name": "flannel-cfg", "mountPath": "/etc/kube-flannel/"}]}],
                 "containers": [{
                     "name": "kube-flannel", "image": flannel_image, "command": ["/opt/bin/flanneld"],
                     "args": ["--ip-masq", "--kube-subnet-mgr", "--healthz-port=8081"] if spec.ip_masq
                     else ["--kube-subnet-mgr", "--healthz-port=8081"],
                     # the probes name this port: without it they could not resolve "healthz"
                     "ports": [{"name": "healthz", "containerPort": 8081, "protocol": "TCP"}],
                     "livenessProbe": {"httpGet": {"path": "/healthz", "port": "healthz"}, "initialDelaySeconds": 10,
                                       "periodSeconds": 30},
                     "readinessProbe": {"httpGet": {"path": "/readyz", "port": "healthz"}, "initialDelaySeconds": 5,
                                        "periodSeconds": 10},
                     "resources": {"requests": {"cpu": "100m", "memory": "50Mi"}},
                     "securityContext": {"privileged": False, "capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}},
                     "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                             {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                             {"name": "EVENT_QUEUE_DEPTH", "value": "5000"},
                             {"name": "CONT_WHEN_CACHE_NOT_READY", "value": "false"}],
                     "volumeMounts": [{"name": "run", "mountPath": "/run/flannel"},
                                      {"name": "flannel-cfg", "mountPath": "/etc/kube-flannel/"},
                                      {"name": "xtables-lock", "mountPath": "/run/xtables.lock"}]}],
                 "volumes": _volumes("kube-flannel-cfg")}}}},
    ]


def legacy_objects(spec: FlannelSpec) -> list[dict]:
    """flannel v0.11-era: everything in kube-system, one DaemonSet per architecture."""
    ns, image = "kube-system", "quay.io/coreos/flannel:v0.11.0-amd64"
    labels = {"tier": "node", "app": "flannel"}
    return [
        *_rbac(ns, "flannel"),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-flannel-cfg", "namespace": ns,
                                                              "labels": labels},
         "data": {"cni-conf.json": json.dumps(CNI_CONF, indent=2) + "\n", "net-conf.json": net_conf(spec)}},
        {"apiVersion": "apps/v1", "kind": "DaemonSet",
         "metadata": {"name": "kube-flannel-ds-amd64", "namespace": ns, "labels": labels},
         "spec": {"selector": {"matchLabels": {"app": "flannel"}}, "template": {
             "metadata": {"labels": labels},
             "spec": {
                 "hostNetwork": True, "nodeSelector": {"beta.kubernetes.io/arch": "amd64"},
                 "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}], "serviceAccountName": "flannel",
                 "initContainers": [{"name": "install-cni", "image": image, "command": ["cp"],
                                     "args": ["-f", "/etc/kube-flannel/cni-conf.json", "/etc/cni/net.d/10-flannel.conflist"],
                                     "volumeMounts": [{"name": "cni", "mountPath": "/etc/cni/net.d"},
                                                      {"name": "flannel-cfg", "mountPath": "/etc/kube-flannel/"}]}],
                 "containers": [{"name": "kube-flannel", "image": image, "command": ["/opt/bin/flanneld"],
                                 "args": ["--ip-masq", "--kube-subnet-mgr"],
                                 "securityContext": {"privileged": False, "capabilities": {"add": ["NET_ADMIN"]}},
                                 "volumeMounts": [{"name": "run", "mountPath": "/run/flannel"},
                                                  {"name": "flannel-cfg", "mountPath": "/etc/kube-flannel/"}]}],
                 "volumes": [v for v in _volumes("kube-flannel-cfg") if v["name"] != "cni-plugin"]}}}},
    ]


# canal.yaml's cni_network_config, verbatim: __CNI_MTU__ is a bare token that install-cni replaces
# with a number, so the template is not JSON until then.
CANAL_CNI_TEMPLATE = """{
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
          "type": "host-local",
          "subnet": "usePodCidr"
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

# kind -> plural, as Calico's CRDs name them
CALICO_CRD_KINDS = {
    "BGPConfiguration": "bgpconfigurations", "BGPPeer": "bgppeers", "BlockAffinity": "blockaffinities",
    "ClusterInformation": "clusterinformations", "FelixConfiguration": "felixconfigurations",
    "GlobalNetworkPolicy": "globalnetworkpolicies", "GlobalNetworkSet": "globalnetworksets",
    "HostEndpoint": "hostendpoints", "IPAMBlock": "ipamblocks", "IPAMConfig": "ipamconfigs",
    "IPAMHandle": "ipamhandles", "IPPool": "ippools", "IPReservation": "ipreservations",
    "KubeControllersConfiguration": "kubecontrollersconfigurations", "NetworkPolicy": "networkpolicies",
    "NetworkSet": "networksets",
}
_NAMESPACED_CALICO_KINDS = {"NetworkPolicy", "NetworkSet"}


def calico_crds() -> list[dict]:
    """Calico's CRDs as Canal installs them (schemas left open: the simulator stores what it is given)."""
    return [{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
             "metadata": {"name": f"{plural}.crd.projectcalico.org"},
             "spec": {"group": "crd.projectcalico.org",
                      "scope": "Namespaced" if kind in _NAMESPACED_CALICO_KINDS else "Cluster",
                      "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
                      "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                          "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}
            for kind, plural in CALICO_CRD_KINDS.items()]


def canal_objects(spec: FlannelSpec) -> list[dict]:
    """Canal: Calico for policy, Flannel for the network, one DaemonSet `canal` in kube-system."""
    ns = "kube-system"
    # the images canal.yaml of Calico v3.32.1 ships (its Flannel is v0.24.4, which predates EnableNFTables)
    calico_image, flannel_image = "quay.io/calico/node:v3.32.1", "docker.io/flannel/flannel:v0.24.4"
    canal_net_conf = json.loads(net_conf(spec))
    if not canal_net_conf.get("EnableNFTables"):
        del canal_net_conf["EnableNFTables"]
    cni_env = [{"name": "CNI_CONF_NAME", "value": "10-canal.conflist"},
               {"name": "CNI_NETWORK_CONFIG", "valueFrom": {"configMapKeyRef": {"name": "canal-config", "key": "cni_network_config"}}},
               {"name": "KUBERNETES_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
               {"name": "CNI_MTU", "valueFrom": {"configMapKeyRef": {"name": "canal-config", "key": "veth_mtu"}}}]
    return [
        *calico_crds(),
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "canal", "namespace": ns}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "canal-config", "namespace": ns},
         "data": {"typha_service_name": "none", "canal_iface": "", "masquerade": "true", "veth_mtu": "0",
                  "cni_network_config": CANAL_CNI_TEMPLATE,
                  "net-conf.json": json.dumps(canal_net_conf, indent=2) + "\n"}},
        {"apiVersion": "apps/v1", "kind": "DaemonSet",
         "metadata": {"name": "canal", "namespace": ns, "labels": {"k8s-app": "canal"}},
         "spec": {"selector": {"matchLabels": {"k8s-app": "canal"}}, "template": {
             "metadata": {"labels": {"k8s-app": "canal"}},
             "spec": {
                 "nodeSelector": {"kubernetes.io/os": "linux"}, "hostNetwork": True,
                 "tolerations": [{"effect": "NoSchedule", "operator": "Exists"}, {"key": "CriticalAddonsOnly", "operator": "Exists"},
                                 {"effect": "NoExecute", "operator": "Exists"}],
                 "serviceAccountName": "canal", "priorityClassName": "system-node-critical",
                 "initContainers": [{"name": "install-cni", "image": "quay.io/calico/cni:v3.32.1",
                                     "command": ["/opt/cni/bin/install"], "env": cni_env,
                                     "volumeMounts": [{"mountPath": "/host/opt/cni/bin", "name": "cni-bin-dir"},
                                                      {"mountPath": "/host/etc/cni/net.d", "name": "cni-net-dir"}]}],
                 "containers": [
                     {"name": "calico-node", "image": calico_image,
                      "env": [{"name": "DATASTORE_TYPE", "value": "kubernetes"}, {"name": "CALICO_NETWORKING_BACKEND", "value": "none"},
                              {"name": "CLUSTER_TYPE", "value": "k8s,canal"}, {"name": "FELIX_IPTABLESREFRESHINTERVAL", "value": "60"},
                              {"name": "NODENAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                      "readinessProbe": {"httpGet": {"path": "/readiness", "port": 9099, "host": "localhost"}, "periodSeconds": 10},
                      "volumeMounts": [{"mountPath": "/var/lib/calico", "name": "var-lib-calico"},
                                       {"mountPath": "/var/run/calico", "name": "var-run-calico"}]},
                     {"name": "kube-flannel", "image": flannel_image, "command": ["/opt/bin/flanneld"],
                      "args": ["--ip-masq", "--kube-subnet-mgr"],
                      "securityContext": {"privileged": True},
                      "volumeMounts": [{"mountPath": "/run/flannel", "name": "run"},
                                       {"mountPath": "/etc/kube-flannel/", "name": "flannel-cfg"}]}],
                 "volumes": [{"name": "var-run-calico", "hostPath": {"path": "/var/run/calico"}},
                             {"name": "var-lib-calico", "hostPath": {"path": "/var/lib/calico"}},
                             {"name": "run", "hostPath": {"path": "/run/flannel"}},
                             {"name": "flannel-cfg", "configMap": {"name": "canal-config"}},
                             {"name": "cni-bin-dir", "hostPath": {"path": "/opt/cni/bin"}},
                             {"name": "cni-net-dir", "hostPath": {"path": "/etc/cni/net.d"}}]}}}},
    ]


def flannel_objects(spec: FlannelSpec) -> list[dict]:
    return {"manifest": manifest_objects, "legacy": legacy_objects, "canal": canal_objects,
            "none": lambda s: []}[spec.flavor](spec)
