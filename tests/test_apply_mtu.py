"""MTU during the migration: Calico must run Flannel's MTU, which flanneld derives per node from its NIC unless
Backend.MTU sets it. prepare/flannel-mtu reads it on every node and stops the run before Calico is installed
when the plan's MTU would not fit (tests/scenarios/mtu1400.yaml, mixed-mtu.yaml)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from migrate.execute.context import DRY_CLIENT, DRY_SERVER
from migrate.execute.errors import StepFailed
from migrate.execute.journal import Journal

SCENARIOS = Path(__file__).parent / "scenarios"
MTU1400 = str(SCENARIOS / "mtu1400.yaml")
MIXED = str(SCENARIOS / "mixed-mtu.yaml")


def records(run, step_id):
    return [r for r in Journal.open(run.journal_path, run.plan.digest).records if r.step == step_id]


def reading_pods(run):
    return [p["metadata"]["name"] for p in run.kube.list("/api/v1/pods") if p["metadata"]["name"].startswith("mtu-reading-")]


def test_assuming_1450_on_1400_byte_nics_stops_before_calico_and_loses_no_flow(migration):
    run = migration(MTU1400)
    with pytest.raises(StepFailed) as failed:
        run.apply()
    run.settle(60)
    assert run.failed_flows() == 0
    assert failed.value.hint == "plan again with --mtu 1350"
    assert not run.state()["calicoNode"]
    assert reading_pods(run) == []


def test_with_flannels_mtu_given_1400_byte_nics_migrate_with_no_failed_flow(migration):
    run = migration(MTU1400, mtu=1350)
    assert run.apply()
    run.settle(60)
    assert run.failed_flows() == 0
    done = [r for r in records(run, "prepare/flannel-mtu") if r.outcome == "done"]
    assert "1350 (eth0 MTU 1400) on control-plane-1, worker-1, worker-2, worker-3" in done[0].message


def test_backend_mtu_gives_the_plan_its_mtu_without_an_option(migration, tmp_path):
    scenario = yaml.safe_load(Path(MTU1400).read_text())
    scenario["flannel"]["mtu"] = 1400
    path = tmp_path / "backend-mtu.yaml"
    path.write_text(yaml.safe_dump(scenario))
    run = migration(str(path))
    assert run.plan.step("prepare/calico/felix-configuration").params["vxlanMTU"] == 1350
    assert run.apply()
    assert run.failed_flows() == 0


def test_mixed_nic_mtus_stop_a_plan_for_the_larger_naming_the_smaller_pool(migration):
    run = migration(MIXED)
    with pytest.raises(StepFailed) as failed:
        run.apply()
    assert "too large for small-1, small-2" in failed.value.message
    assert failed.value.hint == "plan again with --mtu 1350"


def test_mixed_nic_mtus_migrate_on_the_smallest_and_say_where_flannel_had_more(migration):
    run = migration(MIXED, mtu=1350)
    assert run.apply()
    run.settle(60)
    assert run.failed_flows() == 0
    done = [r for r in records(run, "prepare/flannel-mtu") if r.outcome == "done"][0].message
    assert "smaller than Flannel's on control-plane-1, worker-1, worker-2" in done


@pytest.mark.parametrize("mode", [DRY_CLIENT, DRY_SERVER])
def test_dry_runs_create_no_reading_pod(migration, mode):
    run = migration(MTU1400)
    run.kube.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "calico-migration", "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}})
    executor, _ = run.executor(mode=mode)
    executor.run_step(run.plan.step("prepare/flannel-mtu"))
    assert reading_pods(run) == []


def test_where_subnet_env_is_not_on_the_host_as_on_canal_flannels_vxlan_device_gives_the_mtu(migration):
    # Calico v3.32.1 canal.yaml mounts no /run/flannel: Canal's flanneld keeps subnet.env in its container
    run = migration(MTU1400)
    for host in run.cluster.ctx.hosts.values():
        host.remove_file("/run/flannel/subnet.env")
    executor, lock = run.executor()
    lock.acquire(run.plan.digest)
    executor.run_step(run.plan.step("prepare/namespace"))
    with pytest.raises(StepFailed) as failed:
        executor.run_step(run.plan.step("prepare/flannel-mtu"))
    lock.release()
    assert "1350 (eth0 MTU 1400) on control-plane-1, worker-1, worker-2, worker-3" in failed.value.message
    assert failed.value.hint == "plan again with --mtu 1350"


def test_a_backend_mtu_larger_than_the_nics_stops_the_run_asking_to_fix_flannels_config(migration, tmp_path):
    scenario = yaml.safe_load(Path(MTU1400).read_text())
    scenario["flannel"]["mtu"] = 1500  # Flannel's own VXLAN black-holes full-sized packets here already
    path = tmp_path / "backend-mtu-too-large.yaml"
    path.write_text(yaml.safe_dump(scenario))
    run = migration(str(path))
    with pytest.raises(StepFailed) as failed:
        run.apply()
    assert "1450 (eth0 MTU 1400)" in failed.value.message
    assert failed.value.hint.startswith("set Backend.MTU in Flannel's net-conf.json to at most 1400")
