"""What a node's kubelet and container runtime do: sandboxes through CNI, the node's network
readiness, termination, and commands of privileged hostNetwork pods against the node."""
import ipaddress
import json

NET_D = "/etc/cni/net.d"
FLANNEL_CONFLIST = f"{NET_D}/10-flannel.conflist"
BUSYBOX = "docker.io/library/busybox:1.36"
PAUSE = "registry.k8s.io/pause:3.10"


def pod(name, node, image=PAUSE, command=None, namespace="demo", **spec):
    container = {"name": "main", "image": image}
    if command:
        container["command"] = command
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"nodeName": node, "containers": [container], **spec}}


def host_pod(name, node, script, mounts=(), restart="Never", read_only=False, host_network=True):
    """A privileged busybox pod pinned to a node, as a tool runs node-level commands."""
    obj = pod(name, node, BUSYBOX, ["sh", "-c", script], hostNetwork=host_network, restartPolicy=restart)
    container = obj["spec"]["containers"][0]
    container["securityContext"] = {"privileged": True}
    if mounts:
        obj["spec"]["volumes"] = [{"name": f"v{i}", "hostPath": {"path": host_path}}
                                  for i, (host_path, _) in enumerate(mounts)]
        container["volumeMounts"] = [{"name": f"v{i}", "mountPath": mount_path, "readOnly": read_only}
                                     for i, (_, mount_path) in enumerate(mounts)]
    return obj


def get_pod(c, name, namespace="demo"):
    return c.store.find(c.ctx.pods, namespace, name)


def main_state(c, name):
    return get_pod(c, name)["status"]["containerStatuses"][0]["state"]


def condition(obj, type_):
    return next((x for x in (obj.get("status") or {}).get("conditions") or [] if x["type"] == type_), None)


def events(c, name, reason):
    return [e["message"] for e in c.store.items(c.ctx.rtype("", "events"))
            if e["involvedObject"]["name"] == name and e["reason"] == reason]


def node_ready(c, node):
    return condition(c.store.find(c.ctx.nodes, None, node), "Ready")


def edit_host(c, node, change):
    """Change a node's files behind the kubelet's back (as an admin on the node would)."""
    change(c.ctx.hosts[node])
    c.kubelets.node_changed(node)


def bridge_conflist(subnet, bridge="br-test"):
    return json.dumps({"cniVersion": "0.3.1", "name": "testnet", "plugins": [
        {"type": "bridge", "bridge": bridge, "ipam": {"type": "host-local", "subnet": subnet}}]})


CALICO_CONFLIST = json.dumps({"name": "k8s-pod-network", "cniVersion": "0.3.1", "plugins": [
    {"type": "calico", "datastore_type": "kubernetes", "nodename": "worker-1", "ipam": {"type": "calico-ipam"},
     "policy": {"type": "k8s"}},
    {"type": "portmap", "snat": True, "capabilities": {"portMappings": True}}]})


# ---- CNI config selection and sandboxes -----------------------------------------------

def test_a_pod_gets_its_ip_from_the_flannel_subnet_of_its_node(small_cluster):
    c = small_cluster
    c.create(pod("plain", "worker-2"))
    c.advance(5)
    p = get_pod(c, "plain")
    cidr = ipaddress.ip_network(c.store.find(c.ctx.nodes, None, "worker-2")["spec"]["podCIDR"])
    assert p["status"]["phase"] == "Running"
    assert ipaddress.ip_address(p["status"]["podIP"]) in cidr


def test_a_pod_gets_its_ip_through_the_lexicographically_first_cni_config(small_cluster):
    c = small_cluster
    edit_host(c, "worker-1", lambda h: h.write_file(f"{NET_D}/05-test.conflist", bridge_conflist("10.99.0.0/24")))
    c.create(pod("first", "worker-1"))
    c.advance(5)
    ip = get_pod(c, "first")["status"]["podIP"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.99.0.0/24")
    assert "br-test" in c.ctx.hosts["worker-1"].interfaces


def test_a_later_config_file_is_ignored(small_cluster):
    c = small_cluster
    edit_host(c, "worker-1", lambda h: h.write_file(f"{NET_D}/99-test.conflist", bridge_conflist("10.99.0.0/24")))
    c.create(pod("second", "worker-1"))
    c.advance(5)
    ip = get_pod(c, "second")["status"]["podIP"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.244.1.0/24")


def test_files_that_are_not_cni_configs_are_ignored(small_cluster):
    c = small_cluster
    edit_host(c, "worker-1", lambda h: h.write_file(f"{NET_D}/00-readme.txt", "not a config"))
    c.create(pod("ignores", "worker-1"))
    c.advance(5)
    assert ipaddress.ip_address(get_pod(c, "ignores")["status"]["podIP"]) in ipaddress.ip_network("10.244.1.0/24")


def test_a_node_without_any_cni_config_reports_network_not_ready(small_cluster):
    c = small_cluster
    edit_host(c, "worker-1", lambda h: h.remove_file(FLANNEL_CONFLIST))
    c.advance(1)
    ready = node_ready(c, "worker-1")
    assert (ready["status"], ready["reason"]) == ("False", "KubeletNotReady")
    assert ready["message"] == ("container runtime network not ready: NetworkReady=false "
                                "reason:NetworkPluginNotReady message:Network plugin returns error: "
                                "cni plugin not initialized")


def test_a_node_without_cni_config_gets_the_not_ready_taint(small_cluster):
    c = small_cluster
    edit_host(c, "worker-1", lambda h: h.remove_file(FLANNEL_CONFLIST))
    c.advance(2)
    taints = c.store.find(c.ctx.nodes, None, "worker-1")["spec"]["taints"]
    assert {(t["key"], t["effect"]) for t in taints} == {("node.kubernetes.io/not-ready", "NoSchedule"),
                                                        ("node.kubernetes.io/not-ready", "NoExecute")}


def test_an_unparsable_first_config_also_leaves_the_network_not_ready(small_cluster):
    c = small_cluster
    edit_host(c, "worker-1", lambda h: h.write_file(f"{NET_D}/00-broken.conflist", "{not json"))
    c.advance(1)
    assert node_ready(c, "worker-1")["message"].endswith("Network plugin returns error: cni plugin not initialized")


def test_pods_stay_container_creating_while_the_network_is_not_ready(small_cluster):
    c = small_cluster
    edit_host(c, "worker-1", lambda h: h.remove_file(FLANNEL_CONFLIST))
    c.create(pod("waiting", "worker-1"))
    c.advance(20)
    p = get_pod(c, "waiting")
    assert p["status"]["phase"] == "Pending" and "podIP" not in p["status"]
    assert main_state(c, "waiting") == {"waiting": {"reason": "ContainerCreating"}}
    assert events(c, "waiting", "NetworkNotReady") == [
        "network is not ready: container runtime network not ready: NetworkReady=false "
        "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"]


def test_host_network_pods_start_while_the_network_is_not_ready(small_cluster):
    c = small_cluster
    edit_host(c, "worker-1", lambda h: h.remove_file(FLANNEL_CONFLIST))
    c.create(host_pod("hostnet", "worker-1", "sleep 3600"))
    c.advance(5)
    assert get_pod(c, "hostnet")["status"]["phase"] == "Running"


def test_a_waiting_pod_starts_once_a_cni_config_appears(small_cluster):
    c = small_cluster
    saved = c.ctx.hosts["worker-1"].read_file(FLANNEL_CONFLIST)
    edit_host(c, "worker-1", lambda h: h.remove_file(FLANNEL_CONFLIST))
    c.create(pod("late", "worker-1"))
    c.advance(10)
    edit_host(c, "worker-1", lambda h: h.write_file(FLANNEL_CONFLIST, saved))
    c.advance(10)
    p = get_pod(c, "late")
    assert p["status"]["phase"] == "Running" and p["status"]["podIP"].startswith("10.244.1.")
    assert node_ready(c, "worker-1")["status"] == "True"


def test_a_config_whose_plugin_binary_is_missing_fails_with_failed_to_find_plugin(small_cluster):
    c = small_cluster
    edit_host(c, "worker-1", lambda h: h.remove_file("/opt/cni/bin/flannel"))
    c.create(pod("nobinary", "worker-1"))
    c.advance(5)
    [message] = events(c, "nobinary", "FailedCreatePodSandBox")
    assert message.startswith("Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup "
                              'network for sandbox "')
    assert message.endswith('": plugin type="flannel" failed (add): failed to find plugin "flannel" in path '
                            "[/opt/cni/bin]")
    assert main_state(c, "nobinary") == {"waiting": {"reason": "ContainerCreating"}}


def test_a_missing_plugin_binary_does_not_make_the_node_not_ready(small_cluster):
    c = small_cluster
    edit_host(c, "worker-1", lambda h: h.remove_file("/opt/cni/bin/flannel"))
    c.advance(2)
    assert node_ready(c, "worker-1")["status"] == "True"


def test_a_sandbox_id_is_a_full_container_id(small_cluster):
    c = small_cluster
    edit_host(c, "worker-1", lambda h: h.remove_file("/opt/cni/bin/flannel"))
    c.create(pod("nobinary", "worker-1"))
    c.advance(5)
    [message] = events(c, "nobinary", "FailedCreatePodSandBox")
    sandbox = message.split('sandbox "', 1)[1].split('"', 1)[0]
    assert len(sandbox) == 64 and int(sandbox, 16) >= 0


def test_a_calico_config_before_calico_node_runs_fails_with_the_nodename_error(small_cluster):
    c = small_cluster

    def install(h):
        h.write_file(f"{NET_D}/10-calico.conflist", CALICO_CONFLIST)
        h.write_file("/opt/cni/bin/calico", "\x7fELF calico")
        h.write_file("/opt/cni/bin/calico-ipam", "\x7fELF calico-ipam")
    edit_host(c, "worker-1", install)
    c.create(pod("early", "worker-1"))
    c.advance(5)
    [message] = events(c, "early", "FailedCreatePodSandBox")
    assert message.endswith('plugin type="calico" failed (add): stat /var/lib/calico/nodename: no such file or '
                            "directory: check that the calico/node container is running and has mounted "
                            "/var/lib/calico/")


def test_the_flannel_plugin_without_subnet_env_fails_the_sandbox(small_cluster):
    c = small_cluster
    edit_host(c, "worker-1", lambda h: h.remove_file("/run/flannel/subnet.env"))
    c.create(pod("nosubnet", "worker-1"))
    c.advance(5)
    [message] = events(c, "nosubnet", "FailedCreatePodSandBox")
    assert message.endswith('plugin type="flannel" failed (add): loadFlannelSubnetEnv failed: open '
                            "/run/flannel/subnet.env: no such file or directory")


def test_the_kubelet_retries_a_failed_sandbox(small_cluster):
    c = small_cluster
    edit_host(c, "worker-1", lambda h: h.remove_file("/opt/cni/bin/flannel"))
    c.create(pod("retry", "worker-1"))
    c.advance(5)
    edit_host(c, "worker-1", lambda h: h.write_file("/opt/cni/bin/flannel", "\x7fELF flannel"))
    c.advance(15)
    assert get_pod(c, "retry")["status"]["phase"] == "Running"


def test_a_pod_releases_its_host_local_address_when_deleted(small_cluster):
    c = small_cluster
    c.create(pod("short", "worker-1", terminationGracePeriodSeconds=0))
    c.advance(5)
    ip = get_pod(c, "short")["status"]["podIP"]
    assert c.ctx.hosts["worker-1"].is_file(f"/var/lib/cni/networks/cbr0/{ip}")
    c.store.delete(c.ctx.pods, "demo", "short")
    c.advance(2)
    assert not c.ctx.hosts["worker-1"].is_file(f"/var/lib/cni/networks/cbr0/{ip}")


# ---- termination ----------------------------------------------------------------------

def test_a_deleted_pod_stays_terminating_until_its_process_exits(small_cluster):
    c = small_cluster
    victim = next(p for p in c.store.items(c.ctx.pods, "demo") if p["metadata"]["name"].startswith("web-"))
    name = victim["metadata"]["name"]
    c.store.delete(c.ctx.pods, "demo", name)
    c.advance(1)
    assert get_pod(c, name)["metadata"]["deletionTimestamp"]
    c.advance(2)  # the server exits on SIGTERM well within its 30 s grace period
    assert get_pod(c, name) is None


def test_a_process_ignoring_sigterm_is_killed_at_the_end_of_the_grace_period(small_cluster):
    c = small_cluster
    obj = host_pod("sleeper", "worker-1", "sleep 3600")
    obj["spec"]["terminationGracePeriodSeconds"] = 20
    c.create(obj)
    c.advance(5)
    c.store.delete(c.ctx.pods, "demo", "sleeper")
    c.advance(19)
    assert get_pod(c, "sleeper") is not None
    c.advance(2)
    assert get_pod(c, "sleeper") is None


def test_a_shorter_grace_period_on_delete_wins(small_cluster):
    c = small_cluster
    c.create(host_pod("sleeper", "worker-1", "sleep 3600"))
    c.advance(5)
    c.store.delete(c.ctx.pods, "demo", "sleeper", grace_period=5)
    c.advance(4)
    assert get_pod(c, "sleeper") is not None
    c.advance(2)
    assert get_pod(c, "sleeper") is None


def test_a_force_delete_removes_the_pod_at_once_and_the_kubelet_cleans_up(small_cluster):
    c = small_cluster
    c.create(pod("forced", "worker-1"))
    c.advance(5)
    ip = get_pod(c, "forced")["status"]["podIP"]
    c.store.delete(c.ctx.pods, "demo", "forced", grace_period=0)
    assert get_pod(c, "forced") is None
    c.advance(1)
    assert ip not in c.network.by_ip


def test_a_killing_event_is_recorded_for_each_running_container(small_cluster):
    c = small_cluster
    c.create(pod("bye", "worker-1"))
    c.advance(5)
    c.store.delete(c.ctx.pods, "demo", "bye")
    c.advance(5)
    assert events(c, "bye", "Killing") == ["Stopping container main"]


# ---- commands of privileged hostNetwork pods -------------------------------------------

def test_a_host_network_pod_deleting_cni0_removes_it_from_the_node(small_cluster):
    c = small_cluster
    assert "cni0" in c.ctx.hosts["worker-1"].interfaces
    c.create(host_pod("zap", "worker-1", "ip link delete cni0"))
    c.advance(10)
    assert "cni0" not in c.ctx.hosts["worker-1"].interfaces
    assert main_state(c, "zap")["terminated"]["exitCode"] == 0
    assert get_pod(c, "zap")["status"]["phase"] == "Succeeded"


def test_a_pod_in_its_own_network_namespace_cannot_touch_the_nodes_links(small_cluster):
    c = small_cluster
    c.create(host_pod("boxed", "worker-1", "ip link delete cni0", host_network=False))
    c.advance(10)
    assert "cni0" in c.ctx.hosts["worker-1"].interfaces
    assert main_state(c, "boxed")["terminated"]["exitCode"] != 0
    assert c.kubelets.logs("demo", "boxed", "main") == 'Cannot find device "cni0"\n'


def unprivileged(obj, capabilities=None):
    obj["spec"]["containers"][0]["securityContext"] = {"capabilities": {"add": capabilities}} if capabilities else {}
    return obj


def test_a_host_network_pod_without_net_admin_cannot_delete_a_link(small_cluster):
    c = small_cluster
    c.create(unprivileged(host_pod("weak", "worker-1", "ip link delete cni0")))
    c.advance(10)
    assert "cni0" in c.ctx.hosts["worker-1"].interfaces
    assert main_state(c, "weak")["terminated"]["exitCode"] == 2
    assert c.kubelets.logs("demo", "weak", "main") == "RTNETLINK answers: Operation not permitted\n"


def test_a_host_network_pod_without_net_admin_cannot_read_iptables(small_cluster):
    c = small_cluster
    c.create(unprivileged(host_pod("weak", "worker-1", "iptables -t nat -S")))
    c.advance(10)
    assert main_state(c, "weak")["terminated"]["exitCode"] == 4
    assert c.kubelets.logs("demo", "weak", "main") == (
        "iptables v1.8.7 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)\n")


def test_the_net_admin_capability_is_enough_to_change_links(small_cluster):
    c = small_cluster
    c.create(unprivileged(host_pod("capable", "worker-1", "ip link delete cni0"), ["NET_ADMIN"]))
    c.advance(10)
    assert "cni0" not in c.ctx.hosts["worker-1"].interfaces


def test_rm_through_a_host_path_mount_removes_the_nodes_file(small_cluster):
    c = small_cluster
    c.create(host_pod("cleaner", "worker-1", "rm -f /host/run/flannel/subnet.env", mounts=[("/", "/host")]))
    c.advance(10)
    assert not c.ctx.hosts["worker-1"].is_file("/run/flannel/subnet.env")
    assert c.ctx.hosts["worker-2"].is_file("/run/flannel/subnet.env")
    assert main_state(c, "cleaner")["terminated"]["exitCode"] == 0


def test_removing_the_only_cni_config_through_a_pod_makes_the_node_not_ready(small_cluster):
    c = small_cluster
    c.create(host_pod("unconf", "worker-1", f"rm -f /host{FLANNEL_CONFLIST}", mounts=[("/", "/host")]))
    c.advance(10)
    assert node_ready(c, "worker-1")["status"] == "False"


def test_rm_under_a_read_only_mount_fails_like_the_real_tool(small_cluster):
    c = small_cluster
    c.create(host_pod("ro", "worker-1", f"rm -f /host{FLANNEL_CONFLIST}", mounts=[("/etc", "/host/etc")],
                      read_only=True))
    c.advance(10)
    assert c.ctx.hosts["worker-1"].is_file(FLANNEL_CONFLIST)
    assert main_state(c, "ro")["terminated"]["exitCode"] == 1
    assert c.kubelets.logs("demo", "ro", "main") == (
        f"rm: cannot remove '/host{FLANNEL_CONFLIST}': Read-only file system\n")


def test_rm_r_under_a_read_only_mount_names_every_file_it_cannot_remove(small_cluster):
    c = small_cluster
    c.ctx.hosts["worker-1"].write_file(f"{NET_D}/99-extra.conf", "{}")
    c.create(host_pod("rorf", "worker-1", "rm -rf /host/net.d", mounts=[(NET_D, "/host/net.d")], read_only=True))
    c.advance(10)
    assert c.ctx.hosts["worker-1"].is_file(FLANNEL_CONFLIST)
    assert main_state(c, "rorf")["terminated"]["exitCode"] == 1
    assert c.kubelets.logs("demo", "rorf", "main") == (
        "rm: cannot remove '/host/net.d/10-flannel.conflist': Read-only file system\n"
        "rm: cannot remove '/host/net.d/99-extra.conf': Read-only file system\n")


def test_rm_r_of_a_mount_point_empties_it_but_cannot_remove_it(small_cluster):
    c = small_cluster
    c.create(host_pod("busy", "worker-1", "rm -rf /host/net.d", mounts=[(NET_D, "/host/net.d")]))
    c.advance(10)
    assert c.ctx.hosts["worker-1"].list_dir(NET_D) == []
    assert main_state(c, "busy")["terminated"]["exitCode"] == 1
    assert c.kubelets.logs("demo", "busy", "main") == "rm: cannot remove '/host/net.d': Device or resource busy\n"


def test_writing_under_a_read_only_mount_fails_like_the_shell(small_cluster):
    c = small_cluster
    c.create(host_pod("rowrite", "worker-1", "echo x > /host/etc/placeholder", mounts=[("/etc", "/host/etc")],
                      read_only=True))
    c.advance(10)
    assert not c.ctx.hosts["worker-1"].is_file("/etc/placeholder")
    assert main_state(c, "rowrite")["terminated"]["exitCode"] == 1
    assert c.kubelets.logs("demo", "rowrite", "main") == "sh: can't create /host/etc/placeholder: Read-only file system\n"


def test_a_file_written_through_a_host_path_mount_lands_on_the_node(small_cluster):
    c = small_cluster
    c.create(host_pod("writer", "worker-1", "echo '{}' > /host/net.d/00-placeholder.conflist",
                      mounts=[(NET_D, "/host/net.d")]))
    c.advance(10)
    assert c.ctx.hosts["worker-1"].read_file(f"{NET_D}/00-placeholder.conflist") == "{}\n"


def test_an_unknown_command_exits_127_and_the_log_says_so(small_cluster):
    c = small_cluster
    c.create(host_pod("typo", "worker-1", "frobnicate --now"))
    c.advance(10)
    assert main_state(c, "typo")["terminated"]["exitCode"] == 127
    assert get_pod(c, "typo")["status"]["phase"] == "Failed"
    assert c.kubelets.logs("demo", "typo", "main") == "sh: frobnicate: not found\n"


def test_an_unknown_entrypoint_fails_to_start_with_exit_128(small_cluster):
    c = small_cluster
    c.create(pod("noexec", "worker-1", BUSYBOX, ["frobnicate"], restartPolicy="Never", hostNetwork=True))
    c.advance(10)
    terminated = main_state(c, "noexec")["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (128, "StartError")
    assert terminated["message"] == ("failed to create containerd task: failed to create shim task: OCI runtime "
                                     "create failed: runc create failed: unable to start container process: exec: "
                                     '"frobnicate": executable file not found in $PATH: unknown')
    assert c.kubelets.logs("demo", "noexec", "main") == ""


def test_iptables_in_a_host_network_pod_sees_the_nodes_flannel_chains(small_cluster):
    c = small_cluster
    c.create(host_pod("look", "worker-1", "iptables -t nat -S FLANNEL-POSTRTG"))
    c.advance(10)
    log = c.kubelets.logs("demo", "look", "main")
    assert log.startswith("-N FLANNEL-POSTRTG\n")
    assert "-A FLANNEL-POSTRTG -s 10.244.1.0/24 -d 10.244.0.0/16" in log


def test_a_failing_container_is_restarted_with_back_off(small_cluster):
    c = small_cluster
    c.create(host_pod("crash", "worker-1", "echo boom; exit 1", restart="Always"))
    c.advance(60)
    status = get_pod(c, "crash")["status"]["containerStatuses"][0]
    assert status["restartCount"] >= 2
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert c.kubelets.logs("demo", "crash", "main") == "boom\n"  # the current run's log only


def test_init_containers_run_in_order_before_the_main_container(small_cluster):
    c = small_cluster
    obj = host_pod("ordered", "worker-1", "cat /host/tmp/order; sleep 3600", mounts=[("/tmp", "/host/tmp")])
    obj["spec"]["initContainers"] = [
        {"name": f"step{i}", "image": BUSYBOX, "command": ["sh", "-c", f"echo {i} >> /host/tmp/order"],
         "volumeMounts": obj["spec"]["containers"][0]["volumeMounts"]} for i in (1, 2)]
    c.create(obj)
    c.advance(15)
    assert c.ctx.hosts["worker-1"].read_file("/tmp/order") == "1\n2\n"
    assert get_pod(c, "ordered")["status"]["phase"] == "Running"
    assert c.kubelets.logs("demo", "ordered", "main") == "1\n2\n"


def test_a_failing_init_container_keeps_the_pod_initializing(small_cluster):
    c = small_cluster
    obj = pod("badinit", "worker-1", restartPolicy="Always")
    obj["spec"]["initContainers"] = [{"name": "init", "image": BUSYBOX, "command": ["sh", "-c", "exit 2"]}]
    c.create(obj)
    c.advance(30)
    p = get_pod(c, "badinit")
    assert p["status"]["phase"] == "Pending"
    assert condition(p, "Initialized")["status"] == "False"
    assert p["status"]["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}


def test_a_ready_pod_stays_ready_when_its_kubelet_resyncs(small_cluster):
    # the readiness probe's initial delay applies to a container's first success only
    small_cluster.kubelets.work.update(small_cluster.kubelets.runtimes)
    small_cluster.loop.run_pass()
    pods = small_cluster.store.items(small_cluster.ctx.pods, "demo")
    assert all(c["status"] == "True" for p in pods for c in p["status"]["conditions"] if c["type"] == "Ready")


# ---- termination messages (pkg/kubelet/kuberuntime/kuberuntime_container.go getTerminationMessage) ----

def test_what_a_container_writes_to_its_termination_log_becomes_its_termination_message(small_cluster):
    c = small_cluster
    c.create(host_pod("report", "worker-1", "echo chatter; echo all clean > /dev/termination-log"))
    c.advance(10)
    assert main_state(c, "report")["terminated"]["message"] == "all clean\n"


def test_a_succeeded_container_without_a_termination_log_has_no_message_even_falling_back_to_logs(small_cluster):
    c = small_cluster
    quiet = host_pod("quiet", "worker-1", "echo only in the log")
    quiet["spec"]["containers"][0]["terminationMessagePolicy"] = "FallbackToLogsOnError"
    c.create(quiet)
    c.advance(10)
    assert "message" not in main_state(c, "quiet")["terminated"]


def test_a_failed_container_falls_back_to_the_tail_of_its_log_when_asked(small_cluster):
    c = small_cluster
    failing = host_pod("failing", "worker-1", "echo first; ip link delete nothing-here")
    failing["spec"]["containers"][0]["terminationMessagePolicy"] = "FallbackToLogsOnError"
    c.create(failing)
    c.advance(10)
    assert main_state(c, "failing")["terminated"]["message"] == 'first\nCannot find device "nothing-here"\n'


def test_a_failed_container_with_the_default_policy_has_no_message(small_cluster):
    c = small_cluster
    c.create(host_pod("failing", "worker-1", "ip link delete nothing-here"))
    c.advance(10)
    assert "message" not in main_state(c, "failing")["terminated"]


def test_the_log_fallback_keeps_only_the_last_80_lines(small_cluster):
    c = small_cluster
    lines = "; ".join(f"echo line-{i}" for i in range(100))
    failing = host_pod("long", "worker-1", f"{lines}; false")
    failing["spec"]["containers"][0]["terminationMessagePolicy"] = "FallbackToLogsOnError"
    c.create(failing)
    c.advance(10)
    message = main_state(c, "long")["terminated"]["message"]
    assert message.splitlines() == [f"line-{i}" for i in range(20, 100)]
