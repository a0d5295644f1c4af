"""RBAC evaluation from the Role/ClusterRole objects in the store (as the RBAC authorizer does)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = field(default=())

    @property
    def is_superuser(self) -> bool:
        return "system:masters" in self.groups


@dataclass(frozen=True)
class Attributes:
    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""  # for non-resource requests


def _matches(values: list[str] | None, wanted: str) -> bool:
    values = values or []
    return "*" in values or wanted in values


def _rule_allows(rule: dict, attrs: Attributes) -> bool:
    if not attrs.resource:
        paths = rule.get("nonResourceURLs") or []
        return _matches(rule.get("verbs"), attrs.verb) and any(
            p == attrs.path or p == "*" or (p.endswith("*") and attrs.path.startswith(p[:-1])) for p in paths)
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    resources = rule.get("resources") or []
    resource_ok = ("*" in resources or resource in resources
                   or (attrs.subresource and f"*/{attrs.subresource}" in resources))
    names = rule.get("resourceNames") or []
    return (_matches(rule.get("verbs"), attrs.verb) and _matches(rule.get("apiGroups"), attrs.group)
            and resource_ok and (not names or attrs.name in names))


def _subject_matches(subject: dict, user: User) -> bool:
    kind = subject.get("kind")
    if kind == "User":
        return subject.get("name") == user.name
    if kind == "Group":
        return subject.get("name") in user.groups
    if kind == "ServiceAccount":
        return user.name == f"system:serviceaccount:{subject.get('namespace')}:{subject.get('name')}"
    return False


def is_allowed(user: User, attrs: Attributes, cluster_roles: dict[str, dict], roles: dict[tuple[str, str], dict],
               cluster_bindings: list[dict], bindings: list[dict]) -> bool:
    if user.is_superuser:
        return True

    def role_rules(binding: dict, namespace: str) -> list[dict]:
        ref = binding.get("roleRef", {})
        if ref.get("kind") == "ClusterRole":
            return (cluster_roles.get(ref.get("name")) or {}).get("rules") or []
        return (roles.get((namespace, ref.get("name"))) or {}).get("rules") or []

    for binding in cluster_bindings:
        if any(_subject_matches(s, user) for s in binding.get("subjects") or []):
            if any(_rule_allows(r, attrs) for r in role_rules(binding, "")):
                return True
    if attrs.namespace:
        for binding in bindings:
            ns = binding["metadata"].get("namespace")
            if ns != attrs.namespace:
                continue
            if any(_subject_matches(s, user) for s in binding.get("subjects") or []):
                if any(_rule_allows(r, attrs) for r in role_rules(binding, ns)):
                    return True
    return False
