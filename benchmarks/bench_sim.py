"""Simulator speed and memory: build the `large` scenario, serve it, hammer it with GETs.

Prints each figure beside its target; exits 1 when a target is missed.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time

from kubernetes import client

from migrate.sim.cluster import running_cluster
from migrate.sim.scenario import load_scenario

BUILD_TARGET_S = 10.0
GET_TARGET_PER_S = 1500.0
RSS_TARGET_MB = 1024.0


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def report(name: str, value: float, unit: str, target: float, higher_is_better: bool) -> bool:
    ok = value >= target if higher_is_better else value <= target
    relation = ">=" if higher_is_better else "<="
    print(f"{name:<34} {value:>10.1f} {unit:<6} target {relation} {target:g} {unit:<6} {'ok' if ok else 'MISSED'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to send GETs")
    args = parser.parse_args()
    scenario = load_scenario("large")
    scenario.node_groups[-1].count = args.nodes - sum(g.count for g in scenario.node_groups[:-1])
    started = time.perf_counter()
    with running_cluster(scenario) as running:
        built = time.perf_counter() - started
        cluster = running.cluster
        pods = cluster.store.items(cluster.ctx.pods)
        print(f"scenario large: {args.nodes} nodes, {len(pods)} pods")
        results = [report("build the scenario", built, "s", BUILD_TARGET_S, False)]
        core = client.CoreV1Api(running.api_client())
        names = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods[:: max(1, len(pods) // 500)]]
        count, deadline = 0, time.perf_counter() + args.seconds
        begin = time.perf_counter()
        while time.perf_counter() < deadline:
            namespace, name = names[count % len(names)]
            response = core.read_namespaced_pod(name, namespace, _preload_content=False)
            response.read()
            count += 1
        elapsed = time.perf_counter() - begin
        results.append(report("GET pod, one client (raw JSON)", count / elapsed, "req/s", GET_TARGET_PER_S, True))
        count, deadline = 0, time.perf_counter() + min(args.seconds, 3.0)
        begin = time.perf_counter()
        while time.perf_counter() < deadline:
            namespace, name = names[count % len(names)]
            core.read_namespaced_pod(name, namespace)
            count += 1
        typed = count / (time.perf_counter() - begin)
        print(f"{'GET pod, one client (typed models)':<34} {typed:>10.1f} req/s  (informational: client-side decoding)")
        listed = time.perf_counter()
        first_page = core.list_pod_for_all_namespaces(limit=500, _preload_content=False)
        first_page.read()
        print(f"{'LIST 500 pods (one page)':<34} {1000 * (time.perf_counter() - listed):>10.1f} ms     (informational)")
        results.append(report("resident memory (peak)", rss_mb(), "MB", RSS_TARGET_MB, False))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
