"""The same behaviour, asked of the simulator and of a real kube-apiserver v1.26.5 (the `api_server`
fixture runs each test on both; the real one is the `realapi` tier, skipped without KUBEBUILDER_ASSETS).
Where they disagree the simulator is wrong until shown otherwise (DESIGN.md section 4)."""
from __future__ import annotations

import re

import pytest

from migrate.kube import AlreadyExists, Conflict, TooManyRequests

MERGE = "application/merge-patch+json"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/{}/leases"
PAUSE = "registry.k8s.io/pause:3.9"
UNTOUCHED_KINDS = {"events"}  # written by controllers on their own schedule, never by a write under test


def config_map(name: str, **data) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data or {"k": "v"}}


def pod(name: str, labels: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": {"terminationGracePeriodSeconds": 30,
                     "containers": [{"name": "main", "image": PAUSE}]}}


def guarded_pod(api_server) -> tuple[str, str]:
    """A running pod `guarded` in a new namespace, under a budget that needs it (minAvailable 1):
    (the namespace, the budget's path)."""
    ns = api_server.new_namespace()
    api_server.kube.create(f"/api/v1/namespaces/{ns}/pods", pod("guarded", {"app": "guarded"}))
    api_server.kube.create(f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets", {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "guarded"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "guarded"}}}})
    api_server.run_pods(ns, "guarded")
    return ns, f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/guarded"


def lease(name: str, holder: str) -> dict:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 60}}


def namespaced_collections(kube) -> list[str]:
    """Every listable namespaced resource the server serves (preferred versions), by discovery."""
    paths = []
    for resource in kube.get("/api/v1")["resources"]:
        if "/" not in resource["name"] and resource["namespaced"] and "list" in resource.get("verbs", []):
            paths.append(("", f"/api/v1/namespaces/{{}}/{resource['name']}", resource["name"]))
    for group in kube.get("/apis")["groups"]:
        version = group["preferredVersion"]["groupVersion"]
        for resource in kube.get(f"/apis/{version}")["resources"]:
            if "/" not in resource["name"] and resource["namespaced"] and "list" in resource.get("verbs", []):
                paths.append((group["name"], f"/apis/{version}/namespaces/{{}}/{resource['name']}", resource["name"]))
    return [path for _, path, name in paths if name not in UNTOUCHED_KINDS]


def resource_versions(kube, namespace: str, cluster_paths: list[str]) -> dict[str, str]:
    """path -> resourceVersion of every object in the namespace and of the cluster-scoped objects named."""
    versions = {}
    for collection in namespaced_collections(kube):
        path = collection.format(namespace)
        for obj in kube.list(path):
            versions[f"{path}/{obj['metadata']['name']}"] = obj["metadata"]["resourceVersion"]
    for path in cluster_paths:
        versions[path] = kube.get(path)["metadata"]["resourceVersion"]
    return versions


# ---- (a) server-side dry run persists nothing -----------------------------------------------

def test_a_server_dry_run_of_every_write_kind_the_tool_uses_changes_no_object(api_server):
    kube = api_server.kube
    ns = api_server.new_namespace()
    configmaps = f"/api/v1/namespaces/{ns}/configmaps"
    settings = kube.create(configmaps, config_map("settings"))
    kube.create(LEASES.format(ns), lease("lock", "alice"))
    kube.create(f"/api/v1/namespaces/{ns}/pods", pod("worker"))
    api_server.run_pods(ns, "worker")
    worker = kube.get(f"/api/v1/namespaces/{ns}/pods/worker")
    node = f"/api/v1/nodes/{api_server.node_name}"
    touched = [f"/api/v1/namespaces/{ns}", node]
    before = resource_versions(kube, ns, touched)
    assert f"{configmaps}/settings" in before and f"/api/v1/namespaces/{ns}/pods/worker" in before

    created = kube.create(configmaps, config_map("ghost"), dry_run="All")
    assert created["metadata"]["name"] == "ghost"
    ghost_ns = kube.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": f"{ns}-ghost"}}, dry_run="All")
    assert ghost_ns["metadata"]["name"] == f"{ns}-ghost"
    replaced = kube.replace(f"{configmaps}/settings", {**settings, "data": {"k": "replaced"}}, dry_run="All")
    assert replaced["data"] == {"k": "replaced"}
    merged = kube.patch(f"{configmaps}/settings", {"data": {"k": "merged"}}, dry_run="All")
    assert merged["data"] == {"k": "merged"}
    cordoned = kube.patch(node, {"spec": {"unschedulable": True}}, dry_run="All")
    assert cordoned["spec"]["unschedulable"] is True
    patched = kube.patch(f"{configmaps}/settings", [{"op": "replace", "path": "/data/k", "value": "json"}],
                         patch_type="json", dry_run="All")
    assert patched["data"] == {"k": "json"}
    kube.delete(f"{configmaps}/settings", dry_run="All")
    kube.delete(f"/api/v1/namespaces/{ns}/pods/worker", dry_run="All", grace_period=0, uid=worker["metadata"]["uid"])
    kube.evict(ns, "worker", dry_run="All")

    assert resource_versions(kube, ns, touched) == before
    assert kube.get_optional(f"{configmaps}/ghost") is None
    assert kube.get_optional(f"/api/v1/namespaces/{ns}-ghost") is None
    assert kube.get(f"/api/v1/namespaces/{ns}/pods/worker")["metadata"].get("deletionTimestamp") is None
    assert kube.get(node)["spec"].get("unschedulable") is None


# ---- (b) DELETE takes its options from the body, and then ignores the query ----------------

def test_a_delete_with_an_options_body_ignores_dry_run_in_the_query_and_deletes(api_server):
    ns = api_server.new_namespace()
    path = f"/api/v1/namespaces/{ns}/configmaps/settings"
    created = api_server.kube.create(f"/api/v1/namespaces/{ns}/configmaps", config_map("settings"))

    answer = api_server.request("DELETE", f"{path}?dryRun=All",
                                {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0})

    assert answer.status == 200, answer
    assert answer.json == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                           "details": {"name": "settings", "kind": "configmaps", "uid": created["metadata"]["uid"]}}
    assert api_server.request("GET", path).status == 404


def test_a_delete_with_dry_run_in_its_options_body_keeps_the_object(api_server):
    ns = api_server.new_namespace()
    path = f"/api/v1/namespaces/{ns}/configmaps/settings"
    created = api_server.kube.create(f"/api/v1/namespaces/{ns}/configmaps", config_map("settings"))

    answer = api_server.request("DELETE", path, {"apiVersion": "v1", "kind": "DeleteOptions", "dryRun": ["All"]})

    assert answer.status == 200, answer
    assert api_server.kube.get(path)["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


# ---- (c) Lease create and update conflicts --------------------------------------------------

def test_creating_a_lease_whose_name_is_taken_is_409_already_exists(api_server):
    ns = api_server.new_namespace()
    api_server.kube.create(LEASES.format(ns), lease("lock", "alice"))

    with pytest.raises(AlreadyExists):
        api_server.kube.create(LEASES.format(ns), lease("lock", "bob"))
    answer = api_server.request("POST", LEASES.format(ns), lease("lock", "bob"))

    assert answer.status == 409, answer
    assert answer.json == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": 'leases.coordination.k8s.io "lock" already exists', "reason": "AlreadyExists",
                           "details": {"name": "lock", "group": "coordination.k8s.io", "kind": "leases"}, "code": 409}
    assert api_server.kube.get(f"{LEASES.format(ns)}/lock")["spec"]["holderIdentity"] == "alice"


def test_updating_a_lease_with_a_stale_resource_version_is_409_conflict(api_server):
    ns = api_server.new_namespace()
    path = f"{LEASES.format(ns)}/lock"
    stale = api_server.kube.create(LEASES.format(ns), lease("lock", "alice"))
    api_server.kube.replace(path, {**stale, "spec": {**stale["spec"], "holderIdentity": "bob"}})
    carol = {**stale, "spec": {**stale["spec"], "holderIdentity": "carol"}}

    with pytest.raises(Conflict):
        api_server.kube.replace(path, carol)
    answer = api_server.request("PUT", path, carol)

    assert answer.status == 409, answer
    assert answer.json == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": 'Operation cannot be fulfilled on leases.coordination.k8s.io "lock": the object '
                                      'has been modified; please apply your changes to the latest version and try again',
                           "reason": "Conflict",
                           "details": {"name": "lock", "group": "coordination.k8s.io", "kind": "leases"}, "code": 409}
    assert api_server.kube.get(path)["spec"]["holderIdentity"] == "bob"


# ---- (d) eviction against a PodDisruptionBudget ---------------------------------------------

def test_an_eviction_a_disruption_budget_does_not_allow_is_429(api_server):
    kube = api_server.kube
    ns, budget_path = guarded_pod(api_server)

    def budget_observed():
        budget = kube.get(budget_path)
        status = budget.get("status") or {}
        return (status.get("observedGeneration") == budget["metadata"]["generation"]
                and status.get("currentHealthy") == 1)
    api_server.wait_until(budget_observed, "the disruption controller's status of budget guarded")
    status = kube.get(budget_path)["status"]
    assert (status.get("desiredHealthy"), status.get("disruptionsAllowed", 0), status.get("expectedPods")) == (1, 0, 1)

    with pytest.raises(TooManyRequests):
        kube.evict(ns, "guarded")
    answer = api_server.request("POST", f"/api/v1/namespaces/{ns}/pods/guarded/eviction", {
        "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "guarded", "namespace": ns}})

    assert answer.status == 429, answer
    assert answer.json == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": "Cannot evict pod as it would violate the pod's disruption budget.",
                           "reason": "TooManyRequests",
                           "details": {"causes": [{"reason": "DisruptionBudget",
                                                   "message": "The disruption budget guarded needs 1 healthy pods and "
                                                              "has 1 currently"}]},
                           "code": 429}
    assert kube.get(f"/api/v1/namespaces/{ns}/pods/guarded")["metadata"].get("deletionTimestamp") is None


# ---- (e) metav1.MicroTime fields ------------------------------------------------------------

def test_a_lease_time_without_microseconds_is_400_as_micro_time_decoding_refuses_it(api_server):
    ns = api_server.new_namespace()
    body = lease("lock", "alice")
    body["spec"]["renewTime"] = "2024-01-01T00:00:00Z"

    answer = api_server.request("POST", LEASES.format(ns), body)

    assert answer.status == 400, answer
    assert answer.json == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": 'Lease in version "v1" cannot be handled as a Lease: parsing time '
                                      '"2024-01-01T00:00:00Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" '
                                      'as ".000000"',
                           "reason": "BadRequest", "code": 400}
    assert api_server.kube.get_optional(f"{LEASES.format(ns)}/lock") is None


def test_a_lease_micro_time_with_an_offset_is_stored_in_utc_with_six_digits(api_server):
    ns = api_server.new_namespace()
    body = lease("lock", "alice")
    body["spec"].update(acquireTime="2024-01-01T02:00:00.123456+02:00", renewTime=None)

    created = api_server.kube.create(LEASES.format(ns), body)

    assert created["spec"] == {"holderIdentity": "alice", "leaseDurationSeconds": 60,
                               "acquireTime": "2024-01-01T00:00:00.123456Z"}
    assert api_server.kube.get(f"{LEASES.format(ns)}/lock")["spec"] == created["spec"]


# ---- (f) PUT creates where the registry allows create-on-update -----------------------------

def test_a_put_to_a_missing_object_creates_it_only_where_the_strategy_allows_create_on_update(api_server):
    ns = api_server.new_namespace()
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/{}/roles"
    cases = [  # collection, body, status a PUT of a missing object answers
        (LEASES, lease("lock", "alice"), 201),
        ("/api/v1/namespaces/{}/endpoints", {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "ep"}}, 201),
        (rbac, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "reader"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}, 201),
        ("/api/v1/namespaces/{}/configmaps", config_map("settings"), 404),
    ]
    for collection, body, status in cases:
        path = f"{collection.format(ns)}/{body['metadata']['name']}"
        answer = api_server.request("PUT", path, body)
        assert answer.status == status, (path, answer)
        if status == 201:
            assert answer.json["metadata"]["uid"] and answer.json["metadata"]["resourceVersion"]
            assert api_server.kube.get(path)["metadata"]["uid"] == answer.json["metadata"]["uid"]
        else:
            assert answer.json["reason"] == "NotFound"
            assert api_server.kube.get_optional(path) is None


# ---- (g) preconditions ----------------------------------------------------------------------

def test_a_delete_whose_uid_precondition_does_not_match_is_409_naming_the_kind(api_server):
    ns = api_server.new_namespace()
    path = f"/api/v1/namespaces/{ns}/configmaps/s"
    created = api_server.kube.create(f"/api/v1/namespaces/{ns}/configmaps", config_map("s"))

    answer = api_server.request("DELETE", path, {"apiVersion": "v1", "kind": "DeleteOptions",
                                                 "preconditions": {"uid": "nope"}})

    assert answer.status == 409, answer
    assert answer.json == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": f'Operation cannot be fulfilled on ConfigMap "s": the UID in the precondition '
                                      f'(nope) does not match the UID in record ({created["metadata"]["uid"]}). The '
                                      f'object might have been deleted and then recreated',
                           "reason": "Conflict", "details": {"name": "s", "kind": "ConfigMap"}, "code": 409}
    assert api_server.kube.get_optional(path) is not None


def test_a_delete_whose_resource_version_precondition_does_not_match_is_409_naming_the_kind(api_server):
    ns = api_server.new_namespace()
    path = f"{LEASES.format(ns)}/lock"
    created = api_server.kube.create(LEASES.format(ns), lease("lock", "alice"))

    answer = api_server.request("DELETE", path, {"apiVersion": "v1", "kind": "DeleteOptions",
                                                 "preconditions": {"resourceVersion": "1"}})

    assert answer.status == 409, answer
    assert answer.json == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": f'Operation cannot be fulfilled on Lease.coordination.k8s.io "lock": the '
                                      f'ResourceVersion in the precondition (1) does not match the ResourceVersion in '
                                      f'record ({created["metadata"]["resourceVersion"]}). The object might have been '
                                      f'modified',
                           "reason": "Conflict",
                           "details": {"name": "lock", "group": "coordination.k8s.io", "kind": "Lease"}, "code": 409}
    assert api_server.kube.get_optional(path) is not None


def test_an_update_whose_uid_does_not_match_is_409_with_the_storage_error(api_server):
    ns = api_server.new_namespace()
    path = f"/api/v1/namespaces/{ns}/configmaps/s"
    created = api_server.kube.create(f"/api/v1/namespaces/{ns}/configmaps", config_map("s"))
    changed = {**created, "metadata": {**created["metadata"], "uid": "nope"}, "data": {"k": "changed"}}

    answer = api_server.request("PUT", path, changed)

    assert answer.status == 409, answer
    assert answer.json == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": f'Operation cannot be fulfilled on configmaps "s": StorageError: invalid object, '
                                      f'Code: 4, Key: /registry/configmaps/{ns}/s, ResourceVersion: 0, '
                                      f'AdditionalErrorMsg: Precondition failed: UID in precondition: nope, UID in '
                                      f'object meta: {created["metadata"]["uid"]}',
                           "reason": "Conflict", "details": {"name": "s", "kind": "configmaps"}, "code": 409}
    assert api_server.kube.get(path)["data"] == {"k": "v"}


# ---- (h) graceful pod deletion in a dry run -------------------------------------------------

def test_a_dry_run_delete_of_a_running_pod_with_grace_zero_answers_the_pod_marked_for_deletion(api_server):
    kube = api_server.kube
    ns = api_server.new_namespace()
    path = f"/api/v1/namespaces/{ns}/pods/worker"
    kube.create(f"/api/v1/namespaces/{ns}/pods", pod("worker"))
    api_server.run_pods(ns, "worker")
    before = kube.get(path)

    answer = api_server.request("DELETE", path, {"apiVersion": "v1", "kind": "DeleteOptions", "dryRun": ["All"],
                                                 "gracePeriodSeconds": 0})

    assert answer.status == 200, answer
    meta = answer.json["metadata"]
    assert answer.json["kind"] == "Pod"
    assert meta.get("deletionGracePeriodSeconds") == 0
    assert meta.get("deletionTimestamp"), meta
    assert meta["resourceVersion"] == before["metadata"]["resourceVersion"]
    after = kube.get(path)["metadata"]
    assert (after.get("deletionTimestamp"), after["resourceVersion"]) == (None, before["metadata"]["resourceVersion"])


# ---- (i) disruption controller status -------------------------------------------------------

def test_a_budgets_disruption_allowed_condition_carries_the_observed_generation(api_server):
    kube = api_server.kube
    ns, budget_path = guarded_pod(api_server)

    def observed():
        status = kube.get(budget_path).get("status") or {}
        return status.get("currentHealthy") == 1 and status.get("conditions")
    api_server.wait_until(observed, "the disruption controller's status of budget guarded")
    budget = kube.get(budget_path)

    [condition] = budget["status"]["conditions"]
    assert condition.pop("lastTransitionTime")
    assert condition == {"type": "DisruptionAllowed", "status": "False", "observedGeneration":
                         budget["metadata"]["generation"], "reason": "InsufficientPods", "message": ""}


# ---- (j) managed fields ---------------------------------------------------------------------

RFC3339_SECONDS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def test_a_dry_run_create_answers_with_a_managed_fields_entry_of_the_user_agent(api_server):
    ns = api_server.new_namespace()

    answer = api_server.request("POST", f"/api/v1/namespaces/{ns}/configmaps?dryRun=All", config_map("ghost"),
                                {"User-Agent": "alice/1.2.3 (linux/amd64)"})

    assert answer.status == 201, answer
    [entry] = answer.json["metadata"]["managedFields"]
    assert re.fullmatch(RFC3339_SECONDS, entry.pop("time")), entry
    assert isinstance(entry.pop("fieldsV1").get("f:data"), dict)
    assert entry == {"manager": "alice", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1"}


def test_each_writer_gets_its_own_managed_fields_entry_and_a_put_without_them_keeps_them(api_server):
    ns = api_server.new_namespace()
    path = f"/api/v1/namespaces/{ns}/configmaps/settings"
    api_server.request("POST", f"/api/v1/namespaces/{ns}/configmaps", config_map("settings"),
                       {"User-Agent": "alice/1.0"})
    patched = api_server.request("PATCH", path, {"data": {"other": "x"}},
                                 {"User-Agent": "bob/2.0", "Content-Type": MERGE})
    assert patched.status == 200, patched
    current = patched.json
    del current["metadata"]["managedFields"]

    replaced = api_server.request("PUT", path, {**current, "data": {**current["data"], "third": "y"}},
                                  {"User-Agent": "carol/3.0"})

    assert replaced.status == 200, replaced
    entries = replaced.json["metadata"]["managedFields"]
    assert [(e["manager"], e["operation"], e["apiVersion"]) for e in entries] == [
        ("alice", "Update", "v1"), ("bob", "Update", "v1"), ("carol", "Update", "v1")]
    assert api_server.kube.get(path)["metadata"]["managedFields"] == entries


# ---- (k) Status details ---------------------------------------------------------------------

def test_a_json_patch_whose_test_fails_is_422_with_empty_details(api_server):
    ns = api_server.new_namespace()
    api_server.kube.create(f"/api/v1/namespaces/{ns}/configmaps", config_map("settings"))

    answer = api_server.request("PATCH", f"/api/v1/namespaces/{ns}/configmaps/settings",
                                [{"op": "test", "path": "/data/k", "value": "other"}],
                                {"Content-Type": "application/json-patch+json"})

    assert answer.status == 422, answer
    assert answer.json == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": "the server rejected our request due to an error in our request",
                           "reason": "Invalid", "details": {}, "code": 422}


def test_an_unknown_dry_run_value_in_a_delete_body_is_422_without_a_name_in_details(api_server):
    ns = api_server.new_namespace()
    api_server.kube.create(f"/api/v1/namespaces/{ns}/configmaps", config_map("settings"))

    answer = api_server.request("DELETE", f"/api/v1/namespaces/{ns}/configmaps/settings",
                                {"apiVersion": "v1", "kind": "DeleteOptions", "dryRun": ["Bogus"]})

    assert answer.status == 422, answer
    assert answer.json == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": 'DeleteOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: '
                                      '[]string{"Bogus"}: supported values: "All"',
                           "reason": "Invalid",
                           "details": {"group": "meta.k8s.io", "kind": "DeleteOptions", "causes": [{
                               "reason": "FieldValueNotSupported",
                               "message": 'Unsupported value: []string{"Bogus"}: supported values: "All"',
                               "field": "dryRun"}]},
                           "code": 422}
