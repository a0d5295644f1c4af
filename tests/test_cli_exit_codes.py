"""Every command exits with the codes its --help documents, each one seen happening (README, "Exit codes")."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from migrate.execute.lease import ClusterLock

LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/flannel-to-calico-migration"
SMALL = "plans/small.snapshot.yaml"
JDCLOUD = "plans/jdcloud-prod.snapshot.yaml"  # has pods a drain refuses without --force, --delete-emptydir-data


class Case:
    """What one table row may use: the CLI, the small migration (its plan written), a scratch folder."""

    def __init__(self, cli, run, tmp_path, monkeypatch):
        self.cli, self.run, self.tmp, self.monkeypatch = cli, run, tmp_path, monkeypatch
        self.plan, self.args = str(run.plan_file), [str(a) for a in run.args]
        self.manifest = tmp_path / "calico.yaml"

    def started(self):
        """A run killed after its first steps, its lock out of the way."""
        self.run.apply(kill_at=lambda r: r.type == "step" and r.step == "prepare/backup" and r.outcome == "done")
        self.run.kube.delete(LEASE)
        return self

    def held(self, renewing=False):
        alice = ClusterLock(self.run.kube, identity="alice@laptop pid 41", clock=self.run.clock)
        alice.acquire(self.run.plan.digest)
        if renewing:
            sleep = self.run.clock.sleep

            def alive(seconds):
                sleep(seconds)
                alice.renew()
            self.run.clock.sleep = alive
        return self

    def stopping(self):
        """Ctrl-C asked before the first step."""
        self.monkeypatch.setattr("migrate.apply_cli._StopFlag.__call__", lambda flag: True)
        return self

    def manifest_gone(self):
        self.manifest.unlink()
        return self

    def edited_plan(self):
        path = Path(self.plan)
        path.write_text(path.read_text().replace("timeoutSeconds: 600", "timeoutSeconds: 6"))
        return self

    def flannel_never_returns(self):
        """Flannel's DaemonSet selects no node any more: a rollback's wait for it on a node gives up."""
        self.run.kube.patch("/apis/apps/v1/namespaces/kube-flannel/daemonsets/kube-flannel-ds",
                            {"spec": {"template": {"spec": {"nodeSelector": {"no-such-label": "x"}}}}})
        return self

    def demo_scenario(self, faults: dict) -> str:
        scenario = yaml.safe_load(Path("src/migrate/sim/scenarios/small.yaml").read_text())
        scenario["faults"] = faults
        path = self.tmp / "faulty.yaml"
        path.write_text(yaml.safe_dump(scenario))
        return str(path)


def in_flannel_step_wait(c: Case) -> Case:
    c.run.apply(kill_at=lambda r: r.type == "step" and r.step == "node/worker-1/flannel-off" and r.outcome == "done")
    c.run.kube.delete(LEASE)
    return c.flannel_never_returns()


TABLE = {
    ("sim", 0): lambda c: c.cli("sim", "scenarios"),
    ("sim", 2): lambda c: c.cli("sim", "serve", "--scenario", "nope"),
    ("demo", 0): lambda c: c.cli("demo", "--scenario", "small", "--yes"),
    ("demo", 1): lambda c: c.cli("demo", "--scenario", c.demo_scenario({"calico_never_ready": ["worker-1"]}), "--yes"),
    ("demo", 2): lambda c: c.cli("demo", "--scenario", "nope"),
    ("demo", 5): lambda c: c.cli("demo", "--scenario", "small", input="n\n"),
    ("snapshot", 0): lambda c: c.cli("snapshot", *c.args, "-o", c.tmp / "s.yaml"),
    ("snapshot", 2): lambda c: c.cli("snapshot", "--kubeconfig", c.tmp / "absent"),
    ("preflight", 0): lambda c: c.cli("preflight", "--snapshot", JDCLOUD, "--force", "--delete-emptydir-data"),
    ("preflight", 2): lambda c: c.cli("preflight", "--snapshot", c.tmp / "absent.yaml"),
    ("preflight", 3): lambda c: c.cli("preflight", "--snapshot", JDCLOUD),
    ("plan", 0): lambda c: c.cli("plan", "--snapshot", SMALL, "--calico-manifest", c.manifest, "-o", c.tmp / "p.yaml"),
    ("plan", 2): lambda c: c.cli("plan", "--snapshot", SMALL, "-o", c.tmp / "p.yaml"),  # nothing apply would take
    ("plan", 3): lambda c: c.cli("plan", "--snapshot", JDCLOUD, "--calico-manifest", c.manifest),
    ("show", 0): lambda c: c.cli("show", c.plan),
    ("show", 2): lambda c: c.cli("show", c.tmp / "absent.yaml"),
    ("apply", 0): lambda c: c.cli("apply", c.plan, *c.args, "--yes"),
    ("apply", 1): lambda c: c.manifest_gone().cli("apply", c.plan, *c.args, "--yes"),
    ("apply", 2): lambda c: c.cli("apply", c.plan, *c.args),  # stdin closed, no --yes
    ("apply", 4): lambda c: c.started().held().cli("apply", c.plan, *c.args, "--yes"),
    ("apply", 5): lambda c: c.cli("apply", c.plan, *c.args, "--step", input="a\n"),
    ("apply", 130): lambda c: c.stopping().cli("apply", c.plan, *c.args, "--yes"),
    ("resume", 0): lambda c: c.started().cli("resume", c.plan, *c.args, "--yes"),
    ("resume", 1): lambda c: c.started().manifest_gone().cli("resume", c.plan, *c.args, "--yes"),
    ("resume", 2): lambda c: c.started().edited_plan().cli("resume", c.plan, *c.args, "--yes"),
    ("resume", 4): lambda c: c.started().held().cli("resume", c.plan, *c.args, "--yes"),
    ("resume", 5): lambda c: c.started().cli("resume", c.plan, *c.args, "--step", input="a\n"),
    ("resume", 130): lambda c: c.started().stopping().cli("resume", c.plan, *c.args, "--yes"),
    ("status", 0): lambda c: c.started().cli("status", c.plan, *c.args),
    ("status", 2): lambda c: c.edited_plan().cli("status", c.plan, *c.args),
    ("rollback", 0): lambda c: c.started().cli("rollback", c.plan, *c.args, "--yes"),
    ("rollback", 1): lambda c: in_flannel_step_wait(c).cli("rollback", c.plan, *c.args, "--yes"),
    ("rollback", 2): lambda c: c.started().cli("rollback", c.plan, *c.args),  # stdin closed, no --yes
    ("rollback", 4): lambda c: c.started().held().cli("rollback", c.plan, *c.args, "--yes"),
    ("rollback", 5): lambda c: c.started().cli("rollback", c.plan, *c.args, input="n\n"),
    ("rollback", 130): lambda c: c.started().stopping().cli("rollback", c.plan, *c.args, "--yes"),
    ("unlock", 0): lambda c: c.started().held().cli("unlock", c.plan, *c.args, "--yes"),
    ("unlock", 2): lambda c: c.started().held().cli("unlock", c.plan, *c.args),  # stdin closed, no --yes
    ("unlock", 4): lambda c: c.started().held(renewing=True).cli("unlock", c.plan, *c.args, "--yes"),
    ("unlock", 5): lambda c: c.started().held().cli("unlock", c.plan, *c.args, input="n\n"),
    ("verify", 0): lambda c: c.cli("verify", *c.args),
    ("verify", 1): lambda c: (c.run.cluster.faults.update({"nodes_not_ready": ["worker-2"]}), c.cli("verify", *c.args))[1],
    ("verify", 2): lambda c: c.cli("verify", "--kubeconfig", c.tmp / "absent"),
}


@pytest.mark.parametrize("command,code", sorted(TABLE), ids=[f"{c}-{n}" for c, n in sorted(TABLE)])
def test_the_command_exits_with_the_documented_code(cli, small_run, tmp_path, monkeypatch, command, code):
    result = TABLE[command, code](Case(cli, small_run, tmp_path, monkeypatch))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and "Aborted!" not in result.output
    if code == 2:  # bad input: one line saying what and how to fix it
        assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 1, result.stderr


def documented_codes(help_text: str) -> set[int]:
    found = re.search(r"Exit codes?:(.*?)(?:\n\n|Options:)", help_text, re.S)
    assert found, help_text
    return {int(n) for n in re.findall(r"\b(\d+)\b", found.group(1))}


@pytest.mark.parametrize("command", sorted({c for c, _ in TABLE}))
def test_the_help_documents_exactly_the_codes_the_table_sees(cli, command):
    help_text = cli(command, "--help").stdout
    assert documented_codes(help_text) == {code for c, code in TABLE if c == command}


def test_the_readme_lists_every_code_any_command_documents():
    readme = Path("README.md").read_text()
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    assert {int(n) for n in re.findall(r"\b(\d+)\b", section)} >= {code for _, code in TABLE}
