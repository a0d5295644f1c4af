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


def _subject_matches(subject: dict, user: User, binding_namespace: str = "") -> bool:
    kind = subject.get("kind")
    if kind == "User":
        return subject.get("name") == user.name
    if kind == "Group":
        return subject.get("name") in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return user.name == f"system:serviceaccount:{namespace}:{subject.get('name')}"
    return False


def _describe_subject(subject: dict, binding_namespace: str) -> str:
    if subject.get("kind") == "ServiceAccount":
        return f'ServiceAccount "{subject.get("name")}/{subject.get("namespace") or binding_namespace}"'
    return f'{subject.get("kind")} "{subject.get("name")}"'


def decide(user: User, attrs: Attributes, cluster_roles: dict[str, dict], roles: dict[tuple[str, str], dict],
           cluster_bindings: list[dict], bindings: list[dict]) -> tuple[bool, str]:
    """(allowed, reason) as the RBAC authorizer gives them: the reason names the binding that allowed
    the request ("RBAC: allowed by ClusterRoleBinding ..."). Members of system:masters are allowed
    before RBAC is asked, with no reason."""
    if user.is_superuser:
        return True, ""

    def role_rules(binding: dict, namespace: str) -> list[dict]:
        ref = binding.get("roleRef", {})
        if ref.get("kind") == "ClusterRole":
            return (cluster_roles.get(ref.get("name")) or {}).get("rules") or []
        return (roles.get((namespace, ref.get("name"))) or {}).get("rules") or []

    for binding in cluster_bindings:
        for subject in binding.get("subjects") or []:
            if _subject_matches(subject, user) and any(_rule_allows(r, attrs) for r in role_rules(binding, "")):
                ref = binding.get("roleRef", {})
                return True, (f'RBAC: allowed by ClusterRoleBinding "{binding["metadata"]["name"]}" of '
                              f'{ref.get("kind")} "{ref.get("name")}" to {_describe_subject(subject, "")}')
    if attrs.namespace:
        for binding in bindings:
            ns = binding["metadata"].get("namespace")
            if ns != attrs.namespace:
                continue
            for subject in binding.get("subjects") or []:
                if _subject_matches(subject, user, ns) and any(_rule_allows(r, attrs) for r in role_rules(binding, ns)):
                    ref = binding.get("roleRef", {})
                    return True, (f'RBAC: allowed by RoleBinding "{binding["metadata"]["name"]}/{ns}" of '
                                  f'{ref.get("kind")} "{ref.get("name")}" to {_describe_subject(subject, ns)}')
    return False, ""


def is_allowed(user: User, attrs: Attributes, cluster_roles: dict[str, dict], roles: dict[tuple[str, str], dict],
               cluster_bindings: list[dict], bindings: list[dict]) -> bool:
    return decide(user, attrs, cluster_roles, roles, cluster_bindings, bindings)[0]
