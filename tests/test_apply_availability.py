"""A whole migration keeps every replicated workload up: no wave, and no drain, takes its last ready replica."""
from __future__ import annotations

from pathlib import Path

# kubeadm's CoreDNS (2 replicas, no PDB) on dns-a-1 and dns-b-1, in two zones; at 50% the zone-interleaved
# waves are two nodes wide, and a wave used to take dns-a-1 and dns-b-1 together.
DNS_PAIR = str(Path(__file__).parent / "scenarios" / "dns-pair.yaml")


def test_no_wave_drains_both_coredns_replicas_so_dns_answers_throughout(migration):
    run = migration(DNS_PAIR, max_unavailable="50%")
    assert run.apply()
    probe = run.cluster.network.probe
    assert probe.dns_lookups > 0
    assert probe.recent_dns_failures == []
    assert run.failed_flows() == 0


def test_the_plan_keeps_the_coredns_nodes_in_different_waves(migration):
    run = migration(DNS_PAIR, max_unavailable="50%")
    assert not any({"dns-a-1", "dns-b-1"} <= set(w.nodes) for w in run.plan.waves)
