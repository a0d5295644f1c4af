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


# (group, plural) -> status fields without omitempty: the encoding writes them even at zero
ZERO_STATUS = {
    ("apps", "daemonsets"): ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"),
    ("apps", "deployments"): (),
    ("apps", "replicasets"): ("replicas",),
    ("apps", "statefulsets"): ("replicas", "availableReplicas"),
    ("batch", "jobs"): (),
    ("policy", "poddisruptionbudgets"): ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"),
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


def encode_status(key: tuple[str, str], status: dict) -> dict:
    """A status as the encoding of its struct shows it: zero omitempty fields gone, the others there."""
    drop_empty_status(key, status)
    for name in ZERO_STATUS.get(key, ()):
        status.setdefault(name, 0)
    return status


def encode_hook(operation: str, rtype, obj: dict, old: dict | None, subresource: str | None) -> None:
    """A Store.admission hook that runs last: what is stored is what the encoding keeps. A new workload's status
    is the zero struct (the strategies' PrepareForCreate reset it: apps, batch and policy strategy.go)."""
    if operation == "DELETE" or rtype.key not in OMITEMPTY_STATUS:
        return
    if operation == "CREATE":
        obj["status"] = {}
    if isinstance(obj.get("status"), dict):
        encode_status(rtype.key, obj["status"])
