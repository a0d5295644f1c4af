"""Typha at scale: above 50 nodes the plan installs Calico with Typha (calico-typha.yaml) or refuses, sized as
Calico's docs say (analysis/typha.py), and a migration of such a cluster with Typha loses no flow."""
from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import pytest
import yaml

from handmade import as_snapshot, node
from migrate.analysis.typha import typha_replicas
from migrate.calico_manifest import CalicoSettings, transform_manifest
from migrate.plan import PlanBlocked, PlanOptions, build_plan
from migrate.sim.calico_release import calico_release_manifest

TYPHA_SCENARIO = str(Path(__file__).parent / "scenarios" / "typha.yaml")
LABEL = "projectcalico.org/node-network-during-migration"


def with_nodes(content, total):
    content["nodes"] = content["nodes"][:1] + [
        node(f"w-{i}", f"192.168.{10 + i // 200}.{i % 200 + 20}", f"10.244.{i + 1}.0/24") for i in range(total - 1)]
    content["pods"] = {}
    content["podDisruptionBudgets"] = []
    return content


def plan_with(content, manifest_text):
    pinned = {"source": "calico.yaml", "sha256": hashlib.sha256(manifest_text.encode()).hexdigest()}
    return build_plan(as_snapshot(content), PlanOptions(calico_manifest=pinned, calico_manifest_text=manifest_text))


def manifest_step(plan):
    return next(s for s in plan.steps if s.kind == "calico-manifest")


def test_more_than_50_nodes_planned_with_calico_yaml_is_refused_with_calico_typha_yaml_as_the_fix(snap):
    with pytest.raises(PlanBlocked) as refused:
        plan_with(with_nodes(snap, 51), calico_release_manifest())
    [finding] = [f for f in refused.value.findings if f.code == "TYPHA_NEEDED"]
    assert finding.severity == "blocker" and "51 nodes" in finding.message
    assert finding.fix.startswith("download calico-typha.yaml of Calico v3.32.1 (https://raw.githubusercontent.com/"
                                  "projectcalico/calico/v3.32.1/manifests/calico-typha.yaml) and plan with "
                                  "--calico-manifest calico-typha.yaml")


def test_50_nodes_plan_with_calico_yaml(snap):
    plan = plan_with(with_nodes(snap, 50), calico_release_manifest())
    assert "TYPHA_NEEDED" not in [f["code"] for f in plan.findings]


def test_more_than_50_nodes_plan_with_calico_typha_yaml_and_size_typha_as_the_docs_say(snap):
    plan = plan_with(with_nodes(snap, 51), calico_release_manifest(typha=True))
    step = manifest_step(plan)
    assert step.params["typhaReplicas"] == 3
    assert "Deployment kube-system/calico-typha: replicas 1 -> 3 (Calico's docs: one per 200 nodes, at least 3, at " \
           "most 20, fewer than the nodes)" in step.params["transform"]["changes"]


def test_typha_off_in_the_config_map_counts_as_no_typha_even_with_its_deployment(snap):
    objects = [d for d in yaml.safe_load_all(calico_release_manifest(typha=True)) if d]
    next(o for o in objects if o["kind"] == "ConfigMap")["data"]["typha_service_name"] = "none"
    with pytest.raises(PlanBlocked) as refused:
        plan_with(with_nodes(snap, 51), yaml.safe_dump_all(objects))
    assert "TYPHA_NEEDED" in [f.code for f in refused.value.findings]


def test_a_typha_service_no_deployment_backs_is_refused_at_any_size(snap):
    objects = [d for d in yaml.safe_load_all(calico_release_manifest(typha=True)) if d]
    objects = [o for o in objects if not (o["kind"] == "Deployment" and o["metadata"]["name"] == "calico-typha")]
    with pytest.raises(PlanBlocked) as refused:
        plan_with(snap, yaml.safe_dump_all(objects))
    [finding] = [f for f in refused.value.findings if f.code == "TYPHA_NOT_DEPLOYED"]
    assert "Service kube-system/calico-typha" in finding.message
    assert "never become ready" in finding.message


def test_without_a_manifest_the_plan_names_calico_typha_yaml_above_50_nodes(snap):
    small = build_plan(as_snapshot(copy.deepcopy(snap)))
    large = build_plan(as_snapshot(with_nodes(snap, 51)))
    assert small.options["calicoManifest"]["source"].endswith("/v3.32.1/manifests/calico.yaml")
    assert large.options["calicoManifest"]["source"].endswith("/v3.32.1/manifests/calico-typha.yaml")
    [unpinned] = [f for f in large.findings if f["code"] == "CALICO_MANIFEST_NOT_PINNED"]
    assert "calico-typha.yaml" in unpinned["message"]


@pytest.mark.parametrize("nodes,replicas", [(1, 1), (2, 1), (3, 2), (51, 3), (600, 3), (601, 4), (4000, 20),
                                            (5000, 20)])
def test_typha_replicas_are_one_per_200_nodes_at_least_3_at_most_20_and_fewer_than_the_nodes(nodes, replicas):
    assert typha_replicas(nodes) == replicas


def test_the_transform_sizes_typha_and_leaves_its_placement_as_published():
    text = calico_release_manifest(typha=True)
    published = next(d for d in yaml.safe_load_all(text) if d and d["kind"] == "Deployment"
                     and d["metadata"]["name"] == "calico-typha")
    settings = CalicoSettings(LABEL, "calico", 1450, "10.244.0.0/16", 24, "calico-ipam", typha_replicas=4)
    [typha] = [o for o in transform_manifest(text, settings).objects
               if o["kind"] == "Deployment" and o["metadata"]["name"] == "calico-typha"]
    assert typha["spec"]["replicas"] == 4
    # Typha serves every Felix: it runs on Flannel nodes too, never only where the migration label says calico
    for key in ("nodeSelector", "affinity", "tolerations", "hostNetwork"):
        assert typha["spec"]["template"]["spec"].get(key) == published["spec"]["template"]["spec"].get(key)
    pdb = next(d for d in yaml.safe_load_all(text) if d and d["kind"] == "PodDisruptionBudget"
               and d["metadata"]["name"] == "calico-typha")
    assert pdb in transform_manifest(text, settings).objects


class ReadyTyphas(list):
    """The executor's event list, counting ready calico-typha pods at every event it emits."""

    def __init__(self, cluster):
        super().__init__()
        self.cluster, self.counts = cluster, []

    def append(self, event):
        super().append(event)
        c = self.cluster
        pods = [p for p in c.store.items(c.ctx.pods, "kube-system")
                if (p["metadata"].get("labels") or {}).get("k8s-app") == "calico-typha"
                and not p["metadata"].get("deletionTimestamp")]
        if pods or self.counts:
            self.counts.append(sum(any(x["type"] == "Ready" and x["status"] == "True"
                                       for x in (p.get("status") or {}).get("conditions") or []) for p in pods))


def test_a_cluster_above_50_nodes_migrates_with_typha_and_loses_no_flow(migration):
    run = migration(TYPHA_SCENARIO, calico_yaml=calico_release_manifest(typha=True), max_unavailable="20%")
    assert manifest_step(run.plan).params["typhaReplicas"] == 3
    run.events = ReadyTyphas(run.cluster)
    assert run.apply()
    assert run.failed_flows() == 0
    # the drains move Typha, but its PodDisruptionBudget (maxUnavailable 1) keeps two of three ready throughout
    assert run.events.counts and min(run.events.counts[-10:]) == 3 and min(
        c for c in run.events.counts[run.events.counts.index(3):]) >= 2


def test_preflight_with_calico_yaml_above_50_nodes_exits_3_and_with_calico_typha_yaml_does_not(tmp_path):
    from click.testing import CliRunner
    from migrate.cli import main
    from migrate.sim.cluster import running_cluster

    plain, typha = tmp_path / "calico.yaml", tmp_path / "calico-typha.yaml"
    plain.write_text(calico_release_manifest())
    typha.write_text(calico_release_manifest(typha=True))
    with running_cluster(TYPHA_SCENARIO) as running:
        results = [CliRunner().invoke(main, ["preflight", "--kubeconfig", str(running.kubeconfig_path),
                                             "--calico-manifest", str(manifest)], prog_name="migrate")
                   for manifest in (plain, typha)]
    assert results[0].exit_code == 3 and "TYPHA_NEEDED" in results[0].stdout
    assert results[1].exit_code == 0 and "TYPHA" not in results[1].stdout
