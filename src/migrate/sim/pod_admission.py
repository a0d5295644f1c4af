"""The mutating admission plugins that finish a new Pod: ServiceAccount and Priority, as kube-apiserver v1.26 runs
them after the v1 defaults (admission.py) and before validating plugins such as PodSecurity.

- ServiceAccount (plugin/pkg/admission/serviceaccount/admission.go): a pod with no serviceAccountName runs as
  `default`; the account must exist (403 `error looking up service account NS/NAME: serviceaccount "NAME" not
  found`); unless the pod or its account turns automountServiceAccountToken off, a projected volume
  `kube-api-access-<5 random letters>` (TokenVolumeSource: a bound token of 3607 s, the namespace's
  kube-root-ca.crt, the namespace by the downward API) is mounted read-only at DefaultAPITokenMountPath in every
  init container and container that does not mount something there already; the account's imagePullSecrets go
  to a pod that names none. Mirror pods are left alone. Only on create.
- Priority (plugin/pkg/admission/priority/admission.go): priority and preemptionPolicy come from the pod's
  PriorityClass (403 `no PriorityClass with name NAME was found`), or are 0 and PreemptLowerPriority without
  one; an update keeps what create set.

The system PriorityClasses come from the apiserver's own post-start hook
(pkg/registry/scheduling/rest/storage_scheduling.go, AddSystemPriorityClasses).
"""
from __future__ import annotations

import random
import uuid
from typing import Callable

from . import errors

TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"  # DefaultAPITokenMountPath
TOKEN_VOLUME_PREFIX = "kube-api-access-"  # ServiceAccountVolumeName + "-"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # utilrand.String, behind names.SimpleNameGenerator

SYSTEM_PRIORITY_CLASSES = (
    {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "system-node-critical"},
     "value": 2000001000, "preemptionPolicy": "PreemptLowerPriority",
     "description": "Used for system critical pods that must not be moved from their current node."},
    {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "system-cluster-critical"},
     "value": 2000000000, "preemptionPolicy": "PreemptLowerPriority",
     "description": "Used for system critical pods that must run in the cluster, but can be moved to another node "
                    "if necessary."},
)


def token_volume(name: str) -> dict:
    """TokenVolumeSource, with the defaultMode the plugin sets explicitly."""
    return {"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}


def ensure_system_priority_classes(store, registry) -> None:
    rtype = registry.lookup("scheduling.k8s.io", "v1", "priorityclasses")
    for obj in SYSTEM_PRIORITY_CLASSES:
        if store.find(rtype, None, obj["metadata"]["name"]) is None:
            store.create(rtype, obj, uid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"sim:PriorityClass/{obj['metadata']['name']}")))


class PodAdmission:
    """A Store.admission hook: the ServiceAccount plugin, then the Priority plugin, for pods.

    `default_service_account(namespace)`: what the serviceaccounts controller does for a namespace, called
    when the `default` account is missing. The plugin retries that account 10 times, 100-200 ms apart
    (getServiceAccount), while the controller, which reacts to a new namespace within milliseconds, makes it."""

    def __init__(self, store, registry, default_service_account: Callable[[str], None] | None = None):
        self.store = store
        self.registry = registry
        self.default_service_account = default_service_account

    def __call__(self, operation: str, rtype, obj: dict, old: dict | None, subresource: str | None) -> None:
        if rtype.key != ("", "pods") or subresource is not None or operation == "DELETE":
            return
        spec = obj.setdefault("spec", {})
        if operation == "UPDATE":
            old_spec = (old or {}).get("spec") or {}
            for key in ("priority", "preemptionPolicy"):
                if key not in spec and key in old_spec:
                    spec[key] = old_spec[key]
            return
        meta = obj["metadata"]
        if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
            if spec.get("serviceAccountName"):
                raise self._forbidden(meta, "a mirror pod may not reference service accounts")
        else:
            self._service_account(meta, spec)
        self._priority(meta, spec)

    # ---- ServiceAccount ------------------------------------------------------------------------------
    def _service_account(self, meta: dict, spec: dict) -> None:
        namespace = meta["namespace"]
        name = spec.get("serviceAccountName") or "default"
        spec["serviceAccountName"] = spec["serviceAccount"] = name
        sa_type = self.registry.lookup("", "v1", "serviceaccounts")
        account = self.store.find(sa_type, namespace, name)
        if account is None and name == "default" and self.default_service_account is not None:
            self.default_service_account(namespace)
            account = self.store.find(sa_type, namespace, name)
        if account is None:
            raise self._forbidden(meta, f"error looking up service account {namespace}/{name}: serviceaccount "
                                        f'"{name}" not found')
        automount = spec.get("automountServiceAccountToken")
        if automount is None:
            automount = account.get("automountServiceAccountToken")
        if automount is not False:
            self._mount_token(meta, spec)
        if not spec.get("imagePullSecrets") and account.get("imagePullSecrets"):
            spec["imagePullSecrets"] = [{"name": s.get("name", "")} for s in account["imagePullSecrets"]]

    @staticmethod
    def _mount_token(meta: dict, spec: dict) -> None:
        volumes = spec.get("volumes") or []
        existing = next((v["name"] for v in volumes if str(v.get("name", "")).startswith(TOKEN_VOLUME_PREFIX)), None)
        volume_name = existing or TOKEN_VOLUME_PREFIX + "".join(
            random.Random(meta.get("uid", "")).choice(_NAME_CHARS) for _ in range(5))
        needed = False
        for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            mounts = container.get("volumeMounts") or []
            if any(m.get("mountPath") == TOKEN_MOUNT_PATH for m in mounts):
                continue
            container["volumeMounts"] = [*mounts, {"name": volume_name, "readOnly": True, "mountPath": TOKEN_MOUNT_PATH}]
            needed = True
        if needed and existing is None:
            spec["volumes"] = [*volumes, token_volume(volume_name)]

    # ---- Priority --------------------------------------------------------------------------------------
    def _priority(self, meta: dict, spec: dict) -> None:
        class_name = spec.get("priorityClassName")
        if class_name:
            pc_type = self.registry.lookup("scheduling.k8s.io", "v1", "priorityclasses")
            found = self.store.find(pc_type, None, class_name)
            if found is None:
                raise self._forbidden(meta, f"no PriorityClass with name {class_name} was found")
            priority, policy = found.get("value", 0), found.get("preemptionPolicy", "PreemptLowerPriority")
        else:
            priority, policy = 0, "PreemptLowerPriority"  # no globalDefault class in these clusters
        if "priority" in spec and spec["priority"] != priority:
            raise self._forbidden(meta, f"the integer value of priority ({spec['priority']}) must not be provided in "
                                        f"pod spec; priority admission controller computed {priority} from the given "
                                        "PriorityClass name")
        if spec.get("preemptionPolicy") and spec["preemptionPolicy"] != policy:
            raise self._forbidden(meta, f"the string value of PreemptionPolicy ({spec['preemptionPolicy']}) must not "
                                        f"be provided in pod spec; priority admission controller computed {policy} "
                                        "from the given PriorityClass name")
        spec["priority"], spec["preemptionPolicy"] = priority, policy

    @staticmethod
    def _forbidden(meta: dict, reason: str) -> errors.ApiError:
        """admission.NewForbidden names the pod as the request did: by its generateName before a name is made."""
        name, generate = meta.get("name", ""), meta.get("generateName")
        if generate and name.startswith(generate) and len(name) == len(generate) + 5:
            name = generate
        return errors.forbidden(reason, "pods", name)
