"""`migrate resume` at the command line: a step a crash cut short is done only when all it waits for is true."""
from __future__ import annotations

import pytest

from migrate.execute.journal import Journal
from migrate.execute.kinds.objects import rolled_out
from migration_run import Killed

FLANNEL_DS = "/apis/apps/v1/namespaces/kube-flannel/daemonsets/kube-flannel-ds"
LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/flannel-to-calico-migration"


def die_in_the_next_wait(run, record, step_id: str) -> bool:
    """Once `step_id` journals its change, the process dies as it starts waiting for the change to take effect."""
    if record.type == "mutation" and record.step == step_id and "sleep" not in vars(run.clock):  # armed once
        sleep = run.clock.sleep

        def dying(seconds):
            del run.clock.sleep
            raise Killed(f"killed while {step_id} waited")
        run.clock.sleep = dying
    return False


def test_resume_waits_for_the_flannel_rollout_a_crash_interrupted(cli, small_run):
    small_run.apply(kill_at=lambda r: die_in_the_next_wait(small_run, r, "prepare/flannel/keep-off-migrated"))
    small_run.kube.delete(LEASE)  # the dead run's lock is out of this test's way
    assert not rolled_out(small_run.kube.get(FLANNEL_DS))
    resumed = cli("resume", small_run.plan_file, *small_run.args, "--step", input="c\nc\na\n")  # drift, keep-off, abort
    assert "node/worker-1/cordon (cordon)" in resumed.stdout, resumed.output
    state = Journal.open(small_run.journal_path, small_run.plan.digest).state()["prepare/flannel/keep-off-migrated"]
    assert state.outcome == "done", state.message
    assert rolled_out(small_run.kube.get(FLANNEL_DS))


@pytest.mark.parametrize("encapsulation,step_id", [("vxlan", "finalize/encapsulation"),
                                                   ("ipip", "finalize/ipip/retire-vxlan")])
def test_resume_waits_for_every_felix_after_a_change_a_crash_interrupted(cli, migration, tmp_path, monkeypatch,
                                                                         encapsulation, step_id):
    from migrate.plan import plan_to_yaml
    run = migration("small", encapsulation=encapsulation)
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(plan_to_yaml(run.plan))
    monkeypatch.setattr("migrate.execute.clock.cli_clock", lambda: run.clock)
    run.apply(kill_at=lambda r: die_in_the_next_wait(run, r, step_id))
    run.kube.delete(LEASE)
    resumed = cli("resume", plan_file, "--kubeconfig", run.running.kubeconfig_path, "--yes")
    assert resumed.exit_code == 0, resumed.output
    state = Journal.open(run.journal_path, run.plan.digest).state()[step_id]
    assert state.outcome == "done", state.message
