"""The example snapshot, plan and runbook in plans/ and runbooks/, generated from the simulator's scenarios.

`python tests/examples.py` writes them; tests/test_examples.py fails when they fall out of date.
"""
from __future__ import annotations

import datetime
import sys
from pathlib import Path

from migrate.kube import connect
from migrate.plan import PlanOptions, build_plan, plan_to_yaml
from migrate.plan.runbook import plan_to_markdown
from migrate.sim.cluster import running_cluster
from migrate.snapshot import gather_snapshot, snapshot_to_yaml

ROOT = Path(__file__).resolve().parents[1]
CAPTURED_AT = datetime.datetime(2026, 11, 24, 8, 0, tzinfo=datetime.timezone.utc)
# The options a reviewer sees in each example; jdcloud-prod runs a debug pod and emptyDir caches.
EXAMPLES = {"small": PlanOptions(),
            "jdcloud-prod": PlanOptions(force=True, delete_emptydir_data=True)}


def render(scenario: str) -> dict[Path, str]:
    with running_cluster(scenario) as running:
        snapshot = gather_snapshot(connect(str(running.kubeconfig_path), None), now=CAPTURED_AT)
    plan = build_plan(snapshot, EXAMPLES[scenario])
    return {ROOT / "plans" / f"{scenario}.snapshot.yaml": snapshot_to_yaml(snapshot),
            ROOT / "plans" / f"{scenario}.plan.yaml": plan_to_yaml(plan),
            ROOT / "runbooks" / f"{scenario}.md": plan_to_markdown(plan)}


if __name__ == "__main__":
    for name in sys.argv[1:] or EXAMPLES:
        for path, text in render(name).items():
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
