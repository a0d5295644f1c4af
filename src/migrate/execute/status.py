"""`migrate status`: the journal folded into where the run is, per phase and node, and what to do next."""
from __future__ import annotations

from ..plan.joined import with_joined_nodes
from ..plan.model import PHASES


def describe_status(plan, journal, holder: str | None, plan_file) -> list[str]:
    """`holder`: the lock as lease.describe_holder puts it ("free", "held by ...")."""
    state = journal.state()
    joined = [facts["node"]["name"] for facts in journal.joined_nodes()]
    plan = with_joined_nodes(plan, journal.joined_nodes())  # as the executor runs it
    lines = [f"plan {plan.digest[:19]} for cluster {plan.cluster_id}: last run "
             f"{journal.last_run_outcome() or 'never started'}; lock {holder or 'free'}"]
    for phase in PHASES:
        steps = plan.steps_in(phase)
        done = sum(1 for s in steps if (state.get(s.id) and state[s.id].outcome in ("done", "noop", "skipped")))
        reverted = sum(1 for s in steps if state.get(s.id) and state[s.id].outcome == "reverted")
        lines.append(f"  {phase:<12} {done}/{len(steps)} done" + (f", {reverted} reverted" if reverted else ""))
    for wave in plan.waves:
        for node in wave.nodes:
            mine = [s for s in plan.steps if s.node == node and s.phase == "waves"]
            last = next((s for s in reversed(mine) if state.get(s.id)), None)
            where = (f"{last.id.rsplit('/', 1)[-1]} {state[last.id].outcome}" if last else "not started")
            lines.append(f"  wave {wave.index} {node:<20} {where}"
                         + (" (joined during the run)" if node in joined else "")
                         + (" (left the cluster)" if last and "left the cluster" in state[last.id].message else ""))
    in_flight = [s for s in plan.steps if state.get(s.id) and state[s.id].outcome in ("started", "interrupted",
                                                                                      "reverting")]
    failed = [s for s in plan.steps if state.get(s.id) and state[s.id].outcome in ("failed", "revert-failed")]
    for step in in_flight:
        lines.append(f"in flight when the run stopped: {step.id} ({state[step.id].outcome})")
    for step in failed:
        lines.append(f"last error: {step.id}: {state[step.id].message}")
    deferred = [s for s in plan.steps if state.get(s.id) and state[s.id].outcome == "deferred"]
    if deferred:
        lines.append(f"skipped in guided mode (resume offers them again): {', '.join(s.id for s in deferred)}")
    rolling_back = any(s.outcome in ("reverting", "reverted", "revert-failed") for s in state.values())
    if journal.rolled_back_completely():
        lines.append(f"next: nothing to undo; `migrate apply {plan_file}` starts the plan over")
    elif journal.last_run_outcome() == "finished" and not rolling_back:
        lines.append("next: nothing; the plan is applied")
    elif rolling_back:
        lines.append(f"next: `migrate rollback {plan_file}` to finish undoing, or `migrate resume {plan_file}`")
    elif state:
        lines.append(f"next: `migrate resume {plan_file}` (or `migrate rollback {plan_file}`)")
    else:
        lines.append(f"next: `migrate apply {plan_file}`")
    return lines
