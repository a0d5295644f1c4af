"""build_plan: a pure function from a snapshot and options to a sealed Plan. No API calls, no I/O."""
from __future__ import annotations

import ipaddress
from dataclasses import replace

from ..calico_manifest import CalicoSettings, manifest_objects, transform_manifest
from ..analysis import BLOCKER, WARNING, Finding, analyse, has_blocker
from ..analysis import release, typha
from ..analysis.finding import names
from ..errors import EXIT_BLOCKED, UserError
from . import steps as build
from .model import Plan, PlanStep, sealed
from .options import (PlanOptions, block_size_for, calico_manifest_url, default_policy, max_unavailable_count,
                      validate)
from .ipip import encapsulation_findings
from .order import ReplicaBudgets, plan_waves, replica_budgets, zone_limits


class PlanBlocked(UserError):
    """Preflight (or the options chosen) leave a blocker: no plan is written."""
    exit_code = EXIT_BLOCKED

    def __init__(self, findings: list[Finding]):
        blockers = [f for f in findings if f.severity == BLOCKER]
        super().__init__(f"cannot plan: {len(blockers)} blocker(s): {', '.join(f.code for f in blockers)}",
                         "fix them (see each one's fix above, or `migrate preflight`) and plan again")
        self.findings = findings


def build_plan(snapshot, options: PlanOptions = PlanOptions()) -> Plan:
    validate(options)
    content = snapshot.content
    block_size = block_size_for(content)
    budgets = replica_budgets(content.get("pods") or {}, content.get("podDisruptionBudgets") or [])
    findings = analyse(content, block_size=block_size) + option_findings(content, options) + \
        manifest_findings(content, options)
    if not options.explicit_order:
        findings += unprotected_findings(budgets)
    findings.sort(key=lambda f: (f.severity != BLOCKER, f.severity != WARNING))
    if has_blocker(findings):
        raise PlanBlocked(findings)
    nodes = content["nodes"]
    resolved = resolve_options(content, options, block_size)
    blocks = node_blocks(nodes, block_size) if options.ipam == "calico-ipam" else {}
    waves = plan_waves(nodes, content.get("pods") or {}, max_unavailable=resolved["maxUnavailableNodes"],
                       canaries=options.canaries, node_order=options.node_order,
                       explicit_order=options.explicit_order, budgets=budgets)
    by_name = {n["name"]: n for n in nodes}
    steps: list[PlanStep] = build.gate_steps(content) + build.prepare_steps(content, resolved, blocks)
    migrated = 0
    for wave in waves:
        for name in wave.nodes:
            steps += build.node_steps(by_name[name], wave.index, resolved, content)
        migrated += len(wave.nodes)
        steps.append(build.health_gate(wave.index, wave.name, migrated, len(nodes)))
    steps.append(build.joined_nodes_step(content, resolved))
    if options.calico_manifest_text is not None:
        steps = [with_transform(s, options.calico_manifest_text, resolved) if s.kind == "calico-manifest" else s
                 for s in steps]
    held = any(s.kind == "policy-hold" for s in steps)
    steps += build.finalize_steps(content, resolved, held) + build.post_verify_steps(content)
    plan = Plan(cluster_id=snapshot.cluster_id, snapshot_digest=snapshot.digest,
                snapshot_captured_at=snapshot.captured_at, options=resolved,
                findings=tuple(f.as_dict() for f in findings), waves=tuple(waves), steps=tuple(steps))
    return sealed(plan)


def unprotected_findings(budgets: ReplicaBudgets) -> list[Finding]:
    """The replicated workloads with a single ready replica: its node's drain takes it down, whatever the order."""
    if not budgets.unprotected:
        return []
    described = [f"{namespace} {workload} ({why})" for (namespace, workload), why in sorted(budgets.unprotected.items())]
    return [Finding(WARNING, "WORKLOAD_DOWN_DURING_WAVE",
                    f"these workloads have one ready replica, so they are down from their node's drain until "
                    f"the replacement is ready elsewhere: {names(described)}",
                    "scale them to two or more replicas before migrating (the waves then keep one up), or accept "
                    "the short outage")]


def with_transform(step: PlanStep, text: str, resolved: dict) -> PlanStep:
    """The manifest step with the transform's changes and diff, so a reviewer sees exactly what is altered."""
    p = step.params
    settings = CalicoSettings(node_label=next(iter(p["nodeSelector"])), node_label_value=next(iter(
        p["nodeSelector"].values())), vxlan_mtu=p["vxlanMTU"], pool_cidr=p["poolCIDR"], block_size=resolved["blockSize"],
        ipam=p["ipam"], typha_replicas=p.get("typhaReplicas"))
    transformed = transform_manifest(text, settings)
    return replace(step, params={**p, "transform": {"changes": transformed.changes, "diff": transformed.diff}})


def resolve_options(content: dict, options: PlanOptions, block_size: int) -> dict:
    """The options as the plan records them: defaults filled in and what they come to for this cluster."""
    resolved = options.as_dict()
    limits = zone_limits([n for n in content["nodes"] if not n.get("roles")])
    resolved.update(
        maxUnavailableNodes=max_unavailable_count(options.max_unavailable, len(content["nodes"])),
        zoneLimits={zone or "(no zone)": limit for zone, limit in sorted(limits.items())},
        blockSize=block_size,
        policy=options.policy or default_policy(content),
        cleanupImage=options.cleanup_image or content["flannel"].get("image"),
        calicoManifest=options.calico_manifest or {
            "source": calico_manifest_url(options.calico_version, len(content["nodes"])), "sha256": None})
    return resolved


def node_blocks(nodes: list[dict], block_size: int) -> dict[str, list[str]]:
    """Each node's IPAM blocks: its podCIDR cut at the pool's block size, so it keeps its exact range."""
    return {n["name"]: [str(b) for b in ipaddress.ip_network(build.node_cidr(n)).subnets(new_prefix=block_size)]
            for n in nodes}


# flannel images/Dockerfile installs nftables from v0.25.0 (`apk add ... nftables iptables ...`); v0.24.4 does not
FLANNEL_NFT_SINCE = (0, 25, 0)


def flannel_image_has_nft(image: str) -> bool:
    """Whether a Flannel image (any registry or mirror: .../flannel:vX.Y.Z, rancher/mirrored-flannel*-flannel:vX.Y.Z)
    ships nft: a release of v0.25.0 or later. An untagged or unknown image does not count."""
    path = image.split("@", 1)[0]
    last = path.rsplit("/", 1)[-1]
    name, _, tag = last.partition(":")
    if not (name == "flannel" or (name.startswith("mirrored-") and name.endswith("-flannel"))):
        return False
    parts = tag.lstrip("v").split("-", 1)[0].split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return False
    return tuple(int(p) for p in parts) >= FLANNEL_NFT_SINCE


def option_findings(content: dict, options: PlanOptions) -> list[Finding]:
    """What the chosen drain, hand-off, policy and encapsulation options run into on this cluster (preflight,
    given the same flags, reports the same)."""
    findings = []
    pods = content.get("pods") or {}
    unmanaged = [f"{node}: {p['namespace']}/{p['name']}" for node, ps in pods.items() for p in ps
                 if p["kind"] == "unmanaged"]
    scratch = [f"{node}: {p['namespace']}/{p['name']}" for node, ps in pods.items() for p in ps
               if p.get("emptyDir") and p["kind"] not in ("daemonset", "mirror")]
    if unmanaged and not options.force:
        findings.append(Finding(BLOCKER, "DRAIN_NEEDS_FORCE",
                                f"the drain would refuse: pods no controller re-creates: {names(unmanaged)}",
                                "move them under a controller, delete them, or plan with --force to delete them "
                                "during the drain"))
    if scratch and not options.delete_emptydir_data:
        findings.append(Finding(BLOCKER, "DRAIN_NEEDS_DELETE_EMPTYDIR_DATA",
                                f"the drain would refuse: pods with emptyDir data: {names(scratch)}",
                                "plan with --delete-emptydir-data to accept losing that data, or move it to "
                                "persistent volumes first"))
    flannel = content.get("flannel") or {}
    if ((flannel.get("netConf") or {}).get("enableNFTables") and not options.cleanup_image
            and not flannel_image_has_nft(flannel.get("image") or "")):
        findings.append(Finding(BLOCKER, "CLEANUP_IMAGE_NEEDS_NFT",
                                f"Flannel runs in nftables mode, and its image {flannel.get('image')} (the hand-off "
                                "pod's default) is not a Flannel release of v0.25.0 or later, the first to ship the "
                                "nft binary that removes Flannel's tables",
                                "plan with --cleanup-image IMAGE, an image you trust that has nft and ip (Flannel's "
                                "own image from v0.25.0 does)"))
    if flannel.get("flavor") == "canal" and options.policy == "hold-until-finalize":
        findings.append(Finding(BLOCKER, "POLICY_HOLD_ON_CANAL",
                                "--policy hold-until-finalize would switch off, until finalize, the NetworkPolicies "
                                "Canal's Felix enforces today: a security regression on every node",
                                "plan with --policy per-node (the default on Canal): Calico keeps enforcing them on "
                                "each node before, during and after its hand-off"))
    if options.encapsulation == "none":
        findings.append(Finding(BLOCKER, "ENCAPSULATION_NEEDS_BGP",
                                "--encapsulation none needs BGP (BIRD) to spread routes between nodes and the VPC "
                                "to route every node's pod CIDR, and the migration runs Calico without BGP",
                                "choose ipip-crosssubnet, ipip, vxlan, vxlan-crosssubnet or keep; move to "
                                "unencapsulated routing later as its own change"))
    findings += encapsulation_findings(content, options)
    if options.encapsulation in ("vxlan", "vxlan-crosssubnet"):
        # The drop window was measured in the simulator, where each Felix restarts for the change on its own within
        # 3 s of the others (migrate/sim/felix_config.py; tests/test_apply_finalize.py shows the drop).
        findings.append(Finding(WARNING, "ENCAPSULATION_SWITCH_GAP",
                                "finalize re-keys every node from Flannel's VXLAN (its VNI and port) to Calico's (VNI "
                                "4096, UDP 4789), and each node's Felix restarts for it on its own: until the last "
                                "has, nodes on the old and the new settings drop each other's pod traffic. Measured in "
                                "the simulator (jdcloud-prod, 20 nodes, Felixes acting within 3 s of each other): "
                                "about 2.5 s in which a third of cross-node flows failed; on a real cluster the window "
                                "is as long as the spread of its Felix restarts",
                                "plan with --encapsulation keep (the default) to stay on Flannel-compatible VXLAN, "
                                "which drops nothing; if you need Calico's VNI and port, open UDP 4789 between all "
                                "nodes and run finalize in a quiet period"))
    return findings


def manifest_findings(content: dict, options: PlanOptions) -> list[Finding]:
    """What the chosen Calico release and manifest run into on this cluster (preflight checks the same)."""
    findings = []
    objects = manifest_objects(options.calico_manifest_text) if options.calico_manifest_text else None
    findings += release.check(content, options.calico_version, objects)
    findings += typha.check(content, options.calico_version, objects)
    source = (options.calico_manifest or {}).get("source", "")
    if source.startswith("http://"):
        findings.append(Finding(WARNING, "CALICO_MANIFEST_OVER_HTTP",
                                f"the Calico manifest is fetched over plain HTTP ({source}); the sha256 pins what "
                                "was fetched now, and apply refuses anything else", "prefer the https:// address"))
    if not options.calico_manifest:
        findings.append(Finding(WARNING, "CALICO_MANIFEST_NOT_PINNED",
                                f"Calico {options.calico_version}'s manifest is not pinned: the plan names "
                                f"{calico_manifest_url(options.calico_version, len(content['nodes']))} but no "
                                "checksum",
                                "download it and plan with --calico-manifest FILE (or --fetch-calico), so the plan "
                                "records its sha256 and a reviewer approves exactly that file; apply refuses an "
                                "unpinned manifest"))
    return findings
