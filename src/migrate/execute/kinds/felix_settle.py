"""Waiting out a FelixConfiguration or IPPool change: no API object says when each node's Felix has applied one.

Every Felix watches the datastore on its own and restarts for most FelixConfiguration changes and for an
encapsulation turned on or off (Calico v3.32.1 felix/daemon/daemon.go handleConfigUpdate: a 2 s shutdown sleep,
then runit starts it again; felix/calc/encapsulation_resolver.go), keeping its old data plane until the new process
re-programs it. So a step that changed them waits long enough for every Felix to have seen the change and restarted,
then for calico-node Ready everywhere, before anything probes the new data plane or changes the next thing.
"""
from __future__ import annotations

from ..errors import StepFailed
from .handoff import calico_node_on, pod_ready

SETTLE_SECONDS = 30  # a watch delivers within a second or two; a restart takes seconds more
HINT = "see runbooks/troubleshooting.md (calico-node not Ready), then `migrate resume PLAN`"


def felix_settled(ctx) -> bool:
    """For a step's check: SETTLE_SECONDS since the step first started (its change came after that) and calico-node
    Ready on every node, so a run killed during wait_felix_settled waits on when resumed."""
    if ctx.clock.now() < ctx.started_at + SETTLE_SECONDS:
        return False
    return all((lambda p: p and pod_ready(p))(calico_node_on(ctx, n["metadata"]["name"]))
               for n in ctx.kube.list("/api/v1/nodes"))


def wait_felix_settled(ctx, what: str) -> None:
    """Wait SETTLE_SECONDS after a change to Felix's inputs, then until calico-node is Ready on every node."""
    if not ctx.writes or ctx.dry_run:
        ctx.say(f"would wait {SETTLE_SECONDS}s for every Felix to apply {what}, then calico-node Ready everywhere")
        return
    until = ctx.clock.now() + SETTLE_SECONDS
    missing: list[str] = []

    def settled():
        if ctx.clock.now() < until:
            return False
        nodes = [n["metadata"]["name"] for n in ctx.kube.list("/api/v1/nodes")]
        missing[:] = [n for n in nodes if not (lambda p: p and pod_ready(p))(calico_node_on(ctx, n))]
        return not missing
    try:
        ctx.wait_for(settled, timeout=SETTLE_SECONDS + 300, what=f"every Felix to apply {what}", hint=HINT)
    except StepFailed as failed:
        raise StepFailed(f"{failed.message}: calico-node not Ready on {', '.join(missing[:8])}", HINT) from None
