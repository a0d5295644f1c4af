"""Draining a node through the eviction API, as kubectl's drain helper does it.

One listing decides what goes: finished pods, mirror pods and DaemonSet pods stay; pods nothing
re-creates and pods with emptyDir data block the drain unless the policy allows losing them.
Every blocker is found before the first eviction, so a refused drain changes nothing. Evictions
a PodDisruptionBudget refuses (429) are retried with a capped backoff, each pod on its own
schedule, until the node's timeout; a pod is gone when its UID is gone (a StatefulSet re-creates
the same name). Time is the executor's Clock, so the simulator drains without real waiting.
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import Callable

from ..kube import NotFound, TooManyRequests
from ..labels import selector_matches
from ..snapshot import pod_ready
from .clock import Clock
from .errors import Interrupted, StepFailed
from .events import Emit, Event, ignore

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})
# kubectl waits 5 s after a refused eviction; we double from there so a budget that holds for
# minutes costs few requests, but never wait longer than 30 s between tries of one pod.
REFUSAL_BACKOFF_START = 5.0
REFUSAL_BACKOFF_CAP = 30.0
# How often evicted pods are checked for being gone (kubectl polls every second).
DELETION_POLL_SECONDS = 2.0
MIN_ROUND_SECONDS = 1.0
# Replicated pods no PodDisruptionBudget covers go only while another replica is ready (kubeadm's CoreDNS has
# none): the nodes of a wave drain side by side, and a replacement may have landed on the next node drained.
REPLICATED_KINDS = frozenset({"ReplicaSet", "StatefulSet"})
LAST_REPLICA_WAIT = 2.0
_EVICTION_TURN = threading.Lock()  # check-then-evict, one pod at a time across the wave's node threads


@dataclass(frozen=True)
class DrainPolicy:
    timeout_seconds: int = 600
    grace_period: int | None = None      # None: each pod's own terminationGracePeriodSeconds
    delete_emptydir_data: bool = False
    force: bool = False                   # evict pods no controller re-creates


@dataclass(frozen=True)
class DrainResult:
    evicted: list[str]                    # "ns/name", in the order the API accepted them
    skipped: list[str]                    # "ns/name (reason)"
    refusals: int                         # 429s seen from PodDisruptionBudgets, retries included
    seconds: float                        # on the executor's clock
    refused: list[str] = field(default_factory=list)  # dry run only: "ns/name (message)" the server refused


# ---- choosing the pods -------------------------------------------------------------------


def pod_key(pod: dict) -> str:
    meta = pod["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def _controller_kind(pod: dict) -> str | None:
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("kind")
    return None


def _emptydir_volumes(pod: dict) -> list[str]:
    return [v.get("name", "?") for v in (pod.get("spec") or {}).get("volumes") or [] if "emptyDir" in v]


def _skip_reason(pod: dict) -> str | None:
    """Why a drain leaves this pod where it is, or None when the drain must remove it."""
    if (pod.get("status") or {}).get("phase") in FINISHED_PHASES:
        return "finished"  # holds no network and no node resources
    if MIRROR_ANNOTATION in (pod["metadata"].get("annotations") or {}):
        return "mirror pod"  # the kubelet runs it from a file; the API cannot remove it
    if _controller_kind(pod) == "DaemonSet":
        return "DaemonSet"  # its controller would put it straight back, and it ignores cordons
    return None


def _blocking_reasons(pod: dict, policy: DrainPolicy) -> list[str]:
    """What evicting this pod would lose that the policy does not allow losing. Unlike kubectl,
    which names only the first, every reason is given so one re-plan clears the pod."""
    reasons = []
    if _controller_kind(pod) is None and not policy.force:
        reasons.append("no controller re-creates it")
    volumes = _emptydir_volumes(pod)
    if volumes and not policy.delete_emptydir_data:
        reasons.append(f"its emptyDir data ({', '.join(volumes)}) would be lost")
    return reasons


def _node_pods(kube, node: str) -> list[dict]:
    return kube.list("/api/v1/pods", field_selector=f"spec.nodeName={node}")


def pods_to_drain(kube, node: str) -> list[dict]:
    """Pods a drain of `node` must still remove (not DaemonSet-owned, not mirror, not Succeeded/Failed)."""
    return [pod for pod in _node_pods(kube, node) if _skip_reason(pod) is None]


# ---- evicting ------------------------------------------------------------------------------


@dataclass
class _Pending:
    """One pod on its way out: evicted yet or not, and when to try it again."""
    namespace: str
    name: str
    uid: str
    attempts: int = 0
    retry_at: float = 0.0
    refusal: str | None = None   # the last refusal's message
    evicted: bool = False
    owner: dict | None = None    # the controller to keep a ready replica of (replicated, no PDB covers it)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def _refusal_wait(attempts: int, retry_after: float | None) -> float:
    """The server's Retry-After when it gives one (a budget it has not processed yet), else our backoff."""
    if retry_after is not None and retry_after > 0:
        return retry_after
    return min(REFUSAL_BACKOFF_CAP, REFUSAL_BACKOFF_START * 2 ** (attempts - 1))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


class _Drain:
    """One drain of one node; the state between rounds."""

    def __init__(self, kube, node: str, policy: DrainPolicy, clock: Clock, emit: Emit, dry_run: str | None):
        self.kube, self.node, self.policy, self.clock, self.emit = kube, node, policy, clock, emit
        self.dry_run = dry_run
        self.started = clock.now()
        self.evicted: list[str] = []
        self.skipped: list[str] = []
        self.refused: list[str] = []
        self.refusals = 0
        self.pending: list[_Pending] = []   # not yet evicted, or evicted and not yet gone
        self._budgets: dict[str, list[dict]] = {}  # namespace -> its PodDisruptionBudgets, read once

    def _event(self, kind: str, message: str, **data) -> None:
        self.emit(Event(kind, message, node=self.node, data=data))

    def choose(self, pods: list[dict]) -> None:
        """Sort the node's pods into skipped and pending; StepFailed naming every blocker, before any eviction."""
        blocked = []
        for pod in pods:
            key = pod_key(pod)
            reason = _skip_reason(pod)
            if reason == "mirror pod":
                self._event("warning", f"{key}: mirror pod left in place; the kubelet on {self.node} runs it "
                                       "from a static manifest", pod=key)
            if reason is not None:
                if reason != "finished":
                    self.skipped.append(f"{key} ({reason})")
                continue
            reasons = _blocking_reasons(pod, self.policy)
            if reasons:
                blocked.append(f"{key} ({'; '.join(reasons)})")
                continue
            meta = pod["metadata"]
            self.pending.append(_Pending(meta["namespace"], meta["name"], meta.get("uid", ""),
                                         owner=self._guarded_owner(pod)))
        if blocked:
            raise StepFailed(f"cannot drain {self.node}: {', '.join(blocked)}",
                             "re-plan with --force to evict pods no controller re-creates and/or "
                             "--delete-emptydir-data to evict pods with emptyDir volumes, or move them off "
                             f"{self.node} yourself")

    def _guarded_owner(self, pod: dict) -> dict | None:
        owner = next((o for o in pod["metadata"].get("ownerReferences") or [] if o.get("controller")), None)
        if owner is None or owner.get("kind") not in REPLICATED_KINDS or self.dry_run:
            return None
        namespace, labels = pod["metadata"]["namespace"], pod["metadata"].get("labels") or {}
        if namespace not in self._budgets:  # one read per namespace, not per pod
            self._budgets[namespace] = self.kube.list(f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets")
        budgets = self._budgets[namespace]
        if any(selector_matches((b.get("spec") or {}).get("selector"), labels) for b in budgets):
            return None  # the eviction API keeps what its budget asks
        return owner

    def _last_ready_replica(self, pod: _Pending) -> str | None:
        """Why evicting `pod` now would leave its workload with no ready replica, or None. A pod with no
        sibling at all (one replica) goes: nothing can keep it up."""
        siblings = [p for p in self.kube.list(f"/api/v1/namespaces/{pod.namespace}/pods")
                    if p["metadata"].get("uid") != pod.uid and any(
                        o.get("uid") == pod.owner.get("uid") for o in p["metadata"].get("ownerReferences") or [])]
        if not siblings:
            return None
        ready = [p for p in siblings if not p["metadata"].get("deletionTimestamp") and pod_ready(p)]
        if ready:
            return None
        return f"no other replica of {pod.owner.get('kind')} {pod.owner.get('name')} is ready yet"

    def evict_due(self) -> None:
        """Try every pod whose turn has come; one refused pod does not hold up the others."""
        now = self.clock.now()
        for pod in self.pending:
            if pod.evicted or pod.retry_at > now:
                continue
            pod.attempts += 1
            # Only a guarded pod's check-then-evict must not interleave with another node's; the rest evict freely.
            with _EVICTION_TURN if pod.owner else contextlib.nullcontext():
                held = self._last_ready_replica(pod) if pod.owner else None
                if held is None:
                    try:
                        self.kube.evict(pod.namespace, pod.name, grace_period=self.policy.grace_period,
                                        dry_run=self.dry_run)
                    except NotFound:
                        pass  # already gone: what the eviction was for
                    except TooManyRequests as refusal:
                        self._refused(pod, str(refusal), refusal.retry_after, now)
                        continue
            if held is not None:
                if pod.refusal != held:
                    self._event("progress", f"{pod.key}: waiting: {held}", pod=pod.key)
                pod.refusal, pod.retry_at = held, now + LAST_REPLICA_WAIT
                continue
            pod.evicted, pod.refusal = True, None
            self.evicted.append(pod.key)
            self._event("progress", f"{pod.key}: evicted{' (dry run)' if self.dry_run else ''}", pod=pod.key)

    def _refused(self, pod: _Pending, message: str, retry_after: float | None, now: float) -> None:
        self.refusals += 1
        pod.refusal = message
        if self.dry_run:
            # The server checked the budget and said no; a dry run reports that instead of waiting.
            self.refused.append(f"{pod.key} ({message})")
            pod.evicted = True  # nothing more to do with it
            self._event("progress", f"{pod.key}: eviction would be refused ({message})", pod=pod.key)
            return
        wait = _refusal_wait(pod.attempts, retry_after)
        pod.retry_at = now + wait
        self._event("progress", f"{pod.key}: eviction refused ({message}); will retry in {wait:.0f}s",
                    pod=pod.key, retry_in=wait)

    def forget_gone(self) -> None:
        """Drop evicted pods that are gone: not found, or found with another UID (re-created under
        the same name, as a StatefulSet does)."""
        still = []
        for pod in self.pending:
            if pod.evicted and self._is_gone(pod):
                continue
            still.append(pod)
        self.pending = still

    def _is_gone(self, pod: _Pending) -> bool:
        if self.dry_run:
            return True  # nothing was deleted; there is nothing to wait for
        try:
            found = self.kube.get(f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}")
        except NotFound:
            return True
        return (found.get("metadata") or {}).get("uid") != pod.uid

    def deadline(self) -> float:
        return self.started + self.policy.timeout_seconds

    def next_wake(self) -> float:
        """When the next round is worth running: the earliest retry, or the next deletion poll."""
        now = self.clock.now()
        wakes = [pod.retry_at for pod in self.pending if not pod.evicted]
        if any(pod.evicted for pod in self.pending):
            wakes.append(now + DELETION_POLL_SECONDS)
        earliest = min(wakes, default=now + DELETION_POLL_SECONDS)
        # Never a round without time passing: a pod due now would otherwise spin without end.
        return min(max(earliest, now + MIN_ROUND_SECONDS), self.deadline())

    def timed_out(self) -> StepFailed:
        left = []
        for pod in self.pending:
            if pod.refusal:
                left.append(f"{pod.key} (eviction refused: {pod.refusal})")
            elif pod.evicted:
                left.append(f"{pod.key} (evicted, still terminating)")
            else:
                left.append(pod.key)
        return StepFailed(f"drain of {self.node} timed out after {self.policy.timeout_seconds}s with "
                          f"{_plural(len(left), 'pod')} still there: {', '.join(left)}",
                          "check the PodDisruptionBudget of each refused pod (kubectl get pdb -A), then run "
                          "`migrate resume PLAN` to try again or `migrate rollback PLAN`")

    def interrupted(self) -> Interrupted:
        to_evict = sum(1 for pod in self.pending if not pod.evicted)
        terminating = len(self.pending) - to_evict
        also = f" ({terminating} more evicted, still terminating)" if terminating else ""
        return Interrupted(f"drain of {self.node} stopped at a safe point: {_plural(to_evict, 'pod')} still "
                           f"to evict{also}", "run `migrate resume PLAN` to continue")

    def result(self) -> DrainResult:
        return DrainResult(evicted=list(self.evicted), skipped=list(self.skipped), refusals=self.refusals,
                           seconds=self.clock.now() - self.started, refused=list(self.refused))


def drain_node(kube, node: str, policy: DrainPolicy, *, clock: Clock, emit: Emit = ignore,
               should_stop: Callable[[], bool] = lambda: False, dry_run: str | None = None) -> DrainResult:
    """Evict every pod a drain of `node` must remove and wait until each is gone.

    Raises StepFailed (before any eviction) when pods the policy may not evict are there, or when
    the timeout passes with pods left; Interrupted when `should_stop()` turns true between rounds.
    With dry_run="All" the evictions are only checked by the server and nothing is waited for.
    The node should be cordoned first, or evicted pods may come straight back to it."""
    drain = _Drain(kube, node, policy, clock, emit, dry_run)
    drain.choose(_node_pods(kube, node))
    while True:
        drain.evict_due()
        drain.forget_gone()
        if not drain.pending:
            return drain.result()
        if clock.now() >= drain.deadline():
            raise drain.timed_out()
        if should_stop():
            raise drain.interrupted()
        clock.sleep(drain.next_wake() - clock.now())
