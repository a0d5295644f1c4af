"""Watches through the official client's `kubernetes.watch.Watch`: events after a resourceVersion,
changes made while streaming, filtered watches and 410 for a resourceVersion older than the history."""
import json

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException


def config_map(name, **labels):
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels or None), data={"k": "v"})


def events(list_call, *args, count=100, until=None, on_event=None, **kwargs):
    """Events (type, name) from a one-second watch, up to `count` of them or up to the first about the
    object named `until` (a sentinel written last, so that no event is missing before it);
    `on_event(i)` runs after the i-th."""
    w = watch.Watch()
    seen = []
    for event in w.stream(list_call, *args, timeout_seconds=1, **kwargs):
        seen.append((event["type"], event["object"].metadata.name))
        if on_event:
            on_event(len(seen))
        if len(seen) >= count or seen[-1][1] == until:
            w.stop()
    return seen


def current_rv(core_api):
    return core_api.list_namespaced_config_map("default").metadata.resource_version


def test_watch_from_a_resource_version_delivers_the_changes_after_it(core_api):
    rv = current_rv(core_api)
    core_api.create_namespaced_config_map("default", config_map("a"))
    core_api.patch_namespaced_config_map("a", "default", {"data": {"k": "changed"}})
    core_api.delete_namespaced_config_map("a", "default")
    seen = events(core_api.list_namespaced_config_map, "default", count=3, resource_version=rv)
    assert seen == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]


def test_watch_does_not_replay_changes_up_to_its_resource_version(core_api):
    first = core_api.create_namespaced_config_map("default", config_map("before"))
    core_api.create_namespaced_config_map("default", config_map("after"))
    seen = events(core_api.list_namespaced_config_map, "default", until="after",
                  resource_version=first.metadata.resource_version)
    assert seen == [("ADDED", "after")]


def test_watch_delivers_changes_made_while_it_streams(core_api):
    rv = current_rv(core_api)
    core_api.create_namespaced_config_map("default", config_map("one"))

    def react(i):
        if i == 1:
            core_api.create_namespaced_config_map("default", config_map("two"))
    seen = events(core_api.list_namespaced_config_map, "default", count=2, on_event=react, resource_version=rv)
    assert seen == [("ADDED", "one"), ("ADDED", "two")]


def test_watch_event_objects_carry_increasing_resource_versions(core_api):
    rv = current_rv(core_api)
    for i in range(3):
        core_api.create_namespaced_config_map("default", config_map(f"cm-{i}"))
    w = watch.Watch()
    versions = []
    for event in w.stream(core_api.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=1):
        versions.append(int(event["object"].metadata.resource_version))
        if len(versions) == 3:
            w.stop()
    assert len(versions) == 3
    assert versions == sorted(versions) and versions[0] > int(rv)


def test_watch_without_a_resource_version_starts_with_added_events_for_existing_objects(core_api):
    web = sorted(p.metadata.name for p in core_api.list_namespaced_pod("demo", label_selector="app=web").items)
    seen = events(core_api.list_namespaced_pod, "demo", count=4, label_selector="app=web")
    assert sorted(seen) == [("ADDED", name) for name in web]


def test_watch_of_one_namespace_ignores_other_namespaces(core_api):
    rv = current_rv(core_api)
    core_api.create_namespaced_config_map("demo", config_map("elsewhere"))
    core_api.create_namespaced_config_map("default", config_map("here"))
    assert events(core_api.list_namespaced_config_map, "default", until="here", resource_version=rv) == [
        ("ADDED", "here")]


def test_watch_with_a_field_selector_sees_only_that_object(core_api):
    rv = current_rv(core_api)
    core_api.create_namespaced_config_map("default", config_map("other"))
    core_api.create_namespaced_config_map("default", config_map("wanted"))
    seen = events(core_api.list_namespaced_config_map, "default", until="wanted", resource_version=rv,
                  field_selector="metadata.name=wanted")
    assert seen == [("ADDED", "wanted")]


def test_an_object_leaving_a_label_selection_is_deleted_for_that_watch(core_api):
    core_api.create_namespaced_config_map("default", config_map("mover", tier="web"))
    rv = current_rv(core_api)
    core_api.patch_namespaced_config_map("mover", "default", {"metadata": {"labels": {"tier": "db"}}})
    core_api.patch_namespaced_config_map("mover", "default", {"metadata": {"labels": {"tier": "web"}}})
    seen = events(core_api.list_namespaced_config_map, "default", count=2, resource_version=rv,
                  label_selector="tier=web")
    assert seen == [("DELETED", "mover"), ("ADDED", "mover")]


def test_watch_from_a_resource_version_older_than_the_history_raises_410(core_api):
    # The scenario build compacted the history, so resourceVersion 1 is long gone.
    with pytest.raises(ApiException) as info:
        events(core_api.list_namespaced_config_map, "default", count=1, resource_version="1")
    assert info.value.status == 410
    assert info.value.reason.startswith("Expired: too old resource version: 1 (")


def test_too_old_watch_is_an_error_event_with_a_410_status(http):
    status, _, body = http("GET", "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1&timeoutSeconds=1")
    assert status == 200
    lines = [json.loads(line) for line in body.decode().splitlines() if line]
    assert len(lines) == 1
    assert lines[0]["type"] == "ERROR"
    error = lines[0]["object"]
    assert (error["kind"], error["status"], error["code"], error["reason"]) == ("Status", "Failure", 410, "Expired")


def test_watch_from_a_compacted_resource_version_is_410(core_api, served_small):
    rv = current_rv(core_api)
    core_api.create_namespaced_config_map("default", config_map("a"))
    served_small.cluster.store.compact_history()
    with pytest.raises(ApiException) as info:
        events(core_api.list_namespaced_config_map, "default", count=1, resource_version=rv)
    assert info.value.status == 410


def test_watch_from_the_newest_resource_version_after_compaction_works(core_api, served_small):
    served_small.cluster.store.compact_history()
    rv = current_rv(core_api)
    core_api.create_namespaced_config_map("default", config_map("fresh"))
    assert events(core_api.list_namespaced_config_map, "default", count=1, resource_version=rv) == [("ADDED", "fresh")]
