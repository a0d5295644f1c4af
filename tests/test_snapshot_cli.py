"""`migrate snapshot` end to end against the simulated cluster."""
from __future__ import annotations

from click.testing import CliRunner

from migrate.cli import main
from migrate.snapshot import load_snapshot


def run(*args):
    return CliRunner().invoke(main, list(args), prog_name="migrate")


def test_snapshot_writes_a_loadable_file_and_a_summary(served_small, tmp_path):
    out = tmp_path / "snap.yaml"
    result = run("snapshot", "--kubeconfig", str(served_small.kubeconfig_path), "-o", str(out))
    assert result.exit_code == 0, result.output
    taken = load_snapshot(out)
    summary = result.stderr.strip()
    assert taken.cluster_id in summary and "3 nodes" in summary and "vxlan" in summary and "API calls" in summary
    assert served_small.request_log.writes() == []


def test_snapshot_to_stdout_is_yaml(served_small):
    result = run("snapshot", "--kubeconfig", str(served_small.kubeconfig_path))
    assert result.exit_code == 0 and result.stdout.startswith("schema: migrate.snapshot/v1")


def test_forbidden_user_gets_one_line_and_exit_2(served_small):
    path = served_small.cluster.write_kubeconfig(served_small.directory / "viewer",
                                                 served_small.cluster.credentials.viewer_token)
    result = run("snapshot", "--kubeconfig", str(path))
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "may not list" in result.stderr
    assert served_small.request_log.writes() == []


def test_unknown_context_gets_one_line_and_exit_2(served_small):
    result = run("snapshot", "--kubeconfig", str(served_small.kubeconfig_path), "--context", "prod")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "sim-small" in result.stderr
