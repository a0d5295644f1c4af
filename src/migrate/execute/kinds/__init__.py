"""Every step kind the planner can emit, registered by name."""
from . import calico, gates, handoff, joined, mtu, node, objects, verify
from .base import KINDS, StepKind

__all__ = ["KINDS", "StepKind", "calico", "gates", "handoff", "joined", "mtu", "node", "objects", "verify"]  # importing them registers their kinds
