"""The planner: snapshot + options → a reviewable, digest-sealed plan of small, undoable steps."""
from .file import PlanFileError, load_plan, plan_to_yaml
from .model import PHASES, SCHEMA, Plan, PlanStep, Wave
from .options import PlanOptionError, PlanOptions
from .planner import PlanBlocked, build_plan

__all__ = ["build_plan", "PlanOptions", "Plan", "PlanStep", "Wave", "PlanBlocked", "PlanOptionError",
           "PlanFileError", "load_plan", "plan_to_yaml", "PHASES", "SCHEMA"]
