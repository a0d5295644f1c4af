"""The cloud checklist: what security groups and MTU must allow before, during and after."""
from __future__ import annotations

from .addressing import node_subnets
from .finding import INFO, WARNING, Finding, names

VXLAN_OVERHEAD, IPIP_OVERHEAD = 50, 20  # bytes of outer headers per encapsulated packet


def check(content: dict, **_) -> list[Finding]:
    flannel = content.get("flannel") or {}
    if not flannel.get("found"):
        return []
    backend = (flannel.get("netConf") or {}).get("backend") or {}
    port = backend.get("port") or 8472
    now = (f"UDP {port} (Flannel VXLAN, also used by migrated nodes during the migration) now" if
           backend.get("type") == "vxlan" else f"UDP {port} during the migration (Flannel VXLAN's port)")
    shared = sorted(str(subnet) for subnet, members in node_subnets(content.get("nodes") or []).items()
                    if len(members) > 1)
    native = (f"; nodes share a subnet ({', '.join(shared[:3])}), so a CrossSubnet target (ipip-crosssubnet, "
              "vxlan-crosssubnet) routes their pods natively: the source/destination check must be off on every "
              "node's NIC (JD Cloud: the elastic network interface's sanityCheck 0)") if shared else ""
    findings = [Finding(INFO, "CLOUD_SECURITY_GROUPS",
                        f"security groups between all nodes must allow {now}; afterwards UDP 4789 for Calico VXLAN, or IP "
                        "protocol 4 for IPIP, and TCP 179 if BGP is used" + native,
                        f"add those rules to every node security group (JD Cloud: the VPC security group) before "
                        f"starting; remove UDP {port} only after finalize")]
    backend_mtu = backend.get("mtu")
    if backend_mtu:  # Backend.MTU is the underlay's; flanneld takes VXLAN's 50 off it (flannel v0.28.9 vxlan.go)
        host = int(backend_mtu)
        known = (f"Flannel's Backend.MTU is {host}, the host network's, so flanneld runs VXLAN at "
                 f"{host - VXLAN_OVERHEAD} on every node")
    else:
        host = 1500
        known = ("net-conf.json sets no Backend.MTU, so flanneld takes each node's MTU from its NIC, which no API "
                 "object shows; assumed a 1500-byte host network")
    if not backend_mtu and backend.get("type") == "vxlan":
        findings.append(Finding(INFO, "FLANNEL_MTU_FROM_NICS",
                                "Flannel's MTU is each node's NIC MTU less 50 (written to /run/flannel/subnet.env as "
                                f"FLANNEL_MTU); the plan assumes {host - VXLAN_OVERHEAD} unless planned with --mtu",
                                "nothing to do before planning: the plan's prepare/flannel-mtu step reads FLANNEL_MTU on "
                                "every node and stops the run before Calico is installed if any is smaller (then "
                                "plan again with --mtu set to the smallest)"))
    findings.append(Finding(INFO, "CLOUD_MTU",
                            f"{known}: Calico's VXLAN MTU must be {host - VXLAN_OVERHEAD} (the same as Flannel's "
                            f"during the migration) and IPIP's {host - IPIP_OVERHEAD}",
                            "the plan sets Calico's VXLAN MTU (FelixConfiguration vxlanMTU, calico-config veth_mtu); "
                            "set ipipMTU if switching to IPIP; check the instance MTU on the cloud console if it is "
                            "not 1500"))
    findings += mixed_mtu(content)
    return findings


def mixed_mtu(content: dict) -> list[Finding]:
    """Nodes whose Flannel runs different MTUs (node pools of different instance families), when the snapshot
    carries per-node host facts ({"hostFacts": {node: {"flannelMTU": N}}}). `migrate snapshot` records none:
    it reads only the API, and no API object shows a node's MTU; prepare/flannel-mtu reports them at apply."""
    facts = content.get("hostFacts") or {}
    by_mtu: dict[int, list[str]] = {}
    for node, fact in sorted(facts.items()):
        if (fact or {}).get("flannelMTU"):
            by_mtu.setdefault(int(fact["flannelMTU"]), []).append(node)
    if len(by_mtu) < 2:
        return []
    smallest = min(by_mtu)
    return [Finding(WARNING, "MIXED_FLANNEL_MTU",
                    "Flannel runs different MTUs on different nodes: " + "; ".join(
                        f"{mtu} on {names(nodes)}" for mtu, nodes in sorted(by_mtu.items()))
                    + f"; Calico runs one MTU everywhere, and only {smallest} fits every node",
                    f"plan with --mtu {smallest} (larger MTUs on the other nodes are given up for the smallest)")]
