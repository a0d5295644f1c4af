"""The planner as a specification: a pure function of hand-written snapshots and options."""
from __future__ import annotations

import dataclasses

import pytest

from handmade import as_snapshot, node, pod
from migrate.errors import EXIT_BLOCKED
from migrate.plan import PHASES, PlanBlocked, PlanOptionError, PlanOptions, build_plan

NODE_SEQUENCE = ["cordon", "drain", "flannel-off", "host-cleanup", "delete-pods", "calico-on", "wait-calico",
                 "verify", "uncordon"]


def plan_for(content, **options):
    return build_plan(as_snapshot(content), PlanOptions(**options))


def add_workers(content, count, zones=("zone-a",), cidr_base=10, mask=24):
    for i in range(count):
        name = f"w-{i + 1}"
        cidr = f"10.244.{cidr_base + i}.0/{mask}"
        content["nodes"].append(node(name, f"192.168.10.{100 + i}", cidr, zone=zones[i % len(zones)]))
    return content


def node_suffixes(plan, name):
    return [s.id.split("/")[-1] for s in plan.steps if s.node == name and s.phase == "waves"]


def test_same_snapshot_and_options_give_the_same_plan_digest(snap):
    assert plan_for(snap).digest == plan_for(snap).digest


def test_the_plan_is_bound_to_its_snapshot(snap):
    plan = plan_for(snap)
    assert plan.snapshot_digest == as_snapshot(snap).digest
    assert plan.cluster_id == "cluster-uid-1"
    snap["nodes"][1]["zone"] = "zone-b"
    assert plan_for(snap).snapshot_digest != plan.snapshot_digest


def test_phases_come_in_order_gates_prepare_waves_finalize_post_verify(snap):
    order = [PHASES.index(s.phase) for s in plan_for(snap).steps]
    assert order == sorted(order)
    assert {s.phase for s in plan_for(snap).steps} == set(PHASES)


def test_step_ids_are_unique_and_name_their_node(snap):
    plan = plan_for(snap)
    ids = [s.id for s in plan.steps]
    assert len(ids) == len(set(ids))
    assert "node/worker-1/drain" in ids
    assert all(s.id.startswith(f"node/{s.node}/") for s in plan.steps if s.phase == "waves" and s.node)


def test_every_step_says_what_it_changes_how_it_is_checked_and_undone(snap):
    for step in plan_for(snap).steps:
        assert step.changes and step.check and step.undo, step.id
        assert step.reversible or step.runbook, f"{step.id} is irreversible without a runbook reference"


def test_each_node_is_handed_off_in_the_documented_sequence(snap):
    plan = plan_for(snap)
    for name in ("cp-1", "worker-1", "worker-2"):
        assert node_suffixes(plan, name) == NODE_SEQUENCE


def test_a_node_cordoned_before_the_migration_stays_cordoned(snap):
    snap["nodes"][1]["unschedulable"] = True
    plan = plan_for(snap)
    assert node_suffixes(plan, "worker-1") == NODE_SEQUENCE[:-1]
    cordon = plan.step("node/worker-1/cordon")
    assert cordon.params["wasCordoned"] is True and "stays cordoned" in cordon.undo


def test_one_canary_first_then_workers_then_control_plane_one_at_a_time(snap):
    add_workers(snap, 6, zones=("zone-a", "zone-b", "zone-c"))
    snap["nodes"].append(node("cp-2", "192.168.10.9", "10.244.99.0/24"))
    snap["nodes"][-1]["roles"] = ["control-plane"]
    snap["nodes"][0]["roles"] = ["control-plane"]
    plan = plan_for(snap)
    assert plan.waves[0].name == "canary" and len(plan.waves[0].nodes) == 1
    control = [w for w in plan.waves if w.name.startswith("control-plane")]
    assert [len(w.nodes) for w in control] == [1, 1]
    assert plan.waves[-2:] == tuple(control)


def test_the_canary_is_the_worker_with_the_fewest_pods_to_move(snap):
    # worker-1 and worker-2 each run one pod in the hand-written snapshot; w-1 runs none
    snap["nodes"][0]["roles"] = ["control-plane"]
    add_workers(snap, 1)
    assert plan_for(snap).waves[0].nodes == ("w-1",)


def test_a_small_zone_never_has_two_nodes_out_at_once(snap):
    add_workers(snap, 12, zones=("zone-a", "zone-b", "zone-c"))
    plan = plan_for(snap, max_unavailable="50%")
    zone_of = {n["name"]: n["zone"] for n in snap["nodes"]}
    for wave in plan.waves:
        zones = [zone_of[n] for n in wave.nodes]
        assert len(zones) == len(set(zones)), wave


def test_a_large_zone_may_lose_a_tenth_of_its_nodes_at_once(snap):
    add_workers(snap, 40, zones=("zone-a",))
    plan = plan_for(snap, max_unavailable="50%")
    assert max(len(w.nodes) for w in plan.waves) == 4  # 42 workers in zone-a: 42 // 10


def test_max_unavailable_takes_a_count_or_a_percent_of_all_nodes(snap):
    add_workers(snap, 17, zones=[f"zone-{i}" for i in range(20)])  # every node its own zone
    assert plan_for(snap, max_unavailable="3").options["maxUnavailableNodes"] == 3
    assert plan_for(snap, max_unavailable="20%").options["maxUnavailableNodes"] == 4  # 20 nodes
    assert plan_for(snap, max_unavailable="1%").options["maxUnavailableNodes"] == 1  # never zero
    widest = max(len(w.nodes) for w in plan_for(snap, max_unavailable="3").waves)
    assert widest == 3


@pytest.mark.parametrize("value", ["0", "150%", "abc", "-1", "0%"])
def test_a_max_unavailable_that_is_not_a_positive_count_or_percent_is_refused(snap, value):
    with pytest.raises(PlanOptionError, match="--max-unavailable"):
        plan_for(snap, max_unavailable=value)


def test_an_explicit_node_order_is_followed(snap):
    plan = plan_for(snap, explicit_order=("worker-2", "cp-1", "worker-1"), max_unavailable="1")
    assert [w.nodes for w in plan.waves] == [("worker-2",), ("cp-1",), ("worker-1",)]


def test_an_explicit_node_order_must_name_every_node_once(snap):
    with pytest.raises(PlanOptionError, match="not in the snapshot: ghost.*missing: worker-1"):
        plan_for(snap, explicit_order=("worker-2", "cp-1", "ghost"))


def test_calico_ipam_claims_each_nodes_exact_podcidr_as_blocks(snap):
    plan = plan_for(snap)
    claim = plan.step("prepare/ipam/worker-1")
    assert claim.kind == "claim-node-ipam"
    assert claim.params["blocks"] == ["10.244.1.0/24"]
    assert plan.step("prepare/calico/ippool").params["blockSize"] == 24


def test_blocks_follow_the_longest_node_mask_and_split_larger_podcidrs(snap):
    snap["nodes"][2]["podCIDRs"] = [{"cidr": "10.244.2.0/25", "prefixLength": 25}]
    plan = plan_for(snap)
    assert plan.step("prepare/calico/ippool").params["blockSize"] == 25
    assert plan.step("prepare/ipam/worker-1").params["blocks"] == ["10.244.1.0/25", "10.244.1.128/25"]
    assert plan.step("prepare/calico/ipam-config").params == {"strictAffinity": True, "maxBlocksPerHost": 2}


def test_the_calico_tunnel_takes_flannels_vtep_address_and_mac(snap):
    snap["nodes"][1]["flannel"]["vtepMAC"] = "aa:bb:cc:dd:ee:01"
    params = plan_for(snap).step("prepare/ipam/worker-1").params
    assert params["tunnelAddress"] == "10.244.1.0"
    assert params["vtepMAC"] == "aa:bb:cc:dd:ee:01"


def test_host_local_ipam_sets_only_the_tunnel_and_claims_no_blocks(snap):
    plan = plan_for(snap, ipam="host-local")
    kinds = {s.kind for s in plan.steps}
    assert "claim-node-ipam" not in kinds and "ipam-config" not in kinds
    assert plan.step("prepare/tunnel/worker-1").params["tunnelAddress"] == "10.244.1.0"


def test_felix_speaks_flannels_vxlan_with_flannels_mtu(snap):
    snap["flannel"]["netConf"]["backend"].update(vni=7, port=8999, mtu=1450)  # Backend.MTU: the underlay's
    assert plan_for(snap).step("prepare/calico/felix-configuration").params == {
        "vxlanVNI": 7, "vxlanPort": 8999, "vxlanMTU": 1400}


def test_without_backend_mtu_the_plan_assumes_1450_and_says_so(snap):
    step = plan_for(snap).step("prepare/flannel-mtu")
    assert step.params["mtu"] == 1450 and "assumed" in step.params["source"] and "1450" in step.changes


def test_without_backend_mtu_the_mtu_option_sets_calicos(snap):
    plan = plan_for(snap, mtu=1350)
    assert plan.step("prepare/calico/felix-configuration").params["vxlanMTU"] == 1350
    assert plan.step("prepare/calico/manifest").params["vxlanMTU"] == 1350
    assert plan.step("prepare/flannel-mtu").params["source"] == "--mtu"


def test_an_mtu_option_that_disagrees_with_backend_mtu_is_refused(snap):
    snap["flannel"]["netConf"]["backend"]["mtu"] = 1400
    with pytest.raises(PlanOptionError, match="--mtu 1450 disagrees with Flannel's Backend.MTU 1400"):
        plan_for(snap, mtu=1450)
    assert plan_for(snap, mtu=1350).step("prepare/calico/felix-configuration").params["vxlanMTU"] == 1350


def test_an_mtu_out_of_range_is_refused(snap):
    with pytest.raises(PlanOptionError, match="--mtu 99999 is out of range"):
        plan_for(snap, mtu=99999)


def test_the_mtu_is_read_on_the_nodes_right_after_the_namespace_before_calico_or_any_node(snap):
    ids = [s.id for s in plan_for(snap).steps]
    assert ids[ids.index("prepare/namespace") + 1] == "prepare/flannel-mtu"
    assert plan_for(snap).step("prepare/flannel-mtu").undo.startswith("nothing to undo")


def test_the_pool_masquerades_only_when_flannel_does(snap):
    assert plan_for(snap).step("prepare/calico/ippool").params["natOutgoing"] is True
    snap["flannel"]["args"] = ["--kube-subnet-mgr"]
    assert plan_for(snap).step("prepare/calico/ippool").params["natOutgoing"] is False


def test_policies_are_held_until_finalize_by_default(snap):
    assert "prepare/policy-hold" in [s.id for s in plan_for(snap).steps]  # covers policies created meanwhile
    snap["networkPolicies"] = [{"namespace": "shop", "name": "deny", "podSelector": {}, "policyTypes": ["Ingress"],
                                "ingress": [], "egress": [], "selectedPods": ["web-1"]}]
    plan = plan_for(snap)
    assert plan.step("prepare/policy-hold").params["action"] == "Allow"
    assert plan.step("finalize/policy-release").params["networkPolicies"] == ["shop/deny"]
    assert "prepare/policy-hold" not in [s.id for s in plan_for(snap, policy="per-node").steps]


def test_encapsulation_vxlan_rekeys_to_calicos_own_vxlan_at_finalize(snap):
    switch = plan_for(snap, encapsulation="vxlan").step("finalize/encapsulation")
    assert switch.params["to"] == {"vxlanMode": "Always", "ipipMode": "Never", "vxlanVNI": 4096, "vxlanPort": 4789}
    assert switch.params["from"]["vxlanVNI"] == 1


def test_unencapsulated_routing_is_refused(snap):
    with pytest.raises(PlanBlocked) as raised:
        plan_for(snap, encapsulation="none")
    assert "ENCAPSULATION_NEEDS_BGP" in raised.value.message


def test_vxlan_crosssubnet_encapsulates_only_between_subnets_and_warns_of_the_switch(snap):
    plan = plan_for(snap, encapsulation="vxlan-crosssubnet")
    assert plan.step("finalize/encapsulation").params["to"]["vxlanMode"] == "CrossSubnet"
    assert "ENCAPSULATION_SWITCH_GAP" in [f["code"] for f in plan.findings]


def test_by_default_finalize_stays_on_flannel_compatible_vxlan_with_no_switch(snap):
    plan = plan_for(snap)
    assert plan.options["encapsulation"] == "keep"
    assert not [s for s in plan.steps if s.kind == "switch-encapsulation"]
    assert "ENCAPSULATION_SWITCH_GAP" not in [f["code"] for f in plan.findings]


def test_flannel_is_backed_up_before_anything_and_retired_only_at_finalize(snap):
    plan = plan_for(snap)
    backed_up = plan.step("prepare/backup").params["objects"]
    assert [o["kind"] for o in backed_up] == ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                                              "ConfigMap", "DaemonSet"]
    assert plan.step("finalize/retire-flannel").params["objects"] == backed_up
    ids = [s.id for s in plan.steps]
    assert ids.index("prepare/backup") < ids.index("prepare/calico/manifest")


def test_calico_node_is_unselected_before_the_migration_labels_go(snap):
    ids = [s.id for s in plan_for(snap).steps]
    assert ids.index("finalize/calico-unselect") < ids.index("finalize/drop-labels")


def test_every_wave_ends_with_a_health_gate(snap):
    plan = plan_for(snap)
    for wave in plan.waves:
        wave_steps = [s for s in plan.steps if s.wave == wave.index]
        assert wave_steps[-1].kind == "health-gate"


def test_a_blocker_refuses_to_plan_with_exit_3(snap):
    snap["flannel"]["netConf"]["backend"]["type"] = "host-gw"
    with pytest.raises(PlanBlocked) as raised:
        plan_for(snap)
    assert raised.value.exit_code == EXIT_BLOCKED
    assert "BACKEND_NOT_VXLAN" in raised.value.message


def test_unmanaged_pods_need_force_and_emptydir_pods_need_consent(snap):
    snap["pods"]["worker-1"] += [pod("debug", kind="unmanaged"), pod("cache-1", empty_dir=True)]
    with pytest.raises(PlanBlocked) as raised:
        plan_for(snap)
    codes = [f.code for f in raised.value.findings if f.severity == "blocker"]
    assert codes == ["DRAIN_NEEDS_FORCE", "DRAIN_NEEDS_DELETE_EMPTYDIR_DATA"]
    drain = plan_for(snap, force=True, delete_emptydir_data=True).step("node/worker-1/drain")
    assert drain.params["unmanaged"] == ["default/debug"] and drain.params["emptyDir"] == ["default/cache-1"]
    assert not drain.reversible and drain.runbook


def test_an_unpinned_calico_manifest_is_a_warning_and_a_pinned_one_is_recorded(snap):
    codes = [f["code"] for f in plan_for(snap).findings]
    assert "CALICO_MANIFEST_NOT_PINNED" in codes
    pinned = {"source": "calico.yaml", "sha256": "ab" * 32}
    plan = plan_for(snap, calico_manifest=pinned)
    assert "CALICO_MANIFEST_NOT_PINNED" not in [f["code"] for f in plan.findings]
    assert plan.step("prepare/calico/manifest").params["manifest"] == pinned


def test_the_hand_off_pod_uses_flannels_image_unless_told_otherwise(snap):
    assert plan_for(snap).step("node/worker-1/host-cleanup").params["image"] == snap["flannel"]["image"]
    assert plan_for(snap, cleanup_image="busybox:1.36").step("node/worker-1/host-cleanup").params["image"] == \
        "busybox:1.36"


def test_nftables_flannel_gets_its_tables_removed_not_iptables_chains(snap):
    snap["flannel"]["netConf"]["enableNFTables"] = True
    script = plan_for(snap, cleanup_image="registry.example/tools:nft").step("node/worker-1/host-cleanup").params[
        "script"]
    assert "nft delete table ip flannel-ipv4 || true" in script and "nft delete table ip6 flannel-ipv6 || true" in script
    assert not any("FLANNEL-POSTRTG" in line for line in script)


def test_nftables_flannel_before_v0_25_needs_a_hand_off_image_with_nft(snap):
    snap["flannel"]["netConf"]["enableNFTables"] = True
    snap["flannel"]["image"] = "docker.io/flannel/flannel:v0.24.4"  # images/Dockerfile: no nftables until v0.25.0
    with pytest.raises(PlanBlocked, match="CLEANUP_IMAGE_NEEDS_NFT"):
        plan_for(snap)


@pytest.mark.parametrize("image", ["ghcr.io/flannel-io/flannel:v0.25.0", "ghcr.io/flannel-io/flannel:v0.28.9",
                                   "rancher/mirrored-flannel-flannel:v0.25.1"])
def test_nftables_flannel_from_v0_25_cleans_up_with_its_own_image(snap, image):
    snap["flannel"]["netConf"]["enableNFTables"] = True
    snap["flannel"]["image"] = image
    assert plan_for(snap).step("node/worker-1/host-cleanup").params["image"] == image


@pytest.mark.parametrize("field,value", [("encapsulation", "geneve"), ("ipam", "whereabouts"),
                                         ("calico_version", "latest"), ("canaries", -1), ("drain_timeout", 0),
                                         ("namespace", "Bad_Name")])
def test_an_impossible_option_is_refused_before_planning(snap, field, value):
    with pytest.raises(PlanOptionError):
        build_plan(as_snapshot(snap), dataclasses.replace(PlanOptions(), **{field: value}))


def test_a_plan_file_loads_back_as_the_same_plan(snap, tmp_path):
    from migrate.plan import load_plan, plan_to_yaml
    plan = plan_for(snap)
    (tmp_path / "plan.yaml").write_text(plan_to_yaml(plan))
    assert load_plan(tmp_path / "plan.yaml") == plan


def test_waves_after_the_canary_grow_2_4_8_up_to_the_limits(snap):
    add_workers(snap, 77, zones=("zone-a",))  # 80 workers in one zone: 8 at once
    sizes = [len(w.nodes) for w in plan_for(snap, max_unavailable="50%").waves]
    assert sizes[:5] == [1, 2, 4, 8, 8]


def test_zone_limits_count_workers_only(snap):
    for n in snap["nodes"][:2]:
        n["roles"] = ["control-plane"]
    add_workers(snap, 9, zones=("zone-a",))  # 10 workers, 12 nodes in zone-a
    assert plan_for(snap).options["zoneLimits"] == {"zone-a": 1}


def test_each_node_says_which_policies_start_to_apply_to_its_pods(snap):
    snap["networkPolicies"] = [{"namespace": "shop", "name": "db-only-from-web", "podSelector": {},
                                "policyTypes": ["Ingress"], "ingress": [], "egress": [], "selectedPods": ["db-0"]}]
    per_node = plan_for(snap, policy="per-node")
    assert "today: shop/db-only-from-web (db-0)" in per_node.step("node/worker-2/calico-on").changes
    assert "none of today's pods here is selected" in per_node.step("node/worker-1/calico-on").changes
    held = plan_for(snap)
    assert "stay unenforced here (migration-allow-all) until finalize" in held.step("node/worker-1/calico-on").changes


def place(snap, workload, nodes, namespace="kube-system", labels=None, ready=True):
    """One replica of `workload` (Kind/name) on each of `nodes`."""
    for i, name in enumerate(nodes):
        snap["pods"].setdefault(name, []).append(pod(f"{workload.split('/')[1]}-{i}", namespace, labels=labels,
                                                     workload=workload, ready=ready))


def waves_of(plan, pods_on):
    """Per wave, which of the given nodes it hands off."""
    return [set(w.nodes) & set(pods_on) for w in plan.waves]


def test_no_wave_drains_every_ready_replica_of_a_workload(snap):
    add_workers(snap, 8, zones=("zone-a", "zone-b"))
    place(snap, "Deployment/coredns", ["w-1", "w-2"], labels={"k8s-app": "kube-dns"})  # kubeadm's: 2, no PDB
    plan = plan_for(snap, max_unavailable="50%")
    assert all(len(hit) < 2 for hit in waves_of(plan, ["w-1", "w-2"]))


def test_a_wave_drains_no_more_ready_replicas_than_their_pdb_allows(snap):
    add_workers(snap, 8, zones=("zone-a", "zone-b"))
    place(snap, "StatefulSet/db", ["w-1", "w-2", "w-3", "w-4"], namespace="shop", labels={"app": "db"})
    snap["podDisruptionBudgets"].append({
        "namespace": "shop", "name": "db", "selector": {"matchLabels": {"app": "db"}}, "minAvailable": 3,
        "maxUnavailable": None, "status": {"currentHealthy": 4, "desiredHealthy": 3, "disruptionsAllowed": 1,
                                           "expectedPods": 4}})
    plan = plan_for(snap, max_unavailable="50%")
    assert all(len(hit) <= 1 for hit in waves_of(plan, ["w-1", "w-2", "w-3", "w-4"]))


def test_replicas_that_are_not_ready_do_not_count_as_staying_up(snap):
    add_workers(snap, 8, zones=("zone-a", "zone-b"))
    place(snap, "Deployment/api", ["w-1", "w-2"], namespace="shop")
    place(snap, "Deployment/api", ["w-5"], namespace="shop", ready=False)
    plan = plan_for(snap, max_unavailable="50%")
    assert all(len(hit) < 2 for hit in waves_of(plan, ["w-1", "w-2"]))


def test_the_plan_names_workloads_with_a_single_ready_replica_as_down_during_their_wave(snap):
    add_workers(snap, 4, zones=("zone-a",))
    place(snap, "Deployment/report", ["w-1"], namespace="shop")
    place(snap, "ReplicaSet/cache", ["w-2", "w-2"], namespace="shop")  # the drain waits for a ready replacement
    finding = next(f for f in plan_for(snap).findings if f["code"] == "WORKLOAD_DOWN_DURING_WAVE")
    assert "shop Deployment/report (its only ready replica is on w-1)" in finding["message"]
    assert "cache" not in finding["message"]


def test_a_workload_spread_over_waves_needs_no_finding(snap):
    add_workers(snap, 8, zones=("zone-a", "zone-b"))
    place(snap, "Deployment/coredns", ["w-1", "w-2"], labels={"k8s-app": "kube-dns"})
    assert "WORKLOAD_DOWN_DURING_WAVE" not in {f["code"] for f in plan_for(snap, max_unavailable="50%").findings}


def test_the_health_gate_promises_only_what_it_checks(snap):
    # the gate waits for Ready nodes and agents and no Pending pod; reachability is each node's verify-node step
    gates = [s for s in plan_for(snap).steps if s.kind == "health-gate"]
    assert gates and all("reach each other" not in g.changes and "Pending" in g.changes
                         and "each node's verify step" in g.changes for g in gates)
