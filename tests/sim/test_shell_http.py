"""Tests for the simulated busybox wget and curl."""

from migrate.sim.host import run_shell


def test_wget_prints_the_body(host):
    calls = []

    def http_get(url, timeout):
        calls.append((url, timeout))
        return True, "ok"

    result = run_shell(host, "wget -q -O- -T 5 http://192.168.0.10:9099/liveness", http_get=http_get)
    assert (result.exit_code, result.stdout) == (0, "ok")
    assert calls == [("http://192.168.0.10:9099/liveness", 5.0)]


def test_wget_timeout_exits_1_like_busybox(host):
    result = run_shell(host, "wget -qO- http://10.96.0.1/healthz", http_get=lambda url, timeout: (False, ""))
    assert (result.exit_code, result.stderr) == (1, "wget: download timed out\n")


def test_wget_without_a_network_cannot_connect(host):
    result = run_shell(host, "wget --spider -q http://10.96.0.1/healthz")
    assert result.exit_code == 1
    assert result.stderr == "wget: can't connect to remote host (10.96.0.1): Network is unreachable\n"


def test_curl_timeout_exits_28(host):
    result = run_shell(host, "curl -sS -m 5 http://10.96.0.1/healthz", http_get=lambda url, timeout: (False, "timed out"))
    assert result.exit_code == 28
    assert result.stderr == "curl: (28) Connection timed out after 5001 milliseconds\n"


def test_curl_refused_exits_7_and_silent_hides_the_message(host):
    result = run_shell(host, "curl -s http://127.0.0.1:9099/liveness; echo $?",
                       http_get=lambda url, timeout: (False, "connection refused"))
    assert result.log == "7\n"


def test_curl_fail_turns_http_errors_into_exit_22(host):
    result = run_shell(host, "curl -sSf http://10.96.0.1/readyz", http_get=lambda url, timeout: (False, "503"))
    assert (result.exit_code, result.stderr) == (22, "curl: (22) The requested URL returned error: 503\n")
