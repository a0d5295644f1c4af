"""A run's setup and teardown around the executor: the plan checked against the cluster, the journal
(local, else rebuilt from its in-cluster mirror), the cluster lock, the audit log."""
from __future__ import annotations

import json
import threading
from pathlib import Path

from ..errors import UserError
from .errors import JournalError
from .journal import Journal, JournalMirror, iso_time, rebuild_from_mirror
from .lease import ClusterLock, default_identity


class WrongCluster(UserError):
    """The plan was built from a snapshot of another cluster."""


def journal_path(plan_path, explicit: str | None = None) -> Path:
    return Path(explicit) if explicit else Path(str(plan_path) + ".journal.jsonl")


def audit_path(plan_path) -> Path:
    return Path(str(plan_path) + ".audit.jsonl")


def check_cluster(kube, plan) -> None:
    live = kube.get("/api/v1/namespaces/kube-system")["metadata"]["uid"]
    if live != plan.cluster_id:
        raise WrongCluster(f"the plan was built for cluster {plan.cluster_id}, but this kubeconfig reaches "
                           f"cluster {live}", "check --kubeconfig/--context, or snapshot and plan this cluster")


def open_journal(kube, plan, path: Path, *, mirror: bool = True) -> Journal:
    """The local journal; when it is missing, the in-cluster mirror's copy (a run resumed elsewhere)."""
    namespace = plan.options["namespace"]
    cluster_mirror = JournalMirror(kube, namespace, plan.digest) if mirror else None
    if not path.exists() and mirror:
        rebuilt = rebuild_from_mirror(kube, namespace, path, plan.digest, mirror=cluster_mirror)
        if rebuilt is not None:
            return rebuilt
    try:
        return Journal.open(path, plan.digest, mirror=cluster_mirror)
    except JournalError:
        raise
    except OSError as exc:
        raise UserError(f"cannot open journal {path}: {exc.strerror}", "check the directory is writable") from None


def cluster_lock(kube, clock, *, ttl_seconds: int = 60) -> ClusterLock:
    return ClusterLock(kube, identity=default_identity(kube.user), clock=clock, ttl_seconds=ttl_seconds)


class AuditLog:
    """One JSON line per API write: who, what, when, and for which step."""

    def __init__(self, path: Path, user: str, clock):
        self.path, self.user, self.clock = path, user, clock
        self._current = threading.local()  # a wave's nodes write from their own threads
        self._lock = threading.Lock()

    def set_step(self, step_id: str | None) -> None:
        self._current.step = step_id

    def __call__(self, write: dict) -> None:
        line = json.dumps({"time": iso_time(self.clock.now()), "user": self.user,
                           "step": getattr(self._current, "step", None), **write}, sort_keys=True)
        with self._lock, open(self.path, "a") as out:
            out.write(line + "\n")
