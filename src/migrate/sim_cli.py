"""`migrate sim ...` and `migrate demo`: the simulated cluster from the command line."""
from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import click
from rich.table import Table

from .console import console
from .errors import UserError
from .sim.scenario import ScenarioError, UnknownScenario, describe_bundled, load_scenario
from .sim.server import PortInUse


def _load(scenario: str, nodes: int | None):
    try:
        loaded = load_scenario(scenario)
    except UnknownScenario as exc:
        raise UserError(f"unknown scenario {exc.name!r}",
                        f"known scenarios: {', '.join(exc.known)} (or give a path to a scenario YAML file)")
    except ScenarioError as exc:
        raise UserError(f"scenario file {exc.source}: field {exc.field_path}: expected {exc.expected}",
                        "fix the field and run again")
    if nodes is not None:
        if nodes < len(loaded.node_groups):
            raise UserError(f"--nodes {nodes} is fewer than the scenario's {len(loaded.node_groups)} node groups",
                            f"give at least {len(loaded.node_groups)}")
        fixed = sum(g.count for g in loaded.node_groups[:-1])
        if nodes <= fixed:
            raise UserError(f"--nodes {nodes} leaves no room for the last node group ({fixed} nodes are in the others)",
                            f"give more than {fixed}")
        loaded.node_groups[-1].count = nodes - fixed
    return loaded


@click.group()
def sim() -> None:
    """The built-in simulated cluster (for tests, benchmarks, demos and trying the tool safely)."""


@sim.command("scenarios")
def scenarios() -> None:
    """List the bundled scenarios."""
    table = Table("scenario", "description", box=None, pad_edge=False)
    for name, description in describe_bundled():
        table.add_row(f"[bold]{name}[/bold]", description)
    console.print(table)


@sim.command("serve")
@click.option("--scenario", "scenario_name", default="small", show_default=True,
              help="A bundled scenario name (see `migrate sim scenarios`) or a scenario YAML file.")
@click.option("--port", default=6443, show_default=True, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--kubeconfig-out", default="sim.kubeconfig", show_default=True, type=click.Path(dir_okay=False),
              help="Where to write a kubeconfig for kubectl and the Python client.")
@click.option("--time-scale", default=1.0, show_default=True, type=click.FloatRange(min=0),
              help="Simulated seconds per real second (0: the clock moves only through /admin/clock).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for every random choice (replays a run).")
@click.option("--nodes", default=None, type=click.IntRange(min=1), help="Total node count (resizes the last node group).")
def serve(scenario_name: str, port: int, kubeconfig_out: str, time_scale: float, seed: int, nodes: int | None) -> None:
    """Serve a simulated cluster on 127.0.0.1 until interrupted (Ctrl-C or SIGTERM)."""
    from .sim.cluster import SimCluster

    scenario = _load(scenario_name, nodes)
    with console.status(f"building scenario [bold]{scenario.name}[/bold] ({scenario.node_count} nodes)"):
        started = time.monotonic()
        cluster = SimCluster(scenario, time_scale=time_scale, seed=seed)
        built = time.monotonic() - started
    try:
        server = cluster.serve(port)
    except PortInUse as exc:
        raise UserError(str(exc).split(";")[0], "choose another with --port, or --port 0 for a free one")
    path = cluster.write_kubeconfig(Path(kubeconfig_out))
    pods = len(cluster.store.items(cluster.ctx.pods))
    console.print(f"[green]serving[/green] scenario [bold]{scenario.name}[/bold]: {scenario.node_count} nodes, "
                  f"{pods} pods (built in {built:.1f}s)")
    console.print(f"  API         {server.url}")
    console.print(f"  kubeconfig  {path.resolve()}   (export KUBECONFIG={path.resolve()})")
    console.print(f"  clock       {time_scale:g} simulated s per real s, seed {seed}")
    console.print(f"  admin       {server.url}/admin/probe, /admin/faults, /admin/hosts/NODE, /admin/requests")
    console.print("Press Ctrl-C to stop.")
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            if cluster.loop.error is not None:
                raise cluster.loop.error
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        cluster.stop()
        console.print("stopped")


@click.command()
@click.option("--scenario", "scenario_name", default="small", show_default=True,
              help="A bundled scenario name or a scenario YAML file.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--observe", default=60.0, show_default=True, type=click.FloatRange(min=0),
              help="Simulated seconds of traffic to probe before the summary.")
def demo(scenario_name: str, seed: int, observe: float) -> None:
    """Start a simulated cluster, show it through the Kubernetes API, and probe its pod network."""
    from .sim.cluster import running_cluster
    from .sim_view import render_cluster

    scenario = _load(scenario_name, None)
    with console.status(f"starting simulated cluster [bold]{scenario.name}[/bold]"):
        handle = running_cluster(scenario, seed=seed)
        running = handle.__enter__()
    try:
        running.cluster.advance(observe)
        render_cluster(console, running)
    finally:
        handle.__exit__(None, None, None)
