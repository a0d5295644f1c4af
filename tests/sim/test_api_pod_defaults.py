"""Pods as kube-apiserver v1.26.5 stores them: the v1 defaulting functions (pkg/apis/core/v1/defaults.go), the
mutating admission plugins (ServiceAccount: plugin/pkg/admission/serviceaccount/admission.go; Priority:
plugin/pkg/admission/priority/admission.go; DefaultTolerationSeconds), and the controllers that make every
namespace ready for pods (serviceaccounts, root-ca-cert-publisher). Expected answers were read off a v1.26.5
apiserver (less the OpenShift-only service-ca.crt projection of the binary we had)."""
import json
import re

import pytest

TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_SOURCES = [
    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                  "fieldPath": "metadata.namespace"}}]}},
]


def _pod(name, namespace="default", **spec):
    spec.setdefault("containers", [{"name": "main", "image": "busybox"}])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


@pytest.fixture
def create_pod(http):
    """create_pod(name, namespace="default", **spec) -> (status, answer as JSON)."""
    def call(name, namespace="default", **spec):
        status, _, body = http("POST", f"/api/v1/namespaces/{namespace}/pods", _pod(name, namespace, **spec))
        return status, json.loads(body)
    return call


@pytest.fixture
def created(create_pod):
    def call(name, namespace="default", **spec):
        status, pod = create_pod(name, namespace, **spec)
        assert status == 201, pod
        return pod
    return call


def test_a_minimal_pod_is_stored_as_kube_apiserver_stores_it(created):
    spec = created("plain")["spec"]
    volume = spec["volumes"][0]["name"]
    assert re.fullmatch(r"kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}", volume)
    assert spec == {
        "containers": [{"name": "main", "image": "busybox", "imagePullPolicy": "Always", "resources": {},
                        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                        "volumeMounts": [{"name": volume, "readOnly": True, "mountPath": TOKEN_PATH}]}],
        "dnsPolicy": "ClusterFirst", "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority",
        "priority": 0, "restartPolicy": "Always", "schedulerName": "default-scheduler", "securityContext": {},
        "serviceAccount": "default", "serviceAccountName": "default", "terminationGracePeriodSeconds": 30,
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300}],
        "volumes": [{"name": volume, "projected": {"defaultMode": 420, "sources": TOKEN_SOURCES}}]}


def test_a_pod_runs_as_the_default_service_account(created):
    spec = created("plain")["spec"]
    assert (spec["serviceAccountName"], spec["serviceAccount"]) == ("default", "default")


def test_a_pod_of_a_missing_service_account_is_refused(create_pod):
    status, answer = create_pod("lost", serviceAccountName="missing")
    assert status == 403
    assert answer["message"] == ('pods "lost" is forbidden: error looking up service account default/missing: '
                                 'serviceaccount "missing" not found')


def test_every_container_mounts_the_token_read_only(created):
    pod = created("two", initContainers=[{"name": "init", "image": "busybox:1.36"}],
                  containers=[{"name": "a", "image": "busybox:1.36"}, {"name": "b", "image": "busybox:1.36"}])
    volume = pod["spec"]["volumes"][-1]["name"]
    for container in pod["spec"]["initContainers"] + pod["spec"]["containers"]:
        assert container["volumeMounts"] == [{"name": volume, "readOnly": True, "mountPath": TOKEN_PATH}]


def test_a_pod_that_turns_automount_off_gets_no_token(created):
    spec = created("quiet", automountServiceAccountToken=False)["spec"]
    assert "volumes" not in spec and "volumeMounts" not in spec["containers"][0]


def test_a_service_account_that_turns_automount_off_gives_its_pods_no_token(http, created):
    http("POST", "/api/v1/namespaces/default/serviceaccounts",
         {"metadata": {"name": "quiet"}, "automountServiceAccountToken": False})
    spec = created("quiet", serviceAccountName="quiet")["spec"]
    assert "volumes" not in spec


def test_a_container_that_mounts_the_token_path_itself_keeps_its_mount(created):
    pod = created("own", volumes=[{"name": "mine", "emptyDir": {}}],
                  containers=[{"name": "a", "image": "busybox:1.36",
                               "volumeMounts": [{"name": "mine", "mountPath": TOKEN_PATH}]},
                              {"name": "b", "image": "busybox:1.36"}])
    a, b = pod["spec"]["containers"]
    assert a["volumeMounts"] == [{"name": "mine", "mountPath": TOKEN_PATH}]
    assert b["volumeMounts"][0]["name"].startswith("kube-api-access-")


def test_a_pod_gets_the_image_pull_secrets_of_its_service_account(http, created):
    http("POST", "/api/v1/namespaces/default/serviceaccounts",
         {"metadata": {"name": "puller"}, "imagePullSecrets": [{"name": "registry"}]})
    assert created("pulled", serviceAccountName="puller")["spec"]["imagePullSecrets"] == [{"name": "registry"}]


def test_a_pod_of_a_priority_class_gets_its_priority(created):
    spec = created("critical", priorityClassName="system-node-critical")["spec"]
    assert (spec["priority"], spec["preemptionPolicy"]) == (2000001000, "PreemptLowerPriority")


def test_a_pod_of_an_unknown_priority_class_is_refused(create_pod):
    status, answer = create_pod("vain", priorityClassName="gold")
    assert status == 403
    assert answer["message"] == 'pods "vain" is forbidden: no PriorityClass with name gold was found'


@pytest.mark.parametrize("image, policy", [("busybox", "Always"), ("busybox:latest", "Always"),
                                           ("busybox:1.36", "IfNotPresent"),
                                           ("busybox@sha256:" + "0" * 64, "IfNotPresent")])
def test_the_image_pull_policy_follows_the_image_tag(created, image, policy):
    container = created("img", containers=[{"name": "main", "image": image}])["spec"]["containers"][0]
    assert container["imagePullPolicy"] == policy


def test_probes_get_their_default_timings_and_http_scheme(created):
    container = created("probed", containers=[{
        "name": "main", "image": "busybox:1.36", "readinessProbe": {"httpGet": {"port": 80}},
        "livenessProbe": {"exec": {"command": ["true"]}}}])["spec"]["containers"][0]
    assert container["readinessProbe"] == {"httpGet": {"path": "/", "port": 80, "scheme": "HTTP"}, "timeoutSeconds": 1,
                                           "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert container["livenessProbe"]["periodSeconds"] == 10


def test_container_ports_of_a_host_network_pod_get_host_ports_and_tcp(created):
    container = created("host", hostNetwork=True, containers=[{
        "name": "main", "image": "busybox:1.36", "ports": [{"containerPort": 80}]}])["spec"]["containers"][0]
    assert container["ports"] == [{"containerPort": 80, "hostPort": 80, "protocol": "TCP"}]


def test_a_field_ref_defaults_to_api_version_v1(created):
    container = created("env", containers=[{
        "name": "main", "image": "busybox:1.36",
        "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]}])["spec"]["containers"][0]
    assert container["env"][0]["valueFrom"]["fieldRef"] == {"apiVersion": "v1", "fieldPath": "spec.nodeName"}


def test_volumes_get_their_default_modes_and_host_path_type(created):
    volumes = created("vols", automountServiceAccountToken=False, volumes=[
        {"name": "h", "hostPath": {"path": "/"}}, {"name": "c", "configMap": {"name": "x"}},
        {"name": "s", "secret": {"secretName": "x"}}, {"name": "e"}])["spec"]["volumes"]
    assert volumes == [{"name": "h", "hostPath": {"path": "/", "type": ""}},
                       {"name": "c", "configMap": {"name": "x", "defaultMode": 420}},
                       {"name": "s", "secret": {"secretName": "x", "defaultMode": 420}},
                       {"name": "e", "emptyDir": {}}]


def test_resource_requests_default_to_the_limits(created):
    container = created("limited", containers=[{
        "name": "main", "image": "busybox:1.36",
        "resources": {"limits": {"cpu": "100m", "memory": "50Mi"}, "requests": {"cpu": "50m"}}}])["spec"]["containers"][0]
    assert container["resources"]["requests"] == {"cpu": "50m", "memory": "50Mi"}


def test_a_daemonset_template_is_defaulted_without_the_pod_only_fields(http):
    status, _, body = http("POST", "/apis/apps/v1/namespaces/default/daemonsets", {
        "metadata": {"name": "agent"}, "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}},
                         "spec": {"serviceAccountName": "default",
                                  "containers": [{"name": "main", "image": "busybox"}]}}}})
    assert status == 201, body
    spec = json.loads(body)["spec"]["template"]["spec"]
    assert (spec["serviceAccount"], spec["containers"][0]["imagePullPolicy"]) == ("default", "Always")
    assert not {"enableServiceLinks", "priority", "volumes", "tolerations"} & set(spec)


# ---- the controllers that prepare each namespace ---------------------------------------------------------

def test_a_new_namespace_gets_the_default_service_account(served_small, http):
    http("POST", "/api/v1/namespaces", {"metadata": {"name": "fresh"}})
    served_small.cluster.advance(1)
    assert http("GET", "/api/v1/namespaces/fresh/serviceaccounts/default")[0] == 200


def test_a_new_namespace_gets_the_kube_root_ca_config_map(served_small, http):
    http("POST", "/api/v1/namespaces", {"metadata": {"name": "fresh"}})
    served_small.cluster.advance(1)
    status, _, body = http("GET", "/api/v1/namespaces/fresh/configmaps/kube-root-ca.crt")
    assert status == 200
    config_map = json.loads(body)
    assert config_map["data"]["ca.crt"].startswith("-----BEGIN CERTIFICATE-----\n")
    assert config_map["metadata"]["annotations"]["kubernetes.io/description"].startswith("Contains a CA bundle")


def test_a_deleted_default_service_account_comes_back(served_small, http):
    http("DELETE", "/api/v1/namespaces/default/serviceaccounts/default")
    served_small.cluster.advance(1)
    assert http("GET", "/api/v1/namespaces/default/serviceaccounts/default")[0] == 200


def test_a_pod_created_right_after_its_namespace_is_admitted(http, create_pod):
    # the plugin retries the default ServiceAccount 10 times (100-200 ms apart) while the controller makes it
    http("POST", "/api/v1/namespaces", {"metadata": {"name": "fresh"}})
    status, answer = create_pod("first", "fresh")
    assert status == 201, answer
