"""`migrate preflight`: what would go wrong, before anything changes. Parse, call, render; nothing more."""
from __future__ import annotations

import json

import click
from rich.markup import escape
from rich.padding import Padding

from .analysis import analyse, has_blocker
from .console import console, err_console
from .errors import EXIT_BLOCKED, UserError
from .kube import connect
from .snapshot import gather_snapshot, load_snapshot

SEVERITY_STYLE = {"blocker": "bold red", "warning": "yellow", "info": "cyan"}


@click.command()
@click.option("--snapshot", "snapshot_file", metavar="FILE", help="Analyse this snapshot file instead of a live cluster.")
@click.option("--kubeconfig", metavar="FILE", help="Kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, in-cluster).")
@click.option("--context", metavar="NAME", help="Kubeconfig context to use (default: its current-context).")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="table: one block per finding for people; json: a list of findings for tools.")
def preflight(snapshot_file: str | None, kubeconfig: str | None, context: str | None, output_format: str) -> None:
    """Report blockers, warnings and the cloud checklist for a migration (reads only). Exits 3 on a blocker."""
    if snapshot_file and (kubeconfig or context):
        raise UserError("--snapshot and --kubeconfig/--context both given",
                        "analyse either a snapshot file or a live cluster, not both")
    taken = load_snapshot(snapshot_file) if snapshot_file else gather_snapshot(connect(kubeconfig, context))
    findings = analyse(taken)
    if output_format == "json":
        console.print(json.dumps([f.as_dict() for f in findings], indent=2), markup=False, highlight=False,
                      soft_wrap=True)
    else:
        console.print(f"[bold]preflight[/bold] of cluster {escape(taken.cluster_id)}")
        for f in findings:
            # One block per finding: messages name many pods and nodes, which no table column fits.
            console.print(f"\n[{SEVERITY_STYLE[f.severity]}]{f.severity.upper():<8}[/] [bold]{f.code}[/bold]")
            console.print(Padding(escape(f.message), (0, 0, 0, 2)))
            console.print(Padding(f"[dim]fix:[/dim] {escape(f.fix)}", (0, 0, 0, 2)))
    counts = {s: sum(f.severity == s for f in findings) for s in SEVERITY_STYLE}
    err_console.print(f"{counts['blocker']} blockers, {counts['warning']} warnings, {counts['info']} info", soft_wrap=True)
    if has_blocker(findings):
        click.get_current_context().exit(EXIT_BLOCKED)
