"""kube access against the simulated cluster: construction, typed errors, retries, pagination."""
from __future__ import annotations

import socket

import pytest
import yaml

from migrate import kube
from migrate.sim.cluster import running_cluster


def no_sleep(seconds: float) -> None:
    pass


def test_explicit_kubeconfig_wins_over_environment(served_small, monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    client = kube.connect(str(served_small.kubeconfig_path), sleep=no_sleep)
    assert client.get("/version")["major"] == "1"


def test_kubeconfig_environment_list_is_accepted(served_small, monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", f"{served_small.kubeconfig_path}:{tmp_path / 'absent'}")
    assert kube.connect(sleep=no_sleep).get("/version")["major"] == "1"


def test_missing_kubeconfig_is_a_user_error(tmp_path):
    with pytest.raises(kube.KubeconfigError, match="does not exist"):
        kube.connect(str(tmp_path / "nope"))


def test_unreadable_kubeconfig_is_a_user_error(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text("clusters: [unclosed\n")
    with pytest.raises(kube.KubeconfigError, match="not valid YAML") as raised:
        kube.connect(str(path))
    assert raised.value.exit_code == 2 and "\n" not in raised.value.line()


def test_unknown_context_lists_the_known_ones(served_small):
    with pytest.raises(kube.UnknownContext) as raised:
        kube.connect(str(served_small.kubeconfig_path), context="prod")
    assert "sim-small" in raised.value.line()


def test_unreachable_api_names_the_server(served_small, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = yaml.safe_load(served_small.kubeconfig_path.read_text())
    config["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{port}"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(kube.ApiUnreachable, match=f"127.0.0.1:{port}"):
        kube.connect(str(path), sleep=no_sleep).get("/version")


def test_forbidden_list_names_verb_resource_and_user(served_small):
    path = served_small.cluster.write_kubeconfig(served_small.directory / "viewer",
                                                 served_small.cluster.credentials.viewer_token)
    with pytest.raises(kube.Forbidden) as raised:
        kube.connect(str(path), sleep=no_sleep).list("/api/v1/nodes")
    assert "list nodes" in raised.value.line() and "sim-viewer" in raised.value.line()


def test_missing_object_is_not_found(served_small):
    client = kube.connect(str(served_small.kubeconfig_path), sleep=no_sleep)
    with pytest.raises(kube.NotFound):
        client.get("/api/v1/namespaces/default/configmaps/absent")
    assert client.get_optional("/api/v1/namespaces/default/configmaps/absent") is None


def test_transient_errors_are_retried_with_retry_after():
    with running_cluster("small", seed=7) as running:
        running.cluster.faults.update({"api_error_rate": 0.3, "api_error_codes": [503], "retry_after_seconds": 2})
        waits: list[float] = []
        client = kube.connect(str(running.kubeconfig_path), sleep=waits.append, attempts=10)
        pods = client.list("/api/v1/pods", page_size=3)
        failures = [r for r in running.request_log.records() if r.status == 503]
    assert pods and failures and len(waits) == len(failures)
    assert all(w >= 2 for w in waits)


def test_persistent_failure_gives_up_after_a_few_attempts(served_small):
    served_small.cluster.faults.update({"api_error_rate": 1.0, "api_error_codes": [500]})
    waits: list[float] = []
    client = kube.connect(str(served_small.kubeconfig_path), sleep=waits.append, attempts=4)
    with pytest.raises(kube.ApiUnreachable, match="kept failing"):
        client.get("/api/v1/namespaces/kube-system")
    assert client.calls["get"] == 4 and waits == [0.5, 1.0, 2.0]


def test_list_pages_and_counts_one_call_per_page(served_small):
    client = kube.connect(str(served_small.kubeconfig_path), sleep=no_sleep)
    everything = client.list("/api/v1/pods", page_size=1000)
    paged = client.list("/api/v1/pods", page_size=4)
    assert [p["metadata"]["name"] for p in paged] == [p["metadata"]["name"] for p in everything]
    assert client.calls["list"] == 1 + -(-len(everything) // 4)
    assert isinstance(paged[0], dict)


def test_an_expired_continue_token_falls_back_to_one_whole_list(served_small):
    client = kube.connect(str(served_small.kubeconfig_path), sleep=no_sleep)
    expected = [p["metadata"]["name"] for p in client.list("/api/v1/pods", page_size=1000)]
    cluster, send = served_small.cluster, client._request

    def compacting_between_pages(verb, path, query):
        answer = send(verb, path, query)
        if "limit" in query and "continue" not in query:  # after the first page: a write, then compaction
            cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bump", "namespace": "default"}})
            cluster.store.compact_history()
        return answer

    client._request = compacting_between_pages
    paged = client.list("/api/v1/pods", page_size=4)
    assert [p["metadata"]["name"] for p in paged] == expected
    assert client.calls["list"] == 1 + 3  # the whole list above; then first page, the 410, one whole list


def test_each_retry_is_reported_with_its_attempt_wait_and_cause():
    with running_cluster("small", seed=3) as running:
        running.cluster.faults.update({"api_error_rate": 1.0, "api_error_codes": [503], "retry_after_seconds": 4})
        client = kube.connect(str(running.kubeconfig_path), sleep=lambda s: None, attempts=3)
        said = []
        client.on_retry = said.append
        with pytest.raises(kube.ApiUnreachable):
            client.get("/api/v1/nodes")
    assert said == ["attempt 1/3 failed; will retry in 4s: HTTP 503", "attempt 2/3 failed; will retry in 4s: HTTP 503"]


def test_a_write_with_a_field_the_server_does_not_know_is_refused_not_silently_dropped(served_small):
    client = kube.connect(str(served_small.kubeconfig_path), sleep=no_sleep)
    with pytest.raises(kube.Rejected, match='strict decoding error: unknown field "spec"'):
        client.create("/api/v1/namespaces/default/configmaps", {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "typo"}, "spec": {"colour": "red"}})
    assert client.get_optional("/api/v1/namespaces/default/configmaps/typo") is None
