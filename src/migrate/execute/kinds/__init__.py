"""Every step kind the planner can emit, registered by name."""
from . import gates, node, objects
from .base import KINDS, StepKind

__all__ = ["KINDS", "StepKind", "gates", "node", "objects"]  # importing them registers their kinds
