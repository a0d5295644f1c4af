"""The simulator's own Calico release: its shape, and calico-node running from it on the `small`
Flannel cluster, as published (every node) and transformed for the migration (labelled nodes)."""
import copy
import json

import pytest
import yaml

from migrate.sim.agents import CalicoInstallCni, CalicoNode, Exits, program_for
from migrate.sim.calico_release import calico_release_manifest

LABEL = "projectcalico.org/node-network-during-migration"
CALICO = "crd.projectcalico.org"
USED_PLURALS = {"ippools", "felixconfigurations", "ipamblocks", "blockaffinities", "ipamhandles", "ipamconfigs",
                "globalnetworkpolicies", "networkpolicies", "clusterinformations", "hostendpoints",
                "bgpconfigurations", "kubecontrollersconfigurations"}


@pytest.fixture(scope="module")
def release_text():
    return calico_release_manifest()


@pytest.fixture
def release(release_text):
    return [d for d in yaml.safe_load_all(release_text) if d]


def find(objects, kind, name):
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def calico_node_pods(c):
    return [p for p in c.store.items(c.ctx.pods, "kube-system")
            if (p["metadata"].get("labels") or {}).get("k8s-app") == "calico-node"]


def ready(pod):
    return any(x["type"] == "Ready" and x["status"] == "True" for x in pod["status"].get("conditions") or [])


def apply(c, objects, wait=30):
    for obj in objects:
        c.create(obj)
    c.advance(wait)


def transformed(text, ipam="calico-ipam"):
    from migrate.calico_manifest import CalicoSettings, transform_manifest
    return transform_manifest(text, CalicoSettings(LABEL, "calico", 1450, "10.244.0.0/16", 24, ipam)).objects


def test_it_parses_and_has_the_official_manifests_kinds(release):
    kinds = {o["kind"] for o in release}
    assert kinds == {"CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap",
                     "DaemonSet", "Deployment", "PodDisruptionBudget"}
    for name in ("calico-node", "calico-kube-controllers", "calico-cni-plugin"):
        assert find(release, "ServiceAccount", name)["metadata"]["namespace"] == "kube-system"
        binding = find(release, "ClusterRoleBinding", name)
        assert binding["roleRef"]["name"] == find(release, "ClusterRole", name)["metadata"]["name"]
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": "kube-system"}]
    assert find(release, "Deployment", "calico-kube-controllers")["metadata"]["namespace"] == "kube-system"


def test_its_crds_cover_what_the_migration_uses(release):
    crds = [o for o in release if o["kind"] == "CustomResourceDefinition"]
    assert USED_PLURALS <= {crd["spec"]["names"]["plural"] for crd in crds}
    for crd in crds:
        assert crd["spec"]["group"] == CALICO and crd["metadata"]["name"].endswith("." + CALICO)
        [version] = crd["spec"]["versions"]
        assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
        assert version["schema"]["openAPIV3Schema"]["x-kubernetes-preserve-unknown-fields"] is True
    assert len({crd["metadata"]["name"] for crd in crds}) == len(crds)


def test_calico_config_is_as_published(release):
    data = find(release, "ConfigMap", "calico-config")["data"]
    assert (data["calico_backend"], data["veth_mtu"]) == ("bird", "0")
    conf = json.loads(data["cni_network_config"].replace("__CNI_MTU__", "0"))
    assert conf["plugins"][0]["ipam"] == {"type": "calico-ipam"}
    assert conf["plugins"][0]["nodename"] == "__KUBERNETES_NODE_NAME__"


def test_its_images_carry_the_version_and_the_simulator_runs_them(release_text):
    objects = [d for d in yaml.safe_load_all(calico_release_manifest("v3.31.0")) if d]
    ds = find(objects, "DaemonSet", "calico-node")
    pod = ds["spec"]["template"]
    inits, [node] = pod["spec"]["initContainers"], pod["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in inits] == [("upgrade-ipam", "docker.io/calico/cni:v3.31.0"),
                                                         ("install-cni", "docker.io/calico/cni:v3.31.0")]
    assert node["image"] == "docker.io/calico/node:v3.31.0"
    assert [type(program_for(pod, c, True)) for c in inits] == [Exits, CalicoInstallCni]
    assert type(program_for(pod, node, False)) is CalicoNode
    assert "v3.31.0" not in release_text and "docker.io/calico/node:v3.32.1" in release_text
    with pytest.raises(ValueError):
        calico_release_manifest("v3.32.1 evil: yes")


def test_the_daemonset_has_the_official_env_and_probes(release):
    [node] = find(release, "DaemonSet", "calico-node")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in node["env"]}
    assert env["CALICO_NETWORKING_BACKEND"] == {"configMapKeyRef": {"name": "calico-config", "key": "calico_backend"}}
    assert (env["CALICO_IPV4POOL_IPIP"], env["CALICO_IPV4POOL_VXLAN"]) == ("Always", "Never")
    assert "CALICO_IPV4POOL_CIDR" not in env and "NO_DEFAULT_POOLS" not in env
    assert node["readinessProbe"]["exec"]["command"] == ["/bin/calico-node", "-felix-ready", "-bird-ready"]


def test_its_shape_follows_the_official_manifest(release, upstream_manifest):
    official = upstream_manifest("calico-v3.32.1/calico.yaml")
    names = lambda objs: {(o["kind"], o["metadata"]["name"]) for o in objs}
    assert names(release) <= names(official)
    ours, theirs = (find(objs, "DaemonSet", "calico-node")["spec"]["template"]["spec"] for objs in (release, official))
    assert [c["name"] for c in ours["initContainers"]] == [c["name"] for c in theirs["initContainers"]
                                                            if c["name"] != "ebpf-bootstrap"]
    assert [e["name"] for e in ours["containers"][0]["env"]] == [e["name"] for e in theirs["containers"][0]["env"]]
    for probe in ("livenessProbe", "readinessProbe"):
        assert ours["containers"][0][probe] == theirs["containers"][0][probe]
    assert find(release, "ConfigMap", "calico-config")["data"].keys() == \
        find(official, "ConfigMap", "calico-config")["data"].keys()


def test_as_published_calico_node_gets_ready_on_every_node(small_cluster, release):
    c = small_cluster
    apply(c, release)
    pods = calico_node_pods(c)
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(c.ctx.hosts)
    assert all(ready(p) for p in pods)
    controllers = [p for p in c.store.items(c.ctx.pods, "kube-system")
                   if (p["metadata"].get("labels") or {}).get("k8s-app") == "calico-kube-controllers"]
    assert len(controllers) == 1 and ready(controllers[0])


@pytest.mark.parametrize("ipam", ["calico-ipam", "host-local"])
def test_transformed_for_the_migration_calico_node_runs_only_on_the_labelled_node(small_cluster, release_text, ipam):
    c = small_cluster
    apply(c, transformed(release_text, ipam))
    assert calico_node_pods(c) == []
    c.store.mutate(c.ctx.nodes, None, "worker-2", lambda n: n["metadata"]["labels"].__setitem__(LABEL, "calico"))
    c.advance(30)
    [pod] = calico_node_pods(c)
    assert pod["spec"]["nodeName"] == "worker-2" and ready(pod)
    inits = [s["name"] for s in pod["status"]["initContainerStatuses"]]
    assert inits == (["upgrade-ipam", "install-cni"] if ipam == "calico-ipam" else ["install-cni"])
    conf = json.loads(c.ctx.hosts["worker-2"].read_file("/etc/cni/net.d/10-calico.conflist"))
    plugin = conf["plugins"][0]
    assert (plugin["nodename"], plugin["mtu"]) == ("worker-2", 1450)
    expected_ipam = {"type": "calico-ipam"} if ipam == "calico-ipam" else {"type": "host-local", "subnet": "usePodCidr"}
    assert plugin["ipam"] == expected_ipam
    assert not c.ctx.hosts["worker-1"].is_file("/etc/cni/net.d/10-calico.conflist")
    # NO_DEFAULT_POOLS: calico-node made no pool of its own
    assert c.store.items(c.ctx.registry.lookup(CALICO, "v1", "ippools")) == []


def test_the_release_can_be_applied_through_the_api(served_small, release):
    from kubernetes import client, utils

    api = served_small.api_client()
    for obj in release:
        utils.create_from_dict(api, obj)
    served_small.cluster.advance(5)
    ds = client.AppsV1Api(api).read_namespaced_daemon_set("calico-node", "kube-system")
    assert ds.spec.template.spec.containers[0].image == "docker.io/calico/node:v3.32.1"


# ---- calico-typha.yaml ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def typha_release():
    return [d for d in yaml.safe_load_all(calico_release_manifest(typha=True)) if d]


def test_the_typha_variant_adds_what_calico_typha_yaml_adds(release, typha_release, upstream_calico_file):
    official = [d for d in yaml.safe_load_all(upstream_calico_file("v3.32.1", "manifests/calico-typha.yaml")) if d]
    names = lambda objs: [(o["kind"], o["metadata"]["name"]) for o in objs]
    added = [n for n in names(typha_release) if n not in names(release)]
    assert added == [n for n in names(official) if n[1] == "calico-typha"] == [
        ("PodDisruptionBudget", "calico-typha"), ("Service", "calico-typha"), ("Deployment", "calico-typha")]
    for kind in ("PodDisruptionBudget", "Service"):
        assert find(typha_release, kind, "calico-typha") == find(official, kind, "calico-typha")
    ours, theirs = (copy.deepcopy(find(objs, "Deployment", "calico-typha")) for objs in (typha_release, official))
    for deployment in (ours, theirs):  # the simulator's images come from its own registry
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container.pop("image").endswith("/typha:v3.32.1")
    assert ours == theirs
    assert find(typha_release, "ConfigMap", "calico-config")["data"]["typha_service_name"] == "calico-typha" == \
        find(official, "ConfigMap", "calico-config")["data"]["typha_service_name"]
    node_env = lambda objs: [e for e in find(objs, "DaemonSet", "calico-node")["spec"]["template"]["spec"][
        "containers"][0]["env"] if e["name"] == "FELIX_TYPHAK8SSERVICENAME"]
    assert node_env(typha_release) == node_env(official) == [
        {"name": "FELIX_TYPHAK8SSERVICENAME",
         "valueFrom": {"configMapKeyRef": {"name": "calico-config", "key": "typha_service_name"}}}]


def typha_pods(c):
    return [p for p in c.store.items(c.ctx.pods, "kube-system")
            if (p["metadata"].get("labels") or {}).get("k8s-app") == "calico-typha"]


def test_with_typha_calico_node_is_not_ready_until_a_typha_replica_is(small_cluster, typha_release):
    c = small_cluster
    objects = copy.deepcopy(typha_release)
    find(objects, "Deployment", "calico-typha")["spec"]["replicas"] = 0
    apply(c, objects, wait=90)
    assert typha_pods(c) == [] and calico_node_pods(c)
    assert not any(ready(p) for p in calico_node_pods(c))
    c.store.mutate(c.ctx.rtype("apps", "deployments"), "kube-system", "calico-typha",
                   lambda d: d["spec"].__setitem__("replicas", 1))
    c.advance(30)
    [typha] = typha_pods(c)
    assert ready(typha) and typha["status"]["podIP"] == c.network.node_ip(typha["spec"]["nodeName"])  # hostNetwork
    assert all(ready(p) for p in calico_node_pods(c))


def test_calico_node_of_calico_yaml_needs_no_typha(small_cluster, release):
    c = small_cluster
    apply(c, release)
    assert typha_pods(c) == [] and all(ready(p) for p in calico_node_pods(c))
