"""The object store behind the simulated API: what etcd plus the generic registry do.

It owns resourceVersions, uids, generations, optimistic concurrency, finalizers,
graceful deletion and the watch history. Kind-specific rules (defaults, validation)
come in through `admission` hooks so this module stays generic.

Stored objects are never mutated in place: every write stores a fresh dict, so the
references handed to readers (and kept in watch history) stay valid snapshots.
"""
from __future__ import annotations

import base64
import bisect
import json
import random
import threading
import uuid
from dataclasses import dataclass
from typing import Callable

from . import errors, storage_limits
from . import wire
from .clock import SimClock, parse_rfc3339, rfc3339
from .resources import ResourceType
from .selectors import SUPPORTED_FIELDS_BY_KIND, SelectorError, parse_field_selector, parse_label_selector

WATCH_HISTORY = 20000
IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")
# Registries whose strategy's AllowCreateOnUpdate is true, so that a PUT of a missing object creates it (the
# generic registry's Store.Update, k8s.io/apiserver pkg/registry/generic/registry/store.go): v1.26
# pkg/registry/coordination/lease/strategy.go, core/endpoint/strategy.go, core/event/strategy.go,
# core/service/strategy.go and the four rbac/{role,rolebinding,clusterrole,clusterrolebinding}/strategy.go.
# Every other kind served here (custom resources and CRDs included) answers 404, as a v1.26.5 apiserver does.
CREATE_ON_UPDATE = frozenset({("coordination.k8s.io", "leases"), ("", "endpoints"), ("", "events"), ("", "services"),
                              ("rbac.authorization.k8s.io", "roles"), ("rbac.authorization.k8s.io", "rolebindings"),
                              ("rbac.authorization.k8s.io", "clusterroles"),
                              ("rbac.authorization.k8s.io", "clusterrolebindings")})
# Where kube-apiserver keeps a resource in etcd (the key of a StorageError), where it is not /registry/<plural>:
# the legacy registries' prefixes (pkg/registry/core/node/storage "minions", service/storage "services/specs",
# endpoint/storage "services/endpoints"); CRDs and custom resources are stored under their group.
_STORAGE_PREFIX = {("", "nodes"): "minions", ("", "services"): "services/specs",
                   ("", "endpoints"): "services/endpoints"}
_BUILTIN_GROUPS_IN_KEYS = {"", "apps", "batch", "policy", "networking.k8s.io", "coordination.k8s.io",
                           "rbac.authorization.k8s.io", "authorization.k8s.io", "scheduling.k8s.io"}


def storage_key(rtype: ResourceType, namespace: str | None, name: str) -> str:
    """The etcd key of an object, as a StorageError names it (/registry/<prefix>[/<namespace>]/<name>)."""
    prefix = _STORAGE_PREFIX.get(rtype.key)
    if prefix is None:
        prefix = rtype.plural if rtype.group in _BUILTIN_GROUPS_IN_KEYS else f"{rtype.group}/{rtype.plural}"
    return f"/registry/{prefix}/{namespace}/{name}" if rtype.namespaced else f"/registry/{prefix}/{name}"


def uid_precondition_failed(rtype: ResourceType, namespace: str | None, name: str, sent: str,
                            stored: str) -> errors.ApiError:
    """An update whose metadata.uid (a precondition) does not match: storage.Preconditions.Check's
    NewInvalidObjError (k8s.io/apiserver pkg/storage/interfaces.go, errors.go), which
    storeerr.InterpretUpdateError makes a Conflict on the resource."""
    return errors.conflict(rtype.plural, name, rtype.group,
                           f"StorageError: invalid object, Code: 4, Key: {storage_key(rtype, namespace, name)}, "
                           f"ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: "
                           f"{sent}, UID in object meta: {stored}")


def delete_precondition_failed(rtype: ResourceType, obj: dict, preconditions: dict | None) -> errors.ApiError | None:
    """DeleteOptions.preconditions (uid first, then resourceVersion) against the stored object. The generic
    registry checks them in rest.BeforeDelete (k8s.io/apiserver pkg/registry/rest/delete.go): a Conflict on
    the object's Kind and group. Namespaces and CRDs have REST Deletes of their own
    (pkg/registry/core/namespace/storage/storage.go, apiextensions-apiserver
    pkg/registry/customresourcedefinition/etcd.go) that say "Precondition failed" on the resource."""
    uid, rv = (preconditions or {}).get("uid"), (preconditions or {}).get("resourceVersion")
    meta = obj["metadata"]
    name = meta.get("name", "")
    if rtype.key in (("", "namespaces"), ("apiextensions.k8s.io", "customresourcedefinitions")):
        if uid and uid != meta.get("uid"):
            return errors.conflict(rtype.plural, name, rtype.group, f"Precondition failed: UID in precondition: "
                                                                    f"{uid}, UID in object meta: {meta.get('uid')}")
        if rv and rv != meta.get("resourceVersion"):
            return errors.conflict(rtype.plural, name, rtype.group,
                                   f"Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in "
                                   f"object meta: {meta.get('resourceVersion')}")
        return None
    if uid and uid != meta.get("uid"):
        return errors.conflict(rtype.kind, name, rtype.group,
                               f"the UID in the precondition ({uid}) does not match the UID in record "
                               f"({meta.get('uid')}). The object might have been deleted and then recreated")
    if rv and rv != meta.get("resourceVersion"):
        return errors.conflict(rtype.kind, name, rtype.group,
                               f"the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion "
                               f"in record ({meta.get('resourceVersion')}). The object might have been modified")
    return None


def clone(value):
    """Deep copy for JSON-shaped data, several times faster than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


@dataclass(frozen=True)
class WatchEvent:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    key: tuple[str, str]  # (group, plural)
    obj: dict
    old: dict | None


@dataclass
class ListFilter:
    namespace: str | None = None
    label_selector: object | None = None
    field_selector: object | None = None

    def matches(self, obj: dict) -> bool:
        meta = obj["metadata"]
        if self.namespace and meta.get("namespace") != self.namespace:
            return False
        if self.label_selector is not None and not self.label_selector.matches(meta.get("labels")):
            return False
        if self.field_selector is not None and not self.field_selector.matches(obj):
            return False
        return True


# admission(operation, rtype, new_obj, old_obj, subresource) may modify new_obj in place (defaulting)
# and raises ApiError to reject (validation). operation: CREATE, UPDATE, DELETE.
Admission = Callable[[str, ResourceType, dict, "dict | None", "str | None"], None]
# managed(live or None, new) sets new's metadata.managedFields for a client's write (managed_fields.py)
Managed = Callable[["dict | None", dict], None]


class Store:
    def __init__(self, clock: SimClock, seed: int = 0):
        self.clock = clock
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._objects: dict[tuple[str, str], dict[tuple[str, str], dict]] = {}
        self._sorted: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self._rv = 1
        self._history: list[WatchEvent] = []
        self._random = random.Random(seed)
        self.admission: list[Admission] = []
        self.listeners: list[Callable[[WatchEvent], None]] = []
        self.closed = False

    # ---- helpers -----------------------------------------------------------------
    @property
    def lock(self) -> threading.RLock:
        return self._lock

    @property
    def resource_version(self) -> int:
        return self._rv

    def new_uid(self) -> str:
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def random(self) -> random.Random:
        return self._random

    def _bucket(self, rtype: ResourceType) -> dict[tuple[str, str], dict]:
        return self._objects.setdefault(rtype.key, {})

    @staticmethod
    def _obj_key(rtype: ResourceType, namespace: str | None, name: str) -> tuple[str, str]:
        return ((namespace or "") if rtype.namespaced else "", name)

    def _record(self, rtype: ResourceType, type_: str, obj: dict, old: dict | None) -> None:
        event = WatchEvent(self._rv, type_, rtype.key, obj, old)
        self._history.append(event)
        if len(self._history) > 2 * WATCH_HISTORY:
            self._history = self._history[-WATCH_HISTORY:]
        for listener in self.listeners:
            listener(event)
        self._changed.notify_all()

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _run_admission(self, operation: str, rtype: ResourceType, obj: dict, old: dict | None,
                       subresource: str | None = None) -> None:
        for hook in self.admission:
            hook(operation, rtype, obj, old, subresource)
        wire.encode_hook(operation, rtype, obj, old, subresource)  # what is stored is what the encoding keeps

    # ---- reads -------------------------------------------------------------------
    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> dict:
        """The stored object (read-only: clone before changing it)."""
        with self._lock:
            obj = self._bucket(rtype).get(self._obj_key(rtype, namespace, name))
            if obj is None:
                raise errors.not_found(rtype.plural, name, rtype.group)
            return obj

    def find(self, rtype: ResourceType, namespace: str | None, name: str) -> dict | None:
        with self._lock:
            return self._bucket(rtype).get(self._obj_key(rtype, namespace, name))

    def items(self, rtype: ResourceType, namespace: str | None = None) -> list[dict]:
        """Every stored object of a type (read-only), in key order."""
        with self._lock:
            bucket = self._bucket(rtype)
            return [bucket[k] for k in self._sorted_keys(rtype) if not namespace or k[0] == namespace]

    def _sorted_keys(self, rtype: ResourceType) -> list[tuple[str, str]]:
        keys = self._sorted.get(rtype.key)
        if keys is None:
            keys = self._sorted[rtype.key] = sorted(self._bucket(rtype))
        return keys

    def make_filter(self, rtype: ResourceType, namespace: str | None, label_selector: str | None,
                    field_selector: str | None) -> ListFilter:
        try:
            labels = parse_label_selector(label_selector) if label_selector else None
            fields = parse_field_selector(field_selector) if field_selector else None
        except SelectorError as exc:
            raise errors.bad_request(str(exc))
        if fields is not None:
            supported = SUPPORTED_FIELDS_BY_KIND.get(rtype.kind, ("metadata.name", "metadata.namespace"))
            for field_name, _op, _value in fields.requirements:
                if field_name not in supported:
                    raise errors.bad_request(f'field label not supported: {field_name}')
        return ListFilter(namespace if rtype.namespaced else None, labels, fields)

    def list(self, rtype: ResourceType, flt: ListFilter, limit: int = 0,
             continue_token: str | None = None) -> tuple[list[dict], str, str | None, int | None]:
        """Returns (items, resourceVersion, continue token, remainingItemCount)."""
        with self._lock:
            keys = self._sorted_keys(rtype)
            bucket = self._bucket(rtype)
            start = 0
            list_rv = str(self._rv)
            if continue_token:
                list_rv, after = _decode_continue(continue_token)
                if int(list_rv) < 0:  # the token of a 410: go on at the latest resourceVersion
                    list_rv = str(self._rv)
                elif int(list_rv) < self._rv:
                    # Every page of a chunked list shows the objects as they were when the first page was
                    # served (etcd reads at that revision), or 410 once that revision is compacted away.
                    bucket = self._view_at(rtype, int(list_rv), after)
                    keys = sorted(bucket)
                start = bisect.bisect_right(keys, after)
            elif flt.namespace:
                start = bisect.bisect_left(keys, (flt.namespace, ""))
            result: list[dict] = []
            index = start
            for index in range(start, len(keys)):
                key = keys[index]
                if flt.namespace and key[0] != flt.namespace:
                    if key[0] > flt.namespace:
                        index = len(keys)
                        break
                    continue
                obj = bucket[key]
                if flt.matches(obj):
                    result.append(obj)
                    if limit and len(result) >= limit:
                        break
            else:
                index = len(keys)
            more = (limit and len(result) >= limit and index + 1 < len(keys)
                    and (not flt.namespace or keys[index + 1][0] == flt.namespace))
            if more:
                last = result[-1]["metadata"]
                token = _encode_continue(list_rv, self._obj_key(rtype, last.get("namespace"), last["name"]))
                remaining = None
                if flt.label_selector is None and flt.field_selector is None:
                    remaining = sum(1 for k in keys[index + 1:] if not flt.namespace or k[0] == flt.namespace)
                return result, list_rv, token, remaining
            return result, list_rv, None, None

    def _view_at(self, rtype: ResourceType, rv: int, after: tuple[str, str]) -> dict[tuple[str, str], dict]:
        """The objects of a type as they were at resourceVersion `rv`, rebuilt by undoing later events."""
        bucket = self._bucket(rtype)
        history = self._history
        if not history or history[0].rv > rv + 1:
            raise errors.ApiError(410, "Expired", _INCONSISTENT_CONTINUE,
                                  list_meta={"continue": _encode_continue("-1", after)})
        view = dict(bucket)
        for event in reversed(history[bisect.bisect_right(history, rv, key=lambda e: e.rv):]):
            if event.key != rtype.key:
                continue
            meta = event.obj["metadata"]
            key = self._obj_key(rtype, meta.get("namespace"), meta["name"])
            if event.type == "ADDED":
                view.pop(key, None)
            else:
                view[key] = event.old
        return view

    # ---- writes ------------------------------------------------------------------
    def create(self, rtype: ResourceType, obj: dict, *, dry_run: bool = False, owned: bool = False,
               uid: str | None = None, managed: Managed | None = None) -> dict:
        """`owned`: the caller hands over a fresh object nobody else holds, so it is not copied.
        `uid`: a fixed uid (for objects the server itself makes), leaving the seeded sequence alone.
        `managed`: the request's field manager, given the live object (None) and the admitted one."""
        obj = obj if owned else clone(obj)
        meta = obj.setdefault("metadata", {})
        requested_name = meta.get("name") or ""
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(
                self._random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
        obj["apiVersion"], obj["kind"] = rtype.api_version, rtype.kind
        with self._lock:
            if rtype.namespaced:
                namespace = meta.get("namespace") or "default"
                meta["namespace"] = namespace
                # The create handler names the admission attributes by the object's name, or by its
                # generateName before one is generated (seen on a v1.26.5 apiserver: `configmaps "cm-"`).
                self._require_namespace(namespace, rtype, requested_name or meta.get("generateName") or "")
            else:
                meta.pop("namespace", None)
            meta.pop("resourceVersion", None)
            meta.pop("deletionTimestamp", None)
            meta["uid"] = uid or self.new_uid()
            meta["creationTimestamp"] = rfc3339(self.clock.now())
            if rtype.has_generation:
                meta["generation"] = 1
            else:
                meta.pop("generation", None)
            self._run_admission("CREATE", rtype, obj, None)
            if managed is not None:
                managed(None, obj)
            key = self._obj_key(rtype, meta.get("namespace"), meta.get("name") or "")
            if key in self._bucket(rtype):
                raise errors.already_exists(rtype.plural, key[1], rtype.group)
            if dry_run:
                return obj
            if managed is not None:  # a client's write (see _store_update)
                storage_limits.check(rtype, obj)  # what etcd refuses to store
            meta["resourceVersion"] = self._next_rv()
            self._bucket(rtype)[key] = obj
            self._sorted.pop(rtype.key, None)
            self._record(rtype, "ADDED", obj, None)
            return obj

    def _require_namespace(self, namespace: str, rtype: ResourceType, name: str) -> None:
        """The NamespaceLifecycle admission plugin (it runs before defaulting and validation)."""
        ns_bucket = self._objects.get(("", "namespaces"), {})
        ns = ns_bucket.get(("", namespace))
        if ns is None:
            raise errors.not_found("namespaces", namespace)
        if (ns.get("status") or {}).get("phase") == "Terminating":
            error = errors.forbidden(
                f"unable to create new content in namespace {namespace} because it is being terminated",
                rtype.plural, name, rtype.group)
            error.details.setdefault("causes", []).append(
                {"reason": "NamespaceTerminating", "message": f"namespace {namespace} is being terminated",
                 "field": "metadata.namespace"})
            raise error

    def update(self, rtype: ResourceType, obj: dict, *, subresource: str | None = None,
               dry_run: bool = False, check_rv: bool = True, owned: bool = False,
               managed: Managed | None = None) -> dict:
        """Replace an object (PUT). With subresource="status" only the status changes.

        `owned`: the caller hands over `obj` (a private copy), so it is stored without copying."""
        new = obj if owned else clone(obj)
        meta = new.setdefault("metadata", {})
        with self._lock:
            key = self._obj_key(rtype, meta.get("namespace"), meta.get("name", ""))
            old = self._bucket(rtype).get(key)
            if old is None and check_rv and subresource is None and rtype.key in CREATE_ON_UPDATE:
                # Store.Update creates the object (BeforeCreate, create admission), after checking the uid
                # precondition against the empty object GuaranteedUpdate found
                if meta.get("uid"):
                    raise uid_precondition_failed(rtype, key[0], key[1], meta["uid"], "")
                return self.create(rtype, new, dry_run=dry_run, owned=True, managed=managed)
            if old is None:
                raise errors.not_found(rtype.plural, meta.get("name", ""), rtype.group)
            # A uid in the object is a precondition (DefaultUpdatedObjectInfo.Preconditions), checked
            # before the resourceVersion
            sent_uid, old_uid = meta.get("uid"), old["metadata"].get("uid")
            if check_rv and sent_uid and sent_uid != old_uid:
                raise uid_precondition_failed(rtype, key[0], key[1], sent_uid, old_uid)
            sent_rv = meta.get("resourceVersion")
            if check_rv and sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(rtype.plural, key[1], rtype.group)
            new = self._merge_update(rtype, old, new, subresource)
            _check_no_new_finalizers(rtype, old, new)
            self._run_admission("UPDATE", rtype, new, old, subresource)
            if rtype.has_generation and subresource is None:
                # The strategies' PrepareForUpdate compare the decoded (so defaulted) object with the stored
                # one: any change outside metadata counts, status too unless it is a subresource of its own.
                has_status = "status" in rtype.subresources
                if _spec_of(new, has_status) != _spec_of(old, has_status):
                    new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
            if managed is not None:
                managed(old, new)
            return self._store_update(rtype, key, old, new, dry_run, from_client=managed is not None)

    @staticmethod
    def _merge_update(rtype: ResourceType, old: dict, new: dict, subresource: str | None) -> dict:
        new["apiVersion"], new["kind"] = rtype.api_version, rtype.kind
        has_status = "status" in rtype.subresources
        if subresource == "status":
            # Stored objects are never changed in place, so the new version may share the
            # old one's unchanged parts; only metadata (resourceVersion) gets its own copy.
            new = {**old, "metadata": dict(old["metadata"]), "status": new.get("status", {})}
        elif has_status:
            if "status" in old:
                new["status"] = clone(old["status"])
            else:
                new.pop("status", None)
        meta, old_meta = new["metadata"], old["metadata"]
        for immutable in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                          "namespace", "name"):
            if immutable in old_meta:
                meta[immutable] = old_meta[immutable]
            else:
                meta.pop(immutable, None)
        if not rtype.has_generation:
            meta.pop("generation", None)
            return new
        meta["generation"] = old_meta.get("generation", 1)  # bumped after admission (update)
        return new

    def _store_update(self, rtype: ResourceType, key, old: dict, new: dict, dry_run: bool,
                      from_client: bool = False) -> dict:
        meta = new["metadata"]
        if dry_run:
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            return new
        if (meta.get("deletionTimestamp") and not meta.get("finalizers") and not _awaits_kubelet(rtype, new)
                and not _awaits_namespace_finalizers(rtype, new)):
            return self._remove(rtype, key, new)
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old:
            return old  # a no-op write does not bump the resourceVersion, as in the real API
        if from_client:
            # etcd's limits hold for every write, but only a client's can come near them: the simulator's own
            # controllers and kubelets write pods and statuses of a few KiB, and encoding each of those to
            # measure it was half the build time of a 1,000-node cluster (benchmarks/bench_sim.py)
            storage_limits.check(rtype, new)
        meta["resourceVersion"] = self._next_rv()
        self._bucket(rtype)[key] = new
        self._record(rtype, "MODIFIED", new, old)
        return new

    def mutate(self, rtype: ResourceType, namespace: str | None, name: str,
               change: Callable[[dict], None], *, subresource: str | None = None,
               dry_run: bool = False, shallow: bool = False) -> dict:
        """Read-modify-write under the lock: how controllers update without conflicts.

        `shallow`: copy only the top level and its dicts (metadata, spec, status), for changes
        that only assign keys there (the hot paths: binding, status, scale)."""
        with self._lock:
            stored = self.get(rtype, namespace, name)
            if shallow:
                current = {k: (dict(v) if isinstance(v, dict) else v) for k, v in stored.items()}
            else:
                current = clone(stored)
            change(current)
            return self.update(rtype, current, subresource=subresource, dry_run=dry_run, check_rv=False, owned=True)

    def delete(self, rtype: ResourceType, namespace: str | None, name: str, *,
               grace_period: int | None = None, propagation: str | None = None,
               preconditions: dict | None = None, dry_run: bool = False) -> dict:
        with self._lock:
            key = self._obj_key(rtype, namespace, name)
            old = self._bucket(rtype).get(key)
            if old is None:
                raise errors.not_found(rtype.plural, name, rtype.group)
            failed = delete_precondition_failed(rtype, old, preconditions)
            if failed is not None:
                raise failed
            if rtype.key == ("", "namespaces") and name in IMMORTAL_NAMESPACES:
                # NamespaceLifecycle admission (k8s.io/apiserver pkg/admission/plugin/namespace/lifecycle)
                raise errors.forbidden("this namespace may not be deleted", "namespaces", name)
            self._run_admission("DELETE", rtype, clone(old), old)
            new = clone(old)
            meta = new["metadata"]
            finalizers = list(meta.get("finalizers") or [])
            if rtype.key == ("", "namespaces") and (new.get("spec") or {}).get("finalizers"):
                # spec.finalizers hold a namespace until the namespace controller empties it
                new.setdefault("status", {})["phase"] = "Terminating"
                if not already_terminating_ns(old):
                    meta["deletionTimestamp"] = rfc3339(self.clock.now())
                    if dry_run:
                        return new
                    meta["resourceVersion"] = self._next_rv()
                    self._bucket(rtype)[key] = new
                    self._record(rtype, "MODIFIED", new, old)
                return new if not dry_run else old
            if propagation == "Foreground" and "foregroundDeletion" not in finalizers:
                finalizers.append("foregroundDeletion")
            elif propagation == "Orphan" and "orphan" not in finalizers:
                finalizers.append("orphan")
            grace = self._grace_for(rtype, old, grace_period)
            already_terminating = bool(old["metadata"].get("deletionTimestamp"))
            if not finalizers and grace == 0:
                if rtype.key == ("", "pods") and self._mark_graceful(old, new, 0):
                    # Every pod delete is graceful (podStrategy.CheckGracefulDelete, pkg/registry/core/pod/
                    # strategy.go), period 0 included: Store.Delete's updateForGracefulDeletionAndFinalizers
                    # (k8s.io/apiserver pkg/registry/generic/registry/store.go) writes the pod marked for
                    # deletion, then deletes it, and answers with it. A dry run answers the marked pod.
                    if dry_run:
                        return new
                    meta["resourceVersion"] = self._next_rv()
                    self._bucket(rtype)[key] = new
                    self._record(rtype, "MODIFIED", new, old)
                    return self._remove(rtype, key, new)
                if dry_run:
                    return old
                return self._remove(rtype, key, old)
            if finalizers:
                meta["finalizers"] = finalizers
            if rtype.key == ("", "pods"):
                self._mark_graceful(old, new, grace)
            elif not already_terminating:
                meta["deletionTimestamp"] = rfc3339(self.clock.now() + (grace or 0))
                if grace is not None:
                    meta["deletionGracePeriodSeconds"] = grace
            if dry_run:
                return new
            if new == old:
                return old  # a graceful deletion already pending: nothing is written (BeforeDelete's pendingGraceful)
            meta["resourceVersion"] = self._next_rv()
            self._bucket(rtype)[key] = new
            self._record(rtype, "MODIFIED", new, old)
            return new

    def _mark_graceful(self, old: dict, new: dict, grace: int) -> bool:
        """rest.BeforeDelete (k8s.io/apiserver pkg/registry/rest/delete.go) for a pod: set deletionTimestamp
        (now + grace) and deletionGracePeriodSeconds on `new` and bump a generation; on a pod already terminating
        only a shorter period counts, moving the timestamp by the difference. False when the delete is not
        graceful: the pod is already terminating with no period or period 0 (then it goes at once)."""
        meta, old_meta = new["metadata"], old["metadata"]
        if old_meta.get("deletionTimestamp"):
            current = old_meta.get("deletionGracePeriodSeconds")
            if not current:
                return False
            if grace < current:
                meta["deletionTimestamp"] = rfc3339(parse_rfc3339(old_meta["deletionTimestamp"]) - current + grace)
                meta["deletionGracePeriodSeconds"] = grace
            return True
        meta["deletionTimestamp"] = rfc3339(self.clock.now() + grace)
        meta["deletionGracePeriodSeconds"] = grace
        if meta.get("generation", 0) > 0:
            meta["generation"] += 1
        return True

    @staticmethod
    def _grace_for(rtype: ResourceType, obj: dict, requested: int | None) -> int:
        """Pods bound to a node terminate gracefully (the kubelet finishes the delete)."""
        if rtype.key != ("", "pods"):
            return 0
        spec = obj.get("spec") or {}
        if not spec.get("nodeName") or (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        if requested is not None:
            return 1 if requested < 0 else requested  # BeforeDelete: a negative period is taken as 1 s
        return int(spec.get("terminationGracePeriodSeconds", 30))

    def _remove(self, rtype: ResourceType, key, obj: dict) -> dict:
        bucket = self._bucket(rtype)
        bucket.pop(key, None)
        self._sorted.pop(rtype.key, None)
        gone = clone(obj)
        gone["metadata"]["resourceVersion"] = self._next_rv()
        self._record(rtype, "DELETED", gone, obj)
        return gone

    def force_remove(self, rtype: ResourceType, namespace: str | None, name: str) -> dict | None:
        """Remove regardless of finalizers/grace: what the kubelet's final delete and the GC do."""
        with self._lock:
            key = self._obj_key(rtype, namespace, name)
            obj = self._bucket(rtype).get(key)
            return self._remove(rtype, key, obj) if obj is not None else None

    def drop_type(self, key: tuple[str, str]) -> None:
        """A CRD went away: its objects go with it."""
        with self._lock:
            self._objects.pop(key, None)
            self._sorted.pop(key, None)

    def compact_history(self) -> None:
        """Forget watch history (after building a scenario), as etcd compaction does."""
        with self._lock:
            self._history = []

    # ---- watch -------------------------------------------------------------------
    def events_since(self, rv: int, key: tuple[str, str] | None = None) -> tuple[list[WatchEvent], int]:
        """Events after `rv` (of one type when `key` is given) and the resourceVersion they reach to.

        Raises 410 Gone when the history no longer reaches back to `rv`."""
        with self._lock:
            history = self._history
            # Compaction (or the scenario build) dropped what came before the oldest event kept.
            if rv < self._rv and (not history or rv < history[0].rv - 1):
                oldest = history[0].rv - 1 if history else self._rv
                raise errors.gone(f"too old resource version: {rv} ({oldest})")
            start = bisect.bisect_right(history, rv, key=lambda e: e.rv)
            return [e for e in history[start:] if key is None or e.key == key], max(rv, self._rv)

    def wait_for_change(self, after_rv: int, timeout: float) -> bool:
        with self._lock:
            if self._rv > after_rv:
                return True
            self._changed.wait(timeout)
            return self._rv > after_rv

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self._changed.notify_all()


def _check_no_new_finalizers(rtype: ResourceType, old: dict, new: dict) -> None:
    """ValidateObjectMetaUpdate: an object being deleted may lose finalizers but gain none."""
    if not old["metadata"].get("deletionTimestamp"):
        return
    extra = sorted(set(new["metadata"].get("finalizers") or []) - set(old["metadata"].get("finalizers") or []))
    if extra:
        listed = ", ".join(json.dumps(f) for f in extra)
        raise errors.invalid(rtype.kind, new["metadata"].get("name", ""), [(
            "metadata.finalizers", "Forbidden: no new finalizers can be added if the object is being deleted, "
                                   f"found new finalizers []string{{{listed}}}")], rtype.group)


def already_terminating_ns(obj: dict) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def _spec_of(obj: dict, has_status: bool = True) -> dict:
    ignored = ("metadata", "status", "apiVersion", "kind") if has_status else ("metadata", "apiVersion", "kind")
    return {k: v for k, v in obj.items() if k not in ignored}


def _awaits_namespace_finalizers(rtype: ResourceType, obj: dict) -> bool:
    """pkg/registry/core/namespace/storage/storage.go ShouldDeleteNamespaceDuringUpdate: a namespace
    goes on an update only once its spec.finalizers are empty (the namespace controller's finalize)."""
    return rtype.key == ("", "namespaces") and bool((obj.get("spec") or {}).get("finalizers"))


def _awaits_kubelet(rtype: ResourceType, obj: dict) -> bool:
    """A terminating pod bound to a node stays until its kubelet confirms it stopped."""
    return rtype.key == ("", "pods") and (obj["metadata"].get("deletionGracePeriodSeconds") or 0) > 0


_INCONSISTENT_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new list "
    "without the continue parameter, or use the continue token in this response to retrieve the remainder of the "
    "results. Continuing with the provided token results in an inconsistent list - objects that were created, "
    "modified, or deleted between the time the first chunk was returned and now may show up in the list.")


def _encode_continue(rv: str, after: tuple[str, str]) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": list(after)}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_continue(token: str) -> tuple[str, tuple[str, str]]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(int(data["rv"])), tuple(data["start"])
    except Exception:
        raise errors.bad_request("continue key is not valid: the format of the continue token is not recognised")
