"""`migrate sim scenarios`, `migrate sim serve`, `migrate demo`: output, exit codes, bad input."""
import json
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest
import yaml
from click.testing import CliRunner

from migrate.cli import main
from migrate.sim.scenario import describe_bundled


def run(*args):
    return CliRunner().invoke(main, list(args), prog_name="migrate")


def assert_usage_error(result, *fragments):
    """Exit 2, one line on stderr saying what is wrong and how to fix it, nothing else."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def write(tmp_path, text: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return str(path)


def test_python_m_migrate_help_lists_the_commands():
    result = subprocess.run([sys.executable, "-m", "migrate", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "sim" in result.stdout and "demo" in result.stdout


def test_sim_scenarios_lists_all_seven_with_their_descriptions():
    result = run("sim", "scenarios")
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["autoscaling", "canal", "hostgw", "jdcloud-prod", "large", "legacy", "small"]
    for (name, description), line in zip(describe_bundled(), lines):
        assert line.split(None, 1)[1] == description


def test_serve_with_an_unknown_scenario_lists_the_known_ones():
    line = assert_usage_error(run("sim", "serve", "--scenario", "smal"), "'smal'")
    assert "autoscaling, canal, hostgw, jdcloud-prod, large, legacy, small" in line


def test_serve_with_a_yaml_syntax_error_names_the_file_and_line(tmp_path):
    path = write(tmp_path, "name: x\nnodeGroups:\n\t- {count: 1}\n")
    assert_usage_error(run("sim", "serve", "--scenario", path), path, "line 3", "valid YAML")


def test_serve_with_a_field_of_the_wrong_type_names_file_field_and_expectation(tmp_path):
    path = write(tmp_path, 'nodeGroups:\n  - {count: "x", namePrefix: n-, subnet: 10.0.0.0/24}\n')
    assert_usage_error(run("sim", "serve", "--scenario", path), path, "nodeGroups[0].count",
                       "expected an integer, got 'x'")


def test_serve_with_an_unknown_field_names_it_and_the_known_ones(tmp_path):
    path = write(tmp_path, "nodeGroups:\n  - {count: 1, namePrefix: n-, subnet: 10.0.0.0/24, colour: red}\n")
    assert_usage_error(run("sim", "serve", "--scenario", path), path, "nodeGroups[0].colour",
                       "not a known field", "namePrefix")


def test_serve_with_an_empty_scenario_file_says_so(tmp_path):
    path = write(tmp_path, "")
    assert_usage_error(run("sim", "serve", "--scenario", path), path, "is empty")


def test_serve_with_a_missing_scenario_file_says_so(tmp_path):
    path = str(tmp_path / "absent.yaml")
    assert_usage_error(run("sim", "serve", "--scenario", path), path, "does not exist")


def test_serve_on_a_port_in_use_says_so():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert_usage_error(run("sim", "serve", "--port", str(port)), f"port {port}", "already in use", "--port 0")


def test_serve_with_an_unwritable_kubeconfig_path_says_so(tmp_path):
    (tmp_path / "file").write_text("")
    assert_usage_error(run("sim", "serve", "--port", "0", "--kubeconfig-out", str(tmp_path / "file" / "kc")),
                       "cannot write the kubeconfig", "--kubeconfig-out")


def test_serve_with_fewer_nodes_than_the_other_groups_hold_says_so():
    assert_usage_error(run("sim", "serve", "--scenario", "jdcloud-prod", "--nodes", "15"),
                       "--nodes 15", "give --nodes 16 or more")


def test_serve_with_more_nodes_than_the_subnet_holds_says_so():
    assert_usage_error(run("sim", "serve", "--scenario", "small", "--nodes", "400"), "--nodes 400", "192.168.10.0/24")


def test_serve_with_zero_nodes_is_one_usage_line():
    assert_usage_error(run("sim", "serve", "--nodes", "0"), "'--nodes'", "0 is not in the range",
                       "see `migrate sim serve --help`")


def test_an_unknown_option_is_one_usage_line():
    assert_usage_error(run("sim", "serve", "--scenaro", "small"), "--scenaro", "`migrate sim serve --help`")


def test_an_unknown_command_is_one_usage_line():
    assert_usage_error(run("simulate"), "No such command 'simulate'", "see `migrate --help`")


def test_serve_answers_on_its_url_and_stops_cleanly_on_sigterm(tmp_path):
    kubeconfig = tmp_path / "kc"
    process = subprocess.Popen([sys.executable, "-m", "migrate", "sim", "serve", "--port", "0",
                                "--kubeconfig-out", str(kubeconfig)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        printed = []
        for line in process.stdout:
            printed.append(line)
            if "Ctrl-C" in line:
                break
        api_line = next(line for line in printed if line.strip().startswith("API"))
        url = api_line.split()[1]
        server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        assert server == url
        with urllib.request.urlopen(f"{url}/version", timeout=5) as response:
            assert json.load(response)["major"] == "1"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert out.strip().endswith("stopped")
    assert "Traceback" not in err


def test_demo_migrates_every_node_with_no_failed_flow_and_every_check_passing(tmp_path):
    result = run("demo", "--scenario", "small", "--yes", "--keep", tmp_path)
    assert result.exit_code == 0, result.output
    out = result.stdout
    for node, cidr in (("control-plane-1", "10.244.0.0/24"), ("worker-1", "10.244.1.0/24"), ("worker-2", "10.244.2.0/24")):
        row = next(line for line in out.splitlines() if f" {node} " in line)
        assert "Ready" in row and cidr in row
        assert f"ok   {node} pod IPs in {cidr}" in out and f"ok   {node} has no Flannel leftover" in out
    probe = next(line for line in out.splitlines() if line.startswith("traffic probe during the migration:"))
    assert " 0 failed" in probe and int(probe.split()[5]) > 0
    assert "0 failed flows" in result.stderr and "FAIL" not in out
    assert {p.name for p in tmp_path.iterdir()} >= {"snapshot.yaml", "plan.yaml", "plan.yaml.journal.jsonl",
                                                    "plan.yaml.audit.jsonl", "calico.yaml"}


def test_demo_resizes_a_scenario_with_nodes():
    result = run("demo", "--scenario", "large", "--nodes", "5", "--yes")
    assert result.exit_code == 0, result.output
    assert "worker-2 " in result.stdout and "worker-3 " not in result.stdout


def test_demo_asks_once_before_applying(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--scenario", "small"], input="n\n", prog_name="migrate")
    assert result.exit_code == 5 and "apply plan" in result.stderr
    assert "apply ───" not in result.stdout


def test_demo_with_a_bad_scenario_file_is_a_usage_error(tmp_path):
    path = write(tmp_path, "nodeGroups: 3\n")
    assert_usage_error(run("demo", "--scenario", path), path, "nodeGroups", "a list")


@pytest.mark.parametrize("markup", ["[bold]", "[red]x[/red]"])
def test_error_lines_print_brackets_from_the_input_verbatim(tmp_path, markup):
    path = tmp_path / markup / "s.yaml"
    assert_usage_error(run("sim", "serve", "--scenario", str(path)), str(path))


def test_demo_autoscaling_hands_off_the_nodes_that_join_and_loses_no_flow():
    result = run("demo", "--scenario", "autoscaling", "--yes")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for joined in ("pool-a-4", "pool-b-4", "pool-b-5"):  # the autoscaler's nodes, adopted and handed off
        assert f"node-joined {joined} joined the cluster" in result.output
        assert f"ok   {joined} has no Flannel leftover" in out
    assert "ok   pool-a-3 " not in out  # scaled down mid-run
    probe = next(line for line in out.splitlines() if line.startswith("traffic probe during the migration:"))
    assert " 0 failed" in probe and "0 failed flows" in result.stderr and "FAIL" not in out
    assert "0 unanswered DNS lookups" in result.stderr


def test_demo_on_smaller_nics_rolls_back_and_plans_again_with_the_mtu_the_nodes_run():
    out = run("demo", "--scenario", "autoscaling", "--yes").output
    failed, replanned = out.index("prepare/flannel-mtu failed"), out.index("plans again with --mtu 1350")
    assert failed < out.index("rolled back completely") < replanned < out.index("Calico runs 1350 everywhere")
    assert "prepare/calico/manifest done" not in out[:replanned]


def test_demo_given_the_mtu_runs_once():
    out = run("demo", "--scenario", "autoscaling", "--mtu", "1350", "--yes").output
    assert "Calico runs 1350 everywhere" in out and "prepare/flannel-mtu failed" not in out
