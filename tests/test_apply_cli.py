"""`migrate apply | resume | status | rollback` at the command line: refusals, exit codes, what they print."""
from __future__ import annotations

import pytest
import yaml

from migrate.execute.errors import Interrupted
from migrate.execute.lease import ClusterLock



def one_line(result) -> str:
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_client_dry_run_prints_every_step_and_writes_nothing(cli, small_run):
    result = cli("apply", small_run.plan_file, *small_run.args, "--dry-run", "client")
    assert result.exit_code == 0, result.output
    assert "node/worker-1/drain" in result.stdout and "would" in result.stdout
    assert small_run.running.request_log.writes() == []


def test_a_plan_of_another_cluster_is_refused(cli, small_run, tmp_path):
    document = yaml.safe_load(small_run.plan_file.read_text())
    with running_other("jdcloud-prod") as other:
        result = cli("apply", small_run.plan_file, "--kubeconfig", other.kubeconfig_path, "--yes")
        assert other.request_log.writes() == []
    assert result.exit_code == 2
    assert f"the plan was built for cluster {document['snapshot']['clusterId']}" in one_line(result) or \
        "built for cluster" in one_line(result)


def running_other(scenario):
    from migrate.sim.cluster import running_cluster
    return running_cluster(scenario, seed=7)


def test_an_edited_plan_is_refused_before_connecting(cli, small_run):
    small_run.plan_file.write_text(small_run.plan_file.read_text().replace("timeoutSeconds: 600", "timeoutSeconds: 6"))
    result = cli("apply", small_run.plan_file, *small_run.args, "--yes")
    assert result.exit_code == 2 and "does not match its digest" in one_line(result)
    assert small_run.running.request_log.writes() == []


def test_a_cluster_held_by_another_run_exits_4_naming_the_holder(cli, small_run):
    ClusterLock(small_run.kube, identity="alice@laptop pid 41", clock=small_run.clock).acquire(small_run.plan.digest)
    result = cli("resume", small_run.plan_file, *small_run.args, "--yes")
    assert result.exit_code == 4 and "alice@laptop pid 41" in one_line(result)


def test_apply_of_a_plan_already_started_points_to_resume_and_rollback(cli, small_run):
    small_run.apply(kill_at=lambda r: r.type == "step" and r.step == "prepare/backup" and r.outcome == "done")
    small_run.after_a_crash()
    result = cli("apply", small_run.plan_file, *small_run.args, "--yes")
    assert result.exit_code == 2
    assert "migrate resume" in one_line(result) and "migrate rollback" in one_line(result)


def test_status_says_where_the_run_stopped_and_what_to_run_next(cli, small_run):
    small_run.apply(kill_at=lambda r: r.type == "step" and r.step == "node/worker-1/drain" and r.outcome == "started")
    result = cli("status", small_run.plan_file, *small_run.args)
    assert result.exit_code == 0, result.output
    assert "in flight when the run stopped: node/worker-1/drain" in result.stdout
    assert "lock held by run-1" in result.stdout
    assert f"next: `migrate resume {small_run.plan_file}`" in result.stdout


def test_status_from_another_machine_reads_the_clusters_copy_of_the_journal(cli, small_run):
    small_run.apply(kill_at=lambda r: r.type == "step" and r.step == "node/worker-1/cordon" and r.outcome == "done")
    small_run.journal_path.unlink()
    result = cli("status", small_run.plan_file, *small_run.args)
    assert result.exit_code == 0, result.output
    assert "wave 0 worker-1" in result.stdout and "cordon done" in result.stdout


def test_a_journal_damaged_before_its_last_line_is_refused(cli, small_run):
    small_run.apply(kill_at=lambda r: r.type == "step" and r.step == "prepare/backup" and r.outcome == "done")
    lines = small_run.journal_path.read_text().splitlines()
    lines[2] = lines[2][:10]
    small_run.journal_path.write_text("\n".join(lines) + "\n")
    result = cli("status", small_run.plan_file, *small_run.args)
    assert result.exit_code == 2 and "line 3" in one_line(result)


def test_a_half_written_last_line_is_dropped_and_the_run_resumes(migration, small_run):
    small_run.apply(kill_at=lambda r: r.type == "step" and r.step == "prepare/backup" and r.outcome == "done")
    with open(small_run.journal_path, "a") as journal:
        journal.write('{"type": "step", "plan": "')
    small_run.after_a_crash()
    assert small_run.apply(identity="run-2")


def test_stopping_at_a_safe_point_journals_it_and_resume_carries_on(small_run):
    stop = {"now": False}

    def ask_to_stop(record):
        if record.type == "step" and record.step == "node/worker-1/cordon" and record.outcome == "done":
            stop["now"] = True
        return False
    with pytest.raises(Interrupted):
        small_run.apply(kill_at=ask_to_stop, should_stop=lambda: stop["now"])
    journal = small_run.journal(kill_at=None)
    assert journal.last_run_outcome() == "interrupted"
    assert small_run.apply(identity="run-2")
