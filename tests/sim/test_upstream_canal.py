"""Calico v3.32.1's canal.yaml applied through the API to a cluster with no CNI, and the simulator's built-in
Canal install checked against it."""
import pytest
from kubernetes import client

from migrate.sim.flannel_install import canal_objects
from migrate.sim.scenario import FlannelSpec

MANIFEST = "calico-v3.32.1/canal.yaml"
# What canal.yaml has that the built-in install leaves out: the RBAC kube-controller-manager needs for
# Calico's tiered policies, which nothing in the simulator reads.
LEFT_OUT = {("ClusterRole", "calico-tier-getter"), ("ClusterRoleBinding", "calico-tier-getter")}


@pytest.fixture
def manifest(upstream_manifest):
    return upstream_manifest(MANIFEST)


def _kinds_and_names(objects):
    return {(o["kind"], o["metadata"]["name"]) for o in objects if o["kind"] != "CustomResourceDefinition"}


def _daemonset(objects):
    return next(o for o in objects if o["kind"] == "DaemonSet")


def _env_names(container):
    return sorted(e["name"] for e in container.get("env") or [])


def test_the_built_in_canal_installs_the_objects_canal_yaml_does(manifest):
    ours = canal_objects(FlannelSpec(flavor="canal"))
    assert _kinds_and_names(manifest) - _kinds_and_names(ours) == LEFT_OUT
    assert _kinds_and_names(ours) <= _kinds_and_names(manifest)


def test_the_built_in_canal_daemonset_has_canal_yamls_containers_and_environment(manifest):
    real, ours = _daemonset(manifest), _daemonset(canal_objects(FlannelSpec(flavor="canal")))
    real_spec, our_spec = real["spec"]["template"]["spec"], ours["spec"]["template"]["spec"]
    assert [c["name"] for c in our_spec["containers"]] == [c["name"] for c in real_spec["containers"]]
    for real_container, our_container in zip(real_spec["containers"], our_spec["containers"]):
        assert _env_names(our_container) == _env_names(real_container)
        assert our_container.get("command") == real_container.get("command")
    real_cni = next(c for c in real_spec["initContainers"] if c["name"] == "install-cni")
    our_cni = next(c for c in our_spec["initContainers"] if c["name"] == "install-cni")
    assert _env_names(our_cni) == _env_names(real_cni)
    assert our_spec["serviceAccountName"] == real_spec["serviceAccountName"] == "canal"


def test_the_built_in_canal_config_has_canal_yamls_cni_template(manifest):
    real = next(o for o in manifest if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "canal-config")
    ours = next(o for o in canal_objects(FlannelSpec(flavor="canal")) if o["kind"] == "ConfigMap")
    assert ours["data"]["cni_network_config"] == real["data"]["cni_network_config"]
    assert set(ours["data"]) == set(real["data"])


@pytest.fixture
def canal_applied(create_all, manifest):
    return create_all(manifest, 120)


def test_canal_yaml_runs_policy_only_calico_node_beside_flannel_with_host_local_pod_cidr_ipam(canal_applied):
    cluster = canal_applied.cluster
    core = client.CoreV1Api(canal_applied.api_client())
    pods = core.list_namespaced_pod("kube-system", label_selector="k8s-app=canal").items
    assert pods and all(next(c.status for c in p.status.conditions if c.type == "Ready") == "True" for p in pods)
    for node in core.list_node().items:
        host = cluster.ctx.hosts[node.metadata.name]
        assert "flannel.1" in host.interfaces and "vxlan.calico" not in host.interfaces and "cni0" not in host.interfaces
        assert '"subnet": "usePodCidr"' in host.read_file("/etc/cni/net.d/10-canal.conflist")


def test_canal_yaml_creates_calicos_default_objects_at_start(canal_applied):
    custom = client.CustomObjectsApi(canal_applied.api_client())
    [pool] = custom.list_cluster_custom_object("crd.projectcalico.org", "v1", "ippools")["items"]
    assert (pool["spec"]["vxlanMode"], pool["spec"]["ipipMode"]) == ("Never", "Never")
    for plural in ("felixconfigurations", "clusterinformations"):
        [default] = custom.list_cluster_custom_object("crd.projectcalico.org", "v1", plural)["items"]
        assert default["metadata"]["name"] == "default"
    info = custom.get_cluster_custom_object("crd.projectcalico.org", "v1", "clusterinformations", "default")
    assert "canal" in info["spec"]["clusterType"].split(",")


def test_canal_yaml_enforces_network_policy_on_every_node(canal_applied):
    cluster = canal_applied.cluster
    cluster.create({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                    "metadata": {"name": "deny-all", "namespace": "demo"},
                    "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})
    cluster.network.reset_probe()
    cluster.advance(30)
    assert cluster.network.probe.denied_by_policy > 0 and cluster.network.probe.failed == 0
    assert cluster.network.felix_nodes == set(cluster.ctx.hosts)


def test_kubectl_apply_of_canal_yaml_runs_a_ready_canal_pod_on_every_node(no_flannel_small, kubectl, upstream_file):
    import json
    result = kubectl(no_flannel_small, "apply", "--server-side", "-f", str(upstream_file(MANIFEST)), timeout=180)
    assert "daemonset.apps/canal serverside-applied" in result.stdout
    no_flannel_small.cluster.advance(120)
    pods = json.loads(kubectl(no_flannel_small, "get", "pods", "-n", "kube-system", "-l", "k8s-app=canal", "-o",
                              "json").stdout)["items"]
    nodes = json.loads(kubectl(no_flannel_small, "get", "nodes", "-o", "json").stdout)["items"]
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(n["metadata"]["name"] for n in nodes)
    assert all(c["status"] == "True" for p in pods for c in p["status"]["conditions"] if c["type"] == "Ready")


def test_canals_flanneld_keeps_subnet_env_in_its_container_not_on_the_host(canal_applied):
    """canal.yaml mounts no /run/flannel into kube-flannel, so the file flanneld writes stays in the container
    (Calico's migration controller reads it with exec: flannelmigration/migration_controller.go)."""
    for host in canal_applied.cluster.ctx.hosts.values():
        assert "flannel.1" in host.interfaces and not host.exists("/run/flannel/subnet.env")
