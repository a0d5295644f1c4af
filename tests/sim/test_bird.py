"""BGP: calico-node's BIRD with the node-to-node mesh or route reflectors, the IPIP and native routes it installs
once its sessions are Established, and `calico-node -bird-ready`."""
from ipip_cluster import (calico_node_ready, flip_timeline, install_calico, mixed, pin_pods, reach, two_subnets,
                          vxlan_cluster_ready_for_ipip)

RR_CLUSTER_ID = "projectcalico.org/RouteReflectorClusterID"


def test_the_bird_mesh_gives_routes_once_sessions_establish():
    c = install_calico(two_subnets(), backend="bird", wait=40)
    pods = pin_pods(c)
    assert reach(c, pods, "a-1", "b-1").ok and reach(c, pods, "a-1", "a-2").ok
    ip = c.store.find(c.ctx.pods, *pods["b-1"])["status"]["podIP"]
    assert c.network.path("a-1", ip, "b-1").device == "tunl0"
    assert set(c.network.bird.peer_states("a-1", c.clock.now())) == {"a-2", "b-1", "b-2"}


def test_bird_installs_no_route_before_its_sessions_are_established():
    c = install_calico(two_subnets(), backend="bird", wait=40)
    pods = pin_pods(c)
    c.ctx.timings.bgp_session = 60.0
    c.network.bird.speakers.clear()
    for node in ("a-1", "b-1"):  # both BIRDs reconfigured now: their session is down for bgp_session seconds
        c.network.bird.configure(node, c.clock.now(), "v3.32.1")
    assert "has no route" in reach(c, pods, "a-1", "b-1").reason
    c.advance(61)
    assert reach(c, pods, "a-1", "b-1").ok


def test_calico_node_with_bird_is_not_ready_while_no_bgp_session_establishes():
    # the security group drops TCP 179: every session stays down, so -bird-ready fails, before and after
    # the 30-second threshold
    c = install_calico(two_subnets(securityGroup={"allowBGP": False}), backend="bird", wait=20)
    assert not calico_node_ready(c, "a-1")
    c.advance(60)
    assert not calico_node_ready(c, "a-1")
    pods = pin_pods(c)
    assert "has no route" in reach(c, pods, "a-1", "b-1").reason


def test_calico_node_with_bird_is_ready_once_its_sessions_are_up():
    c = install_calico(two_subnets(), backend="bird", wait=40)
    assert all(calico_node_ready(c, n) for n in ("a-1", "a-2", "b-1", "b-2"))


def test_bird_ready_fails_where_the_backend_runs_no_bird():
    c = install_calico(two_subnets(), backend="vxlan", bird_probes=True, wait=40)
    assert not calico_node_ready(c, "a-1")


def test_with_the_mesh_off_and_no_peers_bird_installs_nothing():
    c = install_calico(two_subnets(), backend="bird", bgp={"nodeToNodeMeshEnabled": False})
    pods = pin_pods(c)
    assert "has no route" in reach(c, pods, "a-1", "b-1").reason


def test_route_reflectors_carry_routes_between_their_clients_when_the_mesh_is_off():
    c = two_subnets()
    c.store.mutate(c.ctx.nodes, None, "a-1", lambda n: (
        n["metadata"].setdefault("annotations", {}).__setitem__(RR_CLUSTER_ID, "244.0.0.1"),
        n["metadata"]["labels"].__setitem__("route-reflector", "true")))
    install_calico(c, backend="bird", bgp={"nodeToNodeMeshEnabled": False},
                   peers=[{"nodeSelector": "all()", "peerSelector": "route-reflector == 'true'"}])
    pods = pin_pods(c)
    assert set(c.network.bird.peer_states("b-1", c.clock.now())) == {"a-1"}
    assert reach(c, pods, "b-1", "b-2").ok  # both learn each other's blocks from the reflector
    assert reach(c, pods, "a-2", "b-2").ok


def test_bgp_configuration_program_cluster_routes_disabled_leaves_the_routes_to_felix():
    c = install_calico(two_subnets(), backend="bird", bgp={"programClusterRoutes": "Disabled"})
    pods = pin_pods(c)
    assert "has no route" in reach(c, pods, "a-1", "b-1").reason
    felix = c.ctx.registry.lookup("crd.projectcalico.org", "v1", "felixconfigurations")
    c.store.mutate(felix, None, "default", lambda f: f["spec"].__setitem__("programClusterRoutes", "Enabled"))
    c.advance(10)  # each Felix restarts for it on its own (sim/felix_config.py)
    assert reach(c, pods, "a-1", "b-1").ok


def test_an_older_release_without_program_cluster_routes_gets_its_ipip_routes_from_bird():
    c = install_calico(two_subnets(), backend="bird", version="v3.30.4",
                       bgp={"programClusterRoutes": "Disabled"})  # a field v3.30's confd does not know
    pods = pin_pods(c)
    assert reach(c, pods, "a-1", "b-1").ok and reach(c, pods, "a-1", "a-2").ok



def test_at_the_pool_flip_birds_routes_follow_each_nodes_own_view_of_the_pool():
    # confd renders each node's BIRD from its own watch of the pools (modelled on that node's Felix's view,
    # sim/felix_config.py): a node not there yet keeps Felix's VXLAN routes, one there has BIRD's IPIP/native ones
    c, pods = vxlan_cluster_ready_for_ipip("bird", {}, version="v3.30.5")
    timeline = flip_timeline(c, pods)
    assert [m for m in timeline if any(d.startswith("FAILED") for d in m.values())] == []
    assert any(mixed(moment) for moment in timeline)
    assert set(timeline[-1].values()) == {"tunl0", "eth0"}
    back = flip_timeline(c, pods, to="vxlan")  # a rollback's flip: BIRD's routes go node by node too
    assert [m for m in back if any(d.startswith("FAILED") for d in m.values())] == []
    assert any(mixed(moment) for moment in back)
    assert set(back[-1].values()) == {"vxlan.calico"}

def test_a_restarting_bird_keeps_its_routes_and_its_peers_keep_theirs_until_sessions_return():
    # persist (kernel protocol) and graceful restart (bgp_template): a calico-node restart drops no flow
    c = install_calico(two_subnets(), backend="bird", wait=40)
    pods = pin_pods(c)
    c.ctx.timings.bgp_session = 30.0
    pod = next(p for p in c.store.items(c.ctx.pods, "kube-system")
               if p["metadata"]["name"].startswith("calico-node-") and p["spec"]["nodeName"] == "a-1")
    c.store.delete(c.ctx.pods, "kube-system", pod["metadata"]["name"])
    for _ in range(12):
        c.advance(5)
        assert reach(c, pods, "a-1", "b-1").ok and reach(c, pods, "b-1", "a-1").ok
    assert calico_node_ready(c, "a-1")


def test_peers_drop_a_stopped_birds_routes_after_the_graceful_restart_time():
    c = install_calico(two_subnets(), backend="bird", wait=40)
    pods = pin_pods(c)
    c.network.bird.stop("a-1")  # BIRD on a-1 exits and nothing restarts it
    assert reach(c, pods, "b-1", "a-1").ok
    c.advance(121)
    assert "has no route" in reach(c, pods, "b-1", "a-1").reason


def test_switching_a_running_cluster_to_bird_with_bird_ready_stalls_the_rollout_on_its_first_node():
    # the first restarted calico-node runs BIRD, its mesh peers do not yet: no session can establish, so
    # -bird-ready never passes and the DaemonSet (maxUnavailable 1) restarts no other node
    c = install_calico(two_subnets(), backend="vxlan", felix={"programClusterRoutes": "Enabled"})
    c.store.mutate(c.ctx.rtype("", "configmaps"), "kube-system", "calico-config",
                   lambda o: o["data"].__setitem__("calico_backend", "bird"))
    c.store.mutate(c.ctx.rtype("apps", "daemonsets"), "kube-system", "calico-node",
                   lambda o: o["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["exec"].__setitem__(
                       "command", ["/bin/calico-node", "-felix-ready", "-bird-ready"]))
    c.advance(120)
    assert len(c.network.bird.speakers) == 1
    [first] = c.network.bird.speakers
    assert not calico_node_ready(c, first)
