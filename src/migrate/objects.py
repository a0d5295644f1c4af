"""The objects a plan's parameters stand for: Calico's as the crd.projectcalico.org resources its
Kubernetes datastore keeps, and the hand-off pod. Pure: the executor writes these, and the runbook
shows the same objects to a person."""
from __future__ import annotations

import ipaddress

CALICO_API = "crd.projectcalico.org/v1"
TUNNEL_ADDR_ANNOTATION = "projectcalico.org/IPv4VXLANTunnelAddr"
TUNNEL_MAC_ANNOTATION = "projectcalico.org/VXLANTunnelMACAddr"
# Felix builds a VTEP for a node only when it also knows the node's own IPv4 address (the Calico Node's
# BGP address, this annotation in the Kubernetes datastore); calico-node sets it where it runs.
HOST_ADDRESS_ANNOTATION = "projectcalico.org/IPv4Address"


def _object(kind: str, name: str, spec: dict) -> dict:
    return {"apiVersion": CALICO_API, "kind": kind, "metadata": {"name": name}, "spec": spec}


def felix_configuration(params: dict, current_spec: dict | None = None) -> dict:
    """FelixConfiguration default with Flannel's VXLAN identity; other settings a user has are kept."""
    spec = dict(current_spec or {})
    spec.update(vxlanEnabled=True, vxlanVNI=params["vxlanVNI"], vxlanPort=params["vxlanPort"],
                vxlanMTU=params["vxlanMTU"])
    return _object("FelixConfiguration", "default", spec)


def ip_pool(params: dict) -> dict:
    spec = {"cidr": params["cidr"], "blockSize": params["blockSize"], "vxlanMode": params["vxlanMode"],
            "ipipMode": params["ipipMode"], "natOutgoing": params["natOutgoing"], "nodeSelector": params["nodeSelector"]}
    if params.get("allowedUses"):  # e.g. [Tunnel]: never handed to pods (libcalico-go ipam filterPoolsByUse)
        spec["allowedUses"] = params["allowedUses"]
    return _object("IPPool", params["name"], spec)


def ipam_config(params: dict) -> dict:
    return _object("IPAMConfig", "default", {"strictAffinity": params["strictAffinity"], "autoAllocateBlocks": True,
                                             "maxBlocksPerHost": params["maxBlocksPerHost"]})


def allow_all_policy(params: dict) -> dict:
    rule = [{"action": params["action"]}]
    return _object("GlobalNetworkPolicy", params["name"], {
        "order": params["order"], "selector": params["selector"], "types": params["types"],
        "ingress": rule, "egress": rule})


def block_name(cidr: str) -> str:
    return cidr.replace(".", "-").replace("/", "-")


def block_affinity(node: str, cidr: str) -> dict:
    return _object("BlockAffinity", f"{node}-{block_name(cidr)}",
                   {"state": "confirmed", "node": node, "cidr": cidr, "deleted": "false", "type": "host"})


def tunnel_handle(node: str) -> str:
    return f"vxlan-tunnel-addr-{node}"


def ipam_block(node: str, cidr: str, tunnel_address: str | None = None) -> dict:
    """An IPAM block affine to `node`; the tunnel address, when it lies in the block, is allocated in it."""
    network = ipaddress.ip_network(cidr)
    size = network.num_addresses
    allocations: list = [None] * size
    attributes: list = []
    unallocated = list(range(size))
    if tunnel_address and ipaddress.ip_address(tunnel_address) in network:
        ordinal = int(ipaddress.ip_address(tunnel_address)) - int(network.network_address)
        allocations[ordinal] = 0
        attributes.append({"handle_id": tunnel_handle(node), "secondary": {"node": node, "type": "vxlanTunnelAddress"}})
        unallocated.remove(ordinal)
    return _object("IPAMBlock", block_name(cidr), {
        "cidr": cidr, "affinity": f"host:{node}", "allocations": allocations, "unallocated": unallocated,
        "attributes": attributes, "strictAffinity": False, "deleted": False})


def block_contains(cidr: str, address: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(cidr)


def ipam_handle(node: str, block_cidr: str) -> dict:
    return _object("IPAMHandle", tunnel_handle(node), {"handleID": tunnel_handle(node), "block": {block_cidr: 1},
                                                      "deleted": False})


def tunnel_annotations(params: dict) -> dict:
    return {TUNNEL_ADDR_ANNOTATION: params["tunnelAddress"], TUNNEL_MAC_ANNOTATION: params["vtepMAC"],
            HOST_ADDRESS_ANNOTATION: params["hostAddress"]}


def hand_off_pod(node: str, namespace: str, params: dict) -> dict:
    """The privileged, hostNetwork pod pinned to the node that hands it off (plan step host-cleanup)."""
    mounts = [{"name": f"host-{i}", "mountPath": path} for i, path in enumerate(params["hostPaths"])]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"hand-off-{node}", "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "migrate", "migrate/role": "hand-off"}},
            "spec": {"nodeName": node, "hostNetwork": True, "restartPolicy": "Never",
                     "tolerations": [{"operator": "Exists"}],
                     "containers": [{"name": "hand-off", "image": params["image"],
                                     "command": ["/bin/sh", "-c", "set -e\n" + "\n".join(params["script"]) + "\n"],
                                     # A failure's log tail lands in the pod's status, readable without
                                     # the kubelet's log endpoint.
                                     "terminationMessagePolicy": "FallbackToLogsOnError",
                                     "securityContext": {"privileged": True}, "volumeMounts": mounts}],
                     "volumes": [{"name": m["name"], "hostPath": {"path": m["mountPath"]}} for m in mounts]}}


MTU_READING = "mtu-reading"
SUBNET_ENV_IN_RUN = "flannel/subnet.env"  # /run/flannel/subnet.env


def mtu_reading_pod(node: str, namespace: str, image: str, address: str, vni: int) -> dict:
    """The read-only pod of plan step prepare/flannel-mtu: hostNetwork (to see the host's NICs), the host's /run
    mounted read-only (it always exists: mounting /run/flannel where it does not could create it), not
    privileged. Its termination message, read from its status, holds the NIC holding `address` (Flannel's
    public-ip), the flannel.<VNI> device and, when on the host, /run/flannel/subnet.env. The device's MTU is
    FLANNEL_MTU too (both are Backend.MTU or the NIC's MTU less 50: flannel v0.28.9 pkg/backend/vxlan/device.go,
    vxlan_network.go), which is what Canal leaves to read: its flanneld keeps subnet.env inside its container
    (Calico v3.32.1 canal.yaml mounts no /run/flannel). Flannel's image has sh, cat and iproute2 (flannel v0.28.9
    images/Dockerfile)."""
    script = "\n".join([
        "set -e", f"ip -4 addr show to {address}/32 > /dev/termination-log",
        f"ip link show flannel.{vni} >> /dev/termination-log || true",
        f"cat /host/run/{SUBNET_ENV_IN_RUN} >> /dev/termination-log 2>/dev/null || true"])
    return host_reading_pod(f"{MTU_READING}-{node}", MTU_READING, node, namespace, image, script,
                            mounts=[{"name": "host-run", "mountPath": "/host/run", "readOnly": True}],
                            volumes=[{"name": "host-run", "hostPath": {"path": "/run"}}])


def host_reading_pod(name: str, role: str, node: str, namespace: str, image: str, script: str, *,
                     mounts: list[dict] = (), volumes: list[dict] = ()) -> dict:
    """A short-lived hostNetwork pod pinned to `node` that runs `script` once and reports through its
    termination message (FallbackToLogsOnError: a failure's log tail), tolerating every taint."""
    container = {"name": "read", "image": image, "command": ["/bin/sh", "-c", script + "\n"],
                 "terminationMessagePolicy": "FallbackToLogsOnError"}
    if mounts:
        container["volumeMounts"] = list(mounts)
    spec = {"nodeName": node, "hostNetwork": True, "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
            "tolerations": [{"operator": "Exists"}], "containers": [container]}
    if volumes:
        spec["volumes"] = list(volumes)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"app.kubernetes.io/managed-by": "migrate", "migrate/role": role}},
            "spec": spec}


def backup_key(ref: dict) -> str:
    """The backup ConfigMap's key for one object: Kind.namespace.name.yaml."""
    return ".".join(p for p in (ref["kind"], ref.get("namespace"), ref["name"]) if p) + ".yaml"
