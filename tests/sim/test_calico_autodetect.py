"""calico-node's IPv4 address detection as Calico v3.32.1's startup does it (see
migrate/sim/calico_autodetect.py for the upstream files): on a host with a second NIC, first-found
takes the NIC listed last, and the other methods pick what their upstream code picks."""
import pytest

from migrate.sim.build import new_host
from migrate.sim.calico_autodetect import AutodetectionFailed, autodetect_cidr, node_ipv4_address
from migrate.sim.host import Interface

NODE = {"status": {"addresses": [{"type": "InternalIP", "address": "192.168.10.11"},
                                 {"type": "Hostname", "address": "storage-1"}]}}


def two_nic_host():
    """eth0 on the VPC (default route, InternalIP), eth1 on a storage network, and Flannel's devices."""
    host = new_host("storage-1", "192.168.10.11/24", 1500, secondary=["10.250.0.10/24"])
    host.add_interface(Interface("flannel.1", "vxlan", addresses=["10.244.3.0/32"], vni=1, port=8472))
    host.add_interface(Interface("cni0", "bridge", addresses=["10.244.3.1/24"]))
    return host


def test_first_found_takes_the_last_listed_nic_that_is_not_excluded():
    assert autodetect_cidr("first-found", two_nic_host(), NODE) == "10.250.0.10/24"


def test_no_method_is_first_found():
    assert autodetect_cidr("", two_nic_host(), NODE) == "10.250.0.10/24"


def test_first_found_on_a_single_nic_host_is_eth0():
    host = new_host("worker-1", "192.168.10.12/24", 1500)
    host.add_interface(Interface("vxlan.calico", "vxlan", addresses=["10.244.4.0/32"], vni=1, port=8472))
    assert autodetect_cidr("first-found", host, NODE) == "192.168.10.12/24"


def test_kubernetes_internal_ip_takes_the_nodes_internal_ip_with_its_nics_prefix():
    assert autodetect_cidr("kubernetes-internal-ip", two_nic_host(), NODE) == "192.168.10.11/24"


def test_kubernetes_internal_ip_that_no_nic_holds_detects_nothing():
    other = {"status": {"addresses": [{"type": "InternalIP", "address": "192.168.10.99"}]}}
    assert autodetect_cidr("kubernetes-internal-ip", two_nic_host(), other) is None


def test_cidr_takes_the_address_inside_the_given_subnets():
    assert autodetect_cidr("cidr=172.16.0.0/12, 192.168.10.0/24", two_nic_host(), NODE) == "192.168.10.11/24"


def test_can_reach_takes_the_source_address_of_the_route_to_the_destination():
    host = two_nic_host()
    assert autodetect_cidr("can-reach=10.250.0.11", host, NODE) == "10.250.0.10/24"
    assert autodetect_cidr("can-reach=8.8.8.8", host, NODE) == "192.168.10.11/24"


def test_interface_and_skip_interface_filter_by_name():
    host = two_nic_host()
    assert autodetect_cidr("interface=eth0", host, NODE) == "192.168.10.11/24"
    assert autodetect_cidr("skip-interface=eth1", host, NODE) == "192.168.10.11/24"


def test_an_unknown_method_stops_calico_node():
    with pytest.raises(AutodetectionFailed, match="Invalid IP autodetection method: nearest"):
        autodetect_cidr("nearest", two_nic_host(), NODE)


def test_ip_autodetect_replaces_the_address_the_node_had():
    env = {"IP": "autodetect", "IP_AUTODETECTION_METHOD": "first-found"}
    assert node_ipv4_address(env, two_nic_host(), NODE, existing="192.168.10.11") == "10.250.0.10/24"


def test_ip_unset_keeps_the_address_the_node_had():
    assert node_ipv4_address({}, two_nic_host(), NODE, existing="192.168.10.11") == "192.168.10.11"


def test_a_method_finding_nothing_with_no_address_yet_stops_calico_node():
    env = {"IP": "autodetect", "IP_AUTODETECTION_METHOD": "cidr=172.16.0.0/12"}
    with pytest.raises(AutodetectionFailed, match="Couldn't autodetect an IPv4 address"):
        node_ipv4_address(env, two_nic_host(), NODE, existing=None)
