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
    if spec.mtu and spec.backend in ("vxlan", "wireguard"):  # the backends whose config has an MTU
        backend["MTU"] = spec.mtu
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


def _psp(capabilities: list[str]) -> dict:
    """psp.flannel.unprivileged, as Flannel's manifests up to v0.18 carry it (policy/v1beta1, gone in Kubernetes 1.25)."""
    return {"apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy", "metadata": {
        "name": "psp.flannel.unprivileged", "annotations": {
            "seccomp.security.alpha.kubernetes.io/allowedProfileNames": "docker/default",
            "seccomp.security.alpha.kubernetes.io/defaultProfileName": "docker/default",
            "apparmor.security.beta.kubernetes.io/allowedProfileNames": "runtime/default",
            "apparmor.security.beta.kubernetes.io/defaultProfileName": "runtime/default"}},
        "spec": {"privileged": False, "volumes": ["configMap", "secret", "emptyDir", "hostPath"],
                 "allowedHostPaths": [{"pathPrefix": "/etc/cni/net.d"}, {"pathPrefix": "/etc/kube-flannel"},
                                      {"pathPrefix": "/run/flannel"}],
                 "readOnlyRootFilesystem": False, "runAsUser": {"rule": "RunAsAny"},
                 "supplementalGroups": {"rule": "RunAsAny"}, "fsGroup": {"rule": "RunAsAny"},
                 "allowPrivilegeEscalation": False, "defaultAllowPrivilegeEscalation": False,
                 "allowedCapabilities": capabilities, "defaultAddCapabilities": [], "requiredDropCapabilities": [],
                 "hostPID": False, "hostIPC": False, "hostNetwork": True, "hostPorts": [{"min": 0, "max": 65535}],
                 "seLinux": {"rule": "RunAsAny"}}}


KUBE_SYSTEM_RELEASES = ("v0.12.0", "v0.14.0", "v0.18.1")


def kube_system_release_objects(version: str) -> list[dict]:
    """Documentation/kube-flannel.yml of a Flannel release from before the kube-flannel namespace (v0.19), object
    for object: v0.12.0 (rbac v1beta1, one DaemonSet per architecture, kube-flannel-ds-amd64 ...), v0.14.0 (rbac
    v1, DaemonSet kube-flannel-ds) and v0.18.1 (which also copies the flannel CNI plugin onto the node). Each
    starts with a policy/v1beta1 PodSecurityPolicy, which clusters from Kubernetes 1.25 on do not serve."""
    if version not in KUBE_SYSTEM_RELEASES:
        raise ValueError(f"no kube-system era manifest of Flannel {version} here; one of {', '.join(KUBE_SYSTEM_RELEASES)}")
    ns, labels = "kube-system", {"tier": "node", "app": "flannel"}
    rbac_version = "rbac.authorization.k8s.io/v1beta1" if version == "v0.12.0" else "rbac.authorization.k8s.io/v1"
    rules = [{"apiGroups": ["extensions"], "resources": ["podsecuritypolicies"], "verbs": ["use"],
              "resourceNames": ["psp.flannel.unprivileged"]},
             {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
             {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list", "watch"]},
             {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]}]
    net_conf = '{\n  "Network": "10.244.0.0/16",\n  "Backend": {\n    "Type": "vxlan"\n  }\n}\n'
    cni_conf = json.dumps(CNI_CONF, indent=2) + "\n"
    objects = [
        _psp(["NET_ADMIN"] if version == "v0.12.0" else ["NET_ADMIN", "NET_RAW"]),
        {"kind": "ClusterRole", "apiVersion": rbac_version, "metadata": {"name": "flannel"}, "rules": rules},
        {"kind": "ClusterRoleBinding", "apiVersion": rbac_version, "metadata": {"name": "flannel"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "flannel"},
         "subjects": [{"kind": "ServiceAccount", "name": "flannel", "namespace": ns}]},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "flannel", "namespace": ns}},
        {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "kube-flannel-cfg", "namespace": ns,
                                                              "labels": dict(labels)},
         "data": {"cni-conf.json": cni_conf, "net-conf.json": net_conf}},
    ]
    env = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}]
    resources = {"requests": {"cpu": "100m", "memory": "50Mi"}, "limits": {"cpu": "100m", "memory": "50Mi"}}
    copy_conf = {"command": ["cp"], "args": ["-f", "/etc/kube-flannel/cni-conf.json", "/etc/cni/net.d/10-flannel.conflist"],
                 "volumeMounts": [{"name": "cni", "mountPath": "/etc/cni/net.d"},
                                  {"name": "flannel-cfg", "mountPath": "/etc/kube-flannel/"}]}
    mounts = [{"name": "run", "mountPath": "/run/flannel"}, {"name": "flannel-cfg", "mountPath": "/etc/kube-flannel/"}]
    volumes = [{"name": "run", "hostPath": {"path": "/run/flannel"}}, {"name": "cni", "hostPath": {"path": "/etc/cni/net.d"}},
               {"name": "flannel-cfg", "configMap": {"name": "kube-flannel-cfg"}}]
    if version == "v0.12.0":
        for arch in ("amd64", "arm64", "arm", "ppc64le", "s390x"):
            image = f"quay.io/coreos/flannel:v0.12.0-{arch}"
            objects.append(_release_daemonset(f"kube-flannel-ds-{arch}", labels, {
                "affinity": _affinity([{"key": "beta.kubernetes.io/os", "operator": "In", "values": ["linux"]},
                                       {"key": "beta.kubernetes.io/arch", "operator": "In", "values": [arch]}]),
                "hostNetwork": True, "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}],
                "serviceAccountName": "flannel",
                "initContainers": [{"name": "install-cni", "image": image, **copy_conf}],
                "containers": [{"name": "kube-flannel", "image": image, "command": ["/opt/bin/flanneld"],
                                "args": ["--ip-masq", "--kube-subnet-mgr"], "resources": resources,
                                "securityContext": {"privileged": False, "capabilities": {"add": ["NET_ADMIN"]}},
                                "env": env, "volumeMounts": mounts}],
                "volumes": volumes}))
        return objects
    if version == "v0.14.0":
        image = "quay.io/coreos/flannel:v0.14.0"
        init = [{"name": "install-cni", "image": image, **copy_conf}]
    else:
        image = "rancher/mirrored-flannelcni-flannel:v0.18.1"
        init = [{"name": "install-cni-plugin", "image": "rancher/mirrored-flannelcni-flannel-cni-plugin:v1.1.0",
                 "command": ["cp"], "args": ["-f", "/flannel", "/opt/cni/bin/flannel"],
                 "volumeMounts": [{"name": "cni-plugin", "mountPath": "/opt/cni/bin"}]},
                {"name": "install-cni", "image": image, **copy_conf}]
        env = env + [{"name": "EVENT_QUEUE_DEPTH", "value": "5000"}]
        mounts = mounts + [{"name": "xtables-lock", "mountPath": "/run/xtables.lock"}]
        volumes = [volumes[0], {"name": "cni-plugin", "hostPath": {"path": "/opt/cni/bin"}}, *volumes[1:],
                   {"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"}}]
    objects.append(_release_daemonset("kube-flannel-ds", labels, {
        "affinity": _affinity([{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]),
        "hostNetwork": True, "priorityClassName": "system-node-critical",
        "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}], "serviceAccountName": "flannel",
        "initContainers": init,
        "containers": [{"name": "kube-flannel", "image": image, "command": ["/opt/bin/flanneld"],
                        "args": ["--ip-masq", "--kube-subnet-mgr"], "resources": resources,
                        "securityContext": {"privileged": False, "capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}},
                        "env": env, "volumeMounts": mounts}],
        "volumes": volumes}))
    return objects


def _affinity(expressions: list[dict]) -> dict:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": expressions}]}}}


def _release_daemonset(name: str, labels: dict, pod_spec: dict) -> dict:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": "kube-system", "labels": dict(labels)},
            "spec": {"selector": {"matchLabels": {"app": "flannel"}},
                     "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec}}}


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


def _canal_calico_objects() -> list[dict]:
    """What canal.yaml (Calico v3.32.1 manifests/canal.yaml) shares with calico.yaml: calico-kube-controllers (its
    ServiceAccount, PodDisruptionBudget, ClusterRole and binding, Deployment), the CNI plugin's ServiceAccount,
    ClusterRole and binding, and the calico-node ClusterRole, which canal.yaml binds to its own canal ServiceAccount."""
    from .calico_release import calico_release_objects  # it imports this module: imported when used
    shared = {("PodDisruptionBudget", "calico-kube-controllers"), ("ServiceAccount", "calico-kube-controllers"),
              ("ServiceAccount", "calico-cni-plugin"), ("ClusterRole", "calico-kube-controllers"),
              ("ClusterRole", "calico-node"), ("ClusterRole", "calico-cni-plugin"),
              ("ClusterRoleBinding", "calico-kube-controllers"), ("ClusterRoleBinding", "calico-cni-plugin"),
              ("Deployment", "calico-kube-controllers")}
    objects = [o for o in calico_release_objects() if (o["kind"], o["metadata"]["name"]) in shared]
    for obj in objects:
        for container in (obj["spec"]["template"]["spec"]["containers"] if obj["kind"] == "Deployment" else []):
            container["image"] = container["image"].replace("docker.io/calico/", "quay.io/calico/")
    return objects


def _canal_binding(name: str, role: str) -> dict:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": "canal", "namespace": "kube-system"}]}


def _env(name: str, value: str | None = None, *, config_key: str | None = None, field: str | None = None) -> dict:
    if config_key:
        return {"name": name, "valueFrom": {"configMapKeyRef": {"name": "canal-config", "key": config_key}}}
    if field:
        return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field}}}
    return {"name": name, "value": value}


def canal_objects(spec: FlannelSpec) -> list[dict]:
    """Canal: Calico for policy, Flannel for the network, one DaemonSet `canal` in kube-system, with the objects
    canal.yaml of Calico v3.32.1 installs beside it (RBAC, calico-kube-controllers)."""
    ns = "kube-system"
    # the images canal.yaml of Calico v3.32.1 ships (its Flannel is v0.24.4, which predates EnableNFTables)
    calico_image, flannel_image = "quay.io/calico/node:v3.32.1", "docker.io/flannel/flannel:v0.24.4"
    canal_net_conf = json.loads(net_conf(spec))
    if not canal_net_conf.get("EnableNFTables"):
        del canal_net_conf["EnableNFTables"]
    cni_env = [_env("CALICO_CNI_SERVICE_ACCOUNT", field="spec.serviceAccountName"),
               {"name": "CNI_CONF_NAME", "value": "10-canal.conflist"},
               {"name": "CNI_NETWORK_CONFIG", "valueFrom": {"configMapKeyRef": {"name": "canal-config", "key": "cni_network_config"}}},
               {"name": "KUBERNETES_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
               {"name": "CNI_MTU", "valueFrom": {"configMapKeyRef": {"name": "canal-config", "key": "veth_mtu"}}},
               _env("SLEEP", "false")]
    return [
        *calico_crds(),
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "canal", "namespace": ns}},
        *_canal_calico_objects(),
        # canal.yaml's flannel ClusterRole, bound with calico-node's to the canal ServiceAccount
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "flannel"},
         "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
                   {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list", "watch"]},
                   {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]}]},
        _canal_binding("canal-flannel", "flannel"), _canal_binding("canal-calico", "calico-node"),
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
                      # canal.yaml's: policy only (no BGP, no node address), route aggregation by podCIDR
                      "env": [_env("DATASTORE_TYPE", "kubernetes"), _env("USE_POD_CIDR", "true"),
                              _env("WAIT_FOR_DATASTORE", "true"), _env("NODENAME", field="spec.nodeName"),
                              _env("CALICO_CNI_SERVICE_ACCOUNT", field="spec.serviceAccountName"),
                              _env("CALICO_NETWORKING_BACKEND", "none"), _env("CLUSTER_TYPE", "k8s,canal"),
                              _env("FELIX_IPTABLESREFRESHINTERVAL", "60"), _env("IP", ""),
                              _env("CALICO_DISABLE_FILE_LOGGING", "true"),
                              _env("FELIX_DEFAULTENDPOINTTOHOSTACTION", "ACCEPT"), _env("FELIX_IPV6SUPPORT", "false"),
                              _env("FELIX_HEALTHENABLED", "true")],
                      "securityContext": {"privileged": True},
                      "readinessProbe": {"httpGet": {"path": "/readiness", "port": 9099, "host": "localhost"}, "periodSeconds": 10},
                      "volumeMounts": [{"mountPath": "/var/lib/calico", "name": "var-lib-calico"},
                                       {"mountPath": "/var/run/calico", "name": "var-run-calico"}]},
                     {"name": "kube-flannel", "image": flannel_image,
                      "command": ["/opt/bin/flanneld", "--ip-masq", "--kube-subnet-mgr"],
                      "securityContext": {"privileged": True},
                      "env": [_env("POD_NAME", field="metadata.name"), _env("POD_NAMESPACE", field="metadata.namespace"),
                              _env("FLANNELD_IFACE", config_key="canal_iface"),
                              _env("FLANNELD_IP_MASQ", config_key="masquerade")],
                      # no /run/flannel mount in canal.yaml: subnet.env stays in the container (Calico's controller
                      # reads it by exec), though the simulated flanneld writes it on the host as Flannel's does
                      "volumeMounts": [{"mountPath": "/run/xtables.lock", "name": "xtables-lock"},
                                       {"mountPath": "/etc/kube-flannel/", "name": "flannel-cfg"}]}],
                 "volumes": [{"name": "var-run-calico", "hostPath": {"path": "/var/run/calico"}},
                             {"name": "var-lib-calico", "hostPath": {"path": "/var/lib/calico"}},
                             {"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"}},
                             {"name": "flannel-cfg", "configMap": {"name": "canal-config"}},
                             {"name": "cni-bin-dir", "hostPath": {"path": "/opt/cni/bin"}},
                             {"name": "cni-net-dir", "hostPath": {"path": "/etc/cni/net.d"}}]}}}},
    ]


def flannel_objects(spec: FlannelSpec) -> list[dict]:
    return {"manifest": manifest_objects, "legacy": legacy_objects, "canal": canal_objects,
            "none": lambda s: []}[spec.flavor](spec)
