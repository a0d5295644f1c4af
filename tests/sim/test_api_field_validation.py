"""Server-side field validation: unknown and duplicate fields come back as Warning headers
(fieldValidation Warn, the default), as 400 or 422 under Strict, and not at all under Ignore;
answers compared with kube-apiserver v1.26.5."""
import json

import pytest

from crd_helpers import GADGETS, gadget, install, request

PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture
def served(served_small):
    install(served_small)
    return served_small


def test_unknown_fields_come_back_as_one_warning_header_each(served):
    answer = request(served, "POST", GADGETS, gadget({"name": "abc", "bogus": 1, "nested": {"zz": 1}}, bogus2=3))
    assert answer.status == 201
    assert answer.warnings == ['299 - "unknown field \\"bogus2\\""', '299 - "unknown field \\"spec.bogus\\""',
                               '299 - "unknown field \\"spec.nested.zz\\""']


def test_strict_field_validation_refuses_unknown_fields_with_400(served):
    answer = request(served, "POST", GADGETS + "?fieldValidation=Strict",
                     gadget({"name": "abc", "bogus": 1, "nested": {"zz": 1}}, bogus2=3))
    assert answer.status == 400
    assert answer.json["reason"] == "BadRequest"
    assert answer.message == ('Gadget in version "v1" cannot be handled as a Gadget: strict decoding error: '
                              'unknown field "bogus2", unknown field "spec.bogus", unknown field "spec.nested.zz"')
    assert request(served, "GET", GADGETS).json["items"] == []


def test_ignore_prunes_without_a_word(served):
    answer = request(served, "POST", GADGETS + "?fieldValidation=Ignore", gadget({"name": "abc", "bogus": 1}))
    assert answer.status == 201
    assert answer.warnings == []
    assert "bogus" not in answer.json["spec"]


def test_unknown_metadata_fields_are_dropped_and_reported(served):
    body = gadget({"name": "abc"})
    body["metadata"]["bogusmeta"] = 1
    answer = request(served, "POST", GADGETS, body)
    assert answer.warnings == ['299 - "unknown field \\"metadata.bogusmeta\\""']
    assert "bogusmeta" not in answer.json["metadata"]


def test_a_duplicate_field_is_warned_and_the_last_value_wins(served):
    raw = '{"apiVersion":"example.com/v1","kind":"Gadget","metadata":{"name":"g"},"spec":{"name":"abc","name":"abd"}}'
    answer = request(served, "POST", GADGETS, raw)
    assert answer.warnings == ['299 - "duplicate field \\"spec.name\\""']
    assert answer.json["spec"]["name"] == "abd"
    strict = request(served, "POST", GADGETS + "?fieldValidation=Strict&dryRun=All", raw.replace('"g"', '"h"'))
    assert strict.status == 400
    assert strict.message.endswith('strict decoding error: duplicate field "spec.name"')


def test_warnings_come_with_a_422_too(served):
    answer = request(served, "POST", GADGETS, gadget({"name": "abc", "size": "x"}, bogus=1))
    assert answer.status == 422
    assert answer.warnings == ['299 - "unknown field \\"bogus\\""']


def test_a_strict_replace_with_an_unknown_field_is_400(served):
    created = request(served, "POST", GADGETS, gadget({"name": "abc"})).json
    created["spec"]["bogus"] = 2
    answer = request(served, "PUT", GADGETS + "/g?fieldValidation=Strict", created)
    assert answer.status == 400
    assert answer.message == ('Gadget in version "v1" cannot be handled as a Gadget: strict decoding error: '
                              'unknown field "spec.bogus"')


def test_a_strict_merge_patch_with_an_unknown_field_is_422_on_the_patched_object(served):
    assert request(served, "POST", GADGETS, gadget({"name": "abc"})).status == 201
    answer = request(served, "PATCH", GADGETS + "/g?fieldValidation=Strict", {"spec": {"bogus": 1}},
                     "application/merge-patch+json")
    assert answer.status == 422
    [cause] = answer.json["details"]["causes"]
    assert cause["field"] == "patch"
    assert cause["message"].endswith('strict decoding error: unknown field "spec.bogus"')
    patched = json.loads(json.loads(cause["message"][len("Invalid value: "):cause["message"].index(": strict")]))
    assert patched["spec"]["bogus"] == 1
    assert answer.message.startswith(' "" is invalid: patch: Invalid value: "{\\"apiVersion\\":\\"example.com/v1\\"')


def test_a_warned_patch_prunes_and_goes_through(served):
    assert request(served, "POST", GADGETS, gadget({"name": "abc"})).status == 201
    answer = request(served, "PATCH", GADGETS + "/g", {"spec": {"bogus": 1}, "status": {"bogus": 1}},
                     "application/merge-patch+json")
    assert answer.status == 200
    assert answer.warnings == ['299 - "unknown field \\"spec.bogus\\""', '299 - "unknown field \\"status.bogus\\""']
    assert "bogus" not in answer.json["spec"]


def test_unknown_fields_of_a_json_patch_operation_are_strict_errors(served):
    assert request(served, "POST", GADGETS, gadget({"name": "abc"})).status == 201
    answer = request(served, "PATCH", GADGETS + "/g?fieldValidation=Strict",
                     '[{"op":"add","path":"/spec/size","value":1,"extra":2}]', "application/json-patch+json")
    assert answer.status == 422
    assert answer.message.endswith('strict decoding error: json patch unknown field "[0].extra"')


def test_an_unsupported_field_validation_value_is_422_on_the_options(served):
    answer = request(served, "POST", GADGETS + "?fieldValidation=Nope", gadget({"name": "abc"}))
    assert answer.status == 422
    assert answer.message == ('CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Nope": '
                              'supported values: "", "Ignore", "Strict", "Warn"')


def test_a_pod_with_unknown_fields_is_warned_in_document_order(served):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "bogus": 1},
           "spec": {"bogus": 2, "containers": [{"name": "c", "image": "i", "bogus": 3}]}}
    answer = request(served, "POST", PODS + "?dryRun=All", pod)
    assert answer.warnings == ['299 - "unknown field \\"metadata.bogus\\""', '299 - "unknown field \\"spec.bogus\\""',
                               '299 - "unknown field \\"spec.containers[0].bogus\\""']


def test_a_pod_with_an_unknown_field_is_400_under_strict(served):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"bogus": 2, "containers": [{"name": "c", "image": "i", "bogus": 3}]}}
    answer = request(served, "POST", PODS + "?fieldValidation=Strict", pod)
    assert answer.status == 400
    assert answer.message == ('Pod in version "v1" cannot be handled as a Pod: strict decoding error: '
                              'unknown field "spec.bogus", unknown field "spec.containers[0].bogus"')


def test_a_duplicate_key_in_a_configmap_is_400_under_strict(served):
    raw = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"},"data":{"a":"1","a":"2"}}'
    answer = request(served, "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Strict", raw)
    assert answer.status == 400
    assert answer.message == ('ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: '
                              'duplicate field "data.a"')


def test_a_strict_strategic_merge_patch_names_the_patch_map(served):
    assert request(served, "POST", "/api/v1/namespaces/default/configmaps",
                   {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}).status == 201
    answer = request(served, "PATCH", "/api/v1/namespaces/default/configmaps/c?fieldValidation=Strict",
                     {"bogus": {"x": 1}}, "application/strategic-merge-patch+json")
    assert answer.status == 422
    assert answer.message == (' "" is invalid: patch: Invalid value: "map[bogus:map[x:1]]": strict decoding error: '
                              'unknown field "bogus"')


def test_the_python_client_takes_a_warned_create_in_its_stride(served, admin_client):
    from kubernetes import client
    created = client.CustomObjectsApi(admin_client).create_namespaced_custom_object(
        "example.com", "v1", "default", "gadgets", gadget({"name": "abc", "bogus": 1}))
    assert "bogus" not in created["spec"]


def test_kubectl_prints_each_warning(live_small, kubectl, tmp_path):
    install(live_small)
    manifest = tmp_path / "g.json"
    manifest.write_text(json.dumps(gadget({"name": "abc", "bogus": 1, "other": 2})))
    result = kubectl(live_small, "create", "--validate=warn", "-f", str(manifest))
    assert 'Warning: unknown field "spec.bogus"' in result.stderr
    assert 'Warning: unknown field "spec.other"' in result.stderr
