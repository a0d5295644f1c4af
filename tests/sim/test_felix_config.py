"""Each node's Felix acts on a FelixConfiguration or IPPool change on its own, a few seconds after it is made and
apart from the others, restarting when the change needs it (migrate/sim/felix_config.py, Calico v3.32.1
felix/daemon/daemon.go, felix/calc/encapsulation_resolver.go)."""
import pytest

from migrate.sim.cluster import SimCluster

CALICO = "crd.projectcalico.org"
NODES = ("worker-1", "worker-2")


@pytest.fixture
def two_calico_nodes(prepare_calico, move_node_to_calico, calico_node_daemonset):
    """make(seed) -> `small` with worker-1 and worker-2 on Calico (Flannel's VNI 1 and port 8472) and a pod on
    each."""
    made = []

    def make(seed=0):
        c = SimCluster("small", seed=seed)
        made.append(c)
        prepare_calico(c)
        for node in NODES:
            move_node_to_calico(c, node, calico_node_daemonset())
        for node in NODES:
            c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"on-{node}", "namespace": "demo"},
                      "spec": {"nodeName": node, "containers": [{"name": "m", "image": "registry.k8s.io/pause:3.10"}]}})
        c.advance(30)
        return c
    yield make
    for c in made:
        c.stop()


def patch_felix(c, **spec):
    c.store.mutate(c.ctx.registry.lookup(CALICO, "v1", "felixconfigurations"), None, "default",
                   lambda obj: obj["spec"].update(spec))


def vni(c, node):
    return c.ctx.hosts[node].interfaces["vxlan.calico"].vni


def calico_node_ready(c, node):
    pod = next(p for p in c.store.items(c.ctx.pods, "kube-system")
               if p["metadata"]["name"].startswith("calico-node-") and p["spec"]["nodeName"] == node)
    return any(x["type"] == "Ready" and x["status"] == "True" for x in pod["status"].get("conditions") or [])


def reaches(c):
    ip = c.network.attachments[("demo", "on-worker-2")][1].ip
    return c.network.reach(("demo", "on-worker-1"), ip).ok


def rekey_timeline(c, seconds=15.0, step=0.25):
    """Re-key VXLAN to Calico's VNI and port, then record (time after the patch, VNI per node, reachable,
    calico-node Ready per node) every `step` seconds."""
    patch_felix(c, vxlanVNI=4096, vxlanPort=4789)
    start, timeline = c.clock.now(), []
    while c.clock.now() - start < seconds:
        c.advance(step)
        timeline.append((round(c.clock.now() - start, 2), tuple(vni(c, n) for n in NODES), reaches(c),
                         tuple(calico_node_ready(c, n) for n in NODES)))
    return timeline


def test_a_vni_change_reaches_each_nodes_data_plane_at_its_own_time(two_calico_nodes):
    timeline = rekey_timeline(two_calico_nodes())
    first_moved = {node: next(t for t, vnis, _, _ in timeline if vnis[i] == 4096) for i, node in enumerate(NODES)}
    assert first_moved["worker-1"] != first_moved["worker-2"]
    assert timeline[-1][1] == (4096, 4096)


def test_nodes_on_the_old_and_the_new_vni_drop_each_others_traffic_until_both_moved(two_calico_nodes):
    timeline = rekey_timeline(two_calico_nodes())
    split = [reachable for _, vnis, reachable, _ in timeline if vnis[0] != vnis[1]]
    assert split and not any(split)
    assert all(reachable for _, vnis, reachable, _ in timeline if vnis[0] == vnis[1])


def test_felix_restarts_for_a_config_change_and_calico_node_is_not_ready_meanwhile(two_calico_nodes):
    c = two_calico_nodes()
    timeline = rekey_timeline(c)
    for i, node in enumerate(NODES):
        down = [t for t, vnis, _, ready in timeline if not ready[i]]
        assert down, f"calico-node on {node} never went unready"
        # the old device carries traffic until the new Felix comes back and re-programs it
        assert all(vnis[i] == 1 for t, vnis, _, _ in timeline if t <= down[0])
    pod = next(p for p in c.store.items(c.ctx.pods, "kube-system") if p["metadata"]["name"].startswith("calico-node-")
               and p["spec"]["nodeName"] == "worker-1")
    assert "DOES require Felix to restart" in c.kubelets.logs("kube-system", pod["metadata"]["name"], "calico-node")


def test_the_stagger_is_the_seeds_and_replays(two_calico_nodes):
    assert rekey_timeline(two_calico_nodes(seed=7)) == rekey_timeline(two_calico_nodes(seed=7))


def test_a_change_felix_handles_without_a_restart_leaves_calico_node_ready(two_calico_nodes):
    c = two_calico_nodes()
    patch_felix(c, healthTimeoutOverrides=[{"name": "InternalDataplaneMainLoop", "timeout": "90s"}])
    readiness = []
    for _ in range(30):
        c.advance(0.5)
        readiness.append(all(calico_node_ready(c, n) for n in NODES))
    assert all(readiness)


def test_a_field_the_environment_sets_restarts_nothing(prepare_calico, move_node_to_calico, calico_node_daemonset):
    c = SimCluster("small")
    prepare_calico(c)
    move_node_to_calico(c, "worker-1", calico_node_daemonset({"FELIX_VXLANMTU": "1400"}))
    c.advance(30)
    patch_felix(c, vxlanMTU=1300)
    readiness = []
    for _ in range(30):
        c.advance(0.5)
        readiness.append(calico_node_ready(c, "worker-1"))
    assert all(readiness) and c.ctx.hosts["worker-1"].interfaces["vxlan.calico"].mtu == 1400
    c.stop()
