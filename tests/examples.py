"""The example snapshot, plan and runbook in plans/ and runbooks/, generated from the simulator's scenarios.

`python tests/examples.py` writes them; tests/test_examples.py fails when they fall out of date.
"""
from __future__ import annotations

import datetime
import hashlib
import sys
from dataclasses import replace
from pathlib import Path

from migrate.kube import connect
from migrate.plan import PlanOptions, build_plan, plan_to_yaml
from migrate.plan.runbook import plan_to_markdown
from migrate.sim.calico_release import CALICO_RELEASE_VERSION, calico_release_manifest
from migrate.sim.cluster import running_cluster
from migrate.snapshot import gather_snapshot, snapshot_to_yaml

ROOT = Path(__file__).resolve().parents[1]
CAPTURED_AT = datetime.datetime(2026, 11, 24, 8, 0, tzinfo=datetime.timezone.utc)
# The options a reviewer sees in each example; jdcloud-prod runs a debug pod and emptyDir caches.
EXAMPLES = {"small": PlanOptions(),
            "jdcloud-prod": PlanOptions(force=True, delete_emptydir_data=True),
            "canal": PlanOptions()}  # Canal: per-node policy by default, its pool adopted


# The simulator's own Calico release stands in for the calico.yaml a user downloads; the plans pin it
# by checksum under a name relative to the plan's directory.
MANIFEST = f"calico-sim-{CALICO_RELEASE_VERSION}.yaml"


def render(scenario: str) -> dict[Path, str]:
    with running_cluster(scenario) as running:
        snapshot = gather_snapshot(connect(str(running.kubeconfig_path), None), now=CAPTURED_AT)
    text = calico_release_manifest()
    pinned = {"source": MANIFEST, "sha256": hashlib.sha256(text.encode()).hexdigest()}
    plan = build_plan(snapshot, replace(EXAMPLES[scenario], calico_manifest=pinned, calico_manifest_text=text))
    return {ROOT / "plans" / MANIFEST: text,
            ROOT / "plans" / f"{scenario}.snapshot.yaml": snapshot_to_yaml(snapshot),
            ROOT / "plans" / f"{scenario}.plan.yaml": plan_to_yaml(plan),
            ROOT / "runbooks" / f"{scenario}.md": plan_to_markdown(plan)}


if __name__ == "__main__":
    for name in sys.argv[1:] or EXAMPLES:
        for path, text in render(name).items():
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
