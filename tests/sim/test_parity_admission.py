"""Pod Security and namespace-lifecycle admission, asked of the simulator and of a real kube-apiserver
v1.26.5 (the `api_server` fixture runs each body on both; the real side needs KUBEBUILDER_ASSETS).
Where they disagree the simulator is wrong until shown otherwise."""
import json

MERGE = {"Content-Type": "application/merge-patch+json"}
ENFORCE = "pod-security.kubernetes.io/enforce"
PRIVILEGED_SPEC = {
    "hostNetwork": True,
    "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9", "securityContext": {"privileged": True},
                    "ports": [{"containerPort": 8080, "hostPort": 8080}],
                    "volumeMounts": [{"name": "h", "mountPath": "/h"}]}],
    "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}
PLAIN_SPEC = {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}]}


def pod(name, spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": json.loads(json.dumps(spec))}


def labelled(side, **labels) -> str:
    namespace = side.new_namespace("psa")
    answer = side.request("PATCH", f"/api/v1/namespaces/{namespace}", {"metadata": {"labels": labels}}, MERGE)
    assert answer.status == 200, answer.text
    return namespace


def warnings(answer) -> list[str]:
    return answer.headers.get_all("Warning") or []


def test_a_privileged_pod_in_a_baseline_namespace_is_403_naming_each_violation(api_server):
    namespace = labelled(api_server, **{ENFORCE: "baseline"})
    answer = api_server.request("POST", f"/api/v1/namespaces/{namespace}/pods", pod("x", PRIVILEGED_SPEC))
    assert (answer.status, answer.json) == (403, {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 403, "reason": "Forbidden",
        "details": {"name": "x", "kind": "pods"},
        "message": 'pods "x" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true), '
                   'hostPath volumes (volume "h"), hostPort (container "c" uses hostPort 8080), privileged (container '
                   '"c" must not set securityContext.privileged=true)'})


def test_a_warn_label_admits_the_pod_with_the_same_warning(api_server):
    namespace = labelled(api_server, **{"pod-security.kubernetes.io/warn": "restricted"})
    answer = api_server.request("POST", f"/api/v1/namespaces/{namespace}/pods?dryRun=All", pod("w", PLAIN_SPEC))
    assert answer.status == 201
    assert warnings(answer) == [
        '299 - "would violate PodSecurity \\"restricted:latest\\": allowPrivilegeEscalation != false (container '
        '\\"c\\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \\"c\\" '
        'must set securityContext.capabilities.drop=[\\"ALL\\"]), runAsNonRoot != true (pod or container \\"c\\" must '
        'set securityContext.runAsNonRoot=true), seccompProfile (pod or container \\"c\\" must set '
        'securityContext.seccompProfile.type to \\"RuntimeDefault\\" or \\"Localhost\\")"']


def test_a_daemonset_with_a_privileged_template_is_created_with_a_warning(api_server):
    namespace = labelled(api_server, **{ENFORCE: "baseline"})
    body = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d"},
            "spec": {"selector": {"matchLabels": {"app": "d"}},
                     "template": {"metadata": {"labels": {"app": "d"}}, "spec": PRIVILEGED_SPEC}}}
    answer = api_server.request("POST", f"/apis/apps/v1/namespaces/{namespace}/daemonsets?dryRun=All", body)
    assert answer.status == 201
    assert [w.split(":", 1)[0] for w in warnings(answer)] == ['299 - "would violate PodSecurity \\"baseline']


def test_an_invalid_level_label_is_422(api_server):
    namespace = api_server.new_namespace("psa")
    answer = api_server.request("PATCH", f"/api/v1/namespaces/{namespace}", {"metadata": {"labels": {ENFORCE: "x"}}},
                                MERGE)
    assert answer.status == 422
    assert answer.json["message"] == (f'Namespace "{namespace}" is invalid: metadata.labels[{ENFORCE}]: Invalid value: '
                                      '"x": must be one of privileged, baseline, restricted')


def test_a_create_in_a_terminating_namespace_is_403_namespace_terminating(api_server):
    namespace = api_server.new_namespace("doomed")
    held = f"/api/v1/namespaces/{namespace}/configmaps/held"
    assert api_server.request("POST", f"/api/v1/namespaces/{namespace}/configmaps",
                              {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}).status == 201
    try:
        deleted = api_server.request("DELETE", f"/api/v1/namespaces/{namespace}")
        assert (deleted.status, deleted.json["status"]["phase"]) == (200, "Terminating")
        answer = api_server.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "cm"}})
        assert (answer.status, answer.json) == (403, {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 403,
            "reason": "Forbidden",
            "message": f'configmaps "cm" is forbidden: unable to create new content in namespace {namespace} because '
                       "it is being terminated",
            "details": {"name": "cm", "kind": "configmaps", "causes": [
                {"reason": "NamespaceTerminating", "message": f"namespace {namespace} is being terminated",
                 "field": "metadata.namespace"}]}})
    finally:
        api_server.request("PATCH", held, {"metadata": {"finalizers": None}}, MERGE)


def test_kube_system_may_not_be_deleted(api_server):
    answer = api_server.request("DELETE", "/api/v1/namespaces/kube-system?dryRun=All")
    assert (answer.status, answer.json["message"]) == (
        403, 'namespaces "kube-system" is forbidden: this namespace may not be deleted')


def test_a_namespace_held_by_a_finalizer_stays_terminating_and_says_why(api_server):
    namespace = api_server.new_namespace("held")
    held = f"/api/v1/namespaces/{namespace}/configmaps/held"
    api_server.request("POST", f"/api/v1/namespaces/{namespace}/configmaps",
                       {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    try:
        api_server.request("DELETE", f"/api/v1/namespaces/{namespace}")

        def reason():
            status = api_server.kube.get(f"/api/v1/namespaces/{namespace}").get("status") or {}
            return next((c for c in status.get("conditions") or [] if c["type"] == "NamespaceFinalizersRemaining"
                         and c["status"] == "True"), None)
        api_server.wait_until(reason, "a NamespaceFinalizersRemaining condition", timeout=30)
        assert reason()["message"] == ("Some content in the namespace has finalizers remaining: example.com/hold in 1 "
                                       "resource instances")
        assert api_server.kube.get(f"/api/v1/namespaces/{namespace}")["spec"]["finalizers"] == ["kubernetes"]
    finally:
        api_server.request("PATCH", held, {"metadata": {"finalizers": None}}, MERGE)
    api_server.wait_until(lambda: api_server.kube.get_optional(f"/api/v1/namespaces/{namespace}") is None,
                          "the namespace to go once its content has", timeout=60)
