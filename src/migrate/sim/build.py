"""Stand a scenario up: nodes and their hosts, system add-ons, Flannel, workloads, policies.

Objects go in through the store as a client would create them; controllers and kubelets
then bring the cluster to its steady state on a zero-delay clock, so what a test sees is
what the controllers produced, not a hand-written picture of it.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import uuid

from .clock import rfc3339
from .cni import BIN_DIR, STANDARD_PLUGINS
from .host import HostState, Interface, stable_mac
from .scenario import Scenario

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


def node_objects(scenario: Scenario, now: float = 0.0) -> list[tuple[dict, str]]:
    """(Node object, host address with prefix) for every node of every group, registered at `now`."""
    stamp = rfc3339(now)
    result = []
    for group in scenario.node_groups:
        subnet = ipaddress.ip_network(group.subnet)
        hosts = subnet.hosts()
        used = {ipaddress.ip_interface(addr).ip for _, addr in result}
        for i in range(group.count):
            ip = next(hosts)
            while int(ip) - int(subnet.network_address) < 10 or ip in used:
                ip = next(hosts)
            name = f"{group.name_prefix}{i + 1}"
            node = node_object(scenario, group, name, str(ip), stamp)
            result.append((node, f"{ip}/{subnet.prefixlen}"))
    return result


def node_object(scenario: Scenario, group, name: str, ip: str, stamp: str) -> dict:
    """A Node of `group` as its kubelet registers it (NotReady until a CNI config exists)."""
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
              "topology.kubernetes.io/zone": group.zone, "topology.kubernetes.io/region": group.region,
              "node.kubernetes.io/instance-type": group.instance_type, **group.labels}
    taints = [dict(t) for t in group.taints]
    for role in group.roles:
        if role in ("control-plane", "master"):
            labels[f"node-role.kubernetes.io/{role}"] = ""
            if not any(t.get("key") == f"node-role.kubernetes.io/{role}" for t in taints):
                taints.append({"key": f"node-role.kubernetes.io/{role}", "effect": "NoSchedule"})
    node = {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"providerID": f"sim://{group.region}/{group.zone}/{name}"},
        "status": {
            "addresses": [{"type": "InternalIP", "address": str(ip)}, {"type": "Hostname", "address": name}],
            "nodeInfo": {"machineID": _hex_id(name, "machine"), "systemUUID": _uuid_for(name),
                         "bootID": _uuid_for(f"{name}/boot"), "kubeletVersion": scenario.kubernetes_version,
                         "kubeProxyVersion": scenario.kubernetes_version,
                         "containerRuntimeVersion": "containerd://1.7.24", "kernelVersion": "5.15.0-122-generic",
                         "osImage": "Ubuntu 22.04.5 LTS", "operatingSystem": "linux", "architecture": "amd64"},
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            "allocatable": {"cpu": "7800m", "memory": "31Gi", "pods": "110"},
            # as the kubelet registers: every condition stamped, the pressures with their messages
            "conditions": [{"type": t, "status": "False", "lastHeartbeatTime": stamp,
                            "lastTransitionTime": stamp, "reason": f"KubeletHas{r}", "message": m}
                           for t, r, m in (("MemoryPressure", "SufficientMemory",
                                            "kubelet has sufficient memory available"),
                                           ("DiskPressure", "NoDiskPressure", "kubelet has no disk pressure"),
                                           ("PIDPressure", "SufficientPID", "kubelet has sufficient PID available"))]
            + [{"type": "Ready", "status": "False", "lastHeartbeatTime": stamp, "lastTransitionTime": stamp,
                "reason": "KubeletNotReady", "message": "container runtime network not ready"}],
        },
    }
    if taints:
        node["spec"]["taints"] = taints
    if group.unschedulable:
        node["spec"]["unschedulable"] = True
    return node


def secondary_addresses(scenario: Scenario) -> dict[str, list[str]]:
    """Node name -> the addresses (with prefix) of its eth1, eth2, ... in its group's secondary subnets, each
    subnet's addresses handed out from its 10th on, in node order."""
    next_in: dict[str, object] = {}
    result: dict[str, list[str]] = {}
    for group in scenario.node_groups:
        for i in range(group.count):
            name = f"{group.name_prefix}{i + 1}"
            for cidr in group.secondary_subnets:
                net = ipaddress.ip_network(cidr)
                hosts = next_in.setdefault(cidr, (h for h in net.hosts() if int(h) - int(net.network_address) >= 10))
                result.setdefault(name, []).append(f"{next(hosts)}/{net.prefixlen}")
    return result


def nic_mtus(scenario: Scenario) -> dict[str, int]:
    """Node name -> the MTU of its NICs: its group's `mtu`, else the cluster's."""
    return {f"{group.name_prefix}{i + 1}": group.mtu or scenario.mtu
            for group in scenario.node_groups for i in range(group.count)}


def _hex_id(*seed: str) -> str:
    return hashlib.md5("/".join(seed).encode()).hexdigest()


def _uuid_for(seed: str) -> str:
    return str(uuid.UUID(_hex_id(seed)))


def node_cni_plugins(kubernetes_version: str) -> tuple[str, ...]:
    """What the kubernetes-cni package put in /opt/cni/bin: up to Kubernetes 1.22 (kubernetes-cni
    0.8.x, CNI plugins < 1.0) that included `flannel`, which old Flannel manifests relied on."""
    minor = int(kubernetes_version.lstrip("v").split(".")[1])
    return STANDARD_PLUGINS + (("flannel",) if minor <= 22 else ())


def new_host(name: str, address: str, mtu: int, plugins: tuple[str, ...] = STANDARD_PLUGINS,
             secondary: list[str] | tuple[str, ...] = ()) -> HostState:
    """A node's host: eth0 on the VPC (where the default route is), then one NIC per secondary address
    (eth1, eth2, ...), each with a higher ifindex than eth0, as a NIC attached after boot gets."""
    host = HostState(name, host_ip=address, mac=stable_mac(f"eth0/{name}"))
    host.interfaces["eth0"].mtu = mtu
    for n, extra in enumerate(secondary, start=1):
        host.add_interface(Interface(f"eth{n}", "ether", mac=stable_mac(f"eth{n}/{name}"), mtu=mtu, addresses=[extra]))
    for plugin in plugins:
        host.write_file(f"{BIN_DIR}/{plugin}", f"\x7fELF {plugin}")
    host.write_file("/proc/sys/net/ipv4/ip_forward", "1\n")
    # containerd's CRI plugin creates its CNI conf dir when it starts (to watch it), before any pod runs
    host.make_dir("/etc/cni/net.d")
    return host


def system_objects(scenario: Scenario, control_plane: list[str]) -> list[dict]:
    service_net = ipaddress.ip_network(scenario.service_cidr)
    dns_ip = str(service_net.network_address + 10)
    cluster_cidr = scenario.flannel.network
    objects: list[dict] = [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "cluster-admin"},
         "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "view"},
         "rules": [{"apiGroups": ["", "apps", "batch", "policy", "networking.k8s.io"],
                    "resources": ["pods", "pods/log", "services", "configmaps", "namespaces", "daemonsets",
                                  "deployments", "replicasets", "statefulsets", "jobs", "poddisruptionbudgets",
                                  "networkpolicies", "events", "serviceaccounts"],
                    "verbs": ["get", "list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "sim-viewers"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
         "subjects": [{"kind": "Group", "name": "sim:viewers", "apiGroup": "rbac.authorization.k8s.io"}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
         "data": {"ClusterConfiguration": (
             "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"
             f"kubernetesVersion: {scenario.kubernetes_version}\nnetworking:\n  dnsDomain: cluster.local\n"
             f"  podSubnet: {cluster_cidr}\n  serviceSubnet: {scenario.service_cidr}\n")}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-proxy", "namespace": "kube-system",
                                                              "labels": {"app": "kube-proxy"}},
         "data": {"config.conf": ("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
                                  f"clusterCIDR: {cluster_cidr}\nmode: iptables\n")}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default",
                                                            "labels": {"component": "apiserver", "provider": "kubernetes"}},
         "spec": {"clusterIP": str(service_net.network_address + 1), "ports": [{"name": "https", "port": 443, "targetPort": 6443}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kube-dns", "namespace": "kube-system",
                                                            "labels": {"k8s-app": "kube-dns"}},
         "spec": {"clusterIP": dns_ip, "selector": {"k8s-app": "kube-dns"},
                  "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53}]}},
        # kubeadm's CoreDNS (kubernetes/kubernetes cmd/kubeadm/app/phases/addons/dns/manifests.go CoreDNSDeployment,
        # constants.CoreDNSReplicas = 2): two replicas, maxUnavailable 1, and no PodDisruptionBudget, so nothing
        # but the order of drains keeps one of them up; DNS answers only while one is ready (network.resolve).
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "coredns", "namespace": "kube-system",
                                                                    "labels": {"k8s-app": "kube-dns"}},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
                  "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}},
                  "template": {"metadata": {"labels": {"k8s-app": "kube-dns"}},
                               "spec": {"priorityClassName": "system-cluster-critical",
                                        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                                                        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
                                        "containers": [{"name": "coredns", "image": "registry.k8s.io/coredns/coredns:v1.11.3",
                                                        "args": ["-conf", "/etc/coredns/Corefile"],
                                                        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}}}]}}}},
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "kube-proxy", "namespace": "kube-system",
                                                                   "labels": {"k8s-app": "kube-proxy"}},
         "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
                  "template": {"metadata": {"labels": {"k8s-app": "kube-proxy"}},
                               "spec": {"hostNetwork": True, "priorityClassName": "system-node-critical",
                                        "nodeSelector": {"kubernetes.io/os": "linux"},
                                        "tolerations": [{"operator": "Exists"}],
                                        "containers": [{"name": "kube-proxy",
                                                        "image": f"registry.k8s.io/kube-proxy:{scenario.kubernetes_version}",
                                                        "command": ["/usr/local/bin/kube-proxy",
                                                                    "--config=/var/lib/kube-proxy/config.conf"]}]}}}},
    ]
    for node in control_plane:
        for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            objects.append({"apiVersion": "v1", "kind": "Pod", "metadata": {
                "name": f"{component}-{node}", "namespace": "kube-system",
                "labels": {"component": component, "tier": "control-plane"},
                "annotations": {"kubernetes.io/config.mirror": f"sim-{component}", "kubernetes.io/config.source": "file"}},
                "spec": {"nodeName": node, "hostNetwork": True, "priorityClassName": "system-node-critical",
                         "tolerations": [{"operator": "Exists", "effect": "NoExecute"}],
                         "containers": [{"name": component, "image": f"registry.k8s.io/{component}:{scenario.kubernetes_version}"}]}})
    return objects


def workload_objects(workload: dict) -> list[dict]:
    kind = workload.get("kind", "Deployment")
    name = workload["name"]
    namespace = workload.get("namespace", "default")
    labels = {"app": name, **(workload.get("labels") or {})}
    container = {"name": name.split("-")[0] if kind != "Pod" else "main",
                 "image": workload.get("image", "registry.k8s.io/e2e-test-images/agnhost:2.52"),
                 "ports": [{"containerPort": workload.get("port", 8080)}],
                 "readinessProbe": {"httpGet": {"path": "/healthz", "port": workload.get("port", 8080)}}}
    if workload.get("command"):
        container["command"] = list(workload["command"])
        container.pop("readinessProbe")
    pod_spec: dict = {"containers": [container]}
    if workload.get("hostNetwork"):
        pod_spec["hostNetwork"] = True
    if workload.get("nodeSelector"):
        pod_spec["nodeSelector"] = dict(workload["nodeSelector"])
    if workload.get("tolerations"):
        pod_spec["tolerations"] = list(workload["tolerations"])
    if workload.get("emptyDir"):
        pod_spec["volumes"] = [{"name": "scratch", "emptyDir": {}}]
        container["volumeMounts"] = [{"name": "scratch", "mountPath": "/scratch"}]
    template = {"metadata": {"labels": labels}, "spec": pod_spec}
    meta = {"name": name, "namespace": namespace, "labels": labels}
    objects: list[dict] = []
    if kind == "Deployment":
        objects.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
                        "spec": {"replicas": workload.get("replicas", 1), "selector": {"matchLabels": {"app": name}},
                                 "template": template}})
    elif kind == "StatefulSet":
        objects.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"{name}-headless", "namespace": namespace},
                        "spec": {"clusterIP": "None", "selector": {"app": name}, "ports": [{"port": workload.get("port", 8080)}]}})
        objects.append({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta,
                        "spec": {"replicas": workload.get("replicas", 1), "serviceName": f"{name}-headless",
                                 "selector": {"matchLabels": {"app": name}}, "template": template}})
    elif kind == "DaemonSet":
        objects.append({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta,
                        "spec": {"selector": {"matchLabels": {"app": name}}, "template": template}})
    elif kind == "Job":
        pod_spec["restartPolicy"] = "Never"
        objects.append({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
                        "spec": {"completions": workload.get("completions", 1), "template": template}})
    elif kind == "Pod":
        objects.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec})
    if kind in ("Deployment", "StatefulSet", "DaemonSet"):
        objects.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
                        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": workload.get("port", 8080)}]}})
    pdb = workload.get("pdb")
    if pdb:
        budget = {k: v for k, v in pdb.items() if k in ("minAvailable", "maxUnavailable")}
        objects.append({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                        "metadata": {"name": pdb.get("name", name), "namespace": namespace},
                        "spec": {**budget, "selector": {"matchLabels": {"app": name}}}})
    return objects


def generated_workloads(scenario: Scenario) -> list[dict]:
    """For `podsPerNode`: deployments of 100 replicas spread over ten namespaces."""
    if not scenario.pods_per_node:
        return []
    per_node = max(0, scenario.pods_per_node - 2)  # flannel and kube-proxy run on every node too
    total = per_node * scenario.node_count
    workloads = []
    index = 0
    while total > 0:
        replicas = min(100, total)
        workloads.append({"kind": "Deployment", "name": f"app-{index:04d}", "namespace": f"team-{index % 10}",
                          "replicas": replicas, "labels": {"tier": "backend"}})
        total -= replicas
        index += 1
    return workloads


def cluster_uid(scenario_name: str, seed: int) -> str:
    """The kube-system namespace's uid, which tools take for the cluster's id. kube-apiserver's system-namespaces
    controller creates it with a random uid, so no two clusters share it; here it is one per scenario and seed: two
    simulated clusters are as distinct as two real ones, and a rerun of one is the same cluster."""
    return str(uuid.UUID(_hex_id("cluster", scenario_name, "seed", str(seed)), version=4))  # shaped as the store's uids


def namespaces_for(scenario: Scenario, workloads: list[dict]) -> list[dict]:
    names = list(SYSTEM_NAMESPACES)
    extra = {w.get("namespace", "default") for w in workloads} | {p.get("namespace", "default")
                                                                   for p in scenario.network_policies}
    labels_by_name = {n["name"]: n.get("labels", {}) for n in scenario.namespaces}
    names += sorted((extra | set(labels_by_name)) - set(names))
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": dict(labels_by_name.get(n, {}))}}
            for n in names]


def policy_objects(scenario: Scenario) -> list[dict]:
    return [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
             "metadata": {"name": p["name"], "namespace": p.get("namespace", "default")}, "spec": json.loads(json.dumps(p["spec"]))}
            for p in scenario.network_policies]
