"""The pods/log and */scale subresources through the official client."""
import json

import pytest
from kubernetes import client


@pytest.fixture
def flannel_pod(core_api):
    return core_api.list_namespaced_pod("kube-flannel").items[0].metadata.name


def two_container_pod(core_api):
    containers = [client.V1Container(name="app", image="nginx:1.25"),
                  client.V1Container(name="sidecar", image="envoy:1.30")]
    core_api.create_namespaced_pod("default", client.V1Pod(metadata=client.V1ObjectMeta(name="pair"),
                                                           spec=client.V1PodSpec(containers=containers)))
    return "pair"


# ---- logs --------------------------------------------------------------------------------

def test_pod_logs_are_plain_text(flannel_pod, http):
    status, headers, body = http("GET", f"/api/v1/namespaces/kube-flannel/pods/{flannel_pod}/log")
    assert status == 200
    assert headers["Content-Type"] == "text/plain"
    assert "Wrote subnet file to /run/flannel/subnet.env" in body.decode()


def test_pod_logs_through_the_client_are_a_string(flannel_pod, core_api):
    text = core_api.read_namespaced_pod_log(flannel_pod, "kube-flannel")
    assert isinstance(text, str) and "Running backend." in text


def test_pod_logs_of_a_named_container(flannel_pod, core_api):
    text = core_api.read_namespaced_pod_log(flannel_pod, "kube-flannel", container="kube-flannel")
    assert "Wrote subnet file" in text


def test_pod_logs_tail_lines(flannel_pod, core_api):
    whole = core_api.read_namespaced_pod_log(flannel_pod, "kube-flannel")
    assert core_api.read_namespaced_pod_log(flannel_pod, "kube-flannel", tail_lines=1) == \
        whole.splitlines(keepends=True)[-1]


def test_pod_logs_without_a_container_of_a_multi_container_pod_is_400(core_api, api_error):
    name = two_container_pod(core_api)
    status, body = api_error(core_api.read_namespaced_pod_log, name, "default")
    assert status == 400
    assert body["message"] == "a container name must be specified for pod pair, choose one of: [app sidecar]"


def test_pod_logs_of_an_unknown_container_is_400(flannel_pod, core_api, api_error):
    status, body = api_error(core_api.read_namespaced_pod_log, flannel_pod, "kube-flannel", container="nope")
    assert status == 400
    assert body["message"] == f"container nope is not valid for pod {flannel_pod}"


def test_pod_logs_of_a_missing_pod_is_404(core_api, api_error):
    status, body = api_error(core_api.read_namespaced_pod_log, "nope", "demo")
    assert status == 404
    assert body["message"] == 'pods "nope" not found'


# ---- scale -------------------------------------------------------------------------------

def test_scale_reads_a_deployments_replicas(apps_api):
    scale = apps_api.read_namespaced_deployment_scale("web", "demo")
    assert (scale.kind, scale.api_version) == ("Scale", "autoscaling/v1")
    assert scale.spec.replicas == 4
    assert scale.status.replicas == 4
    assert scale.status.selector == "app=web"


def test_replacing_the_scale_sets_the_deployments_replicas(apps_api):
    scale = apps_api.read_namespaced_deployment_scale("web", "demo")
    scale.spec.replicas = 2
    answer = apps_api.replace_namespaced_deployment_scale("web", "demo", scale)
    assert answer.spec.replicas == 2
    assert apps_api.read_namespaced_deployment("web", "demo").spec.replicas == 2


def test_patching_the_scale_sets_the_deployments_replicas(apps_api):
    apps_api.patch_namespaced_deployment_scale("web", "demo", {"spec": {"replicas": 6}})
    deployment = apps_api.read_namespaced_deployment("web", "demo")
    assert deployment.spec.replicas == 6
    assert deployment.metadata.generation == 2


def test_scaling_down_removes_pods_once_the_controllers_run(apps_api, core_api, served_small):
    apps_api.patch_namespaced_deployment_scale("web", "demo", {"spec": {"replicas": 1}})
    served_small.cluster.advance(40)
    assert len(core_api.list_namespaced_pod("demo", label_selector="app=web").items) == 1
    assert apps_api.read_namespaced_deployment_scale("web", "demo").status.replicas == 1


def test_a_scale_with_a_stale_resource_version_is_409(apps_api, api_error):
    stale = apps_api.read_namespaced_deployment_scale("web", "demo")
    apps_api.patch_namespaced_deployment_scale("web", "demo", {"spec": {"replicas": 3}})
    stale.spec.replicas = 5
    status, body = api_error(apps_api.replace_namespaced_deployment_scale, "web", "demo", stale)
    assert status == 409
    assert body["reason"] == "Conflict"
    assert apps_api.read_namespaced_deployment("web", "demo").spec.replicas == 3


def test_a_negative_scale_is_422(http):
    body = {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web", "namespace": "demo"},
            "spec": {"replicas": -1}}
    status, _, raw = http("PUT", "/apis/apps/v1/namespaces/demo/deployments/web/scale", body)
    assert status == 422
    answer = json.loads(raw)
    assert answer["message"] == ('Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: -1: '
                                 "must be greater than or equal to 0")


def test_a_dry_run_scale_changes_nothing(apps_api):
    answer = apps_api.patch_namespaced_deployment_scale("web", "demo", {"spec": {"replicas": 9}}, dry_run="All")
    assert answer.spec.replicas == 9
    assert apps_api.read_namespaced_deployment("web", "demo").spec.replicas == 4


def test_the_scale_of_a_missing_deployment_is_404(apps_api, api_error):
    status, body = api_error(apps_api.read_namespaced_deployment_scale, "nope", "demo")
    assert status == 404
    assert body["message"] == 'deployments.apps "nope" not found'
