"""Defaulting and validation: the API rules a real server enforces for the kinds we serve.

Only rules that a client can trip over are here; each error reads like the real one.
"""
from __future__ import annotations

import base64
import ipaddress
import json
import random
import re

from . import errors
from .resources import ResourceType
from .selectors import SelectorError, selector_from_label_selector_object

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME_KINDS = {"Namespace"}
_WORKLOAD_KINDS = {"DaemonSet", "Deployment", "ReplicaSet", "StatefulSet", "Job"}
_POD_MUTABLE_SPEC_FIELDS = {"activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"}

DEFAULT_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
]


def default_pod_spec(spec: dict) -> None:
    """What decoding a v1 PodSpec defaults, in a Pod or in a workload's template: SetDefaults_PodSpec,
    SetDefaults_Container, _ContainerPort, _Probe, _HTTPGetAction, _ObjectFieldSelector, _Volume and the volume
    sources' defaults (k8s.io/kubernetes pkg/apis/core/v1/defaults.go, v1.26), and the deprecated
    serviceAccount field that v1 conversion keeps equal to serviceAccountName (conversion.go)."""
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    if not spec.get("serviceAccountName") and spec.get("serviceAccount"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    if spec.get("serviceAccountName"):
        spec["serviceAccount"] = spec["serviceAccountName"]
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        if not isinstance(container, dict):
            continue
        if not container.get("imagePullPolicy"):
            container["imagePullPolicy"] = _image_pull_policy(str(container.get("image") or ""))
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                if not port.get("protocol"):
                    port["protocol"] = "TCP"
                if spec.get("hostNetwork") and not port.get("hostPort") and port.get("containerPort"):
                    port["hostPort"] = port["containerPort"]  # defaultHostNetworkPorts
        for key in ("livenessProbe", "readinessProbe", "startupProbe"):
            probe = container.get(key)
            if isinstance(probe, dict):
                for field, value in _PROBE_DEFAULTS:
                    probe.setdefault(field, value)
                _default_http_get(probe)
        for handler in ((container.get("lifecycle") or {}).get(k) for k in ("postStart", "preStop")):
            if isinstance(handler, dict):
                _default_http_get(handler)
        for env in container.get("env") or []:
            source = (env or {}).get("valueFrom") if isinstance(env, dict) else None
            if isinstance(source, dict):
                _default_field_refs(source)
    for volume in spec.get("volumes") or []:
        if isinstance(volume, dict):
            _default_volume(volume)


def default_pod(spec: dict) -> None:
    """SetDefaults_Pod: defaults a Pod gets and a template does not (requests from limits, service links)."""
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        resources = container.get("resources") if isinstance(container, dict) else None
        if isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
            requests = resources.setdefault("requests", {})
            for name, value in resources["limits"].items():
                requests.setdefault(name, value)
    spec.setdefault("enableServiceLinks", True)


_PROBE_DEFAULTS = (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3))
_VOLUME_MODES = ("secret", "configMap", "downwardAPI", "projected")  # each defaults defaultMode to 0644


def _image_pull_policy(image: str) -> str:
    """Always when the image's tag is latest, which an image with neither tag nor digest has (ParseImageName)."""
    reference, _, digest = image.partition("@")
    tag = reference.rsplit("/", 1)[-1].partition(":")[2]
    return "Always" if (tag or ("" if digest else "latest")) == "latest" else "IfNotPresent"


def _default_http_get(handler: dict) -> None:
    action = handler.get("httpGet")
    if isinstance(action, dict):
        if not action.get("path"):
            action["path"] = "/"
        if not action.get("scheme"):
            action["scheme"] = "HTTP"


def _default_field_refs(holder: dict) -> None:
    field_ref = holder.get("fieldRef")
    if isinstance(field_ref, dict) and not field_ref.get("apiVersion"):
        field_ref["apiVersion"] = "v1"
    resource_ref = holder.get("resourceFieldRef")
    if isinstance(resource_ref, dict):
        resource_ref.setdefault("divisor", "0")  # a zero Quantity encodes as "0"


def _default_volume(volume: dict) -> None:
    if not any(key != "name" for key in volume):
        volume["emptyDir"] = {}  # SetDefaults_Volume: a volume without a source is an emptyDir
    if isinstance(volume.get("hostPath"), dict):
        volume["hostPath"].setdefault("type", "")
    for key in _VOLUME_MODES:
        source = volume.get(key)
        if isinstance(source, dict):
            source.setdefault("defaultMode", 420)
    for item in (volume.get("downwardAPI") or {}).get("items") or []:
        if isinstance(item, dict):
            _default_field_refs(item)
    for projection in (volume.get("projected") or {}).get("sources") or []:
        if not isinstance(projection, dict):
            continue
        if isinstance(projection.get("serviceAccountToken"), dict):
            projection["serviceAccountToken"].setdefault("expirationSeconds", 3600)
        for item in (projection.get("downwardAPI") or {}).get("items") or []:
            if isinstance(item, dict):
                _default_field_refs(item)


# The noun in "empty selector is invalid for ..." (ValidateReplicaSetSpec says "deployment" too).
_EMPTY_SELECTOR_NOUN = {"Deployment": "deployment", "ReplicaSet": "deployment", "StatefulSet": "statefulset",
                        "DaemonSet": "daemonset"}


def _go_string_map(values: dict | None) -> str:
    """A map[string]string as Go's %#v prints it in a field error."""
    if values is None:
        return "map[string]string(nil)"
    return "map[string]string{" + ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(values.items())) + "}"


def _go_label_selector(selector: dict | None) -> str:
    """A *metav1.LabelSelector as its generated String() prints it."""
    if selector is None:
        return "null"
    labels = ",".join(f"{k}: {v}" for k, v in sorted((selector.get("matchLabels") or {}).items()))
    expressions = ",".join(f"LabelSelectorRequirement{{Key:{e.get('key', '')},Operator:{e.get('operator', '')},"
                           f"Values:[{' '.join(e.get('values') or [])}],}}"
                           for e in selector.get("matchExpressions") or [])
    return (f"&LabelSelector{{MatchLabels:map[string]string{{{labels}}},"
            f"MatchExpressions:[]LabelSelectorRequirement{{{expressions}}},}}")


def _go_strings(values: list) -> str:
    """A []string as Go's %#v prints it in a field error."""
    return "[]string{" + ", ".join(json.dumps(v) for v in values) + "}"


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + r"(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL = re.compile(f"^{_DNS1035_LABEL_FMT}$")


def _name_problems(kind: str, name: str) -> list[str]:
    """What apimachinery's IsDNS1123Subdomain / IsDNS1123Label / IsDNS1035Label say of a name: Namespaces
    are DNS-1123 labels, Services DNS-1035 labels, the rest DNS-1123 subdomains."""
    problems = []
    if kind == "Service":
        if len(name) > 63:
            problems.append("must be no more than 63 characters")
        if not _DNS1035_LABEL.match(name):
            problems.append(_regex_error("a DNS-1035 label must consist of lower case alphanumeric characters or "
                                         "'-', start with an alphabetic character, and end with an alphanumeric "
                                         "character", _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    elif kind in _LABEL_NAME_KINDS:
        if len(name) > 63:
            problems.append("must be no more than 63 characters")
        if not _DNS1123_LABEL.match(name):
            problems.append(_regex_error("a lowercase RFC 1123 label must consist of lower case alphanumeric "
                                         "characters or '-', and must start and end with an alphanumeric character",
                                         _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    else:
        if len(name) > 253:
            problems.append("must be no more than 253 characters")
        if not _DNS1123_SUBDOMAIN.match(name):
            problems.append(_regex_error("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                                         "characters, '-' or '.', and must start and end with an alphanumeric "
                                         "character", _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return problems


def _qos_class(spec: dict) -> str:
    """The pod's QoS class: Guaranteed when every container has CPU and memory limits and its
    requests (defaulted from the limits) equal them, BestEffort when none asks for either, else
    Burstable. Quantities compare as written."""
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    guaranteed, any_set = True, False
    for container in containers:
        resources = container.get("resources") or {}
        limits = {k: v for k, v in (resources.get("limits") or {}).items() if k in ("cpu", "memory")}
        requests = {**limits, **{k: v for k, v in (resources.get("requests") or {}).items() if k in ("cpu", "memory")}}
        any_set = any_set or bool(limits or requests)
        if set(limits) != {"cpu", "memory"} or requests != limits:
            guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
ANNOTATIONS_MAX_BYTES = 256 * 1024  # what `kubectl apply` of large CRDs runs into


def _label_and_annotation_limits(meta: dict) -> list[tuple[str, str]]:
    causes = []
    for key, value in (meta.get("labels") or {}).items():
        if isinstance(value, str) and (len(value) > 63 or not _LABEL_VALUE.match(value)):
            causes.append(("metadata.labels", f'Invalid value: "{value}": a valid label must be an empty string or '
                           "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                           "alphanumeric character (must be no more than 63 characters)"))
    annotations = meta.get("annotations") or {}
    if isinstance(annotations, dict):
        size = sum(len(k) + len(v) for k, v in annotations.items() if isinstance(v, str))
        if size > ANNOTATIONS_MAX_BYTES:
            causes.append(("metadata.annotations", f"Too long: must have at most {ANNOTATIONS_MAX_BYTES} bytes"))
    return causes


MAX_SECRET_SIZE = 1024 * 1024  # k8s.io/kubernetes pkg/apis/core/types.go MaxSecretSize


def _decoded_size(values: dict | None) -> int:
    """Bytes of base64 values ([]byte fields travel as base64 in JSON)."""
    total = 0
    for value in (values or {}).values():
        try:
            total += len(base64.b64decode(value or "", validate=False))
        except (ValueError, TypeError):
            total += len(str(value))
    return total


class Admission:
    """Callable hook for Store.admission."""

    def __init__(self, service_cidr: str = "10.96.0.0/12"):
        self._service_net = ipaddress.ip_network(service_cidr)
        self._next_service_ip = 10  # .1 is the kubernetes service, low addresses are kept for DNS
        self._node_ports_used: set[int] = set()
        self._node_port_random = random.Random(0)

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
            if rtype.kind not in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
                causes.extend(("metadata.name", f"Invalid value: {json.dumps(name)}: {problem}")
                              for problem in _name_problems(rtype.kind, name))
        for field in ("labels", "annotations"):
            values = meta.get(field) or {}
            if not isinstance(values, dict) or any(not isinstance(v, str) for v in values.values()):
                causes.append((f"metadata.{field}", "Invalid value: values must be strings"))
        causes.extend(_label_and_annotation_limits(meta))
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
        if sub is None:
            default_pod_spec(spec)
            default_pod(spec)
        if old is None:
            # serviceAccountName, the token volume, priority: the ServiceAccount and Priority plugins
            # (pod_admission.py) run after this one
            tolerations = spec.setdefault("tolerations", [])
            for default in DEFAULT_TOLERATIONS:
                # DefaultTolerationSeconds: an empty key or an empty effect already covers the taint
                if not any(t.get("key", "") in (default["key"], "") and t.get("effect", "") in ("NoExecute", "")
                           for t in tolerations):
                    tolerations.append(dict(default))
            # PrepareForCreate: a new pod's status is the server's, whatever the request carried
            obj["status"] = {"phase": "Pending", "qosClass": _qos_class(spec)}
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

    def _workload(self, kind, obj, old):
        """The selector rules of apps/v1 and batch/v1 validation (ValidateDeploymentSpec,
        ValidateReplicaSetSpec, ValidateStatefulSetSpec, ValidateDaemonSetSpec, ValidateJobSpec)."""
        spec = obj.setdefault("spec", {})
        template = spec.setdefault("template", {})
        template_labels = (template.get("metadata") or {}).get("labels")
        selector = spec.get("selector")
        causes = []
        # ValidateDaemonSetSpec has no Required check: a nil selector matches nothing, so only the
        # template-labels error below reports it.
        if selector is None and kind != "DaemonSet":
            causes.append(("spec.selector", "Required value"))
        matcher = None
        try:
            matcher = selector_from_label_selector_object(selector)
        except SelectorError as exc:
            causes.append(("spec.selector", f"Invalid value: {exc}"))
        empty = selector is not None and not (selector.get("matchLabels") or selector.get("matchExpressions"))
        if empty and kind in _EMPTY_SELECTOR_NOUN and kind != "DaemonSet":
            causes.append(("spec.selector", f"Invalid value: {_go_label_selector(selector)}: empty selector is "
                                            f"invalid for {_EMPTY_SELECTOR_NOUN[kind]}"))
        # The ReplicaSet-style template check skips an empty selector; the DaemonSet and Job ones do not
        # (an empty selector matches every label set anyway).
        if matcher is not None and not matcher.matches(template_labels or {}):
            causes.append(("spec.template.metadata.labels", f"Invalid value: {_go_string_map(template_labels)}: "
                                                            "`selector` does not match template `labels`"))
        if empty and kind == "DaemonSet":
            causes.append(("spec.selector", f"Invalid value: {_go_label_selector(selector)}: empty selector is "
                                            "invalid for daemonset"))
        pod_spec = template.setdefault("spec", {})
        if not pod_spec.get("containers"):
            causes.append(("spec.template.spec.containers", "Required value"))
        else:
            default_pod_spec(pod_spec)
        if not causes and old is not None and (old.get("spec") or {}).get("selector") != selector:
            causes.append(("spec.selector", f"Invalid value: {_go_label_selector(selector)}: field is immutable"))
        return causes

    def _admit_daemonset(self, obj, old, sub):
        causes = self._workload("DaemonSet", obj, old)
        spec = obj["spec"]
        spec.setdefault("revisionHistoryLimit", 10)
        strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {}).setdefault("maxUnavailable", 1)
            strategy["rollingUpdate"].setdefault("maxSurge", 0)
        return causes

    def _admit_deployment(self, obj, old, sub):
        causes = self._workload("Deployment", obj, old)
        spec = obj["spec"]
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
        if strategy.get("type") == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
        return causes

    def _admit_replicaset(self, obj, old, sub):
        causes = self._workload("ReplicaSet", obj, old)
        obj["spec"].setdefault("replicas", 1)
        return causes

    def _admit_statefulset(self, obj, old, sub):
        causes = self._workload("StatefulSet", obj, old)
        spec = obj["spec"]
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        spec.setdefault("revisionHistoryLimit", 10)  # apps/v1 SetDefaults_StatefulSet
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
        causes = self._workload("Job", obj, old)
        restart_policy = template.get("spec", {}).get("restartPolicy")
        if restart_policy not in ("Never", "OnFailure"):
            causes.append(("spec.template.spec.restartPolicy",
                           f'Unsupported value: "{restart_policy}": supported values: "OnFailure", "Never"'))
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
        for rule in (spec.get("ingress") or []) + (spec.get("egress") or []):
            for port in (rule or {}).get("ports") or []:
                if isinstance(port, dict) and not port.get("protocol"):
                    port["protocol"] = "TCP"  # networking/v1 SetDefaults_NetworkPolicyPort
        return []

    def _admit_service(self, obj, old, sub):
        """SetDefaults_Service (pkg/apis/core/v1/defaults.go), then what the service registry does on a
        single-stack IPv4 cluster (pkg/registry/core/service/storage/storage.go beginCreate/beginUpdate:
        patchAllocatedValues, normalizeClusterIPs; alloc.go initIPFamilyFields, allocClusterIPs,
        initNodePorts; validation.go validateUpgradeDowngradeClusterIPs)."""
        spec = obj.setdefault("spec", {})
        kind = spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            if port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port.get("port")
        if kind in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
        if kind in ("NodePort", "LoadBalancer", "ClusterIP"):
            spec.setdefault("internalTrafficPolicy", "Cluster")
        if kind == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
        if old is None:
            obj["status"] = {"loadBalancer": {}}  # PrepareForCreate: the status is the server's
        if kind == "ExternalName":
            return []
        old_spec = (old or {}).get("spec") or {}
        if old is not None and old_spec.get("type", "ClusterIP") != "ExternalName":
            # patchAllocatedValues, then normalizeClusterIPs: what an update leaves out stays
            if not spec.get("clusterIP"):
                spec["clusterIP"] = old_spec.get("clusterIP", "")
            if not spec.get("clusterIPs") and old_spec.get("clusterIPs"):
                spec["clusterIPs"] = list(old_spec["clusterIPs"])
                if spec["clusterIP"] != old_spec.get("clusterIP"):
                    spec["clusterIPs"] = [spec["clusterIP"]]
            old_node_ports = {p.get("name", ""): p.get("nodePort") for p in old_spec.get("ports") or []}
            for port in spec.get("ports") or []:
                if not port.get("nodePort") and old_node_ports.get(port.get("name", "")):
                    port["nodePort"] = old_node_ports[port.get("name", "")]
            if spec.get("clusterIPs") and old_spec.get("clusterIPs") and spec["clusterIPs"][0] != old_spec["clusterIPs"][0]:
                return [("spec.clusterIPs[0]", f"Invalid value: {_go_strings(spec['clusterIPs'])}: may not change "
                                               "once set")]
        elif spec.get("clusterIP") and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        headless_selectorless = spec.get("clusterIP") == "None" and not spec.get("selector")
        if "ipFamilyPolicy" not in spec:
            spec["ipFamilyPolicy"] = (old_spec.get("ipFamilyPolicy") if old_spec.get("ipFamilyPolicy")
                                      else "RequireDualStack" if headless_selectorless else "SingleStack")
        if not spec.get("ipFamilies"):
            spec["ipFamilies"] = ["IPv4"]
            if headless_selectorless and spec["ipFamilyPolicy"] != "SingleStack":
                spec["ipFamilies"].append("IPv6")  # the one dual-stack answer a single-stack cluster gives
        if not spec.get("clusterIP"):
            spec["clusterIP"] = self._allocate_service_ip()
            spec["clusterIPs"] = [spec["clusterIP"]]
        if kind in ("NodePort", "LoadBalancer"):
            by_port: dict = {}
            for port in spec.get("ports") or []:
                if not port.get("nodePort"):
                    port["nodePort"] = by_port.get(port.get("port")) or self._allocate_node_port()
                by_port.setdefault(port.get("port"), port["nodePort"])
                self._node_ports_used.add(port["nodePort"])
        return []

    def _allocate_service_ip(self) -> str:
        address = str(self._service_net.network_address + self._next_service_ip)
        self._next_service_ip += 1
        return address

    def _allocate_node_port(self) -> int:
        """The node port allocator: a random free port of the default range 30000-32767."""
        free = [p for p in range(30000, 32768) if p not in self._node_ports_used]
        port = self._node_port_random.choice(free)
        self._node_ports_used.add(port)
        return port

    def _admit_configmap(self, obj, old, sub):
        data = obj.get("data") or {}
        if any(not isinstance(v, str) for v in data.values()):
            return [("data", "Invalid value: values must be strings")]
        # pkg/apis/core/validation ValidateConfigMap: data and binaryData together at most
        # MaxSecretSize, reported on the whole object (field.NewPath("") prints as "[]")
        size = sum(len(v.encode()) for v in data.values()) + _decoded_size(obj.get("binaryData"))
        if size > MAX_SECRET_SIZE:
            return [("[]", f"Too long: must have at most {MAX_SECRET_SIZE} bytes")]
        return []

    def _admit_secret(self, obj, old, sub):
        # v1 conversion (pkg/apis/core/v1/conversion.go Convert_v1_Secret_To_core_Secret): stringData's values go
        # into data, base64 as []byte travels in JSON, overriding data's; stringData itself is never stored.
        # SetDefaults_Secret: the type defaults to Opaque.
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict) and string_data:
            data = obj.setdefault("data", {})
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()
        obj.setdefault("type", "Opaque")
        # ValidateSecret: the decoded data (stringData merged into it by conversion) at most MaxSecretSize
        data = dict(obj.get("data") or {})
        sizes = {k: _decoded_size({k: v}) for k, v in data.items()}
        if sum(sizes.values()) > MAX_SECRET_SIZE:
            return [("data", f"Too long: must have at most {MAX_SECRET_SIZE} bytes")]
        return []

    def _admit_customresourcedefinition(self, obj, old, sub):
        if old is None:  # the apiextensions server deletes a CRD's objects before the CRD itself
            finalizers = obj["metadata"].setdefault("finalizers", [])
            if "customresourcecleanup.apiextensions.k8s.io" not in finalizers:
                finalizers.append("customresourcecleanup.apiextensions.k8s.io")
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
