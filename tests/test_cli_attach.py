"""`migrate sim attach`: what it refuses before anything is registered (a real control plane: the realapi tier,
tests/test_attach_realapi.py)."""
from __future__ import annotations

import socket

import yaml


def _error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error:")]


def test_a_kubeconfig_that_cannot_be_read_is_one_line_and_exit_2(cli, tmp_path):
    result = cli("sim", "attach", "--kubeconfig", tmp_path / "absent")
    assert result.exit_code == 2
    assert len(_error_lines(result)) == 1 and "cannot use the kubeconfig" in _error_lines(result)[0]


def test_a_server_that_does_not_answer_is_one_line_and_exit_2(cli, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    result = cli("sim", "attach", "--kubeconfig", path)
    assert result.exit_code == 2
    assert len(_error_lines(result)) == 1 and "cannot reach the API server" in _error_lines(result)[0]


def test_an_unknown_timing_names_the_known_ones(cli, tmp_path):
    result = cli("sim", "attach", "--kubeconfig", tmp_path / "k", "--timing", "pod_starts=1")
    assert result.exit_code == 2
    assert "no timing named 'pod_starts'" in result.output and "pod_start" in result.output
