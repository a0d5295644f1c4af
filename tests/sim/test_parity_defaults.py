"""Defaults, lists, status encoding and server-side apply, asked of the simulator and of a real kube-apiserver
v1.26.5 (the `api_server` fixture runs each body on both; the real side needs KUBEBUILDER_ASSETS). Where they
disagree the simulator is wrong until shown otherwise."""
import json

APPLY = {"Content-Type": "application/apply-patch+yaml"}
MERGE = {"Content-Type": "application/merge-patch+json"}
TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def _pod(name, **spec):
    spec.setdefault("containers", [{"name": "main", "image": "busybox"}])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def _upstream_sources(volume: dict) -> list:
    """The token volume's projections, less the service-ca.crt one an OpenShift-built apiserver adds."""
    return [s for s in volume["projected"]["sources"]
            if (s.get("configMap") or {}).get("name") != "openshift-service-ca.crt"]


def test_a_minimal_pod_gets_the_same_defaults(api_server):
    namespace = api_server.new_namespace()
    answer = api_server.request("POST", f"/api/v1/namespaces/{namespace}/pods?dryRun=All", _pod("plain"))
    assert answer.status == 201, answer.text
    spec = answer.json["spec"]
    [volume] = spec.pop("volumes")
    assert volume["name"].startswith("kube-api-access-") and len(volume["name"]) == len("kube-api-access-") + 5
    assert _upstream_sources(volume) == [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]
    assert spec["containers"][0].pop("volumeMounts") == [{"name": volume["name"], "readOnly": True,
                                                          "mountPath": TOKEN_PATH}]
    assert spec == {
        "containers": [{"name": "main", "image": "busybox", "imagePullPolicy": "Always", "resources": {},
                        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}],
        "dnsPolicy": "ClusterFirst", "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority",
        "priority": 0, "restartPolicy": "Always", "schedulerName": "default-scheduler", "securityContext": {},
        "serviceAccount": "default", "serviceAccountName": "default", "terminationGracePeriodSeconds": 30,
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300}]}


def test_a_pod_of_a_missing_service_account_is_403(api_server):
    namespace = api_server.new_namespace()
    answer = api_server.request("POST", f"/api/v1/namespaces/{namespace}/pods",
                                _pod("lost", serviceAccountName="missing"))
    assert (answer.status, answer.json["message"]) == (403, f'pods "lost" is forbidden: error looking up service '
                                                            f'account {namespace}/missing: serviceaccount "missing" '
                                                            'not found')


def test_a_new_namespace_gets_its_default_service_account_and_root_ca(api_server):
    namespace = api_server.new_namespace()
    for path in (f"/api/v1/namespaces/{namespace}/serviceaccounts/default",
                 f"/api/v1/namespaces/{namespace}/configmaps/kube-root-ca.crt"):
        api_server.wait_until(lambda path=path: api_server.request("GET", path).status == 200, path)


def test_a_service_gets_the_same_defaults(api_server):
    namespace = api_server.new_namespace()
    answer = api_server.request("POST", f"/api/v1/namespaces/{namespace}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    assert answer.status == 201, answer.text
    spec = answer.json["spec"]
    assert spec.pop("clusterIPs") == [spec.pop("clusterIP")]
    assert spec == {"ports": [{"protocol": "TCP", "port": 80, "targetPort": 80}], "selector": {"app": "web"},
                    "type": "ClusterIP", "sessionAffinity": "None", "ipFamilies": ["IPv4"],
                    "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"}
    assert answer.json["status"] == {"loadBalancer": {}}


def test_an_empty_dry_run_is_422(api_server):
    namespace = api_server.new_namespace()
    answer = api_server.request("POST", f"/api/v1/namespaces/{namespace}/configmaps?dryRun=",
                                {"metadata": {"name": "x"}})
    assert (answer.status, answer.json["message"]) == (422, 'CreateOptions.meta.k8s.io "" is invalid: dryRun: '
                                                            'Unsupported value: []string{""}: supported values: "All"')


def test_a_list_at_resource_version_0_ignores_its_limit(api_server):
    namespace = api_server.new_namespace()
    for i in range(3):
        api_server.kube.create(f"/api/v1/namespaces/{namespace}/configmaps",
                               {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}"}})
    answer = api_server.request("GET", f"/api/v1/namespaces/{namespace}/configmaps?limit=1&resourceVersion=0")
    assert answer.status == 200
    assert "continue" not in answer.json["metadata"]
    assert {"cm-0", "cm-1", "cm-2"} <= {o["metadata"]["name"] for o in answer.json["items"]}


def test_a_daemonset_on_no_node_has_only_its_counts_without_omitempty(api_server):
    namespace = api_server.new_namespace()
    path = f"/apis/apps/v1/namespaces/{namespace}/daemonsets"
    api_server.kube.create(path, {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "idle"}, "spec": {
        "selector": {"matchLabels": {"app": "idle"}}, "template": {"metadata": {"labels": {"app": "idle"}}, "spec": {
            "nodeSelector": {"example.com/nowhere": "true"}, "containers": [{"name": "c", "image": "busybox:1.36"}]}}}})
    api_server.wait_until(lambda: (api_server.kube.get(f"{path}/idle").get("status") or {}).get("observedGeneration"),
                          "the DaemonSet controller's status")
    assert api_server.kube.get(f"{path}/idle")["status"] == {
        "currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0,
        "observedGeneration": 1}


def test_server_side_apply_conflicts_name_each_manager_and_force_takes_over(api_server):
    namespace = api_server.new_namespace()
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    api_server.request("POST", path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"},
                                      "data": {"k": "1", "j": "2"}}, {"User-Agent": "alice/1.0"})
    api_server.request("PATCH", f"{path}/shared", {"data": {"j": "3"}}, {"User-Agent": "carol/1.0", **MERGE})
    config = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"},
                         "data": {"k": "9", "j": "9"}}).encode()
    refused = api_server.request("PATCH", f"{path}/shared?fieldManager=bob", config, APPLY)
    assert (refused.status, refused.json["message"]) == (409, 'Apply failed with 2 conflicts: conflicts with "alice" '
                                                              'using v1:\n- .data.k\nconflicts with "carol" using v1:\n'
                                                              '- .data.j')
    forced = api_server.request("PATCH", f"{path}/shared?fieldManager=bob&force=true", config, APPLY)
    assert forced.status == 200
    assert [(e["manager"], e["operation"], e["fieldsV1"]) for e in forced.json["metadata"]["managedFields"]] == [
        ("bob", "Apply", {"f:data": {"f:j": {}, "f:k": {}}}), ("alice", "Update", {"f:data": {}})]
