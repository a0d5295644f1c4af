"""Calico's own flannel-migration manifest (v3.32.1) applied to the `small` Flannel cluster, and
what its calico-node does on a node labelled for Calico, with and without the preparation that
Calico's migration controller would have made."""
import copy
import ipaddress
import json

import pytest

MANIFEST = "calico-v3.32.1/flannel-migration/calico.yaml"
LABEL = "projectcalico.org/node-network-during-migration"
CALICO = "crd.projectcalico.org"


@pytest.fixture(scope="module")
def parsed_manifest(request):
    from pathlib import Path
    root = request.config.pluginmanager.get_plugin(str(Path(__file__).resolve().parents[1] / "conftest.py"))
    return root.upstream_manifest(MANIFEST)  # parsed once: the file is 7,800 lines


@pytest.fixture
def manifest(parsed_manifest):
    return copy.deepcopy(parsed_manifest)


@pytest.fixture
def applied(small_cluster, manifest):
    """Every object of the manifest created in `small`, then half a minute of simulated time."""
    for obj in manifest:
        small_cluster.create(obj)
    small_cluster.advance(30)
    return small_cluster


def label_for_calico(c, node="worker-2", wait=30):
    c.store.mutate(c.ctx.nodes, None, node, lambda n: n["metadata"]["labels"].__setitem__(LABEL, "calico"))
    c.advance(wait)


def calico_node_pods(c):
    return [p for p in c.store.items(c.ctx.pods, "kube-system") if (p["metadata"].get("labels") or {}).get("k8s-app") == "calico-node"]


def ready(pod):
    return any(x["type"] == "Ready" and x["status"] == "True" for x in pod["status"].get("conditions") or [])


def calico_objects(c, plural):
    return c.store.items(c.ctx.registry.lookup(CALICO, "v1", plural))


def pin(c, name, node):
    c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "demo"},
              "spec": {"nodeName": node, "containers": [{"name": "m", "image": "registry.k8s.io/pause:3.10"}]}})
    c.advance(5)
    return c.store.find(c.ctx.pods, "demo", name)


def test_every_object_of_the_manifest_can_be_created(small_cluster, manifest):
    created = [small_cluster.create(obj) for obj in manifest]
    assert len(created) == len(manifest)
    kinds = {o["kind"] for o in created}
    assert {"CustomResourceDefinition", "DaemonSet", "Deployment", "ConfigMap", "ClusterRole",
            "PodDisruptionBudget"} <= kinds


def test_the_manifest_can_be_applied_through_the_api(served_small, manifest):
    from kubernetes import client, utils

    api = served_small.api_client()
    for obj in manifest:
        utils.create_from_dict(api, obj)
    served_small.cluster.advance(5)
    ds = client.AppsV1Api(api).read_namespaced_daemon_set("calico-node", "kube-system")
    assert ds.spec.template.spec.node_selector[LABEL] == "calico"


def test_the_manifests_crds_are_served_once_created(applied):
    for plural in ("ippools", "blockaffinities", "ipamblocks", "felixconfigurations", "clusterinformations"):
        assert applied.ctx.registry.lookup(CALICO, "v1", plural) is not None


def test_calico_node_runs_nowhere_until_a_node_is_labelled_for_calico(applied):
    status = applied.store.find(applied.ctx.rtype("apps", "daemonsets"), "kube-system", "calico-node")["status"]
    assert status["desiredNumberScheduled"] == 0
    assert calico_node_pods(applied) == []


def test_labelling_a_node_for_calico_schedules_calico_node_there(applied):
    label_for_calico(applied)
    assert [p["spec"]["nodeName"] for p in calico_node_pods(applied)] == ["worker-2"]


def test_its_init_containers_run_in_order_and_complete(applied):
    label_for_calico(applied)
    [pod] = calico_node_pods(applied)
    statuses = pod["status"]["initContainerStatuses"]
    assert [s["name"] for s in statuses] == ["upgrade-ipam", "install-cni", "ebpf-bootstrap"]
    assert all(s["state"]["terminated"]["exitCode"] == 0 for s in statuses)


def test_install_cni_writes_calicos_config_from_calico_config(applied):
    c = applied
    label_for_calico(c)
    template = c.store.find(c.ctx.rtype("", "configmaps"), "kube-system", "calico-config")["data"]["cni_network_config"]
    expected = (template.replace("__KUBERNETES_NODE_NAME__", "worker-2").replace("__CNI_MTU__", "0")
                .replace("__KUBECONFIG_FILEPATH__", "/etc/cni/net.d/calico-kubeconfig"))
    host = c.ctx.hosts["worker-2"]
    assert host.read_file("/etc/cni/net.d/10-calico.conflist") == expected
    assert json.loads(expected)["plugins"][0]["nodename"] == "worker-2"
    assert host.is_file("/etc/cni/net.d/calico-kubeconfig")
    assert host.is_file("/opt/cni/bin/calico") and host.is_file("/opt/cni/bin/calico-ipam")
    assert not c.ctx.hosts["worker-1"].is_file("/etc/cni/net.d/10-calico.conflist")


def test_without_the_controllers_preparation_calico_node_creates_an_ipip_pool_from_kubeadms_pod_subnet(applied):
    # CALICO_IPV4POOL_CIDR is commented out in the manifest; calico-node reads kubeadm-config's
    # podSubnet, and the manifest asks for IPIP Always / VXLAN Never on that default pool.
    label_for_calico(applied)
    [pool] = calico_objects(applied, "ippools")
    assert pool["metadata"]["name"] == "default-ipv4-ippool"
    # assignmentMode: the IPPool CRD's schema defaults it (the apiserver fills it in on write)
    assert pool["spec"] == {"cidr": "10.244.0.0/16", "blockSize": 26, "ipipMode": "Always",
                            "vxlanMode": "Never", "natOutgoing": True, "nodeSelector": "all()",
                            "assignmentMode": "Automatic"}


def test_without_the_controllers_preparation_calico_node_is_ready_but_makes_no_vxlan_device(applied):
    # readiness is `calico-node -felix-ready` (the VXLAN backend runs no BIRD), which the pools do
    # not affect; with no VXLAN pool Felix has no VXLAN device to make.
    label_for_calico(applied)
    [pod] = calico_node_pods(applied)
    assert ready(pod)
    host = applied.ctx.hosts["worker-2"]
    assert "vxlan.calico" not in host.interfaces
    assert "flannel.1" in host.interfaces  # nothing removed Flannel from the node
    assert host.interfaces["tunl0"].addresses[0].startswith("10.244.")


def test_without_the_controllers_preparation_new_pods_on_the_node_use_calico_and_are_cut_off(applied):
    c = applied
    label_for_calico(c)
    pod = pin(c, "newcomer", "worker-2")
    # 10-calico.conflist sorts before 10-flannel.conflist: calico-ipam picks the address, from a
    # block of the IPIP pool, not from the node's Flannel podCIDR 10.244.2.0/24
    address = ipaddress.ip_address(pod["status"]["podIP"])
    assert address in ipaddress.ip_network("10.244.0.0/16")
    assert address not in ipaddress.ip_network("10.244.2.0/24")
    flannel_pod = next(p for p in c.store.items(c.ctx.pods, "demo") if p["spec"]["nodeName"] == "worker-1")
    assert not c.network.reach(("demo", flannel_pod["metadata"]["name"]), str(address)).ok


def test_calico_kube_controllers_runs(applied):
    pods = [p for p in applied.store.items(applied.ctx.pods, "kube-system")
            if (p["metadata"].get("labels") or {}).get("k8s-app") == "calico-kube-controllers"]
    assert len(pods) == 1 and ready(pods[0])


def test_with_the_controllers_preparation_the_manifests_calico_node_interoperates_with_flannel(
        small_cluster, manifest, prepare_calico, keep_flannel_off_calico_nodes, move_node_to_calico):
    c = small_cluster
    prepare_calico(c)  # what the migration controller does before the first node
    for obj in manifest:
        if obj["kind"] == "CustomResourceDefinition" and c.store.find(c.ctx.rtype("apiextensions.k8s.io",
                                                                              "customresourcedefinitions"),
                                                                 None, obj["metadata"]["name"]):
            continue  # already installed by the preparation
        c.create(obj)
    keep_flannel_off_calico_nodes(c)
    move_node_to_calico(c, "worker-2")
    [pod] = calico_node_pods(c)
    assert ready(pod)
    device = c.ctx.hosts["worker-2"].interfaces["vxlan.calico"]
    assert (device.vni, device.port, device.mtu) == (1, 8472, 1450)  # FELIX_VXLANMTU "0": auto-detected
    migrated = pin(c, "migrated", "worker-2")
    assert ipaddress.ip_address(migrated["status"]["podIP"]) in ipaddress.ip_network("10.244.2.0/24")
    for other in (p for p in c.store.items(c.ctx.pods, "demo") if p["spec"]["nodeName"] == "worker-1"):
        assert c.network.reach(("demo", other["metadata"]["name"]), migrated["status"]["podIP"]).ok
        assert c.network.reach(("demo", "migrated"), other["status"]["podIP"]).ok
