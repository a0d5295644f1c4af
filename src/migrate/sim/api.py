"""The API server's request semantics, independent of HTTP: what each verb does.

server.py parses HTTP into calls here; the store keeps the objects; this layer adds
authorization, patches, subresources (eviction, binding, log, scale, status) and
server-side printing.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from . import errors, managed_fields, meta_time, rbac, server_side_apply
from .clock import rfc3339
from .controllers import disruption_allowed_condition
from .crd_schema import CustomResources
from .field_validation import FieldValidation, check_body_size
from .patch import PatchError, apply_patch
from .resources import ResourceRegistry, ResourceType
from .selectors import selector_from_label_selector_object
from .store import Store
from .tables import to_table

POD = ("", "pods")
PDB = ("policy", "poddisruptionbudgets")
_STRATEGIC = "application/strategic-merge-patch+json"
_JSON_PATCH = "application/json-patch+json"
_MERGE_PATCH = "application/merge-patch+json"
_OPTIONS_KIND = {"create": "CreateOptions", "update": "UpdateOptions", "patch": "PatchOptions",
                 "delete": "DeleteOptions", "deletecollection": "DeleteOptions"}


@dataclass
class Request:
    verb: str  # get, list, watch, create, update, patch, delete, deletecollection
    rtype: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None
    user: rbac.User
    params: dict[str, str]
    body: bytes = b""
    content_type: str = ""
    # Every dryRun value of the query, in order: the parameter may repeat, and `?dryRun=` is the value ""
    # (apimachinery's query parameter codec decodes DryRun []string from all of them).
    dry_run_query: tuple[str, ...] | None = None
    warnings: list[str] = field(default_factory=list)  # sent back as Warning headers
    created: bool = False  # an update that created its object (store.CREATE_ON_UPDATE): answered 201
    user_agent: str = ""  # names the field manager unless the fieldManager option does

    @property
    def dry_run_values(self) -> list[str]:
        """The request's dryRun option. k8s.io/apiserver pkg/endpoints/handlers/delete.go: a DELETE with a
        body takes its DeleteOptions from the body alone and never reads the query parameters."""
        if self.verb in ("delete", "deletecollection") and self.body:
            try:
                options = json.loads(self.body)
            except ValueError:
                return []
            value = options.get("dryRun") if isinstance(options, dict) else None
            return [str(v) for v in value] if isinstance(value, list) else []
        if self.dry_run_query is not None:
            return list(self.dry_run_query)
        value = self.params.get("dryRun")
        return [value] if value is not None else []

    @property
    def dry_run(self) -> bool:
        return "All" in self.dry_run_values

    def check_dry_run(self) -> None:
        """apimachinery pkg/apis/meta/v1/validation ValidateDryRun: "All" is the only value; the handlers
        answer with NewInvalid on the request's options kind."""
        unknown = [v for v in self.dry_run_values if v != "All"]
        if unknown:
            shown = "[]string{" + ", ".join(json.dumps(v) for v in self.dry_run_values) + "}"
            raise errors.invalid(_OPTIONS_KIND[self.verb], "", [
                ("dryRun", f'Unsupported value: {shown}: supported values: "All"')], "meta.k8s.io")


class ApiService:
    def __init__(self, store: Store, registry: ResourceRegistry, pod_logs=None, kubelet_unreachable=None,
                 kubernetes_version: str = "v1.34.2"):
        self.store = store
        self.registry = registry
        # custom resources' schemas (pruning, defaulting, validation) and the decode step of writes
        self.custom_resources = CustomResources(store, registry)
        self.field_validation = FieldValidation(self.custom_resources, kubernetes_version)
        self.pod_logs = pod_logs or (lambda namespace, name, container: "")
        self.kubelet_unreachable = kubelet_unreachable or (lambda node: False)
        self._bootstrap_policy()

    def _bootstrap_policy(self) -> None:
        """What kube-apiserver's rbac/bootstrap-roles hook ensures: every authenticated user may ask
        what it may do (system:basic-user). The rest of the cluster's RBAC comes from the scenario."""
        for obj in _BOOTSTRAP_POLICY:
            rtype = self.registry.by_kind(obj["apiVersion"], obj["kind"])
            if self.store.find(rtype, None, obj["metadata"]["name"]) is None:
                self.store.create(rtype, obj, uid=str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                                  f"sim:{obj['kind']}/{obj['metadata']['name']}")))

    # ---- authorization -----------------------------------------------------------
    def authorize(self, req: Request) -> None:
        verb = req.verb
        attrs = rbac.Attributes(verb=verb, group=req.rtype.group, resource=req.rtype.plural,
                                subresource=req.subresource or "", namespace=req.namespace or "",
                                name=req.name or "")
        if not self.allowed(req.user, attrs):
            # responsewriters.Forbidden: NewForbidden(group/resource, name, forbiddenMessage(attributes))
            resource = f"{req.rtype.plural}/{req.subresource}" if req.subresource else req.rtype.plural
            scope = f' in the namespace "{req.namespace}"' if req.namespace else " at the cluster scope"
            raise errors.forbidden(f'User "{req.user.name}" cannot {verb} resource "{resource}" in API group '
                                   f'"{req.rtype.group}"{scope}', req.rtype.plural, req.name or "", req.rtype.group)

    def allowed(self, user: rbac.User, attrs: rbac.Attributes) -> bool:
        return self.decide(user, attrs)[0]

    def decide(self, user: rbac.User, attrs: rbac.Attributes) -> tuple[bool, str]:
        if user.is_superuser:
            return True, ""
        find = self.registry.lookup
        cluster_roles = {o["metadata"]["name"]: o for o in self.store.items(find("rbac.authorization.k8s.io", "v1", "clusterroles"))}
        roles = {(o["metadata"]["namespace"], o["metadata"]["name"]): o
                 for o in self.store.items(find("rbac.authorization.k8s.io", "v1", "roles"))}
        return rbac.decide(user, attrs, cluster_roles, roles,
                           self.store.items(find("rbac.authorization.k8s.io", "v1", "clusterrolebindings")),
                           self.store.items(find("rbac.authorization.k8s.io", "v1", "rolebindings")))

    # ---- reads -------------------------------------------------------------------
    def get(self, req: Request) -> dict:
        obj = self.store.get(req.rtype, req.namespace, req.name)
        if req.subresource == "scale":
            return _scale_of(obj)
        return self.custom_resources.on_read(req.rtype, obj)

    def list(self, req: Request, as_table: bool = False) -> dict:
        flt = self.store.make_filter(req.rtype, req.namespace, req.params.get("labelSelector"),
                                     req.params.get("fieldSelector"))
        limit = int(req.params.get("limit") or 0)
        # The watch cache serves a list at resourceVersion "0" whole, whatever its limit (k8s.io/apiserver
        # pkg/storage/cacher/cacher.go v1.26, GetList and shouldDelegateList); only a continue token or
        # resourceVersionMatch=Exact sends it on to etcd, which pages.
        if (req.params.get("resourceVersion") == "0" and not req.params.get("continue")
                and req.params.get("resourceVersionMatch") != "Exact"):
            limit = 0
        items, rv, token, remaining = self.store.list(req.rtype, flt, limit, req.params.get("continue"))
        items = [self.custom_resources.on_read(req.rtype, obj) for obj in items]
        meta: dict = {"resourceVersion": rv}
        if token:
            meta["continue"] = token
            if remaining is not None:
                meta["remainingItemCount"] = remaining
        if as_table:
            return to_table(req.rtype.kind, items, self.store.clock.now(), meta,
                            req.params.get("includeObject", "Metadata"))
        return {"kind": f"{req.rtype.kind}List", "apiVersion": req.rtype.api_version, "metadata": meta,
                "items": items}

    def log(self, req: Request) -> str:
        pod = self.store.get(req.rtype, req.namespace, req.name)
        spec = pod.get("spec") or {}
        # validateContainer in the pod registry
        everything = [c["name"] for key in ("initContainers", "containers", "ephemeralContainers")
                      for c in spec.get(key) or []]
        main = [c["name"] for c in spec.get("containers") or []]
        container = req.params.get("container")
        if not container:
            if len(main) != 1:
                raise errors.bad_request(f"a container name must be specified for pod {req.name}" + (
                    f", choose one of: [{' '.join(everything)}]" if main else ""))
            container = main[0]
        elif container not in everything:
            raise errors.bad_request(f"container {container} is not valid for pod {req.name}")
        node = spec.get("nodeName")
        if node and self.kubelet_unreachable(node):
            # pkg/registry/core/pod/rest/log.go streams from the kubelet's /containerLogs; the dial error
            # comes back as a 500 (the apiserver's proxy transport).
            raise errors.ApiError(500, "InternalError", f'Get "https://{node}:10250/containerLogs/{req.namespace}/'
                                  f'{req.name}/{container}": dial tcp {node}:10250: connect: connection refused')
        text = self.pod_logs(req.namespace, req.name, container)
        tail = req.params.get("tailLines")
        if tail:
            text = "".join(text.splitlines(keepends=True)[-int(tail):]) if int(tail) > 0 else ""
        return text

    # ---- writes ------------------------------------------------------------------
    def _field_manager(self, req: Request):
        """The request's field manager (managed_fields.py): records an Update entry on the written object."""
        manager = managed_fields.manager_name(req.params.get("fieldManager"), req.user_agent)
        now = rfc3339(self.store.clock.now())
        has_status = "status" in req.rtype.subresources
        schema = server_side_apply.schema_for(self.store, self.registry, req.rtype)

        def record(live: dict | None, new: dict) -> None:
            managed_fields.record_update(live, new, manager=manager, api_version=req.rtype.api_version,
                                         subresource=req.subresource, has_status=has_status, now=now, schema=schema)
        return record

    def _decode(self, req: Request) -> dict:
        try:
            body = json.loads(req.body or b"{}")
        except ValueError as exc:
            raise errors.bad_request(f"the request body is not valid JSON: {exc}")
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be a JSON object")
        return body

    def create(self, req: Request) -> tuple[int, dict]:
        check_body_size(req.body)
        body = self._decode(req)
        if req.subresource == "eviction":
            return self.evict(req, body)
        if req.subresource == "binding":
            return 201, self.bind(req, body)
        if req.rtype.kind == "SelfSubjectAccessReview":
            return 201, self.access_review(req, body)
        meta = body.setdefault("metadata", {})
        if req.rtype.namespaced:
            if meta.get("namespace") and meta["namespace"] != req.namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace "
                                         "sent on the request")
            meta["namespace"] = req.namespace
        expected_kind = req.rtype.kind
        if body.get("kind") and body["kind"] != expected_kind:
            raise errors.bad_request(f'the kind of the provided object ({body["kind"]}) does not match the '
                                     f'resource ({expected_kind})')
        meta_time.decode_body(req.rtype, body)  # (Micro)Time fields fail the decoding itself
        self.field_validation.decode_body(req, body, "CreateOptions")
        return 201, self.store.create(req.rtype, body, dry_run=req.dry_run, managed=self._field_manager(req))

    def update(self, req: Request) -> dict:
        check_body_size(req.body)
        body = self._decode(req)
        meta = body.setdefault("metadata", {})
        # The update handler: EnsureObjectNamespaceMatchesRequestNamespace, then checkName
        if req.rtype.namespaced:
            if meta.get("namespace") and meta["namespace"] != req.namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace sent on "
                                         "the request")
            meta["namespace"] = req.namespace
        if meta.get("name", "") != req.name:
            raise errors.bad_request(f"the name of the object ({meta.get('name', '')}) does not match the name on "
                                     f"the URL ({req.name})")
        if req.subresource == "scale":
            return self._update_scale(req, body)
        meta_time.decode_body(req.rtype, body)
        self.field_validation.decode_body(req, body, "UpdateOptions")
        if not meta.get("resourceVersion") and not _allows_unconditional_update(req.rtype):
            self.store.get(req.rtype, req.namespace, req.name)  # a missing object is 404 first
            raise errors.invalid(req.rtype.plural, req.name or "", [
                ("metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update")], req.rtype.group)
        req.created = self.store.find(req.rtype, req.namespace, req.name) is None  # else update() is 404
        return self.store.update(req.rtype, body, subresource=req.subresource, dry_run=req.dry_run,
                                 managed=self._field_manager(req))

    def patch(self, req: Request) -> dict:
        check_body_size(req.body)
        content_type = req.content_type.split(";")[0].strip()
        # The content type is checked before anything else, so a missing object with a wrong one is 415.
        accepted = [_JSON_PATCH, _MERGE_PATCH] + ([] if req.rtype.group not in _BUILTIN_GROUPS else [_STRATEGIC])
        if content_type == "application/apply-patch+yaml" and req.subresource is None:
            return server_side_apply.server_side_apply(self.store, self.registry, req, self.store.clock.now(),
                                                       self.field_validation.kubernetes_version)
        if content_type == "application/apply-patch+yaml":
            raise errors.unsupported_media_type("server-side apply to a subresource is not simulated")
        if content_type not in accepted:
            raise errors.unsupported_media_type(
                "the body of the request was in an unknown format - accepted media types include: "
                + ", ".join(accepted + ["application/apply-patch+yaml"]))
        with self.store.lock:
            current = self.store.get(req.rtype, req.namespace, req.name)
            if req.subresource == "scale":
                current = _scale_of(current)
            try:
                patched = apply_patch(current, req.body, content_type)
            except PatchError as exc:
                if exc.code == 400:
                    raise errors.bad_request(exc.message)
                if content_type == _JSON_PATCH:
                    # A JSON patch that does not apply: the handler answers with a generic 422 that
                    # drops jsonpatch's own text (NewGenericServerResponse).
                    raise errors.ApiError(422, "Invalid", "the server rejected our request due to an error in our "
                                                          "request", empty_details=True)
                raise errors.ApiError(422, "Invalid", str(exc))
            if req.subresource == "scale":
                return self._update_scale(req, patched)
            patched.setdefault("metadata", {})["name"] = req.name
            meta_time.decode_patched(req.rtype, patched, req.body, content_type)
            self.field_validation.decode_patched(req, patched, content_type)
            return self.store.update(req.rtype, patched, subresource=req.subresource, dry_run=req.dry_run,
                                     managed=self._field_manager(req))

    def delete(self, req: Request) -> dict:
        options = self._decode(req) if req.body else {}
        grace = req.params.get("gracePeriodSeconds", options.get("gracePeriodSeconds"))
        propagation = req.params.get("propagationPolicy", options.get("propagationPolicy"))
        if propagation is None and options.get("orphanDependents") is True:
            propagation = "Orphan"
        if propagation not in (None, "Foreground", "Background", "Orphan"):
            raise errors.bad_request(f'propagationPolicy: Unsupported value: "{propagation}"')
        dry_run = req.dry_run
        result = self.store.delete(req.rtype, req.namespace, req.name,
                                   grace_period=None if grace is None else int(grace), propagation=propagation,
                                   preconditions=options.get("preconditions"), dry_run=dry_run)
        if dry_run:
            gone = not result["metadata"].get("deletionTimestamp")
        else:
            gone = self.store.find(req.rtype, req.namespace, req.name) is None
        if not gone or req.rtype.key in _RETURNS_DELETED_OBJECT:
            return result
        # What the generic registry answers for an object deleted at once (finalizeDelete): a
        # Status whose details name the resource in `kind`.
        details = {"name": req.name, **({"group": req.rtype.group} if req.rtype.group else {}),
                   "kind": req.rtype.plural, "uid": result["metadata"].get("uid", "")}
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def delete_collection(self, req: Request) -> dict:
        listing = self.list(req)
        for obj in listing["items"]:
            sub = Request("delete", req.rtype, obj["metadata"].get("namespace"), obj["metadata"]["name"], None,
                          req.user, req.params, req.body)
            try:
                self.delete(sub)
            except errors.ApiError as exc:
                if exc.code != 404:
                    raise
        return {"kind": f"{req.rtype.kind}List", "apiVersion": req.rtype.api_version,
                "metadata": listing["metadata"], "items": listing["items"]}

    # ---- subresources ------------------------------------------------------------
    def bind(self, req: Request, body: dict) -> dict:
        target = (body.get("target") or {}).get("name")
        if not target:
            raise errors.invalid("Binding", req.name or "", [("target.name", "Required value")])

        def set_node(pod: dict) -> None:
            if pod["spec"].get("nodeName"):
                raise errors.conflict("pods", req.name or "", why=f"pod {req.name} is already assigned to node "
                                      f'"{pod["spec"]["nodeName"]}"')
            pod["spec"]["nodeName"] = target

        self.store.mutate(req.rtype, req.namespace, req.name, set_node, subresource="binding", dry_run=req.dry_run)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    def evict(self, req: Request, body: dict) -> tuple[int, dict]:
        """policy/v1 Eviction, honouring PodDisruptionBudgets as the real registry does."""
        options = body.get("deleteOptions") or {}
        dry_run = req.dry_run or options.get("dryRun") == ["All"]
        with self.store.lock:
            pod = self.store.get(req.rtype, req.namespace, req.name)
            phase = pod.get("status", {}).get("phase")
            if not (phase in ("Succeeded", "Failed", "Pending") or pod["metadata"].get("deletionTimestamp")):
                self._charge_budget(pod, dry_run)
            grace = options.get("gracePeriodSeconds")
            # The preconditions hold at the pod's delete, after the budget was charged
            # (pkg/registry/core/pod/storage/eviction.go addConditionAndDeletePod)
            self.store.delete(req.rtype, req.namespace, req.name, grace_period=grace, dry_run=dry_run,
                              preconditions=options.get("preconditions"))
        return 201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    def _charge_budget(self, pod: dict, dry_run: bool) -> None:
        pdb_type = self.registry.by_key(PDB)
        labels = pod["metadata"].get("labels") or {}
        budgets = [b for b in self.store.items(pdb_type, pod["metadata"]["namespace"])
                   if b["spec"].get("selector") is not None
                   and selector_from_label_selector_object(b["spec"]["selector"]).matches(labels)]
        if not budgets:
            return
        if len(budgets) > 1:
            raise errors.ApiError(500, "InternalError",
                                  "This pod has more than one PodDisruptionBudget, which the eviction subresource "
                                  "does not support.")
        budget = budgets[0]
        status = budget.get("status") or {}
        name = budget["metadata"]["name"]
        if status.get("observedGeneration", 0) < budget["metadata"].get("generation", 1):
            raise errors.too_many_requests("Cannot evict pod as it would violate the pod's disruption budget.",
                                           10, f"The disruption budget {name} is still being processed by the server.")
        healthy = _pod_is_ready(pod)
        allowed = status.get("disruptionsAllowed", 0)
        if not healthy and status.get("currentHealthy", 0) >= status.get("desiredHealthy", 0) > 0:
            return  # an unready pod may go while the budget is otherwise met (IfHealthyBudget)
        if allowed <= 0:
            raise errors.too_many_requests(
                "Cannot evict pod as it would violate the pod's disruption budget.", 0,
                f"The disruption budget {name} needs {status.get('desiredHealthy', 0)} healthy pods and has "
                f"{status.get('currentHealthy', 0)} currently")
        if dry_run:
            return

        def charge(pdb: dict) -> None:
            st = pdb.setdefault("status", {})
            st["disruptionsAllowed"] = max(0, st.get("disruptionsAllowed", 0) - 1)
            if st["disruptionsAllowed"] == 0:  # eviction.go checkAndDecrement
                st["conditions"] = disruption_allowed_condition(st.get("conditions") or [], 0,
                                                                st.get("observedGeneration", 0),
                                                                rfc3339(self.store.clock.now()))
            st.setdefault("disruptedPods", {})[pod["metadata"]["name"]] = rfc3339(self.store.clock.now())

        self.store.mutate(pdb_type, budget["metadata"]["namespace"], name, charge, subresource="status")

    def access_review(self, req: Request, body: dict) -> dict:
        spec = body.get("spec") or {}
        ra = spec.get("resourceAttributes")
        nra = spec.get("nonResourceAttributes")
        if ra:
            attrs = rbac.Attributes(verb=ra.get("verb", ""), group=ra.get("group", ""), resource=ra.get("resource", ""),
                                    subresource=ra.get("subresource", ""), namespace=ra.get("namespace", ""),
                                    name=ra.get("name", ""))
        elif nra:
            attrs = rbac.Attributes(verb=nra.get("verb", ""), path=nra.get("path", ""))
        else:
            raise errors.invalid("SelfSubjectAccessReview", "", [
                ("spec.resourceAttributes", "Invalid value: null: exactly one of nonResourceAttributes or "
                 "resourceAttributes must be specified")], "authorization.k8s.io")
        allowed, reason = self.decide(req.user, attrs)
        status = {"allowed": allowed}
        if reason:
            status["reason"] = reason
        return {**body, "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "metadata": {"creationTimestamp": None}, "status": status}

    def _update_scale(self, req: Request, scale: dict) -> dict:
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            # what decoding into ScaleSpec.Replicas (int32) refuses
            raise errors.bad_request('Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal '
                                     f"{_json_type(replicas)} into Go struct field ScaleSpec.spec.replicas "
                                     "of type int32")
        if replicas < 0:
            raise errors.invalid("Scale", req.name or "", [
                ("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")], "autoscaling")
        sent_rv = (scale.get("metadata") or {}).get("resourceVersion")

        def set_replicas(obj: dict) -> None:
            obj["spec"]["replicas"] = replicas

        with self.store.lock:
            current = self.store.get(req.rtype, req.namespace, req.name)
            # A Scale's resourceVersion is a precondition on its owner's
            if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
                raise errors.conflict(req.rtype.plural, req.name or "", req.rtype.group)
            updated = self.store.mutate(req.rtype, req.namespace, req.name, set_replicas, dry_run=req.dry_run)
        return _scale_of(updated)


_BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
_BOOTSTRAP_ANNOTATIONS = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
_BOOTSTRAP_POLICY = (
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
     "metadata": {"name": "system:basic-user", "labels": _BOOTSTRAP_LABELS, "annotations": _BOOTSTRAP_ANNOTATIONS},
     "rules": [{"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews",
                                                                    "selfsubjectrulesreviews"], "verbs": ["create"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
     "metadata": {"name": "system:basic-user", "labels": _BOOTSTRAP_LABELS, "annotations": _BOOTSTRAP_ANNOTATIONS},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:basic-user"},
     "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}]},
)

# Registries with ReturnDeletedObject: deleting one at once answers with the object, not a Status.
_RETURNS_DELETED_OBJECT = {("", "pods"), ("", "services"), ("", "serviceaccounts"), ("", "namespaces")}

_BUILTIN_GROUPS = {"", "apps", "batch", "policy", "networking.k8s.io", "coordination.k8s.io",
                   "rbac.authorization.k8s.io", "apiextensions.k8s.io", "authorization.k8s.io", "scheduling.k8s.io"}


def _allows_unconditional_update(rtype: ResourceType) -> bool:
    """A PUT without metadata.resourceVersion: built-in registries allow it; custom resources and
    CustomResourceDefinitions (AllowUnconditionalUpdate false) do not."""
    return rtype.group in _BUILTIN_GROUPS and rtype.key != ("apiextensions.k8s.io", "customresourcedefinitions")


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return f"number {json.dumps(value)}"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "value")


def _pod_is_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in pod.get("status", {}).get("conditions", []))


def _scale_of(obj: dict) -> dict:
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: obj["metadata"][k] for k in ("name", "namespace", "uid", "resourceVersion",
                                                          "creationTimestamp") if k in obj["metadata"]},
            "spec": {"replicas": obj["spec"].get("replicas", 0)},
            "status": {"replicas": obj.get("status", {}).get("replicas", 0),
                       "selector": str(selector_from_label_selector_object(obj["spec"].get("selector")))}}
