"""Pod Security admission, as Kubernetes v1.26's PodSecurity plugin runs it: k8s.io/pod-security-admission
v0.26 (admission/admission.go, api/helpers.go, policy/check_*.go, policy/registry.go) wired in by
plugin/pkg/admission/security/podsecurity/admission.go.

A namespace's labels `pod-security.kubernetes.io/{enforce,audit,warn}[-version]` choose a level
(privileged, baseline, restricted) and a policy version per mode, falling back to the cluster's
defaults (the AdmissionConfiguration's PodSecurityConfiguration). Pods are refused (403) when they
violate the enforce level; pods and workload pod templates get a `Warning` when they violate the warn
level (templates are never refused). Audit annotations are not modelled (the simulator has no audit log).
Texts and the order of the checks are upstream's; messages were checked against a v1.26.5 apiserver.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from . import errors, request_scope
from .resources import ResourceType

LEVELS = ("privileged", "baseline", "restricted")
PREFIX = "pod-security.kubernetes.io/"
MODES = ("enforce", "audit", "warn")
# DefaultPodSpecExtractor's resources that embed a pod template (admission/admission.go)
_POD_CONTROLLERS = {("", "replicationcontrollers"), ("", "podtemplates"), ("apps", "replicasets"),
                    ("apps", "deployments"), ("apps", "statefulsets"), ("apps", "daemonsets"), ("batch", "jobs"),
                    ("batch", "cronjobs")}
# ValidatePod's ignoredPodSubresources
_IGNORED_POD_SUBRESOURCES = {"exec", "attach", "binding", "eviction", "log", "portforward", "proxy", "status"}
_VERSION = re.compile(r"^v1\.([0-9]|[1-9][0-9]*)$")
NAMESPACE_MAX_PODS_TO_CHECK = 3000  # defaultNamespaceMaxPodsToCheck


# ---- levels, versions, policies (api/helpers.go) -----------------------------------------------

@dataclass(frozen=True)
class Version:
    minor: int = 0
    latest: bool = False

    def __str__(self) -> str:
        return "latest" if self.latest else f"v1.{self.minor}"

    def older(self, other: "Version") -> bool:
        if self.latest:
            return False
        return other.latest or self.minor < other.minor


LATEST = Version(latest=True)


def parse_level(text: str) -> tuple[str, str]:
    """ParseLevel: (level, error); an unknown level reads as restricted."""
    if text in LEVELS:
        return text, ""
    return "restricted", "must be one of " + ", ".join(LEVELS)


def parse_version(text: str) -> tuple[Version, str]:
    """ParseVersion: "latest" or "v1.x"; anything else reads as latest, with an error."""
    if text == "latest":
        return LATEST, ""
    match = _VERSION.match(text or "")
    if not match:
        return LATEST, 'must be "latest" or "v1.x"'
    return Version(int(match.group(1))), ""


@dataclass(frozen=True)
class LevelVersion:
    level: str
    version: Version

    def __str__(self) -> str:
        return f"{self.level}:{self.version}"

    def equivalent(self, other: "LevelVersion") -> bool:
        return (self.level == other.level == "privileged") or self == other


@dataclass(frozen=True)
class Policy:
    enforce: LevelVersion
    audit: LevelVersion
    warn: LevelVersion

    def fully_privileged(self) -> bool:
        return self.enforce.level == self.audit.level == self.warn.level == "privileged"

    def equivalent(self, other: "Policy") -> bool:
        return all(getattr(self, m).equivalent(getattr(other, m)) for m in MODES)


def compare_levels(a: str, b: str) -> int:
    return LEVELS.index(a) - LEVELS.index(b) if a != b else 0


def policy_to_evaluate(labels: dict | None, defaults: Policy) -> tuple[Policy, list[tuple[str, str, str]]]:
    """PolicyToEvaluate: the namespace's policy and its label errors as (label, value, message).
    A bad enforce level fails closed (restricted); bad audit and warn levels fail open (privileged)."""
    labels = labels or {}
    errs: list[tuple[str, str, str]] = []
    modes = {m: [getattr(defaults, m).level, getattr(defaults, m).version] for m in MODES}
    has = lambda key: PREFIX + key in labels  # noqa: E731
    enforce_ok = False
    for mode in MODES:
        if has(mode):
            value = labels[PREFIX + mode]
            level, err = parse_level(value)
            if err:
                errs.append((PREFIX + mode, value, err))
                level = "restricted" if mode == "enforce" else "privileged"
            elif mode == "enforce":
                enforce_ok = True
            modes[mode][0] = level
        if has(f"{mode}-version"):
            value = labels[PREFIX + mode + "-version"]
            version, err = parse_version(value)
            if err:
                errs.append((PREFIX + mode + "-version", value, err))
            modes[mode][1] = version
    # Default warn to the enforce level when enforce is explicitly set to a stricter one.
    if not has("warn") and enforce_ok and compare_levels(modes["enforce"][0], modes["warn"][0]) > 0:
        modes["warn"][0] = modes["enforce"][0]
        if not has("warn-version"):
            modes["warn"][1] = modes["enforce"][1]
    return Policy(*(LevelVersion(*modes[m]) for m in MODES)), errs


# ---- the configuration (admission/api/v1 PodSecurityConfiguration) ------------------------------

class PodSecurityConfigError(ValueError):
    def __init__(self, field_path: str, expected: str):
        super().__init__(f"{field_path}: {expected}")
        self.field_path, self.expected = field_path, expected


@dataclass
class PodSecurityConfig:
    """The PodSecurity plugin's configuration: `defaults` for namespaces without labels (each mode
    defaults to privileged, each version to latest: v1/defaults.go) and `exemptions`."""
    defaults: dict = field(default_factory=dict)
    exempt_namespaces: tuple[str, ...] = ()
    exempt_runtime_classes: tuple[str, ...] = ()
    exempt_usernames: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: dict | None) -> "PodSecurityConfig":
        """A PodSecurityConfiguration's `defaults` and `exemptions` (validation/validation.go rules)."""
        data = data or {}
        if not isinstance(data, dict):
            raise PodSecurityConfigError("", "a mapping with defaults and exemptions")
        unknown = sorted(set(data) - {"defaults", "exemptions", "apiVersion", "kind"})
        if unknown:
            raise PodSecurityConfigError(unknown[0], "a known field (defaults, exemptions)")
        defaults = data.get("defaults") or {}
        if not isinstance(defaults, dict):
            raise PodSecurityConfigError("defaults", "a mapping of enforce, audit, warn and their -version")
        for key, value in defaults.items():
            if key in MODES:
                if parse_level(str(value))[1]:
                    raise PodSecurityConfigError(f"defaults.{key}", f"one of {', '.join(LEVELS)}, got {value!r}")
            elif key in tuple(f"{m}-version" for m in MODES):
                if parse_version(str(value))[1]:
                    raise PodSecurityConfigError(f"defaults.{key}", f'"latest" or "v1.x", got {value!r}')
            else:
                raise PodSecurityConfigError(f"defaults.{key}", "one of enforce, enforce-version, audit, "
                                                                "audit-version, warn, warn-version")
        exemptions = data.get("exemptions") or {}
        if not isinstance(exemptions, dict):
            raise PodSecurityConfigError("exemptions", "a mapping of namespaces, runtimeClasses and usernames")
        lists = {}
        for key in exemptions:
            if key not in ("namespaces", "runtimeClasses", "usernames"):
                raise PodSecurityConfigError(f"exemptions.{key}", "one of namespaces, runtimeClasses, usernames")
            values = exemptions[key] or []
            if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
                raise PodSecurityConfigError(f"exemptions.{key}", "a list of names")
            if len(set(values)) != len(values):
                raise PodSecurityConfigError(f"exemptions.{key}", "names listed once each")
            lists[key] = tuple(values)
        return cls({k: str(v) for k, v in defaults.items()}, lists.get("namespaces", ()),
                   lists.get("runtimeClasses", ()), lists.get("usernames", ()))

    @classmethod
    def enforcing(cls, level: str, exempt_namespaces: tuple[str, ...] = ()) -> "PodSecurityConfig":
        return cls.from_dict({"defaults": {"enforce": level}, "exemptions": {"namespaces": list(exempt_namespaces)}})

    def default_policy(self) -> Policy:
        def mode(m: str) -> LevelVersion:
            return LevelVersion(parse_level(self.defaults.get(m, "privileged"))[0],
                                parse_version(self.defaults.get(f"{m}-version", "latest"))[0])
        return Policy(mode("enforce"), mode("audit"), mode("warn"))


# ---- the checks (policy/check_*.go) --------------------------------------------------------------

def _containers(spec: dict):
    """visitContainers: init containers, containers, ephemeral containers."""
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def _sc(obj: dict) -> dict:
    return obj.get("securityContext") or {}


def _plural(singular: str, plural: str, count: int) -> str:
    return singular if count == 1 else plural


def _join_quote(items) -> str:
    return ", ".join(json.dumps(i) for i in items)


def _named(things: str, names: list[str]) -> str:
    """`container "a"` / `containers "a", "b"`."""
    return f"{_plural(things, things + 's', len(names))} {_join_quote(names)}"


def _windows(spec: dict) -> bool:
    return (spec.get("os") or {}).get("name") == "windows"


def privileged_1_0(meta, spec):
    bad = [c.get("name", "") for c in _containers(spec) if _sc(c).get("privileged") is True]
    if bad:
        return "privileged", f"{_named('container', bad)} must not set securityContext.privileged=true"


def host_namespaces_1_0(meta, spec):
    used = [f"{key}=true" for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key)]
    if used:
        return "host namespaces", ", ".join(used)


def host_path_volumes_1_0(meta, spec):
    bad = [v.get("name", "") for v in spec.get("volumes") or [] if v.get("hostPath") is not None]
    if bad:
        return "hostPath volumes", _named("volume", bad)


def host_ports_1_0(meta, spec):
    bad, ports = [], set()
    for c in _containers(spec):
        used = [str(p["hostPort"]) for p in c.get("ports") or [] if p.get("hostPort")]
        if used:
            bad.append(c.get("name", ""))
            ports.update(used)
    if bad:
        return "hostPort", (f"{_named('container', bad)} {_plural('uses', 'use', len(bad))} "
                            f"{_plural('hostPort', 'hostPorts', len(ports))} {', '.join(sorted(ports))}")


_BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                          "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}


def capabilities_baseline_1_0(meta, spec):
    bad, caps = [], set()
    for c in _containers(spec):
        added = [x for x in (_sc(c).get("capabilities") or {}).get("add") or [] if x not in _BASELINE_CAPABILITIES]
        if added:
            bad.append(c.get("name", ""))
            caps.update(added)
    if bad:
        return "non-default capabilities", (f"{_named('container', bad)} must not include {_join_quote(sorted(caps))}"
                                            " in securityContext.capabilities.add")


def windows_host_process_1_0(meta, spec):
    bad = [c.get("name", "") for c in _containers(spec)
           if (_sc(c).get("windowsOptions") or {}).get("hostProcess") is True]
    setters = (["pod"] if (_sc(spec).get("windowsOptions") or {}).get("hostProcess") is True else [])
    if bad:
        setters.append(_named("container", bad))
    if setters:
        return "hostProcess", f"{' and '.join(setters)} must not set securityContext.windowsOptions.hostProcess=true"


def proc_mount_1_0(meta, spec):
    bad, types = [], set()
    for c in _containers(spec):
        mount = _sc(c).get("procMount")
        if mount is not None and mount != "Default":
            bad.append(c.get("name", ""))
            types.add(mount)
    if bad:
        return "procMount", f"{_named('container', bad)} must not set securityContext.procMount to " \
                            f"{_join_quote(sorted(types))}"


_SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
_SECCOMP_CONTAINER_PREFIX = "container.seccomp.security.alpha.kubernetes.io/"


def _valid_seccomp_annotation(value: str) -> bool:
    return value in ("runtime/default", "docker/default") or value.startswith("localhost/")


def seccomp_baseline_1_0(meta, spec):
    annotations = meta.get("annotations") or {}
    bad = set()
    keys = [_SECCOMP_POD_ANNOTATION] + [_SECCOMP_CONTAINER_PREFIX + c.get("name", "") for c in _containers(spec)]
    for key in keys:
        if key in annotations and not _valid_seccomp_annotation(annotations[key]):
            bad.add(f"{key}={json.dumps(annotations[key])}")
    if bad:
        return "seccompProfile", f"forbidden {_plural('annotation', 'annotations', len(bad))} {', '.join(sorted(bad))}"


def _seccomp_type(obj: dict):
    profile = _sc(obj).get("seccompProfile")
    return None if profile is None else profile.get("type", "")


def seccomp_baseline_1_19(meta, spec):
    setters, values = [], set()
    pod_type = _seccomp_type(spec)
    if pod_type is not None and pod_type not in ("RuntimeDefault", "Localhost"):
        setters.append("pod")
        values.add(pod_type)
    bad = []
    for c in _containers(spec):
        kind = _seccomp_type(c)
        if kind is not None and kind not in ("RuntimeDefault", "Localhost"):
            bad.append(c.get("name", ""))
            values.add(kind)
    if bad:
        setters.append(_named("container", bad))
    if setters:
        return "seccompProfile", (f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to "
                                  f"{_join_quote(sorted(values))}")


_SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t"}


def selinux_1_0(meta, spec):
    bad_types, flags = set(), {"user": False, "role": False}

    def valid(opts: dict) -> bool:
        ok = True
        if opts.get("type", "") not in _SELINUX_TYPES:
            ok = False
            bad_types.add(opts.get("type", ""))
        for key in ("user", "role"):
            if opts.get(key):
                ok, flags[key] = False, True
        return ok
    setters = []
    if _sc(spec).get("seLinuxOptions") is not None and not valid(_sc(spec)["seLinuxOptions"]):
        setters.append("pod")
    bad = [c.get("name", "") for c in _containers(spec)
           if _sc(c).get("seLinuxOptions") is not None and not valid(_sc(c)["seLinuxOptions"])]
    if bad:
        setters.append(_named("container", bad))
    if setters:
        data = []
        if bad_types:
            data.append(f"{_plural('type', 'types', len(bad_types))} {_join_quote(sorted(bad_types))}")
        data += [f"{key} may not be set" for key in ("user", "role") if flags[key]]
        return "seLinuxOptions", f"{' and '.join(setters)} set forbidden securityContext.seLinuxOptions: {'; '.join(data)}"


_SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
                 "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"}


def sysctls_1_0(meta, spec):
    bad = [s.get("name", "") for s in _sc(spec).get("sysctls") or [] if s.get("name") not in _SAFE_SYSCTLS]
    if bad:
        return "forbidden sysctls", ", ".join(bad)


_APPARMOR_PREFIX = "container.apparmor.security.beta.kubernetes.io/"


def app_armor_1_0(meta, spec):
    bad = sorted(f"{k}={json.dumps(v)}" for k, v in (meta.get("annotations") or {}).items()
                 if k.startswith(_APPARMOR_PREFIX) and v and v != "runtime/default" and not v.startswith("localhost/"))
    if bad:
        return _plural("forbidden AppArmor profile", "forbidden AppArmor profiles", len(bad)), ", ".join(bad)


def allow_privilege_escalation_1_8(meta, spec):
    bad = [c.get("name", "") for c in _containers(spec) if _sc(c).get("allowPrivilegeEscalation") is not False]
    if bad:
        return "allowPrivilegeEscalation != false", \
            f"{_named('container', bad)} must set securityContext.allowPrivilegeEscalation=false"


def allow_privilege_escalation_1_25(meta, spec):
    return None if _windows(spec) else allow_privilege_escalation_1_8(meta, spec)


def capabilities_restricted_1_22(meta, spec):
    missing_drop, adding, caps = [], [], set()
    for c in _containers(spec):
        capabilities = _sc(c).get("capabilities")
        if capabilities is None:
            missing_drop.append(c.get("name", ""))
            continue
        if "ALL" not in (capabilities.get("drop") or []):
            missing_drop.append(c.get("name", ""))
        added = [x for x in capabilities.get("add") or [] if x != "NET_BIND_SERVICE"]
        if added:
            adding.append(c.get("name", ""))
            caps.update(added)
    details = []
    if missing_drop:
        details.append(f'{_named("container", missing_drop)} must set securityContext.capabilities.drop=["ALL"]')
    if adding:
        details.append(f"{_named('container', adding)} must not include {_join_quote(sorted(caps))} in "
                       "securityContext.capabilities.add")
    if details:
        return "unrestricted capabilities", "; ".join(details)


def capabilities_restricted_1_25(meta, spec):
    return None if _windows(spec) else capabilities_restricted_1_22(meta, spec)


_ALLOWED_VOLUMES = ("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected",
                    "secret")
_RESTRICTED_VOLUMES = ("hostPath", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs", "iscsi", "glusterfs",
                       "rbd", "flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile", "vsphereVolume", "quobyte",
                       "azureDisk", "photonPersistentDisk", "portworxVolume", "scaleIO", "storageos")


def restricted_volumes_1_0(meta, spec):
    bad, types = [], set()
    for volume in spec.get("volumes") or []:
        if any(volume.get(k) is not None for k in _ALLOWED_VOLUMES):
            continue
        bad.append(volume.get("name", ""))
        types.add(next((k for k in _RESTRICTED_VOLUMES if volume.get(k) is not None), "unknown"))
    if bad:
        return "restricted volume types", (
            f"{_named('volume', bad)} {_plural('uses', 'use', len(bad))} "
            f"{_plural('restricted volume type', 'restricted volume types', len(types))} {_join_quote(sorted(types))}")


def run_as_non_root_1_0(meta, spec):
    setters, pod_non_root = [], False
    pod_value = _sc(spec).get("runAsNonRoot")
    if pod_value is not None:
        if pod_value:
            pod_non_root = True
        else:
            setters.append("pod")
    explicit, implicit = [], []
    for c in _containers(spec):
        value = _sc(c).get("runAsNonRoot")
        if value is not None:
            if not value:
                explicit.append(c.get("name", ""))
        elif not pod_non_root:
            implicit.append(c.get("name", ""))
    if explicit:
        setters.append(_named("container", explicit))
    if setters:
        return "runAsNonRoot != true", f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false"
    if implicit:
        return "runAsNonRoot != true", f"pod or {_named('container', implicit)} must set securityContext.runAsNonRoot=true"


def run_as_user_1_23(meta, spec):
    setters = ["pod"] if _sc(spec).get("runAsUser") == 0 else []
    bad = [c.get("name", "") for c in _containers(spec) if _sc(c).get("runAsUser") == 0]
    if bad:
        setters.append(_named("container", bad))
    if setters:
        return "runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0"


def seccomp_restricted_1_19(meta, spec):
    setters, values, pod_set = [], set(), False
    pod_type = _seccomp_type(spec)
    if pod_type is not None:
        if pod_type in ("RuntimeDefault", "Localhost"):
            pod_set = True
        else:
            setters.append("pod")
            values.add(pod_type)
    explicit, implicit = [], []
    for c in _containers(spec):
        kind = _seccomp_type(c)
        if kind is not None:
            if kind not in ("RuntimeDefault", "Localhost"):
                explicit.append(c.get("name", ""))
                values.add(kind)
        elif not pod_set:
            implicit.append(c.get("name", ""))
    if explicit:
        setters.append(_named("container", explicit))
    if setters:
        return "seccompProfile", (f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to "
                                  f"{_join_quote(sorted(values))}")
    if implicit:
        return "seccompProfile", (f"pod or {_named('container', implicit)} must set securityContext.seccompProfile.type "
                                  'to "RuntimeDefault" or "Localhost"')


def seccomp_restricted_1_25(meta, spec):
    return None if _windows(spec) else seccomp_restricted_1_19(meta, spec)


@dataclass(frozen=True)
class Check:
    id: str
    level: str
    versions: tuple  # ((minimum minor version, check function, overridden baseline check ids), ...)


CHECKS = (
    Check("privileged", "baseline", ((0, privileged_1_0, ()),)),
    Check("hostNamespaces", "baseline", ((0, host_namespaces_1_0, ()),)),
    Check("hostPathVolumes", "baseline", ((0, host_path_volumes_1_0, ()),)),
    Check("hostPorts", "baseline", ((0, host_ports_1_0, ()),)),
    Check("capabilities_baseline", "baseline", ((0, capabilities_baseline_1_0, ()),)),
    Check("windowsHostProcess", "baseline", ((0, windows_host_process_1_0, ()),)),
    Check("procMount", "baseline", ((0, proc_mount_1_0, ()),)),
    Check("seccompProfile_baseline", "baseline", ((0, seccomp_baseline_1_0, ()), (19, seccomp_baseline_1_19, ()))),
    Check("seLinuxOptions", "baseline", ((0, selinux_1_0, ()),)),
    Check("sysctls", "baseline", ((0, sysctls_1_0, ()),)),
    Check("appArmorProfile", "baseline", ((0, app_armor_1_0, ()),)),
    Check("allowPrivilegeEscalation", "restricted", ((8, allow_privilege_escalation_1_8, ()),
                                                     (25, allow_privilege_escalation_1_25, ()))),
    Check("capabilities_restricted", "restricted", ((22, capabilities_restricted_1_22, ("capabilities_baseline",)),
                                                    (25, capabilities_restricted_1_25, ("capabilities_baseline",)))),
    Check("restrictedVolumes", "restricted", ((0, restricted_volumes_1_0, ("hostPathVolumes",)),)),
    Check("runAsNonRoot", "restricted", ((0, run_as_non_root_1_0, ()),)),
    Check("runAsUser", "restricted", ((23, run_as_user_1_23, ()),)),
    Check("seccompProfile_restricted", "restricted", ((19, seccomp_restricted_1_19, ("seccompProfile_baseline",)),
                                                      (25, seccomp_restricted_1_25, ("seccompProfile_baseline",)))),
)
# registry.go: the newest version any check knows; "latest" and later versions evaluate as it.
MAX_MINOR = max(v[0] for c in CHECKS for v in c.versions)
# registry.go populate: baseline checks first, then restricted, each sorted by ID (Go's byte order).
_ORDER = sorted(c.id for c in CHECKS if c.level == "baseline") + sorted(c.id for c in CHECKS if c.level == "restricted")


def _checks_for(level: str, minor: int) -> list:
    active = {}
    for check in CHECKS:
        applicable = [v for v in check.versions if v[0] <= minor]
        if applicable:
            active[check.id] = (check.level, applicable[-1])
    overridden = {o for lvl, (_, _, overrides) in active.values() if lvl == "restricted" for o in overrides}
    chosen = []
    for check_id in _ORDER:
        if check_id not in active:
            continue
        check_level, (_, fn, _) = active[check_id]
        if level == "baseline" and check_level != "baseline":
            continue
        if level == "restricted" and check_id in overridden:
            continue
        chosen.append(fn)
    return chosen


def evaluate(lv: LevelVersion, meta: dict, spec: dict) -> list[tuple[str, str]]:
    """Evaluator.EvaluatePod, keeping only what is forbidden: (reason, detail) per failed check."""
    if lv.level == "privileged":
        return []
    minor = MAX_MINOR if lv.version.latest or lv.version.minor > MAX_MINOR else lv.version.minor
    results = []
    for fn in _checks_for(lv.level, minor):
        result = fn(meta or {}, spec or {})
        if result:
            results.append(result)
    return results


def forbidden_detail(results: list[tuple[str, str]]) -> str:
    """AggregateCheckResult.ForbiddenDetail: `reason (detail), reason (detail)`."""
    return ", ".join(f"{reason} ({detail})" if detail else reason for reason, detail in results)


def forbidden_reason(results: list[tuple[str, str]]) -> str:
    return ", ".join(reason for reason, _ in results)


# ---- the admission plugin (admission/admission.go) ------------------------------------------------

class PodSecurityAdmission:
    """A Store admission hook: Validate for namespaces, pods and pod controllers on CREATE and UPDATE."""

    def __init__(self, store, registry, config: PodSecurityConfig | None = None):
        self.store = store
        self.namespaces = registry.lookup("", "v1", "namespaces")
        self.pods = registry.lookup("", "v1", "pods")
        self.config = config or PodSecurityConfig()
        self.default_policy = self.config.default_policy()

    def __call__(self, operation: str, rtype: ResourceType, obj: dict, old: dict | None,
                 subresource: str | None) -> None:
        if operation not in ("CREATE", "UPDATE"):
            return
        if rtype.key == ("", "namespaces"):
            self._validate_namespace(operation, obj, old, subresource)
        elif rtype.key == ("", "pods"):
            self._validate_pod(operation, rtype, obj, old, subresource)
        elif rtype.key in _POD_CONTROLLERS:
            self._validate_pod_controller(rtype, obj, subresource)

    def policy(self, labels: dict | None) -> tuple[Policy, list]:
        return policy_to_evaluate(labels, self.default_policy)

    def _exempt_namespace(self, namespace: str) -> bool:
        return bool(namespace) and namespace in self.config.exempt_namespaces

    def _exempt_user(self) -> bool:
        user = request_scope.user_name()
        return bool(user) and user in self.config.exempt_usernames

    def _namespace_policy(self, namespace: str) -> tuple[Policy, list]:
        ns = self.store.find(self.namespaces, None, namespace)
        return self.policy((ns or {}).get("metadata", {}).get("labels"))

    # ValidateNamespace
    def _validate_namespace(self, operation: str, obj: dict, old: dict | None, subresource: str | None) -> None:
        if subresource:
            return
        name = obj["metadata"].get("name", "")
        new_policy, new_errs = self.policy(obj["metadata"].get("labels"))
        if operation == "CREATE":
            if new_errs:
                raise _invalid_labels(name, new_errs)
            if self._exempt_namespace(name):
                request_scope.add_warning(self._exempt_namespace_warning(name, new_policy, obj["metadata"].get("labels")))
            return
        old_policy, old_errs = self.policy((old or {}).get("metadata", {}).get("labels"))
        if new_errs and (not old_errs or new_errs != old_errs):
            raise _invalid_labels(name, new_errs)
        if new_policy.enforce == old_policy.enforce or new_policy.enforce.level == "privileged":
            return
        if (new_policy.enforce.version == old_policy.enforce.version
                and compare_levels(new_policy.enforce.level, old_policy.enforce.level) < 1):
            return
        if self._exempt_namespace(name):
            request_scope.add_warning(self._exempt_namespace_warning(name, new_policy, obj["metadata"].get("labels")))
            return
        for warning in self._evaluate_pods_in_namespace(name, new_policy.enforce):
            request_scope.add_warning(warning)

    def _exempt_namespace_warning(self, name: str, policy: Policy, labels: dict | None) -> str:
        if policy.fully_privileged() or policy.equivalent(self.default_policy):
            return ""
        labels = labels or {}
        shown = [f"{mode}={getattr(policy, mode)}" for mode in MODES
                 if getattr(policy, mode).level != "privileged"
                 and (PREFIX + mode in labels or PREFIX + mode + "-version" in labels)]
        return f'namespace "{name}" is exempt from Pod Security, and the policy ({", ".join(shown)}) will be ignored'

    def _evaluate_pods_in_namespace(self, namespace: str, enforce: LevelVersion) -> list[str]:
        """EvaluatePodsInNamespace: one warning per distinct violation, naming the first pod (by name)
        and how many others share it; one pod per controller is checked first."""
        pods = self.store.items(self.pods, namespace)
        prioritized, duplicates, seen = [], [], set()
        for pod in pods:
            if self._exempt_runtime_class(pod.get("spec") or {}):
                continue
            ref = next((r for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller")), None)
            if ref is None:
                prioritized.append(pod)
            elif ref.get("uid") in seen:
                duplicates.append(pod)
            else:
                prioritized.append(pod)
                seen.add(ref.get("uid"))
        prioritized += duplicates
        total = len(prioritized)
        prioritized = prioritized[:NAMESPACE_MAX_PODS_TO_CHECK]
        order, counts = [], {}
        for pod in prioritized:
            results = evaluate(enforce, pod["metadata"], pod.get("spec") or {})
            if not results:
                continue
            warning = forbidden_reason(results)
            name = pod["metadata"]["name"]
            if warning not in counts:
                order.append(warning)
                counts[warning] = [name, 0]
            elif name < counts[warning][0]:
                counts[warning][0] = name
            counts[warning][1] += 1
        warnings = []
        if len(prioritized) < total:
            warnings.append(f"new PodSecurity enforce level only checked against the first {len(prioritized)} of "
                            f"{total} existing pods")
        if order:
            warnings.append(f'existing pods in namespace "{namespace}" violate the new PodSecurity enforce level '
                            f'"{enforce}"')
        decorated = []
        for warning in order:
            name, count = counts[warning]
            others = "" if count == 1 else (" (and 1 other pod)" if count == 2 else f" (and {count - 1} other pods)")
            decorated.append(f"{name}{others}: {warning}")
        return warnings + sorted(decorated)

    def _exempt_runtime_class(self, spec: dict) -> bool:
        runtime_class = spec.get("runtimeClassName")
        return bool(runtime_class) and runtime_class in self.config.exempt_runtime_classes

    # ValidatePod
    def _validate_pod(self, operation: str, rtype: ResourceType, obj: dict, old: dict | None,
                      subresource: str | None) -> None:
        if subresource in _IGNORED_POD_SUBRESOURCES:
            return
        namespace = obj["metadata"].get("namespace", "")
        if self._exempt_namespace(namespace) or self._exempt_user():
            return
        policy, _errs = self._namespace_policy(namespace)
        if not _errs and policy.fully_privileged():
            return
        if operation == "UPDATE" and old is not None and not _significant_pod_update(obj, old):
            return
        self._evaluate(policy, obj["metadata"], obj.get("spec") or {}, rtype, obj["metadata"].get("name", ""), True)

    # ValidatePodController
    def _validate_pod_controller(self, rtype: ResourceType, obj: dict, subresource: str | None) -> None:
        if subresource:
            return
        namespace = obj["metadata"].get("namespace", "")
        if self._exempt_namespace(namespace) or self._exempt_user():
            return
        policy, errs = self._namespace_policy(namespace)
        if not errs and policy.warn.level == "privileged" and policy.audit.level == "privileged":
            return
        spec = obj.get("spec") or {}
        template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") if rtype.kind == "CronJob" \
            else (obj.get("template") if rtype.kind == "PodTemplate" else spec.get("template"))
        if template is None:
            return
        self._evaluate(policy, template.get("metadata") or {}, template.get("spec") or {}, rtype,
                       obj["metadata"].get("name", ""), False)

    # EvaluatePod
    def _evaluate(self, policy: Policy, meta: dict, spec: dict, rtype: ResourceType, name: str,
                  enforce: bool) -> None:
        if self._exempt_runtime_class(spec):
            return
        cache = {}
        if enforce:
            cache[policy.enforce] = results = evaluate(policy.enforce, meta, spec)
            if results:
                # plugin/pkg/admission/security/podsecurity/admission.go: the library's forbiddenResponse
                raise errors.forbidden(f'violates PodSecurity "{policy.enforce}": {forbidden_detail(results)}',
                                       rtype.plural, name, rtype.group)
        results = cache[policy.warn] if policy.warn in cache else evaluate(policy.warn, meta, spec)
        if results:
            request_scope.add_warning(f'would violate PodSecurity "{policy.warn}": {forbidden_detail(results)}')


def _significant_pod_update(pod: dict, old: dict) -> bool:
    """isSignificantPodUpdate: a changed image, container count or seccomp annotation, or a new
    ephemeral container."""
    spec, old_spec = pod.get("spec") or {}, old.get("spec") or {}
    annotations = pod["metadata"].get("annotations") or {}
    old_annotations = old["metadata"].get("annotations") or {}

    def changed(c: dict, o: dict) -> bool:
        key = _SECCOMP_CONTAINER_PREFIX + c.get("name", "")
        return c.get("image") != o.get("image") or annotations.get(key) != old_annotations.get(key)
    for key in ("containers", "initContainers"):
        new, before = spec.get(key) or [], old_spec.get(key) or []
        if len(new) != len(before) or any(changed(c, o) for c, o in zip(new, before)):
            return True
    old_ephemeral = {c.get("name"): c for c in old_spec.get("ephemeralContainers") or []}
    return any(c.get("name") not in old_ephemeral or changed(c, old_ephemeral[c.get("name")])
               for c in spec.get("ephemeralContainers") or [])


def _invalid_labels(name: str, errs: list[tuple[str, str, str]]) -> errors.ApiError:
    """invalidResponse: NewInvalid on the Namespace, one cause per bad label."""
    return errors.invalid("Namespace", name, [(f"metadata.labels[{label}]", f"Invalid value: {json.dumps(value)}: {msg}")
                                              for label, value, msg in errs])
