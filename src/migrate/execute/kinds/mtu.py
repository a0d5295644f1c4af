"""prepare/flannel-mtu: the MTU Flannel really runs with, read on every node before Calico gets one.

flanneld writes FLANNEL_MTU to /run/flannel/subnet.env: Backend.MTU, else the MTU of the NIC holding its public-ip,
less VXLAN's 50 bytes (flannel v0.28.9 main.go LookupExtIface, pkg/backend/vxlan/vxlan.go, vxlan_network.go
MTU(), pkg/subnet/subnet.go WriteSubnetFile). Calico's own migration controller reads that file too
(kube-controllers/pkg/controllers/flannelmigration/config.go, FLANNEL_MTU). No API object carries it, so a pod per
node reads it (objects.mtu_reading_pod), its findings in its termination message (the status, never the kubelet's
log endpoint), deleted once read. It changes nothing, so there is nothing to undo.
"""
from __future__ import annotations

import re

from ...objects import MTU_READING, mtu_reading_pod
from ..errors import StepFailed
from .base import StepKind, kind
from .pods import run_batch_to_completion, termination

SUBNET_ENV = "/run/flannel/subnet.env"
PUBLIC_IP = "flannel.alpha.coreos.com/public-ip"
VXLAN_OVERHEAD = 50
BATCH = 50  # pods at once: a large cluster is read in batches, each created, awaited and deleted together
_LINK = re.compile(r"^\d+:\s+([^:@\s]+)(?:@\S+)?:\s+<[^>]*>\s+mtu\s+(\d+)")
_INET = re.compile(r"^\s+inet\s+([0-9.]+)/")
_FLANNEL_MTU = re.compile(r"^FLANNEL_MTU=(\d+)\s*$", re.M)


class MtuTooLarge(StepFailed):
    """The plan's MTU is larger than Flannel's on some node; `fits` is the --mtu to plan with, or None when
    net-conf.json's Backend.MTU itself must change."""

    def __init__(self, message: str, hint: str, *, fits: int | None):
        super().__init__(message, hint)
        self.fits = fits


def parse_reading(message: str, address: str, device: str) -> tuple[int | None, str | None, int | None]:
    """(FLANNEL_MTU, the NIC holding `address`, its MTU) from a reading pod's message; None where absent.
    FLANNEL_MTU is subnet.env's, else the MTU of Flannel's VXLAN device, which flanneld sets to the same value."""
    found = _FLANNEL_MTU.search(message)
    flannel_mtu = int(found.group(1)) if found else None
    nic = nic_mtu = None
    link = None
    for line in message.splitlines():
        header = _LINK.match(line)
        if header:
            link = (header.group(1), int(header.group(2)))
            if link[0] == device and flannel_mtu is None:
                flannel_mtu = link[1]
            continue
        inet = _INET.match(line)
        if inet and link and inet.group(1) == address:
            nic, nic_mtu = link
    return flannel_mtu, nic, nic_mtu


def _grouped(readings: dict[str, tuple[int, str | None, int | None]]) -> str:
    groups: dict[tuple, list[str]] = {}
    for node, (flannel_mtu, nic, nic_mtu) in readings.items():
        groups.setdefault((flannel_mtu, nic, nic_mtu), []).append(node)
    return "; ".join(f"{flannel_mtu} ({f'{nic} MTU {nic_mtu}' if nic else 'NIC not found'}) on "
                     f"{', '.join(sorted(nodes))}" for (flannel_mtu, nic, nic_mtu), nodes in sorted(
                         groups.items(), key=lambda item: (item[0][0], item[0][2] or 0)))


@kind("flannel-mtu")
class FlannelMtu(StepKind):
    def apply(self, ctx, step):
        mtu, source = step.params["mtu"], step.params["source"]
        namespace = ctx.plan.options["namespace"]
        nodes = {}  # the live nodes Flannel has run on, by the address it took as its public-ip
        for node in ctx.kube.list("/api/v1/nodes"):
            address = (node["metadata"].get("annotations") or {}).get(PUBLIC_IP)
            if address:
                nodes[node["metadata"]["name"]] = address
        readings, unreadable = {}, {}
        names = sorted(nodes)
        for start in range(0, len(names), BATCH):
            batch = names[start:start + BATCH]
            pods = [mtu_reading_pod(n, namespace, step.params["image"], nodes[n], step.params["vni"]) for n in batch]
            ended = run_batch_to_completion(ctx, pods, timeout=300, what="reading Flannel's MTU",
                                            hint="check the nodes' kubelets; then `migrate resume PLAN`")
            if not ended:
                ctx.result = f"would read FLANNEL_MTU and the NIC's MTU on {len(names)} nodes"
                return  # a dry run: nothing ran
            for node in batch:
                pod = ended[f"{MTU_READING}-{node}"]
                message, exit_note = termination(pod)
                flannel_mtu, nic, nic_mtu = parse_reading(message, nodes[node], f"flannel.{step.params['vni']}")
                if pod["status"]["phase"] != "Succeeded" or flannel_mtu is None:
                    unreadable[node] = " | ".join(message.strip().splitlines()[-2:]) or exit_note
                else:
                    readings[node] = (flannel_mtu, nic, nic_mtu)
        if unreadable:
            raise StepFailed(f"could not read FLANNEL_MTU ({SUBNET_ENV} or flannel.{step.params['vni']}) on "
                             + "; ".join(f"{n}: {why or 'neither is there'}" for n, why in sorted(unreadable.items())),
                             "every node must run Flannel before the migration: start it there, then "
                             "`migrate resume PLAN`")
        found = f"FLANNEL_MTU (and the NIC holding Flannel's public-ip) by node: {_grouped(readings)}"
        smaller = sorted(n for n, (f, _, _) in readings.items() if f < mtu)
        narrow = sorted(n for n, (_, _, nic_mtu) in readings.items() if nic_mtu and nic_mtu - VXLAN_OVERHEAD < mtu)
        if smaller or narrow:
            fits = min(min(f for f, _, _ in readings.values()),
                       min((m - VXLAN_OVERHEAD for _, _, m in readings.values() if m), default=mtu))
            where = ", ".join(sorted(set(smaller) | set(narrow)))
            hint = (f"set Backend.MTU in Flannel's net-conf.json to at most {fits + VXLAN_OVERHEAD} (Flannel drops "
                    "those packets there today too), let Flannel restart, then snapshot and plan again"
                    if source.startswith("Flannel's Backend.MTU") else f"plan again with --mtu {fits}")
            raise MtuTooLarge(f"the plan's MTU {mtu} ({source}) is too large for {where}: Calico's VXLAN would "
                              f"black-hole full-sized packets there. {found}", hint,
                              fits=None if source.startswith("Flannel's Backend.MTU") else fits)
        larger = sorted(n for n, (f, _, _) in readings.items() if f > mtu)
        ctx.result = found + (f". Calico runs {mtu} everywhere, smaller than Flannel's on {', '.join(larger)} "
                              "(mixed MTUs: the smallest wins)" if larger else f". Calico runs {mtu}, as Flannel")
