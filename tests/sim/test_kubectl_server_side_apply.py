"""`kubectl apply --server-side` of the upstream manifests and of single objects against the simulator, as a real
kubectl and a kube-apiserver v1.26.5 answered them (server_side_apply.py)."""
import json

import pytest

from migrate.sim.cluster import running_cluster
from migrate.sim.scenario import load_scenario

FLANNEL = "flannel-v0.28.9/kube-flannel.yml"


@pytest.fixture
def flannel_file(upstream_file):
    return str(upstream_file(FLANNEL))


def _resource_versions(kubectl, running, namespace):
    listing = json.loads(kubectl(running, "get", "all,configmaps,serviceaccounts", "-n", namespace, "-o", "json").stdout)
    return {(o["kind"], o["metadata"]["name"]): o["metadata"]["resourceVersion"] for o in listing["items"]}


def test_server_side_apply_of_the_flannel_manifest_applies_every_object(no_flannel_small, kubectl, flannel_file):
    out = kubectl(no_flannel_small, "apply", "--server-side", "-f", flannel_file).stdout
    assert out.splitlines() == [
        "namespace/kube-flannel serverside-applied", "clusterrole.rbac.authorization.k8s.io/flannel serverside-applied",
        "clusterrolebinding.rbac.authorization.k8s.io/flannel serverside-applied",
        "serviceaccount/flannel serverside-applied", "configmap/kube-flannel-cfg serverside-applied",
        "daemonset.apps/kube-flannel-ds serverside-applied"]


def test_server_side_applied_flannel_runs_on_every_node(no_flannel_small, kubectl, flannel_file):
    kubectl(no_flannel_small, "apply", "--server-side", "-f", flannel_file)
    no_flannel_small.cluster.advance(60)
    pods = json.loads(kubectl(no_flannel_small, "get", "pods", "-n", "kube-flannel", "-o", "json").stdout)["items"]
    assert len(pods) == 3 and all(p["status"]["phase"] == "Running" for p in pods)


def test_the_daemonset_is_managed_by_kubectl_as_an_apply(no_flannel_small, kubectl, flannel_file):
    kubectl(no_flannel_small, "apply", "--server-side", "-f", flannel_file)
    ds = json.loads(kubectl(no_flannel_small, "get", "daemonset", "-n", "kube-flannel", "kube-flannel-ds", "-o", "json",
                            "--show-managed-fields").stdout)
    [entry] = [e for e in ds["metadata"]["managedFields"] if e["manager"] == "kubectl"]
    assert entry["operation"] == "Apply"
    container = entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"kube-flannel"}']
    assert container["f:env"]['k:{"name":"POD_NAME"}'] == {".": {}, "f:name": {}, "f:valueFrom": {"f:fieldRef": {}}}


def test_applying_the_same_manifest_again_writes_nothing(no_flannel_small, kubectl, flannel_file):
    kubectl(no_flannel_small, "apply", "--server-side", "-f", flannel_file)
    before = _resource_versions(kubectl, no_flannel_small, "kube-flannel")
    kubectl(no_flannel_small, "apply", "--server-side", "-f", flannel_file)
    after = _resource_versions(kubectl, no_flannel_small, "kube-flannel")
    assert {k: v for k, v in after.items() if k in before and k[0] in ("ConfigMap", "DaemonSet")} == \
        {k: v for k, v in before.items() if k[0] in ("ConfigMap", "DaemonSet")}


# The client-side apply recorded the server's defaults of each env var's fieldRef (apiVersion: v1) as
# kubectl-client-side-apply's; the manifest's fieldRef, an atomic ObjectFieldSelector without apiVersion, changes
# them. Everything else kubectl's last-applied annotation still describes is taken over without a conflict.
def test_server_side_apply_after_client_side_apply_conflicts_on_the_defaulted_field_refs(no_flannel_small, kubectl,
                                                                                         flannel_file):
    kubectl(no_flannel_small, "apply", "-f", flannel_file)
    result = kubectl(no_flannel_small, "apply", "--server-side", "-f", flannel_file, check=False)
    assert result.returncode == 1
    assert "configmap/kube-flannel-cfg serverside-applied" in result.stdout
    assert result.stderr.startswith(
        'error: Apply failed with 2 conflicts: conflicts with "kubectl-client-side-apply" using apps/v1:\n'
        '- .spec.template.spec.containers[name="kube-flannel"].env[name="POD_NAME"].valueFrom.fieldRef\n'
        '- .spec.template.spec.containers[name="kube-flannel"].env[name="POD_NAMESPACE"].valueFrom.fieldRef\n')


def test_force_conflicts_takes_the_fields_over(no_flannel_small, kubectl, flannel_file):
    kubectl(no_flannel_small, "apply", "-f", flannel_file)
    out = kubectl(no_flannel_small, "apply", "--server-side", "--force-conflicts", "-f", flannel_file).stdout
    assert "daemonset.apps/kube-flannel-ds serverside-applied" in out


def test_server_side_apply_of_a_single_object(no_flannel_small, kubectl, tmp_path):
    path = tmp_path / "cm.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\n"
                    "data:\n  mode: fast\n")
    assert kubectl(no_flannel_small, "apply", "--server-side", "-f", str(path)).stdout == \
        "configmap/settings serverside-applied\n"
    settings = json.loads(kubectl(no_flannel_small, "get", "configmap", "settings", "-o", "json",
                                  "--show-managed-fields").stdout)
    assert [(e["manager"], e["operation"]) for e in settings["metadata"]["managedFields"]] == [("kubectl", "Apply")]


# Calico v3.32.1's CRDs carry x-kubernetes-validations[].reason, which ValidationRule does not declare on a v1.26
# server: converting the applied CRD to a typed value fails (500), as on a v1.26.5 apiserver; the other objects
# of the manifest are applied.
def test_server_side_apply_of_the_calico_manifest_refuses_the_crds_a_v1_26_schema_does_not_describe(
        kubectl, upstream_file):
    manifest = str(upstream_file("calico-v3.32.1/flannel-migration/calico.yaml"))
    scenario = load_scenario("small", overrides={"flannel": {"flavor": "none"}})
    scenario.kubernetes_version = "v1.26.5"
    with running_cluster(scenario) as served:
        result = kubectl(served, "apply", "--server-side", "-f", manifest, check=False, timeout=120)
    assert result.returncode == 1
    refused = [line for line in result.stderr.splitlines() if line.startswith("Error from server")]
    typed = [line for line in refused if "failed to create typed patch object" in line]
    assert len(typed) == 7
    assert typed[0] == ("Error from server: failed to create typed patch object (/bgpconfigurations.crd.projectcalico.org; "
                        "apiextensions.k8s.io/v1, Kind=CustomResourceDefinition): errors:")
    assert ('  .spec.versions[0].schema.openAPIV3Schema.properties.spec.x-kubernetes-validations[rule="!has(self.'
            'nodeMeshPassword) || !has(self.nodeToNodeMeshEnabled) || self.nodeToNodeMeshEnabled == true"].reason: '
            'field not declared in schema') in result.stderr.splitlines()
    assert "daemonset.apps/calico-node serverside-applied" in result.stdout
    assert len(result.stdout.splitlines()) == 30  # the CRD whose rule calls isCIDR is 422 (crd_cel.py)
    assert len(refused) == 8
