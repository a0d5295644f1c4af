"""RemoteStore (the simulator's node side over a real API server): what its cache takes from watches and
from its own writes, and how it writes. The API here is an in-memory stand-in that answers as a real
apiserver does (resourceVersions, 409 on a stale one, 404); tests/test_attach_realapi.py runs it against
a real one."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from migrate.sim import errors
from migrate.sim.clock import SimClock
from migrate.sim.remote_store import RemoteStore, rtype_of
from migrate.sim.resources import ResourceRegistry


class FakeApi:
    """Objects by path; PUT checks the resourceVersion sent, as the apiserver's optimistic concurrency does."""

    def __init__(self):
        self.objects: dict[str, dict] = {}
        self.rv = 100
        self.calls: list[tuple[str, str]] = []
        self.normalise = lambda obj: None  # what the server does to a written object (defaults, dropped fields)

    def put_object(self, path: str, obj: dict) -> dict:
        self.rv += 1
        obj = json.loads(json.dumps(obj))
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.objects[path] = obj
        return obj

    def request(self, method, path, *, query=None, body=None, **_):
        self.calls.append((method, path))
        target = path[:-len("/status")] if path.endswith("/status") else path
        if method == "GET":
            if target not in self.objects:
                raise errors.not_found("nodes", path.rsplit("/", 1)[-1])
            return json.loads(json.dumps(self.objects[target]))
        if method == "PUT":
            current = self.objects.get(target)
            if current is None:
                raise errors.not_found("nodes", path.rsplit("/", 1)[-1])
            sent = body["metadata"].get("resourceVersion")
            if sent and sent != current["metadata"]["resourceVersion"]:
                raise errors.conflict("nodes", body["metadata"]["name"])
            self.normalise(body)
            if {**body, "metadata": {**body["metadata"], "resourceVersion": None}} == \
                    {**current, "metadata": {**current["metadata"], "resourceVersion": None}}:
                return json.loads(json.dumps(current))  # a no-op write: no new resourceVersion
            return json.loads(json.dumps(self.put_object(target, body)))
        if method == "DELETE":
            gone = self.objects.pop(target, None)
            if gone is None:
                raise errors.not_found("pods", path.rsplit("/", 1)[-1])
            return gone
        raise AssertionError(method)

    def close(self):
        pass


@pytest.fixture
def setup():
    registry = ResourceRegistry.with_builtins()
    api = FakeApi()
    store = RemoteStore(api, SimClock(0), registry)
    events = []
    store.listeners.append(events.append)
    nodes = registry.lookup("", "v1", "nodes")
    store._reflectors[nodes.key] = SimpleNamespace(synced=True, stop=lambda: None)  # a synced cache, no thread
    node = api.put_object("/api/v1/nodes/n1", {"apiVersion": "v1", "kind": "Node",
                                               "metadata": {"name": "n1", "labels": {}},
                                               "spec": {"podCIDR": "10.244.1.0/24"}, "status": {"phase": "x"}})
    store._replace(nodes, [node], node["metadata"]["resourceVersion"])
    return SimpleNamespace(store=store, api=api, nodes=nodes, events=events)


def _node(rv: int, **labels) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "resourceVersion": str(rv), "labels": labels},
            "spec": {"podCIDR": "10.244.1.0/24"}, "status": {"phase": "x"}}


def test_a_list_fills_the_cache_and_each_object_is_an_added_event(setup):
    assert [e.type for e in setup.events] == ["ADDED"]
    assert setup.store.find(setup.nodes, None, "n1")["spec"]["podCIDR"] == "10.244.1.0/24"


def test_a_watch_event_older_than_the_cached_object_is_ignored(setup):
    setup.store._apply(setup.nodes, "MODIFIED", _node(103, a="new"))
    setup.store._apply(setup.nodes, "MODIFIED", _node(102, a="old"))
    assert setup.store.get(setup.nodes, None, "n1")["metadata"]["labels"] == {"a": "new"}
    assert [e.type for e in setup.events] == ["ADDED", "MODIFIED"]


def test_a_deleted_object_does_not_come_back_with_a_stale_event(setup):
    setup.store._apply(setup.nodes, "DELETED", _node(105))
    setup.store._apply(setup.nodes, "MODIFIED", _node(104, late="yes"))
    assert setup.store.find(setup.nodes, None, "n1") is None
    setup.store._apply(setup.nodes, "ADDED", _node(106, again="yes"))  # created anew after the delete
    assert setup.store.get(setup.nodes, None, "n1")["metadata"]["labels"] == {"again": "yes"}


def test_parts_that_did_not_change_stay_the_same_objects_as_the_store_keeps_them(setup):
    """The kubelet tells its own status writes from spec changes by the spec being the very same object."""
    before = setup.store.get(setup.nodes, None, "n1")
    changed = _node(103)
    changed["status"] = {"phase": "y"}
    setup.store._apply(setup.nodes, "MODIFIED", changed)
    event = setup.events[-1]
    assert event.old is before and event.obj["spec"] is before["spec"] and event.obj["status"] is not before["status"]


def test_mutate_puts_the_change_reads_its_own_write_and_retries_a_conflict_from_a_fresh_read(setup):
    # the server moved on behind the cache's back: the first PUT (with the cached resourceVersion) conflicts
    setup.api.put_object("/api/v1/nodes/n1", _node(0, by="someone-else"))
    answer = setup.store.mutate(setup.nodes, None, "n1", lambda n: n["metadata"]["labels"].update(mine="yes"))
    assert answer["metadata"]["labels"] == {"by": "someone-else", "mine": "yes"}
    assert setup.store.get(setup.nodes, None, "n1")["metadata"]["labels"] == {"by": "someone-else", "mine": "yes"}
    assert [c[0] for c in setup.api.calls] == ["PUT", "GET", "PUT"]


def test_mutate_sends_nothing_for_no_change_nor_again_what_the_server_normalised(setup):
    setup.store.mutate(setup.nodes, None, "n1", lambda n: None)
    assert setup.api.calls == []
    setup.api.normalise = lambda obj: obj["status"].pop("dropped", None)  # a field this server's release lacks

    def write(node):
        node["status"]["dropped"] = "by the server"
    setup.store.mutate(setup.nodes, None, "n1", write, subresource="status")
    setup.store.mutate(setup.nodes, None, "n1", write, subresource="status")
    assert setup.api.calls == [("PUT", "/api/v1/nodes/n1/status")]


def test_a_delete_with_grace_period_zero_leaves_the_cache_at_once(setup):
    setup.store.delete(setup.nodes, None, "n1", grace_period=0)
    assert setup.store.find(setup.nodes, None, "n1") is None and setup.events[-1].type == "DELETED"
    with pytest.raises(errors.ApiError) as refused:
        setup.store.delete(setup.nodes, None, "n1", grace_period=0)
    assert refused.value.code == 404


def test_warnings_are_counted_by_resource():
    assert rtype_of("/api/v1/namespaces/demo/pods/web-1/status") == "pods/status"
    assert rtype_of("/apis/crd.projectcalico.org/v1/ipamblocks/10-244-1-0-24") == "ipamblocks"
