"""The cluster lock: a coordination.k8s.io Lease, so that only one executor acts on a cluster.

Like client-go's leader election, the holder renews the Lease while it works, and a Lease not
renewed for its duration may be taken over: a crashed run does not lock the cluster forever.
Every take-over is a replace with the resourceVersion read, so of two racing executors one wins.
"""
from __future__ import annotations

import datetime as dt
import math
import os
import re
import socket
from typing import Callable

from ..kube import AlreadyExists, Conflict, Kube, NotFound
from .clock import Clock
from .errors import LockHeld

PLAN_ANNOTATION = "migrate/plan-digest"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
WAIT_HINT = ("wait for it to finish (`--wait-lock[=DURATION]` waits and takes it); if its run died on another "
             "machine, `migrate unlock PLAN` breaks it")
LOST_HINT = "another executor took over the cluster; check what it is doing before re-running"


def default_identity(user: str) -> str:
    """Who this executor is, for the Lease and for whoever is refused by it."""
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def holder_process_gone(holder: str | None) -> bool:
    """A holder that ran on this host and whose process is no more (killed, crashed): its lease protects nothing.
    Holders of other hosts, or whose pid still runs (or cannot be asked), are presumed alive."""
    found = re.fullmatch(r".*@(?P<host>[^@\s]+) pid (?P<pid>\d+)", holder or "")
    if found is None or found["host"] != socket.gethostname() or int(found["pid"]) == os.getpid():
        return False
    try:
        os.kill(int(found["pid"]), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists, under another user
    return False


def describe_holder(lease: dict | None, now: float) -> tuple[str, str]:
    """Who holds the Lease, as `migrate status` puts it, and what the operator can do about it."""
    spec = (lease or {}).get("spec") or {}
    holder = spec.get("holderIdentity")
    if not holder:
        return "free", ""
    expiry = expires_at(lease)
    if expiry is None or expiry <= now:
        return f"held by {holder}, lapsed", "the next `migrate resume PLAN` takes it over"
    if holder_process_gone(holder):
        return (f"held by {holder}: its process is gone", "`migrate resume PLAN` takes it over at once")
    return (f"held by {holder}, live (expires in {math.ceil(expiry - now)}s unless renewed)",
            "wait for it (`migrate resume PLAN --wait-lock`), or, if its run died on another machine, "
            "`migrate unlock PLAN`")


def micro_time(timestamp: float) -> str:
    """A Kubernetes MicroTime string for a clock reading."""
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> float | None:
    """Seconds since the epoch for a (Micro)Time string; None when absent or unreadable."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def expires_at(lease: dict) -> float | None:
    """When a Lease lapses unless renewed; None when it carries no time (treated as lapsed)."""
    spec = lease.get("spec") or {}
    renewed = parse_time(spec.get("renewTime")) or parse_time(spec.get("acquireTime"))
    if renewed is None:
        return None
    return renewed + float(spec.get("leaseDurationSeconds") or 0)


class ClusterLock:
    """The migration Lease, held by `identity` between acquire and release."""

    def __init__(self, kube: Kube, *, identity: str, clock: Clock, ttl_seconds: int = 60,
                 namespace: str = "kube-system", name: str = "flannel-to-calico-migration"):
        self.kube = kube
        self.identity = identity
        self.clock = clock
        self.ttl_seconds = ttl_seconds
        self.namespace = namespace
        self.name = name
        self.holder: str | None = None     # after a refusal: who holds the Lease
        self.expires_in: float | None = None  # after a refusal: seconds until it lapses unless renewed
        self.took_over: str | None = None  # after acquire: whose Lease we took, and why
        self._lease: dict | None = None    # the Lease as last written by us, while we hold it
        self._renewed_at: float | None = None

    @property
    def path(self) -> str:
        return f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases/{self.name}"

    @property
    def held(self) -> bool:
        return self._lease is not None

    def _collection(self) -> str:
        return f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases"

    # ---- acquire -----------------------------------------------------------------------------

    def acquire(self, plan_digest: str) -> None:
        """Take the Lease for a run of `plan_digest`; LockHeld when another live executor has it."""
        now = self.clock.now()
        try:
            self._hold(self.kube.create(self._collection(), self._new_lease(plan_digest, now)), now)
            return
        except AlreadyExists:
            pass
        current = self.kube.get_optional(self.path)
        if current is None:
            # Released between our create and our read: one more create decides it.
            try:
                self._hold(self.kube.create(self._collection(), self._new_lease(plan_digest, now)), now)
                return
            except AlreadyExists:
                raise self._refusal("another migration took the cluster lock just now") from None
        self._take_over(current, plan_digest, now)

    def refusal(self) -> LockHeld | None:
        """What acquire would raise now, without writing anything: None when the lock is free or may be taken."""
        current = self.kube.get_optional(self.path)
        spec = (current or {}).get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        expiry = expires_at(current) if current else None
        if not holder or holder == self.identity or expiry is None or expiry <= self.clock.now() \
                or holder_process_gone(holder):
            return None
        annotations = (current.get("metadata") or {}).get("annotations") or {}
        return LockHeld(f"another migration holds the cluster: {holder} since {spec.get('acquireTime')}, plan "
                        f"{annotations.get(PLAN_ANNOTATION, '(unknown)')}; its lease expires in "
                        f"{math.ceil(expiry - self.clock.now())}s", WAIT_HINT)

    def acquire_waiting(self, plan_digest: str, wait_seconds: float,
                        on_wait: Callable[[str, float, float], None] = lambda holder, lapses, left: None) -> None:
        """acquire, retried for up to `wait_seconds` while another executor holds the Lease; `on_wait(holder,
        seconds until its lease lapses, seconds left to wait)` before each pause."""
        deadline = self.clock.now() + wait_seconds
        while True:
            try:
                self.acquire(plan_digest)
                return
            except LockHeld as refused:
                left = deadline - self.clock.now()
                if left <= 0:
                    if wait_seconds <= 0:
                        raise
                    raise LockHeld(f"{refused.message}; gave up after {_duration(wait_seconds)}",
                                   refused.hint) from None
                on_wait(self.holder or "(unknown)", max(0.0, self.expires_in or 0.0), left)
                self.clock.sleep(min(5.0, left, max(1.0, self.expires_in or 5.0)))

    def _take_over(self, current: dict, plan_digest: str, now: float) -> None:
        spec = current.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        expiry = expires_at(current)
        gone = holder_process_gone(holder)
        if holder and holder != self.identity and expiry is not None and expiry > now and not gone:
            self.holder, self.expires_in = holder, expiry - now
            annotations = (current.get("metadata") or {}).get("annotations") or {}
            raise LockHeld(f"another migration holds the cluster: {holder} since {spec.get('acquireTime')}, "
                           f"plan {annotations.get(PLAN_ANNOTATION, '(unknown)')}; its lease expires in "
                           f"{math.ceil(expiry - now)}s", WAIT_HINT)
        body = self._new_lease(plan_digest, now)
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        transitions = int(spec.get("leaseTransitions") or 0)
        body["spec"]["leaseTransitions"] = transitions + (1 if holder and holder != self.identity else 0)
        try:
            self._hold(self.kube.replace(self.path, body), now)
            if holder and holder != self.identity:
                self.took_over = f"{holder}: " + ("its process is gone" if gone and expiry is not None and expiry > now
                                                  else "its lease had lapsed")
        except (Conflict, NotFound):
            # Someone else changed it between our read and our write: they were faster.
            latest = self.kube.get_optional(self.path)
            self.holder = ((latest or {}).get("spec") or {}).get("holderIdentity")
            raise self._refusal("another migration took the cluster lock just now") from None

    def _refusal(self, why: str) -> LockHeld:
        return LockHeld(f"{why}{f': {self.holder}' if self.holder else ''}", WAIT_HINT)

    def _new_lease(self, plan_digest: str, now: float) -> dict:
        stamp = micro_time(now)
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace,
                             "labels": {MANAGED_BY_LABEL: "migrate"},
                             "annotations": {PLAN_ANNOTATION: plan_digest}},
                "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": self.ttl_seconds,
                         "acquireTime": stamp, "renewTime": stamp, "leaseTransitions": 0}}

    def _hold(self, lease: dict, now: float) -> None:
        self._lease, self._renewed_at, self.holder = lease, now, self.identity

    # ---- renew ---------------------------------------------------------------------------------

    def renew_if_due(self) -> None:
        """Renew once a third of the TTL has passed since the last renewal, leaving two chances
        before the Lease lapses. Cheap to call often: no request unless due."""
        if self._lease is None or self._renewed_at is None:
            return
        if self.clock.now() - self._renewed_at >= self.ttl_seconds / 3:
            self.renew()

    def renew(self) -> None:
        """Push renewTime forward; LockHeld when the Lease was deleted or taken over."""
        if self._lease is None:
            raise LockHeld("cannot renew the cluster lock: it is not held", "acquire it first")
        now = self.clock.now()
        for _ in range(2):  # a Conflict from a change that left us the holder: re-read, retry once
            body = {**self._lease, "spec": {**self._lease["spec"], "renewTime": micro_time(now)}}
            try:
                self._hold(self.kube.replace(self.path, body), now)
                return
            except NotFound:
                self._lost(None)
            except Conflict:
                current = self.kube.get_optional(self.path)
                holder = ((current or {}).get("spec") or {}).get("holderIdentity")
                if current is None or holder != self.identity:
                    self._lost(current)
                self._lease = current
        raise LockHeld("could not renew the cluster lock: its Lease kept changing under us", LOST_HINT)

    def _lost(self, current: dict | None) -> None:
        self._lease = self._renewed_at = None
        self.holder = ((current or {}).get("spec") or {}).get("holderIdentity")
        if current is None:
            raise LockHeld("lost the cluster lock: its Lease was deleted", LOST_HINT)
        raise LockHeld(f"lost the cluster lock to {self.holder or '(nobody)'}", LOST_HINT)

    # ---- release --------------------------------------------------------------------------------

    def release(self) -> None:
        """Delete the Lease if it is still ours. Never raises when it is already gone."""
        if self._lease is None:
            return
        self._lease = self._renewed_at = None
        current = self.kube.get_optional(self.path)
        if current is None:
            return
        holder = (current.get("spec") or {}).get("holderIdentity")
        if holder != self.identity:
            self.holder = holder
            return  # taken over after ours lapsed: the Lease is someone else's now
        try:
            self.kube.delete(self.path, uid=current["metadata"]["uid"])
        except (NotFound, Conflict):
            pass
        self.holder = None


def break_lock(kube: Kube, lock: ClusterLock, watch_seconds: float | None = None) -> dict:
    """Delete the Lease someone else holds (`migrate unlock`): at once when it lapsed or its holder's process on this
    host is gone; otherwise only after watching it for a renewal interval and more without a renewal. Returns the
    Lease broken; LockHeld when its holder renewed it meanwhile (it is alive); NotFound when there is none."""
    current = kube.get(lock.path)
    spec = current.get("spec") or {}
    now = lock.clock.now()
    expiry = expires_at(current)
    if expiry is not None and expiry > now and not holder_process_gone(spec.get("holderIdentity")):
        ttl = float(spec.get("leaseDurationSeconds") or lock.ttl_seconds)
        lock.clock.sleep(watch_seconds if watch_seconds is not None else ttl / 3 + 5)  # client-go renews each ttl/3
        latest = kube.get_optional(lock.path)
        if latest is None:
            return current
        if (latest.get("spec") or {}) != spec:
            holder = (latest.get("spec") or {}).get("holderIdentity")
            raise LockHeld(f"not unlocking: {holder} renewed the cluster lock while we watched, so its run is alive",
                           "wait for it to finish, or stop it where it runs")
    kube.delete(lock.path, uid=current["metadata"]["uid"])
    return current


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 and seconds % 60 else (
        f"{seconds // 60}m" if seconds >= 60 else f"{seconds}s")
