"""Deleting a namespace, as kube-apiserver and the namespace controller (v1.26) do it: the namespace turns
Terminating at once and refuses new content (NamespaceLifecycle admission, k8s.io/apiserver
pkg/admission/plugin/namespace/lifecycle/admission.go); 5 s later the controller deletes its content
(pkg/controller/namespace/namespace_controller.go, deletion/namespaced_resources_deleter.go), reports
what remains in status conditions, and once nothing is left empties spec.finalizers, which lets the
namespace go. Texts checked against a real v1.26.5 kube-apiserver."""
import json

import pytest

from migrate.sim.errors import ApiError

PAUSE = "registry.k8s.io/pause:3.10"


def namespace(name, **labels):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def config_map(name, namespace="doomed", **meta):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace, **meta},
            "data": {"k": "v"}}


def pod(name, namespace="doomed"):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [{"name": "main", "image": PAUSE}]}}


def ns_type(c):
    return c.ctx.rtype("", "namespaces")


def get_ns(c, name="doomed"):
    return c.store.find(ns_type(c), None, name)


def condition(ns, type_):
    return next((x for x in (ns.get("status") or {}).get("conditions") or [] if x["type"] == type_), None)


@pytest.fixture
def doomed(small_cluster):
    """Namespace `doomed` with a ConfigMap, just deleted (the clock has not moved)."""
    c = small_cluster
    c.create(namespace("doomed"))
    c.create(config_map("cm"))
    c.store.delete(ns_type(c), None, "doomed")
    return c


# ---- Terminating ---------------------------------------------------------------------------------

def test_a_deleted_namespace_is_terminating_with_a_deletion_timestamp(doomed):
    ns = get_ns(doomed)
    assert ns["status"]["phase"] == "Terminating"
    assert ns["metadata"]["deletionTimestamp"]


def test_a_terminating_namespace_keeps_its_kubernetes_finalizer_until_its_content_is_gone(doomed):
    assert get_ns(doomed)["spec"]["finalizers"] == ["kubernetes"]


def test_the_namespace_controller_waits_its_5_second_grace_before_deleting_content(doomed):
    doomed.advance(4)
    assert doomed.store.find(doomed.ctx.rtype("", "configmaps"), "doomed", "cm") is not None
    assert get_ns(doomed)["status"]["phase"] == "Terminating"


def test_a_namespace_with_only_plain_objects_is_gone_once_the_controller_ran(doomed):
    doomed.advance(6)
    assert get_ns(doomed) is None


def test_the_namespace_is_deleted_with_empty_spec_finalizers(doomed):
    gone = []
    doomed.store.listeners.append(lambda e: gone.append(e.obj) if e.key == ("", "namespaces")
                                  and e.type == "DELETED" else None)
    doomed.advance(6)
    assert [(g["metadata"]["name"], g["spec"]["finalizers"], g["status"]["phase"]) for g in gone] == [
        ("doomed", [], "Terminating")]


def test_a_namespace_stays_terminating_while_its_pods_shut_down(small_cluster):
    c = small_cluster
    c.create(namespace("doomed"))
    c.create(pod("p"))
    c.advance(10)
    c.store.delete(ns_type(c), None, "doomed")
    c.advance(5)
    remaining = condition(get_ns(c), "NamespaceContentRemaining")
    assert (remaining["status"], remaining["reason"], remaining["message"]) == (
        "True", "SomeResourcesRemain", "Some resources are remaining: pods. has 1 resource instances")
    c.advance(30)
    assert get_ns(c) is None


def test_content_with_a_finalizer_holds_the_namespace_and_says_so(small_cluster):
    c = small_cluster
    c.create(namespace("doomed"))
    c.create(config_map("held", finalizers=["example.com/hold"]))
    c.store.delete(ns_type(c), None, "doomed")
    c.advance(60)
    ns = get_ns(c)
    assert ns["status"]["phase"] == "Terminating"
    held = condition(ns, "NamespaceFinalizersRemaining")
    assert (held["status"], held["reason"], held["message"]) == (
        "True", "SomeFinalizersRemain",
        "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances")


def test_the_namespace_goes_once_the_last_finalizer_is_removed(small_cluster):
    c = small_cluster
    c.create(namespace("doomed"))
    c.create(config_map("held", finalizers=["example.com/hold"]))
    c.store.delete(ns_type(c), None, "doomed")
    c.advance(20)
    c.store.mutate(c.ctx.rtype("", "configmaps"), "doomed", "held", lambda o: o["metadata"].pop("finalizers"))
    c.advance(20)
    assert get_ns(c) is None


def test_the_deletion_conditions_report_success_for_what_went_well(small_cluster):
    c = small_cluster
    c.create(namespace("doomed"))
    c.create(config_map("held", finalizers=["example.com/hold"]))
    c.store.delete(ns_type(c), None, "doomed")
    c.advance(6)
    ns = get_ns(c)
    assert [(x["type"], x["status"], x["reason"]) for x in ns["status"]["conditions"]] == [
        ("NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered"),
        ("NamespaceDeletionGroupVersionParsingFailure", "False", "ParsedGroupVersions"),
        ("NamespaceDeletionContentFailure", "False", "ContentDeleted"),
        ("NamespaceContentRemaining", "True", "SomeResourcesRemain"),
        ("NamespaceFinalizersRemaining", "True", "SomeFinalizersRemain")]


def test_changing_a_terminating_namespaces_labels_does_not_delete_it(doomed):
    doomed.store.mutate(ns_type(doomed), None, "doomed", lambda o: o["metadata"]["labels"].update(x="y"))
    assert get_ns(doomed)["status"]["phase"] == "Terminating"


def test_a_namespace_with_a_metadata_finalizer_outlives_its_content(small_cluster):
    c = small_cluster
    c.create({**namespace("doomed"), "metadata": {"name": "doomed", "finalizers": ["example.com/keep"]}})
    c.store.delete(ns_type(c), None, "doomed")
    c.advance(10)
    ns = get_ns(c)
    assert (ns["spec"]["finalizers"], ns["metadata"]["finalizers"]) == ([], ["example.com/keep"])
    c.store.mutate(ns_type(c), None, "doomed", lambda o: o["metadata"].pop("finalizers"))
    assert get_ns(c) is None


# ---- refusing new content ------------------------------------------------------------------------

def test_creating_in_a_terminating_namespace_is_forbidden_with_the_namespace_terminating_cause(doomed):
    with pytest.raises(ApiError) as info:
        doomed.create(config_map("cm2"))
    assert info.value.status() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 403, "reason": "Forbidden",
        "message": 'configmaps "cm2" is forbidden: unable to create new content in namespace doomed because it is '
                   "being terminated",
        "details": {"name": "cm2", "kind": "configmaps", "causes": [
            {"reason": "NamespaceTerminating", "message": "namespace doomed is being terminated",
             "field": "metadata.namespace"}]}}


def test_a_generated_name_is_reported_by_its_prefix(doomed):
    with pytest.raises(ApiError) as info:
        doomed.create({**config_map(""), "metadata": {"generateName": "cm-", "namespace": "doomed"}})
    assert info.value.message.startswith('configmaps "cm-" is forbidden: unable to create new content')


def test_a_pod_create_in_a_terminating_namespace_is_refused_over_http(served_small, http):
    c = served_small.cluster
    c.create(namespace("doomed"))
    status, _, _ = http("DELETE", "/api/v1/namespaces/doomed")
    assert status == 200
    status, _, body = http("POST", "/api/v1/namespaces/doomed/pods", pod("x"))
    answer = json.loads(body)
    assert (status, answer["reason"], answer["details"]["causes"][0]["reason"]) == (403, "Forbidden",
                                                                                      "NamespaceTerminating")
    assert answer["message"] == ('pods "x" is forbidden: unable to create new content in namespace doomed because '
                                 "it is being terminated")


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
def test_the_immortal_namespaces_may_not_be_deleted(small_cluster, name):
    with pytest.raises(ApiError) as info:
        small_cluster.store.delete(ns_type(small_cluster), None, name)
    assert (info.value.code, info.value.message) == (403, f'namespaces "{name}" is forbidden: this namespace may '
                                                          "not be deleted")


def deployment(name, namespace="doomed", replicas=2):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": PAUSE}]}}}}


def test_deleting_a_namespace_with_running_workloads_empties_it_without_errors(small_cluster):
    c = small_cluster
    c.create(namespace("doomed"))
    c.create(deployment("web"))
    c.advance(15)
    c.store.delete(ns_type(c), None, "doomed")
    c.advance(60)
    assert get_ns(c) is None
    assert c.store.items(c.ctx.pods, "doomed") == []
    assert c.errors == []

