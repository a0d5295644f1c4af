"""The cloud checklist: what security groups and MTU must allow before, during and after."""
from __future__ import annotations

from .finding import INFO, Finding

VXLAN_OVERHEAD, IPIP_OVERHEAD = 50, 20  # bytes of outer headers per encapsulated packet


def check(content: dict, **_) -> list[Finding]:
    flannel = content.get("flannel") or {}
    if not flannel.get("found"):
        return []
    backend = (flannel.get("netConf") or {}).get("backend") or {}
    port = backend.get("port") or 8472
    now = (f"UDP {port} (Flannel VXLAN, also used by migrated nodes during the migration) now" if
           backend.get("type") == "vxlan" else f"UDP {port} during the migration (Flannel VXLAN's port)")
    findings = [Finding(INFO, "CLOUD_SECURITY_GROUPS",
                        f"security groups between all nodes must allow {now}; afterwards UDP 4789 for Calico VXLAN, or IP "
                        "protocol 4 for IPIP, and TCP 179 if BGP is used",
                        f"add those rules to every node security group (JD Cloud: the VPC security group) before "
                        f"starting; remove UDP {port} only after finalize")]
    flannel_mtu = (flannel.get("netConf") or {}).get("mtu")
    if flannel_mtu:  # Flannel's MTU is the VXLAN device's, so the host network is that plus VXLAN's headers
        host = int(flannel_mtu) + VXLAN_OVERHEAD
        known = f"Flannel's MTU is {flannel_mtu}, so the host network MTU is {host}"
    else:
        host = 1500
        known = "the snapshot records no MTU (net-conf.json sets none); assumed a 1500-byte host network"
    findings.append(Finding(INFO, "CLOUD_MTU",
                            f"{known}: Calico's VXLAN MTU must be {host - VXLAN_OVERHEAD} (the same as Flannel's "
                            f"during the migration) and IPIP's {host - IPIP_OVERHEAD}",
                            "set FelixConfiguration vxlanMTU (and ipipMTU if switching to IPIP) to those values; "
                            "check the instance MTU on the cloud console if it is not 1500"))
    return findings
