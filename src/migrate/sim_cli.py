"""`migrate sim ...` and `migrate demo`: the simulated cluster from the command line."""
from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import click
from rich.markup import escape

from .console import console
from .errors import UserError
from .sim.scenario import ScenarioError, UnknownScenario, describe_bundled, load_scenario, resize
from .sim.server import PortInUse


def _load(scenario: str, nodes: int | None):
    try:
        loaded = load_scenario(scenario)
        if nodes is not None:
            resize(loaded, nodes)
    except UnknownScenario as exc:
        raise UserError(f"unknown scenario {exc.name!r}",
                        f"known scenarios: {', '.join(exc.known)} (or give a path to a scenario YAML file)")
    except ScenarioError as exc:
        raise UserError(exc.message, exc.hint)
    return loaded


def _pod_security_summary(config) -> str:
    policy = config.default_policy()
    shown = " ".join(f"{mode}={getattr(policy, mode)}" for mode in ("enforce", "audit", "warn"))
    exempt = f"; exempt namespaces: {', '.join(config.exempt_namespaces)}" if config.exempt_namespaces else ""
    return f"defaults {shown}{exempt}"


def _build(scenario, **kwargs):
    """The cluster, or one line saying which object of the scenario the API refused."""
    from .sim.cluster import SimCluster

    try:
        return SimCluster(scenario, **kwargs)
    except ScenarioError as exc:
        raise UserError(exc.message, exc.hint)


@click.group()
def sim() -> None:
    """The built-in simulated cluster (for tests, benchmarks, demos and trying the tool safely)."""


@sim.command("scenarios")
def scenarios() -> None:
    """List the bundled scenarios."""
    rows = describe_bundled()
    width = max(len(name) for name, _ in rows)
    # One line per scenario, whatever the terminal's width, so the list can be read by grep too.
    for name, description in rows:
        console.print(f"[bold]{name:<{width}}[/bold]  {escape(description)}", soft_wrap=True)


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
@click.option("--pod-security-default", "pod_security_level", default=None,
              type=click.Choice(["privileged", "baseline", "restricted"]),
              help="Pod Security level enforced in namespaces without their own pod-security.kubernetes.io/enforce "
                   "label, kube-system exempt (replaces the scenario's podSecurity).")
def serve(scenario_name: str, port: int, kubeconfig_out: str, time_scale: float, seed: int, nodes: int | None,
          pod_security_level: str | None) -> None:
    """Serve a simulated cluster on 127.0.0.1 until interrupted (Ctrl-C or SIGTERM)."""
    scenario = _load(scenario_name, nodes)
    if pod_security_level:
        from .sim.pod_security import PodSecurityConfig
        scenario.pod_security = PodSecurityConfig.enforcing(pod_security_level, exempt_namespaces=("kube-system",))
    with console.status(f"building scenario [bold]{escape(scenario.name)}[/bold] ({scenario.node_count} nodes)"):
        started = time.monotonic()
        cluster = _build(scenario, time_scale=time_scale, seed=seed)
        built = time.monotonic() - started
    try:
        server = cluster.serve(port)
    except PortInUse as exc:
        cluster.stop()
        raise UserError(f"port {exc.port} on 127.0.0.1 is already in use",
                        "choose another with --port, or --port 0 for a free one")
    except OSError as exc:
        cluster.stop()
        raise UserError(f"cannot listen on 127.0.0.1:{port} ({exc.strerror})",
                        "choose another with --port, or --port 0 for a free one")
    try:
        path = cluster.write_kubeconfig(Path(kubeconfig_out))
    except OSError as exc:
        cluster.stop()
        raise UserError(f"cannot write the kubeconfig to {kubeconfig_out} ({exc.strerror})",
                        "give a writable path with --kubeconfig-out")
    pods = len(cluster.store.items(cluster.ctx.pods))
    lines = [f"[green]serving[/green] scenario [bold]{escape(scenario.name)}[/bold]: {scenario.node_count} nodes, "
             f"{pods} pods (built in {built:.1f}s)",
             f"  API         {server.url}",
             f"  kubeconfig  {escape(str(path.resolve()))}   (export KUBECONFIG={escape(str(path.resolve()))})",
             f"  clock       {time_scale:g} simulated s per real s, seed {seed}",
             f"  security    Pod Security {_pod_security_summary(scenario.pod_security)}",
             f"  admin       {server.url}/admin/probe, /admin/faults, /admin/hosts/NODE, /admin/requests",
             "Press Ctrl-C to stop."]
    for line in lines:
        console.print(line, soft_wrap=True)
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
