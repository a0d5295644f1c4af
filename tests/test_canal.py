"""Canal (Calico policy + Flannel VXLAN in one DaemonSet `canal`) migrated to calico.yaml's calico-node,
as Calico's own migration controller does it (Calico v3.32.1 kube-controllers/pkg/controllers/
flannelmigration/): node by node, with NetworkPolicy enforced all the way, and back to Canal on rollback."""
from __future__ import annotations

LABEL = "projectcalico.org/node-network-during-migration"


def test_a_canal_cluster_is_planned_with_a_hand_off_from_the_canal_daemonset(migration):
    run = migration("canal")
    steps = {s.id: s for s in run.plan.steps}
    assert steps["prepare/flannel/keep-off-migrated"].target == "DaemonSet/kube-system/canal"
    assert "node/worker-1/host-cleanup" in steps


def test_policy_hold_is_refused_on_canal_whose_policies_are_enforced_today(migration):
    from migrate.plan import PlanBlocked
    try:
        migration("canal", policy="hold-until-finalize")
    except PlanBlocked as blocked:
        assert "POLICY_HOLD_ON_CANAL" in [f.code for f in blocked.findings if f.severity == "blocker"]
    else:
        raise AssertionError("a policy hold on Canal was planned")


def test_canal_plans_no_policy_hold_by_default(migration):
    run = migration("canal")
    assert run.plan.options["policy"] == "per-node"
    assert not [s for s in run.plan.steps if s.kind in ("policy-hold", "policy-release")]


def _pods(cluster, **labels):
    return [p for p in cluster.store.items(cluster.ctx.pods)
            if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())]


def denied_flows(cluster) -> tuple[int, list[str]]:
    """The flows the scenario's NetworkPolicy denies (a pod not labelled role=frontend to a db pod): how many
    there are now, and those that get through."""
    network = cluster.network
    db = [p for p in _pods(cluster, app="db") if network.is_attached(_key(p))]
    checked, leaks = 0, []
    for src in cluster.store.items(cluster.ctx.pods):
        if src["spec"].get("hostNetwork") or (src["metadata"].get("labels") or {}).get("role") == "frontend" \
                or not network.is_attached(_key(src)):
            continue
        for dst in db:
            if dst is not src:
                checked += 1
                if network.reach(_key(src), network.attachments[_key(dst)][1].ip).ok:
                    leaks.append(f"{src['metadata']['name']} -> {dst['metadata']['name']}")
    return checked, leaks


def _key(pod):
    return pod["metadata"]["namespace"], pod["metadata"]["name"]


def checking_denied_flows(run, seen: list):
    """A journal hook that never kills: after every step, the flows the policy denies must stay denied."""
    def hook(record):
        if record.type == "step" and record.outcome in ("done", "noop"):
            seen.append((record.step, *denied_flows(run.cluster)))
        return False
    return hook


def test_a_canal_migration_keeps_network_policy_enforced_and_loses_no_flow(migration):
    run = migration("canal")
    checked, leaks = denied_flows(run.cluster)
    assert checked > 0 and leaks == []
    seen: list = []
    assert run.apply(kill_at=checking_denied_flows(run, seen))
    assert run.failed_flows() == 0
    assert [(step, leaks) for step, _, leaks in seen if leaks] == []
    mid = {step: checked for step, checked, _ in seen}
    assert mid["node/worker-2/calico-on"] > 0 and mid["finalize/retire-flannel"] > 0
    run.cluster.network.reset_probe()
    run.settle(60)
    checked, leaks = denied_flows(run.cluster)
    assert checked > 0 and leaks == [] and run.cluster.network.probe.denied_by_policy > 0
    assert run.failed_flows() == 0
    assert run.pods_outside_their_podcidr() == []
    state = run.state()
    assert not state["flannel"]["found"] and state["calicoNode"]["name"] == "calico-node"


def step_done(step_id):
    return lambda r: r.type == "step" and r.step == step_id and r.outcome in ("done", "noop")


def test_rollback_from_the_middle_gives_every_node_back_to_canal(migration):
    run = migration("canal")
    before = run.state()
    assert not run.apply(kill_at=step_done("node/worker-1/calico-on"))
    run.after_a_crash()
    assert run.rollback(identity="run-2")
    run.settle()
    assert run.state() == before
    assert run.failed_flows() == 0
    checked, leaks = denied_flows(run.cluster)
    assert checked > 0 and leaks == []


def test_rollback_from_the_end_brings_canal_back_with_its_own_objects(migration):
    run = migration("canal")
    before = run.state()
    assert run.apply()
    assert run.rollback()
    run.settle()
    assert run.state() == before
    checked, leaks = denied_flows(run.cluster)
    assert checked > 0 and leaks == []


def installing(manifest_path, kubeconfig_path):
    """A before_snapshot hook: every object of a manifest created through the API, then Canal given time to start."""
    def install(cluster):
        import yaml
        from kubernetes import client, config, utils
        cluster.write_kubeconfig(kubeconfig_path)
        configuration = client.Configuration()
        config.load_kube_config(config_file=str(kubeconfig_path), client_configuration=configuration)
        api = client.ApiClient(configuration)
        for obj in yaml.safe_load_all(manifest_path.read_text()):
            if obj:
                utils.create_from_dict(api, obj)
        cluster.advance(180)
    return install


def test_a_cluster_running_the_real_canal_yaml_migrates_with_policy_enforced_and_rolls_back(
        migration, upstream_file, tmp_path):
    from migrate.sim.scenario import load_scenario
    canal_yaml = upstream_file("calico-v3.32.1/canal.yaml")
    scenario = load_scenario("canal", overrides={"flannel": {"flavor": "none"}})
    run = migration(scenario, before_snapshot=installing(canal_yaml, tmp_path / "kubeconfig"))
    assert run.snapshot.content["flannel"]["daemonSet"] == "canal"
    checked, leaks = denied_flows(run.cluster)
    assert checked > 0 and leaks == []
    before = run.state()
    seen: list = []
    assert run.apply(kill_at=checking_denied_flows(run, seen))
    assert [(step, leaks) for step, _, leaks in seen if leaks] == [] and run.failed_flows() == 0
    assert run.pods_outside_their_podcidr() == []
    assert run.kube.get_optional("/apis/rbac.authorization.k8s.io/v1/clusterroles/calico-node") is not None
    assert run.kube.get_optional("/api/v1/namespaces/kube-system/configmaps/canal-config") is None
    assert run.rollback()
    run.settle()
    assert run.state() == before and run.failed_flows() == 0


def test_canals_ip_pool_is_adopted_not_doubled_and_rollback_restores_it(migration):
    run = migration("canal")
    pools = "/apis/crd.projectcalico.org/v1/ippools"
    [canal_pool] = run.kube.list(pools)
    assert canal_pool["spec"]["vxlanMode"] == "Never"
    assert run.plan.step("prepare/calico/ippool").target == f"IPPool/{canal_pool['metadata']['name']}"
    assert not run.apply(kill_at=step_done("node/worker-1/calico-on"))
    [pool] = run.kube.list(pools)
    assert (pool["metadata"]["name"], pool["spec"]["cidr"], pool["spec"]["vxlanMode"]) == (
        canal_pool["metadata"]["name"], canal_pool["spec"]["cidr"], "Always")
    run.after_a_crash()
    assert run.rollback(identity="run-2")
    [restored] = run.kube.list(pools)
    assert restored["spec"] == canal_pool["spec"]


def test_the_hand_off_removes_canals_cni_config_and_tunnel(migration):
    run = migration("canal")
    host = run.cluster.ctx.hosts["worker-1"]
    assert host.exists("/etc/cni/net.d/10-canal.conflist") and "flannel.1" in host.interfaces
    assert not run.apply(kill_at=step_done("node/worker-1/host-cleanup"))
    assert not host.exists("/etc/cni/net.d/10-canal.conflist") and "flannel.1" not in host.interfaces


def test_a_canal_migration_killed_mid_hand_off_resumes_to_the_end_with_policy_enforced(migration):
    run = migration("canal")
    assert not run.apply(kill_at=step_done("node/worker-2/host-cleanup"))
    run.after_a_crash()
    seen: list = []
    assert run.apply(identity="run-2", kill_at=checking_denied_flows(run, seen))
    assert [(step, leaks) for step, _, leaks in seen if leaks] == []
    assert run.failed_flows() == 0 and run.pods_outside_their_podcidr() == []
    assert not run.state()["flannel"]["found"]


OLDER_SCHEMA = {"type": "object", "properties": {
    "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}


def with_older_felix_crd(cluster):
    """Canal installed from an older Calico release: its FelixConfiguration CRD's schema is not calico.yaml's."""
    def older(crd):
        crd["spec"]["versions"][0]["schema"] = {"openAPIV3Schema": OLDER_SCHEMA}
    cluster.store.mutate(cluster.ctx.rtype("apiextensions.k8s.io", "customresourcedefinitions"), None,
                         "felixconfigurations.crd.projectcalico.org", older)
    cluster.advance(5)


def test_calico_crds_canal_installed_take_the_releases_schema_and_rollback_restores_them(migration):
    run = migration("canal", before_snapshot=with_older_felix_crd)
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/felixconfigurations.crd.projectcalico.org"
    assert run.kube.get(path)["spec"]["versions"][0]["schema"]["openAPIV3Schema"] == OLDER_SCHEMA
    assert not run.apply(kill_at=step_done("node/worker-1/calico-on"))
    release = next(o for o in manifest_objects(run.plan) if o["metadata"]["name"] == "felixconfigurations.crd.projectcalico.org")
    assert run.kube.get(path)["spec"]["versions"] == release["spec"]["versions"]
    run.after_a_crash()
    assert run.rollback(identity="run-2")
    assert run.kube.get(path)["spec"]["versions"][0]["schema"]["openAPIV3Schema"] == OLDER_SCHEMA


def manifest_objects(plan):
    import yaml
    from pathlib import Path
    source = plan.step("prepare/calico/manifest").params["manifest"]["source"]
    return [o for o in yaml.safe_load_all(Path(source).read_text()) if o]
