"""`migrate demo`: the whole job on the built-in simulated cluster, offline: snapshot, preflight, plan,
apply with live progress, then verification and the traffic probe's count of failed flows."""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import click
from rich.markup import escape

from .analysis import analyse, release
from .console import console, err_console
from .errors import EXIT_FAILED
from .prompts import confirm
from .execute.clock import SteppedClock
from .execute.executor import Executor
from .execute.journal import Journal, JournalMirror
from .execute.kinds.mtu import MtuTooLarge
from .execute.session import AuditLog, cluster_lock
from .findings_view import counts_line, print_findings
from .kube import connect
from .plan import PlanBlocked, PlanOptions, build_plan, plan_to_yaml
from .plan.options import DEFAULT_CALICO_VERSION, ENCAPSULATIONS, MTU_RANGE
from .progress_view import progress_for
from .snapshot import gather_snapshot, snapshot_to_yaml
from .verify_cli import verify_now


def _release_for(snapshot) -> str:
    """The default Calico release, or, on a cluster it is not tested on, the newest release that is."""
    minor = release.server_minor(snapshot.content)
    tested = release.TESTED_KUBERNETES.get(release.release_minor(DEFAULT_CALICO_VERSION), ())
    newest = release.newest_release_tested_on(minor) if minor is not None else None
    return DEFAULT_CALICO_VERSION if minor in tested or newest is None else f"{newest}.0"


def _plan(snapshot, manifest: Path, version: str, mtu: int | None, encapsulation: str | None = None):
    """The default plan; on a simulated cluster the demo accepts losing bare pods and emptyDir data, and says so."""
    text = manifest.read_text()
    pinned = {"source": str(manifest), "sha256": hashlib.sha256(text.encode()).hexdigest()}
    chosen = {"encapsulation": encapsulation} if encapsulation else {}
    options = PlanOptions(calico_manifest=pinned, calico_manifest_text=text, calico_version=version, mtu=mtu,
                          **chosen)
    try:
        return build_plan(snapshot, options), []
    except PlanBlocked as blocked:
        codes = {f.code for f in blocked.findings if f.severity == "blocker"}
        if not codes <= {"DRAIN_NEEDS_FORCE", "DRAIN_NEEDS_DELETE_EMPTYDIR_DATA"}:
            raise
        accepted = ["--force"] * ("DRAIN_NEEDS_FORCE" in codes) + \
                   ["--delete-emptydir-data"] * ("DRAIN_NEEDS_DELETE_EMPTYDIR_DATA" in codes)
        options = PlanOptions(calico_manifest=pinned, calico_manifest_text=text, calico_version=version, mtu=mtu,
                              force="--force" in accepted, **chosen,
                              delete_emptydir_data="--delete-emptydir-data" in accepted)
        return build_plan(snapshot, options), accepted


def _apply(plan, plan_file: Path, kube, clock) -> None:
    """Apply `plan` as `migrate apply` does, journaled beside `plan_file`; a failed MTU check rolls back first."""
    journal = Journal.open(Path(f"{plan_file}.journal.jsonl"), plan.digest,
                           mirror=JournalMirror(kube, plan.options["namespace"], plan.digest))
    lock = cluster_lock(kube, clock)
    audit = AuditLog(Path(f"{plan_file}.audit.jsonl"), kube.user, clock)
    kube.on_write = audit
    progress = progress_for(plan)
    executor = Executor(plan, kube, journal, clock=clock, emit=progress, lock=lock, audit=audit)
    executor.ctx.cache["plan_dir"] = plan_file.parent
    lock.acquire(plan.digest)
    try:
        executor.run()
    except MtuTooLarge as small:
        if small.fits is not None:
            executor.rollback()
        raise
    finally:
        progress.close()
        lock.release()


@click.command()
@click.option("--scenario", "scenario_name", default="jdcloud-prod", show_default=True,
              help="A bundled scenario name or a scenario YAML file.")
@click.option("--yes", is_flag=True, help="Apply without asking.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--nodes", default=None, type=click.IntRange(min=1), help="Total node count (resizes the last node group).")
@click.option("--keep", "keep_dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Keep the snapshot, plan, journal and audit log in DIR (default: a temporary directory).")
@click.option("--mtu", type=click.IntRange(*MTU_RANGE), metavar="N",
              help="Plan with this MTU, as `migrate plan --mtu`. Without it the demo plans for 1500-byte NICs; "
                   "when the run's prepare/flannel-mtu step finds smaller ones, the demo rolls back and plans again "
                   "with the MTU it read.")
@click.option("--encapsulation", type=click.Choice(ENCAPSULATIONS), default=None,
              help="Where finalize leaves the pool, as `migrate plan --encapsulation` (e.g. ipip-crosssubnet: "
                   "natively inside a subnet, IPIP across). [default: migrate plan's]")
@click.option("--calico-version", metavar="TAG",
              help="The Calico release the demo installs (its simulated manifest), e.g. v3.30.5, whose Felix cannot "
                   "program IPIP routes, so an IPIP finalize goes through BIRD. [default: "
                   f"{DEFAULT_CALICO_VERSION}, or the newest release tested on the cluster's Kubernetes]")
def demo(scenario_name: str, yes: bool, seed: int, nodes: int | None, keep_dir: str | None, mtu: int | None,
         encapsulation: str | None, calico_version: str | None) -> None:
    """Migrate a simulated cluster from Flannel to Calico: snapshot, preflight, plan, apply, verify.

    Exit codes: 0 migrated with nothing lost, 1 a step failed, a flow failed, a DNS lookup went unanswered or a
    check did not pass, 2 bad input (an unknown or invalid scenario; no --yes without a terminal), 5 not confirmed."""
    from .analysis.typha import needs_typha
    from .sim.calico_release import calico_release_manifest
    from .sim.cluster import RunningCluster
    from .sim_cli import _build, _load
    from .sim_view import render_cluster

    scenario = _load(scenario_name, nodes)
    with console.status(f"starting simulated cluster [bold]{escape(scenario.name)}[/bold]"):
        cluster = _build(scenario, seed=seed)
    work = tempfile.TemporaryDirectory(prefix="migrate-demo-")
    folder = Path(keep_dir) if keep_dir else Path(work.name)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        cluster.serve(0)
        kubeconfig = cluster.write_kubeconfig(folder / "kubeconfig")
        cluster.advance(30)
        render_cluster(console, RunningCluster(cluster, kubeconfig, folder))
        clock = SteppedClock(cluster.clock.now, cluster.advance)
        kube = connect(str(kubeconfig), sleep=clock.sleep)

        console.rule("snapshot")
        snapshot = gather_snapshot(kube)
        (folder / "snapshot.yaml").write_text(snapshot_to_yaml(snapshot))
        console.print(f"{len(snapshot.content['nodes'])} nodes, cluster {snapshot.cluster_id}: {folder / 'snapshot.yaml'}")

        console.rule("preflight")
        findings = [f.as_dict() for f in analyse(snapshot)]
        print_findings([f for f in findings if f["severity"] != "info"])
        console.print(counts_line(findings))

        console.rule("plan")
        manifest = folder / "calico.yaml"
        version = calico_version or _release_for(snapshot)
        # calico-typha.yaml above 50 nodes, as Calico's docs install it (analysis/typha.py)
        manifest.write_text(calico_release_manifest(version, typha=needs_typha(len(snapshot.content["nodes"]))))
        if version != DEFAULT_CALICO_VERSION and not calico_version:
            console.print(f"[yellow]Kubernetes {snapshot.content['server'].get('gitVersion')} is not among those "
                          f"Calico {DEFAULT_CALICO_VERSION} is tested on: the demo installs Calico {version}[/yellow]")
        plan, accepted = _plan(snapshot, manifest, version, mtu, encapsulation)
        plan_file = folder / "plan.yaml"
        plan_file.write_text(plan_to_yaml(plan))
        if accepted:
            console.print(f"[yellow]the demo accepts {' and '.join(accepted)} on this simulated cluster[/yellow]")
        console.print(f"{plan_file}: {len(plan.steps)} steps in {len(plan.waves)} waves "
                      f"({', '.join(w.name for w in plan.waves[:4])}{' ...' if len(plan.waves) > 4 else ''}); "
                      f"review it with `migrate show {plan_file}`")
        if not yes:
            confirm(f"apply plan {plan.digest[:19]} to the simulated cluster?")

        console.rule("apply")
        cluster.network.reset_probe()
        try:
            _apply(plan, plan_file, kube, clock)
        except MtuTooLarge as small:
            if small.fits is None:
                raise
            # what an operator does when prepare/flannel-mtu stops the run: undo it (nothing but the namespace
            # was touched), plan again with the MTU the nodes really run, apply that plan
            console.print(f"[yellow]{escape(small.message)}[/yellow]", soft_wrap=True)
            console.print(f"[yellow]the demo rolls this run back and plans again with --mtu {small.fits}[/yellow]")
            plan, _ = _plan(snapshot, manifest, version, small.fits, encapsulation)
            plan_file = folder / f"plan-mtu{small.fits}.yaml"
            plan_file.write_text(plan_to_yaml(plan))
            _apply(plan, plan_file, kube, clock)
        probe = cluster.network.probe

        console.rule("verify")
        results = verify_now(kube, clock, namespace=plan.options["namespace"])
        for what, passed, why in results:
            mark = "[green]ok  [/green]" if passed else "[bold red]FAIL[/bold red]"
            console.print(f"{mark} {escape(what)}" + (f": {escape(why)}" if why else ""), soft_wrap=True)
        failed_checks = sum(not passed for _, passed, _ in results)
        console.print(f"\n[bold]traffic probe during the migration:[/bold] {probe.samples} flows, "
                      f"{probe.ok} ok, [{'green' if not probe.failed else 'bold red'}]{probe.failed} failed[/], "
                      f"{probe.denied_by_policy} denied by NetworkPolicy (enforced from finalize on); "
                      f"{probe.dns_lookups} DNS lookups, [{'green' if not probe.dns_failed else 'bold red'}]"
                      f"{probe.dns_failed} unanswered[/]")
        err_console.print(f"{len(results) - failed_checks} checks passed, {failed_checks} failed; {probe.failed} "
                          f"failed flows, {probe.dns_failed} unanswered DNS lookups", soft_wrap=True)
        if failed_checks or probe.failed or probe.dns_failed:
            click.get_current_context().exit(EXIT_FAILED)
    finally:
        cluster.stop()
        work.cleanup()
