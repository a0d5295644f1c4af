"""Objects over the size limits, answered as kube-apiserver v1.26.5 with etcd 3.4 answers them:
ConfigMap and Secret data over 1 MiB is 422, a body over 3 MiB is 413, an object etcd will not
take is 500."""
import base64

import pytest

from crd_helpers import GADGETS, gadget, install, request

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
MIB = 1024 * 1024


def configmap(name="big", **data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def test_a_configmap_of_1_2_mib_is_422_too_long_on_the_whole_object(served_small):
    answer = request(served_small, "POST", CONFIGMAPS, configmap(a="x" * int(1.2 * MIB)))
    assert answer.status == 422
    assert answer.message == 'ConfigMap "big" is invalid: []: Too long: must have at most 1048576 bytes'
    assert answer.json["details"]["causes"] == [{"reason": "FieldValueTooLong", "field": "[]",
                                                 "message": "Too long: must have at most 1048576 bytes"}]


def test_the_configmap_limit_adds_up_every_key_and_binary_data(served_small):
    answer = request(served_small, "POST", CONFIGMAPS + "?dryRun=All",
                     {**configmap(a="x" * (MIB // 2)),
                      "binaryData": {"b": base64.b64encode(b"y" * (MIB // 2 + 1)).decode()}})
    assert answer.status == 422
    assert request(served_small, "POST", CONFIGMAPS + "?dryRun=All", configmap(a="x" * MIB)).status == 201


def test_a_secret_over_1_mib_is_422_on_its_data(served_small):
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "big"},
              "data": {"a": base64.b64encode(b"x" * (MIB + 1)).decode()}}
    answer = request(served_small, "POST", "/api/v1/namespaces/default/secrets", secret)
    assert answer.status == 422
    assert answer.message == 'Secret "big" is invalid: data: Too long: must have at most 1048576 bytes'


def test_a_body_over_3_mib_is_413(served_small):
    answer = request(served_small, "POST", CONFIGMAPS, configmap(a="x" * (3 * MIB)))
    assert answer.status == 413
    assert answer.json["reason"] == "RequestEntityTooLarge"
    assert answer.message == "Request entity too large: limit is 3145728"


@pytest.fixture
def served(served_small):
    install(served_small)
    return served_small


def test_a_custom_object_of_1_2_mib_is_stored(served):
    answer = request(served, "POST", GADGETS, gadget({"name": "abc", "free": {"blob": "x" * int(1.2 * MIB)}}))
    assert answer.status == 201


def test_a_custom_object_over_etcds_request_limit_is_500(served):
    answer = request(served, "POST", GADGETS, gadget({"name": "abc", "free": {"blob": "x" * int(1.7 * MIB)}}))
    assert answer.status == 500
    assert answer.message == "etcdserver: request is too large"
    assert "reason" not in answer.json
    assert request(served, "GET", GADGETS).json["items"] == []


def test_a_custom_object_over_the_etcd_clients_message_limit_is_500_resource_exhausted(served):
    answer = request(served, "POST", GADGETS, gadget({"name": "abc", "free": {"blob": "x" * (2 * MIB)}}))
    assert answer.status == 500
    assert answer.message.startswith("rpc error: code = ResourceExhausted desc = trying to send message larger "
                                     "than max (")
    assert answer.message.endswith(" vs. 2097152)")


def test_a_dry_run_never_reaches_etcd(served):
    answer = request(served, "POST", GADGETS + "?dryRun=All",
                     gadget({"name": "abc", "free": {"blob": "x" * (2 * MIB)}}))
    assert answer.status == 201


def test_an_update_that_grows_past_etcds_limit_is_500(served):
    created = request(served, "POST", GADGETS, gadget({"name": "abc"})).json
    created["spec"]["free"] = {"blob": "x" * int(1.6 * MIB)}
    answer = request(served, "PUT", GADGETS + "/g", created)
    assert answer.status == 500
    assert answer.message == "etcdserver: request is too large"
