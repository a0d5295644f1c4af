"""Finalize onto IPIP on the simulator: pods in two subnets reach each other natively inside a subnet and over
IPIP across, with no failed flow, through Felix (v3.31+) or BIRD (older), and a rollback from any finalize step
back to Flannel loses no flow either."""
from __future__ import annotations

import pytest

from migrate.sim.calico_release import calico_release_manifest

IPIP_STEPS = ["cloud-checklist", "tunnel-pool", "felix", "ready", "switch", "converged", "retire-vxlan", "mtu"]
BIRD_STEPS = ["bgp-configuration", "bird"]


def assert_no_failed_flow(run):
    failures = list(run.cluster.network.probe.recent_failures)
    assert run.failed_flows() == 0, failures[:6]


def step_done(step_id):
    return lambda r: r.type == "step" and r.step == step_id and r.outcome in ("done", "noop")


def pod_on(run, node):
    return next(p for p in run.kube.list("/api/v1/pods") if p["spec"].get("nodeName") == node
                and not p["spec"].get("hostNetwork") and (p.get("status") or {}).get("podIP"))


def device_between(run, from_node, to_node):
    verdict = run.cluster.network.path(from_node, pod_on(run, to_node)["status"]["podIP"], to_node)
    assert verdict.ok, verdict.reason
    return verdict.device


def restorable_state(run):
    """The state a rollback restores: jdcloud-prod's bare pod in `default` is gone for good (planned with --force)."""
    state = run.state()
    state["pods_per_namespace"].pop("default", None)
    return state


def ipip_migration(migration, version):
    return migration("jdcloud-prod", encapsulation="ipip-crosssubnet", calico_version=version,
                     calico_yaml=calico_release_manifest(version))


@pytest.mark.parametrize("version,programmer", [("v3.32.1", "felix"), ("v3.30.5", "bird")])
def test_ipip_crosssubnet_routes_natively_inside_a_subnet_and_over_ipip_across_with_no_failed_flow(
        migration, version, programmer):
    run = ipip_migration(migration, version)
    ipip = [s.id.split("/", 2)[2] for s in run.plan.steps if s.id.startswith("finalize/ipip/")]
    assert ipip == (IPIP_STEPS[:2] + BIRD_STEPS + IPIP_STEPS[2:] if programmer == "bird" else IPIP_STEPS)
    assert run.apply()
    run.settle(60)
    # worker-a-* and worker-b-* share 172.16.0.0/20; worker-c-* are in 172.16.32.0/20
    assert device_between(run, "worker-a-1", "worker-b-1") == "eth0"
    assert device_between(run, "worker-b-1", "worker-a-1") == "eth0"
    assert device_between(run, "worker-a-1", "worker-c-1") == "tunl0"
    assert device_between(run, "worker-c-1", "worker-a-1") == "tunl0"
    assert run.cluster.network.probe.samples > 0
    assert_no_failed_flow(run)


@pytest.mark.parametrize(("release", "step"), [("v3.32.1", s) for s in IPIP_STEPS]
                         + [("v3.30.5", s) for s in BIRD_STEPS + ["switch"]])
def test_rollback_from_each_ipip_finalize_step_returns_to_flannel_with_no_failed_flow(migration, release, step):
    # v3.30.5: the routes come from BIRD, so its own steps are rolled back from too
    run = ipip_migration(migration, release)
    before = restorable_state(run)
    assert not run.apply(kill_at=step_done(f"finalize/ipip/{step}"))
    run.after_a_crash()
    assert run.rollback(identity="run-2")
    run.settle()
    assert restorable_state(run) == before
    assert_no_failed_flow(run)


@pytest.mark.parametrize("step", ["felix", "switch"])
def test_killed_right_after_an_ipip_change_is_sent_resumes_to_the_end(migration, step):
    run = ipip_migration(migration, "v3.32.1")
    assert not run.apply(kill_at=lambda r: r.type == "mutation" and r.step == f"finalize/ipip/{step}")
    run.after_a_crash()
    assert run.apply(identity="run-2")
    run.settle(60)
    assert device_between(run, "worker-a-1", "worker-c-1") == "tunl0"
    assert_no_failed_flow(run)
