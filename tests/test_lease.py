"""The cluster lock: one executor per cluster, taken over only once its Lease lapses."""
from __future__ import annotations

import os

import pytest

from migrate.errors import EXIT_LOCKED
from migrate.execute.errors import LockHeld
from migrate.execute.lease import ClusterLock, default_identity

PLAN = "sha256:" + "a" * 64
LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/flannel-to-calico-migration"


@pytest.fixture
def lock_for(served_small, kube_of, clock_of):
    """A ClusterLock for an identity, each with its own connection, on the simulated clock."""
    clock = clock_of(served_small.cluster)
    return lambda identity: ClusterLock(kube_of(served_small), identity=identity, clock=clock, ttl_seconds=60)


def lease_writes(running):
    return [r for r in running.request_log.writes() if r.resource == "leases"]


def test_acquire_creates_the_lease(lock_for, kube_of, served_small):
    lock_for("alice").acquire(PLAN)
    lease = kube_of(served_small).get(LEASE)
    assert lease["spec"]["holderIdentity"] == "alice" and lease["spec"]["leaseDurationSeconds"] == 60
    assert lease["spec"]["renewTime"].endswith("Z") and "." in lease["spec"]["renewTime"]
    assert lease["metadata"]["annotations"]["migrate/plan-digest"] == PLAN


def test_second_identity_is_refused_naming_the_holder(lock_for):
    lock_for("alice").acquire(PLAN)
    bob = lock_for("bob")
    with pytest.raises(LockHeld, match="alice since .*expires in 60s") as refused:
        bob.acquire(PLAN)
    assert refused.value.exit_code == EXIT_LOCKED == 4
    assert bob.holder == "alice" and "migrate unlock PLAN" in refused.value.hint


def test_same_identity_reacquires(lock_for):
    lock_for("alice").acquire(PLAN)
    lock_for("alice").acquire(PLAN)


def test_lapsed_lease_is_taken_over(lock_for, served_small, kube_of):
    lock_for("alice").acquire(PLAN)
    served_small.cluster.advance(61)
    lock_for("bob").acquire(PLAN)
    spec = kube_of(served_small).get(LEASE)["spec"]
    assert spec["holderIdentity"] == "bob" and spec["leaseTransitions"] == 1


def test_losing_the_take_over_race_is_refused(lock_for, served_small):
    lock_for("alice").acquire(PLAN)
    served_small.cluster.advance(61)
    bob, carol = lock_for("bob"), lock_for("carol")
    read = bob.kube.get_optional

    def read_then_carol_takes_over(path):
        lease = read(path)
        bob.kube.get_optional = read
        carol.acquire(PLAN)  # between bob's read and bob's replace
        return lease
    bob.kube.get_optional = read_then_carol_takes_over
    with pytest.raises(LockHeld, match="carol"):
        bob.acquire(PLAN)


def test_renew_writes_only_when_a_third_of_the_ttl_passed(lock_for, served_small, kube_of):
    alice = lock_for("alice")
    alice.acquire(PLAN)
    served_small.request_log.clear()
    served_small.cluster.advance(19)
    alice.renew_if_due()
    assert lease_writes(served_small) == []
    served_small.cluster.advance(1)
    alice.renew_if_due()
    assert len(lease_writes(served_small)) == 1
    alice.renew_if_due()
    assert len(lease_writes(served_small)) == 1


def test_renewal_keeps_others_out_past_the_first_ttl(lock_for, served_small):
    alice = lock_for("alice")
    alice.acquire(PLAN)
    for _ in range(4):
        served_small.cluster.advance(20)
        alice.renew_if_due()
    with pytest.raises(LockHeld, match="alice"):
        lock_for("bob").acquire(PLAN)


def test_renew_after_a_take_over_says_the_lock_was_lost(lock_for, served_small):
    alice = lock_for("alice")
    alice.acquire(PLAN)
    served_small.cluster.advance(61)
    lock_for("bob").acquire(PLAN)
    with pytest.raises(LockHeld, match="lost the cluster lock to bob"):
        alice.renew_if_due()


def test_release_deletes_the_lease(lock_for, served_small, kube_of):
    alice = lock_for("alice")
    alice.acquire(PLAN)
    alice.release()
    assert kube_of(served_small).get_optional(LEASE) is None
    alice.release()  # already gone: no error


def test_release_by_a_lapsed_holder_leaves_the_new_holders_lease(lock_for, served_small, kube_of):
    alice = lock_for("alice")
    alice.acquire(PLAN)
    served_small.cluster.advance(61)
    lock_for("bob").acquire(PLAN)
    alice.release()
    assert kube_of(served_small).get(LEASE)["spec"]["holderIdentity"] == "bob"


def test_release_after_the_lease_was_deleted_does_not_raise(lock_for, served_small, kube_of):
    alice = lock_for("alice")
    alice.acquire(PLAN)
    kube_of(served_small).delete(LEASE)
    alice.release()


def test_default_identity_names_user_host_and_pid():
    assert default_identity("admin").startswith("admin@") and default_identity("admin").endswith(f"pid {os.getpid()}")
