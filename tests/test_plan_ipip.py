"""Finalize onto IPIP: the plan's ordered, zero-drop switch, chosen by the pinned Calico release."""
from __future__ import annotations

import pytest

from handmade import as_snapshot, node
from migrate.plan import PlanBlocked, PlanOptions, build_plan

FELIX_ORDER = ["cloud-checklist", "tunnel-pool", "felix", "ready", "switch", "converged", "retire-vxlan", "mtu"]
BIRD_ORDER = ["cloud-checklist", "tunnel-pool", "bgp-configuration", "bird", "felix", "ready", "switch",
              "converged", "retire-vxlan", "mtu"]


def plan_for(content, **options):
    return build_plan(as_snapshot(content), PlanOptions(**options))


def ipip_steps(plan):
    return [s.id.split("/", 2)[2] for s in plan.steps if s.id.startswith("finalize/ipip/")]


@pytest.mark.parametrize("target,mode", [("ipip-crosssubnet", "CrossSubnet"), ("ipip", "Always")])
def test_ipip_targets_are_planned_with_felix_programming_the_routes_on_a_recent_release(snap, target, mode):
    plan = plan_for(snap, encapsulation=target, calico_version="v3.32.1")
    assert ipip_steps(plan) == FELIX_ORDER
    assert plan.step("finalize/ipip/felix").params["set"] == {"ipipEnabled": True, "ipipMTU": 1450,
                                                               "programClusterRoutes": "Enabled"}
    assert plan.step("finalize/ipip/switch").params["to"] == {"vxlanMode": "Never", "ipipMode": mode}
    assert plan.step("finalize/ipip/tunnel-pool").params["ipipMode"] == mode


def test_a_release_before_v3_31_programs_ipip_routes_through_bird(snap):
    plan = plan_for(snap, encapsulation="ipip-crosssubnet", calico_version="v3.30.5")
    assert ipip_steps(plan) == BIRD_ORDER
    assert "programClusterRoutes" not in plan.step("finalize/ipip/felix").params["set"]
    assert plan.step("finalize/ipip/bgp-configuration").params["nodeToNodeMeshEnabled"] is True
    assert plan.step("finalize/ipip/bird").params["probes"] == {"livenessProbe": "-bird-live",
                                                               "readinessProbe": "-bird-ready"}
    assert any("TCP 179" in item for item in plan.step("finalize/ipip/cloud-checklist").params["items"])


def test_the_switch_is_one_pool_patch_after_every_node_runs_both_and_vxlan_goes_only_after_all_moved(snap):
    plan = plan_for(snap, encapsulation="ipip-crosssubnet")
    assert plan.step("finalize/ipip/ready").params["state"] == "both"
    assert plan.step("finalize/ipip/converged").params["state"] == "ipip"
    assert plan.step("finalize/ipip/retire-vxlan").params["set"] == {"vxlanEnabled": None}
    ids = [s.id for s in plan.steps]
    assert ids.index("finalize/ipip/cloud-checklist") < ids.index("finalize/ipip/felix") < \
        ids.index("finalize/ipip/switch") < ids.index("finalize/ipip/retire-vxlan")
    assert not any(s.id == "finalize/encapsulation" for s in plan.steps)


def test_the_ipip_mtu_is_raised_to_the_underlays_less_20_only_after_vxlan_is_retired(snap):
    snap["flannel"]["netConf"]["backend"]["mtu"] = 9000
    plan = plan_for(snap, encapsulation="ipip-crosssubnet")
    assert plan.step("finalize/ipip/felix").params["set"]["ipipMTU"] == 8950
    assert plan.step("finalize/ipip/mtu").params["set"] == {"ipipMTU": 8980}
    ids = [s.id for s in plan.steps]
    assert ids.index("finalize/ipip/retire-vxlan") < ids.index("finalize/ipip/mtu")


def test_rolling_back_the_switch_or_the_retirement_waits_for_every_node(snap):
    plan = plan_for(snap, encapsulation="ipip-crosssubnet")
    assert plan.step("finalize/ipip/switch").params["undoWaitsFor"] == "vxlan"
    assert plan.step("finalize/ipip/retire-vxlan").params["undoWaitsFor"] == "both"


def test_the_tunnel_pool_serves_only_tunnel_addresses(snap):
    params = plan_for(snap, encapsulation="ipip").step("finalize/ipip/tunnel-pool").params
    assert params["allowedUses"] == ["Tunnel"] and params["cidr"] == "100.64.0.0/16"


def test_a_tunnel_cidr_overlapping_the_pod_network_is_refused(snap):
    with pytest.raises(PlanBlocked) as raised:
        plan_for(snap, encapsulation="ipip", ipip_tunnel_cidr="10.244.200.0/24")
    assert "IPIP_TUNNEL_CIDR" in raised.value.message


def test_native_routing_inside_a_subnet_warns_of_the_source_destination_check(snap):
    codes = [f["code"] for f in plan_for(snap, encapsulation="ipip-crosssubnet").findings]
    assert "SOURCE_DEST_CHECK" in codes
    assert "SOURCE_DEST_CHECK" not in [f["code"] for f in plan_for(snap, encapsulation="ipip").findings]


def test_nodes_each_alone_in_their_subnet_need_no_source_destination_check(snap):
    for i, n in enumerate(snap["nodes"]):
        n["addresses"][0]["address"] = f"192.168.{10 + i}.10"
        n["flannel"]["publicIP"] = f"192.168.{10 + i}.10"
    assert "SOURCE_DEST_CHECK" not in [f["code"] for f in plan_for(snap, encapsulation="ipip-crosssubnet").findings]


def test_a_bird_mesh_beyond_100_nodes_warns_to_use_route_reflectors(snap):
    for i in range(100):
        snap["nodes"].append(node(f"w-{i}", f"192.168.{20 + i // 200}.{i % 200 + 20}", f"10.244.{10 + i}.0/24"))
    plan = plan_for(snap, encapsulation="ipip", calico_version="v3.30.5", max_unavailable="20")
    assert "BGP_MESH_TOO_LARGE" in [f["code"] for f in plan.findings]
    assert "BGP_MESH_TOO_LARGE" not in [f["code"] for f in plan_for(
        snap, encapsulation="ipip", max_unavailable="20").findings]


@pytest.mark.parametrize("version", ["v3.32.1", "v3.30.5"])
def test_the_runbook_gives_commands_for_every_ipip_step(snap, version):
    from migrate.plan.runbook import plan_to_markdown
    text = plan_to_markdown(plan_for(snap, encapsulation="ipip-crosssubnet", calico_version=version))
    assert '"vxlanMode": "Never", "ipipMode": "CrossSubnet"' in text and "ip route show dev vxlan.calico" in text
    assert ("calico_backend" in text) == (version == "v3.30.5")
