"""Containers run their image's programs whatever registry or repository the image is pulled from. A
real kubelet runs the image's entrypoint (or the pod's command) and never looks at the name; the
simulator has no image contents, so it recognises Flannel's and Calico's images by their last path
components, through the mirror naming schemes in use (a registry host and project in front, Rancher's
`rancher/mirrored-<org>-<name>`, a flattened `calico-<name>`)."""
import pytest

from migrate.sim.agents import (CalicoInstallCni, CalicoNode, Exits, Flanneld, InstallConf, Server, Shell,
                                program_for)
from migrate.sim.container import image_identity
from migrate.sim.flannel_install import manifest_objects
from migrate.sim.scenario import FlannelSpec

MIRRORS = [
    ("ghcr.io/flannel-io/flannel:v0.28.9", "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3"),
    ("rancher/mirrored-flannelcni-flannel:v0.19.2", "rancher/mirrored-flannelcni-flannel-cni-plugin:v1.1.0"),
    ("rancher/mirrored-flannel-flannel:v0.25.1", "rancher/mirrored-flannel-flannel-cni-plugin:v1.4.0-flannel1"),
    ("docker.io/flannel/flannel:v0.28.9", "docker.io/flannel/flannel-cni-plugin:v1.9.1-flannel3"),
    ("docker.io/flannelcni/flannel:v0.20.2", "docker.io/flannelcni/flannel-cni-plugin:v1.1.2"),
    ("registry.example.com/library/flannel/flannel:v0.28.9",
     "registry.example.com/library/flannel/flannel-cni-plugin:v1.9.1-flannel3"),
    ("quay.io/coreos/flannel:v0.15.1", "localhost:5000/flannel-cni-plugin:v1.0.0"),
    ("registry.example.com:5000/mirror/flannel@sha256:" + "0" * 64, "flannel/flannel-cni-plugin"),
]


def flannel_from(image: str, plugin_image: str) -> list[dict]:
    objects = manifest_objects(FlannelSpec())
    for obj in objects:
        if obj["kind"] == "DaemonSet":
            spec = obj["spec"]["template"]["spec"]
            for container in spec["initContainers"] + spec["containers"]:
                container["image"] = plugin_image if "cni-plugin" in container["image"] else image
    return objects


@pytest.fixture
def flannel_from_a_mirror(no_flannel_small):
    def install(image, plugin_image):
        c = no_flannel_small.cluster
        for obj in flannel_from(image, plugin_image):
            c.create(obj)
        c.advance(60)
        return c
    return install


def _ready(node) -> str:
    return next(c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready")


@pytest.mark.parametrize("image, plugin_image", MIRRORS)
def test_flannel_from_any_registry_makes_every_node_ready(flannel_from_a_mirror, image, plugin_image):
    c = flannel_from_a_mirror(image, plugin_image)
    assert {_ready(n) for n in c.store.items(c.ctx.nodes)} == {"True"}


@pytest.mark.parametrize("image, plugin_image", MIRRORS)
def test_flannels_init_containers_from_any_registry_complete(flannel_from_a_mirror, image, plugin_image):
    c = flannel_from_a_mirror(image, plugin_image)
    pods = c.store.items(c.ctx.pods, "kube-flannel")
    assert pods and {p["status"]["phase"] for p in pods} == {"Running"}
    for pod in pods:
        assert [s["state"]["terminated"]["reason"] for s in pod["status"]["initContainerStatuses"]] == [
            "Completed", "Completed"]


def test_a_mirrored_cni_plugin_image_carries_the_flannel_binary(flannel_from_a_mirror):
    c = flannel_from_a_mirror(*MIRRORS[1])
    assert all(host.is_file("/opt/cni/bin/flannel") for host in c.ctx.hosts.values())


# ---- recognising an image ---------------------------------------------------------------------

@pytest.mark.parametrize("image, identity", [
    ("ghcr.io/flannel-io/flannel:v0.28.9", ("flannel", "flannel")),
    ("rancher/mirrored-flannelcni-flannel:v0.19.2", ("flannel", "flannel")),
    ("rancher/mirrored-flannelcni-flannel-cni-plugin:v1.1.0", ("flannel", "flannel-cni-plugin")),
    ("flannel/flannel-cni-plugin", ("flannel", "flannel-cni-plugin")),
    ("quay.io/calico/node:v3.32.1", ("calico", "node")),
    ("rancher/mirrored-calico-cni:v3.26.1", ("calico", "cni")),
    ("registry.example.com/mirror/calico-kube-controllers:v3.32.1", ("calico", "kube-controllers")),
    ("harbor.example.com/proxy/calico/pod2daemon-flexvol:v3.26.5", ("calico", "pod2daemon-flexvol")),
    ("docker.io/library/busybox:1.36", ("", "busybox")),
    ("rancher/mirrored-library-busybox:1.36.1", ("", "busybox")),
    ("registry.example.com/team/cni:v1", ("", "cni")),
    ("registry.k8s.io/pause:3.10", ("", "pause")),
])
def test_image_identity_follows_the_mirror_naming_schemes(image, identity):
    assert image_identity(image) == identity


def _pod(*containers, init=()):
    return {"metadata": {"name": "p", "namespace": "kube-system"},
            "spec": {"containers": list(containers), "initContainers": list(init)}}


@pytest.mark.parametrize("image", ["rancher/mirrored-calico-node:v3.26.1", "registry.example.com/calico/node:v3.32.1",
                                   "registry.example.com/mirror/calico-node:v3.32.1"])
def test_calico_node_from_a_mirror_runs_calico_node(image):
    container = {"name": "calico-node", "image": image}
    assert type(program_for(_pod(container), container, False)) is CalicoNode


@pytest.mark.parametrize("image", ["rancher/mirrored-calico-cni:v3.26.1", "registry.example.com/calico/cni:v3.32.1"])
def test_calicos_cni_installer_from_a_mirror_installs_the_cni(image):
    container = {"name": "install-cni", "image": image, "command": ["/opt/cni/bin/install"]}
    assert type(program_for(_pod(container), container, True)) is CalicoInstallCni


def test_a_cni_image_that_is_not_calicos_is_not_calico():
    container = {"name": "install-cni", "image": "registry.example.com/team/cni:v1", "command": ["/opt/cni/bin/install"]}
    assert type(program_for(_pod(container), container, True)) is Server


def test_mirrored_flannel_without_a_command_runs_flanneld():
    container = {"name": "kube-flannel", "image": "rancher/mirrored-flannelcni-flannel:v0.19.2"}
    assert type(program_for(_pod(container), container, False)) is Flanneld


def test_mirrored_flannels_install_conf_runs_it():
    container = {"name": "install-cni", "image": "rancher/mirrored-flannelcni-flannel:v0.19.2",
                 "command": ["/opt/bin/install-conf"], "args": ["/etc/kube-flannel/cni-conf.json", "/etc/cni/net.d/x"]}
    assert type(program_for(_pod(container), container, True)) is InstallConf


def test_a_mirrored_cni_plugin_images_cp_runs_in_its_shell():
    container = {"name": "install-cni-plugin", "image": "rancher/mirrored-flannelcni-flannel-cni-plugin:v1.1.0",
                 "command": ["cp"], "args": ["-f", "/flannel", "/opt/cni/bin/flannel"]}
    assert type(program_for(_pod(container), container, True)) is Shell


def test_calico_nodes_init_step_from_a_mirror_exits():
    container = {"name": "upgrade-ipam", "image": "rancher/mirrored-calico-cni:v3.26.1",
                 "command": ["/opt/cni/bin/calico-ipam", "-upgrade"]}
    assert type(program_for(_pod(container), container, True)) is Exits


# An application image the simulator knows nothing of runs its own entrypoint: a long-running process
# (the simulator cannot tell a server from a one-shot binary by its name, and servers are the rule).
def test_an_unknown_image_without_a_command_runs_as_a_long_running_server():
    container = {"name": "app", "image": "registry.example.com/team/app:v1"}
    assert type(program_for(_pod(container), container, False)) is Server


@pytest.mark.parametrize("image,has_nft", [("docker.io/flannel/flannel:v0.24.4", False),
                                          ("rancher/mirrored-flannelcni-flannel:v0.19.2", False),
                                          ("ghcr.io/flannel-io/flannel:v0.25.0", True),
                                          ("ghcr.io/flannel-io/flannel:v0.28.9", True)])
def test_flannels_image_ships_nft_from_v0_25_0(image, has_nft):
    # flannel images/Dockerfile: nftables joins `apk add` in v0.25.0 (v0.24.4 installs iptables only)
    from migrate.sim.container import container_view
    from migrate.sim.host import HostState, run_shell
    pod = {"spec": {"hostNetwork": True}}
    view = container_view(HostState("node-a", host_ip="192.168.0.10/24"), pod,
                          {"image": image, "securityContext": {"privileged": True}}, {}, {})
    result = run_shell(view, ["sh", "-c", "nft list tables"])
    assert (result.exit_code == 0) is has_nft
    if not has_nft:
        assert result.exit_code == 127 and "nft: not found" in result.stderr
