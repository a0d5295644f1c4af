"""Flannel's own release manifest (v0.28.9) applied through the API to a cluster with no CNI, and
the simulator's built-in Flannel install checked against it."""
import ipaddress

import pytest
from kubernetes import client

from migrate.sim.flannel_install import manifest_objects
from migrate.sim.scenario import FlannelSpec

MANIFEST = "flannel-v0.28.9/kube-flannel.yml"


def _find(objects: list[dict], kind: str) -> dict:
    return next(o for o in objects if o["kind"] == kind)


@pytest.fixture
def manifest(upstream_manifest):
    return upstream_manifest(MANIFEST)


@pytest.fixture
def flannel_applied(create_all, manifest):
    """Every object of the upstream manifest created through the API, then a minute of simulated time."""
    return create_all(manifest, 60)


def _pod_cidrs(running) -> dict[str, ipaddress.IPv4Network]:
    nodes = client.CoreV1Api(running.api_client()).list_node().items
    return {n.metadata.name: ipaddress.ip_network(n.spec.pod_cidr) for n in nodes}


def test_without_a_cni_every_node_is_not_ready(no_flannel_small):
    nodes = client.CoreV1Api(no_flannel_small.api_client()).list_node().items
    assert {next(c.status for c in n.status.conditions if c.type == "Ready") for n in nodes} == {"False"}


def test_upstream_manifest_runs_a_ready_flannel_pod_on_every_node(flannel_applied):
    core = client.CoreV1Api(flannel_applied.api_client())
    pods = core.list_namespaced_pod("kube-flannel", label_selector="app=flannel").items
    assert sorted(p.spec.node_name for p in pods) == sorted(_pod_cidrs(flannel_applied))
    for pod in pods:
        assert pod.status.phase == "Running"
        assert next(c.status for c in pod.status.conditions if c.type == "Ready") == "True"


def test_upstream_manifest_makes_every_node_ready(flannel_applied):
    nodes = client.CoreV1Api(flannel_applied.api_client()).list_node().items
    assert {next(c.status for c in n.status.conditions if c.type == "Ready") for n in nodes} == {"True"}


def test_upstream_manifest_creates_flannel_1_on_every_node(flannel_applied):
    for name, cidr in _pod_cidrs(flannel_applied).items():
        device = flannel_applied.cluster.ctx.hosts[name].interfaces["flannel.1"]
        assert (device.kind, device.vni, device.port, device.mtu) == ("vxlan", 1, 8472, 1450)
        assert device.addresses == [f"{cidr.network_address}/32"]


def test_upstream_manifest_writes_subnet_env_for_each_nodes_pod_cidr(flannel_applied):
    for name, cidr in _pod_cidrs(flannel_applied).items():
        env = dict(line.split("=", 1) for line in
                   flannel_applied.cluster.ctx.hosts[name].read_file("/run/flannel/subnet.env").splitlines())
        assert env == {"FLANNEL_NETWORK": "10.244.0.0/16", "FLANNEL_SUBNET": f"{cidr.network_address + 1}/24",
                       "FLANNEL_MTU": "1450", "FLANNEL_IPMASQ": "true"}


def test_upstream_manifest_installs_its_cni_conf_as_10_flannel_conflist(flannel_applied, manifest):
    expected = _find(manifest, "ConfigMap")["data"]["cni-conf.json"]
    for host in (flannel_applied.cluster.ctx.hosts[name] for name in _pod_cidrs(flannel_applied)):
        assert host.read_file("/etc/cni/net.d/10-flannel.conflist") == expected
        assert host.is_file("/opt/cni/bin/flannel")


def test_pods_created_after_flannel_get_ips_in_their_nodes_pod_cidr(flannel_applied):
    apps = client.AppsV1Api(flannel_applied.api_client())
    apps.create_namespaced_deployment("default", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "late"},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "late"}},
                 "template": {"metadata": {"labels": {"app": "late"}},
                              "spec": {"containers": [{"name": "late", "image": "registry.k8s.io/pause:3.10"}]}}}})
    flannel_applied.cluster.advance(30)
    pods = client.CoreV1Api(flannel_applied.api_client()).list_namespaced_pod("default", label_selector="app=late").items
    cidrs = _pod_cidrs(flannel_applied)
    assert len(pods) == 4
    for pod in pods:
        assert ipaddress.ip_address(pod.status.pod_ip) in cidrs[pod.spec.node_name]


def test_probe_counts_no_failed_flows_once_flannel_runs(flannel_applied):
    flannel_applied.cluster.network.reset_probe()
    flannel_applied.cluster.advance(60)
    probe = flannel_applied.cluster.network.probe
    assert probe.samples > 0
    assert probe.failed == 0


# ---- the simulator's own install against the upstream manifest -------------------------------

@pytest.fixture
def ours():
    return manifest_objects(FlannelSpec())


def _daemonset(objects):
    return _find(objects, "DaemonSet")


def test_builtin_install_uses_the_upstream_namespace(ours, manifest):
    assert _find(ours, "Namespace") == _find(manifest, "Namespace")


def test_builtin_install_names_the_daemonset_as_upstream(ours, manifest):
    assert ({k: _daemonset(ours)["metadata"][k] for k in ("name", "namespace", "labels")}
            == {k: _daemonset(manifest)["metadata"][k] for k in ("name", "namespace", "labels")})


def test_builtin_install_selects_and_labels_pods_as_upstream(ours, manifest):
    assert _daemonset(ours)["spec"]["selector"] == _daemonset(manifest)["spec"]["selector"]
    assert _daemonset(ours)["spec"]["template"]["metadata"] == _daemonset(manifest)["spec"]["template"]["metadata"]


def test_builtin_install_carries_the_upstream_configmap(ours, manifest):
    assert _find(ours, "ConfigMap") == _find(manifest, "ConfigMap")


def test_builtin_install_runs_flanneld_with_the_upstream_container(ours, manifest):
    mine = _daemonset(ours)["spec"]["template"]["spec"]["containers"]
    theirs = _daemonset(manifest)["spec"]["template"]["spec"]["containers"]
    assert mine == theirs


def test_builtin_install_runs_the_upstream_init_containers(ours, manifest):
    def commands(objects):
        return [(c["name"], c["image"], c["command"], c["args"], c["volumeMounts"])
                for c in _daemonset(objects)["spec"]["template"]["spec"]["initContainers"]]
    assert commands(ours) == commands(manifest)


def test_builtin_install_mounts_the_upstream_host_paths(ours, manifest):
    assert _daemonset(ours)["spec"]["template"]["spec"]["volumes"] == _daemonset(manifest)["spec"]["template"]["spec"]["volumes"]


def test_builtin_install_schedules_like_upstream(ours, manifest):
    keys = ("affinity", "hostNetwork", "priorityClassName", "tolerations", "serviceAccountName")
    mine, theirs = (_daemonset(o)["spec"]["template"]["spec"] for o in (ours, manifest))
    assert {k: mine[k] for k in keys} == {k: theirs[k] for k in keys}


def test_builtin_install_grants_flannel_the_upstream_rbac(ours, manifest):
    for kind in ("ClusterRole", "ClusterRoleBinding", "ServiceAccount"):
        assert _find(ours, kind) == _find(manifest, kind)


# ---- `kubectl delete -f kube-flannel.yml` --------------------------------------------------------

def _delete_as_kubectl_does(api, objects):
    """kubectl delete -f: each object of the file in order, background propagation."""
    from kubernetes.dynamic import DynamicClient
    dynamic = DynamicClient(api)
    for obj in objects:
        resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        dynamic.delete(resource, name=obj["metadata"]["name"], namespace=obj["metadata"].get("namespace"),
                       body={"propagationPolicy": "Background"})


def test_deleting_the_upstream_manifest_leaves_the_simulator_running(flannel_applied, manifest):
    # The namespace goes first: its kubelets then post events into a terminating namespace.
    _delete_as_kubectl_does(flannel_applied.api_client(), manifest)
    flannel_applied.cluster.advance(120)
    assert flannel_applied.cluster.errors == []


def test_deleting_the_upstream_manifest_removes_its_namespace_and_pods(flannel_applied, manifest):
    _delete_as_kubectl_does(flannel_applied.api_client(), manifest)
    flannel_applied.cluster.advance(120)
    core = client.CoreV1Api(flannel_applied.api_client())
    assert "kube-flannel" not in [n.metadata.name for n in core.list_namespace().items]
    assert core.list_pod_for_all_namespaces(label_selector="app=flannel").items == []
