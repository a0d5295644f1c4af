"""Calico's manifest transformed for the live migration, against Calico's published calico.yaml
(skipped where ../shared/upstream is absent) and against the simulator's own release (always)."""
import json
from pathlib import Path

import pytest
import yaml

from migrate.calico_manifest import CalicoSettings, ManifestError, transform_manifest
from migrate.errors import UserError
from migrate.sim.calico_release import calico_release_manifest

LABEL = "projectcalico.org/node-network-during-migration"
SOURCES = ["upstream", "sim-release"]
IPAMS = ["calico-ipam", "host-local"]


def settings(ipam="calico-ipam", **overrides):
    values = dict(node_label=LABEL, node_label_value="calico", vxlan_mtu=1450, pool_cidr="10.244.0.0/16",
                  block_size=24, ipam=ipam)
    values.update(overrides)
    return CalicoSettings(**values)


@pytest.fixture(scope="module")
def upstream_dir(request):
    root = request.config.pluginmanager.get_plugin(str(Path(__file__).resolve().parent / "conftest.py"))
    return root.UPSTREAM / "calico-v3.32.1"


@pytest.fixture(scope="module")
def texts(upstream_dir):
    """source -> manifest text; the upstream file is read once, or is None where absent."""
    path = upstream_dir / "calico.yaml"
    return {"upstream": path.read_text() if path.exists() else None, "sim-release": calico_release_manifest()}


@pytest.fixture(scope="module")
def transformed(texts):
    """transformed(source, ipam) -> (original objects, TransformedManifest), each computed once."""
    cache = {}

    def get(source, ipam="calico-ipam"):
        text = texts[source]
        if text is None:
            pytest.skip("upstream manifests not available (../shared/upstream/calico-v3.32.1/calico.yaml is absent)")
        if (source, ipam) not in cache:
            original = [d for d in yaml.safe_load_all(text) if d]
            cache[source, ipam] = original, transform_manifest(text, settings(ipam))
        return cache[source, ipam]
    return get


def find(objects, kind, name):
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def pod_spec(objects):
    return find(objects, "DaemonSet", "calico-node")["spec"]["template"]["spec"]


def node_container(objects):
    return next(c for c in pod_spec(objects)["containers"] if c["name"] == "calico-node")


def env(objects):
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in node_container(objects)["env"]}


def config(objects):
    return find(objects, "ConfigMap", "calico-config")["data"]


def cni_config(objects, mtu="1450"):
    """The CNI config as install-cni writes it: placeholders substituted, then JSON."""
    template = config(objects)["cni_network_config"]
    text = (template.replace("__CNI_MTU__", mtu).replace("__KUBERNETES_NODE_NAME__", "worker-2")
            .replace("__KUBECONFIG_FILEPATH__", "/etc/cni/net.d/calico-kubeconfig"))
    return json.loads(text)


def calico_plugin(objects):
    return next(p for p in cni_config(objects)["plugins"] if p["type"] == "calico")


@pytest.mark.parametrize("source", SOURCES)
def test_calico_node_is_selected_by_the_migration_label_and_keeps_the_os_selector(transformed, source):
    original, result = transformed(source)
    assert pod_spec(original)["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod_spec(result.objects)["nodeSelector"] == {"kubernetes.io/os": "linux", LABEL: "calico"}


@pytest.mark.parametrize("source", SOURCES)
def test_the_backend_is_vxlan_with_no_bird_in_the_probes(transformed, source):
    original, result = transformed(source)
    assert config(original)["calico_backend"] == "bird"
    assert config(result.objects)["calico_backend"] == "vxlan"
    assert env(result.objects)["CALICO_NETWORKING_BACKEND"] == {
        "configMapKeyRef": {"name": "calico-config", "key": "calico_backend"}}
    container = node_container(result.objects)
    assert container["livenessProbe"]["exec"]["command"] == ["/bin/calico-node", "-felix-live"]
    assert container["readinessProbe"]["exec"]["command"] == ["/bin/calico-node", "-felix-ready"]


@pytest.mark.parametrize("source", SOURCES)
def test_calico_node_creates_no_pool_and_would_make_a_vxlan_one(transformed, source):
    _, result = transformed(source)
    variables = env(result.objects)
    assert variables["NO_DEFAULT_POOLS"] == "true"
    assert (variables["CALICO_IPV4POOL_IPIP"], variables["CALICO_IPV4POOL_VXLAN"]) == ("Never", "Always")
    assert variables["CALICO_IPV4POOL_BLOCK_SIZE"] == "24"
    # calico-node terminates when CALICO_IPV4POOL_CIDR is set together with NO_DEFAULT_POOLS
    assert "CALICO_IPV4POOL_CIDR" not in variables


@pytest.mark.parametrize("source", SOURCES)
def test_the_mtu_is_flannels(transformed, source):
    _, result = transformed(source)
    assert config(result.objects)["veth_mtu"] == "1450"
    assert env(result.objects)["FELIX_VXLANMTU"] == {"configMapKeyRef": {"name": "calico-config", "key": "veth_mtu"}}
    assert calico_plugin(result.objects)["mtu"] == 1450


@pytest.mark.parametrize("source", SOURCES)
def test_calico_node_takes_the_nodes_internal_ip_as_its_address_not_the_first_nic_found(transformed, source):
    original, result = transformed(source)
    assert env(original)["IP"] == env(result.objects)["IP"] == "autodetect"
    assert "IP_AUTODETECTION_METHOD" not in env(original)  # first-found
    assert env(result.objects)["IP_AUTODETECTION_METHOD"] == "kubernetes-internal-ip"


@pytest.mark.parametrize("source", SOURCES)
def test_calico_ipam_keeps_the_template_and_the_upgrade_container(transformed, source):
    original, result = transformed(source, "calico-ipam")
    assert config(result.objects)["cni_network_config"] == config(original)["cni_network_config"]
    assert calico_plugin(result.objects)["ipam"] == {"type": "calico-ipam"}
    assert [c["name"] for c in pod_spec(result.objects)["initContainers"]] == \
        [c["name"] for c in pod_spec(original)["initContainers"]]
    assert "USE_POD_CIDR" not in env(result.objects)
    assert not any("ipam" in line for line in result.changes)


@pytest.mark.parametrize("source", SOURCES)
def test_host_local_ipam_uses_each_nodes_pod_cidr(transformed, source):
    original, result = transformed(source, "host-local")
    assert calico_plugin(result.objects)["ipam"] == {"type": "host-local", "subnet": "usePodCidr"}
    template = config(result.objects)["cni_network_config"]
    assert '"mtu": __CNI_MTU__' in template and "__KUBERNETES_NODE_NAME__" in template
    # only the ipam object's text changed
    before = config(original)["cni_network_config"]
    start = before.index("{", before.index('"ipam"'))
    end = before.index("}", start) + 1
    assert template == before[:start] + '{"type": "host-local", "subnet": "usePodCidr"}' + before[end:]
    assert env(result.objects)["USE_POD_CIDR"] == "true"
    assert "upgrade-ipam" not in [c["name"] for c in pod_spec(result.objects)["initContainers"]]
    assert "install-cni" in [c["name"] for c in pod_spec(result.objects)["initContainers"]]


@pytest.mark.parametrize("ipam", IPAMS)
@pytest.mark.parametrize("source", SOURCES)
def test_every_change_is_listed_and_in_the_diff(transformed, source, ipam):
    _, result = transformed(source, ipam)
    ds, cm = "DaemonSet kube-system/calico-node: ", "ConfigMap kube-system/calico-config: "
    expected = [cm + "calico_backend bird -> vxlan", cm + "veth_mtu 0 -> 1450",
                ds + f"nodeSelector += {LABEL}=calico",
                ds + "container calico-node: env CALICO_IPV4POOL_IPIP Always -> Never",
                ds + "container calico-node: env CALICO_IPV4POOL_VXLAN Never -> Always",
                ds + "container calico-node: env CALICO_IPV4POOL_BLOCK_SIZE = 24 (added)",
                ds + "container calico-node: livenessProbe drops -bird-live (no BIRD with the VXLAN backend)",
                ds + "container calico-node: readinessProbe drops -bird-ready (no BIRD with the VXLAN backend)"]
    for line in expected:
        assert line in result.changes
    assert any(line.startswith(ds + "container calico-node: env NO_DEFAULT_POOLS = true (added")
               for line in result.changes)
    assert any(line.startswith(ds + "container calico-node: env IP_AUTODETECTION_METHOD = kubernetes-internal-ip "
                                    "(added: Calico keeps Flannel's node address") for line in result.changes)
    if ipam == "host-local":
        assert cm + "cni_network_config ipam calico-ipam -> host-local (subnet usePodCidr)" in result.changes
        assert any("initContainers -= upgrade-ipam" in line for line in result.changes)
    assert len(result.changes) == len(set(result.changes)) == len(expected) + 2 + 3 * (ipam == "host-local")
    diff = result.diff.splitlines()
    assert [line for line in diff if line.startswith("--- ")] == [
        "--- a/ConfigMap/kube-system/calico-config", "--- a/DaemonSet/kube-system/calico-node"]
    for fragment in ("-  calico_backend: bird", "+  calico_backend: vxlan", "+  veth_mtu: '1450'",
                     f"+        {LABEL}: calico", "-            - -bird-live", "-            - -bird-ready",
                     "+        - name: NO_DEFAULT_POOLS", "+          value: Never"):
        assert fragment in diff
    if ipam == "host-local":
        assert any(line.startswith("+") and "usePodCidr" in line for line in diff)
        assert "-      - name: upgrade-ipam" in diff


def test_it_makes_calicos_own_flannel_migration_changes(transformed, upstream_dir):
    # Calico's flannel-migration/calico.yaml differs from calico.yaml in exactly: calico_backend,
    # the DaemonSet's nodeSelector, and the BIRD probe flags. The transform makes the same three.
    path = upstream_dir / "flannel-migration" / "calico.yaml"
    if not path.exists():
        pytest.skip(f"upstream manifests not available ({path} is absent)")
    theirs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    _, result = transformed("upstream")
    assert config(result.objects)["calico_backend"] == config(theirs)["calico_backend"]
    assert pod_spec(result.objects)["nodeSelector"] == pod_spec(theirs)["nodeSelector"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert node_container(result.objects)[probe] == node_container(theirs)[probe]


@pytest.mark.parametrize("source", SOURCES)
def test_crds_come_first_and_everything_else_keeps_its_order(transformed, source):
    original, result = transformed(source)
    assert len(result.objects) == len(original)
    kinds = [o["kind"] for o in result.objects]
    crds = kinds.count("CustomResourceDefinition")
    assert crds >= 12 and set(kinds[:crds]) == {"CustomResourceDefinition"}
    names = lambda objs, crd: [(o["kind"], o["metadata"]["name"]) for o in objs
                               if (o["kind"] == "CustomResourceDefinition") == crd]
    assert names(result.objects, True) == names(original, True)
    assert names(result.objects, False) == names(original, False)


@pytest.mark.parametrize("ipam", IPAMS)
def test_transforming_twice_changes_nothing_more(transformed, ipam):
    _, once = transformed("sim-release", ipam)
    twice = transform_manifest(yaml.safe_dump_all(once.objects), settings(ipam))
    assert twice.objects == once.objects
    assert twice.changes == [] and twice.diff == ""


def test_transforming_twice_changes_nothing_more_upstream(transformed):
    _, once = transformed("upstream", "host-local")
    twice = transform_manifest(yaml.safe_dump_all(once.objects), settings("host-local"))
    assert twice.objects == once.objects and twice.changes == []


def test_it_is_deterministic_and_leaves_other_objects_alone(texts, transformed):
    original, once = transformed("sim-release")
    again = transform_manifest(texts["sim-release"], settings())
    assert (again.objects, again.changes, again.diff) == (once.objects, once.changes, once.diff)
    changed = {(o["kind"], o["metadata"]["name"]) for o in once.objects if o not in original}
    assert changed == {("ConfigMap", "calico-config"), ("DaemonSet", "calico-node")}


def test_switching_ipam_back_is_a_change_too(transformed):
    _, host_local = transformed("sim-release", "host-local")
    back = transform_manifest(yaml.safe_dump_all(host_local.objects), settings("calico-ipam"))
    assert calico_plugin(back.objects)["ipam"] == {"type": "calico-ipam"}
    assert "ConfigMap kube-system/calico-config: cni_network_config ipam host-local (subnet usePodCidr) -> " \
           "calico-ipam" in back.changes


FLANNEL = """apiVersion: v1
kind: ConfigMap
metadata: {name: kube-flannel-cfg, namespace: kube-flannel}
data: {net-conf.json: '{"Network": "10.244.0.0/16"}'}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: kube-flannel-ds, namespace: kube-flannel}
spec: {}
"""


@pytest.mark.parametrize("text, message", [
    (FLANNEL, "not a Calico manifest: no calico-node DaemonSet and no calico-config ConfigMap"),
    ("", "not a Calico manifest: no calico-node DaemonSet and no calico-config ConfigMap"),
    ("kind: [unclosed\n", "the Calico manifest is not YAML at line 2"),
    ("just a sentence\n", "document 1 of the Calico manifest is not a Kubernetes object"),
    ("- a\n- b\n", "document 1 of the Calico manifest is not a Kubernetes object"),
])
def test_text_that_is_not_a_calico_manifest_is_refused(text, message):
    with pytest.raises(ManifestError) as info:
        transform_manifest(text, settings())
    assert info.value.message == message
    assert isinstance(info.value, UserError) and isinstance(info.value, ValueError)
    assert info.value.hint and "\n" not in info.value.line()


def test_a_manifest_with_only_half_of_calico_is_refused(texts):
    objects = [d for d in yaml.safe_load_all(texts["sim-release"]) if d and d["kind"] != "DaemonSet"]
    with pytest.raises(ManifestError, match="no calico-node DaemonSet$"):
        transform_manifest(yaml.safe_dump_all(objects), settings())


@pytest.mark.parametrize("overrides, message", [
    ({"ipam": "whereabouts"}, "unknown IPAM 'whereabouts'"),
    ({"vxlan_mtu": 0}, "VXLAN MTU 0 is out of range"),
    ({"pool_cidr": "10.244.0.0/33"}, "pool CIDR '10.244.0.0/33' is not a network"),
    ({"block_size": 8}, "block size 8 does not fit pool 10.244.0.0/16"),
])
def test_unusable_settings_are_refused(texts, overrides, message):
    with pytest.raises(ManifestError) as info:
        transform_manifest(texts["sim-release"], settings(**overrides))
    assert info.value.message == message
