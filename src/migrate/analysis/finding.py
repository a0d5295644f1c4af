"""A preflight finding: plain, frozen data with a stable code that scripts and plans can key on."""
from __future__ import annotations

from dataclasses import asdict, dataclass

BLOCKER, WARNING, INFO = "blocker", "warning", "info"
SEVERITIES = (BLOCKER, WARNING, INFO)  # the order findings are reported in


@dataclass(frozen=True)
class Finding:
    severity: str  # blocker | warning | info
    code: str      # stable, e.g. BACKEND_NOT_VXLAN
    message: str   # what and where: node names, CIDRs, policy names
    fix: str       # how to resolve it

    def as_dict(self) -> dict:
        return asdict(self)


def names(items: list[str], limit: int = 8) -> str:
    """A readable list that stays short on a 1,000-node cluster."""
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown
