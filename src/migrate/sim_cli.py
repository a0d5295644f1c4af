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
    """The built-in simulated cluster (for tests, benchmarks, demos and trying the tool safely).

    Exit codes: 0 done (serve: stopped with Ctrl-C), 2 bad input (an unknown or invalid scenario)."""


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


def _timing(values: tuple[str, ...]) -> dict[str, float]:
    from .sim.context import Timings

    known = sorted(Timings.__dataclass_fields__)
    result = {}
    for value in values:
        name, _, seconds = value.partition("=")
        if name not in known:
            raise UserError(f"--timing {value}: no timing named {name!r}", f"known timings: {', '.join(known)}")
        try:
            result[name] = float(seconds)
        except ValueError:
            raise UserError(f"--timing {value}: {seconds!r} is not a number of seconds", "give NAME=SECONDS") from None
        if result[name] < 0:
            raise UserError(f"--timing {value}: a timing cannot be negative", "give NAME=SECONDS, 0 or more")
    return result


@sim.command("attach")
@click.option("--kubeconfig", required=True, metavar="FILE", type=click.Path(dir_okay=False),
              help="Kubeconfig of the real cluster whose nodes the simulator becomes (admin rights).")
@click.option("--context", metavar="NAME", help="Kubeconfig context.")
@click.option("--scenario", "scenario_name", default="small", show_default=True,
              help="A bundled scenario name (see `migrate sim scenarios`) or a scenario YAML file.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for every random choice.")
@click.option("--timing", "timings", multiple=True, metavar="NAME=SECONDS",
              help="Override one of the scenario's timings (pod_start, image_pull, calico_ready, ...); repeatable.")
@click.option("--report-every", default=30.0, show_default=True, type=click.FloatRange(min=1), metavar="SECONDS",
              help="How often to print the traffic probe's counts.")
def attach(kubeconfig: str, context: str | None, scenario_name: str, seed: int, timings: tuple[str, ...],
           report_every: float) -> None:
    """Be the nodes of a real control plane: register the scenario's nodes, run their kubelets, Flannel and
    Calico agents, CNI and the traffic probe against its API, and install the scenario's objects there.
    The real scheduler and controllers do the rest. Runs until interrupted (Ctrl-C or SIGTERM)."""
    from dataclasses import replace

    from .sim.attach import AttachError, AttachedCluster
    from .sim.remote_store import KubeconfigError

    scenario = _load(scenario_name, None)
    overrides = _timing(timings)
    try:
        cluster = AttachedCluster(kubeconfig, scenario, context=context, seed=seed,
                                  timings=replace(scenario.timings, **overrides) if overrides else None)
    except KubeconfigError as exc:
        raise UserError(f"cannot use the kubeconfig {kubeconfig}: {exc}",
                        "give a kubeconfig of the cluster with --kubeconfig (and --context to pick one of its contexts)")
    except Exception as exc:  # noqa: BLE001 - the kubeconfig or the server: one line, no traceback
        raise UserError(f"cannot reach the API server of {kubeconfig}: {_first_line(exc)}",
                        "check the kubeconfig, its context and that the server is up")
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with console.status(f"attaching scenario [bold]{escape(scenario.name)}[/bold]'s {len(cluster.node_names)} "
                            f"nodes to {escape(cluster.api.server)}"):
            started = time.monotonic()
            try:
                cluster.start()
                cluster.wait_settled()
            except ScenarioError as exc:
                raise UserError(exc.message, exc.hint)
            except AttachError as exc:
                raise UserError(str(exc), "see the control plane's logs (kube-controller-manager, kube-scheduler)")
        progress = cluster.progress()
        for line in (f"[green]attached[/green] scenario [bold]{escape(scenario.name)}[/bold] to "
                     f"{escape(cluster.api.server)} (Kubernetes {escape(cluster.server_version)}): "
                     f"{progress.ready_nodes}/{progress.nodes} nodes Ready, {progress.running_pods} pods Running "
                     f"({time.monotonic() - started:.1f}s)",
                     f"  nodes   {escape(', '.join(cluster.node_names))}",
                     "Press Ctrl-C to stop (the nodes stay registered and go NotReady)."):
            console.print(line, soft_wrap=True)
        while not stop.wait(report_every):
            if cluster.loop.error is not None:
                raise cluster.loop.error
            console.print(_probe_line(cluster), soft_wrap=True)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        cluster.stop()
    console.print(_probe_line(cluster) + "; stopped", soft_wrap=True)


def _probe_line(cluster) -> str:
    report, progress = cluster.probe_report(), cluster.progress()
    return (f"probe: {report['samples']} flows, {report['ok']} ok, {report['failed']} failed, "
            f"{report['deniedByPolicy']} denied by policy; {report.get('dnsLookups', 0)} DNS lookups, "
            f"{report.get('dnsFailed', 0)} failed; {progress.ready_nodes}/{progress.nodes} nodes Ready, "
            f"{progress.running_pods}/{progress.pods} pods Ready")


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
