"""`migrate snapshot`: gather the cluster's facts into a YAML file. Parse, call, render; nothing more."""
from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from .console import console, err_console
from .kube import connect
from .snapshot import gather_snapshot, snapshot_to_yaml


@click.command()
@click.option("--kubeconfig", metavar="FILE", help="Kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, in-cluster).")
@click.option("--context", metavar="NAME", help="Kubeconfig context to use (default: its current-context).")
@click.option("-o", "--output", "output", metavar="FILE", type=click.Path(dir_okay=False, writable=True),
              help="Write the snapshot here instead of stdout.")
def snapshot(kubeconfig: str | None, context: str | None, output: str | None) -> None:
    """Read the cluster (never write) and record what the migration needs to know, as YAML.

    Exit codes: 0 written, 2 bad input (no cluster reached, an unwritable file)."""
    kube = connect(kubeconfig, context)
    taken = gather_snapshot(kube)
    text = snapshot_to_yaml(taken)
    if output:
        Path(output).write_text(text)
    else:
        console.print(text, end="", markup=False, highlight=False, soft_wrap=True)
    content = taken.content
    flannel = content["flannel"]
    where = (f"Flannel {flannel['flavor']} in {flannel['namespace']}/{flannel['daemonSet']}, "
             f"backend {(flannel['netConf'].get('backend') or {}).get('type', 'unparsed')}"
             if flannel["found"] else "no Flannel found")
    pods = sum(len(p) for p in content["pods"].values())
    err_console.print(escape(f"cluster {taken.cluster_id}: {len(content['nodes'])} nodes, {pods} pods, {where}; "
                             f"{kube.total_calls} API calls"), soft_wrap=True)
