"""DELETE through the official client: graceful pod termination, finalizers, propagation policies
(Background, Orphan, Foreground) and namespace termination, on the manual clock."""
from datetime import datetime, timedelta, timezone

import pytest
from kubernetes import client

MERGE = "application/merge-patch+json"


def config_map(name, finalizers=None, namespace="default"):
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, namespace=namespace, finalizers=finalizers),
                              data={"k": "v"})


def replica_set(name="batch", replicas=2):
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}}}


def pods_of(core_api, app, namespace="default"):
    return core_api.list_namespaced_pod(namespace, label_selector=f"app={app}").items


@pytest.fixture
def running_replica_set(served_small, core_api, apps_api):
    """A ReplicaSet in `default` whose two pods run."""
    rs = apps_api.create_namespaced_replica_set("default", replica_set())
    served_small.cluster.advance(10)
    pods = pods_of(core_api, "batch")
    assert len(pods) == 2 and all(p.status.phase == "Running" for p in pods)
    return rs


def web_pod(core_api):
    return core_api.list_namespaced_pod("demo", label_selector="app=web").items[0]


def exists(read, *args):
    try:
        read(*args)
        return True
    except client.exceptions.ApiException as exc:
        if exc.status == 404:
            return False
        raise


# ---- plain deletes ---------------------------------------------------------------------

def test_deleting_a_configmap_removes_it_at_once_and_answers_with_a_success_status(core_api):
    created = core_api.create_namespaced_config_map("default", config_map("settings"))
    # The client hands the answer back as a plain dict: it may be a Status or the object.
    answer = core_api.delete_namespaced_config_map("settings", "default")
    assert answer == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                      "details": {"name": "settings", "kind": "configmaps", "uid": created.metadata.uid}}
    assert not exists(core_api.read_namespaced_config_map, "settings", "default")


def test_deleting_a_missing_object_is_404_not_found(core_api, api_error):
    status, body = api_error(core_api.delete_namespaced_config_map, "nope", "default")
    assert status == 404
    assert body["message"] == 'configmaps "nope" not found'


def test_delete_with_a_uid_precondition_that_does_not_match_is_409(core_api, api_error):
    core_api.create_namespaced_config_map("default", config_map("settings"))
    options = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="not-the-uid"))
    status, body = api_error(core_api.delete_namespaced_config_map, "settings", "default", body=options)
    assert status == 409
    assert body["reason"] == "Conflict"
    assert exists(core_api.read_namespaced_config_map, "settings", "default")


def test_delete_collection_removes_only_the_selected_objects(core_api):
    for name, tier in (("a", "web"), ("b", "web"), ("c", "db")):
        core_api.create_namespaced_config_map("default", client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=name, labels={"tier": tier})))
    core_api.delete_collection_namespaced_config_map("default", label_selector="tier=web")
    assert [c.metadata.name for c in core_api.list_namespaced_config_map("default").items
            if c.metadata.name in "abc"] == ["c"]


# ---- graceful pod deletion ---------------------------------------------------------------

def test_deleting_a_pod_bound_to_a_node_marks_it_terminating_with_its_grace_period(core_api, served_small):
    pod = web_pod(core_api)
    answer = core_api.delete_namespaced_pod(pod.metadata.name, "demo")
    assert answer.metadata.deletion_grace_period_seconds == 30
    # deletionTimestamp is when the grace period runs out, not when the delete was asked for
    now = datetime.fromtimestamp(int(served_small.cluster.clock.now()), tz=timezone.utc)
    assert answer.metadata.deletion_timestamp == now + timedelta(seconds=30)
    stored = core_api.read_namespaced_pod(pod.metadata.name, "demo")
    assert stored.metadata.deletion_timestamp == answer.metadata.deletion_timestamp


def test_a_terminating_pod_disappears_only_after_the_kubelet_stops_it(core_api, served_small):
    name = web_pod(core_api).metadata.name
    core_api.delete_namespaced_pod(name, "demo")
    assert exists(core_api.read_namespaced_pod, name, "demo")
    served_small.cluster.advance(1)
    assert exists(core_api.read_namespaced_pod, name, "demo")
    served_small.cluster.advance(30)
    assert not exists(core_api.read_namespaced_pod, name, "demo")


def test_grace_period_zero_deletes_a_pod_at_once(core_api):
    name = web_pod(core_api).metadata.name
    core_api.delete_namespaced_pod(name, "demo", grace_period_seconds=0)
    assert not exists(core_api.read_namespaced_pod, name, "demo")


def test_an_explicit_grace_period_replaces_the_pods_own(core_api):
    name = web_pod(core_api).metadata.name
    answer = core_api.delete_namespaced_pod(name, "demo", grace_period_seconds=5)
    assert answer.metadata.deletion_grace_period_seconds == 5


def test_a_second_delete_may_shorten_the_grace_period(core_api):
    name = web_pod(core_api).metadata.name
    core_api.delete_namespaced_pod(name, "demo")
    answer = core_api.delete_namespaced_pod(name, "demo", grace_period_seconds=3)
    assert answer.metadata.deletion_grace_period_seconds == 3


def test_deleting_an_unscheduled_pod_is_immediate(core_api):
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="unbound"),
                       spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1.36")]))
    core_api.create_namespaced_pod("default", pod)
    core_api.delete_namespaced_pod("unbound", "default")
    assert not exists(core_api.read_namespaced_pod, "unbound", "default")


# ---- finalizers --------------------------------------------------------------------------

def test_a_finalizer_holds_a_deleted_object_until_it_is_removed(core_api):
    core_api.create_namespaced_config_map("default", config_map("held", finalizers=["example.com/hold"]))
    answer = core_api.delete_namespaced_config_map("held", "default")
    assert answer["kind"] == "ConfigMap"
    assert answer["metadata"]["deletionTimestamp"]
    stored = core_api.read_namespaced_config_map("held", "default")
    assert stored.metadata.deletion_timestamp is not None
    assert stored.metadata.finalizers == ["example.com/hold"]
    core_api.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": None}}, _content_type=MERGE)
    assert not exists(core_api.read_namespaced_config_map, "held", "default")


def test_no_finalizer_can_be_added_to_an_object_being_deleted(core_api, api_error):
    core_api.create_namespaced_config_map("default", config_map("held", finalizers=["example.com/hold"]))
    core_api.delete_namespaced_config_map("held", "default")
    status, body = api_error(core_api.patch_namespaced_config_map, "held", "default",
                             {"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}},
                             _content_type=MERGE)
    assert status == 422
    assert body["details"]["causes"][0]["field"] == "metadata.finalizers"
    assert body["details"]["causes"][0]["reason"] == "FieldValueForbidden"


# ---- propagation policies ------------------------------------------------------------------

def test_background_deletion_removes_the_owner_and_then_collects_its_pods(running_replica_set, core_api, apps_api,
                                                                          served_small):
    answer = apps_api.delete_namespaced_replica_set("batch", "default", propagation_policy="Background")
    assert answer["status"] == "Success"
    assert answer["details"]["group"] == "apps"
    assert not exists(apps_api.read_namespaced_replica_set, "batch", "default")
    assert len(pods_of(core_api, "batch")) == 2
    served_small.cluster.advance(40)
    assert pods_of(core_api, "batch") == []


def test_orphan_deletion_leaves_the_pods_without_an_owner_reference(running_replica_set, core_api, apps_api,
                                                                    served_small):
    answer = apps_api.delete_namespaced_replica_set("batch", "default", propagation_policy="Orphan")
    assert "orphan" in answer["metadata"]["finalizers"]
    served_small.cluster.advance(40)
    assert not exists(apps_api.read_namespaced_replica_set, "batch", "default")
    pods = pods_of(core_api, "batch")
    assert len(pods) == 2
    assert all(not p.metadata.owner_references and p.metadata.deletion_timestamp is None for p in pods)


def test_foreground_deletion_keeps_the_owner_until_its_pods_are_gone(running_replica_set, core_api, apps_api,
                                                                     served_small):
    answer = apps_api.delete_namespaced_replica_set("batch", "default", propagation_policy="Foreground")
    assert answer["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in answer["metadata"]["finalizers"]
    served_small.cluster.advance(1)
    assert exists(apps_api.read_namespaced_replica_set, "batch", "default")
    assert all(p.metadata.deletion_timestamp is not None for p in pods_of(core_api, "batch"))
    served_small.cluster.advance(40)
    assert pods_of(core_api, "batch") == []
    assert not exists(apps_api.read_namespaced_replica_set, "batch", "default")


# ---- namespaces ---------------------------------------------------------------------------

@pytest.fixture
def scratch(core_api):
    core_api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="scratch")))
    core_api.create_namespaced_config_map("scratch", config_map("settings", namespace="scratch"))
    return "scratch"


def test_deleting_a_namespace_makes_it_terminating(scratch, core_api):
    answer = core_api.delete_namespace(scratch)
    assert answer["status"]["phase"] == "Terminating"
    stored = core_api.read_namespace(scratch)
    assert stored.status.phase == "Terminating"
    assert stored.metadata.deletion_timestamp is not None


def test_nothing_new_can_be_created_in_a_terminating_namespace(scratch, core_api, api_error):
    core_api.delete_namespace(scratch)
    status, body = api_error(core_api.create_namespaced_config_map, scratch, config_map("late", namespace=scratch))
    assert status == 403
    assert body["reason"] == "Forbidden"
    assert body["message"] == ('configmaps "late" is forbidden: unable to create new content in namespace scratch '
                               "because it is being terminated")
    assert body["details"]["causes"] == [{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                                          "message": "namespace scratch is being terminated"}]


def test_a_terminating_namespace_is_emptied_then_disappears(scratch, core_api, served_small):
    core_api.delete_namespace(scratch)
    served_small.cluster.advance(5)
    assert core_api.list_namespaced_config_map(scratch).items == []
    assert not exists(core_api.read_namespace, scratch)
