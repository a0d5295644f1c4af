"""`migrate preflight`: what would go wrong, before anything changes. Parse, call, render; nothing more."""
from __future__ import annotations

import json

import click
from rich.markup import escape

from .analysis import analyse, has_blocker, release, typha
from .analysis.finding import SEVERITIES
from .calico_manifest import manifest_objects
from .calico_source import read_manifest, resolve_release
from .cluster_source import cluster_options, take_snapshot
from .console import console, err_console
from .errors import EXIT_BLOCKED
from .findings_view import counts_line, print_findings
from .plan import PlanOptions
from .plan.options import DEFAULT_CALICO_VERSION, ENCAPSULATIONS, POLICY_MODES
from .plan.planner import option_findings


@click.command()
@cluster_options
@click.option("--calico-version", metavar="TAG",
              help=f"Calico release to check against the cluster (default: the manifest's, else {DEFAULT_CALICO_VERSION}).")
@click.option("--calico-manifest", metavar="FILE|URL", help="That release's calico.yaml (calico-typha.yaml above 50 "
              "nodes), checked as plan checks it.")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="table: one block per finding for people; json: a list of findings for tools.")
@click.option("--force", is_flag=True, help="As plan's: the drain may delete pods no controller re-creates.")
@click.option("--delete-emptydir-data", is_flag=True, help="As plan's: the drain may lose emptyDir data.")
@click.option("--cleanup-image", metavar="IMAGE", help="As plan's: the hand-off pod's image.")
@click.option("--policy", type=click.Choice(POLICY_MODES), help="As plan's: when NetworkPolicies start to be enforced.")
@click.option("--encapsulation", type=click.Choice(ENCAPSULATIONS), default="keep", show_default=True,
              help="As plan's: where finalize leaves the pool.")
def preflight(snapshot_file: str | None, kubeconfig: str | None, context: str | None, calico_version: str | None,
              calico_manifest: str | None, output_format: str, force: bool, delete_emptydir_data: bool,
              cleanup_image: str | None, policy: str | None, encapsulation: str) -> None:
    """Report blockers, warnings and the cloud checklist for a migration (reads only). Given plan's flags, it
    reports the blockers plan would refuse with.

    Exit codes: 0 no blocker, 2 bad input, 3 a blocker."""
    _, manifest_text = read_manifest(calico_manifest)
    calico_version = resolve_release(calico_version, manifest_text)
    taken = take_snapshot(snapshot_file, kubeconfig, context)
    objects = manifest_objects(manifest_text) if manifest_text else None
    chosen = PlanOptions(force=force, delete_emptydir_data=delete_emptydir_data, cleanup_image=cleanup_image,
                         policy=policy, encapsulation=encapsulation, calico_version=calico_version)
    found = sorted(analyse(taken) + option_findings(taken.content, chosen)
                   + release.check(taken.content, calico_version, objects)
                   + typha.check(taken.content, calico_version, objects),
                   key=lambda f: SEVERITIES.index(f.severity))
    findings = [f.as_dict() for f in found]
    if output_format == "json":
        console.print(json.dumps(findings, indent=2), markup=False, highlight=False, soft_wrap=True)
    else:
        console.print(f"[bold]preflight[/bold] of cluster {escape(taken.cluster_id)}")
        print_findings(findings)
    err_console.print(counts_line(findings), soft_wrap=True)
    if has_blocker(found):
        click.get_current_context().exit(EXIT_BLOCKED)
