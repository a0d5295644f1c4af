"""Finalize's encapsulation steps: the pool's switch, Felix's settings, BIRD for releases whose Felix cannot
program IPIP routes, and the waits that read every node's links and routes, so the switch is ordered by what
the nodes really run rather than by what was written to the API (each Felix applies a change on its own)."""
from __future__ import annotations

import copy
import ipaddress
import re

from ...objects import host_reading_pod
from .base import StepKind, kind, undo_mutations
from .felix_settle import felix_settled, wait_felix_settled
from .objects import CALICO, matches, rolled_out, rollout_budget
from .pods import run_batch_to_completion, termination

FELIX = f"{CALICO}/felixconfigurations/default"
CALICO_CONFIG = "/api/v1/namespaces/kube-system/configmaps/calico-config"
CALICO_NODE = "/apis/apps/v1/namespaces/kube-system/daemonsets/calico-node"
READING = "encapsulation-reading"
BATCH = 50
WAIT = 600        # seconds for every node to reach a state (Felix restarts, staggered applies)
POLL = 10


# ---- the pool and Felix ---------------------------------------------------------------------------

@kind("switch-encapsulation")
class SwitchEncapsulation(StepKind):
    def _pool_path(self, step):
        return f"{CALICO}/ippools/{step.target.split('/', 1)[1]}"

    def check(self, ctx, step):
        to = step.params["to"]
        pool = {"spec": {k: to[k] for k in ("vxlanMode", "ipipMode")}}
        felix = {"spec": {k: to[k] for k in ("vxlanVNI", "vxlanPort") if k in to}}
        done = matches(ctx, self._pool_path(step), pool) and (
            not felix["spec"] or matches(ctx, FELIX, felix)) and felix_settled(ctx)
        return "the pool and Felix already use the target encapsulation, and every Felix applied it" if done else None

    def apply(self, ctx, step):
        to = step.params["to"]
        felix = {k: to[k] for k in ("vxlanVNI", "vxlanPort") if k in to}
        if felix:  # Felix first: every node moves its VTEP to the new VNI/port together
            ctx.patch(FELIX, {"spec": felix})
        # one patch: Calico's IPPool validation refuses VXLAN and IPIP on together
        ctx.patch(self._pool_path(step), {"spec": {"vxlanMode": to["vxlanMode"], "ipipMode": to["ipipMode"]}})
        wait_felix_settled(ctx, "the new encapsulation")

    def revert(self, ctx, step, mutations):
        undo_mutations(ctx, mutations)
        if mutations:
            wait_felix_settled(ctx, "the previous encapsulation")
        if step.params.get("undoWaitsFor") and mutations:
            wait_for_nodes(ctx, step, step.params["undoWaitsFor"])


@kind("felix-settings")
class FelixSettings(StepKind):
    """Some FelixConfiguration default fields set (None: unset); the journal's pre-images put them back."""

    def check(self, ctx, step):
        current = ((ctx.kube.get_optional(FELIX) or {}).get("spec")) or {}
        done = all(current.get(k) == v for k, v in step.params["set"].items()) and felix_settled(ctx)
        return "FelixConfiguration default already has those values, and every Felix applied them" if done else None

    def apply(self, ctx, step):
        current = ctx.kube.get_optional(FELIX)
        if current is None:
            ctx.create(f"{CALICO}/felixconfigurations", {
                "apiVersion": "crd.projectcalico.org/v1", "kind": "FelixConfiguration",
                "metadata": {"name": "default"},
                "spec": {k: v for k, v in step.params["set"].items() if v is not None}})
            return
        ctx.patch(FELIX, {"spec": dict(step.params["set"])}, current=current)
        wait_felix_settled(ctx, "FelixConfiguration " + ", ".join(step.params["set"]))

    def revert(self, ctx, step, mutations):
        undo_mutations(ctx, mutations)
        if mutations:
            wait_felix_settled(ctx, "FelixConfiguration's previous " + ", ".join(step.params["set"]))
        if step.params.get("undoWaitsFor") and mutations:
            wait_for_nodes(ctx, step, step.params["undoWaitsFor"])


@kind("cloud-checklist")
class CloudChecklist(StepKind):
    """What only the cloud's console can change: said, journaled as the step's result, never checked here (no
    cloud API is called); guided mode asks before it, as before every step."""

    def apply(self, ctx, step):
        for item in step.params["items"]:
            ctx.say(f"cloud: {item}")
        ctx.result = "confirmed: " + "; ".join(step.params["items"])


# ---- BIRD --------------------------------------------------------------------------------------------

@kind("bgp-configuration")
class BgpConfiguration(StepKind):
    path = f"{CALICO}/bgpconfigurations/default"

    def _spec(self, step):
        return {"nodeToNodeMeshEnabled": step.params["nodeToNodeMeshEnabled"], "asNumber": step.params["asNumber"]}

    def check(self, ctx, step):
        return "BGPConfiguration default already has that spec" if matches(
            ctx, self.path, {"spec": self._spec(step)}) else None

    def apply(self, ctx, step):
        current = ctx.kube.get_optional(self.path)
        if current is None:
            ctx.create(f"{CALICO}/bgpconfigurations", {
                "apiVersion": "crd.projectcalico.org/v1", "kind": "BGPConfiguration",
                "metadata": {"name": "default"}, "spec": self._spec(step)})
        else:
            ctx.patch(self.path, {"spec": self._spec(step)}, current=current)


@kind("calico-backend-bird")
class CalicoBackendBird(StepKind):
    """calico_backend bird and BIRD's probe flags, as calico.yaml publishes them (the migration's transform took them
    out: calico_manifest.py). Two rollouts: calico-node's -bird-ready asks every peering to be established in its
    first minutes (Calico v3.32.1 node/pkg/health/health.go checkBIRDReady), which the first node restarted could
    never have while its peers ran no BIRD; so BIRD starts everywhere with only -bird-live, then readiness
    follows."""

    def check(self, ctx, step):
        config = ctx.kube.get_optional(CALICO_CONFIG) or {}
        daemonset = ctx.kube.get_optional(CALICO_NODE)
        if (config.get("data") or {}).get("calico_backend") != "bird" or daemonset is None:
            return None
        probes = step.params["probes"]
        done = all(flag in _probe_command(daemonset, probe) for probe, flag in probes.items()) and rolled_out(daemonset)
        return "calico-node already runs BIRD with its probes" if done else None

    def apply(self, ctx, step):
        config = ctx.kube.get(CALICO_CONFIG)
        if (config.get("data") or {}).get("calico_backend") != "bird":
            ctx.patch(CALICO_CONFIG, {"data": {"calico_backend": "bird"}}, current=config)
        for probe in ("livenessProbe", "readinessProbe"):  # one rollout each, in this order
            daemonset = ctx.kube.get(CALICO_NODE)
            template = daemonset["spec"]["template"]
            flag = step.params["probes"][probe]
            if flag in _probe_command(daemonset, probe) and not _backend_env_literal(daemonset):
                if not rolled_out(daemonset):
                    _wait_rolled_out(ctx, daemonset, f"with BIRD ({probe} {flag})")
                continue
            containers = copy.deepcopy(template["spec"]["containers"])
            command = (((_node_container(containers) or {}).get(probe) or {}).get("exec") or {}).get("command")
            if isinstance(command, list) and flag not in command:
                command.append(flag)
            _set_backend_env(containers)
            # the annotation restarts calico-node even where only calico-config changed (no pod reads it again)
            updated = ctx.patch(CALICO_NODE, {"spec": {"template": {
                "metadata": {"annotations": {"migrate/calico-backend": f"bird {flag}"}},
                "spec": {"containers": containers}}}}, current=daemonset)
            _wait_rolled_out(ctx, updated, f"with BIRD ({probe} {flag})")

    def revert(self, ctx, step, mutations):
        undo_mutations(ctx, mutations)
        daemonset = ctx.kube.get_optional(CALICO_NODE)
        if daemonset is not None and mutations:
            _wait_rolled_out(ctx, daemonset, "without BIRD again")


def _node_container(containers: list[dict]) -> dict | None:
    return next((c for c in containers if c.get("name") == "calico-node"), None)


def _probe_command(daemonset: dict, probe: str) -> list[str]:
    container = _node_container(daemonset["spec"]["template"]["spec"].get("containers") or []) or {}
    return list((((container.get(probe) or {}).get("exec") or {}).get("command")) or [])


def _backend_env_literal(daemonset: dict) -> bool:
    container = _node_container(daemonset["spec"]["template"]["spec"].get("containers") or []) or {}
    return any(e.get("name") == "CALICO_NETWORKING_BACKEND" and e.get("value") not in (None, "bird")
               for e in container.get("env") or [])


def _set_backend_env(containers: list[dict]) -> None:
    """CALICO_NETWORKING_BACKEND set outright (not from calico-config) becomes bird too."""
    container = _node_container(containers) or {}
    for entry in container.get("env") or []:
        if entry.get("name") == "CALICO_NETWORKING_BACKEND" and "value" in entry:
            entry["value"] = "bird"


def _wait_rolled_out(ctx, daemonset: dict, how: str) -> None:
    ctx.wait_for(lambda: rolled_out(ctx.kube.get(CALICO_NODE)), timeout=rollout_budget(daemonset), interval=POLL,
                 what=f"calico-node to roll out {how}",
                 hint="check calico-node pods that are not Ready (BGP not established: TCP 179 between nodes?)")


# ---- what the nodes run ------------------------------------------------------------------------------

_LINK = re.compile(r"^\d+:\s+([^:@\s]+)(?:@\S+)?:\s+<([^>]*)>")
_INET = re.compile(r"^\s+inet\s+([0-9.]+)/")
ROUTES_MARK = "--- routes dev "


def reading_pod(node: str, namespace: str, image: str) -> dict:
    """A read-only hostNetwork pod: tunl0 and vxlan.calico (links, addresses) and the routes through each, in its
    termination message (iproute2 is in Flannel's image, the default; never the kubelet's log endpoint)."""
    log = "/dev/termination-log"
    script = "\n".join([
        f"ip addr show tunl0 > {log} 2>/dev/null || true",
        f"ip link show vxlan.calico >> {log} 2>/dev/null || true",
        *(f"echo '{ROUTES_MARK}{dev}' >> {log}\nip route show dev {dev} >> {log} 2>/dev/null || true"
          for dev in ("vxlan.calico", "tunl0"))])
    return host_reading_pod(f"{READING}-{node}", READING, node, namespace, image, script)


def parse_reading(message: str) -> dict:
    """{links: {name: (up, [addresses])}, routes: {device: [destination, ...]}} from a reading pod's message."""
    links: dict[str, tuple[bool, list[str]]] = {}
    routes: dict[str, list[str]] = {}
    current, section = None, None
    for line in message.splitlines():
        if line.startswith(ROUTES_MARK):
            section = line[len(ROUTES_MARK):].strip()
            routes.setdefault(section, [])
            continue
        if section is not None:
            if line.strip():
                routes[section].append(line.split()[0])
            continue
        header = _LINK.match(line)
        if header:
            current = header.group(1)
            flags = header.group(2).split(",")
            links[current] = ("UP" in flags or "LOWER_UP" in flags, [])
            continue
        inet = _INET.match(line)
        if inet and current in links:
            links[current][1].append(inet.group(1))
    return {"links": links, "routes": routes}


def _in_pool(destinations: list[str], pool: str) -> list[str]:
    network = ipaddress.ip_network(pool, strict=False)
    found = []
    for destination in destinations:
        try:
            if ipaddress.ip_network(destination, strict=False).subnet_of(network):
                found.append(destination)
        except (ValueError, TypeError):
            continue
    return found


def lacking(reading: dict, state: str, pool: str) -> str | None:
    """What a node still lacks to be in `state` (both: receives VXLAN and IPIP; ipip: routes the pool over IPIP or
    natively only; vxlan: routes it over VXLAN only), or None."""
    tunl0, vxlan = reading["links"].get("tunl0"), reading["links"].get("vxlan.calico")
    tunl0_ok = tunl0 is not None and tunl0[0] and bool(tunl0[1])
    if state in ("both", "ipip") and not tunl0_ok:
        return "tunl0 is not up with its tunnel address"
    if state in ("both", "vxlan") and not (vxlan and vxlan[0]):
        return "vxlan.calico is not up"
    if state == "ipip":
        left = _in_pool(reading["routes"].get("vxlan.calico", []), pool)
        if left:
            return f"{len(left)} pod route(s) still via vxlan.calico"
    if state == "vxlan":
        left = _in_pool(reading["routes"].get("tunl0", []), pool)
        if left:
            return f"{len(left)} pod route(s) still via tunl0"
    return None


def read_nodes(ctx, nodes: list[str], image: str) -> dict[str, str | dict]:
    """Each node's reading, or the reason it could not be read."""
    namespace = ctx.plan.options["namespace"]
    found: dict[str, str | dict] = {}
    for start in range(0, len(nodes), BATCH):
        batch = nodes[start:start + BATCH]
        ended = run_batch_to_completion(ctx, [reading_pod(n, namespace, image) for n in batch], timeout=300,
                                        what="reading tunl0, vxlan.calico and their routes",
                                        hint="check the nodes' kubelets; then `migrate resume PLAN`")
        if not ended:
            return {}
        for node in batch:
            pod = ended[f"{READING}-{node}"]
            message, note = termination(pod)
            found[node] = parse_reading(message) if pod["status"]["phase"] == "Succeeded" else (message or note)
    return found


def wait_for_nodes(ctx, step, state: str) -> None:
    """Until every node is in `state`, read the nodes not yet there every POLL seconds; StepFailed after WAIT."""
    if not ctx.writes or ctx.dry_run:
        ctx.say(f"would read every node until each is in state {state}")
        return
    pool, image = step.params["poolCIDR"], step.params["image"]
    nodes = sorted(n["metadata"]["name"] for n in ctx.kube.list("/api/v1/nodes"))
    waiting = {n: "not read yet" for n in nodes}

    def arrived():
        for node, reading in read_nodes(ctx, sorted(waiting), image).items():
            why = lacking(reading, state, pool) if isinstance(reading, dict) else f"unreadable: {reading}"
            if why:
                waiting[node] = why
            else:
                waiting.pop(node)  # there for good: Felix does not go back by itself
        if waiting:
            ctx.say(f"{len(waiting)} of {len(nodes)} nodes not yet {state}: "
                    + "; ".join(f"{n}: {w}" for n, w in sorted(waiting.items())[:3]))
        return not waiting
    ctx.wait_for(arrived, timeout=WAIT, interval=POLL, what=f"every node to be in state {state}",
                 hint="check calico-node on the nodes named above (kubectl -n kube-system logs), then "
                      "`migrate resume PLAN`")
    ctx.result = f"every node ({len(nodes)}) is in state {state}"


@kind("wait-encapsulation")
class WaitEncapsulation(StepKind):
    def apply(self, ctx, step):
        wait_for_nodes(ctx, step, step.params["state"])
