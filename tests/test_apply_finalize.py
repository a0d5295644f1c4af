"""Finalize on the simulated cluster where each node's Felix takes a FelixConfiguration or IPPool change on its own,
seconds apart (migrate/sim/felix_config.py): what the default loses (nothing), what the VXLAN re-key loses, and
rollback from each finalize step."""
from __future__ import annotations

import pytest

from migrate.execute.errors import StepFailed

LABEL = "projectcalico.org/node-network-during-migration"
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


KEEP_FINALIZE = ["finalize/retire-flannel", "finalize/calico-unselect", "finalize/drop-labels",
                 "finalize/policy-release", "verify/cluster"]
REKEY = "finalize/encapsulation"
VXLAN_FINALIZE = KEEP_FINALIZE[:3] + [REKEY, "finalize/encapsulation/verify"] + KEEP_FINALIZE[3:]


def rollback_probed_densely(run, after: str, to: str | None = None):
    """Apply until `after` is done, then roll back (to Flannel, or to `to`) with the probe sampling every
    DENSE_PROBE seconds; returns the failures the probe recorded during the rollback and their count."""
    assert not run.apply(kill_at=step_done(after))
    run.after_a_crash()
    run.cluster.ctx.timings.probe_interval = DENSE_PROBE
    started, before = run.cluster.clock.now(), run.failed_flows()
    assert run.rollback(to=to, identity="run-2")
    run.settle()
    # the probe keeps the last 50 failures: those of the rollback are the ones since it started
    return ([f for f in run.cluster.network.probe.recent_failures if f["time"] >= started],
            run.failed_flows() - before)


@pytest.mark.parametrize("after", KEEP_FINALIZE)
def test_rollback_from_each_step_of_the_default_finalize_gives_the_cluster_back_to_flannel_losing_no_flow(
        migration, after):
    run = migration("small")
    before = run.state()
    _, failed = rollback_probed_densely(run, after)
    assert run.state() == before
    assert failed == 0


def test_rollback_of_the_whole_default_finalize_to_vxlan_interop_loses_no_flow(migration):
    run = migration("small")
    _, failed = rollback_probed_densely(run, "verify/cluster", to="waves/joined-nodes")
    assert failed == 0
    state = run.state()
    # Flannel's DaemonSet is back (selecting no node yet) and every node still runs Calico, on Flannel's VXLAN
    assert state["flannel"]["found"] and {n["labels"].get(LABEL) for n in state["nodes"].values()} == {"calico"}


@pytest.mark.parametrize("after", VXLAN_FINALIZE[:VXLAN_FINALIZE.index(REKEY)])
def test_rollback_before_the_vxlan_rekey_gives_the_cluster_back_to_flannel_losing_no_flow(migration, after):
    run = migration("small", encapsulation="vxlan")
    before = run.state()
    _, failed = rollback_probed_densely(run, after)
    assert run.state() == before
    assert failed == 0


@pytest.mark.parametrize("after", VXLAN_FINALIZE[VXLAN_FINALIZE.index(REKEY):])
def test_rollback_across_the_vxlan_rekey_gives_the_cluster_back_to_flannel_losing_flows_only_while_felixes_switch(
        migration, after):
    run = migration("small", encapsulation="vxlan")
    before = run.state()
    failures, failed = rollback_probed_densely(run, after)
    assert run.state() == before
    assert failed == 0 or failures
    assert all("no device matches" in f["reason"] for f in failures)  # VNI/port mismatches, nothing else
    if failures:
        times = [f["time"] for f in failures]
        assert max(times) - min(times) <= run.cluster.ctx.timings.felix_watch_spread
