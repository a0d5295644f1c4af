"""Preflight analysis: a pure function from a snapshot's plain data to findings. No API calls, no I/O.

Each check module looks at one concern and returns findings in a stable order; `analyse` concatenates
them and sorts by severity only (a stable sort), so the order within a severity is the check order.
"""
from __future__ import annotations

from . import addressing, cloud, drain, flannel, platform, policies
from .finding import BLOCKER, INFO, SEVERITIES, WARNING, Finding

CHECKS = (flannel.check, platform.check, addressing.check, drain.check, policies.check, cloud.check)


def analyse(snapshot, *, block_size: int | None = None) -> list[Finding]:
    """Findings for a Snapshot (or its `content` dict), blockers first, then warnings, then info.

    `block_size` is the Calico IPAM block prefix the plan will use; by default the block the plan would
    choose: an existing Calico pool's blockSize, else Flannel's SubnetLen (blocks that match each
    node's podCIDR exactly)."""
    content = getattr(snapshot, "content", snapshot)
    findings = [f for check in CHECKS for f in check(content, block_size=block_size)]
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))


def has_blocker(findings: list[Finding]) -> bool:
    return any(f.severity == BLOCKER for f in findings)


__all__ = ["analyse", "has_blocker", "Finding", "BLOCKER", "WARNING", "INFO"]
