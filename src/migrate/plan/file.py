"""The plan file: YAML a person can read, diff and approve, bound by digest to its snapshot."""
from __future__ import annotations

from pathlib import Path

from .. import yaml_files
from ..errors import UserError
from .model import SCHEMA, Plan, PlanStep, Wave, body_digest


class PlanFileError(UserError):
    """A plan file that cannot be trusted: unreadable, truncated, of another schema or edited."""


def plan_to_yaml(plan: Plan) -> str:
    return yaml_files.dump({"digest": plan.digest, **plan.body()})


def load_plan(path: str | Path) -> Plan:
    path = Path(path)
    fix = "build it again with `migrate plan ... -o FILE`; change a plan through its options, never by hand"
    document = yaml_files.read_document(path, "plan", PlanFileError, fix)
    required = {"digest", "schema", "snapshot", "options", "findings", "waves", "steps"}
    if not isinstance(document, dict) or "schema" not in document:
        raise PlanFileError(f"{path} is not a migration plan (no schema)", fix)
    if document["schema"] != SCHEMA:
        raise PlanFileError(f"plan {path} has schema {document['schema']!r}, this tool reads {SCHEMA!r}", fix)
    if not required <= set(document):
        raise PlanFileError(f"plan {path} is incomplete (truncated?)", fix)
    body = {k: v for k, v in document.items() if k != "digest"}
    if body_digest(body) != document["digest"]:
        raise PlanFileError(f"plan {path} does not match its digest (edited or truncated)", fix)
    snapshot = document["snapshot"]
    return Plan(cluster_id=snapshot["clusterId"], snapshot_digest=snapshot["digest"],
                snapshot_captured_at=snapshot["capturedAt"], options=document["options"],
                findings=tuple(document["findings"]),
                waves=tuple(Wave(w["index"], w["name"], tuple(w["nodes"])) for w in document["waves"]),
                steps=tuple(PlanStep.from_dict(s) for s in document["steps"]), digest=document["digest"])
