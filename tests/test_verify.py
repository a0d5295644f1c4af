"""`migrate verify`'s checks, on a Flannel cluster, on a migrated one, and on one with a leftover."""
from __future__ import annotations

from pathlib import Path

from migrate.verify_cli import verify_now


def failed(results) -> list[str]:
    return [f"{what}: {why}" for what, passed, why in results if not passed]


def test_a_flannel_cluster_passes_and_is_not_searched_for_leftovers(migration):
    run = migration("small")
    results = verify_now(run.kube, run.clock, namespace="calico-migration")
    assert failed(results) == []
    assert any(what.startswith("pod-to-pod, service and DNS between") for what, _, _ in results)
    assert not any("leftover" in what for what, _, _ in results)
    run.settle(30)
    assert run.kube.get_optional("/api/v1/namespaces/calico-migration") is None  # it created and removed it


def test_a_migrated_cluster_passes_every_check_including_leftovers(migration):
    run = migration("small")
    run.apply()
    results = verify_now(run.kube, run.clock, namespace="calico-migration")
    assert failed(results) == []
    assert sum("has no Flannel leftover" in what for what, _, _ in results) == 3


def test_a_flannel_config_left_on_a_node_fails_the_leftover_check(migration):
    run = migration("small")
    run.apply()
    run.cluster.network.hosts["worker-2"].write_file("/etc/cni/net.d/10-flannel.conflist", "{}")
    results = verify_now(run.kube, run.clock, namespace="calico-migration")
    assert [f.split(":")[0] for f in failed(results)] == ["worker-2 has no Flannel leftover"]
    assert "Flannel leftover: /etc/cni/net.d/10-flannel.conflist" in failed(results)[0]


def test_a_leftover_is_named_from_the_pods_status_when_no_kubelet_serves_logs(migration):
    run = migration("small")
    run.apply()
    run.cluster.network.hosts["worker-2"].write_file("/etc/cni/net.d/10-flannel.conflist", "{}")
    run.running.cluster.admin("PATCH", ["faults"], {}, {"kubelet_unreachable": ["worker-1", "worker-2", "worker-3"]})
    results = verify_now(run.kube, run.clock, namespace="calico-migration")
    assert [f.split(":")[0] for f in failed(results)] == ["worker-2 has no Flannel leftover"]
    assert "Flannel leftover: /etc/cni/net.d/10-flannel.conflist" in failed(results)[0]


NFTABLES = str(Path(__file__).parent / "scenarios" / "nftables.yaml")


def test_flannels_nftables_table_left_on_a_node_fails_the_leftover_check(migration):
    # Flannel's tables are flannel-ipv4 / flannel-ipv6 (flannel v0.28.9 pkg/trafficmngr/nftables/nftables.go)
    run = migration(NFTABLES)
    run.apply()
    assert failed(verify_now(run.kube, run.clock, namespace="calico-migration")) == []
    run.cluster.network.hosts["worker-2"].nftables[("ip", "flannel-ipv4")] = ["chain postrtg { masquerade }"]
    results = verify_now(run.kube, run.clock, namespace="calico-migration")
    assert [f.split(":")[0] for f in failed(results)] == ["worker-2 has no Flannel leftover"]
    assert "Flannel leftover: nftables table ip flannel-ipv4" in failed(results)[0]


def test_the_leftover_check_runs_where_pod_security_enforces_baseline_by_default(migration):
    run = migration("small", pod_security={"defaults": {"enforce": "baseline"},
                                           "exemptions": {"namespaces": ["kube-system"]}})
    run.apply()
    assert run.kube.get_optional("/api/v1/namespaces/verify-probes") is None  # verify creates it
    results = verify_now(run.kube, run.clock, namespace="verify-probes")
    assert failed(results) == []
    assert sum("has no Flannel leftover" in what for what, _, _ in results) == 3
