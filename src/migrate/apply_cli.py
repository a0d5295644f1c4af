"""`migrate apply | resume | status | rollback`: parse, set the run up, hand it to the executor, render."""
from __future__ import annotations

import re
import signal
from pathlib import Path

import click
from rich.markup import escape

from .console import console, err_console
from .errors import UserError
from .execute import clock as clocks
from .execute.context import DRY_CLIENT, DRY_SERVER, REAL
from .execute.errors import Interrupted, StepFailed
from .execute.events import Event
from .execute.executor import ABORT, CONTINUE, ROLLBACK, SKIP, Aborted, Executor
from .execute.session import AuditLog, audit_path, check_cluster, cluster_lock, journal_path, open_journal
from .execute.lease import describe_holder
from .execute.status import describe_status
from .kube import connect
from .plan import load_plan
from .progress_view import progress_for
from .prompts import OperatorStopped, choose, confirm

cluster_flags = (click.option("--kubeconfig", metavar="FILE", help="Kubeconfig (default: $KUBECONFIG, ~/.kube/config, "
                                                                    "in-cluster)."),
                 click.option("--context", metavar="NAME", help="Kubeconfig context."),
                 click.option("--journal", "journal_file", metavar="FILE",
                              help="Journal file (default: PLAN.journal.jsonl beside the plan)."))


def with_cluster_flags(command):
    for option in reversed(cluster_flags):
        command = option(command)
    return command


def _duration(ctx, param, value):
    """`90`, `90s`, `2m`, `1m30s`, `1h` as seconds; None when the option is absent."""
    if value is None:
        return None
    found = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?", value.strip())
    if not value.strip() or found is None:
        raise click.BadParameter(f"{value!r} is not a duration (90s, 2m, 1m30s, 1h); write it as --wait-lock=DURATION")
    hours, minutes, seconds = (int(part or 0) for part in found.groups())
    return hours * 3600 + minutes * 60 + seconds


DEFAULT_LOCK_WAIT = "10m"
wait_lock_flag = click.option(
    "--wait-lock", "wait_lock", metavar="[=DURATION]", is_flag=False, flag_value=DEFAULT_LOCK_WAIT, default=None,
    callback=_duration, help=f"When another live run holds the cluster lock, wait for it (default {DEFAULT_LOCK_WAIT}) "
                             "with a countdown, then take it; exit 4 if it is still held.")


def _countdown(clock):
    said = {"at": None}

    def say(holder: str, lapses: float, left: float) -> None:
        now = clock.now()
        if said["at"] is None or now - said["at"] >= 15:  # a line every 15 s, not one per retry
            said["at"] = now
            err_console.print(f"waiting for the cluster lock held by {escape(holder)}: it lapses in {lapses:.0f}s "
                              f"unless renewed; giving up in {left:.0f}s", soft_wrap=True)
    return say


class _StopFlag:
    """Ctrl-C or SIGTERM asks the run to stop at the next safe point; a second Ctrl-C forces it."""

    def __init__(self):
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def install(self):
        def handler(signum, frame):
            if self.requested and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.requested = True
            err_console.print("stopping at the next safe point (Ctrl-C again to force)", soft_wrap=True)
        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        return lambda: [signal.signal(s, h) for s, h in previous.items()]


def _prompt(step) -> str:
    console.print(f"\n[bold]{escape(step.id)}[/bold] ({step.kind})\n  changes: {escape(step.changes)}\n"
                  f"  undo: {escape(step.undo)}")
    return choose("continue, skip, abort or rollback?", {"c": CONTINUE, "s": SKIP, "a": ABORT, "r": ROLLBACK}, "c",
                  unattended="guided mode (--step) needs a terminal to answer; run without --step, or from one")


def _execute(plan_file, kubeconfig, context, journal_file, *, resume: bool, yes: bool, step_mode: bool,
             dry_run: str | None, rollback_to: str | None = None, rolling_back: bool = False,
             wait_lock: float | None = None) -> None:
    plan = load_plan(plan_file)
    kube = connect(kubeconfig, context)
    check_cluster(kube, plan)
    mode = {None: REAL, "client": DRY_CLIENT, "server": DRY_SERVER}[dry_run]
    clock = clocks.cli_clock()
    path = journal_path(plan_file, journal_file)
    journal = None
    if mode == REAL:
        journal = open_journal(kube, plan, path)
        if journal.repaired:
            err_console.print(f"journal: {escape(journal.repaired)}", soft_wrap=True)
        if not wait_lock:  # a live holder refuses this run whatever else is wrong with it: say that first
            refusal = cluster_lock(kube, clock).refusal()
            if refusal is not None:
                raise refusal
        if not resume and not rolling_back and journal.records and not journal.rolled_back_completely():
            raise UserError(f"a run of this plan already started (journal {path})",
                            f"continue it with `migrate resume {plan_file}`, or undo it with `migrate rollback "
                            f"{plan_file}`")
    if mode == REAL and not yes and not step_mode:
        what = "roll back" if rolling_back else "apply"
        confirm(f"{what} plan {plan.digest[:19]} ({len(plan.steps)} steps, {len(plan.waves)} waves) to the "
                f"cluster {plan.cluster_id}?")
    lock = cluster_lock(kube, clock) if mode == REAL else None
    if lock is not None:  # before the stop flag: Ctrl-C while waiting for the lock ends the wait at once (130)
        lock.acquire_waiting(plan.digest, wait_lock or 0, on_wait=_countdown(clock))
        if lock.took_over:
            err_console.print(f"took over the cluster lock from {escape(lock.took_over)}", soft_wrap=True)
    stop = _StopFlag()
    restore_signals = stop.install()
    try:
        audit = AuditLog(audit_path(plan_file), kube.user, clock) if mode != DRY_CLIENT else None
        kube.on_write = audit
        progress = progress_for(plan)
        kube.on_retry = lambda line: progress(Event("retry", line))
        executor = Executor(plan, kube, journal, clock=clock, emit=progress, mode=mode, lock=lock,
                            confirm=_prompt if step_mode else None, should_stop=stop, audit=audit)
    except BaseException:
        if lock is not None:
            lock.release()
        restore_signals()
        raise
    executor.ctx.cache["plan_dir"] = Path(plan_file).resolve().parent  # a manifest named relative to the plan
    try:
        if rolling_back:
            executor.rollback(rollback_to)
        else:
            try:
                executor.run()
            except Aborted as aborted:
                if not aborted.rollback:
                    raise
                progress.close()
                progress = progress_for(plan)
                executor.emit = progress
                executor.state = journal.state()
                executor.rollback()
                raise OperatorStopped("rolled back at the operator's request",
                                      f"`migrate apply {plan_file}` starts over once you are ready") from None
    except Interrupted as exc:
        raise Interrupted(exc.message, f"run `migrate {'rollback' if rolling_back else 'resume'} {plan_file}` to "
                                       "continue") from None
    except StepFailed as exc:
        if mode != REAL:  # a dry run changed nothing: nothing to resume or roll back
            raise StepFailed(f"dry run: {exc.message}", (exc.hint + "; " if exc.hint else "") +
                             "nothing was changed; run the dry run again once fixed") from None
        raise StepFailed(exc.message, (exc.hint + "; " if exc.hint else "") +
                         f"then `migrate resume {plan_file}` (or `migrate rollback {plan_file}`)") from None
    finally:
        progress.close()
        if lock is not None:
            lock.release()
        restore_signals()
    if mode != REAL:
        err_console.print(f"plan {plan.digest[:19]} previewed ({mode} dry run): nothing was changed", soft_wrap=True)
        return
    err_console.print(f"plan {plan.digest[:19]} {'rolled back' if rolling_back else 'applied'}", soft_wrap=True)


@click.command()
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False))
@with_cluster_flags
@click.option("--yes", is_flag=True, help="Run without asking.")
@click.option("--step", "step_mode", is_flag=True, help="Guided: before each step, ask continue/skip/abort/rollback; a skipped "
              "step (and its node's later steps) is offered again on resume.")
@click.option("--dry-run", type=click.Choice(["client", "server"]),
              help="Preview, change nothing: each step says what it would do. client: send no write; server: send "
                   "every write with dryRun=All and report the API server's verdict on each.")
@wait_lock_flag
def apply(plan_file, kubeconfig, context, journal_file, yes, step_mode, dry_run, wait_lock):
    """Execute a plan: journaled, checkpointed, one executor per cluster.

    Exit codes: 0 applied (or previewed, in a dry run), 1 a step failed (resumable; in a dry run, a write was
    refused), 2 bad input (an edited plan, another cluster, a run already started, no --yes without a terminal),
    4 another run holds the cluster lock, 5 stopped by the operator (resumable), 130 interrupted (resumable)."""
    _execute(plan_file, kubeconfig, context, journal_file, resume=False, yes=yes, step_mode=step_mode,
             dry_run=dry_run, wait_lock=wait_lock)


@click.command()
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False))
@with_cluster_flags
@click.option("--yes", is_flag=True, help="Run without asking.")
@click.option("--step", "step_mode", is_flag=True, help="Guided: ask before each step.")
@wait_lock_flag
def resume(plan_file, kubeconfig, context, journal_file, yes, step_mode, wait_lock):
    """Continue a run where its journal stopped (the local one, or the cluster's mirror of it).

    Exit codes: 0 applied, 1 a step failed (resumable), 2 bad input, 4 another run holds the cluster lock,
    5 stopped by the operator (resumable), 130 interrupted (resumable)."""
    _execute(plan_file, kubeconfig, context, journal_file, resume=True, yes=yes, step_mode=step_mode, dry_run=None,
             wait_lock=wait_lock)


@click.command()
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False))
@with_cluster_flags
@click.option("--to", "to_step", metavar="STEP", help="Undo only the steps after this one.")
@click.option("--yes", is_flag=True, help="Run without asking.")
@wait_lock_flag
def rollback(plan_file, kubeconfig, context, journal_file, to_step, yes, wait_lock):
    """Undo completed steps newest first, from the journal's before-images; journaled and resumable.

    Exit codes: 0 rolled back, 1 an undo failed (run it again once fixed), 2 bad input (no --yes without a
    terminal), 4 another run holds the cluster lock, 5 not confirmed, 130 interrupted (resumable)."""
    _execute(plan_file, kubeconfig, context, journal_file, resume=True, yes=yes, step_mode=False, dry_run=None,
             rollback_to=to_step, rolling_back=True, wait_lock=wait_lock)


@click.command()
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False))
@with_cluster_flags
def status(plan_file, kubeconfig, context, journal_file):
    """Where a run is: per phase and node, the lock holder, the last error and what to run next.

    Exit codes: 0 reported, 2 bad input (an edited plan, another cluster, a damaged journal)."""
    plan = load_plan(plan_file)
    kube = connect(kubeconfig, context)
    check_cluster(kube, plan)
    journal = open_journal(kube, plan, journal_path(plan_file, journal_file), mirror=True)
    clock = clocks.cli_clock()
    lease = kube.get_optional(cluster_lock(kube, clock).path)
    holder, advice = describe_holder(lease, clock.now())
    for line in describe_status(plan, journal, holder, plan_file):
        console.print(line, soft_wrap=True, highlight=False)
    if advice:
        console.print(f"lock: {advice.replace('PLAN', str(plan_file))}", soft_wrap=True, highlight=False)
