"""CustomResourceDefinitions through the official client: a new CRD is established and its kind
served (discovery, CustomObjectsApi), and deleting it takes its objects with it."""
import json

from kubernetes import client


def crds(admin_client):
    return client.ApiextensionsV1Api(admin_client)


def condition(crd, kind):
    return next((c for c in (crd.status.conditions or []) if c.type == kind), None) if crd.status else None


def list_widgets(custom_api, namespace="default"):
    return custom_api.list_namespaced_custom_object("example.com", "v1", namespace, "widgets")


def test_a_new_crd_becomes_established_when_the_controllers_run(admin_client, served_small, widget_crd_body):
    created = crds(admin_client).create_custom_resource_definition(widget_crd_body)
    assert condition(created, "Established") is None
    served_small.cluster.advance(1)
    crd = crds(admin_client).read_custom_resource_definition("widgets.example.com")
    assert condition(crd, "Established").status == "True"
    assert condition(crd, "NamesAccepted").status == "True"
    assert crd.status.accepted_names.kind == "Widget"
    assert crd.status.stored_versions == ["v1"]


def test_an_established_crd_appears_in_discovery(widget_crd, http):
    _, _, body = http("GET", "/apis")
    groups = {g["name"]: g for g in json.loads(body)["groups"]}
    assert groups["example.com"]["preferredVersion"]["groupVersion"] == "example.com/v1"
    _, _, body = http("GET", "/apis/example.com/v1")
    resources = {r["name"]: r for r in json.loads(body)["resources"]}
    assert resources["widgets"]["kind"] == "Widget"
    assert resources["widgets"]["namespaced"] is True
    assert resources["widgets"]["shortNames"] == ["wd"]


def test_before_its_crd_exists_a_custom_kind_is_404(custom_api, api_error):
    status, body = api_error(list_widgets, custom_api)
    assert status == 404
    assert body["reason"] == "NotFound"


def test_custom_objects_can_be_created_read_and_listed(widget_crd, custom_api, make_widget):
    created = custom_api.create_namespaced_custom_object("example.com", "v1", "default", "widgets",
                                                         make_widget("w1", size=3))
    custom_api.create_namespaced_custom_object("example.com", "v1", "default", "widgets", make_widget("w2"))
    assert created["spec"] == {"size": 3}
    assert created["metadata"]["uid"] and created["metadata"]["resourceVersion"]
    assert created["metadata"]["generation"] == 1
    fetched = custom_api.get_namespaced_custom_object("example.com", "v1", "default", "widgets", "w1")
    assert fetched["metadata"]["uid"] == created["metadata"]["uid"]
    listing = list_widgets(custom_api)
    assert listing["kind"] == "WidgetList"
    assert listing["apiVersion"] == "example.com/v1"
    assert sorted(w["metadata"]["name"] for w in listing["items"]) == ["w1", "w2"]


def test_custom_objects_are_kept_per_namespace(widget_crd, custom_api, make_widget):
    custom_api.create_namespaced_custom_object("example.com", "v1", "demo", "widgets", make_widget("w1"))
    assert list_widgets(custom_api, "default")["items"] == []
    assert [w["metadata"]["name"] for w in list_widgets(custom_api, "demo")["items"]] == ["w1"]


def test_a_custom_object_of_the_wrong_kind_is_400(widget_crd, custom_api, make_widget, api_error):
    body = make_widget("w1")
    body["kind"] = "Gadget"
    status, _ = api_error(custom_api.create_namespaced_custom_object, "example.com", "v1", "default", "widgets", body)
    assert status == 400


def test_replacing_a_custom_object_without_a_resource_version_is_422(widget_crd, custom_api, make_widget, api_error):
    custom_api.create_namespaced_custom_object("example.com", "v1", "default", "widgets", make_widget("w1"))
    status, body = api_error(custom_api.replace_namespaced_custom_object, "example.com", "v1", "default", "widgets",
                             "w1", make_widget("w1", size=5))
    assert status == 422
    assert body["message"] == ('widgets.example.com "w1" is invalid: metadata.resourceVersion: Invalid value: 0x0: '
                               "must be specified for an update")


def test_replacing_a_custom_object_bumps_its_generation(widget_crd, custom_api, make_widget):
    created = custom_api.create_namespaced_custom_object("example.com", "v1", "default", "widgets", make_widget("w1"))
    created["spec"] = {"size": 9}
    replaced = custom_api.replace_namespaced_custom_object("example.com", "v1", "default", "widgets", "w1", created)
    assert replaced["metadata"]["generation"] == 2


def test_a_cluster_scoped_crd_serves_cluster_scoped_objects(admin_client, served_small, custom_api, widget_crd_body):
    crd = widget_crd_body
    crd["metadata"]["name"] = "gizmos.example.com"
    crd["spec"].update(scope="Cluster", names={"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"})
    crds(admin_client).create_custom_resource_definition(crd)
    served_small.cluster.advance(1)
    custom_api.create_cluster_custom_object("example.com", "v1", "gizmos", {
        "apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g1"}})
    listing = custom_api.list_cluster_custom_object("example.com", "v1", "gizmos")
    assert [g["metadata"]["name"] for g in listing["items"]] == ["g1"]
    assert "namespace" not in listing["items"][0]["metadata"]


def test_a_crd_named_other_than_plural_dot_group_is_422(admin_client, api_error, widget_crd_body):
    crd = widget_crd_body
    crd["metadata"]["name"] = "widgets.other.com"
    status, body = api_error(crds(admin_client).create_custom_resource_definition, crd)
    assert status == 422
    assert body["details"]["causes"][0]["field"] == "metadata.name"


def test_deleting_a_crd_stops_serving_its_kind(widget_crd, admin_client, served_small, custom_api, make_widget,
                                               api_error):
    custom_api.create_namespaced_custom_object("example.com", "v1", "default", "widgets", make_widget("w1"))
    crds(admin_client).delete_custom_resource_definition("widgets.example.com")
    served_small.cluster.advance(5)
    status, _ = api_error(list_widgets, custom_api)
    assert status == 404


def test_deleting_a_crd_removes_its_objects(widget_crd, admin_client, served_small, custom_api, make_widget,
                                            widget_crd_body):
    custom_api.create_namespaced_custom_object("example.com", "v1", "default", "widgets", make_widget("w1"))
    crds(admin_client).delete_custom_resource_definition("widgets.example.com")
    served_small.cluster.advance(5)
    crds(admin_client).create_custom_resource_definition(widget_crd_body)
    served_small.cluster.advance(1)
    assert list_widgets(custom_api)["items"] == []


def test_a_new_crd_carries_the_cleanup_finalizer(widget_crd, admin_client):
    crd = crds(admin_client).read_custom_resource_definition("widgets.example.com")
    assert "customresourcecleanup.apiextensions.k8s.io" in crd.metadata.finalizers


def test_deleting_a_crd_deletes_its_objects_one_by_one_for_watchers(widget_crd, admin_client, served_small, custom_api,
                                                                    make_widget):
    for name in ("w1", "w2"):
        custom_api.create_namespaced_custom_object("example.com", "v1", "default", "widgets", make_widget(name))
    since = served_small.cluster.store.resource_version
    crds(admin_client).delete_custom_resource_definition("widgets.example.com")
    served_small.cluster.advance(5)
    events, _ = served_small.cluster.store.events_since(since, ("example.com", "widgets"))
    assert sorted(e.obj["metadata"]["name"] for e in events if e.type == "DELETED") == ["w1", "w2"]


def test_an_object_with_a_finalizer_holds_its_crd_in_terminating(widget_crd, admin_client, served_small, custom_api,
                                                                 make_widget):
    held = make_widget("held")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    custom_api.create_namespaced_custom_object("example.com", "v1", "default", "widgets", held)
    crds(admin_client).delete_custom_resource_definition("widgets.example.com")
    served_small.cluster.advance(5)
    assert crds(admin_client).read_custom_resource_definition("widgets.example.com").metadata.deletion_timestamp
    custom_api.patch_namespaced_custom_object("example.com", "v1", "default", "widgets", "held",
                                              {"metadata": {"finalizers": None}})
    served_small.cluster.advance(5)
    names = [c.metadata.name for c in crds(admin_client).list_custom_resource_definition().items]
    assert "widgets.example.com" not in names
