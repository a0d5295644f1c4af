"""A plan as a Markdown runbook: what each step does, in the plan's order, with the kubectl commands a
person would run to do it by hand. Pure: plan in, text out."""
from __future__ import annotations

import json

import yaml

from .. import objects as calico
from ..objects import backup_key
from .model import FINALIZE, GATES, POST_VERIFY, PREPARE, WAVES, Plan, PlanStep
from .steps import MIGRATION_LABEL

PHASE_TITLES = {GATES: "Gates", PREPARE: "Prepare", WAVES: "Node waves", FINALIZE: "Finalize",
                POST_VERIFY: "Post-verify"}


class _RunbookDumper(yaml.SafeDumper):
    """Scripts as literal blocks, short collections on one line."""


_RunbookDumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


def _apply(obj: dict) -> list[str]:
    """kubectl apply of one object from a here-document."""
    text = yaml.dump(obj, Dumper=_RunbookDumper, sort_keys=False, default_flow_style=None, width=10_000).rstrip()
    return ["kubectl apply -f - <<'EOF'", text, "EOF"]


def _refs(objects: list[dict]) -> list[str]:
    return [f"-n {o['namespace']} {o['kind'].lower()}/{o['name']}" if o.get("namespace") else
            f"{o['kind'].lower()}/{o['name']}" for o in objects]


def _commands(step: PlanStep, plan: Plan) -> list[str]:
    p, node, ns = step.params, step.node, plan.options["namespace"]
    kind = step.kind
    if kind == "preflight":
        return ["migrate preflight   # must report 0 blockers"]
    if kind == "drift-check":
        return ["kubectl get nodes -o custom-columns=NAME:.metadata.name,PODCIDR:.spec.podCIDR",
                "# compare with the plan's snapshot: same nodes, same podCIDRs, same net-conf.json"]
    if kind == "permissions":
        return [f"kubectl auth can-i {verb} {what}" for verb, what in (
            ("patch", "nodes"), ("create", "pods/eviction"), ("delete", "pods"), ("create", "daemonsets"),
            ("patch", "daemonsets"), ("create", "customresourcedefinitions"), ("create", "configmaps"))]
    if kind == "namespace":
        return [f"kubectl create namespace {ns}",
                f"kubectl label namespace {ns} --overwrite "
                + " ".join(f"pod-security.kubernetes.io/{mode}=privileged" for mode in ("enforce", "warn", "audit"))]
    if kind == "flannel-mtu":
        pod = calico.mtu_reading_pod("__NODE__", ns, p["image"], "__PUBLIC_IP__", p["vni"])
        return [f"# FLANNEL_MTU must be at least {p['mtu']} ({p['source']}) on every node, and the NIC holding "
                f"Flannel's public-ip at least {p['mtu'] + 50}; else stop here and plan again with --mtu N "
                "(the smallest FLANNEL_MTU)",
                "for node in $(kubectl get nodes -o jsonpath='{.items[*].metadata.name}'); do",
                "  ip=$(kubectl get node \"$node\" -o jsonpath='{.metadata.annotations.flannel\\.alpha\\.coreos"
                "\\.com/public-ip}')",
                "  sed \"s/__NODE__/$node/g; s/__PUBLIC_IP__/$ip/g\" <<'EOF' | kubectl apply -f -",
                *_apply(pod)[1:-1], "EOF",
                f"  kubectl -n {ns} wait \"pod/{calico.MTU_READING}-$node\" "
                "--for=jsonpath='{.status.phase}'=Succeeded --timeout=120s",
                f"  kubectl -n {ns} get \"pod/{calico.MTU_READING}-$node\" "
                "-o jsonpath='{.status.containerStatuses[0].state.terminated.message}'",
                f"  kubectl -n {ns} delete \"pod/{calico.MTU_READING}-$node\"", "done"]
    if kind == "backup":  # one key per object, as the executor writes it
        keys = [backup_key(o) for o in p["objects"]]
        return [f"kubectl get -o yaml {ref} > {key}" for ref, key in zip(_refs(p["objects"]), keys)] + [
            f"kubectl create configmap flannel-backup -n {ns} " + " ".join(f"--from-file={k}" for k in keys)]
    if kind == "calico-manifest":
        manifest = p["manifest"]
        fetch = (f"curl -fsSLo calico.yaml {manifest['source']}" if manifest["source"].startswith(("https://", "http://"))
                 else f"cp {manifest['source']} calico.yaml")
        check = (f"echo '{manifest['sha256']}  calico.yaml' | sha256sum -c -" if manifest.get("sha256")
                 else "sha256sum calico.yaml   # not pinned by the plan: compare with the release's checksum")
        edits = [f"#   {change}" for change in (p.get("transform") or {}).get("changes", [])] or [
            "#   calico-node nodeSelector " + json.dumps(p["nodeSelector"]) + f", backend vxlan, veth_mtu "
            f"{p['vxlanMTU']}, NO_DEFAULT_POOLS=true, IPAM {p['ipam']}"]
        return [fetch, check, "# edit calico.yaml (the plan's transform.diff shows each change):", *edits,
                "kubectl apply --server-side -f calico.yaml"]
    if kind == "felix-configuration":
        return _apply(calico.felix_configuration(p))
    if kind == "ippool":
        return _apply(calico.ip_pool(p))
    if kind == "ipam-config":
        return _apply(calico.ipam_config(p))
    if kind == "policy-hold":
        return _apply(calico.allow_all_policy(p))
    if kind == "claim-node-ipam":
        lines = []
        for cidr in p["blocks"]:
            lines += _apply(calico.block_affinity(node, cidr)) + _ipam_block(node, cidr, p["tunnelAddress"])
        first = next(c for c in p["blocks"] if calico.block_contains(c, p["tunnelAddress"]))
        lines += _apply(calico.ipam_handle(node, first))
        return lines + _annotate(node, p)
    if kind == "set-node-tunnel":
        return _annotate(node, p)
    if kind == "flannel-node-affinity":
        _, namespace, name = step.target.split("/")
        expression = {"key": p["label"], "operator": "In", "values": p["in"]}
        terms = ("/spec/template/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/"
                 "nodeSelectorTerms")
        patch = [{"op": "add", "path": f"{terms}/0/matchExpressions/-", "value": expression}]
        return [f"kubectl -n {namespace} get daemonset {name} -o jsonpath='{{.spec.template.spec.affinity}}'"
                "   # one nodeSelectorTerm in Flannel's manifest; add the expression to each term there is",
                f"kubectl -n {namespace} patch daemonset {name} --type json -p '{json.dumps(patch)}'"]
    if kind == "cordon":
        return [f"kubectl cordon {node}"]
    if kind == "drain":
        flags = ["--ignore-daemonsets", f"--timeout={p['timeoutSeconds']}s"]
        flags += ["--delete-emptydir-data"] if p["deleteEmptyDirData"] else []
        flags += ["--force"] if p["force"] else []
        flags += [f"--grace-period={p['gracePeriodSeconds']}"] if p["gracePeriodSeconds"] is not None else []
        return [f"kubectl drain {node} {' '.join(flags)}"]
    if kind == "node-network-label":
        wait = (f"kubectl get pods -A -l app=flannel --field-selector spec.nodeName={node}   # until none is left"
                if p.get("waitFor") == "flannel-gone" else None)
        return [f"kubectl label node {node} {p['label']}={p['value']} --overwrite"] + ([wait] if wait else [])
    if kind == "host-cleanup":
        pod = calico.hand_off_pod(node, ns, p)
        return _apply(pod) + [f"kubectl -n {ns} wait pod/{pod['metadata']['name']} "
                              "--for=jsonpath='{.status.phase}'=Succeeded --timeout=120s",
                              f"kubectl -n {ns} logs {pod['metadata']['name']}",
                              f"kubectl -n {ns} delete pod {pod['metadata']['name']}"]
    if kind == "delete-node-pods":
        return [f"kubectl get pods -A --field-selector spec.nodeName={node} -o json | \\",
                "  jq -r '.items[] | select(.spec.hostNetwork != true) | \"-n \\(.metadata.namespace) "
                "\\(.metadata.name)\"' | \\", "  xargs -L1 kubectl delete pod --wait=false"]
    if kind == "wait-calico-node":
        return [f"kubectl -n kube-system wait pod -l k8s-app=calico-node --field-selector spec.nodeName={node} "
                f"--for=condition=Ready --timeout={p['timeoutSeconds']}s",
                f"kubectl -n kube-system logs -l k8s-app=calico-node --field-selector spec.nodeName={node} "
                "| grep -i vxlan   # no 'Failed to configure tunnel device'"]
    if kind == "verify-node":
        return [f"kubectl get pods -A -o wide --field-selector spec.nodeName={node}   # every pod IP inside "
                f"{p['podCIDR']}", "migrate verify   # pod-to-pod, pod-to-service and DNS from probe pods"]
    if kind == "uncordon":
        return [f"kubectl uncordon {node}"]
    if kind == "health-gate":
        return ["kubectl get nodes   # all Ready", "kubectl get pods -A | grep -v -e Running -e Completed",
                "migrate verify"]
    if kind == "joined-nodes":
        return [f"kubectl get nodes -L {MIGRATION_LABEL}   # a node without the label joined during the run",
                "# for each: store Flannel's VTEP MAC, claim its IPAM block and tunnel address as prepare/ did, label it "
                f"{MIGRATION_LABEL}=flannel, then hand it off with a wave's node steps and health gate, "
                f"at most {p['maxUnavailableNodes']} at a time"]
    if kind == "retire-flannel":
        return [f"kubectl delete {ref}" for ref in _refs(p["objects"][::-1])]
    if kind == "calico-node-selector":
        return ["kubectl -n kube-system patch daemonset calico-node --type json "
                f"-p '[{{\"op\":\"remove\",\"path\":\"/spec/template/spec/nodeSelector/{p['label'].replace('/', '~1')}\"}}]'"]
    if kind == "label-unmigrated-nodes":
        return [f"kubectl label node {' '.join(p['nodes'])} {p['label']}={p['value']}   # not --overwrite: "
                "a node already labelled keeps its value"]
    if kind == "remove-migration-labels":
        return [f"kubectl label nodes --all {p['label']}-"]
    if kind == "switch-encapsulation":
        to = p["to"]
        felix = {k: to[k] for k in ("vxlanVNI", "vxlanPort") if k in to}
        lines = [f"kubectl patch ippools.crd.projectcalico.org {step.target.split('/')[1]} --type merge "
                 f"-p '{json.dumps({'spec': {'vxlanMode': to['vxlanMode'], 'ipipMode': to['ipipMode']}})}'"]
        if felix:
            lines.append("kubectl patch felixconfigurations.crd.projectcalico.org default --type merge "
                         f"-p '{json.dumps({'spec': felix})}'")
        return lines
    if kind == "cloud-checklist":
        return [f"# in the cloud console or API, before going on: {item}" for item in p["items"]]
    if kind == "felix-settings":
        return ["kubectl patch felixconfigurations.crd.projectcalico.org default --type merge "
                f"-p '{json.dumps({'spec': p['set']})}'"] + (
            [f"# on rollback, wait as for state {p['undoWaitsFor']} (see the wait steps) before the step before"]
            if p.get("undoWaitsFor") else [])
    if kind == "bgp-configuration":
        return _apply({"apiVersion": "crd.projectcalico.org/v1", "kind": "BGPConfiguration",
                       "metadata": {"name": "default"},
                       "spec": {"nodeToNodeMeshEnabled": p["nodeToNodeMeshEnabled"], "asNumber": p["asNumber"]}})
    if kind == "calico-backend-bird":
        return ["kubectl -n kube-system patch configmap calico-config --type merge "
                "-p '{\"data\":{\"calico_backend\":\"bird\"}}'",
                "kubectl -n kube-system edit daemonset calico-node   # livenessProbe command += -bird-live",
                "kubectl -n kube-system rollout status daemonset calico-node",
                "kubectl -n kube-system edit daemonset calico-node   # readinessProbe command += -bird-ready",
                "kubectl -n kube-system rollout status daemonset calico-node"]
    if kind == "wait-encapsulation":
        wanted = {"both": "tunl0 UP with an inet address, and vxlan.calico UP",
                  "ipip": f"tunl0 UP, and no route of {p['poolCIDR']} via vxlan.calico",
                  "vxlan": f"vxlan.calico UP, and no route of {p['poolCIDR']} via tunl0"}[p["state"]]
        return ["# on every node (a hostNetwork pod, or ssh), until each shows: " + wanted,
                "ip addr show tunl0; ip link show vxlan.calico; ip route show dev vxlan.calico; ip route show dev tunl0"]
    if kind == "policy-release":
        return [f"kubectl delete globalnetworkpolicies.crd.projectcalico.org {p['name']}"]
    if kind == "verify-cluster":
        return ["migrate verify"]
    raise KeyError(f"no runbook commands for step kind {kind!r}")


def _ipam_block(node: str, cidr: str, tunnel_address: str) -> list[str]:
    """The IPAMBlock object, its per-address lists generated by jq rather than spelled out."""
    block = calico.ipam_block(node, cidr, tunnel_address)
    spec = block["spec"]
    size = len(spec["allocations"])
    taken = [i for i, a in enumerate(spec["allocations"]) if a is not None]
    allocations = " + ".join(f"[range({lo};{hi}) | null]" if kind == "free" else "[0]"
                             for kind, lo, hi in _runs(size, taken))
    free = " + ".join(f"[range({lo};{hi})]" for kind, lo, hi in _runs(size, taken) if kind == "free")
    fixed = {k: v for k, v in spec.items() if k not in ("allocations", "unallocated")}
    return [f"jq -n '{json.dumps({**block, 'spec': fixed}, separators=(',', ':'))} | "
            f".spec.allocations = ({allocations or '[]'}) | .spec.unallocated = ({free or '[]'})' \\",
            "  | kubectl apply -f -"]


def _runs(size: int, taken: list[int]) -> list[tuple[str, int, int]]:
    """[("taken", 0, 1), ("free", 1, 256)] for a block whose address 0 is allocated."""
    runs, start = [], 0
    for index in taken:
        if index > start:
            runs.append(("free", start, index))
        runs.append(("taken", index, index + 1))
        start = index + 1
    if start < size:
        runs.append(("free", start, size))
    return runs


def _annotate(node: str, params: dict) -> list[str]:
    pairs = " ".join(f"{k}={v}" for k, v in calico.tunnel_annotations(params).items())
    return [f"kubectl annotate node {node} {pairs} --overwrite"]


def plan_to_markdown(plan: Plan) -> str:
    o = plan.options
    out = [f"# Runbook: Flannel to Calico {o['calicoVersion']}", "",
           f"Generated by `migrate show --format markdown` from plan `{plan.digest}`, built from snapshot "
           f"`{plan.snapshot_digest}` of cluster `{plan.cluster_id}` taken {plan.snapshot_captured_at}.",
           "Follow it top to bottom. Each step says what it changes, how to tell it is already done, and how "
           "to undo it; run the commands only when the check says it is not done yet.", "",
           "## Options", ""]
    out += [f"- **{k}**: `{json.dumps(v) if isinstance(v, (dict, list)) else v}`" for k, v in o.items()]
    out += ["", "## Findings", ""]
    out += [f"- **{f['severity']}** `{f['code']}`: {f['message']}  \n  *fix:* {f['fix']}" for f in plan.findings] or ["none"]
    waves = {w.index: w for w in plan.waves}
    current_phase, current_wave = None, None
    for step in plan.steps:
        if step.phase != current_phase:
            current_phase = step.phase
            out += ["", f"## {PHASE_TITLES[step.phase]}"]
        if step.phase == WAVES and step.wave != current_wave:
            current_wave = step.wave
            if step.wave is None:  # waves/joined-nodes: the nodes that join during the run, none planned
                out += ["", "### Nodes that join during the run"]
            else:
                wave = waves[step.wave]
                out += ["", f"### Wave {wave.index}: {wave.name} ({', '.join(wave.nodes)})"]
        out += ["", f"#### `{step.id}` ({step.kind})", "",
                f"- changes: {step.changes}", f"- done when: {step.check}",
                f"- undo: {step.undo}" + ("" if step.reversible else " **(not reversible)**")
                + (f" (see {step.runbook})" if step.runbook else ""), "", "```sh", *_commands(step, plan), "```"]
    return "\n".join(out) + "\n"
