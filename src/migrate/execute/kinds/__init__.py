"""Every step kind the planner can emit, registered by name."""
from . import calico, gates, handoff, node, objects, verify
from .base import KINDS, StepKind

__all__ = ["KINDS", "StepKind", "calico", "gates", "handoff", "node", "objects", "verify"]  # importing them registers their kinds
