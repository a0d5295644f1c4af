"""Tests for the simulated ``nft``."""

from migrate.sim.host import run_shell


def test_nft_lists_tables_and_a_table(host):
    host.nftables[("inet", "calico")] = ["chain filter-FORWARD {", "type filter hook forward priority 0; policy accept;",
                                         'counter accept comment "cali"', "}"]
    assert run_shell(host, "nft list tables").stdout == "table inet calico\n"
    assert run_shell(host, "nft list table inet calico").stdout == (
        "table inet calico {\n\tchain filter-FORWARD {\n\t\ttype filter hook forward priority 0; policy accept;\n"
        '\t\tcounter accept comment "cali"\n\t}\n}\n')


def test_nft_delete_of_a_missing_table_fails(host):
    result = run_shell(host, "nft delete table ip flannel")
    assert result.exit_code == 1
    assert result.stderr == ("Error: Could not process rule: No such file or directory\n"
                             "delete table ip flannel\n"
                             "                ^^^^^^^\n")


def test_nft_delete_and_flush_table(host):
    host.nftables[("ip", "nat")] = ["chain postrouting {", "type nat hook postrouting priority 100;", "masquerade", "}"]
    host.nftables[("inet", "calico")] = []
    assert run_shell(host, "nft flush table ip nat && nft delete table inet calico").exit_code == 0
    assert host.nftables == {("ip", "nat"): ["chain postrouting {", "type nat hook postrouting priority 100;", "}"]}
