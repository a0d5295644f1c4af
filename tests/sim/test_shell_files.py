"""Tests for the simulated coreutils: rm, mkdir, ls, cat, cp, mv, echo, printf, test, hostname, date."""

from migrate.sim.host import run_shell


def test_rm_missing_file_fails_like_coreutils(host):
    result = run_shell(host, "rm /etc/cni/net.d/10-flannel.conflist")
    assert result.exit_code == 1
    assert result.stderr == "rm: cannot remove '/etc/cni/net.d/10-flannel.conflist': No such file or directory\n"


def test_rm_f_ignores_missing_files(host):
    result = run_shell(host, "rm -f /nope /also-nope")
    assert (result.exit_code, result.log) == (0, "")


def test_rm_of_a_directory_needs_r(flannel_node):
    node = flannel_node()
    result = run_shell(node, "rm /run/flannel; rm -rf /run/flannel")
    assert result.stderr == "rm: cannot remove '/run/flannel': Is a directory\n"
    assert not node.exists("/run/flannel") and node.is_dir("/run")


def test_rm_rejects_an_unknown_option(host):
    result = run_shell(host, "rm -z /x")
    assert result.exit_code == 1
    assert result.stderr == "rm: invalid option -- 'z'\nTry 'rm --help' for more information.\n"


def test_mkdir_p_and_ls(host):
    result = run_shell(host, "mkdir -p /etc/calico/confd; touch /etc/calico/b /etc/calico/.hidden; ls /etc/calico")
    assert result.stdout == "b\nconfd\n"


def test_mkdir_without_p_needs_the_parent(host):
    result = run_shell(host, "mkdir /etc/a/b; mkdir /etc")
    assert result.stderr == ("mkdir: cannot create directory '/etc/a/b': No such file or directory\n"
                             "mkdir: cannot create directory '/etc': File exists\n")


def test_ls_of_a_missing_path_exits_2(host):
    result = run_shell(host, "ls /etc/cni/net.d")
    assert result.exit_code == 2
    assert result.stderr == "ls: cannot access '/etc/cni/net.d': No such file or directory\n"


def test_cat_concatenates_and_reports_missing_files(flannel_node, subnet_env):
    node = flannel_node()
    result = run_shell(node, "cat /run/flannel/subnet.env /missing /proc/sys/net/ipv4/ip_forward")
    assert result.exit_code == 1
    assert result.stdout == subnet_env + "1\n"
    assert result.stderr == "cat: /missing: No such file or directory\n"


def test_cp_and_mv(flannel_node, subnet_env):
    node = flannel_node()
    result = run_shell(node, "cp /run/flannel/subnet.env /tmp/ && mv /tmp/subnet.env /tmp/saved.env")
    assert result.exit_code == 0
    assert node.read_file("/tmp/saved.env") == subnet_env and not node.exists("/tmp/subnet.env")
    assert run_shell(node, "mv /tmp/gone /tmp/x").stderr == "mv: cannot stat '/tmp/gone': No such file or directory\n"


def test_echo_and_printf(host):
    result = run_shell(host, "echo -n a; echo b c; printf '%s=%d\\n' x 1 y 2; printf 'no newline'")
    assert result.stdout == "ab c\nx=1\ny=2\nno newline"


def test_test_checks_files(host):
    host.write_file("/etc/full", "x")
    host.write_file("/etc/empty", "")
    script = ("test -e /etc/full && test -f /etc/empty && test -d /etc && [ -s /etc/full ] && "
              "[ ! -s /etc/empty ] && [ ! -e /etc/none ] && echo ok")
    assert run_shell(host, script).stdout == "ok\n"


def test_test_checks_strings_and_numbers(host):
    script = 'X=calico; [ -n "$X" ] && [ -z "$NONE" ] && [ "$X" = calico ] && [ "$X" != flannel ] && [ 3 -gt 2 ] && echo ok'
    assert run_shell(host, script).stdout == "ok\n"


def test_bracket_without_closing_bracket_fails(host):
    result = run_shell(host, "[ -e /etc")
    assert (result.exit_code, result.stderr) == (2, "sh: [: missing ]\n")


def test_hostname_prints_the_node_name(host):
    assert run_shell(host, ["hostname"]).stdout == "node-a\n"


def test_date_uses_the_simulated_clock(host):
    assert run_shell(host, "date +%s; date", now=90).stdout == "90\nThu Jan  1 00:01:30 UTC 1970\n"
