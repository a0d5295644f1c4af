"""Simulated clusters have distinct cluster ids (the kube-system namespace's uid), as real ones do, so the check that
binds a plan to its cluster can be rehearsed: one per scenario and seed, the same on every run of them."""
from __future__ import annotations

import yaml

from migrate.sim.cluster import running_cluster


def cluster_id(cli, tmp_path, scenario: str, seed: int = 0) -> str:
    with running_cluster(scenario, seed=seed) as running:
        out = tmp_path / f"{scenario}-{seed}.yaml"
        result = cli("snapshot", "--kubeconfig", running.kubeconfig_path, "-o", out)
        assert result.exit_code == 0, result.output
    return yaml.safe_load(out.read_text())["clusterId"]


def test_each_scenario_at_the_same_seed_is_another_cluster(cli, tmp_path):
    assert cluster_id(cli, tmp_path, "small") != cluster_id(cli, tmp_path, "jdcloud-prod")


def test_each_seed_of_a_scenario_is_another_cluster_and_the_same_seed_the_same(cli, tmp_path):
    first = cluster_id(cli, tmp_path, "small", seed=0)
    assert first != cluster_id(cli, tmp_path, "small", seed=1)
    assert first == cluster_id(cli, tmp_path, "small", seed=0)


def test_a_plan_applied_to_another_scenario_at_seed_0_is_refused(cli, small_run):
    with running_cluster("jdcloud-prod") as other:
        result = cli("apply", small_run.plan_file, "--kubeconfig", other.kubeconfig_path, "--dry-run", "client")
        assert other.request_log.writes() == []
    assert result.exit_code == 2 and "the plan was built for cluster" in result.stderr, result.output
