"""`migrate apply --step` at the command line: what skip means, and that no answer can trap a run."""
from __future__ import annotations


def answers(plan, *, skip: str, then: str = "a") -> str:
    """Continue every step before `skip` (a canary-wave step, asked in plan order), skip it, then answer `then`."""
    before = [s.id for s in plan.steps].index(skip)
    return "c\n" * before + "s\n" + f"{then}\n"


def asked(result) -> list[str]:
    """The step ids the guided run asked about, in order."""
    return [line.split()[0] for line in result.stdout.splitlines() if line.strip() and " (" in line
            and line.split()[0].count("/") >= 1 and line.rstrip().endswith(")") and not line.startswith(" ")]


def test_a_step_skipped_in_guided_mode_is_offered_again_on_resume(cli, small_run):
    guided = cli("apply", small_run.plan_file, *small_run.args, "--step",
                 input=answers(small_run.plan, skip="node/worker-1/drain"))
    assert guided.exit_code != 0
    again = cli("resume", small_run.plan_file, *small_run.args, "--step", input="c\na\n")
    assert asked(again) == ["gate/drift", "node/worker-1/drain"], again.stdout  # the drift gate runs every time


def test_later_steps_of_a_node_whose_step_was_skipped_are_not_run(cli, small_run):
    guided = cli("apply", small_run.plan_file, *small_run.args, "--step",
                 input=answers(small_run.plan, skip="node/worker-1/drain", then="c"))
    assert asked(guided)[-1] == "node/worker-1/drain", guided.stdout
    assert "node/worker-1/host-cleanup: not run, node/worker-1/drain was skipped" in guided.stdout
    assert guided.exit_code == 1
    assert "wave/0/health-gate" in guided.stderr and "migrate resume" in guided.stderr


def test_a_full_rollback_clears_the_skips_and_apply_starts_over(cli, small_run):
    cli("apply", small_run.plan_file, *small_run.args, "--step",
        input=answers(small_run.plan, skip="node/worker-1/drain"))
    undone = cli("rollback", small_run.plan_file, *small_run.args, "--yes")
    assert undone.exit_code == 0, undone.output
    status = cli("status", small_run.plan_file, *small_run.args)
    assert f"`migrate apply {small_run.plan_file}` starts the plan over" in status.stdout, status.stdout
    again = cli("apply", small_run.plan_file, *small_run.args, "--step", input="a\n")
    assert asked(again) == ["gate/preflight"], again.output
