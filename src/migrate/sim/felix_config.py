"""When one node's Felix acts on a FelixConfiguration or IPPool change: never at the same instant as the others.

Calico v3.32.1, what a running Felix does with a datastore change:
- FelixConfiguration: the calculation graph sends the new values to the daemon (felix/daemon/daemon.go
  handleConfigUpdate), which compares the *effective* values (felix/config/config_params.go resolve: the
  environment outranks the datastore, so a field an env var sets never changes) and, for any field but the few in
  handledConfigChanges, shuts Felix down ("Configuration value changed; change DOES require Felix to restart").
- IPPools: the calc graph applies mode changes live (routes), but the encapsulation resolver
  (felix/calc/encapsulation_resolver.go) recomputes whether IPIP and VXLAN are enabled (any pool not Never, unless
  FelixConfiguration ipipEnabled/vxlanEnabled pins it) and the daemon restarts Felix when either flips
  (daemon.go sendMessagesToDataplaneDriver, "IPIP and/or VXLAN encapsulation changed, need to restart").
- A restart: the managed shutdown sleeps 2 s "to avoid a tight restart loop" and exits (daemon.go), runit starts
  `calico-node -felix` again (node/filesystem/etc/service/available/felix/run), which loads its config, resyncs and
  only then programs the data plane and reports ready. Meanwhile the kernel keeps what the old Felix programmed
  (devices, routes, iptables) and calico-node's readiness probe fails.

Each node's Felix has its own watch (or Typha connection) and its own restart, so nodes act on one change a few
seconds apart. The model: a node sees a change after a delay drawn from the scenario's seed in
[0, felix_watch_spread), then either applies it at once or restarts for felix_restart seconds and applies what the
datastore holds when it comes back. calico-node's tunnel address allocator (node/pkg/allocateip), a watcher of
its own, is modelled on the same view. Not modelled: per-node FelixConfigurations (`node.<name>`), restarts of
different lengths (each takes felix_restart).
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field

from .calico_ipam import CALICO_GROUP, calico_selector_matches

# daemon.go handledConfigChanges, as FelixConfiguration spec fields (the other three come from ClusterInformation).
NO_RESTART_FIELDS = {"healthTimeoutOverrides"}


@dataclass
class FelixInputs:
    """What Felix runs with: the FelixConfiguration `default` spec and every IPPool (name -> spec)."""
    config: dict = field(default_factory=dict)
    pools: dict[str, dict] = field(default_factory=dict)


def read_inputs(ctx) -> FelixInputs:
    """The datastore's current FelixConfiguration and IPPools."""
    felix_type = ctx.registry.lookup(CALICO_GROUP, "v1", "felixconfigurations")
    pools_type = ctx.registry.lookup(CALICO_GROUP, "v1", "ippools")
    default = ctx.store.find(felix_type, None, "default") if felix_type is not None else None
    pools = ctx.store.items(pools_type) if pools_type is not None else []
    return FelixInputs(copy.deepcopy((default or {}).get("spec") or {}),
                       {p["metadata"]["name"]: copy.deepcopy(p.get("spec") or {}) for p in pools})


def _overridden(env: dict[str, str], key: str) -> bool:
    """A config parameter the environment sets (FELIX_<NAME>, case-insensitive) outranks the datastore's."""
    return bool(env.get(f"FELIX_{key.upper()}"))


def encapsulation(inputs: FelixInputs) -> tuple[bool, bool]:
    """(IPIP enabled, VXLAN enabled) as EncapsulationCalculator works them out: IPv4 pools not Never, unless
    FelixConfiguration pins ipipEnabled/vxlanEnabled."""
    pools = [p for p in inputs.pools.values() if ":" not in p.get("cidr", ":")]
    ipip = inputs.config.get("ipipEnabled")
    vxlan = inputs.config.get("vxlanEnabled")
    return (ipip if ipip is not None else any(p.get("ipipMode", "Never") != "Never" for p in pools),
            vxlan if vxlan is not None else any(p.get("vxlanMode", "Never") != "Never" for p in pools))


def restart_reason(old: FelixInputs, new: FelixInputs, env: dict[str, str]) -> str:
    """Why Felix restarts to take `new` over `old`, or '' when it applies it live."""
    changed = sorted(k for k in set(old.config) | set(new.config)
                     if old.config.get(k) != new.config.get(k) and k not in NO_RESTART_FIELDS
                     and not _overridden(env, k))
    if changed:
        return f"Configuration value changed; change DOES require Felix to restart. key={changed[0]}"
    if encapsulation(old) != encapsulation(new):
        return "IPIP and/or VXLAN encapsulation changed, need to restart."
    return ""


def watch_delay(seed: int, node: str, change: int, spread: float) -> float:
    """When this node's Felix sees its `change`-th datastore change, after it was made: seeded, so a scenario
    replays the same stagger, and apart from the world's random draws."""
    digest = hashlib.sha256(f"{seed}/felix/{node}/{change}".encode()).digest()
    return spread * int.from_bytes(digest[:4], "big") / 2 ** 32


class FelixWatch:
    """One node's Felix: the inputs it has applied, when it next sees the datastore, whether it is restarting."""

    def __init__(self, node: str, applied: FelixInputs):
        self.node = node
        self.applied = applied
        self.sees_at: float | None = None
        self.restart_until: float | None = None
        self.changes = 0

    def observe(self, latest: FelixInputs, now: float, seed: int, spread: float) -> None:
        """The datastore changed: this Felix will see it after its own delay (one already pending covers it)."""
        if self.sees_at is not None or self.restart_until is not None or latest == self.applied:
            return
        self.changes += 1
        self.sees_at = now + watch_delay(seed, self.node, self.changes, spread)

    def step(self, latest: FelixInputs, now: float, restart: float, env: dict[str, str]) -> str | None:
        """Move on to `now`. Returns None when nothing happened, 'applied' when new inputs took effect, or the
        restart reason when Felix went down."""
        if self.restart_until is not None:
            if now < self.restart_until:
                return None
            self.restart_until = None
            self.applied = latest  # the new process reads what the datastore holds now
            return "applied"
        if self.sees_at is None or now < self.sees_at:
            return None
        seen, self.sees_at = self.sees_at, None
        if latest == self.applied:
            return None
        reason = restart_reason(self.applied, latest, env)
        if reason and seen + restart > now:
            self.restart_until = seen + restart
            return reason
        self.applied = latest
        return "applied"

    def restarting(self, now: float) -> bool:
        return self.restart_until is not None and now < self.restart_until

    def due(self) -> float | None:
        return self.restart_until if self.restart_until is not None else self.sees_at

    def pool_objects(self) -> list[dict]:
        """Every applied IPPool (disabled ones too), as {metadata.name, spec}."""
        return [{"metadata": {"name": name}, "spec": spec} for name, spec in sorted(self.applied.pools.items())]

    def pools_for(self, labels: dict, use: str) -> list[dict]:
        """The applied IPv4 pools that apply to a node with these labels and allow `use` (as CalicoIpam.pools_for
        selects them from the datastore)."""
        return [{"metadata": {"name": name}, "spec": spec} for name, spec in sorted(self.applied.pools.items())
                if not spec.get("disabled") and ":" not in spec.get("cidr", ":")
                and use in (spec.get("allowedUses") or ("Workload", "Tunnel"))
                and calico_selector_matches(spec.get("nodeSelector", "all()"), labels)]
