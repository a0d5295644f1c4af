"""`migrate apply --dry-run client|server` reads as a preview: each step says what it would do, a server dry run
reports the API server's verdict on each write, and the end says nothing was changed."""
from __future__ import annotations

import re

STEP_LINE = re.compile(r"^\d\d:\d\d:\d\d (\S+/\S+) (done|noop|would|failed|skipped) (.*)$")


def step_lines(result) -> dict[str, str]:
    """Each step's closing line (outcome and message) from the plain output, by step id."""
    return {found[1]: f"{found[2]} {found[3]}" for found in map(STEP_LINE.match, result.stdout.splitlines()) if found}


def test_a_client_dry_run_says_what_each_step_would_do_and_that_nothing_changed(cli, small_run):
    result = cli("apply", small_run.plan_file, *small_run.args, "--dry-run", "client")
    assert result.exit_code == 0, result.output
    steps = step_lines(result)
    assert set(steps) == {s.id for s in small_run.plan.steps}
    assert all(line.startswith("would ") for line in steps.values()), steps
    assert steps["node/worker-1/cordon"] == "would cordon worker-1"
    assert steps["node/worker-1/drain"] == "would drain worker-1: evict 4 pod(s)"
    assert steps["prepare/calico/ippool"].startswith("would create IPPool flannel-network 10.244.0.0/16")
    assert steps["gate/preflight"] == "would change nothing: reads the cluster"
    assert "every step is done" not in result.output and " done " not in result.stdout
    assert "previewed (client dry run): nothing was changed" in result.stderr
    assert small_run.running.request_log.writes() == []


def test_a_server_dry_run_reports_the_servers_verdict_on_each_write_of_each_step(cli, small_run):
    before = small_run.state()
    result = cli("apply", small_run.plan_file, *small_run.args, "--dry-run", "server")
    assert result.exit_code == 0, result.output
    steps = step_lines(result)
    assert all(line.startswith("would ") for line in steps.values()), steps
    assert steps["node/worker-1/cordon"] == "would cordon worker-1; the API server accepted 1 write(s)"
    assert steps["node/worker-1/drain"] == "would drain worker-1: evict 4 pod(s); the API server accepted 4 write(s)"
    assert "node/worker-1/cordon server accepted patch /api/v1/nodes/worker-1 (dry run)" in result.stdout
    assert re.search(r"node/worker-1/drain server accepted evict /api/v1/namespaces/demo/pods/web-\S+ \(dry run\)",
                     result.stdout)
    assert steps["gate/drift"].endswith("; no write sent to the API server")
    assert "previewed (server dry run): nothing was changed" in result.stderr
    assert small_run.running.request_log.writes() == [] and small_run.state() == before


def test_a_server_dry_run_does_not_refuse_a_namespace_the_run_would_relabel(cli, small_run):
    # The migration namespace exists under Pod Security `restricted`: a real run relabels it privileged first,
    # so the server dry run must not judge its hand-off pod against the labels it only pretended to change.
    small_run.kube.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "calico-migration", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    result = cli("apply", small_run.plan_file, *small_run.args, "--dry-run", "server")
    assert result.exit_code == 0, result.output
    assert step_lines(result)["prepare/namespace"].startswith("would create namespace calico-migration")
