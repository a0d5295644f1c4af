"""Create, read, update and delete through the official client: metadata the server owns, optimistic
concurrency and the Status errors (NotFound, AlreadyExists, Conflict, Invalid) a real API server sends."""
import json
from datetime import datetime, timezone

import pytest
from kubernetes import client


def config_map(name, namespace="default", **data):
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, namespace=namespace), data=data or {"k": "v"})


def deployment(name="shop", labels=None, selector=None, image="nginx:1.25", replicas=2):
    labels = labels or {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": selector or labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}}}


def daemon_set(name="agent", selector=True):
    spec = {"template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "agent", "image": "busybox:1.36"}]}}}
    if selector:
        spec["selector"] = {"matchLabels": {"app": name}}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name}, "spec": spec}


# ---- create and read -------------------------------------------------------------------

def test_create_answers_201_with_the_stored_object(core_api):
    created, status, _ = core_api.create_namespaced_config_map_with_http_info("default", config_map("settings"))
    assert status == 201
    assert created.metadata.name == "settings"
    assert created.metadata.namespace == "default"
    assert created.data == {"k": "v"}


def test_create_sets_uid_creation_timestamp_and_resource_version(core_api, served_small):
    created = core_api.create_namespaced_config_map("default", config_map("settings"))
    assert len(created.metadata.uid) == 36
    assert created.metadata.resource_version.isdigit()
    expected = datetime.fromtimestamp(int(served_small.cluster.clock.now()), tz=timezone.utc)
    assert created.metadata.creation_timestamp == expected


def test_every_object_gets_its_own_uid(core_api):
    uids = {core_api.create_namespaced_config_map("default", config_map(f"cm-{i}")).metadata.uid for i in range(5)}
    assert len(uids) == 5


def test_resource_version_increases_across_kinds_and_namespaces(core_api, apps_api):
    first = core_api.create_namespaced_config_map("default", config_map("first"))
    second = core_api.create_namespaced_config_map("demo", config_map("second", namespace="demo"))
    third = apps_api.create_namespaced_deployment("default", deployment())
    versions = [int(o.metadata.resource_version) for o in (first, second, third)]
    assert versions == sorted(versions)
    assert len(set(versions)) == 3


def test_list_resource_version_is_the_newest_write(core_api):
    created = core_api.create_namespaced_config_map("default", config_map("settings"))
    listing = core_api.list_config_map_for_all_namespaces()
    assert int(listing.metadata.resource_version) >= int(created.metadata.resource_version)


def test_get_returns_what_create_stored(core_api):
    created = core_api.create_namespaced_config_map("default", config_map("settings", a="1"))
    fetched = core_api.read_namespaced_config_map("settings", "default")
    assert fetched.metadata.uid == created.metadata.uid
    assert fetched.metadata.resource_version == created.metadata.resource_version
    assert fetched.data == {"a": "1"}


def test_generate_name_gets_a_random_suffix(core_api):
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="job-run-"))
    names = {core_api.create_namespaced_config_map("default", body).metadata.name for _ in range(3)}
    assert len(names) == 3
    assert all(n.startswith("job-run-") and len(n) == len("job-run-") + 5 for n in names)


def test_get_of_a_missing_object_is_404_not_found(core_api, api_error):
    status, body = api_error(core_api.read_namespaced_config_map, "nope", "default")
    assert status == 404
    assert body["kind"] == "Status"
    assert body["reason"] == "NotFound"
    assert body["message"] == 'configmaps "nope" not found'
    assert body["details"] == {"name": "nope", "kind": "configmaps"}


def test_not_found_names_the_group_of_a_grouped_resource(apps_api, api_error):
    status, body = api_error(apps_api.read_namespaced_deployment, "nope", "default")
    assert status == 404
    assert body["message"] == 'deployments.apps "nope" not found'
    assert body["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}


def test_create_with_a_taken_name_is_409_already_exists(core_api, api_error):
    core_api.create_namespaced_config_map("default", config_map("settings"))
    status, body = api_error(core_api.create_namespaced_config_map, "default", config_map("settings"))
    assert status == 409
    assert body["reason"] == "AlreadyExists"
    assert body["message"] == 'configmaps "settings" already exists'


def test_create_in_a_missing_namespace_is_404_for_the_namespace(core_api, api_error):
    status, body = api_error(core_api.create_namespaced_config_map, "nowhere", config_map("settings", "nowhere"))
    assert status == 404
    assert body["message"] == 'namespaces "nowhere" not found'


def test_create_with_a_namespace_other_than_the_url_is_400(core_api, api_error):
    status, body = api_error(core_api.create_namespaced_config_map, "default", config_map("settings", "demo"))
    assert status == 400
    assert body["reason"] == "BadRequest"
    assert body["message"] == "the namespace of the provided object does not match the namespace sent on the request"


def test_a_name_that_is_not_a_dns_subdomain_is_422_invalid(core_api, api_error):
    status, body = api_error(core_api.create_namespaced_config_map, "default", config_map("Not_Valid"))
    assert status == 422
    assert body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    assert body["message"].startswith('ConfigMap "Not_Valid" is invalid: metadata.name: Invalid value: "Not_Valid": ')


def test_daemonset_without_a_selector_is_422_invalid(http):
    # Sent as plain JSON: the client's own model refuses a DaemonSet without a selector.
    status, _, raw = http("POST", "/apis/apps/v1/namespaces/default/daemonsets", daemon_set(selector=False))
    body = json.loads(raw)
    assert status == 422
    assert body["reason"] == "Invalid"
    details = body["details"]
    assert (details["kind"], details["group"], details["name"]) == ("DaemonSet", "apps", "agent")
    # ValidateDaemonSetSpec has no Required check: a nil selector matches nothing, so the template labels miss it.
    assert body["details"]["causes"] == [{
        "reason": "FieldValueInvalid", "field": "spec.template.metadata.labels",
        "message": 'Invalid value: map[string]string{"app":"agent"}: `selector` does not match template `labels`'}]
    assert body["message"] == ('DaemonSet.apps "agent" is invalid: spec.template.metadata.labels: Invalid value: '
                               'map[string]string{"app":"agent"}: `selector` does not match template `labels`')


def test_deployment_without_a_selector_reports_both_errors_in_brackets(http):
    sent = deployment()
    del sent["spec"]["selector"]
    status, _, raw = http("POST", "/apis/apps/v1/namespaces/default/deployments", sent)
    body = json.loads(raw)
    assert status == 422
    assert [(c["field"], c["reason"]) for c in body["details"]["causes"]] == [
        ("spec.selector", "FieldValueRequired"), ("spec.template.metadata.labels", "FieldValueInvalid")]
    assert body["message"] == ('Deployment.apps "shop" is invalid: [spec.selector: Required value, '
                               'spec.template.metadata.labels: Invalid value: map[string]string{"app":"shop"}: '
                               '`selector` does not match template `labels`]')


def test_deployment_whose_selector_misses_its_template_labels_is_422_invalid(apps_api, api_error):
    body_sent = deployment(labels={"app": "shop"}, selector={"app": "other"})
    status, body = api_error(apps_api.create_namespaced_deployment, "default", body_sent)
    assert status == 422
    assert body["reason"] == "Invalid"
    cause = body["details"]["causes"][0]
    assert cause["field"] == "spec.template.metadata.labels"
    assert cause["reason"] == "FieldValueInvalid"
    assert cause["message"].endswith("`selector` does not match template `labels`")
    assert body["message"].startswith(
        'Deployment.apps "shop" is invalid: spec.template.metadata.labels: Invalid value: ')


def test_invalid_create_stores_nothing(apps_api, api_error):
    api_error(apps_api.create_namespaced_deployment, "default", deployment(selector={"app": "other"}))
    assert apps_api.list_namespaced_deployment("default").items == []


def pod(name, resources=None, status=None):
    container = client.V1Container(name="c", image="busybox:1.36",
                                   resources=client.V1ResourceRequirements(**resources) if resources else None)
    return client.V1Pod(metadata=client.V1ObjectMeta(name=name), spec=client.V1PodSpec(containers=[container]),
                        status=status)


def test_a_new_pod_starts_pending_whatever_status_it_was_sent_with(core_api):
    created = core_api.create_namespaced_pod("default", pod("p", status=client.V1PodStatus(phase="Running",
                                                                                         pod_ip="10.0.0.9")))
    assert created.status.phase == "Pending"
    assert created.status.pod_ip is None


@pytest.mark.parametrize("resources, qos", [
    (None, "BestEffort"),
    ({"requests": {"cpu": "100m"}}, "Burstable"),
    ({"limits": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed"),
    ({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}, "Burstable"),
])
def test_a_new_pod_gets_the_qos_class_of_its_resources(core_api, resources, qos):
    assert core_api.create_namespaced_pod("default", pod("p", resources)).status.qos_class == qos


# ---- update ----------------------------------------------------------------------------

def test_update_with_the_current_resource_version_succeeds_and_bumps_it(core_api):
    created = core_api.create_namespaced_config_map("default", config_map("settings"))
    created.data = {"k": "changed"}
    updated = core_api.replace_namespaced_config_map("settings", "default", created)
    assert updated.data == {"k": "changed"}
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    assert updated.metadata.uid == created.metadata.uid


def test_update_with_stale_resource_version_is_409_conflict(core_api, api_error):
    stale = core_api.create_namespaced_config_map("default", config_map("settings"))
    fresh = core_api.read_namespaced_config_map("settings", "default")
    fresh.data = {"k": "first"}
    core_api.replace_namespaced_config_map("settings", "default", fresh)
    stale.data = {"k": "second"}
    status, body = api_error(core_api.replace_namespaced_config_map, "settings", "default", stale)
    assert status == 409
    assert body["reason"] == "Conflict"
    assert body["message"] == ('Operation cannot be fulfilled on configmaps "settings": the object has been modified; '
                               "please apply your changes to the latest version and try again")
    assert core_api.read_namespaced_config_map("settings", "default").data == {"k": "first"}


def test_update_without_a_resource_version_is_unconditional_for_a_configmap(core_api):
    core_api.create_namespaced_config_map("default", config_map("settings"))
    updated = core_api.replace_namespaced_config_map("settings", "default", config_map("settings", k="forced"))
    assert updated.data == {"k": "forced"}


def test_update_of_a_missing_object_is_404_not_found(core_api, api_error):
    status, body = api_error(core_api.replace_namespaced_config_map, "nope", "default", config_map("nope"))
    assert status == 404
    assert body["reason"] == "NotFound"


def test_update_keeps_the_creation_timestamp_whatever_is_sent(core_api):
    created = core_api.create_namespaced_config_map("default", config_map("settings"))
    body = core_api.api_client.sanitize_for_serialization(created)
    body["metadata"]["creationTimestamp"] = "2001-01-01T00:00:00Z"
    updated = core_api.replace_namespaced_config_map("settings", "default", body)
    assert updated.metadata.creation_timestamp == created.metadata.creation_timestamp


def test_update_with_another_uid_is_409_precondition_failed(core_api, api_error):
    created = core_api.create_namespaced_config_map("default", config_map("settings"))
    body = core_api.api_client.sanitize_for_serialization(created)
    body["metadata"]["uid"] = "00000000-0000-4000-8000-000000000000"
    status, answer = api_error(core_api.replace_namespaced_config_map, "settings", "default", body)
    assert status == 409
    # storage.Preconditions.Check's StorageError, as a v1.26.5 apiserver words it
    assert answer["message"] == ('Operation cannot be fulfilled on configmaps "settings": StorageError: invalid '
                                 "object, Code: 4, Key: /registry/configmaps/default/settings, ResourceVersion: 0, "
                                 "AdditionalErrorMsg: Precondition failed: UID in precondition: "
                                 "00000000-0000-4000-8000-000000000000, UID in object meta: "
                                 f"{created.metadata.uid}")


def test_update_of_an_object_named_other_than_the_url_is_400(core_api, api_error):
    core_api.create_namespaced_config_map("default", config_map("settings"))
    status, answer = api_error(core_api.replace_namespaced_config_map, "settings", "default", config_map("other"))
    assert status == 400
    assert answer["message"] == "the name of the object (other) does not match the name on the URL (settings)"


def test_an_unchanged_update_keeps_the_resource_version(core_api):
    created = core_api.create_namespaced_config_map("default", config_map("settings"))
    again = core_api.replace_namespaced_config_map("settings", "default", created)
    assert again.metadata.resource_version == created.metadata.resource_version


# ---- generation ------------------------------------------------------------------------

def test_generation_starts_at_one(apps_api):
    assert apps_api.create_namespaced_deployment("default", deployment()).metadata.generation == 1


def test_kinds_whose_registry_keeps_no_generation_have_none(core_api):
    created = core_api.create_namespaced_config_map("default", config_map("settings"))
    assert created.metadata.generation is None
    created.data = {"k": "changed"}
    assert core_api.replace_namespaced_config_map("settings", "default", created).metadata.generation is None


def test_generation_bumps_when_the_spec_changes(apps_api):
    created = apps_api.create_namespaced_deployment("default", deployment())
    created.spec.template.spec.containers[0].image = "nginx:1.27"
    assert apps_api.replace_namespaced_deployment("shop", "default", created).metadata.generation == 2


def test_generation_stays_when_only_metadata_changes(apps_api):
    created = apps_api.create_namespaced_deployment("default", deployment())
    created.metadata.labels = {"team": "web"}
    created.metadata.annotations = {"note": "x"}
    updated = apps_api.replace_namespaced_deployment("shop", "default", created)
    assert updated.metadata.labels == {"team": "web"}
    assert updated.metadata.generation == 1
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)


def test_generation_stays_when_the_status_changes(apps_api):
    created = apps_api.create_namespaced_deployment("default", deployment())
    created.status = client.V1DeploymentStatus(observed_generation=1, replicas=7)
    updated = apps_api.replace_namespaced_deployment_status("shop", "default", created)
    assert updated.status.replicas == 7
    assert updated.metadata.generation == 1


def test_update_of_the_main_resource_ignores_status(apps_api):
    created = apps_api.create_namespaced_deployment("default", deployment())
    created.status = client.V1DeploymentStatus(replicas=99)
    updated = apps_api.replace_namespaced_deployment("shop", "default", created)
    assert (updated.status.replicas if updated.status else None) != 99


def test_status_update_ignores_spec_changes(apps_api):
    created = apps_api.create_namespaced_deployment("default", deployment(replicas=2))
    created.spec.replicas = 9
    updated = apps_api.replace_namespaced_deployment_status("shop", "default", created)
    assert updated.spec.replicas == 2


# ---- the request log -------------------------------------------------------------------

def test_a_write_is_in_the_request_log_by_the_time_the_call_returns(core_api, served_small):
    for i in range(20):
        core_api.create_namespaced_config_map("default", config_map(f"cm-{i}"))
        last = served_small.request_log.writes()[-1]
        assert (last.method, last.path, last.status) == ("POST", "/api/v1/namespaces/default/configmaps", 201)
        assert len(served_small.request_log.writes()) == i + 1


def test_annotations_over_256_kib_are_422_too_long(core_api, api_error):
    body = {"metadata": {"name": "big", "annotations": {"blob": "x" * (256 * 1024)}}, "data": {}}
    status, answer = api_error(core_api.create_namespaced_config_map, "default", body)
    assert status == 422
    assert "metadata.annotations: Too long: must have at most 262144 bytes" in answer["message"]


def test_a_label_value_over_63_characters_is_422(core_api, api_error):
    body = {"metadata": {"name": "long-label", "labels": {"team": "x" * 64}}, "data": {}}
    status, answer = api_error(core_api.create_namespaced_config_map, "default", body)
    assert status == 422
    assert "must be no more than 63 characters" in answer["message"]


# The strategies' PrepareForUpdate (e.g. pkg/registry/apps/deployment/strategy.go) bump metadata.generation when
# the decoded, so defaulted, spec differs from the stored one: a PUT that leaves out defaulted fields changes
# nothing (a v1.26.5 apiserver answered generation 1 and the same resourceVersion).
def test_an_update_that_leaves_out_only_defaulted_fields_keeps_the_generation(http):
    import json as _json
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "gen"}, "spec": {
        "replicas": 0, "selector": {"matchLabels": {"app": "gen"}},
        "template": {"metadata": {"labels": {"app": "gen"}},
                     "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]}}}}
    _, _, body = http("POST", "/apis/apps/v1/namespaces/default/deployments", deployment)
    created = _json.loads(body)
    deployment["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    status, _, body = http("PUT", "/apis/apps/v1/namespaces/default/deployments/gen", deployment)
    replaced = _json.loads(body)
    assert status == 200
    assert (replaced["metadata"]["generation"], replaced["metadata"]["resourceVersion"]) == (
        1, created["metadata"]["resourceVersion"])


# pkg/apis/core/v1/conversion.go: a Secret's stringData is merged into data (base64) on write and never stored;
# SetDefaults_Secret types it Opaque (as a v1.26.5 apiserver answered).
def test_a_secrets_string_data_is_stored_base64_in_data(http):
    import json as _json
    status, _, body = http("POST", "/api/v1/namespaces/default/secrets?dryRun=All", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"x": "eA=="},
        "stringData": {"x": "override", "y": "b"}})
    secret = _json.loads(body)
    assert status == 201
    assert (secret["data"], secret["type"], "stringData" in secret) == ({"x": "b3ZlcnJpZGU=", "y": "Yg=="}, "Opaque",
                                                                        False)


def test_a_statefulset_keeps_ten_revisions_by_default(apps_api):
    from kubernetes import client
    sts = apps_api.create_namespaced_stateful_set("default", client.V1StatefulSet(
        metadata=client.V1ObjectMeta(name="db"), spec=client.V1StatefulSetSpec(
            service_name="db", selector=client.V1LabelSelector(match_labels={"app": "db"}),
            template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels={"app": "db"}), spec=client.V1PodSpec(
                containers=[client.V1Container(name="db", image="busybox:1.36")])))))
    assert sts.spec.revision_history_limit == 10


def test_a_network_policy_port_defaults_to_tcp(http):
    import json as _json
    status, _, body = http("POST", "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies?dryRun=All", {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p"},
        "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]}})
    assert status == 201
    assert _json.loads(body)["spec"]["ingress"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]
