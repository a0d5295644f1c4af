"""Step builders: one function per phase, each returning PlanSteps with their words and parameters.

Pure functions of the snapshot's plain data and resolved options. The words are what a reviewer
approves; the parameters are what the executor uses. Both come from the same values here, so they
cannot disagree.
"""
from __future__ import annotations

import ipaddress
import json
from dataclasses import replace

from ..analysis.typha import typha_replicas
from .model import FINALIZE, GATES, POST_VERIFY, PREPARE, WAVES, PlanStep
from .ipip import IPIP_TARGETS, finalize_ipip_steps
from .options import plan_mtu

MIGRATION_LABEL = "projectcalico.org/node-network-during-migration"
POLICY_HOLD = "migration-allow-all"
POOL_NAME = "flannel-network"
BACKUP_CONFIGMAP = "flannel-backup"
CALICO_CNI_CONFIG = "/etc/cni/net.d/10-calico.conflist"
ROLLBACK_RUNBOOK = "runbooks/rollback-by-hand.md"
# ClusterRoles calico.yaml (Calico v3.32.1) defines too; canal.yaml binds calico-node to its canal ServiceAccount
# (ClusterRoleBinding canal-calico), so retiring Canal's objects must leave the role to calico.yaml's calico-node.
CALICO_CLUSTER_ROLES = ("calico-node", "calico-kube-controllers", "calico-cni-plugin", "calico-tier-getter")
CALICO_VXLAN = {"vni": 4096, "port": 4789}  # Calico's own VXLAN defaults, used after finalize
ENCAPSULATION_MODES = {  # target -> (vxlanMode, ipipMode)
    "vxlan": ("Always", "Never"), "vxlan-crosssubnet": ("CrossSubnet", "Never"),
    "ipip": ("Never", "Always"), "ipip-crosssubnet": ("Never", "CrossSubnet"), "none": ("Never", "Never")}


def gate_steps(content: dict) -> list[PlanStep]:
    flannel = content["flannel"]
    return [
        PlanStep("gate/preflight", "preflight", GATES, "Cluster",
                 changes="nothing: reads the cluster",
                 check="none: the gate runs again whenever a run starts or resumes",
                 undo="nothing to undo", params={"failOn": "blocker"}),
        PlanStep("gate/drift", "drift-check", GATES, "Cluster",
                 changes="nothing: compares the live cluster with the snapshot this plan was built from",
                 check="none: runs again whenever a run starts or resumes",
                 undo="nothing to undo",
                 params={"compare": ["nodes", "podCIDRs", "flannel DaemonSet", f"ConfigMap {flannel['configMap']}"]}),
        PlanStep("gate/permissions", "permissions", GATES, "Cluster",
                 changes="nothing: asks the API server (SelfSubjectAccessReview) whether every write below is allowed",
                 check="none: runs again whenever a run starts or resumes", undo="nothing to undo"),
    ]


def prepare_steps(content: dict, options: dict, blocks: dict[str, list[str]]) -> list[PlanStep]:
    flannel, net_conf = content["flannel"], content["flannel"]["netConf"]
    backend, ns = net_conf["backend"], options["namespace"]
    flannel_ds = f"DaemonSet/{flannel['namespace']}/{flannel['daemonSet']}"
    backed_up = flannel_objects(flannel)
    mtu, mtu_source = plan_mtu(net_conf, options.get("mtu"))
    adopted = adopted_pool(content)
    pool = adopted["name"] if adopted else POOL_NAME
    steps = [
        PlanStep("prepare/namespace", "namespace", PREPARE, f"Namespace/{ns}",
                 changes=f"creates namespace {ns} for the journal mirror, backups and hand-off pods, labelled "
                         "pod-security.kubernetes.io/enforce=privileged (the hand-off pods are privileged)",
                 check=f"namespace {ns} exists with that label and admits a hand-off pod (server dry run)",
                 undo=f"deletes namespace {ns} if this run created it, else puts its labels back"),
        # No API object carries the MTU flanneld derived from a node's NIC, so it is read on the nodes, before
        # Calico (the manifest, FelixConfiguration) or any node is touched.
        PlanStep("prepare/flannel-mtu", "flannel-mtu", PREPARE, "Nodes",
                 changes=f"nothing: a read-only pod per node in {ns} (hostNetwork, the host's /run mounted "
                         "read-only, deleted once read) reads FLANNEL_MTU from /run/flannel/subnet.env (else "
                         f"flannel.{backend['vni']}'s MTU, the same value) and the MTU of the NIC holding Flannel's "
                         "public-ip, and journals them. It stops the run, before Calico is "
                         f"installed, if any node's FLANNEL_MTU is below the plan's {mtu} ({mtu_source}) or its NIC "
                         f"cannot carry {mtu} plus VXLAN's 50 bytes: Calico's VXLAN would black-hole full-sized "
                         f"packets there. Nodes with a larger MTU are fine (Calico runs {mtu} everywhere) and are "
                         "named in the result",
                 check="none: reads the nodes whenever a run reaches it",
                 undo="nothing to undo: it changes nothing (its pods are deleted once read)",
                 params={"mtu": mtu, "source": mtu_source, "vni": backend["vni"],
                         "image": options["cleanupImage"] or flannel.get("image")}),
        PlanStep("prepare/backup", "backup", PREPARE, f"ConfigMap/{ns}/{BACKUP_CONFIGMAP}",
                 changes=f"copies {len(backed_up)} Flannel objects, unchanged, into ConfigMap {ns}/{BACKUP_CONFIGMAP} "
                         "and the journal",
                 check="the backup ConfigMap holds every object with the resourceVersion it was read at",
                 undo="deletes the backup ConfigMap (the objects themselves are untouched here)",
                 params={"objects": backed_up}),
        # calico-kube-controllers (started by the manifest below) releases a node's empty IPAM blocks after its
        # grace period unless the node's label has a value other than calico (Calico v3.32.1
        # kube-controllers/pkg/controllers/node/ipam.go nodeIsBeingMigrated); Calico's own migration controller
        # labels every node it has not migrated yet `flannel` (flannelmigration/migration_controller.go).
        PlanStep("prepare/flannel/label-unmigrated", "label-unmigrated-nodes", PREPARE, "Nodes",
                 changes=f"labels the {len(content['nodes'])} nodes not yet migrated {MIGRATION_LABEL}=flannel "
                         "before Calico starts, so calico-kube-controllers' IPAM garbage collection keeps their "
                         "empty blocks; Flannel keeps running there (its affinity, below, asks for flannel)",
                 check="every node carries the label (flannel, or none/calico once handed off)",
                 undo="removes the label from the nodes this step labelled",
                 params={"label": MIGRATION_LABEL, "value": "flannel",
                         "nodes": [n["name"] for n in content["nodes"]]}),
        PlanStep("prepare/calico/manifest", "calico-manifest", PREPARE,
                 f"Calico {options['calicoVersion']} manifest",
                 changes="applies Calico's manifest transformed for the migration: calico-node only on nodes labelled "
                         f"{MIGRATION_LABEL}=calico (none yet, so it stays dormant), VXLAN backend, MTU {mtu}, "
                         f"no default pool, IPAM {options['ipam']}; calico-typha, when the manifest has it, with "
                         f"{typha_replicas(len(content['nodes']))} replicas on any node",
                 check="every object of the transformed manifest exists with the content applied",
                 undo="deletes every object the apply created and restores any it replaced",
                 params={"version": options["calicoVersion"], "manifest": options["calicoManifest"],
                         "nodeSelector": {MIGRATION_LABEL: "calico"}, "backend": "vxlan", "vxlanMTU": mtu,
                         "defaultPool": False, "poolCIDR": net_conf["network"], "ipam": options["ipam"],
                         "typhaReplicas": typha_replicas(len(content["nodes"]))}),
        PlanStep("prepare/calico/felix-configuration", "felix-configuration", PREPARE, "FelixConfiguration/default",
                 changes=f"sets vxlanVNI {backend['vni']}, vxlanPort {backend['port']}, vxlanMTU {mtu} so Calico's "
                         "VXLAN speaks Flannel's",
                 check="FelixConfiguration default has those three values",
                 undo="restores the previous FelixConfiguration default, or deletes it if there was none",
                 params={"vxlanVNI": backend["vni"], "vxlanPort": backend["port"], "vxlanMTU": mtu}),
        PlanStep("prepare/calico/ippool", "ippool", PREPARE, f"IPPool/{pool}",
                 changes=(f"brings IPPool {pool} {net_conf['network']}, which "
                          f"{'Canal' if flannel.get('flavor') == 'canal' else 'someone'} created before the migration "
                          f"(vxlanMode {adopted.get('vxlanMode')}, ipipMode {adopted.get('ipipMode')}), to "
                          if adopted else f"creates IPPool {pool} {net_conf['network']} (")
                         + f"blockSize {options['blockSize']}, vxlanMode Always, ipipMode Never, natOutgoing "
                           f"{str(nat_outgoing(flannel)).lower()}" + (" instead of adding a second pool of that CIDR"
                                                                       if adopted else ")"),
                 check=f"IPPool {pool} exists with that spec",
                 undo=f"puts IPPool {pool}'s previous spec back" if adopted else f"deletes IPPool {pool}",
                 params={"name": pool, "cidr": net_conf["network"], "blockSize": options["blockSize"],
                         "vxlanMode": "Always", "ipipMode": "Never", "natOutgoing": nat_outgoing(flannel),
                         "nodeSelector": "all()"}),
    ]
    if options["ipam"] == "calico-ipam":
        steps.append(PlanStep(
            "prepare/calico/ipam-config", "ipam-config", PREPARE, "IPAMConfig/default",
            changes="sets strictAffinity true and maxBlocksPerHost to each node's block count, so no node borrows "
                    "addresses from another node's podCIDR or claims blocks outside its own",
            check="IPAMConfig default has those values",
            undo="restores the previous IPAMConfig default, or deletes it if there was none",
            params={"strictAffinity": True, "maxBlocksPerHost": max((len(b) for b in blocks.values()), default=1)}))
    if options["policy"] == "hold-until-finalize":  # also covers NetworkPolicies created mid-migration
        steps.append(PlanStep(
            "prepare/policy-hold", "policy-hold", PREPARE, f"GlobalNetworkPolicy/{POLICY_HOLD}",
            changes=f"creates GlobalNetworkPolicy {POLICY_HOLD} (order 0, allow all ingress and egress) so the "
                    f"{len(content.get('networkPolicies') or [])} NetworkPolicies Flannel ignores today, and any "
                    "created during the migration, stay unenforced until finalize",
            check=f"GlobalNetworkPolicy {POLICY_HOLD} exists with that spec",
            undo=f"deletes GlobalNetworkPolicy {POLICY_HOLD}",
            params={"name": POLICY_HOLD, "order": 0, "selector": "all()", "types": ["Ingress", "Egress"],
                    "action": "Allow"}))
    steps += [_node_identity(node, options, blocks) for node in content["nodes"]]
    steps.append(PlanStep(
        "prepare/flannel/keep-off-migrated", "flannel-node-affinity", PREPARE, flannel_ds,
        changes=f"adds a required node affinity {MIGRATION_LABEL} In [flannel] to the Flannel DaemonSet, so "
                "Flannel leaves each node as it is handed off, and a node that joins runs no Flannel until the run "
                "has claimed its blocks and VTEP and labelled it (it stays NotReady meanwhile: no pod can start "
                "there unreachable from migrated nodes), as Calico's own controller does "
                "(flannelmigration/migration_controller.go AddNodeSelector); this rolls every Flannel pod once, "
                "which leaves the data plane in the kernel untouched",
        check="the DaemonSet's pod template has that match expression",
        undo="removes that match expression (the rest of the affinity is restored from the backup)",
        params={"label": MIGRATION_LABEL, "in": ["flannel"]}))
    return steps


def _node_identity(node: dict, options: dict, blocks: dict[str, list[str]]) -> PlanStep:
    name, cidr = node["name"], node_cidr(node)
    tunnel = {"tunnelAddress": str(ipaddress.ip_network(cidr).network_address), "vtepMAC": node["flannel"]["vtepMAC"],
              "hostAddress": f"{host_address(node)}/32"}
    if options["ipam"] == "calico-ipam":
        return PlanStep(
            f"prepare/ipam/{name}", "claim-node-ipam", PREPARE, f"Node/{name}", node=name,
            changes=f"claims {len(blocks[name])} IPAM block(s) of {cidr} for {name} and gives its Calico VXLAN tunnel "
                    f"Flannel's VTEP: {tunnel['tunnelAddress']}, MAC {tunnel['vtepMAC']}, host {tunnel['hostAddress']} "
                    "(so migrated nodes route to it before calico-node runs there)",
            check="a BlockAffinity and IPAMBlock per block exist for the node, the tunnel address is allocated to it "
                  "and the node carries both tunnel annotations",
            undo="releases the blocks and the tunnel address and removes the annotations",
            params={"podCIDR": cidr, "blocks": blocks[name], **tunnel})
    return PlanStep(
        f"prepare/tunnel/{name}", "set-node-tunnel", PREPARE, f"Node/{name}", node=name,
        changes=f"gives {name}'s Calico VXLAN tunnel Flannel's VTEP: {tunnel['tunnelAddress']}, "
                f"MAC {tunnel['vtepMAC']}, host {tunnel['hostAddress']} (host-local IPAM keeps using {cidr})",
        check="the node carries the tunnel and host address annotations with those values",
        undo="removes the annotations", params={"podCIDR": cidr, **tunnel})


def node_steps(node: dict, wave: int, options: dict, content: dict) -> list[PlanStep]:
    """cordon → drain → Flannel off → host cleanup → delete leftover pods → Calico on → wait → verify → uncordon."""
    name, cidr = node["name"], node_cidr(node)
    flannel, vni = content["flannel"], content["flannel"]["netConf"]["backend"]["vni"]
    pods = content.get("pods", {}).get(name, [])
    evicted = [p for p in pods if p["kind"] not in ("daemonset", "mirror")]
    unmanaged = [f"{p['namespace']}/{p['name']}" for p in evicted if p["kind"] == "unmanaged"]
    scratch = [f"{p['namespace']}/{p['name']}" for p in evicted if p.get("emptyDir")]
    was_cordoned = bool(node.get("unschedulable"))
    target, step = f"Node/{name}", f"node/{name}"

    def at(suffix, kind, **fields):
        return PlanStep(f"{step}/{suffix}", kind, WAVES, target, wave=wave, node=name, **fields)

    lossy = bool(unmanaged) or bool(scratch)
    steps = [
        at("cordon", "cordon",
           changes="nothing: the node was already cordoned before the migration" if was_cordoned else
                   f"marks {name} unschedulable",
           check="spec.unschedulable is true",
           undo="nothing: it stays cordoned as it was" if was_cordoned else f"uncordons {name}",
           params={"wasCordoned": was_cordoned}),
        at("drain", "drain",
           changes=f"evicts {len(evicted)} pod(s) through the eviction API, honouring PodDisruptionBudgets; "
                   f"DaemonSet and mirror pods stay" + (f"; deletes unmanaged {', '.join(unmanaged)} for good"
                                                         if unmanaged else "")
                   + (f"; loses the emptyDir data of {', '.join(scratch)}" if scratch else ""),
           check="no pod other than DaemonSet, mirror and finished pods is left on the node",
           undo="nothing to restore: controllers re-create evicted pods elsewhere"
                + ("; unmanaged pods and emptyDir data are gone" if lossy else ""),
           reversible=not lossy, runbook=f"{ROLLBACK_RUNBOOK}#drain" if lossy else None,
           params={"timeoutSeconds": options["drainTimeout"], "gracePeriodSeconds": options["gracePeriod"],
                   "deleteEmptyDirData": options["deleteEmptydirData"], "force": options["force"],
                   "expectedEvictions": len(evicted), "unmanaged": unmanaged, "emptyDir": scratch}),
        at("flannel-off", "node-network-label",
           changes=f"labels {name} {MIGRATION_LABEL}=none; " + (
               "the canal DaemonSet (its flannel and its policy-only calico-node) no longer runs there"
               if flannel.get("flavor") == "canal" else
               "Flannel's DaemonSet no longer runs there"),
           check="the label is none and no Flannel pod runs on the node",
           undo=f"removes the label and waits for Flannel Ready on {name}" + (
               "; after a hand-off, then deletes the pods left there (only now can their sandboxes be torn down: "
               "Canal's CNI config comes back with its pod) and releases the address reservations no pod owns"
               if flannel.get("flavor") == "canal" else ""),
           params={"label": MIGRATION_LABEL, "value": "none", "waitFor": "flannel-gone"}),
        at("host-cleanup", "host-cleanup",
           changes=f"runs a privileged hostNetwork pod on {name} that writes Calico's placeholder CNI config "
                   f"and removes {'' if flannel.get('flavor') == 'canal' else 'cni0, '}flannel.{vni}, "
                   f"{cni_config(flannel).rsplit('/', 1)[1]}, /run/flannel/subnet.env and Flannel's iptables/nftables "
                   "rules",
           check=f"the hand-off pod on {name} has succeeded for this plan",
           undo="runs the mirror pods (calico/node's image): remove Calico's CNI config and vxlan.calico so Flannel "
                "can return, and the cali-* chains, their hooks and ipsets Felix left" + (
                    "" if flannel.get("flavor") == "canal" else
                    "; puts Flannel's CNI config back, deletes the pods left on the node (their sandboxes torn down "
                    "through it; none starts before flanneld writes subnet.env) and releases the address "
                    "reservations no pod owns"),
           params=host_cleanup_params(flannel, vni, options)),
        at("delete-pods", "delete-node-pods",
           changes=f"deletes the pods left on {name} that use the pod network (they hang off the removed bridge); "
                   "their DaemonSets re-create them on Calico",
           check="no non-hostNetwork pod created before the hand-off remains on the node",
           undo="nothing to restore: their controllers re-create them", params={"hostNetwork": False}),
        at("calico-on", "node-network-label",
           changes=f"labels {name} {MIGRATION_LABEL}=calico; calico-node starts there" + policy_note(content, name,
                                                                                                  options),
           check="the label is calico",
           undo="sets the label back to none after evicting the pods that started on Calico",
           params={"label": MIGRATION_LABEL, "value": "calico", "waitFor": None}),
        at("wait-calico", "wait-calico-node",
           changes="nothing: waits for calico-node Ready on the node and its vxlan.calico device",
           check="calico-node on the node is Ready and reports vxlan.calico", undo="nothing to undo",
           params={"timeoutSeconds": 300}),
        at("verify", "verify-node",
           changes="runs probe pods on the node: pod IP inside the node's original podCIDR, pod-to-pod with a "
                   "migrated and an unmigrated node, pod-to-service and DNS",
           check="none: verification always runs", undo="deletes its probe pods",
           params={"podCIDR": cidr, "checks": ["pod-ip-in-podcidr", "pod-to-pod", "pod-to-service", "dns"]}),
    ]
    if not was_cordoned:
        steps.append(at("uncordon", "uncordon", changes=f"marks {name} schedulable again",
                        check="spec.unschedulable is false", undo=f"cordons {name} again"))
    return steps


def policy_note(content: dict, node: str, options: dict) -> str:
    """Which NetworkPolicies start to apply on this node as it moves (Flannel enforced none)."""
    policies = content.get("networkPolicies") or []
    if not policies:
        return ""
    if options["policy"] == "hold-until-finalize":
        return f"; the {len(policies)} NetworkPolicies stay unenforced here ({POLICY_HOLD}) until finalize"
    if content["flannel"].get("flavor") == "canal":
        return "; calico-node enforces the NetworkPolicies here as Canal's calico-node did"
    here = {p["name"] for p in content.get("pods", {}).get(node, [])}
    hits = [f"{p['namespace']}/{p['name']} ({', '.join(sorted(here & set(p['selectedPods'])))})"
            for p in policies if here & set(p.get("selectedPods") or [])]
    return ("; from now on Calico enforces on this node's pods every NetworkPolicy that selects them"
            + (f", today: {'; '.join(hits)}" if hits else ", none of today's pods here is selected"))


def health_gate(wave: int, name: str, migrated: int, total: int) -> PlanStep:
    return PlanStep(f"wave/{wave}/health-gate", "health-gate", WAVES, "Cluster", wave=wave,
                    changes=f"nothing: after {name} ({migrated}/{total} nodes on Calico) waits until every node "
                            "is Ready, calico-node Ready on migrated nodes, Flannel Ready on the others, and no "
                            "scheduled pod is still Pending; pod-to-pod across old and new nodes (both directions) "
                            "is each node's verify step, run before this gate",
                    check="none: the gate runs before the next wave starts", undo="nothing to undo",
                    params={"migratedNodes": migrated, "totalNodes": total})


JOINED_NODES = "waves/joined-nodes"


def joined_nodes_step(content: dict, options: dict) -> PlanStep:
    """Nodes that join during the run (a cluster autoscaler, a node pool resized by hand) get Flannel, as any new
    node does until finalize. Migrated nodes reach a node's pods only once Calico knows its block and VTEP (Felix
    routes by IPAM blocks and drops VXLAN from hosts outside its VTEP set: felix/rules/static.go), so the executor
    claims those as soon as Flannel has annotated the node; and it must be handed off before finalize retires
    Flannel, which would take its pod network away. Calico's own controller does the same for new nodes
    (kube-controllers/pkg/controllers/flannelmigration/migration_controller.go processNewNode)."""
    flannel = content["flannel"]
    return PlanStep(
        JOINED_NODES, "joined-nodes", WAVES, "Nodes",
        changes="hands off the nodes that join during the run (none at planning). The executor looks for them "
                "every 10 s and before each wave: once Flannel runs on one it is labelled "
                f"{MIGRATION_LABEL}=flannel and given its IPAM blocks and Flannel's VTEP at once (so migrated nodes "
                "reach its pods), journaled; here the joined nodes are handed off like the planned ones, in waves "
                f"of at most {options['maxUnavailableNodes']}, each with its health gate, because finalize retires "
                "Flannel and would leave them without a pod network. A node that leaves the cluster mid-run has its "
                "remaining steps skipped",
        check="none: runs whenever a run reaches it, until no joined node is left on Flannel",
        undo="nothing here: each joined node's steps are undone with the others'",
        params={"maxUnavailableNodes": options["maxUnavailableNodes"],
                # what a joined node's hand-off steps are built from, as the planned nodes' were
                "flannel": flannel})


def joined_identity_steps(node: dict, options: dict, flannel: dict) -> list[PlanStep]:
    """A node that joined: Flannel's VTEP MAC stored on it (flanneld takes a stored MAC: flannel
    pkg/subnet/kube/kube.go GetStoredMacAddresses), its blocks and VTEP claimed as prepare claims every planned
    node's, and only then the label that lets Flannel run there, so its pods are reachable from their start."""
    name, vni = node["name"], flannel["netConf"]["backend"]["vni"]
    blocks = ({name: [str(b) for b in ipaddress.ip_network(node_cidr(node)).subnets(new_prefix=options["blockSize"])]}
              if options["ipam"] == "calico-ipam" else {})
    identity = _node_identity(node, options, blocks)
    mac = node["flannel"]["vtepMAC"]
    return [
        PlanStep(f"joined/{name}/vtep-mac", "flannel-vtep-mac", PREPARE, f"Node/{name}", node=name,
                 changes=f"stores VTEP MAC {mac} in {name}'s flannel.alpha.coreos.com/backend-data annotation, so "
                         f"Flannel's flannel.{vni} there takes it",
                 check="the annotation holds that MAC",
                 undo="nothing: Flannel, which runs there from then on, owns the annotation and keeps that MAC",
                 params={"vni": vni, "vtepMAC": mac}),
        replace(identity, id=f"joined/{name}/{identity.id.split('/')[1]}"),
        PlanStep(f"joined/{name}/label", "label-unmigrated-nodes", PREPARE, f"Node/{name}", node=name,
                 changes=f"labels {name}, which joined during the run, {MIGRATION_LABEL}=flannel: Flannel starts "
                         "there",
                 check="the node carries the label", undo="removes the label",
                 params={"label": MIGRATION_LABEL, "value": "flannel", "nodes": [name]}),
    ]


def finalize_steps(content: dict, options: dict, held_policy: bool) -> list[PlanStep]:
    flannel, ns = content["flannel"], options["namespace"]
    backend = content["flannel"]["netConf"]["backend"]
    objects = flannel_objects(flannel)
    steps = [
        PlanStep("finalize/retire-flannel", "retire-flannel", FINALIZE, f"DaemonSet/{flannel['namespace']}/"
                 f"{flannel['daemonSet']}",
                 changes=f"deletes {', '.join(o['kind'] + ' ' + o['name'] for o in objects)} (backed up in "
                         f"{ns}/{BACKUP_CONFIGMAP})",
                 check="none of those objects exists",
                 undo="re-creates each from the backup", params={"objects": objects}),
        PlanStep("finalize/calico-unselect", "calico-node-selector", FINALIZE, "DaemonSet/kube-system/calico-node",
                 changes=f"drops the {MIGRATION_LABEL} node selector from calico-node, so it runs on every node "
                         "including new ones",
                 check="calico-node's pod template has no migration node selector",
                 undo=f"puts the node selector {MIGRATION_LABEL}=calico back",
                 params={"label": MIGRATION_LABEL}),
        PlanStep("finalize/drop-labels", "remove-migration-labels", FINALIZE, "Nodes",
                 changes=f"removes the {MIGRATION_LABEL} label from all {len(content['nodes'])} nodes",
                 check="no node carries the label", undo=f"labels every node {MIGRATION_LABEL}=calico again",
                 params={"label": MIGRATION_LABEL}),
    ]
    target = options["encapsulation"]
    if target in IPIP_TARGETS:
        pool = (adopted_pool(content) or {}).get("name", POOL_NAME)
        steps += finalize_ipip_steps(content, options, pool, plan_mtu(content["flannel"]["netConf"],
                                                                       options.get("mtu"))[0])
        steps.append(PlanStep("finalize/encapsulation/verify", "verify-cluster", FINALIZE, "Cluster",
                              changes="nothing: probes pod-to-pod across every zone and subnet on IPIP (and natively "
                                      "inside a subnet with CrossSubnet)",
                              check="none: verification always runs", undo="deletes its probe pods",
                              params={"checks": ["pod-to-pod", "pod-to-service", "dns"]}))
    elif target != "keep":
        vxlan_mode, ipip_mode = ENCAPSULATION_MODES[target]
        to = {"vxlanMode": vxlan_mode, "ipipMode": ipip_mode}
        if vxlan_mode != "Never":
            to.update(vxlanVNI=CALICO_VXLAN["vni"], vxlanPort=CALICO_VXLAN["port"])
        pool = (adopted_pool(content) or {}).get("name", POOL_NAME)
        steps += [
            PlanStep("finalize/encapsulation", "switch-encapsulation", FINALIZE, f"IPPool/{pool}",
                     changes=f"switches from Flannel-compatible VXLAN (VNI {backend['vni']}, port {backend['port']}) "
                             f"to {target}: " + ", ".join(f"{k} {v}" for k, v in to.items()) + "; each node's Felix "
                             "restarts for it on its own, so the step then waits 30 s and for calico-node Ready on "
                             "every node (cross-node flows drop for a few seconds: ENCAPSULATION_SWITCH_GAP)",
                     check="the pool and FelixConfiguration have those values and every calico-node reports them",
                     undo="restores the pool's and FelixConfiguration's previous values",
                     params={"from": {"vxlanMode": "Always", "ipipMode": "Never", "vxlanVNI": backend["vni"],
                                      "vxlanPort": backend["port"]}, "to": to}),
            PlanStep("finalize/encapsulation/verify", "verify-cluster", FINALIZE, "Cluster",
                     changes="nothing: probes pod-to-pod across every zone and subnet on the new encapsulation",
                     check="none: verification always runs", undo="deletes its probe pods",
                     params={"checks": ["pod-to-pod", "pod-to-service", "dns"]})]
    if held_policy:
        steps.append(PlanStep(
            "finalize/policy-release", "policy-release", FINALIZE, f"GlobalNetworkPolicy/{POLICY_HOLD}",
            changes=f"deletes GlobalNetworkPolicy {POLICY_HOLD}: NetworkPolicies ({len(content.get('networkPolicies') or [])} "
                    "at the snapshot) are enforced from here on",
            check=f"GlobalNetworkPolicy {POLICY_HOLD} does not exist",
            undo=f"re-creates GlobalNetworkPolicy {POLICY_HOLD}",
            params={"name": POLICY_HOLD, "networkPolicies": [f"{p['namespace']}/{p['name']}"
                                                             for p in content.get("networkPolicies") or []]}))
    return steps


def post_verify_steps(content: dict) -> list[PlanStep]:
    return [PlanStep(
        "verify/cluster", "verify-cluster", POST_VERIFY, "Cluster",
        changes="nothing: every node runs calico-node Ready with no Flannel leftover (flannel.<VNI>, cni0, "
                f"{cni_config(content['flannel']).rsplit('/', 1)[1]}, subnet.env, iptables chains); every pod IP "
                "lies in its node's original podCIDR; pod-to-pod, pod-to-service and DNS work",
        check="none: verification always runs", undo="deletes its probe pods",
        params={"checks": ["calico-node-ready", "no-flannel-leftovers", "pod-ip-in-podcidr", "pod-to-pod",
                           "pod-to-service", "dns"],
                "podCIDRs": {n["name"]: node_cidr(n) for n in content["nodes"]}})]


# ---- values several phases share -------------------------------------------------------------

def adopted_pool(content: dict) -> dict | None:
    """An enabled IPPool whose CIDR is exactly Flannel's Network, from before the migration: Canal's calico-node
    creates one at start (default-ipv4-ippool, VXLAN and IPIP off). The migration brings it to its own spec rather
    than add a second pool of the same CIDR, whose VXLAN mode Felix could take from either; Calico's controller
    likewise replaces Canal's pool by a VXLAN one of the same name (Calico v3.32.1 kube-controllers/pkg/
    controllers/flannelmigration/ipam_migrator.go createDefaultVxlanIPPool)."""
    network = (content["flannel"].get("netConf") or {}).get("network")
    if not network:
        return None
    wanted = ipaddress.ip_network(network, strict=False)
    return next((p for p in (content.get("calico") or {}).get("ipPools") or [] if p.get("cidr") and not
                 p.get("disabled") and ipaddress.ip_network(p["cidr"], strict=False) == wanted), None)


def cni_config(flannel: dict) -> str:
    """The CNI config file Flannel's side installed: Canal's install-cni writes 10-canal.conflist (canal.yaml
    CNI_CONF_NAME), Flannel's install-cni 10-flannel.conflist."""
    return "/etc/cni/net.d/10-canal.conflist" if flannel.get("flavor") == "canal" else \
        "/etc/cni/net.d/10-flannel.conflist"


def node_cidr(node: dict) -> str:
    return next(c["cidr"] for c in node["podCIDRs"] if ":" not in c["cidr"])


def host_address(node: dict) -> str:
    """The address Flannel's VXLAN traffic to this node goes to: its public-ip, else its InternalIP."""
    return node["flannel"].get("publicIP") or next(a["address"] for a in node["addresses"] if a["type"] == "InternalIP")


def nat_outgoing(flannel: dict) -> bool:
    return "--ip-masq" in (flannel.get("args") or []) + (flannel.get("command") or [])


def flannel_objects(flannel: dict) -> list[dict]:
    """The Flannel objects the run backs up, changes or retires, in the order they are restored."""
    ns = flannel["namespace"]
    # Flannel's own namespace (manifest installs since v0.19) goes too; kube-system of course does not.
    objects = [{"kind": "Namespace", "name": ns}] if ns == "kube-flannel" else []
    objects += [{"kind": "ServiceAccount", "namespace": ns, "name": flannel.get("serviceAccount") or "flannel"}]
    objects += [{"kind": "ClusterRole", "name": n} for n in flannel.get("clusterRoles") or []
                if n not in CALICO_CLUSTER_ROLES]
    objects += [{"kind": "ClusterRoleBinding", "name": n} for n in flannel.get("clusterRoleBindings") or []]
    if flannel.get("configMap"):
        objects.append({"kind": "ConfigMap", "namespace": ns, "name": flannel["configMap"]})
    objects.append({"kind": "DaemonSet", "namespace": ns, "name": flannel["daemonSet"]})
    return objects


def host_cleanup_params(flannel: dict, vni: int, options: dict) -> dict:
    """The hand-off pod: image and script are shown in the plan, so a reviewer sees every command it runs."""
    placeholder = json.dumps({"cniVersion": "0.3.1", "name": "k8s-pod-network",
                              "plugins": [{"type": "calico-migration-in-progress"}]}, separators=(",", ":"))
    nft = (flannel.get("netConf") or {}).get("enableNFTables")
    script = [
        f"printf '%s\\n' '{placeholder}' > {CALICO_CNI_CONFIG}",
        f"rm -f {cni_config(flannel)} /run/flannel/subnet.env",
        # Canal's pods hang off cali* veths, not a bridge (Calico v3.32.1 flannelmigration/network_migrator.go
        # removeFlannelNetworkAndInstallDummyCalicoCNI deletes only the tunnel device for Canal)
        *([] if flannel.get("flavor") == "canal" else ["ip link delete cni0 || true"]),
        f"ip link delete flannel.{vni} || true",
    ]
    if nft:  # flannel's nftables mode keeps its rules in these two tables
        script += ["nft delete table ip flannel-ipv4 || true", "nft delete table ip6 flannel-ipv6 || true"]
    else:
        script += ["iptables -t nat -F FLANNEL-POSTRTG || true", "iptables -t nat -D POSTROUTING -m comment "
                   "--comment 'flanneld masq' -j FLANNEL-POSTRTG || true", "iptables -t nat -X FLANNEL-POSTRTG || true",
                   "iptables -t filter -F FLANNEL-FWD || true", "iptables -t filter -D FORWARD -m comment "
                   "--comment 'flanneld forward' -j FLANNEL-FWD || true", "iptables -t filter -X FLANNEL-FWD || true"]
    return {"image": options["cleanupImage"] or flannel.get("image"), "hostNetwork": True, "privileged": True,
            "hostPaths": ["/etc/cni/net.d", "/run/flannel"], "script": script}
