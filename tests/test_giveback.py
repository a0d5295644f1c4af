"""What the give-back removes, read from what a pod printed on the host (iptables-save as Felix leaves it,
rule text from Calico v3.32.1 felix/fv/cali-iptables-dump.txt)."""
from migrate.execute.kinds import giveback

SEEN = """### iptables
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:KUBE-FORWARD - [0:0]
:cali-INPUT - [0:0]
:cali-FORWARD - [0:0]
-A INPUT -m comment --comment "cali:Cz_u1IQiXIMmKD4c" -j cali-INPUT
-A INPUT -j KUBE-FORWARD
-A FORWARD -m comment --comment "cali:S93hcgKJrXEqnTfs" -m comment --comment "Policy explicitly accepted packet." -m mark --mark 0x10000/0x10000 -j ACCEPT
-A cali-INPUT -m comment --comment "cali:vIx3xkWzuvLW9fr4" -j cali-FORWARD
COMMIT
### ip6tables
*filter
:INPUT ACCEPT [0:0]
COMMIT
### ipsets
cali40all-vxlan-net
KUBE-SOMETHING
### nft
table ip flannel-ipv4
table ip calico
"""


def test_felix_rules_in_other_chains_go_first_then_its_chains_then_its_sets_and_tables():
    assert giveback.felix_cleanup(SEEN) == [
        "iptables -t filter -D INPUT -m comment --comment cali:Cz_u1IQiXIMmKD4c -j cali-INPUT || true",
        "iptables -t filter -D FORWARD -m comment --comment cali:S93hcgKJrXEqnTfs -m comment --comment "
        "'Policy explicitly accepted packet.' -m mark --mark 0x10000/0x10000 -j ACCEPT || true",
        "iptables -t filter -F cali-INPUT || true", "iptables -t filter -F cali-FORWARD || true",
        "iptables -t filter -X cali-INPUT", "iptables -t filter -X cali-FORWARD",
        "ipset destroy cali40all-vxlan-net", "nft delete table ip calico"]


def test_a_host_without_felix_state_needs_no_command():
    assert giveback.felix_cleanup("### iptables\n*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n### ipsets\n### nft\n") == []


def test_reservations_are_the_files_named_by_address():
    assert giveback.reservation_files("10.244.1.2\n10.244.1.7\nlast_reserved_ip.0\nlock\n") == ["10.244.1.2",
                                                                                             "10.244.1.7"]


def test_the_network_name_comes_from_the_cni_config_in_flannels_or_canals_configmap():
    flannel = {"data": {"cni-conf.json": '{"name": "cbr0", "cniVersion": "0.3.1", "plugins": []}'}}
    canal = {"data": {"cni_network_config": '{"name": "k8s-pod-network", "plugins": [{"mtu": __CNI_MTU__}]}'}}
    assert giveback.network_name(flannel, canal=False) == "cbr0"
    assert giveback.network_name(canal, canal=True) == "k8s-pod-network"
    assert giveback.network_name(None, canal=False) == "cbr0"
