"""Snapshot of the `large` scenario through the API: time, API calls, size.

API calls should grow with pages (500 objects each), not with nodes: the script also
snapshots a 100-node cluster and prints both counts. Exits 1 when that does not hold.
"""
from __future__ import annotations

import argparse
import sys
import time

from migrate import kube
from migrate.sim.cluster import running_cluster
from migrate.sim.scenario import load_scenario


def snapshot_of(nodes: int) -> tuple[float, int, int, int]:
    """(seconds, API calls, pods, nodes) for one snapshot of `large` resized to `nodes`."""
    from migrate.snapshot import gather_snapshot

    scenario = load_scenario("large")
    scenario.node_groups[-1].count = nodes - sum(g.count for g in scenario.node_groups[:-1])
    with running_cluster(scenario) as running:
        api = kube.connect(str(running.kubeconfig_path))
        started = time.perf_counter()
        gather_snapshot(api)
        elapsed = time.perf_counter() - started
        pods = len(running.cluster.store.items(running.cluster.ctx.pods))
        return elapsed, api.total_calls, pods, nodes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=1000)
    args = parser.parse_args()
    small = snapshot_of(100)
    large = snapshot_of(args.nodes)
    for seconds, calls, pods, nodes in (small, large):
        print(f"snapshot of {nodes:>5} nodes / {pods:>6} pods: {seconds:6.2f} s, {calls:>4} API calls")
    pages = (large[2] // kube.DEFAULT_PAGE_SIZE) + 1
    grows_with_pages = large[1] - small[1] <= 2 * pages
    print(f"API calls grow with pages (+{large[1] - small[1]} calls for +{large[2] - small[2]} pods, "
          f"~{pages} pages of {kube.DEFAULT_PAGE_SIZE}): {'ok' if grows_with_pages else 'MISSED'}")
    return 0 if grows_with_pages else 1


if __name__ == "__main__":
    sys.exit(main())
