"""Short-lived pods the executor runs on a node, and how it reads their outcome (status and log, never exec)."""
from __future__ import annotations

from ...errors import UserError
from ...kube import AlreadyExists, NotFound
from ..errors import StepFailed
from ..events import Event

MANAGED = {"app.kubernetes.io/managed-by": "migrate"}


def pod_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods/{name}"


def run_to_completion(ctx, pod: dict, *, timeout: float, what: str, hint: str, read_log: bool = False) -> str | None:
    """Create `pod` (replacing a finished one of the same name), wait until it ends, return its termination
    message (with `read_log`, its log: for output longer than the kubelet keeps in a termination message, 4 KiB),
    delete it. A pod that fails raises StepFailed with that message's last lines. With `read_log`, a log that
    cannot be read gives None (the pod ran; the caller decides what it can do without its output).

    The outcome comes from the pod's status, never from pods/log: the log endpoint goes through the
    kubelet and fails whenever it is unreachable, though the pod ran. The pods are built with
    terminationMessagePolicy FallbackToLogsOnError, so a failed container's status carries its log's tail."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    if not ctx.writes:
        ctx.say(f"would run pod {namespace}/{name} for {what}")
        return ""
    path = pod_path(namespace, name)
    existing = ctx.kube.get_optional(path)
    if existing is not None and (existing.get("status") or {}).get("phase") == "Failed":
        _delete_and_wait(ctx, path, existing)
        existing = None
    if existing is None:
        try:
            ctx.kube.create(f"/api/v1/namespaces/{namespace}/pods", pod, dry_run=ctx.dry_run)
        except AlreadyExists:
            pass
    if ctx.dry_run:
        return ""  # the server validated the pod; nothing runs
    ended = ctx.wait_for(lambda: _ended(ctx, path), timeout=timeout, what=f"pod {namespace}/{name} ({what})",
                         hint=hint)
    message, exit_note = termination(ended)
    if read_log and ended["status"]["phase"] == "Succeeded":
        try:
            message = ctx.kube.text(f"{path}/log", {"container": pod["spec"]["containers"][0]["name"]})
        except UserError as exc:
            ctx.emit(Event("warning", f"{what}: its log could not be read ({exc.message})", node=pod["spec"].get("nodeName")))
            _delete_and_wait(ctx, path, ended)
            return None
    _delete_and_wait(ctx, path, ended)
    if ended["status"]["phase"] != "Succeeded":
        tail = " | ".join(line for line in message.strip().splitlines()[-3:]) or exit_note
        raise StepFailed(f"{what} failed on {pod['spec'].get('nodeName')}: {tail}", hint)
    return message


def run_batch_to_completion(ctx, pods: list[dict], *, timeout: float, what: str, hint: str) -> dict[str, dict]:
    """run_to_completion for many pods of one namespace at once: all are created, waited for together (one list
    of the pods with the first one's migrate/role label per poll), then deleted. Returns each ended pod by name
    (read its outcome with `termination`); nothing in a dry run, where the server at most validates them."""
    if not pods:
        return {}
    namespace = pods[0]["metadata"]["namespace"]
    if not ctx.writes:
        ctx.say(f"would run {len(pods)} pods in {namespace} for {what}")
        return {}
    for pod in pods:
        try:
            ctx.kube.create(f"/api/v1/namespaces/{namespace}/pods", pod, dry_run=ctx.dry_run)
        except AlreadyExists:  # left by a run that died here: a finished one is run again
            path = pod_path(namespace, pod["metadata"]["name"])
            existing = ctx.kube.get_optional(path)
            if existing is not None and (existing.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                _delete_and_wait(ctx, path, existing)
                ctx.kube.create(f"/api/v1/namespaces/{namespace}/pods", pod)
    if ctx.dry_run:
        return {}
    wanted = {p["metadata"]["name"] for p in pods}
    selector = f"migrate/role={pods[0]['metadata']['labels']['migrate/role']}"

    def all_ended():
        found = {p["metadata"]["name"]: p for p in ctx.kube.list(f"/api/v1/namespaces/{namespace}/pods",
                                                                  label_selector=selector)
                 if p["metadata"]["name"] in wanted
                 and (p.get("status") or {}).get("phase") in ("Succeeded", "Failed")}
        return found if len(found) == len(wanted) else None
    ended = ctx.wait_for(all_ended, timeout=timeout, what=f"{len(pods)} pods in {namespace} ({what})", hint=hint)
    uids = {pod["metadata"]["uid"] for pod in ended.values()}
    for pod in ended.values():
        try:
            ctx.kube.delete(pod_path(namespace, pod["metadata"]["name"]), grace_period=0, uid=pod["metadata"]["uid"])
        except NotFound:
            pass
    ctx.wait_for(lambda: not any(p["metadata"].get("uid") in uids for p in ctx.kube.list(
        f"/api/v1/namespaces/{namespace}/pods", label_selector=selector)), timeout=60,
        what=f"the {len(pods)} pods of {what} to go", hint="check the nodes' kubelets")
    return ended


def _ended(ctx, path: str) -> dict | None:
    pod = ctx.kube.get_optional(path)
    return pod if pod is not None and (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed") else None


def termination(pod: dict) -> tuple[str, str]:
    """(termination messages of the pod's containers, a note of their exit codes)."""
    messages, notes = [], []
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated") or {}
        if terminated:
            messages.append(terminated.get("message") or "")
            notes.append(f"exit code {terminated.get('exitCode')} {terminated.get('reason', '')}".strip())
    return "".join(messages), ", ".join(notes) or "no termination status"


def _delete_and_wait(ctx, path: str, pod: dict) -> None:
    try:
        ctx.kube.delete(path, grace_period=0, uid=pod["metadata"]["uid"])
    except NotFound:
        return
    ctx.wait_for(lambda: _gone(ctx, path, pod["metadata"]["uid"]), timeout=60, what=f"{path} to go",
                 hint="check the node's kubelet")


def _gone(ctx, path: str, uid: str) -> bool:
    pod = ctx.kube.get_optional(path)
    return pod is None or pod["metadata"].get("uid") != uid
