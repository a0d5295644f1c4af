"""The pods/eviction subresource through the official client, against the scenario's `web`
PodDisruptionBudget (maxUnavailable 1 over four ready pods)."""
import json

from kubernetes import client


def eviction(name, namespace="demo"):
    return client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=namespace))


def eviction_body(name):
    return {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": "demo"}}


def web_pods(core_api):
    return core_api.list_namespaced_pod("demo", label_selector="app=web").items


def web_budget(policy_api):
    return policy_api.read_namespaced_pod_disruption_budget("web", "demo")


def test_the_budget_allows_one_disruption_to_start_with(policy_api):
    status = web_budget(policy_api).status
    assert (status.current_healthy, status.desired_healthy, status.disruptions_allowed) == (4, 3, 1)


def test_an_allowed_eviction_answers_201_with_a_success_status(core_api, http):
    name = web_pods(core_api)[0].metadata.name
    status, _, body = http("POST", f"/api/v1/namespaces/demo/pods/{name}/eviction", eviction_body(name))
    assert status == 201
    assert json.loads(body) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                "code": 201}


def test_an_allowed_eviction_starts_the_pods_graceful_deletion(core_api):
    name = web_pods(core_api)[0].metadata.name
    core_api.create_namespaced_pod_eviction(name, "demo", eviction(name))
    pod = core_api.read_namespaced_pod(name, "demo")
    assert pod.metadata.deletion_timestamp is not None
    assert pod.metadata.deletion_grace_period_seconds == 30


def test_an_allowed_eviction_uses_up_the_budget(core_api, policy_api):
    name = web_pods(core_api)[0].metadata.name
    core_api.create_namespaced_pod_eviction(name, "demo", eviction(name))
    status = web_budget(policy_api).status
    assert status.disruptions_allowed == 0
    assert name in status.disrupted_pods


def test_an_eviction_that_uses_up_the_budget_turns_its_condition_false(core_api, policy_api):
    """checkAndDecrement (pkg/registry/core/pod/storage/eviction.go) calls UpdateDisruptionAllowedCondition
    once disruptionsAllowed reaches 0."""
    name = web_pods(core_api)[0].metadata.name
    generation = web_budget(policy_api).metadata.generation
    core_api.create_namespaced_pod_eviction(name, "demo", eviction(name))
    [condition] = web_budget(policy_api).status.conditions
    assert (condition.type, condition.status, condition.reason, condition.observed_generation) == (
        "DisruptionAllowed", "False", "InsufficientPods", generation)


def test_an_eviction_the_budget_does_not_allow_is_429_with_the_disruption_budget_cause(core_api, api_error):
    first, second = [p.metadata.name for p in web_pods(core_api)[:2]]
    core_api.create_namespaced_pod_eviction(first, "demo", eviction(first))
    code, body = api_error(core_api.create_namespaced_pod_eviction, second, "demo", eviction(second))
    assert code == 429
    assert body["reason"] == "TooManyRequests"
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert body["details"]["causes"] == [{"reason": "DisruptionBudget",
                                          "message": "The disruption budget web needs 3 healthy pods and has 4 "
                                                     "currently"}]
    assert core_api.read_namespaced_pod(second, "demo").metadata.deletion_timestamp is None


def test_a_refused_eviction_carries_no_retry_after_header(core_api, http):
    first, second = [p.metadata.name for p in web_pods(core_api)[:2]]
    core_api.create_namespaced_pod_eviction(first, "demo", eviction(first))
    status, headers, _ = http("POST", f"/api/v1/namespaces/demo/pods/{second}/eviction", eviction_body(second))
    assert status == 429
    assert "Retry-After" not in headers


def test_the_budget_allows_another_eviction_once_the_replacement_is_ready(core_api, policy_api, served_small):
    first, second = [p.metadata.name for p in web_pods(core_api)[:2]]
    core_api.create_namespaced_pod_eviction(first, "demo", eviction(first))
    served_small.cluster.advance(60)
    assert web_budget(policy_api).status.disruptions_allowed == 1
    core_api.create_namespaced_pod_eviction(second, "demo", eviction(second))


def test_evicting_a_missing_pod_is_404_not_found(core_api, api_error):
    code, body = api_error(core_api.create_namespaced_pod_eviction, "nope", "demo", eviction("nope"))
    assert code == 404
    assert body["reason"] == "NotFound"
    assert body["message"] == 'pods "nope" not found'


def test_a_pod_no_budget_covers_is_always_evicted(core_api):
    api_pods = core_api.list_namespaced_pod("demo", label_selector="app=api").items
    for pod in api_pods:
        core_api.create_namespaced_pod_eviction(pod.metadata.name, "demo", eviction(pod.metadata.name))
    assert all(core_api.read_namespaced_pod(p.metadata.name, "demo").metadata.deletion_timestamp for p in api_pods)


def test_a_budget_whose_change_the_controller_has_not_seen_is_429_retry_in_ten_seconds(core_api, policy_api, http):
    policy_api.patch_namespaced_pod_disruption_budget("web", "demo", {"spec": {"maxUnavailable": 2}})
    name = web_pods(core_api)[0].metadata.name
    status, headers, raw = http("POST", f"/api/v1/namespaces/demo/pods/{name}/eviction", eviction_body(name))
    assert status == 429
    assert headers["Retry-After"] == "10"
    answer = json.loads(raw)
    assert answer["details"]["retryAfterSeconds"] == 10
    assert answer["details"]["causes"][0]["message"] == ("The disruption budget web is still being processed by "
                                                         "the server.")


def test_a_dry_run_eviction_leaves_pod_and_budget_alone(core_api, policy_api):
    name = web_pods(core_api)[0].metadata.name
    body = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace="demo"),
                             delete_options=client.V1DeleteOptions(dry_run=["All"]))
    core_api.create_namespaced_pod_eviction(name, "demo", body)
    assert core_api.read_namespaced_pod(name, "demo").metadata.deletion_timestamp is None
    assert web_budget(policy_api).status.disruptions_allowed == 1


def test_the_viewer_may_not_evict(served_small, api_error):
    viewer = client.CoreV1Api(served_small.api_client(token=served_small.cluster.credentials.viewer_token))
    name = viewer.list_namespaced_pod("demo", label_selector="app=web").items[0].metadata.name
    code, body = api_error(viewer.create_namespaced_pod_eviction, name, "demo", eviction(name))
    assert code == 403
    assert body["message"] == (f'pods "{name}" is forbidden: User "sim-viewer" cannot create resource '
                               '"pods/eviction" in API group "" in the namespace "demo"')
