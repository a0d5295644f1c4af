"""Tests for the simulated shell itself: quoting, expansion, redirections, and-or lists, set -e."""

import pytest

from migrate.sim.host import run_shell


def test_unknown_command_exits_127(host):
    result = run_shell(host, "frobnicate --now")
    assert (result.exit_code, result.stderr) == (127, "sh: frobnicate: not found\n")


def test_bash_reports_unknown_commands_its_own_way(host):
    result = run_shell(host, ["bash", "-c", "true\nfrobnicate"])
    assert result.stderr == "bash: line 2: frobnicate: command not found\n"


def test_set_e_stops_at_first_failure(host):
    result = run_shell(host, "set -e\necho one\nfalse\necho two")
    assert (result.exit_code, result.stdout) == (1, "one\n")


def test_without_set_e_the_script_runs_on(host):
    result = run_shell(host, "false; echo two")
    assert (result.exit_code, result.stdout) == (0, "two\n")


def test_sh_ec_argv_turns_on_errexit(host):
    result = run_shell(host, ["/bin/sh", "-ec", "ip link delete cni0; echo unreachable"])
    assert result.exit_code == 1
    assert result.log == 'Cannot find device "cni0"\n'


def test_or_list_swallows_failure_under_set_e(host):
    result = run_shell(host, "set -e; rm /nope || echo tolerated; echo done")
    assert result.exit_code == 0
    assert result.stdout == "tolerated\ndone\n"


def test_failure_at_the_head_of_an_and_list_does_not_trip_set_e(host):
    result = run_shell(host, "set -e; false && echo skipped; echo after")
    assert (result.exit_code, result.stdout) == (0, "after\n")


def test_failure_at_the_tail_of_an_and_list_trips_set_e(host):
    result = run_shell(host, "set -e; true && false; echo never")
    assert (result.exit_code, result.stdout) == (1, "")


def test_negated_command_does_not_trip_set_e(host):
    result = run_shell(host, "set -e; ! true; echo $?")
    assert (result.exit_code, result.stdout) == (0, "1\n")


def test_exit_stops_with_its_code(host):
    result = run_shell(host, "echo before; exit 3; echo after")
    assert (result.exit_code, result.stdout) == (3, "before\n")


def test_comments_and_quotes(host):
    result = run_shell(host, "echo 'a  b' \"c  d\" e\\ f # a comment\n# whole line\necho x#y")
    assert result.stdout == "a  b c  d e f\nx#y\n"


def test_variables_expand_from_env_and_assignments(host):
    script = 'NAME=calico; echo "$NAME ${NODE_NAME} ${MISSING:-fallback}" \'$NAME\' $EMPTY.'
    result = run_shell(host, script, env={"NODE_NAME": "node-a"})
    assert result.stdout == "calico node-a fallback $NAME .\n"


def test_unquoted_expansion_splits_into_fields(host):
    host.write_file("/etc/a", "A\n")
    host.write_file("/etc/b", "B\n")
    result = run_shell(host, 'FILES="/etc/a /etc/b"; cat $FILES; cat "$FILES"')
    assert result.stdout == "A\nB\n"
    assert result.stderr == "cat: /etc/a /etc/b: No such file or directory\n"


def test_set_u_rejects_unset_variables(host):
    result = run_shell(host, "set -u; echo $NOPE; echo never")
    assert (result.exit_code, result.stderr) == (2, "sh: NOPE: parameter not set\n")


def test_pipeline_is_rejected_as_unsupported(host):
    result = run_shell(host, "echo start; iptables-save | grep FLANNEL")
    assert result.exit_code == 2
    assert result.stdout == ""  # refused before anything runs
    assert "pipelines" in result.stderr


@pytest.mark.parametrize("script", ["if true; then echo; fi", "for i in 1 2; do echo $i; done",
                                    "echo $(hostname)", "sleep 1 &", "( cd /tmp )"])
def test_compound_and_substituted_commands_are_rejected(host, script):
    result = run_shell(host, script)
    assert result.exit_code == 2
    assert result.stderr.startswith("sh: unsupported by the simulated shell:")


def test_syntax_error_exits_2(host):
    result = run_shell(host, "echo ok &&")
    assert (result.exit_code, result.stderr) == (2, "sh: syntax error: unexpected end of file\n")


def test_redirect_stdout_to_a_file_and_append(host):
    result = run_shell(host, "echo one > /tmp/out; echo two >> /tmp/out; cat /tmp/out")
    assert result.stdout == "one\ntwo\n"
    assert host.read_file("/tmp/out") == "one\ntwo\n"


def test_redirect_into_a_missing_directory_fails_the_command(host):
    result = run_shell(host, "echo x > /nowhere/file; echo $?")
    assert result.stdout == "1\n"
    assert result.stderr == "sh: can't create /nowhere/file: nonexistent directory\n"


def test_stderr_to_dev_null_hides_the_message(host):
    result = run_shell(host, "ip link delete cni0 2>/dev/null; echo $?")
    assert result.log == "1\n"


def test_redirection_order_matters_like_in_sh(host):
    result = run_shell(host, "rm /a 2>&1 >/dev/null; rm /b >/dev/null 2>&1")
    assert result.stdout == "rm: cannot remove '/a': No such file or directory\n"
    assert result.stderr == ""


def test_log_interleaves_stdout_and_stderr(host):
    result = run_shell(host, "echo first; rm /missing; echo last")
    assert result.log == "first\nrm: cannot remove '/missing': No such file or directory\nlast\n"


def test_glob_expands_against_files(flannel_node):
    node = flannel_node()
    node.write_file("/etc/cni/net.d/99-flannel-extra.conf", "{}")
    result = run_shell(node, "echo /etc/cni/net.d/*flannel*")
    assert result.stdout == "/etc/cni/net.d/10-flannel.conflist /etc/cni/net.d/99-flannel-extra.conf\n"


def test_unmatched_glob_stays_literal(host):
    result = run_shell(host, "ls /etc/*flannel*")
    assert result.exit_code == 2
    assert result.stderr == "ls: cannot access '/etc/*flannel*': No such file or directory\n"


def test_quoted_glob_is_not_expanded(flannel_node):
    node = flannel_node()
    result = run_shell(node, "rm -f '/etc/cni/net.d/*flannel*'")
    assert result.exit_code == 0
    assert node.exists("/etc/cni/net.d/10-flannel.conflist")


def test_direct_argv_runs_without_a_shell(flannel_node):
    node = flannel_node()
    result = run_shell(node, ["ip", "link", "delete", "flannel.1"])
    assert result.exit_code == 0 and "flannel.1" not in node.interfaces


def test_direct_argv_does_not_expand_globs(flannel_node):
    node = flannel_node()
    result = run_shell(node, ["rm", "/etc/cni/net.d/*flannel*"])
    assert result.exit_code == 1
    assert node.exists("/etc/cni/net.d/10-flannel.conflist")


def test_direct_exec_of_a_missing_binary_fails_to_start(host):
    result = run_shell(host, ["calicoctl", "version"])
    assert result.exit_code == 128
    assert result.stderr == 'exec: "calicoctl": executable file not found in $PATH\n'


def test_sleep_reports_simulated_seconds(host):
    result = run_shell(host, ["sh", "-c", "sleep 5; sleep 1.5; sleep 2m"])
    assert (result.exit_code, result.sleep_seconds, result.still_running) == (0, 126.5, False)


def test_sleep_infinity_keeps_the_container_running(host):
    result = run_shell(host, "echo ready; sleep 10; exec sleep infinity; echo never")
    assert result.still_running
    assert (result.stdout, result.sleep_seconds) == ("ready\n", 10)


def test_tail_f_keeps_the_container_running(host):
    assert run_shell(host, ["tail", "-f", "/dev/null"]).still_running


def test_nested_shell_shares_the_host_and_its_redirections(host):
    result = run_shell(host, "sh -c 'echo inner; exit 4' > /tmp/inner; echo $?")
    assert result.stdout == "4\n"
    assert host.read_file("/tmp/inner") == "inner\n"
