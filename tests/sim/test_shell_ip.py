"""Tests for the simulated iproute2 ``ip``: links, addresses and routes."""

from migrate.sim.host import run_shell


def test_ip_link_show_missing_device_fails_like_ip(host):
    result = run_shell(host, "ip link show flannel.1")
    assert (result.exit_code, result.stderr) == (1, 'Device "flannel.1" does not exist.\n')


def test_delete_missing_device_fails_like_ip(host):
    result = run_shell(host, "ip link del dev cni0")
    assert (result.exit_code, result.stderr) == (1, 'Cannot find device "cni0"\n')


def test_ip_link_show_prints_real_shaped_lines(flannel_node):
    result = run_shell(flannel_node(), "ip link show cni0")
    assert result.stdout == (
        "4: cni0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UP mode DEFAULT "
        "group default qlen 1000\n"
        "    link/ether 2a:7c:44:55:66:77 brd ff:ff:ff:ff:ff:ff\n")


def test_ip_details_show_vxlan_id_and_port(flannel_node):
    result = run_shell(flannel_node(), "ip -d link show flannel.1")
    assert result.exit_code == 0
    assert "vxlan id 1 local 192.168.0.11 dev eth0 srcport 0 0 dstport 8472 nolearning" in result.stdout


def test_bridge_without_ports_has_no_carrier(flannel_node):
    node = flannel_node()
    node.delete_interface("veth5f3a9c21")
    assert run_shell(node, "ip -br link show cni0").stdout == (
        "cni0             DOWN           2a:7c:44:55:66:77 <NO-CARRIER,BROADCAST,MULTICAST,UP> \n")


def test_ip_addr_show_formats_addresses(flannel_node):
    result = run_shell(flannel_node(), "ip addr show dev flannel.1")
    assert result.stdout == (
        "3: flannel.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN group default \n"
        "    link/ether 6e:2b:9c:11:22:33 brd ff:ff:ff:ff:ff:ff\n"
        "    inet 10.244.1.0/32 scope global flannel.1\n"
        "       valid_lft forever preferred_lft forever\n")


def test_ip_4_addr_lists_only_links_with_ipv4_and_no_link_lines(flannel_node):
    result = run_shell(flannel_node(), "ip -4 addr show")
    assert "link/ether" not in result.stdout and "veth5f3a9c21" not in result.stdout
    assert "    inet 10.244.1.1/24 brd 10.244.1.255 scope global cni0\n" in result.stdout


def test_ip_link_set_down_drops_the_links_routes(flannel_node):
    node = flannel_node()
    assert run_shell(node, "ip link set flannel.1 down").exit_code == 0
    assert not any("flannel.1" in route for route in node.routes)
    assert "state DOWN" in run_shell(node, "ip link show flannel.1").stdout


def test_ip_addr_flush_removes_addresses_and_their_routes(flannel_node):
    node = flannel_node()
    assert run_shell(node, "ip addr flush dev cni0").exit_code == 0
    assert node.interfaces["cni0"].addresses == []
    assert not any("cni0" in route for route in node.routes)


def test_ip_route_lists_sorted_and_filters_by_device(flannel_node):
    node = flannel_node()
    assert run_shell(node, "ip route").stdout == (
        "10.244.0.0/24 via 10.244.0.0 dev flannel.1 onlink\n"
        "10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1\n"
        "10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink\n"
        "192.168.0.0/24 dev eth0 proto kernel scope link src 192.168.0.11\n")
    assert run_shell(node, "ip route show dev flannel.1").stdout == (
        "10.244.0.0/24 via 10.244.0.0 onlink\n10.244.2.0/24 via 10.244.2.0 onlink\n")


def test_ip_route_del_removes_a_route_and_fails_like_rtnetlink_when_missing(flannel_node):
    node = flannel_node()
    result = run_shell(node, "ip route del 10.244.2.0/24; ip route del 10.244.2.0/24")
    assert (result.exit_code, result.stderr) == (2, "RTNETLINK answers: No such process\n")
    assert not any(route.startswith("10.244.2.0/24") for route in node.routes)


def test_ip_unknown_subcommand_exits_255(host):
    result = run_shell(host, "ip link frob")
    assert (result.exit_code, result.stderr) == (255, 'Command "frob" is unknown, try "ip link help".\n')


def test_physical_nic_cannot_be_deleted(host):
    result = run_shell(host, "ip link delete eth0")
    assert (result.exit_code, result.stderr) == (2, "RTNETLINK answers: Operation not supported\n")


def test_deleting_tunl0_succeeds_and_leaves_it_in_place(host):
    # the ipip module's fallback device outlives `ip link delete`; only unloading the module removes it
    from migrate.sim.host import Interface
    host.add_interface(Interface(name="tunl0", kind="ipip", mac="", addresses=["10.244.7.1/32"], mtu=1480))
    result = run_shell(host, "ip link delete tunl0")
    assert result.exit_code == 0 and "tunl0" in host.interfaces
