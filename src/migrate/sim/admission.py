"""Defaulting and validation: the API rules a real server enforces for the kinds we serve.

Only rules that a client can trip over are here; each error reads like the real one.
"""
from __future__ import annotations

import ipaddress
import re

from . import errors
from .resources import ResourceType
from .selectors import SelectorError, selector_from_label_selector_object

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME_KINDS = {"Namespace", "Service"}
_WORKLOAD_KINDS = {"DaemonSet", "Deployment", "ReplicaSet", "StatefulSet", "Job"}
_POD_MUTABLE_SPEC_FIELDS = {"activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"}

DEFAULT_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
]


def default_pod_spec(spec: dict) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        container.setdefault("imagePullPolicy", "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})


class Admission:
    """Callable hook for Store.admission."""

    def __init__(self, service_cidr: str = "10.96.0.0/12"):
        self._service_net = ipaddress.ip_network(service_cidr)
        self._next_service_ip = 10  # .1 is the kubernetes service, low addresses are kept for DNS

    def __call__(self, operation: str, rtype: ResourceType, obj: dict, old: dict | None,
                 subresource: str | None) -> None:
        if operation == "DELETE" or subresource == "status":
            return
        meta = obj["metadata"]
        name = meta.get("name") or ""
        causes: list[tuple[str, str]] = []
        if not name:
            causes.append(("metadata.name", "Required value: name or generateName is required"))
        elif rtype.group in ("", "apps", "batch", "policy", "networking.k8s.io", "coordination.k8s.io",
                             "apiextensions.k8s.io", "scheduling.k8s.io") or rtype.group.endswith("projectcalico.org"):
            pattern = _DNS1123_LABEL if rtype.kind in _LABEL_NAME_KINDS else _DNS1123_SUBDOMAIN
            if rtype.kind not in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding") and (
                    len(name) > 253 or not pattern.match(name)):
                causes.append(("metadata.name", f'Invalid value: "{name}": a lowercase RFC 1123 '
                               f'{"label" if pattern is _DNS1123_LABEL else "subdomain"} must consist of lower case '
                               "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"))
        for field in ("labels", "annotations"):
            values = meta.get(field) or {}
            if not isinstance(values, dict) or any(not isinstance(v, str) for v in values.values()):
                causes.append((f"metadata.{field}", "Invalid value: values must be strings"))
        check = getattr(self, f"_admit_{rtype.kind.lower()}", None)
        if check and not causes:
            causes.extend(check(obj, old, subresource) or [])
        if causes:
            raise errors.invalid(rtype.kind, name, causes, rtype.group)

    # ---- per kind ----------------------------------------------------------------
    def _admit_namespace(self, obj, old, sub):
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]

    def _admit_pod(self, obj, old, sub):
        spec = obj.setdefault("spec", {})
        containers = spec.get("containers") or []
        if not containers:
            return [("spec.containers", "Required value")]
        causes = []
        for i, container in enumerate(containers):
            if not container.get("name"):
                causes.append((f"spec.containers[{i}].name", "Required value"))
            if not container.get("image"):
                causes.append((f"spec.containers[{i}].image", "Required value"))
        if causes:
            return causes
        if old is None:
            default_pod_spec(spec)
            spec.setdefault("serviceAccountName", "default")
            spec.setdefault("priority", 0)
            tolerations = spec.setdefault("tolerations", [])
            for default in DEFAULT_TOLERATIONS:
                if not any(t.get("key") == default["key"] for t in tolerations):
                    tolerations.append(dict(default))
            status = obj.setdefault("status", {})
            status.setdefault("phase", "Pending")
            status.setdefault("qosClass", "BestEffort")
            return []
        if sub == "binding":
            return []
        return self._pod_update_rules(obj, old)

    @staticmethod
    def _pod_update_rules(obj, old):
        def comparable(spec):
            spec = {k: v for k, v in spec.items() if k not in _POD_MUTABLE_SPEC_FIELDS}
            for key in ("containers", "initContainers"):
                if key in spec:
                    spec[key] = [{k: v for k, v in c.items() if k != "image"} for c in spec[key]]
            return spec
        if comparable(obj.get("spec", {})) != comparable(old.get("spec", {})):
            return [("spec", "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
                     "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
                     "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
                     "(allow it to be set to 1 if it was previously negative)")]
        return []

    def _admit_node(self, obj, old, sub):
        spec = obj.setdefault("spec", {})
        if old is not None:
            old_cidr = old.get("spec", {}).get("podCIDR")
            if old_cidr and spec.get("podCIDR") != old_cidr:
                return [("spec.podCIDR", 'Forbidden: node updates may not change podCIDR except from "" to valid')]
        for cidr in spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []):
            try:
                ipaddress.ip_network(cidr)
            except ValueError:
                return [("spec.podCIDRs", f'Invalid value: "{cidr}": must be a valid CIDR')]
        return []

    def _workload(self, obj, old, *, needs_selector=True):
        spec = obj.setdefault("spec", {})
        template = spec.setdefault("template", {})
        template_labels = (template.get("metadata") or {}).get("labels") or {}
        selector = spec.get("selector")
        if needs_selector and not selector:
            return [("spec.selector", "Required value")]
        try:
            matcher = selector_from_label_selector_object(selector)
        except SelectorError as exc:
            return [("spec.selector", f"Invalid value: {exc}")]
        if not (selector.get("matchLabels") or selector.get("matchExpressions")):
            return [("spec.selector", "Invalid value: empty selector is invalid for deployment")]
        if not matcher.matches(template_labels):
            return [("spec.template.metadata.labels",
                     f"Invalid value: {template_labels!r}: `selector` does not match template `labels`")]
        if old is not None and old.get("spec", {}).get("selector") != selector:
            return [("spec.selector", "Invalid value: field is immutable")]
        pod_spec = template.setdefault("spec", {})
        if not pod_spec.get("containers"):
            return [("spec.template.spec.containers", "Required value")]
        default_pod_spec(pod_spec)
        return []

    def _admit_daemonset(self, obj, old, sub):
        causes = self._workload(obj, old)
        spec = obj["spec"]
        spec.setdefault("revisionHistoryLimit", 10)
        strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {}).setdefault("maxUnavailable", 1)
            strategy["rollingUpdate"].setdefault("maxSurge", 0)
        return causes

    def _admit_deployment(self, obj, old, sub):
        causes = self._workload(obj, old)
        spec = obj["spec"]
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
        if strategy.get("type") == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
        return causes

    def _admit_replicaset(self, obj, old, sub):
        causes = self._workload(obj, old)
        obj["spec"].setdefault("replicas", 1)
        return causes

    def _admit_statefulset(self, obj, old, sub):
        causes = self._workload(obj, old)
        spec = obj["spec"]
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        return causes

    def _admit_job(self, obj, old, sub):
        spec = obj.setdefault("spec", {})
        template = spec.setdefault("template", {})
        if old is None and not spec.get("manualSelector"):
            labels = template.setdefault("metadata", {}).setdefault("labels", {})
            marker = obj["metadata"]["uid"]
            labels.setdefault("batch.kubernetes.io/controller-uid", marker)
            labels.setdefault("batch.kubernetes.io/job-name", obj["metadata"]["name"])
            labels.setdefault("job-name", obj["metadata"]["name"])
            spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": marker}})
        causes = self._workload(obj, old)
        if template.get("spec", {}).get("restartPolicy") not in ("Never", "OnFailure"):
            causes.append(("spec.template.spec.restartPolicy",
                           'Unsupported value: "Always": supported values: "OnFailure", "Never"'))
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completions", 1)
        spec.setdefault("parallelism", 1)
        return causes

    def _admit_poddisruptionbudget(self, obj, old, sub):
        spec = obj.setdefault("spec", {})
        if "minAvailable" in spec and "maxUnavailable" in spec:
            return [("spec", "Invalid value: minAvailable and maxUnavailable cannot be both set")]
        return []

    def _admit_networkpolicy(self, obj, old, sub):
        spec = obj.setdefault("spec", {})
        if "podSelector" not in spec:
            return [("spec.podSelector", "Required value")]
        if "policyTypes" not in spec:
            types = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
            spec["policyTypes"] = types
        return []

    def _admit_service(self, obj, old, sub):
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        if old is not None:
            spec["clusterIP"] = old.get("spec", {}).get("clusterIP", spec.get("clusterIP"))
            return []
        if spec.get("clusterIP") in (None, ""):
            spec["clusterIP"] = str(self._service_net.network_address + self._next_service_ip)
            self._next_service_ip += 1
        if spec["clusterIP"] != "None":
            spec["clusterIPs"] = [spec["clusterIP"]]
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
        return []

    def _admit_configmap(self, obj, old, sub):
        data = obj.get("data") or {}
        if any(not isinstance(v, str) for v in data.values()):
            return [("data", "Invalid value: values must be strings")]
        return []

    def _admit_customresourcedefinition(self, obj, old, sub):
        spec = obj.get("spec") or {}
        names = spec.get("names") or {}
        causes = []
        if not spec.get("group"):
            causes.append(("spec.group", "Required value"))
        if not names.get("plural") or not names.get("kind"):
            causes.append(("spec.names", "Required value: plural and kind are required"))
        if not spec.get("versions"):
            causes.append(("spec.versions", "Invalid value: must have exactly one version marked as storage version"))
        expected = f"{names.get('plural')}.{spec.get('group')}"
        if not causes and obj["metadata"]["name"] != expected:
            causes.append(("metadata.name", f'Invalid value: "{obj["metadata"]["name"]}": must be spec.names.plural+"."+spec.group'))
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            causes.append(("spec.scope", f'Unsupported value: "{spec.get("scope")}": supported values: "Cluster", "Namespaced"'))
        return causes
