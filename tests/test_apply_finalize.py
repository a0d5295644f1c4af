"""Finalize on the simulated cluster where each node's Felix takes a FelixConfiguration or IPPool change on its own,
seconds apart (migrate/sim/felix_config.py): what the default loses (nothing), what the VXLAN re-key loses, and
rollback from each finalize step."""
from __future__ import annotations

import pytest

from migrate.execute.errors import StepFailed

DENSE_PROBE = 0.5  # simulated seconds between probe samples from finalize on: a few-second gap cannot slip between


def step_done(step_id):
    return lambda r: r.type == "step" and r.step == step_id and r.outcome in ("done", "noop")


def finalize_probed_densely(run):
    """Apply up to finalize, then the rest with the traffic probe sampling every DENSE_PROBE seconds. Returns the
    flows that failed during finalize, and whether the run finished (a verify step may stop it)."""
    assert not run.apply(kill_at=step_done("waves/joined-nodes"))
    run.after_a_crash()
    run.cluster.ctx.timings.probe_interval = DENSE_PROBE
    before = run.failed_flows()
    try:
        finished = run.apply(identity="run-2")
    except StepFailed:
        finished = False
    return run.failed_flows() - before, finished


def test_rekeying_vxlan_at_finalize_drops_flows_while_each_felix_switches_on_its_own(migration):
    run = migration("small", encapsulation="vxlan")
    failed, _ = finalize_probed_densely(run)
    assert failed > 0


def test_the_default_finalize_stays_on_flannels_vxlan_and_loses_no_flow(migration):
    run = migration("small")
    assert run.plan.options["encapsulation"] == "keep"
    failed, finished = finalize_probed_densely(run)
    assert finished and failed == 0
