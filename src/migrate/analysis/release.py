"""Whether the cluster's Kubernetes can run the Calico release the plan installs.

Two sources, both data: the Kubernetes versions each Calico release is tested against (its docs'
"System requirements"), and the Kubernetes CEL libraries the release's CRDs call in their validation
rules (an apiserver refuses to create a CRD whose rule calls a function its CEL environment lacks).
Pure: the manifest's objects come in as plain data.
"""
from __future__ import annotations

import re

from .finding import BLOCKER, WARNING, Finding

# Calico minor release -> the Kubernetes minors its docs list as tested. Read from the docs sources:
# projectcalico/calico <tag>:calico/getting-started/kubernetes/requirements.md (v3.20-v3.23), then
# tigera/docs calico_versioned_docs/version-3.NN/getting-started/kubernetes/requirements.mdx (v3.24-v3.28)
# and .../version-3.NN/_includes/partials/_system-requirements.mdx (v3.29-v3.32), as of 2026-12.
TESTED_KUBERNETES = {
    (3, 20): (19, 20, 21), (3, 21): (20, 21, 22), (3, 22): (21, 22, 23), (3, 23): (21, 22, 23),
    (3, 24): (22, 23, 24, 25), (3, 25): (23, 24, 25, 26, 27, 28), (3, 26): (24, 25, 26, 27, 28),
    (3, 27): (27, 28, 29), (3, 28): (27, 28, 29, 30), (3, 29): (29, 30, 31, 32),
    (3, 30): (31, 32, 33, 34, 35), (3, 31): (32, 33, 34, 35), (3, 32): (34, 35, 36),
}
REQUIREMENTS_PAGE = "https://docs.tigera.io/calico/latest/getting-started/kubernetes/requirements"

# CEL functions of Kubernetes' own libraries, and the first apiserver minor that compiles them in a new
# CRD's rules. The IP and CIDR libraries are registered with IntroducedVersion 1.30 in
# k8s.io/apiserver pkg/cel/environment/base.go, and new rules compile against the version one minor
# behind the server (DefaultCompatibilityVersion), so 1.31 is the first to accept them.
CEL_FUNCTIONS = {"isCIDR": 31, "cidr": 31, "isIP": 31, "ip": 31}
_CALL = re.compile(r"(?<!\w)(" + "|".join(CEL_FUNCTIONS) + r")\s*\(")


def release_minor(version: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"v(\d+)\.(\d+)\.\d+", version)
    return (int(match.group(1)), int(match.group(2))) if match else None


def server_minor(content: dict) -> int | None:
    server = content.get("server") or {}
    digits = re.match(r"\d+", str(server.get("minor") or ""))
    if digits:
        return int(digits.group())
    match = re.match(r"v1\.(\d+)", str(server.get("gitVersion") or ""))
    return int(match.group(1)) if match else None


def newest_release_tested_on(minor: int) -> str | None:
    fitting = [release for release, tested in TESTED_KUBERNETES.items() if minor in tested]
    return "v{}.{}".format(*max(fitting)) if fitting else None


def cel_floor(manifest_objects: list[dict]) -> tuple[int, str] | None:
    """(the oldest Kubernetes minor that accepts every CRD of the manifest, the CRD that needs it)."""
    floor = None
    for obj in manifest_objects:
        if obj.get("kind") != "CustomResourceDefinition":
            continue
        for rule in _rules(obj.get("spec") or {}):
            for function in _CALL.findall(rule):
                needed = CEL_FUNCTIONS[function]
                if floor is None or needed > floor[0]:
                    floor = (needed, f"{obj['metadata']['name']} ({function}() in a validation rule)")
    return floor


def _rules(node) -> list[str]:
    if isinstance(node, dict):
        found = [v["rule"] for v in node.get("x-kubernetes-validations") or [] if isinstance(v, dict) and "rule" in v]
        return found + [r for value in node.values() for r in _rules(value)]
    if isinstance(node, list):
        return [r for value in node for r in _rules(value)]
    return []


def check(content: dict, calico_version: str, manifest_objects: list[dict] | None = None) -> list[Finding]:
    minor, release = server_minor(content), release_minor(calico_version)
    if minor is None or release is None:
        return []
    kubernetes = f"1.{minor}"
    newest = newest_release_tested_on(minor)
    advice = (f"plan with Calico {newest} (its newest release tested on Kubernetes {kubernetes}: "
              f"--calico-manifest of that release), or upgrade the cluster first" if newest else
              f"no Calico release lists Kubernetes {kubernetes} as tested; see {REQUIREMENTS_PAGE}")
    findings = []
    floor = cel_floor(manifest_objects or [])
    if floor is not None and minor < floor[0]:
        findings.append(Finding(BLOCKER, "CALICO_CRDS_NEED_NEWER_KUBERNETES",
                                f"Calico {calico_version}'s CRD {floor[1]} needs Kubernetes 1.{floor[0]} or later; "
                                f"this cluster's {kubernetes} API server refuses to create it", advice))
    tested = TESTED_KUBERNETES.get(release)
    if tested is None:
        newer = release > max(TESTED_KUBERNETES)
        findings.append(Finding(WARNING, "CALICO_RELEASE_UNKNOWN",
                                f"no record of which Kubernetes versions Calico {calico_version} is tested on "
                                f"({'newer than' if newer else 'older than'} this tool's table)",
                                f"check {REQUIREMENTS_PAGE} for Kubernetes {kubernetes}"))
    elif minor < min(tested):
        findings.append(Finding(BLOCKER, "CALICO_RELEASE_TOO_NEW_FOR_KUBERNETES",
                                f"Calico v{release[0]}.{release[1]} is tested on Kubernetes "
                                f"1.{min(tested)}-1.{max(tested)}; this cluster runs {kubernetes}", advice))
    elif minor > max(tested):
        findings.append(Finding(WARNING, "CALICO_RELEASE_UNTESTED_ON_KUBERNETES",
                                f"Calico v{release[0]}.{release[1]} is tested on Kubernetes "
                                f"1.{min(tested)}-1.{max(tested)}; this cluster runs {kubernetes}, newer than that",
                                advice))
    return findings
