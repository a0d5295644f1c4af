"""Pod Security admission as Kubernetes v1.26 runs it (k8s.io/pod-security-admission v0.26): namespace
labels and a cluster-wide default pick the level; pods that violate the enforce level are refused with
403, pods and workload templates that violate the warn level get a Warning header. Every expected text
below is what a real v1.26.5 kube-apiserver answered to the same request."""
import json

import pytest

from migrate.sim import pod_security, request_scope
from migrate.sim.cluster import SimCluster
from migrate.sim.errors import ApiError
from migrate.sim.scenario import ScenarioError, load_scenario

ENFORCE = "pod-security.kubernetes.io/enforce"
WARN = "pod-security.kubernetes.io/warn"

# hostNetwork, a hostPath volume, a hostPort and a privileged container: what a hand-off pod needs.
PRIVILEGED_SPEC = {
    "hostNetwork": True,
    "containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": True},
                    "ports": [{"containerPort": 8080, "hostPort": 8080}],
                    "volumeMounts": [{"name": "h", "mountPath": "/h"}]}],
    "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}
PLAIN_SPEC = {"containers": [{"name": "c", "image": "busybox"}]}
BASELINE_VIOLATIONS = ('host namespaces (hostNetwork=true), hostPath volumes (volume "h"), hostPort (container "c" '
                       'uses hostPort 8080), privileged (container "c" must not set securityContext.privileged=true)')
RESTRICTED_PLAIN_VIOLATIONS = (
    'allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), '
    'unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), '
    'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), '
    'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or '
    '"Localhost")')


def namespace(name, **labels):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def pod(name, spec, generate=False, **meta):
    metadata = {"generateName": name} if generate else {"name": name}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {**metadata, **meta}, "spec": json.loads(json.dumps(spec))}


def daemonset(name, spec):
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": json.loads(json.dumps(spec))}}}


def warnings_of(headers) -> list[str]:
    return [v for k, v in headers.items() if k.lower() == "warning"] if isinstance(headers, dict) else \
        headers.get_all("Warning") or []


@pytest.fixture
def served(served_small):
    """The small scenario served, with namespaces `base` (enforce baseline), `strict` (enforce restricted)
    and `watched` (warn restricted)."""
    c = served_small.cluster
    c.create(namespace("base", **{ENFORCE: "baseline"}))
    c.create(namespace("strict", **{ENFORCE: "restricted"}))
    c.create(namespace("watched", **{WARN: "restricted"}))
    return served_small


def post(served_http, running, path, body):
    return served_http(running, "POST", path, body)


# ---- enforce -------------------------------------------------------------------------------------

def test_a_privileged_pod_is_refused_in_a_baseline_namespace(served, served_http):
    answer = post(served_http, served, "/api/v1/namespaces/base/pods", pod("x", PRIVILEGED_SPEC))
    assert (answer.status, answer.json) == (403, {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 403, "reason": "Forbidden",
        "message": f'pods "x" is forbidden: violates PodSecurity "baseline:latest": {BASELINE_VIOLATIONS}',
        "details": {"name": "x", "kind": "pods"}})


def test_a_refusal_is_not_an_rbac_denial_the_message_names_pod_security(served, served_http):
    answer = post(served_http, served, "/api/v1/namespaces/base/pods", pod("x", PRIVILEGED_SPEC))
    assert "violates PodSecurity" in answer.json["message"] and "cannot create" not in answer.json["message"]


def test_a_server_dry_run_create_is_refused_the_same_and_stores_nothing(served, served_http):
    answer = post(served_http, served, "/api/v1/namespaces/base/pods?dryRun=All", pod("x", PRIVILEGED_SPEC))
    assert answer.status == 403
    assert answer.json["message"].startswith('pods "x" is forbidden: violates PodSecurity "baseline:latest"')
    assert served.cluster.store.find(served.cluster.ctx.pods, "base", "x") is None


def test_a_refused_generated_name_is_the_generated_one(served, served_http):
    answer = post(served_http, served, "/api/v1/namespaces/base/pods", pod("x-", PRIVILEGED_SPEC, generate=True))
    name = answer.json["details"]["name"]
    assert name.startswith("x-") and len(name) == 7
    assert answer.json["message"].startswith(f'pods "{name}" is forbidden: violates PodSecurity')


def test_a_plain_pod_is_admitted_in_a_baseline_namespace(served, served_http):
    answer = post(served_http, served, "/api/v1/namespaces/base/pods", pod("ok", PLAIN_SPEC))
    assert (answer.status, warnings_of(answer.headers)) == (201, [])


def test_a_plain_pod_is_refused_in_a_restricted_namespace(served, served_http):
    answer = post(served_http, served, "/api/v1/namespaces/strict/pods", pod("p", PLAIN_SPEC))
    assert answer.status == 403
    assert answer.json["message"] == (f'pods "p" is forbidden: violates PodSecurity "restricted:latest": '
                                      f"{RESTRICTED_PLAIN_VIOLATIONS}")


def test_a_restricted_pod_is_admitted_in_a_restricted_namespace(served, served_http):
    spec = {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "c", "image": "busybox", "securityContext": {
                "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}],
            "volumes": [{"name": "cfg", "configMap": {"name": "x"}}, {"name": "tmp", "emptyDir": {}}]}
    assert post(served_http, served, "/api/v1/namespaces/strict/pods", pod("fine", spec)).status == 201


def test_the_enforce_version_label_pins_the_checks_and_shows_in_the_message(small_cluster):
    # runAsUser=0 is a restricted check from v1.23 on (policy/check_runAsUser.go)
    c = small_cluster
    c.create(namespace("pinned", **{ENFORCE: "restricted", f"{ENFORCE}-version": "v1.22"}))
    spec = {"securityContext": {"runAsNonRoot": True, "runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "c", "image": "busybox", "securityContext": {
                "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}
    c.create({**pod("root", spec), "metadata": {"name": "root", "namespace": "pinned"}})
    c.store.mutate(c.ctx.rtype("", "namespaces"), None, "pinned",
                   lambda o: o["metadata"]["labels"].update({f"{ENFORCE}-version": "v1.23"}))
    with pytest.raises(ApiError) as info:
        c.create({**pod("root2", spec), "metadata": {"name": "root2", "namespace": "pinned"}})
    assert info.value.message == ('pods "root2" is forbidden: violates PodSecurity "restricted:v1.23": runAsUser=0 '
                                  '(pod must not set runAsUser=0)')


# ---- warn ----------------------------------------------------------------------------------------

def test_a_warn_label_admits_the_pod_with_a_warning_header(served, served_http):
    answer = post(served_http, served, "/api/v1/namespaces/watched/pods", pod("w", PLAIN_SPEC))
    assert answer.status == 201
    assert warnings_of(answer.headers) == [
        '299 - "would violate PodSecurity \\"restricted:latest\\": ' + RESTRICTED_PLAIN_VIOLATIONS.replace('"', '\\"')
        + '"']


def test_the_official_client_sees_the_warning_text(served):
    from kubernetes import client
    _, status, headers = client.CoreV1Api(served.api_client()).create_namespaced_pod_with_http_info(
        "watched", pod("w", PLAIN_SPEC))
    assert status == 201
    assert headers["Warning"].startswith('299 - "would violate PodSecurity \\"restricted:latest')


def test_a_workload_template_is_only_warned_about_never_refused(served, served_http):
    answer = post(served_http, served, "/apis/apps/v1/namespaces/base/daemonsets", daemonset("d", PRIVILEGED_SPEC))
    assert answer.status == 201
    assert warnings_of(answer.headers) == [
        '299 - "would violate PodSecurity \\"baseline:latest\\": ' + BASELINE_VIOLATIONS.replace('"', '\\"') + '"']


def test_a_daemonsets_pods_are_refused_and_it_says_so_in_failed_create_events(served, served_http):
    post(served_http, served, "/apis/apps/v1/namespaces/base/daemonsets", daemonset("d", PRIVILEGED_SPEC))
    served.cluster.advance(5)
    c = served.cluster
    assert c.store.items(c.ctx.pods, "base") == []
    events = [e for e in c.store.items(c.ctx.rtype("", "events"), "base") if e["reason"] == "FailedCreate"]
    assert events and events[0]["type"] == "Warning"
    assert events[0]["source"] == {"component": "daemonset-controller"}
    assert events[0]["message"].startswith('Error creating: pods "d-')
    assert events[0]["message"].endswith(f'is forbidden: violates PodSecurity "baseline:latest": {BASELINE_VIOLATIONS}')


def test_a_refused_daemonset_reports_no_current_pods(served, served_http):
    post(served_http, served, "/apis/apps/v1/namespaces/base/daemonsets", daemonset("d", PRIVILEGED_SPEC))
    served.cluster.advance(5)
    ds = served.cluster.store.find(served.cluster.ctx.rtype("apps", "daemonsets"), "base", "d")
    assert ds["status"]["desiredNumberScheduled"] == 2 and ds["status"]["currentNumberScheduled"] == 0  # 2 workers


def test_a_refused_daemonset_retries_with_back_off_and_succeeds_once_the_namespace_allows_it(small_cluster):
    c = small_cluster
    c.create(namespace("base", **{ENFORCE: "baseline"}))
    c.create({**daemonset("d", PRIVILEGED_SPEC), "metadata": {"name": "d", "namespace": "base"}})
    c.advance(5)
    c.store.mutate(c.ctx.rtype("", "namespaces"), None, "base",
                   lambda o: o["metadata"]["labels"].update({ENFORCE: "privileged"}))
    c.advance(30)
    assert len(c.store.items(c.ctx.pods, "base")) == 2  # one per worker


# ---- namespace labels ----------------------------------------------------------------------------

def test_an_unknown_level_or_version_label_is_invalid(served, served_http):
    answer = post(served_http, served, "/api/v1/namespaces",
                  namespace("badl", **{ENFORCE: "bogus", "pod-security.kubernetes.io/warn-version": "v2"}))
    assert answer.status == 422
    assert answer.json["message"] == (
        'Namespace "badl" is invalid: [metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "bogus": '
        "must be one of privileged, baseline, restricted, metadata.labels[pod-security.kubernetes.io/warn-version]: "
        'Invalid value: "v2": must be "latest" or "v1.x"]')


def test_labelling_a_namespace_stricter_warns_about_its_existing_pods(served, served_http):
    c = served.cluster
    c.create(namespace("later"))
    for name in ("priv1", "priv2"):
        c.create({**pod(name, PRIVILEGED_SPEC), "metadata": {"name": name, "namespace": "later"}})
    c.create({**pod("fine", PLAIN_SPEC), "metadata": {"name": "fine", "namespace": "later"}})
    from kubernetes import client
    _, _, headers = client.CoreV1Api(served.api_client()).patch_namespace_with_http_info(
        "later", {"metadata": {"labels": {ENFORCE: "baseline"}}})
    assert headers.getlist("Warning") == [
        '299 - "existing pods in namespace \\"later\\" violate the new PodSecurity enforce level '
        '\\"baseline:latest\\""',
        '299 - "priv1 (and 1 other pod): host namespaces, hostPath volumes, hostPort, privileged"']


def test_labelling_a_namespace_leaves_its_running_pods_running(small_cluster):
    c = small_cluster
    c.create(namespace("later"))
    c.create({**pod("priv", PRIVILEGED_SPEC), "metadata": {"name": "priv", "namespace": "later"}})
    c.advance(10)
    c.store.mutate(c.ctx.rtype("", "namespaces"), None, "later",
                   lambda o: o["metadata"]["labels"].update({ENFORCE: "restricted"}))
    c.advance(10)
    assert c.store.find(c.ctx.pods, "later", "priv")["status"]["phase"] == "Running"


def test_changing_the_image_of_a_violating_pod_is_evaluated_again(small_cluster):
    c = small_cluster
    c.create(namespace("later"))
    c.create({**pod("priv", PRIVILEGED_SPEC), "metadata": {"name": "priv", "namespace": "later"}})
    c.store.mutate(c.ctx.rtype("", "namespaces"), None, "later",
                   lambda o: o["metadata"]["labels"].update({ENFORCE: "baseline"}))
    c.store.mutate(c.ctx.pods, "later", "priv", lambda o: o["metadata"].setdefault("labels", {}).update(a="b"))
    with pytest.raises(ApiError) as info:
        c.store.mutate(c.ctx.pods, "later", "priv", lambda o: o["spec"]["containers"][0].update(image="busybox:2"))
    assert info.value.code == 403


# ---- the cluster-wide default and exemptions -------------------------------------------------------

@pytest.fixture(scope="module")
def baseline_default():
    """A cluster whose PodSecurity default enforces baseline, with kube-system exempt (as the
    AdmissionConfiguration example in the Kubernetes documentation has it)."""
    return SimCluster("small", pod_security={"defaults": {"enforce": "baseline"},
                                             "exemptions": {"namespaces": ["kube-system"]}})


def test_the_default_level_applies_to_unlabelled_namespaces(baseline_default):
    c = baseline_default
    with pytest.raises(ApiError) as info:
        c.create({**pod("x", PRIVILEGED_SPEC), "metadata": {"name": "x", "namespace": "default"}})
    assert info.value.message.startswith('pods "x" is forbidden: violates PodSecurity "baseline:latest"')


def test_a_namespace_labelled_privileged_overrides_the_default(baseline_default):
    c = baseline_default
    c.create(namespace("tools", **{ENFORCE: "privileged"}))
    assert c.create({**pod("x", PRIVILEGED_SPEC), "metadata": {"name": "x", "namespace": "tools"}})


def test_an_exempt_namespace_admits_anything(baseline_default):
    c = baseline_default
    assert c.create({**pod("x", PRIVILEGED_SPEC), "metadata": {"name": "x", "namespace": "kube-system"}})


def test_flannels_upstream_namespace_label_keeps_flannel_running_under_a_restricted_default():
    c = SimCluster("small", pod_security={"defaults": {"enforce": "restricted"},
                                          "exemptions": {"namespaces": ["kube-system"]}})
    flannel = [p for p in c.store.items(c.ctx.pods, "kube-flannel")]
    assert flannel and all(p["status"]["phase"] == "Running" for p in flannel)


def test_labelling_an_exempt_namespace_warns_that_the_labels_are_ignored(baseline_default):
    with request_scope.serving() as scope:
        baseline_default.store.mutate(baseline_default.ctx.rtype("", "namespaces"), None, "kube-system",
                                      lambda o: o["metadata"]["labels"].update({ENFORCE: "restricted"}))
    assert scope.warnings == ['namespace "kube-system" is exempt from Pod Security, and the policy '
                              "(enforce=restricted:latest) will be ignored"]


def test_an_exempt_runtime_class_admits_its_pods():
    c = SimCluster("small", pod_security={"defaults": {"enforce": "baseline"},
                                          "exemptions": {"runtimeClasses": ["kata"]}})
    assert c.create({**pod("x", {**PRIVILEGED_SPEC, "runtimeClassName": "kata"}),
                     "metadata": {"name": "x", "namespace": "default"}})


def test_a_scenario_sets_the_default_with_pod_security():
    scenario = load_scenario("small", overrides={"podSecurity": {"defaults": {"enforce": "baseline", "warn": "restricted"},
                                                                 "exemptions": {"namespaces": ["kube-system"]}}})
    assert scenario.pod_security.default_policy() == pod_security.Policy(
        *(pod_security.LevelVersion(level, pod_security.LATEST) for level in ("baseline", "privileged", "restricted")))
    assert scenario.pod_security.exempt_namespaces == ("kube-system",)


def test_a_scenario_with_an_unknown_level_names_the_field():
    with pytest.raises(ScenarioError) as info:
        load_scenario("small", overrides={"podSecurity": {"defaults": {"enforce": "strict"}}})
    assert info.value.field_path == "podSecurity.defaults.enforce"


def test_by_default_every_level_is_privileged():
    assert pod_security.PodSecurityConfig().default_policy().fully_privileged()


# ---- the checks, one by one (policy/check_*.go) -----------------------------------------------------

def violations(level, spec, annotations=None, version="latest"):
    lv = pod_security.LevelVersion(level, pod_security.parse_version(version)[0])
    return pod_security.forbidden_detail(pod_security.evaluate(lv, {"annotations": annotations or {}}, spec))


# A pod that trips most checks; the texts are a real apiserver's (dry-run creates of this pod).
MANY = {"securityContext": {"sysctls": [{"name": "net.ipv4.ip_forward", "value": "1"}],
                            "seccompProfile": {"type": "Unconfined"}, "seLinuxOptions": {"type": "spc_t", "user": "u"}},
        "hostPID": True,
        "containers": [{"name": "a", "image": "busybox", "securityContext": {
                            "capabilities": {"add": ["NET_ADMIN", "SYS_ADMIN"]}, "procMount": "Unmasked", "runAsUser": 0}},
                       {"name": "b", "image": "busybox", "securityContext": {
                           "capabilities": {"add": ["NET_RAW"]}, "seccompProfile": {"type": "Unconfined"}}}],
        "volumes": [{"name": "n", "nfs": {"server": "x", "path": "/"}}, {"name": "g", "gitRepo": {"repository": "x"}}]}
MANY_ANNOTATIONS = {"container.apparmor.security.beta.kubernetes.io/a": "unconfined"}


def test_baseline_checks_in_upstreams_order():
    assert violations("baseline", MANY, MANY_ANNOTATIONS) == (
        'forbidden AppArmor profile (container.apparmor.security.beta.kubernetes.io/a="unconfined"), '
        'non-default capabilities (containers "a", "b" must not include "NET_ADMIN", "NET_RAW", "SYS_ADMIN" in '
        "securityContext.capabilities.add), host namespaces (hostPID=true), procMount (container \"a\" must not set "
        'securityContext.procMount to "Unmasked"), seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: '
        'type "spc_t"; user may not be set), seccompProfile (pod and container "b" must not set '
        'securityContext.seccompProfile.type to "Unconfined"), forbidden sysctls (net.ipv4.ip_forward)')


def test_restricted_checks_replace_the_baseline_ones_they_override():
    assert violations("restricted", MANY, MANY_ANNOTATIONS) == (
        'forbidden AppArmor profile (container.apparmor.security.beta.kubernetes.io/a="unconfined"), '
        "host namespaces (hostPID=true), procMount (container \"a\" must not set securityContext.procMount to "
        '"Unmasked"), seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type "spc_t"; user may not be '
        'set), forbidden sysctls (net.ipv4.ip_forward), allowPrivilegeEscalation != false (containers "a", "b" must '
        'set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (containers "a", "b" must set '
        'securityContext.capabilities.drop=["ALL"]; containers "a", "b" must not include "NET_ADMIN", "NET_RAW", '
        '"SYS_ADMIN" in securityContext.capabilities.add), restricted volume types (volumes "n", "g" use restricted '
        'volume types "gitRepo", "nfs"), runAsNonRoot != true (pod or containers "a", "b" must set '
        'securityContext.runAsNonRoot=true), runAsUser=0 (container "a" must not set runAsUser=0), seccompProfile '
        '(pod and container "b" must not set securityContext.seccompProfile.type to "Unconfined")')


def test_privileged_level_checks_nothing():
    assert violations("privileged", MANY, MANY_ANNOTATIONS) == ""


@pytest.mark.parametrize("spec, expected", [
    ({"containers": [{"name": "c", "securityContext": {"windowsOptions": {"hostProcess": True}}}],
      "securityContext": {"windowsOptions": {"hostProcess": True}}},
     'hostProcess (pod and container "c" must not set securityContext.windowsOptions.hostProcess=true)'),
    ({"containers": [{"name": "c", "ports": [{"hostPort": 10080}, {"hostPort": 8080}]},
                     {"name": "d", "ports": [{"hostPort": 9090}]}]},
     'hostPort (containers "c", "d" use hostPorts 10080, 8080, 9090)'),
    ({"hostIPC": True, "hostNetwork": True, "containers": [{"name": "c"}]},
     "host namespaces (hostNetwork=true, hostIPC=true)"),
    ({"containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["CHOWN", "KILL"]}}}]}, ""),
    ({"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_syncookies"}]}, "containers": [{"name": "c"}]}, ""),
    ({"containers": [{"name": "c", "securityContext": {"seccompProfile": {"type": "Localhost"}}}]}, ""),
])
def test_baseline_check_texts(spec, expected):
    assert violations("baseline", spec) == expected


def test_a_windows_pod_skips_the_linux_only_restricted_checks():
    spec = {"os": {"name": "windows"}, "securityContext": {"runAsNonRoot": True}, "containers": [{"name": "c"}]}
    assert violations("restricted", spec) == ""


def test_before_v1_19_seccomp_is_read_from_the_annotations():
    spec = {"containers": [{"name": "c"}]}
    annotations = {"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}
    assert violations("baseline", spec, annotations, "v1.18") == (
        'seccompProfile (forbidden annotation seccomp.security.alpha.kubernetes.io/pod="unconfined")')
    assert violations("baseline", spec, annotations) == ""


# ---- `migrate sim serve --pod-security-default LEVEL` ------------------------------------------------

def test_serve_refuses_an_unknown_pod_security_level():
    from click.testing import CliRunner

    from migrate.cli import main
    result = CliRunner().invoke(main, ["sim", "serve", "--pod-security-default", "strict"], prog_name="migrate")
    assert result.exit_code == 2
    assert "'strict' is not one of 'privileged', 'baseline', 'restricted'" in result.stderr
