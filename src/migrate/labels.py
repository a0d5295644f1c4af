"""Kubernetes label selectors, as the API server evaluates them (matchLabels and matchExpressions)."""
from __future__ import annotations


def selector_matches(selector: dict | None, labels: dict | None) -> bool:
    """Whether a LabelSelector selects an object with `labels`. An empty selector selects everything;
    a missing one (None) selects nothing, as for a PodDisruptionBudget without a selector."""
    if selector is None:
        return False
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(_expression_matches(e, labels) for e in selector.get("matchExpressions") or [])


def _expression_matches(expression: dict, labels: dict) -> bool:
    key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return False  # an operator the API server would have rejected
