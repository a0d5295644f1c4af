"""Hand-written snapshot content, shaped as migrate.snapshot gathers it, for pure-function tests."""
from __future__ import annotations

from migrate.snapshot import Snapshot, content_digest


def node(name, ip, cidr="", zone="zone-a", ready="True"):
    cidrs = [{"cidr": cidr, "prefixLength": int(cidr.split("/")[1])}] if cidr else []
    return {"name": name, "roles": [], "zone": zone, "region": "region-1", "taints": [], "unschedulable": False,
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "podCIDRs": cidrs, "flannel": {"backendType": "vxlan", "vtepMAC": "0a:00:00:00:00:01", "publicIP": ip},
            "ready": ready, "kubeletVersion": "v1.34.2"}


def pod(name, namespace="default", kind="controller", empty_dir=False, labels=None, workload=None, ready=True):
    return {"namespace": namespace, "name": name, "kind": kind, "hostNetwork": False, "emptyDir": empty_dir,
            "labels": labels or {}, "workload": workload, "ready": ready}


def minimal_snapshot() -> dict:
    """A healthy three-node VXLAN cluster, shaped as migrate.snapshot gathers it: no finding but info."""
    return {
        "server": {"gitVersion": "v1.34.2", "major": "1", "minor": "34"},
        "apis": {"eviction": True, "leases": True},
        "flannel": {"found": True, "flavor": "manifest", "namespace": "kube-flannel", "daemonSet": "kube-flannel-ds",
                    "image": "ghcr.io/flannel-io/flannel:v0.28.9", "args": ["--ip-masq", "--kube-subnet-mgr"],
                    "command": ["/opt/bin/flanneld"], "addonManager": None, "nodeSelector": {},
                    "configMap": "kube-flannel-cfg", "serviceAccount": "flannel",
                    "clusterRoles": ["flannel"], "clusterRoleBindings": ["flannel"],
                    "netConf": {"network": "10.244.0.0/16", "subnetLen": 24,
                                "backend": {"type": "vxlan", "vni": 1, "port": 8472, "directRouting": False},
                                "enableIPv6": False, "ipv6Network": None, "enableNFTables": False},
                    "searched": ["DaemonSet kube-flannel-ds in namespace kube-flannel"]},
        "nodes": [node("cp-1", "192.168.10.10", "10.244.0.0/24"), node("worker-1", "192.168.10.11", "10.244.1.0/24"),
                  node("worker-2", "192.168.10.12", "10.244.2.0/24")],
        "pods": {"worker-1": [pod("web-1", "shop", labels={"app": "web"})],
                 "worker-2": [pod("db-0", "shop", labels={"app": "db"})]},
        "podDisruptionBudgets": [{"namespace": "shop", "name": "web", "selector": {"matchLabels": {"app": "web"}},
                                  "minAvailable": 1, "maxUnavailable": None,
                                  "status": {"currentHealthy": 2, "desiredHealthy": 1, "disruptionsAllowed": 1,
                                             "expectedPods": 2}}],
        "networkPolicies": [],
        "kubeProxy": {"mode": "iptables", "clusterCIDR": "10.244.0.0/16"},
        "serviceNetwork": {"podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/12",
                           "kubernetesServiceIP": "10.96.0.1"},
        "coreDNS": [],
        "calico": {"crds": [], "ipPools": [], "calicoNode": None},
    }


def as_snapshot(content: dict, cluster_id: str = "cluster-uid-1") -> Snapshot:
    """Content wrapped as a loaded snapshot file would be: id, capture time and a matching digest."""
    return Snapshot(cluster_id=cluster_id, captured_at="2026-11-24T08:00:00+00:00", content=content,
                    digest=content_digest(cluster_id, content))
