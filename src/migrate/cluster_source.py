"""Where a command's snapshot comes from: a file, or the live cluster read through kube access."""
from __future__ import annotations

import click

from .errors import UserError
from .kube import connect
from .snapshot import Snapshot, gather_snapshot, load_snapshot


def cluster_options(command):
    """--snapshot FILE, or --kubeconfig/--context for the live cluster."""
    for option in reversed((
            click.option("--snapshot", "snapshot_file", metavar="FILE",
                         help="Use this snapshot file instead of reading a live cluster."),
            click.option("--kubeconfig", metavar="FILE",
                         help="Kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, in-cluster)."),
            click.option("--context", metavar="NAME", help="Kubeconfig context to use (default: its current-context)."))):
        command = option(command)
    return command


def take_snapshot(snapshot_file: str | None, kubeconfig: str | None, context: str | None) -> Snapshot:
    if snapshot_file and (kubeconfig or context):
        raise UserError("--snapshot and --kubeconfig/--context both given",
                        "use either a snapshot file or a live cluster, not both")
    return load_snapshot(snapshot_file) if snapshot_file else gather_snapshot(connect(kubeconfig, context))
