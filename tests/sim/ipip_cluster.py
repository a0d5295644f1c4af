"""A CNI-less cluster of two nodes in each of two VPC subnets with the simulator's own Calico release
installed on it, configured for IPIP routes programmed by Felix or BIRD (tests/sim/test_ipip.py, test_bird.py)."""
from migrate.sim.calico_release import calico_release_objects
from migrate.sim.cluster import SimCluster
from migrate.sim.scenario import parse_scenario

CALICO = "crd.projectcalico.org"
NODES = ("a-1", "a-2", "b-1", "b-2")  # a-* in 10.0.1.0/24, b-* in 10.0.2.0/24


def two_subnets(**cluster) -> SimCluster:
    return SimCluster(parse_scenario({
        "name": "two-subnets", "cluster": {"clusterCIDR": "10.244.0.0/16", **cluster},
        "flannel": {"flavor": "none"},
        "nodeGroups": [{"count": 2, "namePrefix": "a-", "subnet": "10.0.1.0/24"},
                       {"count": 2, "namePrefix": "b-", "subnet": "10.0.2.0/24"}]}, "two-subnets"))


def install_calico(c: SimCluster, *, backend="bird", ipip="CrossSubnet", vxlan="Never", felix=None, bgp=None, peers=(),
                   version="v3.32.1", bird_probes=None, veth_mtu=0, wait=40.0) -> SimCluster:
    """The release with calico_backend `backend`, a default pool of ipipMode `ipip` and vxlanMode `vxlan`, the FelixConfiguration and
    BGPConfiguration `default` specs given (created before calico-node starts), BGPPeer specs, calico-config's
    veth_mtu, and BIRD in the probes when `bird_probes` (default: when the backend is bird, as calico.yaml has it)."""
    bird_probes = backend == "bird" if bird_probes is None else bird_probes
    for obj in calico_release_objects(version):
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] == "calico-config":
            obj["data"]["calico_backend"] = backend
            obj["data"]["veth_mtu"] = str(veth_mtu)  # FELIX_IPINIPMTU, FELIX_VXLANMTU and the CNI's MTU
        if obj["kind"] == "DaemonSet" and obj["metadata"]["name"] == "calico-node":
            continue  # created last, once the configuration is in
        c.create(obj)
    c.advance(1)
    for kind, spec in (("FelixConfiguration", felix), ("BGPConfiguration", bgp)):
        if spec is not None:
            c.create(calico(kind, "default", spec))
    for i, spec in enumerate(peers):
        c.create(calico("BGPPeer", f"peer-{i}", spec))
    c.create(_daemonset(version, ipip, vxlan, bird_probes))
    c.advance(wait)
    return c


def _daemonset(version, ipip, vxlan, bird_probes):
    ds = next(o for o in calico_release_objects(version) if o["kind"] == "DaemonSet"
              and o["metadata"]["name"] == "calico-node")
    node = ds["spec"]["template"]["spec"]["containers"][0]
    for env in node["env"]:
        if env["name"] == "CALICO_IPV4POOL_IPIP":
            env["value"] = ipip
        if env["name"] == "CALICO_IPV4POOL_VXLAN":
            env["value"] = vxlan
    if not bird_probes:
        node["livenessProbe"]["exec"]["command"] = ["/bin/calico-node", "-felix-live"]
        node["readinessProbe"]["exec"]["command"] = ["/bin/calico-node", "-felix-ready"]
    return ds


def calico(kind: str, name: str, spec: dict) -> dict:
    return {"apiVersion": f"{CALICO}/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def pin_pods(c: SimCluster, wait=10.0) -> dict[str, tuple[str, str]]:
    """One pod on every node: {node: (namespace, name)}."""
    for node in NODES:
        c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p-{node}", "namespace": "default"},
                  "spec": {"nodeName": node, "containers": [{"name": "m", "image": "registry.k8s.io/pause:3.10"}]}})
    c.advance(wait)
    return {node: ("default", f"p-{node}") for node in NODES}


def reach(c: SimCluster, pods, src: str, dst: str):
    target = c.store.find(c.ctx.pods, *pods[dst])
    return c.network.reach(pods[src], target["status"]["podIP"])


def calico_node_ready(c: SimCluster, node: str) -> bool:
    pod = next(p for p in c.store.items(c.ctx.pods, "kube-system")
               if p["metadata"]["name"].startswith("calico-node-") and p["spec"].get("nodeName") == node)
    return any(x["type"] == "Ready" and x["status"] == "True" for x in pod["status"].get("conditions") or [])


def vxlan_cluster_ready_for_ipip(backend: str, felix: dict, version="v3.32.1"):
    """Pods on VXLAN (pool vxlanMode Always) with IPIP already on every node (FelixConfiguration ipipEnabled and
    vxlanEnabled pinned, tunl0 addressed from a tunnel-only IPIP pool), as before a switch to IPIP CrossSubnet.
    Returns (cluster, pods)."""
    c = install_calico(two_subnets(), backend=backend, ipip="Never", vxlan="Always", version=version,
                       felix={"ipipEnabled": True, "vxlanEnabled": True, **felix})
    c.create(calico("IPPool", "tunnels", {"cidr": "10.245.0.0/24", "blockSize": 30, "ipipMode": "Always",
                                          "vxlanMode": "Never", "allowedUses": ["Tunnel"], "nodeSelector": "all()"}))
    c.advance(40)
    return c, pin_pods(c)


def flip_timeline(c: SimCluster, pods, seconds=8.0, step=0.1, to="ipip") -> list[dict]:
    """Flip the default pool to IPIP CrossSubnet (or back to VXLAN Always, `to`="vxlan") in one patch, then record
    every `step` seconds, for each ordered pair of nodes, the device the sender routes by (or why it cannot reach)."""
    modes = {"vxlanMode": "Never", "ipipMode": "CrossSubnet"} if to == "ipip" else \
        {"vxlanMode": "Always", "ipipMode": "Never"}
    pools = c.ctx.registry.lookup(CALICO, "v1", "ippools")
    c.store.mutate(pools, None, "default-ipv4-ippool", lambda p: p["spec"].update(modes))
    start, timeline = c.clock.now(), []
    while c.clock.now() - start < seconds:
        c.advance(step)
        seen = {}
        for src in NODES:
            for dst in NODES:
                if src != dst:
                    verdict = reach(c, pods, src, dst)
                    seen[(src, dst)] = c.network.path(src, c.store.find(c.ctx.pods, *pods[dst])["status"]["podIP"],
                                                      dst).device if verdict.ok else f"FAILED: {verdict.reason}"
        timeline.append(seen)
    return timeline


def mixed(moment: dict) -> bool:
    """Some node still sends by VXLAN while another already routes by IPIP or natively."""
    devices = set(moment.values())
    return "vxlan.calico" in devices and bool(devices & {"tunl0", "eth0"})
