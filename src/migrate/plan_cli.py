"""`migrate plan`: snapshot + options → a plan file to review, diff and approve. Reads only."""
from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from .cluster_source import cluster_options, take_snapshot
from .console import console, err_console
from .calico_source import read_manifest, resolve_release
from .errors import UserError
from .findings_view import counts_line, print_findings
from .plan import PlanBlocked, PlanOptions, build_plan, plan_to_yaml
from .plan.options import (DEFAULT_CALICO_VERSION, DEFAULT_NAMESPACE, ENCAPSULATIONS, IPAMS, NODE_ORDERS, POLICY_MODES,
                           calico_manifest_url)


def _node_order(value: str) -> tuple[str, tuple[str, ...]]:
    if value in NODE_ORDERS:
        return value, ()
    return "zone-interleaved", tuple(n.strip() for n in value.split(",") if n.strip())


@click.command()
@cluster_options
@click.option("--encapsulation", type=click.Choice(ENCAPSULATIONS), default="keep", show_default=True,
              help="Where finalize leaves the pool. keep: stay on Flannel-compatible VXLAN (Flannel's VNI and "
                   "port, 1/8472 by default), no switch, nothing drops. vxlan/vxlan-crosssubnet: re-key to Calico's "
                   "VNI 4096/UDP 4789, opt-in: each Felix restarts for it on its own, so cross-node flows drop for "
                   "as long as the restarts spread (about 2.5 s measured in the simulator; ENCAPSULATION_SWITCH_GAP). "
                   "ipip-crosssubnet: natively inside a subnet, IPIP across; ipip: IPIP everywhere; both switched "
                   "without dropping a flow, routes programmed by Felix from Calico v3.31, by BIRD over BGP before.")
@click.option("--ipip-tunnel-cidr", metavar="CIDR",
              help="For the IPIP targets: the pool giving each node its tunl0 address before the switch (a /26 "
                   "per node, used by no node, pod or service). [default: 100.64.0.0/16]")
@click.option("--ipam", type=click.Choice(IPAMS), default="calico-ipam", show_default=True,
              help="calico-ipam: blocks claimed from each node's podCIDR; host-local: usePodCidr.")
@click.option("--calico-version", metavar="TAG",
              help=f"Calico release to install (default: the manifest's, else {DEFAULT_CALICO_VERSION}).")
@click.option("--calico-manifest", metavar="FILE|URL", help="That release's calico.yaml (calico-typha.yaml above 50 "
              "nodes, else refused): a file, or an address to fetch it from now; pinned by sha256 either way.")
@click.option("--fetch-calico", is_flag=True, help="Fetch calico.yaml of --calico-version (calico-typha.yaml above 50 "
              "nodes) from the Calico project's release address now (pinned by sha256).")
@click.option("--max-unavailable", default="10%", show_default=True, metavar="N|P%",
              help="Nodes handed off at once: a count or a percent of all nodes.")
@click.option("--canaries", default=1, show_default=True, type=int, metavar="N", help="Nodes in the first wave alone.")
@click.option("--drain-timeout", default=600, show_default=True, type=int, metavar="SECONDS",
              help="Per-node limit for the drain.")
@click.option("--grace-period", type=int, metavar="SECONDS", help="Override each pod's termination grace period.")
@click.option("--delete-emptydir-data", is_flag=True, help="Drain pods with emptyDir volumes, losing that data.")
@click.option("--force", is_flag=True, help="Drain pods no controller re-creates (they are deleted for good).")
@click.option("--node-order", default="zone-interleaved", show_default=True, metavar="ORDER",
              help="zone-interleaved, name, or every node's name, comma-separated.")
@click.option("--policy", type=click.Choice(POLICY_MODES),
              help="When NetworkPolicies start to be enforced: at finalize, or on each node as it moves. "
                   "[default: hold-until-finalize; per-node on Canal, which enforces them today]")
@click.option("--namespace", default=DEFAULT_NAMESPACE, show_default=True,
              help="Namespace for the lease, journal mirror, backups and hand-off pods.")
@click.option("--cleanup-image", metavar="IMAGE", help="Image of the hand-off pod (default: Flannel's own).")
@click.option("--mtu", type=int, metavar="N", help="Calico's MTU, when Flannel's net-conf.json sets no Backend.MTU: "
              "the smallest FLANNEL_MTU in /run/flannel/subnet.env of any node. [default: 1450, checked on every "
              "node by the plan's prepare/flannel-mtu step before Calico is installed]")
@click.option("-o", "--output", metavar="FILE", type=click.Path(dir_okay=False, writable=True),
              help="Write the plan here instead of stdout.")
def plan(snapshot_file, kubeconfig, context, encapsulation, ipip_tunnel_cidr, ipam, calico_version, calico_manifest, fetch_calico,
         max_unavailable,
         canaries, drain_timeout, grace_period, delete_emptydir_data, force, node_order, policy, namespace,
         cleanup_image, mtu, output) -> None:
    """Build the migration plan from a snapshot (or the live cluster, read only), for a Calico manifest it pins
    (--calico-manifest or --fetch-calico).

    Exit codes: 0 planned, 2 bad input (no manifest pinned, an unreadable snapshot), 3 a blocker."""
    order, explicit = _node_order(node_order)
    if fetch_calico and calico_manifest:
        raise UserError("--fetch-calico and --calico-manifest both given", "use one of them")
    taken = take_snapshot(snapshot_file, kubeconfig, context)
    # calico-typha.yaml above 50 nodes, as Calico's docs install it (analysis/typha.py)
    pinned, manifest_text = read_manifest(calico_manifest_url(calico_version or DEFAULT_CALICO_VERSION,
                                                              len(taken.content["nodes"]))
                                          if fetch_calico else calico_manifest)
    calico_version = resolve_release(calico_version, manifest_text)
    options = PlanOptions(encapsulation=encapsulation, ipam=ipam, calico_version=calico_version,
                          calico_manifest=pinned, calico_manifest_text=manifest_text, max_unavailable=max_unavailable,
                          canaries=canaries, drain_timeout=drain_timeout, grace_period=grace_period,
                          delete_emptydir_data=delete_emptydir_data, force=force, node_order=order,
                          explicit_order=explicit, policy=policy, namespace=namespace, cleanup_image=cleanup_image,
                          mtu=mtu, ipip_tunnel_cidr=ipip_tunnel_cidr)
    try:
        built = build_plan(taken, options)
    except PlanBlocked as blocked:
        print_findings([f.as_dict() for f in blocked.findings if f.severity == "blocker"], to_stderr=True)
        raise
    if not pinned:  # apply refuses an unpinned manifest: a plan it would refuse is no plan to review
        raise UserError(f"no Calico manifest pinned: apply would refuse this plan (Calico {calico_version} from "
                        f"{calico_manifest_url(calico_version, len(taken.content['nodes']))})",
                        "download it and plan with --calico-manifest FILE, or plan with --fetch-calico")
    text = plan_to_yaml(built)
    if output:
        Path(output).write_text(text)
    else:
        console.print(text, end="", markup=False, highlight=False, soft_wrap=True)
    waves = len(built.waves)
    err_console.print(escape(f"plan {built.digest[:19]}: {len(taken.content['nodes'])} nodes in "
                             f"{waves} waves, {len(built.steps)} steps; {counts_line(list(built.findings))}; review "
                             f"with `migrate show {output or 'PLAN'}`"), soft_wrap=True)
