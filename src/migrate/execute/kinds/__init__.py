"""Every step kind the planner can emit, registered by name."""
from . import calico, encapsulation, gates, handoff, joined, mtu, node, objects, verify
from .base import KINDS, StepKind

__all__ = ["KINDS", "StepKind", "calico", "encapsulation", "gates", "handoff", "joined", "mtu", "node", "objects", "verify"]  # importing them registers their kinds
