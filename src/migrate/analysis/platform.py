"""What the API server and kube-proxy must offer the migration: eviction, leases, a matching clusterCIDR."""
from __future__ import annotations

import ipaddress

from .finding import BLOCKER, WARNING, Finding
from .flannel import flannel_network


def check(content: dict, **_) -> list[Finding]:
    apis = content.get("apis") or {}
    findings = []
    if apis.get("eviction") is False:
        findings.append(Finding(BLOCKER, "EVICTION_API_MISSING",
                                "the API server does not serve pods/eviction, so drains cannot honour "
                                "PodDisruptionBudgets", "upgrade the cluster to a version that serves policy/v1 "
                                "eviction (Kubernetes 1.22 or later) or enable it"))
    if apis.get("leases") is False:
        findings.append(Finding(BLOCKER, "LEASE_API_MISSING",
                                "the API server does not serve coordination.k8s.io/v1 leases, which the executor "
                                "holds so that only one run acts on the cluster",
                                "upgrade the cluster to Kubernetes 1.14 or later"))
    network = flannel_network(content)
    cluster_cidr = (content.get("kubeProxy") or {}).get("clusterCIDR")
    if network is not None and cluster_cidr:
        try:
            proxy = ipaddress.ip_network(cluster_cidr, strict=False)
        except ValueError:
            proxy = None
        if proxy is None or proxy != network:
            findings.append(Finding(WARNING, "KUBE_PROXY_CLUSTER_CIDR_MISMATCH",
                                    f"kube-proxy's clusterCIDR {cluster_cidr} is not Flannel's Network {network}: "
                                    "kube-proxy decides which Service traffic to masquerade by it, and the Calico "
                                    "pool will cover Flannel's Network",
                                    f"set clusterCIDR to {network} in the kube-system/kube-proxy ConfigMap and restart "
                                    "kube-proxy before migrating"))
    return findings
