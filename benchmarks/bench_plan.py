"""Planning at scale: build_plan on a synthetic 5,000-node / 150,000-pod snapshot, then its YAML file.

The snapshot is built in memory, shaped exactly as `gather_snapshot` writes it (no simulator, no API),
for a healthy Flannel VXLAN cluster that preflight passes without a blocker: three zones, one VPC
subnet per zone, five control-plane nodes, a /24 podCIDR per node in 10.0.0.0/8, ~30 pods per node
in 100-replica Deployments plus two DaemonSet pods per node, a few PDBs and NetworkPolicies.

Prints each figure beside its target; exits 1 when the planning time or memory target is missed.
The YAML figures (write, size, load) are reported without a target.
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import resource
import sys
import tempfile
import time
from collections import Counter

from migrate.analysis import BLOCKER, analyse
from migrate.plan import PlanOptions, build_plan, load_plan, plan_to_yaml
from migrate.snapshot import Snapshot, content_digest

PLAN_TARGET_S = 3.0
RSS_TARGET_MB = 500.0

ZONES = ("cn-north-1a", "cn-north-1b", "cn-north-1c")
NODE_SUBNETS = tuple(ipaddress.ip_network(s) for s in ("172.16.0.0/18", "172.16.64.0/18", "172.16.128.0/18"))
POD_NETWORK = "10.0.0.0/8"
SERVICE_NETWORK = "172.20.0.0/16"
CONTROL_PLANE = 5
REPLICAS = 100              # pods per Deployment
TEAMS = 40                  # namespaces the Deployments are spread over
DAEMONSET_PODS = 2          # per node: kube-flannel-ds (hostNetwork) and fluent-bit
MIRROR_PODS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
FLANNEL_IMAGE = "ghcr.io/flannel-io/flannel:v0.28.9"
PDBS = 8
NETWORK_POLICIES = 6


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def report(name: str, value: float, unit: str, target: float) -> bool:
    ok = value <= target
    print(f"{name:<40} {value:>10.2f} {unit:<3} target <= {target:g} {unit:<3} {'ok' if ok else 'MISSED'}")
    return ok


def info(name: str, value: str) -> None:
    print(f"{name:<40} {value}")


# ---- the synthetic snapshot -------------------------------------------------------------------

def _suffix(n: int, width: int = 5) -> str:
    """A pod-name suffix like the ReplicaSet controller's: lower-case letters and digits, from n."""
    alphabet, out = "bcdfghjklmnpqrstvwxz2456789", []
    for _ in range(width):
        n, r = divmod(n, len(alphabet))
        out.append(alphabet[r])
    return "".join(out)


def _pod(namespace: str, name: str, kind: str, labels: dict, host_network: bool = False,
         workload: str | None = None) -> dict:
    return {"namespace": namespace, "name": name, "kind": kind, "hostNetwork": host_network,
            "emptyDir": False, "labels": labels, "workload": workload, "ready": True}


def _node(index: int, name: str, zone_index: int, ordinal_in_zone: int, control_plane: bool) -> dict:
    ip = str(NODE_SUBNETS[zone_index].network_address + 10 + ordinal_in_zone)
    octets = (index + 1).to_bytes(4, "big")
    mac = "0a:58:" + ":".join(f"{b:02x}" for b in octets)
    cidr = f"10.{index >> 8}.{index & 255}.0/24"
    return {"name": name, "roles": ["control-plane"] if control_plane else [], "zone": ZONES[zone_index],
            "region": "cn-north-1",
            "taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}] if control_plane else [],
            "unschedulable": False,
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "podCIDRs": [{"cidr": cidr, "prefixLength": 24}],
            "flannel": {"backendType": "vxlan", "vtepMAC": mac, "publicIP": ip},
            "ready": "True", "kubeletVersion": "v1.34.2"}


def synthetic_content(node_count: int, pods_per_node: int) -> dict:
    """Snapshot content for `node_count` nodes (5 of them control plane) and ~pods_per_node pods on each."""
    cp_count = min(CONTROL_PLANE, max(0, node_count - 1))
    names = [f"cp-{i}" for i in range(1, cp_count + 1)] + [f"worker-{i}" for i in range(1, node_count - cp_count + 1)]
    nodes, per_zone = [], Counter()
    for index, name in enumerate(names):
        zone = index % len(ZONES)
        nodes.append(_node(index, name, zone, per_zone[zone], name.startswith("cp-")))
        per_zone[zone] += 1

    pods: dict[str, list] = {}
    controller_slots = max(0, pods_per_node - DAEMONSET_PODS)
    deployment_pods: dict[int, list[str]] = {}   # deployment -> pod names (for PDBs and policies)
    serial = 0
    for index, node in enumerate(nodes):
        name = node["name"]
        on_node = [_pod("kube-flannel", f"kube-flannel-ds-{_suffix(index)}", "daemonset",
                        {"app": "flannel", "tier": "node", "pod-template-generation": "1"}, host_network=True),
                   _pod("logging", f"fluent-bit-{_suffix(index)}", "daemonset",
                        {"app.kubernetes.io/name": "fluent-bit", "pod-template-generation": "1"})][:pods_per_node]
        if node["roles"]:  # tainted: only static (mirror) pods and DaemonSets
            on_node += [_pod("kube-system", f"{c}-{name}", "mirror", {"component": c, "tier": "control-plane"})
                        for c in MIRROR_PODS]
        else:
            for _ in range(controller_slots):
                deployment = serial // REPLICAS
                template = _suffix(deployment * 7919 + 13, 10)
                pod_name = f"svc-{deployment}-{template}-{_suffix(serial)}"
                on_node.append(_pod(f"team-{deployment % TEAMS}", pod_name, "controller",
                                    {"app": f"svc-{deployment}", "pod-template-hash": template},
                                    workload=f"Deployment/svc-{deployment}"))
                deployment_pods.setdefault(deployment, []).append(pod_name)
                serial += 1
        on_node.sort(key=lambda p: (p["namespace"], p["name"]))
        pods[name] = on_node

    # CoreDNS: two replicas of a Deployment in kube-system, on the first workers of two zones.
    workers = [n["name"] for n in nodes if not n["roles"]]
    core_dns = []
    for i, node_name in enumerate(workers[:2]):
        pod_name = f"coredns-7db6d8ff4d-{_suffix(900000 + i)}"
        pods[node_name].append(_pod("kube-system", pod_name, "controller", {"k8s-app": "kube-dns",
                                                                            "pod-template-hash": "7db6d8ff4d"},
                                    workload="Deployment/coredns"))
        pods[node_name].sort(key=lambda p: (p["namespace"], p["name"]))
        core_dns.append({"pod": pod_name, "node": node_name})

    deployments = sorted(deployment_pods)
    pdbs = []
    for d in deployments[:PDBS]:
        count = len(deployment_pods[d])
        pdbs.append({"namespace": f"team-{d % TEAMS}", "name": f"svc-{d}",
                     "selector": {"matchLabels": {"app": f"svc-{d}"}}, "minAvailable": None, "maxUnavailable": "10%",
                     "status": {"currentHealthy": count, "desiredHealthy": count - max(1, count // 10),
                                "disruptionsAllowed": max(1, count // 10), "expectedPods": count}})
    policies = []
    for d in deployments[PDBS:PDBS + NETWORK_POLICIES]:
        namespace = f"team-{d % TEAMS}"
        policies.append({"namespace": namespace, "name": f"svc-{d}-ingress",
                         "podSelector": {"matchLabels": {"app": f"svc-{d}"}}, "policyTypes": ["Ingress"],
                         "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "frontend"}}}],
                                      "ports": [{"protocol": "TCP", "port": 8080}]}],
                         "egress": [], "selectedPods": sorted(deployment_pods[d])})

    searched = [f"DaemonSet {n} in namespace {ns}" for ns in ("kube-flannel", "kube-system")
                for n in ("kube-flannel-ds", "kube-flannel-ds-amd64", "canal")]
    searched.append("pods labelled app=flannel in any namespace")
    return {
        "server": {"gitVersion": "v1.34.2", "major": "1", "minor": "34"},
        "apis": {"eviction": True, "leases": True},
        "flannel": {"found": True, "flavor": "manifest", "namespace": "kube-flannel", "daemonSet": "kube-flannel-ds",
                    "image": FLANNEL_IMAGE, "args": ["--ip-masq", "--kube-subnet-mgr"],
                    "command": ["/opt/bin/flanneld"], "addonManager": None, "nodeSelector": {"kubernetes.io/os": "linux"},
                    "configMap": "kube-flannel-cfg",
                    "netConf": {"network": POD_NETWORK, "subnetLen": 24,
                                "backend": {"type": "vxlan", "vni": 1, "port": 8472, "directRouting": False},
                                "enableIPv6": False, "ipv6Network": None, "enableNFTables": False},
                    "serviceAccount": "flannel", "clusterRoleBindings": ["flannel"], "clusterRoles": ["flannel"],
                    "searched": searched},
        "nodes": sorted(nodes, key=lambda n: n["name"]),
        "pods": dict(sorted(pods.items())),
        "podDisruptionBudgets": pdbs,
        "networkPolicies": policies,
        "kubeProxy": {"mode": "iptables", "clusterCIDR": POD_NETWORK},
        "serviceNetwork": {"podSubnet": POD_NETWORK, "serviceSubnet": SERVICE_NETWORK,
                           "kubernetesServiceIP": "172.20.0.1"},
        "coreDNS": sorted(core_dns, key=lambda d: d["pod"]),
        "calico": {"crds": [], "ipPools": [], "calicoNode": None},
    }


def synthetic_snapshot(node_count: int, pods_per_node: int) -> Snapshot:
    cluster_id = "5f0c3a9e-bench-plan-0000-000000000000"
    content = synthetic_content(node_count, pods_per_node)
    return Snapshot(cluster_id=cluster_id, captured_at="2026-01-01T00:00:00+00:00", content=content,
                    digest=content_digest(cluster_id, content))


# ---- the benchmark ----------------------------------------------------------------------------

def describe_waves(plan) -> str:
    """Wave sizes run-length encoded in order, e.g. `canary: 1 of 1 node, wave: 16 of 500, wave: 1 of 14, ...`."""
    runs: list[list] = []
    for wave in plan.waves:
        kind = "canary" if wave.name == "canary" else ("cp" if wave.name.startswith("control-plane") else "wave")
        if runs and runs[-1][0] == kind and runs[-1][1] == len(wave.nodes):
            runs[-1][2] += 1
        else:
            runs.append([kind, len(wave.nodes), 1])
    return ", ".join(f"{kind}: {count} of {size} node(s)" for kind, size, count in runs)


def describe_findings(findings) -> str:
    counted = Counter((f["severity"], f["code"]) for f in findings)
    return ", ".join(f"{severity}:{code}" + (f" x{n}" if n > 1 else "") for (severity, code), n in counted.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods-per-node", type=int, default=30)
    parser.add_argument("--keep-yaml", metavar="FILE", help="also keep the plan YAML at FILE")
    args = parser.parse_args()

    started = time.perf_counter()
    snapshot = synthetic_snapshot(args.nodes, args.pods_per_node)
    built = time.perf_counter() - started
    pod_count = sum(len(p) for p in snapshot.content["pods"].values())
    info("synthetic snapshot", f"{len(snapshot.content['nodes'])} nodes, {pod_count} pods, "
                                f"built and digested in {built:.2f} s")
    findings = analyse(snapshot.content)
    blockers = [f.code for f in findings if f.severity == BLOCKER]
    info("preflight findings", describe_findings(f.as_dict() for f in findings))
    if blockers:
        print(f"the synthetic snapshot has blockers ({', '.join(blockers)}): fix the benchmark", file=sys.stderr)
        return 2
    after_snapshot = rss_mb()

    started = time.perf_counter()
    plan = build_plan(snapshot, PlanOptions())
    planned = time.perf_counter() - started
    peak = rss_mb()

    results = [report(f"plan {args.nodes} nodes", planned, "s", PLAN_TARGET_S),
               report("resident memory (peak, snapshot + plan)", peak, "MB", RSS_TARGET_MB)]
    info("  of which the snapshot alone (peak)", f"{after_snapshot:.1f} MB")
    info("plan", f"{len(plan.steps)} steps, {len(plan.waves)} waves")
    info("  steps per phase", ", ".join(f"{phase} {n}" for phase, n in Counter(s.phase for s in plan.steps).items()))
    info("  wave sizes (in order)", describe_waves(plan))
    info("  maxUnavailableNodes / zone limits", f"{plan.options['maxUnavailableNodes']} / {plan.options['zoneLimits']}")
    info("  plan findings", describe_findings(plan.findings))

    started = time.perf_counter()
    text = plan_to_yaml(plan)
    dumped = time.perf_counter() - started
    info("plan_to_yaml (no target)", f"{dumped:.2f} s, {len(text.encode()) / 1e6:.1f} MB")
    handle, path = tempfile.mkstemp(prefix="bench-plan-", suffix=".yaml")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        del text
        started = time.perf_counter()
        loaded = load_plan(path)
        read = time.perf_counter() - started
        same = loaded.digest == plan.digest and len(loaded.steps) == len(plan.steps)
        info("load_plan (no target)", f"{read:.2f} s, round trip {'ok' if same else 'DIFFERS'}")
        if args.keep_yaml:
            os.replace(path, args.keep_yaml)
    finally:
        if os.path.exists(path):
            os.unlink(path)
    info("resident memory (peak, after YAML)", f"{rss_mb():.1f} MB (no target)")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
