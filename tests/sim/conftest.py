"""Hosts and strings shared by the tests of the node host model and its shell."""

import pytest

from migrate.sim.host import HostState, Interface

FLANNEL_CONFLIST = """{
  "name": "cbr0",
  "cniVersion": "0.3.1",
  "plugins": [
    {"type": "flannel", "delegate": {"hairpinMode": true, "isDefaultGateway": true}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
"""

SUBNET_ENV = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n"

FLANNEL_MASQ_RULES = [
    '-m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN',
    '-s 10.244.1.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN',
    '-s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN',
    '! -s 10.244.0.0/16 -d 10.244.1.0/24 -m comment --comment "flanneld masq" -j RETURN',
    '-s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
    '! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
]

KUBE_POSTROUTING_JUMP = '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING'
KUBE_FORWARD_JUMP = '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD'


def build_flannel_node() -> HostState:
    """A node as flanneld (vxlan backend) and kube-proxy leave it."""
    host = HostState("node-b", host_ip="192.168.0.11/24")
    host.write_file("/etc/cni/net.d/10-flannel.conflist", FLANNEL_CONFLIST)
    host.write_file("/run/flannel/subnet.env", SUBNET_ENV)
    host.write_file("/opt/cni/bin/flannel", "\x7fELF")
    host.add_interface(Interface("flannel.1", "vxlan", mac="6e:2b:9c:11:22:33", mtu=1450,
                                 addresses=["10.244.1.0/32"], vni=1, port=8472, local_ip="192.168.0.11"))
    host.add_interface(Interface("cni0", "bridge", mac="2a:7c:44:55:66:77", mtu=1450,
                                 addresses=["10.244.1.1/24"]))
    host.add_interface(Interface("veth5f3a9c21", "veth", mac="d2:1e:88:99:aa:bb", mtu=1450, master="cni0"))
    for subnet in ("10.244.0.0", "10.244.2.0"):
        host.add_route(f"{subnet}/24 via {subnet} dev flannel.1 onlink")
    host.ensure_chain("nat", "KUBE-POSTROUTING")
    host.add_rule("nat", "POSTROUTING", KUBE_POSTROUTING_JUMP)
    host.ensure_chain("nat", "FLANNEL-POSTRTG")
    host.add_rule("nat", "POSTROUTING", '-m comment --comment "flanneld masq" -j FLANNEL-POSTRTG')
    for rule in FLANNEL_MASQ_RULES:
        host.add_rule("nat", "FLANNEL-POSTRTG", rule)
    host.ensure_chain("filter", "KUBE-FORWARD")
    host.add_rule("filter", "FORWARD", KUBE_FORWARD_JUMP)
    host.ensure_chain("filter", "FLANNEL-FWD")
    host.add_rule("filter", "FORWARD", '-m comment --comment "flanneld forward" -j FLANNEL-FWD')
    host.add_rule("filter", "FLANNEL-FWD", '-s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT')
    host.add_rule("filter", "FLANNEL-FWD", '-d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT')
    return host


@pytest.fixture
def host() -> HostState:
    return HostState("node-a", host_ip="192.168.0.10/24", mac="52:54:00:12:34:56")


@pytest.fixture
def flannel_node():
    """Builds a node as flanneld (vxlan backend) and kube-proxy leave it; call it for a fresh one."""
    return build_flannel_node


@pytest.fixture
def subnet_env() -> str:
    """What flanneld wrote to /run/flannel/subnet.env on the flannel node."""
    return SUBNET_ENV


@pytest.fixture
def kube_postrouting_jump() -> str:
    return KUBE_POSTROUTING_JUMP


@pytest.fixture
def kube_forward_jump() -> str:
    return KUBE_FORWARD_JUMP


# ---- the simulated API server, driven through the official client (tests/sim/test_api_*.py) ----

@pytest.fixture
def admin_client(served_small):
    """An ApiClient with the admin token."""
    return served_small.api_client()


@pytest.fixture
def apps_api(admin_client):
    from kubernetes import client
    return client.AppsV1Api(admin_client)


@pytest.fixture
def policy_api(admin_client):
    from kubernetes import client
    return client.PolicyV1Api(admin_client)


@pytest.fixture
def custom_api(admin_client):
    from kubernetes import client
    return client.CustomObjectsApi(admin_client)


@pytest.fixture
def api_error():
    """Call an API method that must fail; returns (HTTP status, decoded Status body)."""
    import json

    from kubernetes.client.exceptions import ApiException

    def call(method, *args, **kwargs):
        with pytest.raises(ApiException) as info:
            method(*args, **kwargs)
        return info.value.status, json.loads(info.value.body)
    return call


@pytest.fixture
def http(served_small):
    """Plain HTTP to the served cluster: http(method, path, body=None, headers=None, token=admin)
    returns (status, headers, body bytes), errors included."""
    import json
    import urllib.error
    import urllib.request

    def call(method, path, body=None, headers=None, token=served_small.cluster.credentials.admin_token):
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        request = urllib.request.Request(served_small.cluster.server.url + path, data=data, method=method)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()
    return call


WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "schema": {"openAPIV3Schema": {"type": "object",
                                                          "x-kubernetes-preserve-unknown-fields": True}}}]},
}


@pytest.fixture
def widget_crd_body():
    """The CRD of `widget_crd`, as a fresh dict to create or vary."""
    import copy
    return copy.deepcopy(WIDGET_CRD)


@pytest.fixture
def widget_crd(served_small, admin_client):
    """A namespaced `widgets.example.com/v1` CRD, created and established (the controllers ran)."""
    from kubernetes import client
    crd = client.ApiextensionsV1Api(admin_client).create_custom_resource_definition(WIDGET_CRD)
    served_small.cluster.advance(1)
    return crd


def widget(name, **spec):
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec or {"size": 1}}


@pytest.fixture
def make_widget():
    return widget


# ---- any served cluster over plain HTTP (faults, admin endpoints); a cluster without Flannel ----

class HttpAnswer:
    """status, headers, text and (when the body is JSON) json of one answer, errors included."""

    def __init__(self, status: int, headers, body: bytes):
        import json
        self.status, self.headers, self.text = status, headers, body.decode()
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None


def _served_http(running, method: str, path: str, body=None, token: str | None = "admin") -> HttpAnswer:
    import json
    import urllib.error
    import urllib.request

    if token == "admin":
        token = running.cluster.credentials.admin_token
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(running.cluster.server.url + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return HttpAnswer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as exc:
        return HttpAnswer(exc.code, exc.headers, exc.read())


@pytest.fixture
def served_http():
    """served_http(running, method, path, body=None, token="admin") -> HttpAnswer; token=None sends none."""
    return _served_http


@pytest.fixture
def no_flannel_small():
    """The `small` scenario with no CNI installed yet (flannel flavor none), served on a manual clock."""
    from migrate.sim.cluster import running_cluster
    from migrate.sim.scenario import load_scenario

    scenario = load_scenario("small", overrides={"flannel": {"flavor": "none"}})
    with running_cluster(scenario) as running:
        yield running


@pytest.fixture
def create_all(no_flannel_small):
    """create_all(objects, seconds): every object created through the API on no_flannel_small, as
    `kubectl create -f` would, then `seconds` of simulated time; gives the running cluster back."""
    from kubernetes import utils

    def create(objects, seconds):
        api = no_flannel_small.api_client()
        for obj in objects:
            utils.create_from_dict(api, obj)
        no_flannel_small.cluster.advance(seconds)
        return no_flannel_small
    return create


@pytest.fixture
def upstream_manifest(request):
    """tests/conftest.py's upstream_manifest(relative) loader. Test modules here cannot import it by
    name: every conftest.py outside a package is module `conftest`, and this one shadows that one."""
    from pathlib import Path

    root = request.config.pluginmanager.get_plugin(str(Path(__file__).resolve().parents[1] / "conftest.py"))
    return root.upstream_manifest


# ---- Calico on a Flannel cluster, built by hand (tests/sim/test_network.py, test_calico_node.py) ----

CALICO_CNI_CONFLIST = """{
  "name": "k8s-pod-network", "cniVersion": "0.3.1",
  "plugins": [
    {"type": "calico", "datastore_type": "kubernetes", "nodename": "__KUBERNETES_NODE_NAME__", "mtu": __CNI_MTU__,
     "ipam": {"type": "calico-ipam"}, "policy": {"type": "k8s"},
     "kubernetes": {"kubeconfig": "__KUBECONFIG_FILEPATH__"}},
    {"type": "portmap", "snat": true, "capabilities": {"portMappings": true}}
  ]
}"""


def _calico(kind: str, name: str, spec: dict) -> dict:
    return {"apiVersion": "crd.projectcalico.org/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def _prepare_calico(c, *, vni=1, port=8472, pool="10.244.0.0/16", block_size=24, vxlan="Always",
                    interop=True):
    """What Calico's flannel-migration controller sets up before touching a node: the CRDs, a VXLAN
    pool over Flannel's network, FelixConfiguration with Flannel's VNI and port, and for every node
    a block affinity on its podCIDR plus the Calico Node VXLAN fields (annotations in KDD) carrying
    Flannel's VTEP IP and MAC."""
    import json

    from migrate.sim.flannel_install import calico_crds

    for crd in calico_crds():
        c.create(crd)
    c.advance(1)
    c.create(_calico("IPPool", "default-ipv4-ippool", {"cidr": pool, "blockSize": block_size, "ipipMode": "Never",
                                                     "vxlanMode": vxlan, "natOutgoing": True,
                                                     "nodeSelector": "all()"}))
    c.create(_calico("FelixConfiguration", "default", {"vxlanVNI": vni, "vxlanPort": port, "vxlanEnabled": True}))
    if not interop:
        return
    for node in c.store.items(c.ctx.nodes):
        name, cidr = node["metadata"]["name"], node["spec"]["podCIDR"]
        annotations = node["metadata"].get("annotations") or {}
        mac = json.loads(annotations["flannel.alpha.coreos.com/backend-data"])["VtepMAC"]
        c.create(_calico("BlockAffinity", f"{name}-{cidr.replace('.', '-').replace('/', '-')}",
                         {"cidr": cidr, "node": name, "state": "confirmed", "deleted": "false", "type": "host"}))

        def annotate(obj, cidr=cidr, mac=mac, public=annotations["flannel.alpha.coreos.com/public-ip"]):
            obj["metadata"]["annotations"].update({
                "projectcalico.org/IPv4VXLANTunnelAddr": cidr.split("/")[0],
                "projectcalico.org/VXLANTunnelMACAddr": mac, "projectcalico.org/IPv4Address": f"{public}/32"})
        c.store.mutate(c.ctx.nodes, None, name, annotate)
    c.advance(1)


def _calico_node_daemonset(env=None, cni_config=CALICO_CNI_CONFLIST) -> dict:
    """A minimal calico-node DaemonSet selected by the migration label (upstream's shape)."""
    env = {"DATASTORE_TYPE": "kubernetes", "CALICO_NETWORKING_BACKEND": "vxlan", "CLUSTER_TYPE": "k8s,bgp",
           "CALICO_IPV4POOL_IPIP": "Never", **(env or {})}
    host = lambda name, path: {"name": name, "hostPath": {"path": path}}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "calico-node", "namespace": "kube-system", "labels": {"k8s-app": "calico-node"}},
            "spec": {"selector": {"matchLabels": {"k8s-app": "calico-node"}}, "template": {
                "metadata": {"labels": {"k8s-app": "calico-node"}},
                "spec": {"hostNetwork": True, "terminationGracePeriodSeconds": 0,
                         "nodeSelector": {"projectcalico.org/node-network-during-migration": "calico"},
                         "tolerations": [{"operator": "Exists", "effect": "NoSchedule"},
                                         {"operator": "Exists", "effect": "NoExecute"}],
                         "initContainers": [{
                             "name": "install-cni", "image": "quay.io/calico/cni:v3.32.1",
                             "command": ["/opt/cni/bin/install"],
                             "env": [{"name": "CNI_CONF_NAME", "value": "10-calico.conflist"},
                                     {"name": "CNI_NETWORK_CONFIG", "value": cni_config},
                                     {"name": "CNI_MTU", "value": "0"},
                                     {"name": "KUBERNETES_NODE_NAME",
                                      "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                             "volumeMounts": [{"name": "cni-bin-dir", "mountPath": "/host/opt/cni/bin"},
                                              {"name": "cni-net-dir", "mountPath": "/host/etc/cni/net.d"}]}],
                         "containers": [{
                             "name": "calico-node", "image": "quay.io/calico/node:v3.32.1",
                             "env": [{"name": k, "value": v} for k, v in env.items()]
                             + [{"name": "NODENAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                             "securityContext": {"privileged": True},
                             "readinessProbe": {"exec": {"command": ["/bin/calico-node", "-felix-ready"]}},
                             "volumeMounts": [{"name": "var-lib-calico", "mountPath": "/var/lib/calico"},
                                              {"name": "var-run-calico", "mountPath": "/var/run/calico"}]}],
                         "volumes": [host("cni-bin-dir", "/opt/cni/bin"), host("cni-net-dir", "/etc/cni/net.d"),
                                     host("var-lib-calico", "/var/lib/calico"),
                                     host("var-run-calico", "/var/run/calico")]}}}}


def _keep_flannel_off_calico_nodes(c) -> None:
    """What the migration controller does to the Flannel DaemonSet: skip nodes labelled for Calico."""
    rtype = c.ctx.rtype("apps", "daemonsets")

    def exclude(ds):
        terms = ds["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        for term in terms:
            term.setdefault("matchExpressions", []).append(
                {"key": "projectcalico.org/node-network-during-migration", "operator": "NotIn",
                 "values": ["calico", "none"]})
    c.store.mutate(rtype, "kube-flannel", "kube-flannel-ds", exclude)
    c.advance(40)  # the template change rolls every flannel pod, one node at a time


def _run_on_node(c, node, name, script, namespace="kube-system", wait=10):
    """A privileged hostNetwork busybox pod pinned to a node with the host's / at /host."""
    c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
              "spec": {"nodeName": node, "hostNetwork": True, "restartPolicy": "Never",
                       "tolerations": [{"operator": "Exists"}],
                       "containers": [{"name": "main", "image": "docker.io/library/busybox:1.36",
                                       "command": ["sh", "-c", script], "securityContext": {"privileged": True},
                                       "volumeMounts": [{"name": "host", "mountPath": "/host"}]}],
                       "volumes": [{"name": "host", "hostPath": {"path": "/"}}]}})
    c.advance(wait)
    return c.store.find(c.ctx.pods, namespace, name)


def _move_node_to_calico(c, node, daemonset=None) -> None:
    """The per-node hand-off, done by hand: cordon, Flannel leaves, its devices go, the pods hanging
    off cni0 are deleted, the node is labelled for Calico, calico-node runs there, uncordon."""
    label = "projectcalico.org/node-network-during-migration"
    if c.store.find(c.ctx.rtype("apps", "daemonsets"), "kube-system", "calico-node") is None:
        c.create(daemonset or _calico_node_daemonset())
    c.store.mutate(c.ctx.nodes, None, node, lambda n: n["spec"].__setitem__("unschedulable", True))
    c.store.mutate(c.ctx.nodes, None, node, lambda n: n["metadata"]["labels"].__setitem__(label, "none"))
    c.advance(10)
    _run_on_node(c, node, f"remove-flannel-{node}",
                 "echo '{ \"name\": \"dummy\", \"plugins\": [{ \"type\": \"flannel-migration-in-progress\" }]}' "
                 "> /host/etc/cni/net.d/10-calico.conflist; ip link delete cni0 type bridge; ip link delete flannel.1")
    for pod in list(c.store.items(c.ctx.pods)):
        if pod["spec"].get("nodeName") == node and not pod["spec"].get("hostNetwork"):
            c.store.delete(c.ctx.pods, pod["metadata"]["namespace"], pod["metadata"]["name"])
    c.store.mutate(c.ctx.nodes, None, node, lambda n: n["metadata"]["labels"].__setitem__(label, "calico"))
    c.advance(30)
    c.store.mutate(c.ctx.nodes, None, node, lambda n: n["spec"].pop("unschedulable", None))


@pytest.fixture
def prepare_calico():
    """prepare_calico(cluster, vni=1, port=8472, pool=..., block_size=24, vxlan="Always", interop=True)."""
    return _prepare_calico


@pytest.fixture
def calico_node_daemonset():
    """calico_node_daemonset(env=None, cni_config=...) -> a calico-node DaemonSet object."""
    return _calico_node_daemonset


@pytest.fixture
def keep_flannel_off_calico_nodes():
    return _keep_flannel_off_calico_nodes


@pytest.fixture
def run_on_node():
    """run_on_node(cluster, node, pod_name, script) -> the pod after it ran (host / mounted at /host)."""
    return _run_on_node


@pytest.fixture
def move_node_to_calico():
    """move_node_to_calico(cluster, node, daemonset=None): Calico's per-node hand-off, by hand."""
    return _move_node_to_calico
