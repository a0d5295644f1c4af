"""Shared fixtures: simulated clusters, served or in-process, and the upstream manifests."""
from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import pytest
import yaml

from handmade import minimal_snapshot
from migrate.sim.cluster import SimCluster, running_cluster

UPSTREAM = Path(__file__).resolve().parents[2] / "shared" / "upstream"


@pytest.fixture
def upstream_file():
    """upstream_file("calico-v3.32.1/calico.yaml") -> its Path, or the test is skipped where the folder is absent."""
    def find(relative: str) -> Path:
        path = UPSTREAM / relative
        if not path.exists():
            pytest.skip(f"the upstream manifests are not here ({UPSTREAM})")
        return path
    return find


CALICO_MIRROR = Path(__file__).resolve().parents[2] / ".mirror" / "projectcalico+calico" / "repo"


@pytest.fixture(scope="session")
def upstream_calico_file():
    """upstream_calico_file("v3.32.1", "manifests/calico-typha.yaml") -> that file's text at that tag, read from the
    Calico source mirror (never copied into this repository); the test is skipped where the mirror or the file is
    absent."""
    import subprocess

    def read(tag: str, path: str) -> str:
        if not CALICO_MIRROR.exists() or shutil.which("git") is None:
            pytest.skip(f"the Calico source mirror is not here ({CALICO_MIRROR})")
        shown = subprocess.run(["git", "-C", str(CALICO_MIRROR), "show", f"{tag}:{path}"], capture_output=True,
                               text=True)
        if shown.returncode != 0:
            pytest.skip(f"{path} at {tag} is not in the Calico mirror: {shown.stderr.strip()}")
        return shown.stdout
    return read


@pytest.fixture
def kube_of():
    """kube access to a served simulated cluster, retrying without real sleeps."""
    from migrate.kube import connect
    return lambda running: connect(str(running.kubeconfig_path), sleep=lambda seconds: None)


@pytest.fixture
def clock_of():
    """The executor's clock for a simulated cluster: sleeping advances the simulation, not real time."""
    from migrate.execute.clock import SteppedClock
    return lambda cluster: SteppedClock(cluster.clock.now, cluster.advance)


@pytest.fixture
def migration(tmp_path):
    """migration(scenario, **plan_options) -> a Migration (tests/migration_run.py), closed afterwards."""
    from migration_run import Migration
    made = []

    def make(scenario="small", **options):
        made.append(Migration(scenario, tmp_path, **options))
        return made[-1]
    yield make
    errors = [f"{e.component}: {e.message}" for run in made for e in run.cluster.errors]
    for run in made:
        run.close()
    # The simulator's loop logs what a component raises and goes on; a migration test must not hide one.
    assert errors == [], errors


@pytest.fixture
def small_run(migration, tmp_path, monkeypatch):
    """The `small` migration with its plan written to tmp_path/plan.yaml (run.plan_file) and `run.args` for the CLI;
    the CLI's clock is the simulator's, so its waits cost no real time."""
    from migrate.plan import plan_to_yaml
    run = migration("small")
    run.plan_file = tmp_path / "plan.yaml"
    run.plan_file.write_text(plan_to_yaml(run.plan))
    run.args = ["--kubeconfig", run.running.kubeconfig_path]
    monkeypatch.setattr("migrate.execute.clock.cli_clock", lambda: run.clock)
    return run


@pytest.fixture
def cli():
    """Run `migrate ARGS...` in-process (input="..." feeds stdin); the result has exit_code, stdout and stderr."""
    from click.testing import CliRunner

    from migrate.cli import main
    return lambda *args, **options: CliRunner().invoke(main, [str(a) for a in args], prog_name="migrate", **options)


@pytest.fixture
def snap():
    """A healthy three-node VXLAN cluster's snapshot content, hand-written; change it freely."""
    return copy.deepcopy(minimal_snapshot())


@pytest.fixture
def small_cluster():
    """The `small` scenario in-process on a manual clock (advance it with .advance())."""
    return SimCluster("small")


@pytest.fixture
def served_small():
    """The `small` scenario served on loopback with a manual clock."""
    with running_cluster("small") as running:
        yield running


@pytest.fixture
def core_api(served_small):
    from kubernetes import client
    return client.CoreV1Api(served_small.api_client())


@pytest.fixture
def live_small():
    """The `small` scenario served with a running clock (300 simulated s per real s), for kubectl."""
    with running_cluster("small", time_scale=300) as running:
        yield running


@pytest.fixture
def kubectl(tmp_path):
    """Run the real kubectl against a served cluster; skips where kubectl is not installed."""
    import subprocess

    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip("kubectl is not on PATH")

    def run(running, *args, check=True, timeout=60):
        env = {"KUBECONFIG": str(running.kubeconfig_path), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
        result = subprocess.run([binary, "--cache-dir", str(tmp_path / "cache"), *args], capture_output=True,
                                text=True, env=env, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result
    return run


@pytest.fixture(scope="session")
def real_apiserver():
    """A real Kubernetes v1.26.5 control plane for the session (tests/realapi.py: kubeconfig_path, server_url,
    admin_token, add_node); skipped where KUBEBUILDER_ASSETS does not name the binaries."""
    from realapi import control_plane, skip_reason

    reason = skip_reason(os.environ.get("KUBEBUILDER_ASSETS"))
    if reason:
        pytest.skip(reason)
    with control_plane(os.environ["KUBEBUILDER_ASSETS"]) as plane:
        yield plane


@pytest.fixture(params=["sim", pytest.param("real", marks=pytest.mark.realapi)])
def api_server(request):
    """One test body on both: the `small` scenario served (realapi.SimSide) and the real control plane
    (realapi.RealSide); each has kubeconfig_path, kube, request(), new_namespace(), wait_until(), run_pods()."""
    from realapi import RealSide, SimSide

    if request.param == "sim":
        with running_cluster("small") as running:
            yield SimSide(running)
        return
    side = RealSide(request.getfixturevalue("real_apiserver"))
    yield side
    side.close()


def upstream_manifest(relative: str) -> list[dict]:
    path = UPSTREAM / relative
    if not path.exists():
        pytest.skip(f"upstream manifests not available ({path} is absent)")
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
