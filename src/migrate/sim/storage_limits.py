"""What etcd refuses to store: objects over its request size limits.

The apiserver's etcd3 store (k8s.io/apiserver pkg/storage/etcd3/store.go Create and
GuaranteedUpdate) sends the encoded object in one transaction; errors come back unwrapped and the
handler answers 500 with the error's text (responsewriters ErrorToAPIStatus, reason empty):
- the etcd client refuses a gRPC message over its MaxCallSendMsgSize, 2 MiB
  (storagebackend/factory/etcd3.go): "rpc error: code = ResourceExhausted desc = trying to send
  message larger than max (N vs. 2097152)";
- etcd refuses a request over --max-request-bytes, 1.5 MiB by default:
  "etcdserver: request is too large" (handlers/rest.go isTooLargeError knows it).
A dry run never reaches etcd. Measured against kube-apiserver v1.26.5 with etcd 3.4: a custom
object of 1.2 MiB is stored, one of 1.6 MiB gets the etcd error, one of 2 MiB the gRPC one.
The size is the object's JSON plus its key and a little framing (custom resources are stored as
JSON; built-in kinds as protobuf, a little smaller, which is not modelled).
"""
from __future__ import annotations

import json

from . import errors

ETCD_MAX_REQUEST_BYTES = 1536 * 1024  # etcd --max-request-bytes default (embed/config.go)
GRPC_MAX_SEND_BYTES = 2 * 1024 * 1024  # client MaxCallSendMsgSize
_FRAMING = 64  # txn/put request framing around key and value, roughly


def check(rtype, obj: dict) -> None:
    meta = obj.get("metadata") or {}
    # cheap bound first: most objects are far below the limit
    key = "/registry/" + "/".join(p for p in (rtype.group, rtype.plural, meta.get("namespace"), meta.get("name")) if p)
    size = len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()) + len(key) + _FRAMING
    if size > GRPC_MAX_SEND_BYTES:
        raise errors.ApiError(500, "", f"rpc error: code = ResourceExhausted desc = trying to send message larger "
                                       f"than max ({size} vs. {GRPC_MAX_SEND_BYTES})")
    if size > ETCD_MAX_REQUEST_BYTES:
        raise errors.ApiError(500, "", "etcdserver: request is too large")
