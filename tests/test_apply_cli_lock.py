"""The cluster lock at the command line: a dead local holder is taken over at once, `--wait-lock` waits for a live
one, `migrate unlock` breaks an abandoned one, and `migrate status` says which applies."""
from __future__ import annotations

import getpass
import socket
import subprocess

from migrate.execute.journal import Journal
from migrate.execute.lease import ClusterLock

LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/flannel-to-calico-migration"


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def hold(run, identity: str) -> ClusterLock:
    lock = ClusterLock(run.kube, identity=identity, clock=run.clock, ttl_seconds=60)
    lock.acquire(run.plan.digest)
    return lock


def started(run) -> None:
    """A run that stopped after its first steps, its lock released."""
    run.apply(kill_at=lambda r: r.type == "step" and r.step == "prepare/backup" and r.outcome == "done")
    run.kube.delete(LEASE)


def test_a_lock_left_by_a_dead_process_of_this_host_is_taken_over_at_once(cli, small_run):
    started(small_run)
    gone = f"{getpass.getuser()}@{socket.gethostname()} pid {dead_pid()}"
    hold(small_run, gone)
    resumed = cli("resume", small_run.plan_file, *small_run.args, "--step", input="a\n")
    assert resumed.exit_code != 4, resumed.output
    assert f"took over the cluster lock from {gone}: its process is gone" in resumed.stderr


def test_a_lock_held_by_a_live_process_elsewhere_is_refused_with_4(cli, small_run):
    started(small_run)
    hold(small_run, "alice@laptop pid 41")
    resumed = cli("resume", small_run.plan_file, *small_run.args, "--yes")
    assert resumed.exit_code == 4 and "alice@laptop pid 41" in resumed.stderr


def test_wait_lock_counts_down_and_takes_the_lock_once_it_lapses(cli, small_run):
    started(small_run)
    hold(small_run, "alice@laptop pid 41")  # never renewed: it lapses after 60 s
    resumed = cli("resume", small_run.plan_file, *small_run.args, "--step", "--wait-lock=2m", input="a\n")
    assert resumed.exit_code != 4, resumed.output
    assert "waiting for the cluster lock held by alice@laptop pid 41" in resumed.stderr
    assert "gate/drift (drift-check)" in resumed.stdout


def test_wait_lock_gives_up_with_4_when_its_time_runs_out(cli, small_run):
    started(small_run)
    hold(small_run, "alice@laptop pid 41")
    resumed = cli("resume", small_run.plan_file, *small_run.args, "--yes", "--wait-lock=30s")
    assert resumed.exit_code == 4, resumed.output
    assert "gave up after 30s" in resumed.stderr


def test_unlock_breaks_an_abandoned_lock_after_confirmation_and_journals_it(cli, small_run):
    started(small_run)
    hold(small_run, "alice@laptop pid 41")
    broken = cli("unlock", small_run.plan_file, *small_run.args, input="y\n")
    assert broken.exit_code == 0, broken.output
    assert small_run.kube.get_optional(LEASE) is None
    journal = Journal.open(small_run.journal_path, small_run.plan.digest)
    assert any(r.type == "lock" and "alice@laptop pid 41" in r.message for r in journal.records)


def test_unlock_refuses_while_the_holder_renews(cli, small_run):
    started(small_run)
    alice = hold(small_run, "alice@laptop pid 41")
    sleep = small_run.clock.sleep

    def alive(seconds):  # alice's run goes on renewing while unlock watches
        sleep(seconds)
        alice.renew()
    small_run.clock.sleep = alive
    refused = cli("unlock", small_run.plan_file, *small_run.args, "--yes")
    assert refused.exit_code == 4, refused.output
    assert "renewed" in refused.stderr and small_run.kube.get_optional(LEASE) is not None


def test_status_says_a_dead_local_holder_is_taken_over_by_resume(cli, small_run):
    started(small_run)
    gone = f"{getpass.getuser()}@{socket.gethostname()} pid {dead_pid()}"
    hold(small_run, gone)
    status = cli("status", small_run.plan_file, *small_run.args)
    assert f"lock held by {gone}: its process is gone" in status.stdout, status.stdout
    assert "`migrate resume" in status.stdout


def test_status_points_to_wait_lock_and_unlock_for_a_live_holder(cli, small_run):
    started(small_run)
    hold(small_run, "alice@laptop pid 41")
    status = cli("status", small_run.plan_file, *small_run.args)
    assert "--wait-lock" in status.stdout and "migrate unlock" in status.stdout, status.stdout
