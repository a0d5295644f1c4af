"""`migrate plan` and `migrate show` end to end: files, formats, exit codes, and that they only read."""
from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from migrate.sim.calico_release import calico_release_manifest
from migrate.sim.cluster import running_cluster

JD_FLAGS = ("--force", "--delete-emptydir-data")


@pytest.fixture
def pinned(tmp_path):
    """pinned(version="v3.32.1") -> the --calico-manifest flags of that release's manifest, written to tmp_path."""
    def write(version="v3.32.1"):
        manifest = tmp_path / f"calico-{version}.yaml"
        manifest.write_text(calico_release_manifest().replace("v3.32.1", version))
        return ("--calico-manifest", str(manifest))
    return write


@pytest.fixture(scope="module")
def jdcloud():
    with running_cluster("jdcloud-prod") as running:
        yield running


@pytest.fixture
def jd_plan(cli, jdcloud, tmp_path, pinned):
    path = tmp_path / "plan.yaml"
    result = cli("plan", "--kubeconfig", jdcloud.kubeconfig_path, *JD_FLAGS, *pinned(), "-o", path)
    assert result.exit_code == 0, result.output
    return path


def one_line_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_plan_of_a_live_cluster_writes_the_file_and_makes_no_writes(cli, jdcloud, jd_plan):
    document = yaml.safe_load(jd_plan.read_text())
    assert document["schema"] == "migrate.plan/v1" and document["digest"].startswith("sha256:")
    assert len(document["waves"]) == 12 and document["waves"][0]["name"] == "canary"
    assert jdcloud.request_log.writes() == []


def test_plan_summary_says_how_big_it_is_and_how_to_review_it(cli, jdcloud, tmp_path, pinned):
    result = cli("plan", "--kubeconfig", jdcloud.kubeconfig_path, *JD_FLAGS, *pinned(), "-o", tmp_path / "p.yaml")
    assert "20 nodes in 12 waves" in result.stderr and f"migrate show {tmp_path / 'p.yaml'}" in result.stderr


def test_a_plan_the_drain_would_refuse_exits_3_and_writes_nothing(cli, jdcloud, tmp_path):
    path = tmp_path / "plan.yaml"
    result = cli("plan", "--kubeconfig", jdcloud.kubeconfig_path, "-o", path)
    assert result.exit_code == 3
    assert "DRAIN_NEEDS_FORCE" in result.stderr and "default/debug-shell" in result.stderr
    assert "--delete-emptydir-data" in result.stderr
    assert not path.exists()
    assert jdcloud.request_log.writes() == []


@pytest.mark.parametrize("scenario,code", [("hostgw", "BACKEND_NOT_VXLAN")])
def test_scenarios_flannel_cannot_hand_off_live_are_refused(cli, scenario, code):
    with running_cluster(scenario) as running:
        result = cli("plan", "--kubeconfig", running.kubeconfig_path)
        assert result.exit_code == 3 and code in result.stderr
        assert running.request_log.writes() == []


def test_canal_is_planned_per_node_and_a_policy_hold_there_is_refused_saying_why(cli, tmp_path, pinned):
    with running_cluster("canal") as running:
        held = cli("plan", "--kubeconfig", running.kubeconfig_path, "--policy", "hold-until-finalize")
        planned = cli("plan", "--kubeconfig", running.kubeconfig_path, *pinned(), "-o", tmp_path / "p.yaml")
    assert held.exit_code == 3 and "POLICY_HOLD_ON_CANAL" in held.stderr and "--policy per-node" in held.stderr
    assert planned.exit_code == 0, planned.output
    plan = yaml.safe_load((tmp_path / "p.yaml").read_text())
    assert plan["options"]["policy"] == "per-node"
    assert "DaemonSet/kube-system/canal" in [s["target"] for s in plan["steps"]]


def test_legacy_flannel_in_kube_system_is_planned_with_its_own_objects(cli, tmp_path, pinned):
    with running_cluster("legacy") as running:
        result = cli("plan", "--kubeconfig", running.kubeconfig_path, *pinned("v3.23.5"), "-o", tmp_path / "p.yaml")
    assert result.exit_code == 0, result.output
    steps = {s["id"]: s for s in yaml.safe_load((tmp_path / "p.yaml").read_text())["steps"]}
    retired = steps["finalize/retire-flannel"]["params"]["objects"]
    assert {"kind": "DaemonSet", "namespace": "kube-system", "name": "kube-flannel-ds-amd64"} in retired


def test_a_downloaded_calico_manifest_is_pinned_and_its_transform_shown(cli, tmp_path):
    manifest = tmp_path / "calico.yaml"
    manifest.write_text(calico_release_manifest())
    result = cli("plan", "--snapshot", "plans/small.snapshot.yaml", "--calico-manifest", manifest,
                 "-o", tmp_path / "p.yaml")
    assert result.exit_code == 0, result.output
    document = yaml.safe_load((tmp_path / "p.yaml").read_text())
    assert document["options"]["calicoManifest"] == {"source": str(manifest),
                                                     "sha256": hashlib.sha256(manifest.read_bytes()).hexdigest()}
    step = next(s for s in document["steps"] if s["id"] == "prepare/calico/manifest")
    assert any("nodeSelector" in change for change in step["params"]["transform"]["changes"])
    assert "+      nodeSelector:" in step["params"]["transform"]["diff"] or "nodeSelector" in \
        step["params"]["transform"]["diff"]
    assert "CALICO_MANIFEST_NOT_PINNED" not in [f["code"] for f in document["findings"]]


def test_a_manifest_that_is_not_calicos_is_refused(cli, tmp_path):
    manifest = tmp_path / "calico.yaml"
    manifest.write_text("kind: List\n")
    result = cli("plan", "--snapshot", "plans/small.snapshot.yaml", "--calico-manifest", manifest)
    assert result.exit_code == 2 and "of the Calico manifest is not a Kubernetes object" in result.stderr


@pytest.mark.parametrize("args,says", [
    (("--max-unavailable", "0"), "--max-unavailable '0' is not a positive count"),
    (("--calico-manifest", "nowhere.yaml"), "cannot read --calico-manifest nowhere.yaml"),
    (("--calico-version", "latest"), "is not a release tag"),
    (("--node-order", "worker-1,ghost"), "--node-order must name every node once"),
    (("--kubeconfig", "x"), "--snapshot and --kubeconfig/--context both given"),
])
def test_bad_plan_input_gets_one_line_and_exit_2(cli, args, says):
    result = cli("plan", "--snapshot", "plans/small.snapshot.yaml", *args)
    assert result.exit_code == 2
    assert says in one_line_error(result)


def test_show_table_groups_steps_by_phase_and_wave_with_findings_on_top(cli, jd_plan):
    result = cli("show", jd_plan)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("findings") < out.index("Gates") < out.index("Prepare") < out.index("Node waves")
    assert "wave 0: canary" in out and "node/worker-b-3/drain" in out and "(not reversible)" in out


def test_show_markdown_is_a_runbook_with_kubectl_commands_per_step(cli, jd_plan):
    text = cli("show", jd_plan, "--format", "markdown").stdout
    assert text.startswith("# Runbook: Flannel to Calico")
    assert "kubectl drain worker-b-3 --ignore-daemonsets --timeout=600s --delete-emptydir-data --force" in text
    assert "kubectl label node worker-b-3 projectcalico.org/node-network-during-migration=calico --overwrite" in text
    assert text.count("#### `node/") == 20 * 8 + 20  # 20 nodes x 9 steps; none was cordoned


def test_show_json_is_the_plan_with_its_digest(cli, jd_plan):
    shown = json.loads(cli("show", jd_plan, "--format", "json").stdout)
    assert shown == yaml.safe_load(jd_plan.read_text())


@pytest.mark.parametrize("damage,says", [
    (lambda t: t.replace("timeoutSeconds: 600", "timeoutSeconds: 60", 1), "does not match its digest"),
    (lambda t: t.replace("schema: migrate.plan/v1", "schema: migrate.plan/v9"), "has schema 'migrate.plan/v9'"),
    (lambda t: t[: len(t) // 2], "truncated"),
    (lambda t: "just: text\n", "is not a migration plan"),
])
def test_a_damaged_plan_is_refused_with_one_line(cli, jd_plan, damage, says):
    jd_plan.write_text(damage(jd_plan.read_text()))
    result = cli("show", jd_plan)
    assert result.exit_code == 2
    assert says in one_line_error(result)


def test_a_manifest_fetched_from_an_address_is_pinned_by_its_checksum(cli, tmp_path):
    import http.server
    import threading
    from functools import partial
    (tmp_path / "calico.yaml").write_text(calico_release_manifest())
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.log_message = lambda *args: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/calico.yaml"
    try:
        result = cli("plan", "--snapshot", "plans/small.snapshot.yaml", "--calico-manifest", url,
                     "-o", tmp_path / "p.yaml")
    finally:
        server.shutdown()
    assert result.exit_code == 0, result.output
    document = yaml.safe_load((tmp_path / "p.yaml").read_text())
    assert document["options"]["calicoManifest"] == {
        "source": url, "sha256": hashlib.sha256((tmp_path / "calico.yaml").read_bytes()).hexdigest()}
    assert "CALICO_MANIFEST_OVER_HTTP" in [f["code"] for f in document["findings"]]


def test_an_unreachable_manifest_address_is_one_line_and_exit_2(cli):
    result = cli("plan", "--snapshot", "plans/small.snapshot.yaml", "--calico-manifest", "http://127.0.0.1:9/x.yaml")
    assert result.exit_code == 2 and "cannot fetch the Calico manifest from http://127.0.0.1:9/x.yaml" in result.stderr


def release_manifest(tmp_path, version):
    manifest = tmp_path / f"calico-{version}.yaml"
    manifest.write_text(calico_release_manifest().replace("v3.32.1", version))
    return manifest


def test_the_calico_release_is_read_from_the_manifests_images(cli, tmp_path):
    manifest = release_manifest(tmp_path, "v3.26.5")
    result = cli("plan", "--snapshot", "plans/small.snapshot.yaml", "--calico-manifest", manifest,
                 "-o", tmp_path / "p.yaml")
    assert result.exit_code == 0, result.output
    document = yaml.safe_load((tmp_path / "p.yaml").read_text())
    assert document["options"]["calicoVersion"] == "v3.26.5"


def test_a_calico_version_that_contradicts_the_manifest_is_refused(cli, tmp_path):
    manifest = release_manifest(tmp_path, "v3.26.5")
    result = cli("plan", "--snapshot", "plans/small.snapshot.yaml", "--calico-manifest", manifest,
                 "--calico-version", "v3.32.1", "-o", tmp_path / "p.yaml")
    assert result.exit_code == 2
    assert "--calico-version v3.32.1 contradicts the manifest, whose calico-node image is" in one_line_error(result)
    assert not (tmp_path / "p.yaml").exists()


def test_a_release_newer_than_the_clusters_kubernetes_is_refused_naming_one_that_fits(cli, tmp_path):
    with running_cluster("legacy") as running:  # Kubernetes 1.22
        result = cli("plan", "--kubeconfig", running.kubeconfig_path, "-o", tmp_path / "p.yaml")
    assert result.exit_code == 3
    assert "CALICO_RELEASE_TOO_NEW_FOR_KUBERNETES" in result.stderr and "plan with Calico v3.24" in result.stderr
    assert not (tmp_path / "p.yaml").exists()
