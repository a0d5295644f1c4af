"""Whether the Calico manifest the plan installs runs Typha, and whether this cluster needs it.

Facts, from Calico v3.32.1 and its docs:
- calico.yaml runs without Typha: calico-config's typha_service_name is "none", which Felix reads (env
  FELIX_TYPHAK8SSERVICENAME) as no Typha (felix/config/config_params.go: "none" sets the zero value).
  calico-typha.yaml, published beside it (manifests/calico-typha.yaml), sets it to "calico-typha" and adds
  the calico-typha Service, Deployment (1 replica as published) and PodDisruptionBudget.
- Felix with a Typha service configured waits, not ready, until a ready endpoint of that Service exists
  (felix/daemon/daemon.go; typha/pkg/discovery/discovery.go), so a named service nothing backs keeps every
  calico-node unready.
- The docs (tigera/docs calico_versioned_docs/version-3.32/getting-started/kubernetes/self-managed-onprem/
  onpremises.mdx) install with calico-typha.yaml for the "Kubernetes API datastore, more than 50 nodes", and
  size it: at least one replica for every 200 nodes and no more than 20; in production at least three;
  always fewer replicas than nodes (else rolling upgrades stall).
Pure: the manifest's objects come in as plain data.
"""
from __future__ import annotations

import math

from .finding import BLOCKER, Finding

TYPHA_ABOVE_NODES = 50          # onpremises.mdx: "Kubernetes API datastore, more than 50 nodes"
NODES_PER_REPLICA = 200         # "at least one replica for every 200 nodes"
MIN_REPLICAS, MAX_REPLICAS = 3, 20  # "a minimum of three replicas" in production; "no more than 20 replicas"
TYPHA_MANIFEST_URL = "https://raw.githubusercontent.com/projectcalico/calico/{version}/manifests/calico-typha.yaml"


def typha_replicas(node_count: int) -> int:
    """Typha replicas for a cluster of `node_count` nodes as Calico's docs size them: one per 200 nodes, at
    least 3, at most 20, and always fewer than the nodes (at least 1: with 0, Felix never starts)."""
    wanted = min(MAX_REPLICAS, max(MIN_REPLICAS, math.ceil(node_count / NODES_PER_REPLICA)))
    return max(1, min(wanted, node_count - 1))


def needs_typha(node_count: int) -> bool:
    return node_count > TYPHA_ABOVE_NODES


def _calico_node_container(objects: list[dict]) -> dict | None:
    ds = next((o for o in objects if o.get("kind") == "DaemonSet" and o["metadata"].get("name") == "calico-node"), None)
    containers = ((((ds or {}).get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    return next((c for c in containers if c.get("name") == "calico-node"), None)


def _env_value(objects: list[dict], container: dict, name: str) -> str | None:
    """A calico-node variable as the kubelet resolves it: a literal, or a key of a ConfigMap in the manifest."""
    entry = next((e for e in container.get("env") or [] if e.get("name") == name), None)
    if entry is None:
        return None
    ref = (entry.get("valueFrom") or {}).get("configMapKeyRef")
    if ref is None:
        return entry.get("value")
    config = next((o for o in objects if o.get("kind") == "ConfigMap" and o["metadata"].get("name") == ref.get("name")),
                  None)
    return ((config or {}).get("data") or {}).get(ref.get("key"))


def felix_typha_service(objects: list[dict]) -> tuple[str, str] | None:
    """(namespace, name) of the Service calico-node's Felix looks Typha up through, or None: no Typha."""
    container = _calico_node_container(objects)
    if container is None:
        return None
    name = _env_value(objects, container, "FELIX_TYPHAK8SSERVICENAME") or ""
    if not name or name.lower() == "none":
        return None
    return _env_value(objects, container, "FELIX_TYPHAK8SNAMESPACE") or "kube-system", name


def typha_deployment(objects: list[dict]) -> dict | None:
    """The Deployment behind Felix's Typha Service (its pod template matches the Service's selector), or None
    when Felix uses no Typha or the manifest has no such Service or Deployment."""
    wanted = felix_typha_service(objects)
    if wanted is None:
        return None
    namespace, name = wanted
    service = next((o for o in objects if o.get("kind") == "Service" and o["metadata"].get("name") == name
                    and o["metadata"].get("namespace", "default") == namespace), None)
    selector = ((service or {}).get("spec") or {}).get("selector")
    if not selector:
        return None
    for obj in objects:
        if obj.get("kind") != "Deployment" or obj["metadata"].get("namespace", "default") != namespace:
            continue
        labels = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
        if all(labels.get(k) == v for k, v in selector.items()):
            return obj
    return None


def check(content: dict, calico_version: str, manifest_objects: list[dict] | None) -> list[Finding]:
    """TYPHA_NEEDED above 50 nodes when the manifest runs no Typha; TYPHA_NOT_DEPLOYED when Felix is told to use a
    Typha service the manifest does not back with a Deployment. Without a manifest there is nothing to check (the
    plan then names calico-typha.yaml's address itself above 50 nodes)."""
    if manifest_objects is None:
        return []
    nodes = len(content.get("nodes") or [])
    download = (f"download calico-typha.yaml of Calico {calico_version} "
                f"({TYPHA_MANIFEST_URL.format(version=calico_version)}) and plan with --calico-manifest "
                "calico-typha.yaml")
    service = felix_typha_service(manifest_objects)
    if service is not None and typha_deployment(manifest_objects) is None:
        return [Finding(BLOCKER, "TYPHA_NOT_DEPLOYED",
                        f"the Calico manifest tells Felix to find Typha through Service {'/'.join(service)}, but has "
                        "no Deployment behind that Service: calico-node would never become ready",
                        download + " unchanged (or set typha_service_name to none below 51 nodes)")]
    if needs_typha(nodes) and service is None:
        return [Finding(BLOCKER, "TYPHA_NEEDED",
                        f"the cluster has {nodes} nodes and the Calico manifest runs without Typha (typha_service_name "
                        f"none, no calico-typha Deployment); Calico's docs install with Typha above "
                        f"{TYPHA_ABOVE_NODES} nodes on the Kubernetes datastore, where every Felix would otherwise "
                        "watch the API server itself",
                        download + f"; the plan sets its replicas to {typha_replicas(nodes)} for {nodes} nodes")]
    return []
