"""What the wire encoding of the typed objects drops: struct fields tagged `json:",omitempty"` whose value is
zero (0, "", false, an empty list or map). The apiserver stores and serves the encoded form, so a zero count a
controller computed is simply absent from what clients read, while fields without omitempty stay, zero or not.

The fields below are the non-pointer omitempty fields of the status structs in k8s.io/api v0.26 (apps/v1,
batch/v1 and policy/v1 types.go); pointer fields (collisionCount, Job's ready) keep an explicit zero.
"""
from __future__ import annotations

# (group, plural) -> status fields tagged omitempty
OMITEMPTY_STATUS: dict[tuple[str, str], frozenset[str]] = {
    # DaemonSetStatus: currentNumberScheduled, numberMisscheduled, desiredNumberScheduled, numberReady have none
    ("apps", "daemonsets"): frozenset({"observedGeneration", "updatedNumberScheduled", "numberAvailable",
                                      "numberUnavailable", "conditions"}),
    ("apps", "deployments"): frozenset({"observedGeneration", "replicas", "updatedReplicas", "readyReplicas",
                                       "availableReplicas", "unavailableReplicas", "conditions"}),
    # ReplicaSetStatus.replicas has none
    ("apps", "replicasets"): frozenset({"fullyLabeledReplicas", "readyReplicas", "availableReplicas",
                                       "observedGeneration", "conditions"}),
    # StatefulSetStatus.replicas and .availableReplicas have none
    ("apps", "statefulsets"): frozenset({"observedGeneration", "readyReplicas", "currentReplicas", "updatedReplicas",
                                        "currentRevision", "updateRevision", "conditions"}),
    ("batch", "jobs"): frozenset({"conditions", "startTime", "completionTime", "active", "succeeded", "failed",
                                 "completedIndexes"}),
    # PodDisruptionBudgetStatus: disruptionsAllowed, currentHealthy, desiredHealthy, expectedPods have none
    ("policy", "poddisruptionbudgets"): frozenset({"observedGeneration", "disruptedPods", "conditions"}),
}


def _zero(value) -> bool:
    return value is None or value is False or value == 0 and not isinstance(value, bool) or value in ("", [], {})


def drop_empty_status(key: tuple[str, str], status: dict | None) -> dict | None:
    """Remove the zero omitempty fields of a status of the type `key` (in place); returns the status."""
    fields = OMITEMPTY_STATUS.get(key)
    if fields and isinstance(status, dict):
        for name in [k for k in status if k in fields and _zero(status[k])]:
            del status[name]
    return status


def encode_hook(operation: str, rtype, obj: dict, old: dict | None, subresource: str | None) -> None:
    """A Store.admission hook that runs last: what is stored is what the encoding keeps."""
    if operation != "DELETE" and rtype.key in OMITEMPTY_STATUS:
        drop_empty_status(rtype.key, obj.get("status"))
