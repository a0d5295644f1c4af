"""A CRD with a schema that exercises structural-schema validation, and raw HTTP that keeps every
Warning header (the answers below were checked against kube-apiserver v1.26.5)."""
from __future__ import annotations

import copy
import http.client
import json

GADGETS = "/apis/example.com/v1/namespaces/default/gadgets"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

GADGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
             "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "spec": {"type": "object", "required": ["name"], "properties": {
                                   "name": {"type": "string", "maxLength": 5, "minLength": 2, "pattern": "^[a-z]+$"},
                                   "size": {"type": "integer", "minimum": 1, "maximum": 10},
                                   "ratio": {"type": "number", "maximum": 1.5, "exclusiveMaximum": True},
                                   "mode": {"type": "string", "enum": ["A", "B"], "default": "A"},
                                   "cidr": {"type": "string", "format": "cidr"},
                                   "when": {"type": "string", "format": "date-time"},
                                   "port": {"x-kubernetes-int-or-string": True},
                                   "count": {"type": "integer", "format": "int32"},
                                   "tags": {"type": "array", "maxItems": 2, "minItems": 1, "items": {"type": "string"}},
                                   "labels": {"type": "object", "additionalProperties": {"type": "string"},
                                              "maxProperties": 2, "minProperties": 1},
                                   "nested": {"type": "object", "default": {}, "properties": {
                                       "a": {"type": "integer", "default": 5}, "b": {"type": "string"}}},
                                   "opt": {"type": "string", "nullable": True},
                                   "nonnull": {"type": "string"},
                                   "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                   "emb": {"type": "object", "x-kubernetes-embedded-resource": True,
                                           "x-kubernetes-preserve-unknown-fields": True}}},
                               "status": {"type": "object", "properties": {
                                   "phase": {"type": "string", "enum": ["Ready", "NotReady"]}}}}}}}]}}


def gadget_crd() -> dict:
    return copy.deepcopy(GADGET_CRD)


def gadget(spec, name="g", **extra) -> dict:
    return {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": name}, "spec": spec, **extra}


class Answer:
    def __init__(self, status: int, warnings: list[str], text: str):
        self.status, self.warnings, self.text = status, warnings, text

    @property
    def json(self):
        return json.loads(self.text)

    @property
    def message(self) -> str:
        return self.json.get("message", "")


def request(running, method: str, path: str, body=None, content_type: str = "application/json") -> Answer:
    """One request to a served cluster with the admin token; every Warning header kept, in order."""
    connection = http.client.HTTPConnection("127.0.0.1", running.cluster.server.port, timeout=30)
    data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
    headers = {"Authorization": f"Bearer {running.cluster.credentials.admin_token}", "Content-Type": content_type}
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, response.msg.get_all("Warning") or [], response.read().decode())
    finally:
        connection.close()


def install(running, crd=None) -> None:
    """Create a CRD and let the controllers serve it."""
    answer = request(running, "POST", CRDS, crd or gadget_crd())
    assert answer.status == 201, answer.text
    running.cluster.advance(1)
