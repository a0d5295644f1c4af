"""Lists through the official client: label and field selectors, limit/continue pagination."""
import pytest
from kubernetes import client

TIERS = {"cm-web": "web", "cm-db": "db", "cm-cache": "cache", "cm-plain": None}


@pytest.fixture
def labelled(core_api):
    """Four ConfigMaps in `default`, three with a `tier` label and one without."""
    for name, tier in TIERS.items():
        labels = {"tier": tier, "suite": "list"} if tier else {"suite": "list"}
        core_api.create_namespaced_config_map("default", client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=name, labels=labels)))
    return core_api


def names(listing):
    return sorted(o.metadata.name for o in listing.items)


def selected(api, selector):
    return names(api.list_namespaced_config_map("default", label_selector=f"suite=list,{selector}"))


# ---- label selectors -------------------------------------------------------------------

def test_label_selector_equals(labelled):
    assert selected(labelled, "tier=web") == ["cm-web"]


def test_label_selector_double_equals(labelled):
    assert selected(labelled, "tier==db") == ["cm-db"]


def test_label_selector_not_equals_includes_objects_without_the_label(labelled):
    assert selected(labelled, "tier!=web") == ["cm-cache", "cm-db", "cm-plain"]


def test_label_selector_in(labelled):
    assert selected(labelled, "tier in (web,db)") == ["cm-db", "cm-web"]


def test_label_selector_notin_includes_objects_without_the_label(labelled):
    assert selected(labelled, "tier notin (web,db)") == ["cm-cache", "cm-plain"]


def test_label_selector_exists(labelled):
    assert selected(labelled, "tier") == ["cm-cache", "cm-db", "cm-web"]


def test_label_selector_does_not_exist(labelled):
    assert selected(labelled, "!tier") == ["cm-plain"]


def test_label_selector_requirements_are_anded(labelled):
    assert selected(labelled, "tier,tier!=cache") == ["cm-db", "cm-web"]


def test_an_unparsable_label_selector_is_400_bad_request(labelled, api_error):
    status, body = api_error(labelled.list_namespaced_config_map, "default", label_selector="tier in web")
    assert status == 400
    assert body["reason"] == "BadRequest"


def test_label_selector_on_scenario_pods(core_api):
    pods = core_api.list_namespaced_pod("demo", label_selector="app=web").items
    assert len(pods) == 4
    assert all(p.metadata.labels["app"] == "web" for p in pods)


# ---- field selectors -------------------------------------------------------------------

def test_field_selector_metadata_name(labelled):
    listing = labelled.list_namespaced_config_map("default", field_selector="metadata.name=cm-db")
    assert names(listing) == ["cm-db"]


def test_field_selector_metadata_namespace_across_namespaces(core_api):
    pods = core_api.list_pod_for_all_namespaces(field_selector="metadata.namespace=demo").items
    assert pods and {p.metadata.namespace for p in pods} == {"demo"}


def test_field_selector_spec_node_name(core_api):
    everything = core_api.list_pod_for_all_namespaces().items
    on_worker = core_api.list_pod_for_all_namespaces(field_selector="spec.nodeName=worker-1").items
    assert on_worker
    assert sorted(p.metadata.name for p in on_worker) == sorted(
        p.metadata.name for p in everything if p.spec.node_name == "worker-1")


def test_field_selector_status_phase(core_api):
    pending = client.V1Pod(metadata=client.V1ObjectMeta(name="waiting"),
                           spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1.36")]))
    core_api.create_namespaced_pod("default", pending)  # nothing schedules it: the clock is not advanced
    not_running = core_api.list_pod_for_all_namespaces(field_selector="status.phase!=Running").items
    assert [p.metadata.name for p in not_running] == ["waiting"]
    running = core_api.list_pod_for_all_namespaces(field_selector="status.phase=Running").items
    assert running and all(p.status.phase == "Running" for p in running)


def test_field_and_label_selectors_combine(core_api):
    pods = core_api.list_namespaced_pod("demo", label_selector="app=web", field_selector="spec.nodeName=worker-2").items
    assert pods
    assert all(p.metadata.labels["app"] == "web" and p.spec.node_name == "worker-2" for p in pods)


def test_an_unsupported_field_selector_is_400_bad_request(core_api, api_error):
    status, body = api_error(core_api.list_namespaced_pod, "demo", field_selector="spec.priorityClassName=high")
    assert status == 400
    assert body["reason"] == "BadRequest"
    assert body["message"] == "field label not supported: spec.priorityClassName"


def test_a_pod_only_field_is_unsupported_on_configmaps(core_api, api_error):
    status, body = api_error(core_api.list_namespaced_config_map, "default", field_selector="spec.nodeName=worker-1")
    assert status == 400
    assert body["message"] == "field label not supported: spec.nodeName"


# ---- pagination ------------------------------------------------------------------------

def walk_pages(list_call, limit, **kwargs):
    pages, token = [], None
    while True:
        page = list_call(limit=limit, _continue=token, **kwargs)
        pages.append(page)
        token = page.metadata._continue
        if not token:
            return pages


def test_limit_and_continue_walk_every_object_exactly_once(core_api):
    everything = [(p.metadata.namespace, p.metadata.name) for p in core_api.list_pod_for_all_namespaces().items]
    pages = walk_pages(core_api.list_pod_for_all_namespaces, 5)
    walked = [(p.metadata.namespace, p.metadata.name) for page in pages for p in page.items]
    assert len(everything) > 10
    assert walked == everything
    assert all(len(page.items) == 5 for page in pages[:-1])
    assert 0 < len(pages[-1].items) <= 5


def test_every_page_but_the_last_says_how_many_items_remain(core_api):
    total = len(core_api.list_pod_for_all_namespaces().items)
    pages = walk_pages(core_api.list_pod_for_all_namespaces, 4)
    seen = 0
    for page in pages[:-1]:
        seen += len(page.items)
        assert page.metadata.remaining_item_count == total - seen
    assert pages[-1].metadata.remaining_item_count is None


def test_pages_of_a_namespace_stay_in_that_namespace(core_api):
    pages = walk_pages(core_api.list_namespaced_pod, 2, namespace="kube-system")
    walked = [p.metadata.name for page in pages for p in page.items]
    assert walked == [p.metadata.name for p in core_api.list_namespaced_pod("kube-system").items]
    assert all(len(page.items) == 2 for page in pages[:-1])


def test_pagination_with_a_label_selector_returns_only_matches(core_api):
    pages = walk_pages(core_api.list_pod_for_all_namespaces, 1, label_selector="app=web")
    walked = [p.metadata.name for page in pages for p in page.items]
    assert len(walked) == 4 and len(set(walked)) == 4


def test_later_pages_show_the_list_as_of_the_first_page(core_api, labelled):
    first = labelled.list_namespaced_config_map("default", limit=2, label_selector="suite=list")
    assert names(first) == ["cm-cache", "cm-db"]
    labelled.create_namespaced_config_map("default", client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="cm-zz", labels={"suite": "list"})))
    labelled.delete_namespaced_config_map("cm-web", "default")
    rest = labelled.list_namespaced_config_map("default", limit=10, _continue=first.metadata._continue,
                                             label_selector="suite=list")
    assert names(rest) == ["cm-plain", "cm-web"]
    assert rest.metadata.resource_version == first.metadata.resource_version


def test_a_continue_token_past_compaction_is_410_expired_with_a_fresh_token(core_api, labelled, served_small,
                                                                             api_error):
    first = labelled.list_namespaced_config_map("default", limit=2, label_selector="suite=list")
    labelled.create_namespaced_config_map("default", client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="cm-zz", labels={"suite": "list"})))
    served_small.cluster.store.compact_history()
    status, body = api_error(labelled.list_namespaced_config_map, "default", limit=10,
                             _continue=first.metadata._continue, label_selector="suite=list")
    assert status == 410
    assert body["reason"] == "Expired"
    assert body["message"].startswith("The provided continue parameter is too old to display a consistent list result.")
    rest = labelled.list_namespaced_config_map("default", limit=10, _continue=body["metadata"]["continue"],
                                             label_selector="suite=list")
    assert names(rest) == ["cm-plain", "cm-web", "cm-zz"]


def test_a_malformed_continue_token_is_400_bad_request(core_api, api_error):
    status, body = api_error(core_api.list_namespaced_pod, "demo", limit=2, _continue="not-a-token")
    assert status == 400
    assert body["reason"] == "BadRequest"


# k8s.io/apiserver pkg/storage/cacher/cacher.go (v1.26) GetList: shouldDelegateList sends a list to etcd only
# when it has no resourceVersion, a continue token, a limit with a resourceVersion other than "0", or
# resourceVersionMatch=Exact. `resourceVersion=0` is served whole from the watch cache: limit is ignored.
def test_a_list_at_resource_version_0_ignores_limit_and_returns_every_item(labelled):
    listing = labelled.list_namespaced_config_map("default", limit=2, resource_version="0",
                                                  label_selector="suite=list")
    assert names(listing) == sorted(TIERS)
    assert listing.metadata._continue is None
    assert listing.metadata.remaining_item_count is None
