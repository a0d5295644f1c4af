"""The kubelets of every node: pod sandboxes through CNI, containers, probes, termination,
and the node's Ready condition. Also keeps the agents' programmed routes current."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from .agents import CALICO_GROUP, CalicoNode, ContainerRun, Program, calico_peers, flannel_peers, program_for
from .clock import rfc3339
from .cni import CniError, network_ready
from .container import container_view, resolve_env
from .context import SimContext, is_terminating, set_condition
from .errors import ApiError
from .loop import Controller
from .network import Network
from .store import WatchEvent

POD_KEY = ("", "pods")
POD_SYNC_BACKOFF = 10.0  # pod_workers.go backOffPeriod
_PROBE_PENDING = "readiness probe has not passed yet"  # no probe has run yet: no event
# The node pressure conditions and the reason a healthy kubelet posts for each.
_PRESSURE = {"MemoryPressure": ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
             "DiskPressure": ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
             "PIDPressure": ("KubeletHasSufficientPID", "kubelet has sufficient PID available")}
_AGENT_INPUTS = {("", "nodes"), (CALICO_GROUP, "ippools"), (CALICO_GROUP, "felixconfigurations"),
                 (CALICO_GROUP, "blockaffinities"), (CALICO_GROUP, "bgpconfigurations"), (CALICO_GROUP, "bgppeers")}


def _containers_signature(runtime) -> tuple:
    return tuple((c.state, c.restarts, c.exit_code, c.finishes_at, c.next_start) for c in runtime.containers)


def _status_only(event: WatchEvent) -> bool:
    """A pod change that touched only its status (status writes keep the same spec object)."""
    old = event.old
    return (event.type == "MODIFIED" and old is not None and event.obj.get("spec") is old.get("spec")
            and event.obj["metadata"].get("deletionTimestamp") == old["metadata"].get("deletionTimestamp")
            and event.obj["metadata"].get("uid") == old["metadata"].get("uid"))


@dataclass
class ContainerState:
    spec: dict
    program: Program
    init: bool
    run: ContainerRun | None = None
    state: str = "waiting"          # waiting | running | terminated
    reason: str = "ContainerCreating"
    started_at: float | None = None
    finishes_at: float | None = None
    exit_code: int | None = None
    restarts: int = 0
    ready: bool = False
    not_ready_reason: str = ""
    next_start: float = 0.0
    pending_exit: int | None = None
    probe_passed: bool = False     # the readiness probe has succeeded since this run started  # the exit code the running program will end with
    start_error: str = ""            # the runtime failed to start the process
    message: str = ""
    last_terminated: dict | None = None  # how the previous run ended (lastState)
    private_files: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec["name"]


@dataclass
class PodRuntime:
    uid: str
    node: str
    containers: list[ContainerState]
    init_containers: list[ContainerState]
    stage: str = "scheduled"        # scheduled | init | running | stopping | finished
    due: float = 0.0
    ip: str | None = None
    sandbox_error: str = ""
    sandbox_reported: str = ""      # the cause last reported as an Event
    stop_at: float | None = None
    started_at: float | None = None
    phase: str = "Pending"
    kill_error: str = ""            # the last failed sandbox teardown, as reported


class Kubelets(Controller):
    def __init__(self, ctx: SimContext, network: Network):
        super().__init__(ctx)
        self.network = network
        self.runtimes: dict[tuple[str, str], PodRuntime] = {}
        self.runtimes_by_node: dict[str, set[tuple[str, str]]] = {}
        self.work: set[tuple[str, str]] = set()
        self.dirty_nodes: set[str] = set()
        self.agents_dirty = False
        self.quiet = False  # no Events while a scenario is being built
        self._settings = None

    # ---- event intake ------------------------------------------------------------
    def on_event(self, event: WatchEvent) -> None:
        if event.key == POD_KEY:
            meta = event.obj["metadata"]
            key = (meta["namespace"], meta["name"])
            known = key in self.runtimes
            # A status-only change to a pod it runs is the kubelet's own write echoing back.
            if (event.obj["spec"].get("nodeName") or known) and not (known and _status_only(event)):
                self.work.add(key)
        if event.key == ("", "nodes"):
            self.dirty_nodes.add(event.obj["metadata"]["name"])
        if event.key in _AGENT_INPUTS:
            self.agents_dirty = True

    def node_changed(self, node_name: str) -> None:
        """The host model changed under the kubelet (a command ran, an agent wrote files)."""
        self.dirty_nodes.add(node_name)

    # ---- passes ------------------------------------------------------------------
    def sync(self, now: float) -> None:
        if self.ctx.faults.settings is not self._settings:
            # Faults switched on or off: a kubelet that comes back resyncs its node and pods,
            # and agents re-read what they watch.
            self._settings = self.ctx.faults.settings
            self.dirty_nodes.update(self.ctx.hosts)
            self.work.update(self.runtimes)
            self.agents_dirty = True
        if self.agents_dirty:
            self.agents_dirty = False
            self._refresh_agents()
        batch, self.work = self.work, set()  # keys re-queued while syncing wait for the next round
        for key in sorted(batch):
            try:
                self._sync_pod(key, now)
            except Exception as exc:
                # pkg/kubelet/pod_workers.go completeWork: a failed sync is logged and the pod retried
                # after backOffPeriod (10 s); the kubelet's other pods go on.
                if self.ctx.errors is not None:
                    self.ctx.errors.record(f"kubelet pod {key[0]}/{key[1]}", exc)
                self._wake(key, now + POD_SYNC_BACKOFF)
        while self.dirty_nodes:  # sorted: a seed replays the same order (set order follows string hashing)
            batch, self.dirty_nodes = sorted(self.dirty_nodes), set()
            for name in batch:
                self._refresh_felix(name)
                if self.network.parked.get(name):
                    self.network.retry_parked(name)
                    if self.network.parked.get(name):
                        self.ctx.timers.call_at(now + POD_SYNC_BACKOFF, lambda _now, n=name: self.dirty_nodes.add(n))
                self._sync_node(name, now)

    def _refresh_agents(self) -> None:
        store = self.ctx.store
        nodes = store.items(self.ctx.nodes)
        self.network.flannel_table.replace(flannel_peers(nodes))
        affinity_type = self.ctx.registry.lookup(CALICO_GROUP, "v1", "blockaffinities")
        affinities = store.items(affinity_type) if affinity_type else []
        self.network.calico_table.replace(calico_peers(nodes, affinities))
        for key, runtime in self.runtimes.items():
            for container in runtime.containers:
                if container.state == "running" and isinstance(container.program, CalicoNode):
                    container.program.refresh(container.run)
                    self.work.add(key)
                    self.dirty_nodes.add(runtime.node)

    def _refresh_felix(self, node_name: str) -> None:
        """Felix keeps retrying its device: a change on the host (a device deleted) is seen."""
        for key in self.runtimes_by_node.get(node_name, ()):
            for container in self.runtimes[key].containers:
                if container.state == "running" and isinstance(container.program, CalicoNode):
                    container.program.refresh(container.run)

    def _sync_node(self, name: str, now: float) -> None:
        node = self.ctx.store.find(self.ctx.nodes, None, name)
        host = self.ctx.hosts.get(name)
        if node is None or host is None:
            return
        if name in self.ctx.faults.settings.nodes_not_ready:
            return  # this kubelet is down: it posts nothing (the node lifecycle controller notices)
        ok, why = network_ready(host)
        status, reason, message = ("True", "KubeletReady", "kubelet is posting ready status") if ok else (
            "False", "KubeletNotReady", why)
        conditions = node.get("status", {}).get("conditions") or []
        current = next((c for c in conditions if c["type"] == "Ready"), {})
        stale = [c["type"] for c in conditions if c["type"] in _PRESSURE and c.get("status") != "False"]
        if (current.get("status"), current.get("message")) == (status, message) and not stale:
            return
        stamp = rfc3339(now)

        def put(obj: dict) -> None:
            st = obj.setdefault("status", {})
            conditions = st.get("conditions") or []
            for type_ in stale:  # back from silence: the kubelet reports its pressures again
                conditions = set_condition(conditions, type_, "False", stamp, *_PRESSURE[type_])
            st["conditions"] = set_condition(conditions, "Ready", status, stamp, reason, message)
        self.ctx.store.mutate(self.ctx.nodes, None, name, put, subresource="status")

    # ---- pods --------------------------------------------------------------------
    def _sync_pod(self, key: tuple[str, str], now: float) -> None:
        pod = self.ctx.store.find(self.ctx.pods, *key)
        runtime = self.runtimes.get(key)
        if runtime is not None and (pod is None or pod["metadata"]["uid"] != runtime.uid):
            if self._tear_down(key, runtime):
                # the pod left the API with its sandbox still up: the runtime keeps retrying the teardown
                # (HandlePodCleanups), and a new pod of the same name gets a sandbox of its own
                self.network.park(*key)
                self.runtimes.pop(key, None)
                self.runtimes_by_node.get(runtime.node, set()).discard(key)
                self.ctx.timers.call_at(now + POD_SYNC_BACKOFF, lambda _now, n=runtime.node: self.dirty_nodes.add(n))
            runtime = None
        if pod is None or not pod["spec"].get("nodeName"):
            return
        node_name = pod["spec"]["nodeName"]
        if node_name in self.ctx.faults.settings.nodes_not_ready or node_name not in self.ctx.hosts:
            return  # this kubelet is down (or the node is gone): nothing moves
        if runtime is None:
            if pod.get("status", {}).get("phase") in ("Succeeded", "Failed") and not is_terminating(pod):
                return
            runtime = self._new_runtime(pod, node_name, now)
            self.runtimes[key] = runtime
            self.runtimes_by_node.setdefault(node_name, set()).add(key)
        if is_terminating(pod) and runtime.stage != "stopping":
            self._begin_stop(pod, runtime, now)
        if runtime.stage == "stopping":
            if now >= runtime.stop_at:
                self._finish_stop(key, pod, runtime)
            else:
                self._wake(key, runtime.stop_at)
            return
        self._advance(key, pod, runtime, now)
        self._write_status(key, pod, runtime, now)

    def _new_runtime(self, pod: dict, node_name: str, now: float) -> PodRuntime:
        spec = pod["spec"]
        return PodRuntime(
            uid=pod["metadata"]["uid"], node=node_name, due=now + self.ctx.timings.pod_start,
            containers=[ContainerState(c, program_for(pod, c, False), False) for c in spec.get("containers") or []],
            init_containers=[ContainerState(c, program_for(pod, c, True), True) for c in spec.get("initContainers") or []])

    def _wake(self, key: tuple[str, str], when: float) -> None:
        self.ctx.timers.call_at(when, lambda _now: self.work.add(key))

    def _advance(self, key, pod: dict, runtime: PodRuntime, now: float) -> None:
        timings = self.ctx.timings
        for _ in range(64):  # bounded: each round moves at least one stage or stops
            if runtime.stage == "finished" or runtime.due > now:
                break
            if runtime.stage == "scheduled":
                if not self._create_sandbox(pod, runtime, now):
                    network_wait = runtime.sandbox_error.startswith("network is not ready")
                    runtime.due = now + (min(1.0, timings.sandbox_retry) if network_wait else timings.sandbox_retry)
                    break
                runtime.started_at = now
                runtime.stage = "init" if runtime.init_containers else "running"
                runtime.due = now + timings.image_pull
            elif runtime.stage == "init":
                if not self._step_init(pod, runtime, now):
                    break
            elif runtime.stage == "running":
                # Everything due at this instant happens in this sync (a start that fails at once,
                # an immediate restart), not in a later one triggered by our own status write.
                for _ in range(8):
                    before = _containers_signature(runtime)
                    self._step_containers(pod, runtime, now)
                    if runtime.stage != "running" or _containers_signature(runtime) == before:
                        break
                break
        if runtime.stage == "running":
            self._update_readiness(pod, runtime, now)
        upcoming = [runtime.due] if runtime.stage != "finished" else []
        for c in runtime.containers + runtime.init_containers:
            if c.state == "running" and c.finishes_at is not None:
                upcoming.append(c.finishes_at)
            if c.state in ("waiting", "terminated") and c.next_start > now:
                upcoming.append(c.next_start)
            if c.state == "running" and not c.ready:
                upcoming.append(now + 1.0)
            if c.state == "running" and c.run is not None:
                due = c.program.tick(c.run, now)  # a process's own periodic work (calico-kube-controllers' IPAM GC)
                if due is not None:
                    upcoming.append(due)
        future = [t for t in upcoming if t > now]
        if future:
            self._wake(key, min(future))
        elif runtime.due <= now and runtime.stage in ("scheduled", "init"):
            self.work.add(key)

    def _create_sandbox(self, pod: dict, runtime: PodRuntime, now: float) -> bool:
        node_name = runtime.node
        if pod["spec"].get("hostNetwork"):
            runtime.ip = self.network.node_ip(node_name)
            return True
        ok, why = network_ready(self.ctx.hosts[node_name])
        if not ok:
            # syncPod refuses to start a pod that needs the pod network while the runtime reports
            # NetworkReady=false, and retries it shortly.
            message = f"network is not ready: {why}"
            self._report_sandbox(pod, runtime, message, "NetworkNotReady", message)
            return False
        try:
            attachment = self.network.cni_add(node_name, pod)
        except CniError as exc:
            sandbox = hashlib.sha256(f"{runtime.uid}/{now}".encode()).hexdigest()
            message = (f"Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for "
                       f'sandbox "{sandbox}": {exc}')
            self._report_sandbox(pod, runtime, str(exc), "FailedCreatePodSandBox", message)
            return False
        finally:
            self.node_changed(node_name)
        runtime.sandbox_error = runtime.sandbox_reported = ""
        runtime.ip = attachment.ip
        return True

    def _report_sandbox(self, pod: dict, runtime: PodRuntime, cause: str, reason: str, message: str) -> None:
        """One Event per distinct cause (the recorder aggregates the repeats)."""
        runtime.sandbox_error = cause
        if cause != runtime.sandbox_reported and not self.quiet:
            self.ctx.record_event(pod, reason, message, "Warning")
            runtime.sandbox_reported = cause

    def _launch(self, pod: dict, runtime: PodRuntime, container: ContainerState, now: float) -> None:
        host = self.ctx.hosts[runtime.node]
        node_ip = self.network.node_ip(runtime.node)
        spec, private = container.spec, container.private_files
        if container.run is not None:  # a restart: a new process of a fresh program
            container.restarts += 1
            container.last_terminated = _ended(container)
            container.program = program_for(pod, container.spec, container.init)
        # kuberuntime_container.go makeMounts: each start gets a new, empty termination message file
        # mounted at terminationMessagePath.
        message_path = spec.get("terminationMessagePath", "/dev/termination-log")
        if message_path:
            private[message_path] = ""
        # Each start writes a fresh log; `kubectl logs` shows the current one.
        container.run = ContainerRun(
            self.ctx, self.network, runtime.node, host,
            lambda: container_view(host, pod, spec, self._configmaps(pod), private), pod, spec,
            lambda: resolve_env(pod, spec, self._configmaps(pod), node_ip), now)
        outcome = container.program.start(container.run)
        self.node_changed(runtime.node)
        container.state, container.reason, container.message = "running", "", ""
        container.started_at = now
        container.probe_passed = False
        container.exit_code = None
        container.finishes_at = None if outcome.exit_code is None else now + outcome.duration
        container.pending_exit = outcome.exit_code
        container.start_error = outcome.start_error
        if not self.quiet:
            if outcome.start_error:
                self.ctx.record_event(pod, "Failed", f"Error: {outcome.start_error}", "Warning")
            else:
                self.ctx.record_event(pod, "Started", f"Started container {container.name}")

    def _configmaps(self, pod: dict) -> dict[str, dict]:
        cm_type = self.ctx.rtype("", "configmaps")
        return {c["metadata"]["name"]: c for c in self.ctx.store.items(cm_type, pod["metadata"]["namespace"])}

    def _step_init(self, pod: dict, runtime: PodRuntime, now: float) -> bool:
        """Run init containers in order; True when the pod can move on in this pass."""
        for container in runtime.init_containers:
            if container.state == "terminated" and container.exit_code == 0:
                continue
            if container.state == "waiting" or container.state == "terminated":
                if now < container.next_start:
                    runtime.due = container.next_start
                    return False
                self._launch(pod, runtime, container, now)
            if container.finishes_at is None:
                return False  # a long-running init container never completes
            if now < container.finishes_at:
                runtime.due = container.finishes_at
                return False
            self._terminate(container, now)
            if container.exit_code != 0:
                if pod["spec"].get("restartPolicy", "Always") == "Never":
                    runtime.stage, runtime.phase = "finished", "Failed"
                    return False
                self._back_off(pod, container, now)
                runtime.due = container.next_start
                return False
        runtime.stage = "running"
        runtime.due = now
        return True

    def _step_containers(self, pod: dict, runtime: PodRuntime, now: float) -> None:
        policy = pod["spec"].get("restartPolicy", "Always")
        for container in runtime.containers:
            if container.state == "running" and container.finishes_at is not None and now >= container.finishes_at:
                self._terminate(container, now)
                failed = container.exit_code != 0
                if policy == "Always" or (policy == "OnFailure" and failed):
                    self._back_off(pod, container, now)
            if container.state in ("waiting", "terminated") and now >= container.next_start and not (
                    container.state == "terminated" and (policy == "Never" or (policy == "OnFailure" and container.exit_code == 0))):
                self._launch(pod, runtime, container, now)
        if all(c.state == "terminated" for c in runtime.containers) and runtime.containers:
            if policy == "Never" or (policy == "OnFailure" and all(c.exit_code == 0 for c in runtime.containers)):
                runtime.stage = "finished"
                runtime.phase = "Succeeded" if all(c.exit_code == 0 for c in runtime.containers) else "Failed"
                for c in runtime.containers:
                    c.program.stop(c.run)
                self.network.cni_del(pod["metadata"]["namespace"], pod["metadata"]["name"])
                return
        runtime.phase = "Running"

    def _terminate(self, container: ContainerState, now: float) -> None:
        container.state = "terminated"
        container.exit_code = container.pending_exit or 0
        container.reason = "Completed" if container.exit_code == 0 else "Error"
        if container.start_error:
            container.reason, container.message = "StartError", container.start_error
        else:
            container.message = _termination_message(container)
        container.ready = False
        container.finishes_at = now

    def _back_off(self, pod: dict, container: ContainerState, now: float) -> None:
        """doBackOff: the first restart is immediate, then 10 s doubling up to 5 min."""
        restarts = container.restarts
        delay = 0.0 if restarts == 0 else min(300.0, self.ctx.timings.crash_backoff * (2 ** (restarts - 1)))
        container.next_start = now + delay
        if delay:
            meta = pod["metadata"]
            container.reason = "CrashLoopBackOff"
            container.message = (f"back-off {_go_duration(delay)} restarting failed container={container.name} "
                                 f"pod={meta['name']}_{meta['namespace']}({meta['uid']})")

    def _update_readiness(self, pod: dict, runtime: PodRuntime, now: float) -> None:
        for container in runtime.containers:
            if container.state != "running":
                container.ready = False
                continue
            ok, reason = container.program.ready(container.run, now)
            delay = self.ctx.timings.ready_after if container.spec.get("readinessProbe") else 0.0
            # The probe's initial delay holds back only the first success of this container run.
            if ok and not container.probe_passed and now < (container.started_at or now) + delay:
                ok, reason = False, _PROBE_PENDING
            container.probe_passed = container.probe_passed or ok
            if (not ok and reason != container.not_ready_reason and reason != _PROBE_PENDING and not self.quiet
                    and container.spec.get("readinessProbe")):
                self.ctx.record_event(pod, "Unhealthy", f"Readiness probe failed: {reason}", "Warning")
            container.ready, container.not_ready_reason = ok, ("" if ok else reason)

    # ---- termination -------------------------------------------------------------
    def _begin_stop(self, pod: dict, runtime: PodRuntime, now: float) -> None:
        grace = pod["metadata"].get("deletionGracePeriodSeconds")
        grace = float(grace if grace is not None else pod["spec"].get("terminationGracePeriodSeconds", 30))
        running = [c for c in runtime.containers + runtime.init_containers if c.state == "running"]
        # SIGTERM to every container; the pod is gone when the last one exits, or at the grace
        # period's SIGKILL for a process that ignores the signal.
        exits = [self.ctx.timings.pod_stop if c.program.handles_sigterm() else grace for c in running]
        runtime.stage = "stopping"
        runtime.stop_at = now + (min(grace, max(exits)) if running else 0.0)
        if running and not self.quiet:
            for c in runtime.containers:
                if c.state == "running":
                    self.ctx.record_event(pod, "Killing", f"Stopping container {c.name}")

    def _finish_stop(self, key: tuple[str, str], pod: dict, runtime: PodRuntime) -> None:
        error = self._tear_down(key, runtime)
        if error:
            # kuberuntime killPodWithSyncResult: StopPodSandbox failed, so KillPod fails; syncTerminatingPod
            # returns the error and the pod worker retries after its back-off. The pod stays Terminating (the
            # status manager deletes it only once its resources are reclaimed: status_manager.go canBeDeleted).
            sandbox = hashlib.sha256(runtime.uid.encode()).hexdigest()
            message = (f'error killing pod: failed to "KillPodSandbox" for "{runtime.uid}" with KillPodSandboxError: '
                       f'"rpc error: code = Unknown desc = failed to destroy network for sandbox \\"{sandbox}\\": '
                       f'{error}"')
            if message != runtime.kill_error:
                runtime.kill_error = message
                self.ctx.record_event(pod, "FailedKillPod", message, "Warning")
            runtime.stop_at = self.ctx.now() + POD_SYNC_BACKOFF
            self._wake(key, runtime.stop_at)
            return
        # pkg/kubelet/status/status_manager.go syncPod: grace period 0, the pod's UID as precondition (never a
        # new pod of the same name); a pod the server no longer has (NotFound, another UID) is gone already.
        try:
            self.ctx.store.delete(self.ctx.pods, key[0], key[1], grace_period=0, preconditions={"uid": runtime.uid})
        except ApiError as exc:
            if exc.code not in (404, 409):
                raise

    def _tear_down(self, key: tuple[str, str], runtime: PodRuntime) -> str:
        """Stop the containers, then the sandbox; '' once done, else why the sandbox's network teardown failed
        (the containers stay stopped and the runtime is kept for the retry)."""
        for container in runtime.containers + runtime.init_containers:
            if container.state == "running" and container.run is not None:
                container.program.stop(container.run)
                container.state = "terminated"
        error = self.network.cni_del(*key)
        if error:
            return error
        self.runtimes.pop(key, None)
        self.runtimes_by_node.get(runtime.node, set()).discard(key)
        self.node_changed(runtime.node)
        return ""

    # ---- status ------------------------------------------------------------------
    def _write_status(self, key, pod: dict, runtime: PodRuntime, now: float) -> None:
        old = pod.get("status") or {}
        stamp = rfc3339(now)
        conditions = old.get("conditions") or []
        initialized = runtime.stage in ("running", "finished")
        all_ready = bool(runtime.containers) and all(c.ready for c in runtime.containers)
        if runtime.stage == "finished":
            all_ready = False
        sandbox = runtime.stage != "scheduled" and runtime.stage != "finished"
        conditions = set_condition(conditions, "PodReadyToStartContainers", "True" if sandbox else "False", stamp)
        conditions = set_condition(conditions, "Initialized", "True" if initialized else "False", stamp,
                                   "" if initialized else "ContainersNotInitialized")
        conditions = set_condition(conditions, "Ready", "True" if all_ready else "False", stamp,
                                   "" if all_ready else ("PodCompleted" if runtime.stage == "finished" else "ContainersNotReady"))
        conditions = set_condition(conditions, "ContainersReady", "True" if all_ready else "False", stamp,
                                   "" if all_ready else ("PodCompleted" if runtime.stage == "finished" else "ContainersNotReady"))
        conditions = set_condition(conditions, "PodScheduled", "True", stamp)
        node_ip = self.network.node_ip(runtime.node)
        status = {
            "phase": runtime.phase, "conditions": conditions, "hostIP": node_ip, "hostIPs": [{"ip": node_ip}],
            "startTime": old.get("startTime") or stamp, "qosClass": old.get("qosClass", "BestEffort"),
            "containerStatuses": [self._container_status(pod, c, runtime) for c in runtime.containers],
        }
        if runtime.init_containers:
            status["initContainerStatuses"] = [self._container_status(pod, c, runtime) for c in runtime.init_containers]
        if runtime.ip:
            status["podIP"] = runtime.ip
            status["podIPs"] = [{"ip": runtime.ip}]
        if status != old:
            def put(obj: dict) -> None:
                # status_manager.go mergePodStatus: conditions the kubelet does not own (DisruptionTarget, set
                # by an eviction) stay as the server has them, even when this write is retried on a newer pod.
                ours = {c["type"] for c in status["conditions"]}
                kept = [c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") not in ours]
                obj["status"] = {**status, "conditions": status["conditions"] + kept} if kept else status
            self.ctx.store.mutate(self.ctx.pods, *key, put, subresource="status", shallow=True)

    @staticmethod
    def _container_status(pod: dict, c: ContainerState, runtime: PodRuntime) -> dict:
        image = c.spec.get("image", "")
        status = {"name": c.name, "image": image, "imageID": f"{image}@sha256:sim", "ready": c.ready,
                  "restartCount": c.restarts, "started": c.state == "running"}
        if c.started_at is not None:
            status["containerID"] = f"containerd://{runtime.uid.replace('-', '')}{c.name}"[:77]
        if c.state == "running":
            status["state"] = {"running": {"startedAt": rfc3339(c.started_at)}}
        elif c.state == "terminated" and c.next_start <= (c.finishes_at or 0):
            status["state"] = {"terminated": {"exitCode": c.exit_code, "reason": c.reason,
                                              "startedAt": rfc3339(c.started_at or 0), "finishedAt": rfc3339(c.finishes_at or 0)}}
            if c.message:
                status["state"]["terminated"]["message"] = c.message
        else:
            reason = c.reason or "ContainerCreating"
            if runtime.stage == "init" and not c.init:
                reason = "PodInitializing"
            status["state"] = {"waiting": {"reason": reason}}
            if reason == "CrashLoopBackOff" and c.message:
                status["state"]["waiting"]["message"] = c.message
            if c.exit_code is not None:
                status["lastState"] = {"terminated": _ended(c)}
        if c.state == "running" and c.last_terminated:
            status["lastState"] = {"terminated": c.last_terminated}
        return status

    # ---- logs --------------------------------------------------------------------
    def logs(self, namespace: str, name: str, container: str) -> str:
        runtime = self.runtimes.get((namespace, name))
        if runtime is None:
            return ""
        for c in runtime.containers + runtime.init_containers:
            if c.name == container and c.run is not None:
                return "".join(c.run.log)
        return ""


# pkg/kubelet/container/runtime.go: MaxContainerTerminationMessageLength, ...LogLength, ...LogLines
_TERMINATION_MESSAGE_BYTES = 4096
_TERMINATION_LOG_BYTES = 2048
_TERMINATION_LOG_LINES = 80


def _termination_message(container: ContainerState) -> str:
    """pkg/kubelet/kuberuntime/kuberuntime_container.go getTerminationMessage: the last 4 KiB of the file at
    terminationMessagePath; when it is empty, the container failed and its policy is FallbackToLogsOnError,
    the last 80 lines (at most 2 KiB) of its log (readLastStringFromContainerLogs)."""
    path = container.spec.get("terminationMessagePath", "/dev/termination-log")
    written = container.private_files.get(path, "") if path else ""
    if written:
        return written.encode()[-_TERMINATION_MESSAGE_BYTES:].decode(errors="ignore")
    fallback = container.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError"
    if not fallback or not (container.pending_exit or 0) or container.run is None:
        return ""
    lines = "".join(container.run.log).splitlines(keepends=True)[-_TERMINATION_LOG_LINES:]
    return "".join(lines).encode()[-_TERMINATION_LOG_BYTES:].decode(errors="ignore")


def _go_duration(seconds: float) -> str:
    """time.Duration.String() for whole seconds: 10s, 1m20s, 5m0s."""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _ended(c: ContainerState) -> dict:
    """The terminated state of a container's latest run."""
    reason = "StartError" if c.start_error else ("Completed" if c.exit_code == 0 else "Error")
    return {"exitCode": c.exit_code, "reason": reason, "startedAt": rfc3339(c.started_at or 0),
            "finishedAt": rfc3339(c.finishes_at or 0)}
