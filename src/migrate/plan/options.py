"""What the person planning chooses, checked and resolved against the snapshot before any step is built."""
from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import asdict, dataclass, field

from ..analysis.typha import TYPHA_MANIFEST_URL, needs_typha
from ..errors import UserError

ENCAPSULATIONS = ("vxlan", "vxlan-crosssubnet", "ipip", "ipip-crosssubnet", "none", "keep")
IPAMS = ("calico-ipam", "host-local")
NODE_ORDERS = ("zone-interleaved", "name")
POLICY_MODES = ("hold-until-finalize", "per-node")
DEFAULT_CALICO_VERSION = "v3.32.1"
CALICO_MANIFEST_URL = "https://raw.githubusercontent.com/projectcalico/calico/{version}/manifests/calico.yaml"
DEFAULT_NAMESPACE = "calico-migration"
# A zone with fewer nodes than this never has two of them out at once: losing two of five is 40%.
FEW_NODES_PER_ZONE = 10


def calico_manifest_url(version: str, node_count: int) -> str:
    """The release's manifest address: calico.yaml, or calico-typha.yaml above 50 nodes, as Calico's docs install it
    there (analysis/typha.py)."""
    return (TYPHA_MANIFEST_URL if needs_typha(node_count) else CALICO_MANIFEST_URL).format(version=version)


class PlanOptionError(UserError):
    """An option that cannot make a plan for this snapshot."""


@dataclass(frozen=True)
class PlanOptions:
    encapsulation: str = "keep"           # after finalize: Flannel-compatible VXLAN, no switch (nothing drops)
    ipam: str = "calico-ipam"
    calico_version: str = DEFAULT_CALICO_VERSION
    calico_manifest: dict | None = None   # {"source": path or URL, "sha256": ...} when pinned
    max_unavailable: str = "10%"          # nodes handed off at once: a count or a percent of all nodes
    canaries: int = 1
    drain_timeout: int = 600              # seconds per node
    grace_period: int | None = None       # None: each pod's own terminationGracePeriodSeconds
    delete_emptydir_data: bool = False
    force: bool = False                   # evict pods no controller re-creates
    node_order: str = "zone-interleaved"
    explicit_order: tuple[str, ...] = field(default_factory=tuple)
    policy: str | None = None             # None: hold-until-finalize, or per-node on Canal (see default_policy)
    namespace: str = DEFAULT_NAMESPACE
    cleanup_image: str | None = None      # None: Flannel's own image, already on every node
    mtu: int | None = None                # Calico's MTU when net-conf.json sets no Backend.MTU; None: 1450 assumed
    ipip_tunnel_cidr: str | None = None   # the IPIP targets' tunnel-address pool; None: plan/ipip.py's default
    # The pinned manifest's text, so the plan can show what the transform changes; not recorded itself.
    calico_manifest_text: str | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict:
        data = asdict(self)
        data.pop("calico_manifest_text")
        data["explicit_order"] = list(self.explicit_order)
        return {_camel(k): v for k, v in data.items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def validate(options: PlanOptions) -> None:
    """Raise PlanOptionError for a value that no snapshot could plan with."""
    for name, value, allowed in (("--encapsulation", options.encapsulation, ENCAPSULATIONS),
                                 ("--ipam", options.ipam, IPAMS), ("--node-order", options.node_order, NODE_ORDERS),
                                 ("--policy", options.policy or POLICY_MODES[0], POLICY_MODES)):
        if value not in allowed:
            raise PlanOptionError(f"{name} {value!r} is not one of {', '.join(allowed)}", "pick one of those")
    if not re.fullmatch(r"v\d+\.\d+\.\d+", options.calico_version):
        raise PlanOptionError(f"--calico-version {options.calico_version!r} is not a release tag",
                              "give one like v3.32.1")
    if options.canaries < 0:
        raise PlanOptionError("--canaries must be 0 or more", "give a count such as 1")
    if options.drain_timeout <= 0:
        raise PlanOptionError("--drain-timeout must be positive", "give seconds, e.g. 600")
    if options.grace_period is not None and options.grace_period < 0:
        raise PlanOptionError("--grace-period must be 0 or more", "omit it to use each pod's own grace period")
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", options.namespace):
        raise PlanOptionError(f"--namespace {options.namespace!r} is not a valid namespace name",
                              "use lower-case letters, digits and '-'")
    max_unavailable_count(options.max_unavailable, 1)
    if options.mtu is not None and not MTU_RANGE[0] <= options.mtu <= MTU_RANGE[1]:
        raise PlanOptionError(f"--mtu {options.mtu} is out of range", "give Flannel's FLANNEL_MTU, e.g. 1450")


MTU_RANGE = (576, 9000)     # what calico_manifest.py accepts as a VXLAN MTU
ASSUMED_MTU = 1450          # a 1500-byte network less VXLAN's 50


def plan_mtu(net_conf: dict, mtu: int | None) -> tuple[int, str]:
    """Calico's VXLAN and veth MTU during the migration, and where it comes from. Flannel's Backend.MTU is the
    underlay's, and flanneld takes VXLAN's 50 bytes off it for flannel.<VNI> and FLANNEL_MTU (flannel v0.28.9
    pkg/backend/vxlan/device.go, vxlan_network.go MTU()); unset, each node derives it from its own NIC, which no
    API object shows: then --mtu, else a 1500-byte network is assumed. prepare/flannel-mtu checks it on every
    node before Calico is installed."""
    backend_mtu = (net_conf.get("backend") or {}).get("mtu")
    if backend_mtu:
        derived = int(backend_mtu) - 50
        if mtu is not None and mtu != derived:
            raise PlanOptionError(f"--mtu {mtu} disagrees with Flannel's Backend.MTU {backend_mtu}, which gives "
                                  f"FLANNEL_MTU {derived} on every node",
                                  "drop --mtu: the plan takes Flannel's")
        return derived, f"Flannel's Backend.MTU {backend_mtu} less VXLAN's 50"
    if mtu is not None:
        return mtu, "--mtu"
    return ASSUMED_MTU, "assumed for a 1500-byte network: net-conf.json sets no Backend.MTU"


def default_policy(content: dict) -> str:
    """Flannel enforces no NetworkPolicy, so the hold keeps today's behaviour until finalize; Canal's Felix
    enforces them today, so there the hold would switch them off: policies stay on, node by node."""
    return "per-node" if (content.get("flannel") or {}).get("flavor") == "canal" else "hold-until-finalize"


def max_unavailable_count(value: str, node_count: int) -> int:
    """Nodes handed off at once: `3` or `10%` of all nodes (rounded down, at least one)."""
    text = str(value).strip()
    match = re.fullmatch(r"(\d+)(%?)", text)
    if not match or int(match.group(1)) == 0 or (match.group(2) and int(match.group(1)) > 100):
        raise PlanOptionError(f"--max-unavailable {value!r} is not a positive count or a percent up to 100%",
                              "give e.g. 2 or 10%")
    number = int(match.group(1))
    return max(1, math.floor(node_count * number / 100)) if match.group(2) else number


def per_zone_limit(zone_size: int) -> int:
    """How many nodes of one zone may be out at once: one while the zone is small, then a tenth."""
    return 1 if zone_size < FEW_NODES_PER_ZONE else zone_size // FEW_NODES_PER_ZONE


def block_size_for(content: dict) -> int:
    """The IPAM block prefix: an existing pool's over Flannel's Network, else the longest per-node mask
    (a block may never be larger than any node's podCIDR, or it would take in a neighbour's pods)."""
    network = ((content.get("flannel") or {}).get("netConf") or {}).get("network")
    if network:
        wanted = ipaddress.ip_network(network, strict=False)
        for pool in (content.get("calico") or {}).get("ipPools") or []:
            if pool.get("cidr") and ipaddress.ip_network(pool["cidr"], strict=False) == wanted and pool.get("blockSize"):
                return int(pool["blockSize"])
    masks = [c["prefixLength"] for n in content.get("nodes") or [] for c in n.get("podCIDRs") or []
             if ":" not in c["cidr"]]
    if masks:
        return max(masks)
    return int(((content.get("flannel") or {}).get("netConf") or {}).get("subnetLen") or 24)
