"""Verification that proves the network, not just the pods: echo servers and clients pinned to nodes,
read through pod status and logs (never exec), pod IPs against each node's original podCIDR."""
from __future__ import annotations

import ipaddress

from ... import objects
from ...kube import AlreadyExists, NotFound
from ..errors import StepFailed
from .base import StepKind, kind
from .handoff import calico_node_on, pod_ready
from .pods import MANAGED, pod_path, run_to_completion

ECHO_IMAGE = "registry.k8s.io/e2e-test-images/agnhost:2.39"  # `netexec` answers HTTP on /hostname
CLIENT_IMAGE = "docker.io/library/busybox:1.36"
ECHO_PORT = 8080
ECHO_SERVICE = "migrate-echo"
LABEL = "projectcalico.org/node-network-during-migration"
HINT = "see runbooks/troubleshooting.md; then `migrate resume PLAN`, or `migrate rollback PLAN`"


def _pinned(name: str, namespace: str, node: str, container: dict, role: str, subject: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {**MANAGED, "migrate/role": role, "migrate/verifies": subject}},
            "spec": {"nodeName": node, "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                     "tolerations": [{"operator": "Exists"}],
                     "containers": [{**container, "terminationMessagePolicy": "FallbackToLogsOnError"}]}}


# Each verification has its own pods and service (named for its subject): a wave's nodes verify at once.
def echo_pod(namespace: str, subject: str, node: str) -> dict:
    return _pinned(f"echo-{subject}-on-{node}", namespace, node, {
        "name": "echo", "image": ECHO_IMAGE, "args": ["netexec", f"--http-port={ECHO_PORT}"]}, "echo", subject)


def client_pod(namespace: str, subject: str, node: str, targets: list[str]) -> dict:
    script = " && ".join(f"wget -T 3 -q -O - http://{t}/hostname && echo ' <- {t}'" for t in targets)
    return _pinned(f"probe-{subject}-on-{node}", namespace, node, {
        "name": "probe", "image": CLIENT_IMAGE, "command": ["sh", "-c", script]}, "probe", subject)


def echo_service(namespace: str, subject: str) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"{ECHO_SERVICE}-{subject}", "namespace": namespace, "labels": MANAGED},
            "spec": {"selector": {"migrate/role": "echo", "migrate/verifies": subject},
                     "ports": [{"port": ECHO_PORT, "targetPort": ECHO_PORT}]}}


class Probe:
    """The echo servers and service a verification stands up, and their removal."""

    def __init__(self, ctx, subject: str, namespace: str | None = None):
        self.ctx, self.subject = ctx, subject
        self.namespace = namespace or ctx.plan.options["namespace"]
        self.started: list[str] = []

    def echo_on(self, nodes: list[str]) -> dict[str, str]:
        """Echo servers on `nodes`, Ready; their pod IPs by node."""
        for node in nodes:
            try:
                self.ctx.kube.create(f"/api/v1/namespaces/{self.namespace}/pods",
                                     echo_pod(self.namespace, self.subject, node))
            except AlreadyExists:
                pass
            self.started.append(node)
        try:
            self.ctx.kube.create(f"/api/v1/namespaces/{self.namespace}/services",
                                 echo_service(self.namespace, self.subject))
        except AlreadyExists:
            pass

        def all_ready():
            pods = [self.ctx.kube.get_optional(pod_path(self.namespace, self._echo(n))) for n in nodes]
            return {n: p["status"]["podIP"] for n, p in zip(nodes, pods) if p and pod_ready(p)} \
                if all(p and pod_ready(p) for p in pods) else None
        return self.ctx.wait_for(all_ready, timeout=180, what=f"echo pods Ready on {', '.join(nodes)}", hint=HINT)

    def fetch_from(self, node: str, targets: list[str]) -> None:
        run_to_completion(self.ctx, client_pod(self.namespace, self.subject, node, targets), timeout=120,
                          what=f"reaching {', '.join(targets)} from a pod on {node}", hint=HINT)

    def _echo(self, node: str) -> str:
        return f"echo-{self.subject}-on-{node}"

    def service(self) -> str:
        return f"{ECHO_SERVICE}-{self.subject}.{self.namespace}:{ECHO_PORT}"

    def close(self) -> None:
        for node in self.started:
            try:
                self.ctx.kube.delete(pod_path(self.namespace, self._echo(node)), grace_period=0)
            except NotFound:
                pass
        try:
            self.ctx.kube.delete(f"/api/v1/namespaces/{self.namespace}/services/{ECHO_SERVICE}-{self.subject}")
        except NotFound:
            pass


def node_network(ctx) -> dict[str, str]:
    """Each node's migration label now: calico, none, or flannel (no label)."""
    return {n["metadata"]["name"]: (n["metadata"].get("labels") or {}).get(LABEL, "flannel")
            for n in ctx.kube.list("/api/v1/nodes")}


def check_pod_ips(ctx, cidrs: dict[str, str], nodes: list[str] | None = None) -> None:
    """Every running pod-network pod's IP lies inside its node's original podCIDR."""
    outside = []
    for pod in ctx.kube.list("/api/v1/pods"):
        node, ip = pod["spec"].get("nodeName"), (pod.get("status") or {}).get("podIP")
        if not ip or pod["spec"].get("hostNetwork") or node not in cidrs or (nodes and node not in nodes):
            continue
        if ipaddress.ip_address(ip) not in ipaddress.ip_network(cidrs[node]):
            outside.append(f"{pod['metadata']['namespace']}/{pod['metadata']['name']} {ip} on {node} "
                           f"(podCIDR {cidrs[node]})")
    if outside:
        raise StepFailed(f"pod IPs outside their node's podCIDR: {'; '.join(outside[:8])}",
                         "check the IPAM blocks of those nodes (prepare/ipam steps) and the IPPool's blockSize")


@kind("verify-node")
class VerifyNode(StepKind):
    def apply(self, ctx, step):
        if not ctx.writes or ctx.dry_run:
            ctx.say(f"would probe {step.node}: pod IP in {step.params['podCIDR']}, pod-to-pod, service, DNS")
            return
        networks = node_network(ctx)
        # Peers come from other waves: a node of this wave may be mid-hand-off, with no pod network at all.
        order = [n for w in ctx.plan.waves if w.index != step.wave for n in w.nodes]
        old = next((n for n in order if networks.get(n) == "flannel"), None)
        new = next((n for n in order if networks.get(n) == "calico"), None)
        probe = Probe(ctx, step.node)
        try:
            ips = probe.echo_on([n for n in (step.node, old, new) if n])
            if ipaddress.ip_address(ips[step.node]) not in ipaddress.ip_network(step.params["podCIDR"]):
                raise StepFailed(f"a new pod on {step.node} got {ips[step.node]}, outside its podCIDR "
                                 f"{step.params['podCIDR']}", "check the node's IPAM block (prepare/ipam step)")
            targets = [f"{ips[n]}:{ECHO_PORT}" for n in (old, new) if n] + [probe.service()]
            probe.fetch_from(step.node, targets)
            if old:  # and back: an unmigrated node reaches the migrated one
                probe.fetch_from(old, [f"{ips[step.node]}:{ECHO_PORT}"])
            ctx.say(f"{step.node}: pod IP {ips[step.node]} in {step.params['podCIDR']}; reached "
                    f"{'old ' + old if old else ''}{' and ' if old and new else ''}{'new ' + new if new else ''}"
                    " nodes, the service and DNS")
        finally:
            probe.close()


def _settled(ctx) -> str | None:
    """Why the cluster is not healthy now, or None. A few list calls, however many nodes there are."""
    nodes = ctx.kube.list("/api/v1/nodes")
    calico_ready = _ready_agents(ctx, "kube-system", "k8s-app=calico-node")
    _, flannel_ns, flannel_ds = ctx.plan.step("prepare/flannel/keep-off-migrated").target.split("/")
    flannel_there = ctx.kube.get_optional(_flannel_ds_path(ctx)) is not None
    flannel_ready = _ready_agents(ctx, flannel_ns, None, owner=flannel_ds) if flannel_there else set()
    for node in nodes:
        name = node["metadata"]["name"]
        network = (node["metadata"].get("labels") or {}).get(LABEL, "flannel")
        if not any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in (node.get("status") or {}).get("conditions") or []):
            return f"node {name} is not Ready"
        if network == "calico" and name not in calico_ready:
            return f"calico-node is not Ready on {name}"
        if network == "flannel" and flannel_there and name not in flannel_ready:
            return f"Flannel is not Ready on {name}"
    pending = ctx.kube.list("/api/v1/pods", field_selector="status.phase=Pending")  # not every pod, every 5 s
    stuck = [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in pending
             if p["spec"].get("nodeName") and not p["metadata"].get("deletionTimestamp")]
    if stuck:
        return f"pods not running yet: {', '.join(stuck[:6])}"
    return None


def _ready_agents(ctx, namespace: str, selector: str | None, owner: str | None = None) -> set[str]:
    """The nodes where an agent's pod (by label, or by its DaemonSet) is Ready."""
    pods = ctx.kube.list(f"/api/v1/namespaces/{namespace}/pods", label_selector=selector)
    return {p["spec"].get("nodeName") for p in pods if pod_ready(p) and not p["metadata"].get("deletionTimestamp")
            and (owner is None or any(o.get("kind") == "DaemonSet" and o.get("name") == owner
                                      for o in p["metadata"].get("ownerReferences") or []))}


def _flannel_ds_path(ctx) -> str:
    _, namespace, name = ctx.plan.step("prepare/flannel/keep-off-migrated").target.split("/")
    return f"/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}"


@kind("health-gate")
class HealthGate(StepKind):
    def apply(self, ctx, step):
        if not ctx.writes or ctx.dry_run:
            ctx.say("would check every node, agent and pod")
            return
        problem = []

        def healthy():
            problem[:] = [_settled(ctx)]
            return problem[0] is None
        try:
            ctx.wait_for(healthy, timeout=300, what="the cluster to settle", hint=HINT, interval=5)
        except StepFailed as failed:
            raise StepFailed(f"{failed.message}: {problem[0]}", HINT) from None


# `set -e` ignores a failing `! cmd` (POSIX), so each probe fails the script explicitly when it finds something.
def _absent(probe: str, what: str) -> str:
    return f"{probe} >/dev/null 2>&1 && echo 'Flannel leftover: {what}' && exit 1"


LEFTOVER_CHECK = [_absent("ip link show flannel.{vni}", "device flannel.{vni}"),
                  _absent("ip link show cni0", "bridge cni0"),
                  _absent("test -e /etc/cni/net.d/10-flannel.conflist", "/etc/cni/net.d/10-flannel.conflist"),
                  # Canal's install-cni writes this one (canal.yaml CNI_CONF_NAME); no Flannel install has it
                  _absent("test -e /etc/cni/net.d/10-canal.conflist", "/etc/cni/net.d/10-canal.conflist"),
                  _absent("test -e /run/flannel/subnet.env", "/run/flannel/subnet.env")]
IPTABLES_LEFTOVERS = [_absent("iptables -t nat -S FLANNEL-POSTRTG", "iptables chain nat/FLANNEL-POSTRTG"),
                      _absent("iptables -t filter -S FLANNEL-FWD", "iptables chain filter/FLANNEL-FWD")]
# Flannel's nftables mode keeps its rules in tables flannel-ipv4 (family ip) and flannel-ipv6 (family ip6):
# flannel v0.28.9 pkg/trafficmngr/nftables/nftables.go ipv4Table / ipv6Table
NFT_LEFTOVERS = [_absent("nft list table ip flannel-ipv4", "nftables table ip flannel-ipv4"),
                 _absent("nft list table ip6 flannel-ipv6", "nftables table ip6 flannel-ipv6")]


@kind("verify-cluster")
class VerifyCluster(StepKind):
    def apply(self, ctx, step):
        if not ctx.writes or ctx.dry_run:
            ctx.say(f"would verify the cluster: {', '.join(step.params['checks'])}")
            return
        checks = step.params["checks"]
        nodes = [n["metadata"]["name"] for n in ctx.kube.list("/api/v1/nodes")]
        if "calico-node-ready" in checks:
            missing: list[str] = []

            def everywhere():
                missing[:] = [n for n in nodes if not (lambda p: p and pod_ready(p))(calico_node_on(ctx, n))]
                return not missing
            try:
                ctx.wait_for(everywhere, timeout=300, what="calico-node Ready on every node", hint=HINT, interval=5)
            except StepFailed as failed:
                raise StepFailed(f"{failed.message}: not Ready on {', '.join(missing[:8])}", HINT) from None
        if "pod-ip-in-podcidr" in checks:  # a node that joined mid-run keeps the podCIDR it was given then
            live = {n["metadata"]["name"]: n["spec"]["podCIDR"] for n in ctx.kube.list("/api/v1/nodes")
                    if n["spec"].get("podCIDR")}
            check_pod_ips(ctx, {**live, **step.params["podCIDRs"]})
        if "no-flannel-leftovers" in checks:
            self._leftovers(ctx, nodes)
        if "pod-to-pod" in checks:
            self._connectivity(ctx, nodes)

    def _leftovers(self, ctx, nodes: list[str]) -> None:
        vni = ctx.plan.step("prepare/calico/felix-configuration").params["vxlanVNI"]
        any_cleanup = next(s for s in ctx.plan.steps if s.kind == "host-cleanup").params
        for node in nodes:  # a node that joined after the last look has no hand-off of its own: same image
            ids = {s.id for s in ctx.plan.steps}
            cleanup = ctx.plan.step(f"node/{node}/host-cleanup").params if f"node/{node}/host-cleanup" in ids \
                else any_cleanup
            nft = any(line.startswith("nft ") for line in cleanup["script"])
            check_leftovers(ctx, node, namespace=ctx.plan.options["namespace"], image=cleanup["image"], vni=vni,
                            nft=nft)

    def _connectivity(self, ctx, nodes: list[str]) -> None:
        check_connectivity(ctx, ctx.plan.options["namespace"])


def check_leftovers(ctx, node: str, *, namespace: str, image: str, vni: int, nft: bool | None) -> None:
    """A host pod on `node` that fails if any Flannel device, file or rule is still there: Flannel's nftables
    tables when `nft`, its iptables chains when not, both when unknown (None; a missing binary finds nothing)."""
    rules = NFT_LEFTOVERS if nft else IPTABLES_LEFTOVERS if nft is False else IPTABLES_LEFTOVERS + NFT_LEFTOVERS
    script = [line.format(vni=vni) for line in LEFTOVER_CHECK] + rules
    pod = objects.hand_off_pod(node, namespace, {"image": image, "hostPaths": ["/etc/cni/net.d", "/run/flannel"],
                                                 "script": script + ["echo no Flannel leftover"]})
    pod["metadata"]["name"] = f"leftover-check-{node}"
    run_to_completion(ctx, pod, timeout=120, what=f"looking for Flannel leftovers on {node}", hint=HINT)


def check_connectivity(ctx, namespace: str) -> list[str]:
    """Echo servers on one node per zone (up to three), each reached from the others and through the
    service by name; returns the nodes sampled."""
    by_zone: dict = {}
    for node in ctx.kube.list("/api/v1/nodes"):
        zone = (node["metadata"].get("labels") or {}).get("topology.kubernetes.io/zone", "")
        by_zone.setdefault(zone, node["metadata"]["name"])
    sample = sorted(by_zone.values())[:3]
    if len(sample) < 2:
        sample = [n["metadata"]["name"] for n in ctx.kube.list("/api/v1/nodes")][:3]
    probe = Probe(ctx, "cluster", namespace)
    try:
        ips = probe.echo_on(sample)
        for node in sample:
            probe.fetch_from(node, [f"{ips[n]}:{ECHO_PORT}" for n in sample if n != node] + [probe.service()])
    finally:
        probe.close()
    return sample
