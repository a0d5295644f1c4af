"""NetworkPolicies Flannel ignores today and Calico will enforce, node by node, as pods move."""
from __future__ import annotations

from .finding import WARNING, Finding, names


def check(content: dict, **_) -> list[Finding]:
    if (content.get("flannel") or {}).get("flavor") == "canal":
        return []  # Canal's Felix already enforces them: nothing changes for these pods
    node_of = {(p["namespace"], p["name"]): node for node, pods in (content.get("pods") or {}).items() for p in pods}
    findings = []
    for policy in sorted(content.get("networkPolicies") or [], key=lambda p: (p["namespace"], p["name"])):
        ns, selected = policy["namespace"], policy.get("selectedPods") or []
        pods = names([f"{name} ({node_of.get((ns, name), 'unscheduled')})" for name in selected])
        denies = "; ".join(_denies(policy, kind) for kind in policy.get("policyTypes") or ["Ingress"])
        findings.append(Finding(
            WARNING, "NETWORK_POLICY_WILL_BE_ENFORCED",
            f"NetworkPolicy {ns}/{policy['name']} is ignored by Flannel today; Calico will enforce it (at finalize "
            f"by default, or on each pod as its node moves with --policy per-node). It selects {len(selected)} pod(s): {pods or 'none now'}. It will start to deny {denies} "
            "(traffic another policy selecting the same pods allows stays allowed)",
            "check that every client that must reach these pods is allowed by a rule before enforcement starts; or "
            "edit the policy before migrating"))
    return findings


def _denies(policy: dict, kind: str) -> str:
    rules = policy.get("ingress" if kind == "Ingress" else "egress") or []
    direction = "ingress" if kind == "Ingress" else "egress"
    if not rules:
        return f"all {direction} (default deny)"
    peers_key, word = ("from", "from") if kind == "Ingress" else ("to", "to")
    allowed = " or ".join(_rule(rule, peers_key, word, policy["namespace"]) for rule in rules)
    return f"all {direction} except {allowed}"


def _rule(rule: dict, peers_key: str, word: str, namespace: str) -> str:
    peers = rule.get(peers_key) or []
    who = " or ".join(_peer(p, namespace) for p in peers) if peers else "anywhere"
    ports = rule.get("ports") or []
    on = (" on " + ", ".join(f"{p.get('protocol', 'TCP')}/{p.get('port', 'any')}" for p in ports)) if ports else ""
    return f"{word} {who}{on}"


def _peer(peer: dict, namespace: str) -> str:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        except_ = f" except {', '.join(block['except'])}" if block.get("except") else ""
        return f"{block.get('cidr')}{except_}"
    pods = _selector(peer.get("podSelector"), "pods") if "podSelector" in peer else "all pods"
    if "namespaceSelector" in peer:
        return f"{pods} in namespaces {_selector(peer['namespaceSelector'], 'namespaces').removeprefix('namespaces ')}"
    return f"{pods} in {namespace}"


def _selector(selector: dict | None, what: str) -> str:
    selector = selector or {}
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    terms += [f"{e.get('key')} {e.get('operator')} {e.get('values') or ''}".strip()
              for e in selector.get("matchExpressions") or []]
    return f"{what} labelled {', '.join(terms)}" if terms else f"all {what}"
