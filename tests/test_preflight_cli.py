"""`migrate preflight` end to end: exit codes, formats, and that it only reads."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from migrate.cli import main
from migrate.sim.cluster import running_cluster


def run(*args):
    return CliRunner().invoke(main, list(args), prog_name="migrate")


@pytest.fixture(scope="module")
def hostgw():
    with running_cluster("hostgw") as running:
        yield running


def test_clean_cluster_exits_0_and_makes_no_writes(served_small):
    result = run("preflight", "--kubeconfig", str(served_small.kubeconfig_path))
    assert result.exit_code == 0, result.output
    assert "FLANNEL_FOUND" in result.stdout and "0 blockers" in result.stderr
    assert served_small.request_log.writes() == []


def test_blocker_exits_3(hostgw):
    result = run("preflight", "--kubeconfig", str(hostgw.kubeconfig_path))
    assert result.exit_code == 3 and "BACKEND_NOT_VXLAN" in result.stdout
    assert hostgw.request_log.writes() == []


def test_json_format_is_a_list_of_findings(hostgw):
    result = run("preflight", "--kubeconfig", str(hostgw.kubeconfig_path), "--format", "json")
    findings = json.loads(result.stdout)
    assert result.exit_code == 3 and findings[0]["severity"] == "blocker"
    assert set(findings[0]) == {"severity", "code", "message", "fix"}


def test_snapshot_file_is_analysed_offline(served_small, tmp_path):
    out = tmp_path / "snap.yaml"
    assert run("snapshot", "--kubeconfig", str(served_small.kubeconfig_path), "-o", str(out)).exit_code == 0
    result = run("preflight", "--snapshot", str(out), "--format", "json")
    findings = json.loads(result.stdout)
    assert result.exit_code == 0 and [f["severity"] for f in findings] == ["warning"] + ["info"] * 4
    assert findings[0]["code"] == "SYSTEM_WORKLOAD_WITHOUT_PDB"  # kubeadm's CoreDNS: two replicas, no PDB


def test_edited_snapshot_exits_2_with_one_line(served_small, tmp_path):
    out = tmp_path / "snap.yaml"
    run("snapshot", "--kubeconfig", str(served_small.kubeconfig_path), "-o", str(out))
    out.write_text(out.read_text().replace("10.244.0.0/16", "10.250.0.0/16"))
    result = run("preflight", "--snapshot", str(out))
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1 and "digest" in result.stderr


def test_unreadable_snapshot_exits_2(tmp_path):
    result = run("preflight", "--snapshot", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1


def test_snapshot_and_cluster_flags_together_exit_2(served_small, tmp_path):
    result = run("preflight", "--snapshot", str(tmp_path / "s.yaml"), "--kubeconfig", str(served_small.kubeconfig_path))
    assert result.exit_code == 2 and "not both" in result.stderr
    assert served_small.request_log.writes() == []


def test_preflight_refuses_a_calico_release_the_clusters_kubernetes_is_not_tested_with(served_small):
    result = run("preflight", "--kubeconfig", str(served_small.kubeconfig_path), "--calico-version", "v3.26.5")
    assert result.exit_code == 0  # 1.34 is newer than v3.26 was tested on: a warning
    assert "CALICO_RELEASE_UNTESTED_ON_KUBERNETES" in result.stdout
    with running_cluster("legacy") as legacy:  # Kubernetes 1.22
        result = run("preflight", "--kubeconfig", str(legacy.kubeconfig_path))
    assert result.exit_code == 3
    assert "CALICO_RELEASE_TOO_NEW_FOR_KUBERNETES" in result.stdout and "v3.24" in result.stdout
