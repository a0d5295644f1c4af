"""Flannel's manifests of past releases (kube-system, a policy/v1beta1 PodSecurityPolicy first) applied with a
real kubectl to a simulated cluster with no CNI yet, as users applied them to real clusters.

A v1.26.5 apiserver (and kubectl 1.32) answered: kubectl validates the PodSecurityPolicy on the client (the
server's OpenAPI v3 does not describe policy/v1beta1, so kubectl reads /openapi/v2 for it), applies every other
object, then reports the one kind the server does not serve and exits 1."""
import json

import pytest
import yaml

from migrate.sim.flannel_install import kube_system_release_objects


@pytest.fixture
def manifest(tmp_path):
    def write(version):
        path = tmp_path / f"kube-flannel-{version}.yml"
        path.write_text(yaml.safe_dump_all(kube_system_release_objects(version), sort_keys=False))
        return path
    return write


def _mapping_error(path, name, kind, version):
    return (f'resource mapping not found for name: "{name}" namespace: "" from "{path}": no matches for kind "{kind}" '
            f'in version "{version}"\nensure CRDs are installed first')


def _flannel_pods(kubectl, running):
    return json.loads(kubectl(running, "get", "pods", "-n", "kube-system", "-l", "app=flannel", "-o", "json").stdout)[
        "items"]


def test_apply_creates_everything_but_the_pod_security_policy_and_reports_it(no_flannel_small, kubectl, manifest):
    path = manifest("v0.18.1")
    result = kubectl(no_flannel_small, "apply", "-f", str(path), check=False)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "clusterrole.rbac.authorization.k8s.io/flannel created",
        "clusterrolebinding.rbac.authorization.k8s.io/flannel created", "serviceaccount/flannel created",
        "configmap/kube-flannel-cfg created", "daemonset.apps/kube-flannel-ds created"]
    assert _mapping_error(path, "psp.flannel.unprivileged", "PodSecurityPolicy", "policy/v1beta1") in result.stderr


def test_flannel_v0_18_1_in_kube_system_runs_a_ready_pod_on_every_node(no_flannel_small, kubectl, manifest):
    kubectl(no_flannel_small, "apply", "-f", str(manifest("v0.18.1")), check=False)
    no_flannel_small.cluster.advance(60)
    pods = _flannel_pods(kubectl, no_flannel_small)
    nodes = json.loads(kubectl(no_flannel_small, "get", "nodes", "-o", "json").stdout)["items"]
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(n["metadata"]["name"] for n in nodes)
    assert all(c["status"] == "True" for p in pods for c in p["status"]["conditions"] if c["type"] == "Ready")
    assert all(c["status"] == "True" for n in nodes for c in n["status"]["conditions"] if c["type"] == "Ready")


def test_flannel_v0_14_0_in_kube_system_runs_kube_flannel_ds_on_every_node(no_flannel_small, kubectl, manifest):
    result = kubectl(no_flannel_small, "apply", "-f", str(manifest("v0.14.0")), check=False)
    assert "daemonset.apps/kube-flannel-ds created" in result.stdout
    no_flannel_small.cluster.advance(60)
    pods = _flannel_pods(kubectl, no_flannel_small)
    assert len(pods) == 3 and {p["metadata"]["ownerReferences"][0]["name"] for p in pods} == {"kube-flannel-ds"}
    assert all(p["status"]["phase"] == "Running" for p in pods)


def test_flannel_v0_12_0_reports_its_rbac_v1beta1_objects_and_creates_a_daemonset_per_architecture(
        no_flannel_small, kubectl, manifest):
    path = manifest("v0.12.0")
    result = kubectl(no_flannel_small, "apply", "-f", str(path), check=False)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "serviceaccount/flannel created", "configmap/kube-flannel-cfg created",
        *(f"daemonset.apps/kube-flannel-ds-{arch} created" for arch in ("amd64", "arm64", "arm", "ppc64le", "s390x"))]
    for name, kind in (("psp.flannel.unprivileged", "PodSecurityPolicy"), ("flannel", "ClusterRole"),
                       ("flannel", "ClusterRoleBinding")):
        version = "policy/v1beta1" if kind == "PodSecurityPolicy" else "rbac.authorization.k8s.io/v1beta1"
        assert _mapping_error(path, name, kind, version) in result.stderr
    no_flannel_small.cluster.advance(30)
    owners = {p["metadata"]["ownerReferences"][0]["name"] for p in _flannel_pods(kubectl, no_flannel_small)}
    assert owners == {"kube-flannel-ds-amd64"}  # every simulated node is amd64
